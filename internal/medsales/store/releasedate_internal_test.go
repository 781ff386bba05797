package store

import (
	"testing"
	"time"
)

// TestReleaseDateScansTextToo: a database created by the first medsales
// commits declared release_date TEXT on SQLite, where the driver gives the
// stored text, not a time; every read of the dataset versions failed with
// "unsupported Scan, storing driver.Value type string into type
// *time.Time" (QA). Times, the texts the driver writes and NULL all scan.
func TestReleaseDateScansTextToo(t *testing.T) {
	want := time.Date(2026, 8, 10, 0, 0, 0, 0, time.UTC)
	for _, src := range []any{want, "2026-08-10 00:00:00+00:00", []byte("2026-08-10T00:00:00Z"), "2026-08-10"} {
		var r releaseDate
		if err := r.Scan(src); err != nil || !r.valid || !r.t.Equal(want) {
			t.Errorf("Scan(%#v) = %v %v %v, want %v", src, r.t, r.valid, err, want)
		}
	}
	var r releaseDate
	if err := r.Scan(nil); err != nil || r.valid {
		t.Errorf("Scan(nil) = %v %v, want not valid", r.valid, err)
	}
	if err := r.Scan("soon"); err == nil {
		t.Error(`Scan("soon") = nil, want an error`)
	}
}
