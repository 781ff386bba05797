package schedule_test

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence/schedule"
)

// TestExpandWallTimesInManyZones checks, for a year of wall times around
// midnight and the small hours (where transitions happen), that every dose is
// due at the first instant showing its wall time, or, for a wall time in a
// gap, at the wall time moved forward by the gap.
func TestExpandWallTimesInManyZones(t *testing.T) {
	zones := []string{
		"America/New_York", "Europe/London", "Europe/Dublin", "Australia/Lord_Howe",
		"America/Santiago", "America/Havana", "Asia/Beirut", "Africa/Casablanca",
		"America/St_Johns", "Pacific/Chatham", "UTC",
	}
	times := []string{"00:00", "00:30", "01:00", "01:30", "02:00", "02:15", "02:30", "03:00", "03:30", "23:00", "23:30"}
	tm := schedule.Timing{Repeat: &schedule.Repeat{TimeOfDay: times}}
	for _, zone := range zones {
		t.Run(zone, func(t *testing.T) {
			loc := loadZone(t, zone)
			from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			doses, err := schedule.Expand(tm, schedule.Params{Location: loc, Start: from.AddDate(0, 0, -2), From: from, To: from.AddDate(1, 0, 0)})
			if err != nil {
				t.Fatal(err)
			}
			if len(doses) < 360*len(times) {
				t.Fatalf("%d doses, want about %d", len(doses), 365*len(times))
			}
			for _, d := range doses {
				if want := bruteForce(t, loc, d.Local); !d.Due.Equal(want) {
					t.Errorf("Local %s: Due %s, want %s", d.Local, d.Due.In(loc).Format(time.RFC3339), want.In(loc).Format(time.RFC3339))
				}
			}
		})
	}
}

// bruteForce resolves a wall time by trying every offset the zone uses
// within a day of it.
func bruteForce(t *testing.T, loc *time.Location, wall string) time.Time {
	t.Helper()
	w, err := time.Parse("2006-01-02T15:04", wall)
	if err != nil {
		t.Fatal(err)
	}
	var first time.Time
	minOff := 1 << 30
	for probe := w.Add(-26 * time.Hour); probe.Before(w.Add(26 * time.Hour)); probe = probe.Add(time.Hour) {
		_, off := probe.In(loc).Zone()
		minOff = min(minOff, off)
		u := w.Add(-time.Duration(off) * time.Second)
		if u.In(loc).Format("2006-01-02T15:04") == wall && (first.IsZero() || u.Before(first)) {
			first = u
		}
	}
	if first.IsZero() { // in a gap: keep the offset from before it
		return w.Add(-time.Duration(minOff) * time.Second)
	}
	return first
}
