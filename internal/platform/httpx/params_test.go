package httpx_test

import (
	"math"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/httpx"
)

func TestParseInt(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"5", 5, true}, {"0", 0, true}, {"-3", -3, true}, {"007", 7, true},
		{"+5", 0, false}, {"", 0, false}, {"-", 0, false}, {" 5", 0, false}, {"5 ", 0, false},
		{"0x10", 0, false}, {"1_000", 0, false}, {"1.0", 0, false}, {"1e3", 0, false},
		{"99999999999999999999", 0, false},
	} {
		got, err := httpx.ParseInt(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("ParseInt(%q) = %d, %v; want %d, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestParseFloat(t *testing.T) {
	for _, c := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"0.8", 0.8, true}, {"1", 1, true}, {"0", 0, true}, {"-0.5", -0.5, true}, {"-0", 0, true},
		{"+0.5", 0, false}, {".5", 0, false}, {"5.", 0, false}, {"1.2.3", 0, false}, {"0x1p-2", 0, false},
		{"1e-1", 0, false}, {"Inf", 0, false}, {"NaN", 0, false}, {"", 0, false}, {"-", 0, false},
	} {
		got, err := httpx.ParseFloat(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("ParseFloat(%q) = %v, %v; want %v, ok=%v", c.in, got, err, c.want, c.ok)
		}
		if c.ok && math.Signbit(got) != (c.want < 0) {
			t.Errorf("ParseFloat(%q) = %v: sign bit set", c.in, got)
		}
	}
}
