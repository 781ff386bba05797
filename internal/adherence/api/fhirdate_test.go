package api

import (
	"net/url"
	"testing"
	"time"
)

// TestFHIRDateRange: repeated date parameters intersect whatever their
// order, and an open upper bound reaches past now (doses due tomorrow can
// already have an outcome).
func TestFHIRDateRange(t *testing.T) {
	now := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	day := func(d int, h int) time.Time { return time.Date(2026, 12, d, h, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		name     string
		params   []string
		from, to time.Time
		wantErr  bool
	}{
		{"default", nil, now.Add(-30 * 24 * time.Hour), now.Add(48 * time.Hour), false},
		{"two lower bounds, later last", []string{"ge2026-12-02T11:00:00Z", "ge2026-12-02T13:00:00Z", "lt2026-12-03"}, day(2, 13), day(3, 0), false},
		{"two lower bounds, later first", []string{"ge2026-12-02T13:00:00Z", "ge2026-12-02T11:00:00Z", "lt2026-12-03"}, day(2, 13), day(3, 0), false},
		{"two upper bounds", []string{"lt2026-12-03", "le2026-12-01", "ge2026-11-20"}, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), day(2, 0), false},
		{"lower bound tomorrow", []string{"ge2026-12-02T00:00:00Z"}, day(2, 0), now.Add(48 * time.Hour), false},
		{"upper bound only", []string{"lt2026-11-01"}, time.Date(2026, 10, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), false},
		{"eq date", []string{"eq2026-12-02"}, day(2, 0), day(3, 0), false},
		// A FHIR date may be a month or a year: its whole range.
		{"month", []string{"ge2026-11", "lt2026-12"}, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), day(1, 0), false},
		{"eq month", []string{"2026-11"}, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), day(1, 0), false},
		{"le month", []string{"ge2026-11-15", "le2026-11"}, time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC), day(1, 0), false},
		{"year", []string{"eq2026"}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"gt year", []string{"gt2025"}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), now.Add(48 * time.Hour), false},
		// A dateTime names the whole of its last written unit.
		{"eq second", []string{"eq2026-12-02T08:00:00Z"}, day(2, 8), day(2, 8).Add(time.Second), false},
		{"le second", []string{"ge2026-12-02", "le2026-12-02T08:00:00+01:00"}, day(2, 0), day(2, 7).Add(time.Second), false},
		{"eq minute", []string{"2026-12-02T08:00Z"}, day(2, 8), day(2, 8).Add(time.Minute), false},
		{"eq millisecond", []string{"2026-12-02T08:00:00.250Z"}, day(2, 8).Add(250 * time.Millisecond), day(2, 8).Add(251 * time.Millisecond), false},
		// As precise as written, below the microsecond too: the store
		// rounds the bounds up to whole microseconds, on which doses are
		// due (this one selects none; le …07:59:59.9999999Z not 08:00).
		{"eq nanosecond", []string{"2026-12-02T08:00:00.000000001Z"}, day(2, 8).Add(time.Nanosecond), day(2, 8).Add(2 * time.Nanosecond), false},
		{"le seven digits", []string{"ge2026-12-02", "le2026-12-02T07:59:59.9999999Z"}, day(2, 0), day(2, 8), false},
		{"gt nine digits", []string{"gt2026-12-02T07:59:59.999999999Z", "lt2026-12-03"}, day(2, 8), day(3, 0), false},
		{"366 days to the last nanosecond", []string{"ge2025-12-06T00:00:00Z", "le2026-12-06T23:59:59.999999999Z"}, time.Date(2025, 12, 6, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), false},
		{"gt second", []string{"gt2026-12-02T08:00:00Z", "lt2026-12-03"}, day(2, 8).Add(time.Second), day(3, 0), false},
		{"bad month", []string{"ge2026-13"}, time.Time{}, time.Time{}, true},
		{"disjoint", []string{"ge2026-12-02", "lt2026-12-01"}, time.Time{}, time.Time{}, true},
		{"bad prefix", []string{"ne2026-12-02"}, time.Time{}, time.Time{}, true},
		// time.Parse takes a comma for the decimal point: FHIR does not.
		{"comma fraction", []string{"eq2026-12-02T08:00:00,5Z"}, time.Time{}, time.Time{}, true},
		// Nor an offset of 24 hours or more (a whole day off) or a one-digit
		// hour, which time.Parse takes too.
		{"offset +24:00", []string{"ge2026-12-02T08:00:00+24:00"}, time.Time{}, time.Time{}, true},
		{"offset -23:60", []string{"lt2026-12-02T08:00:00-23:60"}, time.Time{}, time.Time{}, true},
		{"minute offset +24:00", []string{"eq2026-12-02T08:00+24:00"}, time.Time{}, time.Time{}, true},
		{"one-digit hour", []string{"eq2026-12-02T8:00:00Z"}, time.Time{}, time.Time{}, true},
		{"minute one-digit hour", []string{"eq2026-12-02T8:00Z"}, time.Time{}, time.Time{}, true},
		{"minute comma", []string{"eq2026-12-02T08:00,5Z"}, time.Time{}, time.Time{}, true},
		// An offset can carry a dateTime out of the years 1 to 9999 in UTC,
		// where the Bundle's self link could not state it (it named
		// le10000-01-01T03:59:59.999999Z, which no search takes).
		{"offset into the year 10000", []string{"ge9999-12-01", "lt9999-12-31T23:00:00-05:00"}, time.Time{}, time.Time{}, true},
		{"minute offset into the year 10000", []string{"ge9999-12-01", "lt9999-12-31T23:00-05:00"}, time.Time{}, time.Time{}, true},
		{"offset into the year 0", []string{"ge0001-01-01T00:30:00+01:00", "lt0001-02-01"}, time.Time{}, time.Time{}, true},
		{"last second of 9999", []string{"ge9999-12-01", "le9999-12-31T23:59:59Z"}, time.Date(9999, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Add(time.Second), false},
		{"largest offsets", []string{"ge2026-12-02T08:00+23:59", "lt2026-12-02T08:00:00.5-23:59"},
			day(1, 8).Add(time.Minute), day(3, 7).Add(59*time.Minute + 500*time.Millisecond), false},
	} {
		from, to, err := fhirDateRange(url.Values{"date": c.params}, now)
		if c.wantErr {
			if err == nil {
				t.Errorf("%s: [%s, %s), want an error", c.name, from, to)
			}
			continue
		}
		if err != nil || !from.Equal(c.from) || !to.Equal(c.to) {
			t.Errorf("%s: [%s, %s) %v, want [%s, %s)", c.name, from, to, err, c.from, c.to)
		}
	}
}
