package store_test

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales/store"
)

// The fast path for dates writes exactly what time.Format does, and every
// other time still goes through time.Format.
func TestAppendSQLiteTime(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	for _, tm := range []time.Time{
		time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		time.Date(2005, 5, 23, 0, 0, 0, 0, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(987, 6, 5, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 0, est),
		time.Date(2026, 7, 1, 0, 0, 0, 0, time.Local),
		time.Date(12345, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		want := tm.Format(store.SQLiteTimeLayout)
		if got := string(store.AppendSQLiteTime([]byte("x"), tm)); got != "x"+want {
			t.Errorf("%v: %q, want %q", tm, got, "x"+want)
		}
	}
}
