package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
)

// TestMissedOldZoneDoseGivesWayToTheTakingInTheNewZone: a patient of New
// York flies to Los Angeles; New York's 08:00 (13:00Z) is marked missed at
// 16:00Z, the end of its late window. At 08:05 in Los Angeles (16:05Z) the
// patient takes the morning dose: an orphan, three hours after New York's
// dose. Then the move reaches the plan. The day's dose is Los Angeles's
// 08:00, taken on time by the taking; New York's, missed, is excluded and
// announced resolved, so its escalation ends. It stayed missed, the taking
// an orphan (QA re-test), as a still scheduled dose did before that was
// fixed.
func TestMissedOldZoneDoseGivesWayToTheTakingInTheNewZone(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		at := func(h, m int) time.Time { return time.Date(2026, 3, 2, h, m, 0, 0, time.UTC) }
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00"))
		f.now = at(16, 1)
		if _, err := f.s.MarkMissed(f.ctx, f.now); err != nil {
			t.Fatal(err)
		}
		ny := f.doses(pl.ID, at(13, 0), at(13, 1))
		if len(ny) != 1 || ny[0].Status != adherence.DoseMissed {
			t.Fatalf("New York's 08:00 after the missed-dose job: %+v", ny)
		}
		f.now = at(16, 5)
		taken := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "taken-la"))[0]
		if taken.Err != nil || taken.Event.Result != adherence.ResultOrphan {
			t.Fatalf("the taking before the move: %+v, want an orphan", taken)
		}
		f.now = at(16, 30)
		cur, err := f.s.GetPatient(f.ctx, f.org, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		cur.TimeZone = "America/Los_Angeles"
		if err := f.s.UpdatePatient(f.ctx, f.actor, &cur, cur.Version); err != nil {
			t.Fatal(err)
		}
		f.eventIs(taken.Event.ID, string(adherence.ResultScored), string(adherence.DoseTakenOnTime), false)
		var got []string
		for _, d := range f.doses(pl.ID, at(0, 0), at(23, 59)) {
			got = append(got, fmt.Sprintf("%s %s %s", d.DueAt.UTC().Format("15:04Z"), d.LocalTime, d.Status))
		}
		want := []string{"13:00Z 2026-03-02T08:00 excluded", "16:00Z 2026-03-02T08:00 taken_on_time"}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("doses of the 2nd:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if n := f.count(`SELECT COUNT(*) FROM outbox WHERE topic = 'dose.resolved' AND dedupe_key = $1`, fmt.Sprint(ny[0].ID)); n != 1 {
			t.Errorf("%d dose.resolved records for New York's missed 08:00, want 1", n)
		}
	})
}
