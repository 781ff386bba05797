package store_test

import (
	"testing"
	"time"
)

// TestTimingChangeJustBeforeADSTGap: a timing change made shortly before a
// dose whose wall time falls in a daylight-saving gap moves that dose to
// the new time, as on any other day. West of UTC the dose's wall time was
// read an hour early (before the gap), the dose taken for one already
// past, and it stayed at its old time (QA): Santiago skips 00:00-01:00 on
// 2026-09-06, New York 02:00-03:00 on 2026-03-08.
func TestTimingChangeJustBeforeADSTGap(t *testing.T) {
	for _, tc := range []struct {
		name, zone    string
		before, after []string
		changeAt      time.Time
		from, to      time.Time
		want          string // local time, due (UTC) of the day's first dose
	}{
		{"Santiago, skipped midnight", "America/Santiago", []string{"00:30"}, []string{"00:45"},
			time.Date(2026, 9, 6, 3, 55, 0, 0, time.UTC), // 23:55 -04 on the 5th
			time.Date(2026, 9, 6, 0, 0, 0, 0, time.UTC), time.Date(2026, 9, 6, 12, 0, 0, 0, time.UTC),
			"2026-09-06T00:45 04:45Z"},
		{"New York, spring forward", "America/New_York", []string{"02:30", "12:00"}, []string{"02:45", "12:00"},
			time.Date(2026, 3, 8, 6, 45, 0, 0, time.UTC), // 01:45 EST
			time.Date(2026, 3, 8, 6, 0, 0, 0, time.UTC), time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC),
			"2026-03-08T02:45 07:45Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				f.now = tc.changeAt.Add(-5 * 24 * time.Hour)
				p := f.patient(tc.zone)
				pl := f.plan(p.ID, timeOfDay(tc.before...))
				f.now = tc.changeAt
				cur, err := f.s.GetPlan(f.ctx, f.org, pl.ID)
				if err != nil {
					t.Fatal(err)
				}
				cur.Timing = timeOfDay(tc.after...)
				if err := f.s.UpdatePlan(f.ctx, f.actor, &cur, cur.Version); err != nil {
					t.Fatal(err)
				}
				ds := f.doses(pl.ID, tc.from, tc.to)
				if len(ds) != 1 {
					t.Fatalf("%d doses in the window, want 1: %+v", len(ds), ds)
				}
				if got := ds[0].LocalTime + " " + ds[0].DueAt.UTC().Format("15:04Z"); got != tc.want {
					t.Errorf("the day's dose after the change: %s, want %s", got, tc.want)
				}
			})
		})
	}
}
