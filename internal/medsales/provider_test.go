package medsales_test

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales"
)

// TestProviderDeactivated: an NPI is deactivated when it has a deactivation
// date and no reactivation date on or after it, and its record is the
// blank one NPPES publishes for a deactivated NPI or was not updated after
// the deactivation. A record published in full and updated after its
// deactivation date is active again, its reactivation date empty or not:
// it counted as deactivated.
func TestProviderDeactivated(t *testing.T) {
	day := func(m, d int) *medsales.Date {
		return medsales.DatePtr(time.Date(2026, time.Month(m), d, 0, 0, 0, 0, time.UTC))
	}
	tests := []struct {
		name string
		p    medsales.Provider
		want bool
	}{
		{"never deactivated", medsales.Provider{EntityType: 1, LastUpdateDate: day(8, 5)}, false},
		{"blank record of a deactivated NPI", medsales.Provider{DeactivationDate: day(8, 1)}, true},
		{"blank record, an update after the date", medsales.Provider{DeactivationDate: day(3, 1), LastUpdateDate: day(8, 5)}, true},
		{"reactivated", medsales.Provider{EntityType: 1, DeactivationDate: day(3, 1), ReactivationDate: day(4, 1), LastUpdateDate: day(4, 1)}, false},
		{"reactivated the same day", medsales.Provider{EntityType: 1, DeactivationDate: day(3, 1), ReactivationDate: day(3, 1)}, false},
		{"full record updated after its deactivation", medsales.Provider{EntityType: 2, DeactivationDate: day(3, 1), LastUpdateDate: day(8, 5)}, false},
		{"full record deactivated after its last update", medsales.Provider{EntityType: 2, DeactivationDate: day(8, 1), LastUpdateDate: day(3, 4)}, true},
		{"deactivated again after a reactivation", medsales.Provider{EntityType: 1, DeactivationDate: day(8, 1), ReactivationDate: day(4, 1), LastUpdateDate: day(7, 15)}, true},
	}
	for _, tt := range tests {
		if got := tt.p.Deactivated(); got != tt.want {
			t.Errorf("%s: Deactivated() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
