package config_test

import (
	"testing"

	"github.com/medplatform/medplatform/internal/platform/config"
)

// TestCheckGOGC: what the Go runtime parses passes, what it would take
// for 100 without a word is refused.
func TestCheckGOGC(t *testing.T) {
	for _, tt := range []struct {
		v  string
		ok bool
	}{
		{"", true}, {"off", true}, {"200", true}, {"0", true}, {"-1", true},
		{"abc", false}, {"5%", false}, {"1e3", false}, {" 200", false}, {"+200", false},
		{"OFF", false}, {"99999999999", false},
	} {
		err := config.CheckGOGC(func(k string) string {
			if k == "GOGC" {
				return tt.v
			}
			return ""
		})
		if (err == nil) != tt.ok {
			t.Errorf("GOGC=%q: err = %v, want ok %v", tt.v, err, tt.ok)
		}
	}
}
