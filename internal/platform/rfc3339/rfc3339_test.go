package rfc3339_test

import (
	"testing"

	"github.com/medplatform/medplatform/internal/platform/rfc3339"
)

func TestStrict(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"2026-03-07T20:00:00Z", true},
		{"2026-03-07T20:00:00.5Z", true},
		{"2026-03-07T20:00:00.123456789+13:45", true},
		{"2026-03-07T20:00:00-23:59", true},
		{"2026-03-07T20:00:00+00:00", true},
		{"2026-03-07T20:00:00+24:00", false}, // time.Parse: a whole day off
		{"2026-03-07T20:00:00-23:60", false},
		{"2026-03-07T20:00:00,5Z", false}, // comma before the fraction
		{"2026-03-07T8:00:00Z", false},    // one-digit hour
		{"2026-03-07T20:00:00.Z", false},  // point without a fraction
		{"2026-03-07T20:00:00", false},    // no zone
		{"2026-03-07 20:00:00Z", false},
		{"2026-03-07T20:00Z", false}, // no seconds
		{"2026-03-07T20:00:00+0100", false},
		{"2026-03-07T20:00:00z", false},
		{"", false},
	}
	for _, c := range cases {
		if got := rfc3339.Strict(c.in); got != c.want {
			t.Errorf("Strict(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}
