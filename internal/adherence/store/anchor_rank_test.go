package store_test

import (
	"fmt"
	"testing"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
)

// TestAnchorChangeKeepsASkipInAdvanceByRank: a breakfast dose skipped in
// advance stands for the day's breakfast dose after the patient's
// breakfast moves from 07:30 to 09:00, even when the move renumbers the
// plan's doses (its first day, created at 08:00, gains a 09:00 dose). It
// stood for none, and a second breakfast dose was scheduled at 09:00 that
// day, reminded, then missed (QA). Created at 05:00, nothing is
// renumbered: the control.
func TestAnchorChangeKeepsASkipInAdvanceByRank(t *testing.T) {
	for _, created := range []int{5, 8} {
		t.Run(fmt.Sprintf("created at %02d:00", created), func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("America/New_York")
				f.now = local(2026, 3, 2, created, 0).UTC()
				pl := f.plan(p.ID, schedule.Timing{Repeat: &schedule.Repeat{When: []string{"CM", "CV"}}})
				f.now = local(2026, 3, 3, 10, 0).UTC()
				ds := f.doses(pl.ID, local(2026, 3, 4, 0, 0), local(2026, 3, 4, 12, 0))
				if len(ds) != 1 || ds[0].LocalTime != "2026-03-04T07:30" {
					t.Fatalf("set-up: the morning of March 4th: %+v", ds)
				}
				skip := f.ev(p.ID, pl.ID, adherence.EventSkipped, f.now, "skip-breakfast")
				skip.Event.RequestedDose = ds[0].ID
				if out := f.record(skip); out[0].Err != nil {
					t.Fatal(out[0].Err)
				}
				p.Anchors.Breakfast += 90 // 07:30 → 09:00
				if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, d := range f.doses(pl.ID, local(2026, 3, 4, 0, 0), local(2026, 3, 5, 0, 0)) {
					got = append(got, d.LocalTime[11:]+" "+string(d.Status))
				}
				want := []string{"07:30 skipped", "18:00 scheduled"}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("March 4th after breakfast moved to 09:00: %v, want %v", got, want)
				}
				// The next day has the new breakfast time.
				got = got[:0]
				for _, d := range f.doses(pl.ID, local(2026, 3, 5, 0, 0), local(2026, 3, 6, 0, 0)) {
					got = append(got, d.LocalTime[11:]+" "+string(d.Status))
				}
				if want := []string{"09:00 scheduled", "18:00 scheduled"}; fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("March 5th: %v, want %v", got, want)
				}
			})
		})
	}
}
