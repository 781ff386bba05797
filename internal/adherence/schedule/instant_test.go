package schedule_test

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence/schedule"
)

// TestInstant: a wall time in a gap moves forward by the gap, one that
// occurs twice is the first, west of UTC as east of it (time.Date put
// Santiago's 00:30 of a skipped midnight at 23:30 the day before).
func TestInstant(t *testing.T) {
	zone := func(name string) *time.Location {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	for _, tc := range []struct {
		zone     string
		y        int
		mo       time.Month
		d, h, mi int
		want     string
	}{
		{"America/Santiago", 2026, 9, 6, 0, 30, "2026-09-06T04:30:00Z"},     // gap 00:00-01:00
		{"America/Santiago", 2026, 9, 6, 0, 0, "2026-09-06T04:00:00Z"},      // the day's first instant: 01:00
		{"America/New_York", 2026, 3, 8, 2, 30, "2026-03-08T07:30:00Z"},     // gap 02:00-03:00
		{"America/New_York", 2026, 11, 1, 1, 30, "2026-11-01T05:30:00Z"},    // repeated: the first
		{"Australia/Lord_Howe", 2026, 10, 4, 2, 15, "2026-10-03T15:45:00Z"}, // 30-minute gap
		{"Asia/Kathmandu", 2026, 12, 7, 8, 0, "2026-12-07T02:15:00Z"},
	} {
		got := schedule.Instant(zone(tc.zone), tc.y, tc.mo, tc.d, tc.h, tc.mi, 0).UTC().Format(time.RFC3339)
		if got != tc.want {
			t.Errorf("%s %d-%02d-%02d %02d:%02d = %s, want %s", tc.zone, tc.y, tc.mo, tc.d, tc.h, tc.mi, got, tc.want)
		}
	}
}
