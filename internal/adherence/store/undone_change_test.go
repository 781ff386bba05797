package store_test

import (
	"testing"

	"github.com/medplatform/medplatform/internal/adherence"
)

// TestUndoneChangeRescoresItsOrphans: a change that takes the doses ahead
// away (an end before them, a later start, as needed) orphans the taking
// recorded early for the next dose; undone minutes later, the dose is back
// and the taking scores it again. It stayed an orphan, and the dose the
// patient had taken was marked missed (QA).
func TestUndoneChangeRescoresItsOrphans(t *testing.T) {
	for _, change := range []string{"endAt", "asNeeded", "startAt"} {
		t.Run(change, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("America/New_York")
				pl := f.plan(p.ID, timeOfDay("08:00:00", "20:00:00"))
				f.now = local(2026, 3, 3, 7, 30).UTC()
				f.takeNextEarly(p.ID, pl.ID, "take-early")
				f.now = local(2026, 3, 3, 7, 35).UTC()
				orig := pl
				switch change {
				case "endAt":
					end := local(2026, 3, 3, 7, 45).UTC()
					pl.EndAt = &end
				case "asNeeded":
					pl.AsNeeded = true
				case "startAt":
					pl.StartAt = local(2026, 3, 3, 12, 0).UTC()
				}
				if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
					t.Fatal(err)
				}
				var result string
				read := func() {
					t.Helper()
					if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT result FROM events WHERE client_event_id = 'take-early'`).Scan(&result); err != nil {
						t.Fatal(err)
					}
				}
				if read(); result != string(adherence.ResultOrphan) {
					t.Fatalf("the taking after the change: %s, want orphan", result)
				}

				// Undone.
				f.now = local(2026, 3, 3, 7, 40).UTC()
				version := pl.Version
				pl = orig
				pl.Version = version
				if change == "startAt" {
					pl.StartAt = local(2026, 3, 3, 7, 40).UTC()
				}
				if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
					t.Fatal(err)
				}
				f.now = local(2026, 3, 3, 11, 5).UTC()
				if _, err := f.s.MarkMissed(f.ctx, f.now); err != nil {
					t.Fatal(err)
				}
				if read(); result != string(adherence.ResultScored) {
					t.Errorf("the taking after the change was undone: %s, want scored", result)
				}
				ds := f.doses(pl.ID, local(2026, 3, 3, 0, 0), local(2026, 3, 3, 12, 0))
				if len(ds) != 1 || ds[0].Status != adherence.DoseTakenOnTime || ds[0].TakenAt == nil || !ds[0].TakenAt.Equal(local(2026, 3, 3, 7, 30)) {
					t.Errorf("the 08:00 dose: %+v, want taken on time at 07:30", ds)
				}
			})
		})
	}
}
