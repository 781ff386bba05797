package store_test

import (
	"testing"
	"time"
)

// TestHorizonRecordsAMissingDoseBasis: a plan without dose_basis (made by
// an API task of the release before, which shares the database during a
// blue/green deploy) gets it at its next extension, as a plan of this
// release has it from its creation: without it a resume across a change of
// zone treated the same plan differently (QA).
func TestHorizonRecordsAMissingDoseBasis(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00"))
		var want string
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT dose_basis FROM plans WHERE id = $1`, pl.ID).Scan(&want); err != nil || want == "" {
			t.Fatalf("a new plan's dose basis: %q, %v", want, err)
		}
		f.exec(`UPDATE plans SET dose_basis = '' WHERE id = $1`, pl.ID) // as the release before made it
		if _, err := f.s.ExtendHorizon(f.ctx, f.now.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT dose_basis FROM plans WHERE id = $1`, pl.ID).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("dose basis after the extension: %q, want %q", got, want)
		}
	})
}
