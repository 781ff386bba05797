package remind_test

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/remind"
)

func TestInQuiet(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	london := mustLoad(t, "Europe/London")
	utc := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			panic(err)
		}
		return v
	}
	night := quiet("22:00", "07:00")
	tests := []struct {
		name  string
		quiet adherence.QuietHours
		loc   *time.Location
		t     time.Time // UTC; New York is UTC-4 (EDT) or UTC-5 (EST)
		in    bool
		end   time.Time
	}{
		// An ordinary summer day, EDT.
		{"before the start", night, ny, utc("2026-06-11 01:59"), false, time.Time{}}, // 21:59
		{"at the start", night, ny, utc("2026-06-11 02:00"), true, utc("2026-06-11 11:00")},
		{"after midnight", night, ny, utc("2026-06-11 07:00"), true, utc("2026-06-11 11:00")}, // 03:00
		{"one second before the end", night, ny, utc("2026-06-11 10:59").Add(59 * time.Second), true, utc("2026-06-11 11:00")},
		{"at the end", night, ny, utc("2026-06-11 11:00"), false, time.Time{}},
		{"midday", night, ny, utc("2026-06-11 16:00"), false, time.Time{}},
		{"range within a day", quiet("12:00", "14:00"), ny, utc("2026-06-11 17:00"), true, utc("2026-06-11 18:00")},
		{"range within a day, outside", quiet("12:00", "14:00"), ny, utc("2026-06-11 19:00"), false, time.Time{}},
		{"across the new year", night, ny, utc("2027-01-01 04:00"), true, utc("2027-01-01 12:00")}, // 23:00 EST on Dec 31
		{"after midnight on the first of the month", night, ny, utc("2026-07-01 08:00"), true, utc("2026-07-01 11:00")},

		// Spring forward, 2026-03-08: 02:00 EST becomes 03:00 EDT.
		{"spring forward: night is an hour shorter", night, ny, utc("2026-03-08 04:00"), true, utc("2026-03-08 11:00")}, // 23:00 EST → 07:00 EDT
		{"spring forward: just before the gap", night, ny, utc("2026-03-08 06:59"), true, utc("2026-03-08 11:00")},
		{"spring forward: just after the gap", night, ny, utc("2026-03-08 07:00"), true, utc("2026-03-08 11:00")},
		{"spring forward: end in the gap is the first instant after it", quiet("22:00", "02:30"), ny, utc("2026-03-08 06:00"), true, utc("2026-03-08 07:00")}, // 01:00 EST → 03:00 EDT
		{"spring forward: after an end in the gap", quiet("22:00", "02:30"), ny, utc("2026-03-08 07:00"), false, time.Time{}},
		{"spring forward: start in the gap", quiet("02:30", "06:00"), ny, utc("2026-03-08 07:00"), true, utc("2026-03-08 10:00")}, // 03:00 EDT
		{"spring forward: before a start in the gap", quiet("02:30", "06:00"), ny, utc("2026-03-08 06:59"), false, time.Time{}},
		{"spring forward: start and end in the gap are empty", quiet("02:10", "02:50"), ny, utc("2026-03-08 07:00"), false, time.Time{}},
		{"the day after spring forward", quiet("02:10", "02:50"), ny, utc("2026-03-09 06:20"), true, utc("2026-03-09 06:50")},

		// Fall back, 2026-11-01: 02:00 EDT becomes 01:00 EST.
		{"fall back: night is an hour longer", night, ny, utc("2026-11-01 03:00"), true, utc("2026-11-01 12:00")}, // 23:00 EDT → 07:00 EST
		{"fall back: in the repeated hour", night, ny, utc("2026-11-01 06:30"), true, utc("2026-11-01 12:00")},    // 01:30 EST
		{"fall back: end in the repeated hour is its first occurrence", quiet("22:00", "01:30"), ny, utc("2026-11-01 05:00"), true, utc("2026-11-01 05:30")},
		{"fall back: after the first occurrence of the end", quiet("22:00", "01:30"), ny, utc("2026-11-01 05:40"), false, time.Time{}},
		{"fall back: the second 01:10 does not reopen quiet hours", quiet("22:00", "01:30"), ny, utc("2026-11-01 06:10"), false, time.Time{}},
		{"fall back: start in the repeated hour", quiet("01:30", "06:00"), ny, utc("2026-11-01 05:30"), true, utc("2026-11-01 11:00")}, // 01:30 EDT → 06:00 EST
		{"fall back: the second 01:15 is inside", quiet("01:30", "06:00"), ny, utc("2026-11-01 06:15"), true, utc("2026-11-01 11:00")},

		// A zone east of UTC: London springs forward at 01:00 GMT to 02:00 BST on 2026-03-29.
		{"London spring forward: end in the gap", quiet("22:00", "01:30"), london, utc("2026-03-29 00:30"), true, utc("2026-03-29 01:00")},

		{"caregiver hours: evening", remind.DefaultCaregiverHours, ny, utc("2026-06-11 01:00"), true, utc("2026-06-11 12:00")}, // 21:00 EDT → 08:00
		{"caregiver hours: 20:59 allowed", remind.DefaultCaregiverHours, ny, utc("2026-06-11 00:59"), false, time.Time{}},
		{"caregiver hours: 07:59 quiet", remind.DefaultCaregiverHours, ny, utc("2026-06-11 11:59"), true, utc("2026-06-11 12:00")},
		{"caregiver hours: 08:00 allowed", remind.DefaultCaregiverHours, ny, utc("2026-06-11 12:00"), false, time.Time{}},

		{"nil location is UTC", night, nil, utc("2026-06-11 23:00"), true, utc("2026-06-12 07:00")},
		{"not set", adherence.QuietHours{Start: 22 * 60, End: 7 * 60}, ny, utc("2026-06-11 07:00"), false, time.Time{}},
		{"start equals end", quiet("22:00", "22:00"), ny, utc("2026-06-11 02:00"), false, time.Time{}},
		{"invalid clock", adherence.QuietHours{Start: 22 * 60, End: 24 * 60, Set: true}, ny, utc("2026-06-11 03:00"), false, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, end := remind.InQuiet(tt.quiet, tt.loc, tt.t)
			if in != tt.in || !end.Equal(tt.end) {
				t.Errorf("InQuiet(%v) = %v, %v; want %v, %v", tt.t, in, end.UTC(), tt.in, tt.end)
			}
		})
	}
}
