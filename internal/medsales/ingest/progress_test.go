package ingest

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestBarProgressRates: the bar shows rows/s and MB/s over the whole load
// (the progress bar library's own byte rate, measured between renders,
// showed tens of GB/s).
func TestBarProgressRates(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	p := NewBarProgress(&out, "nppes", 20_000_000, func() time.Time { return now })
	now = now.Add(2 * time.Second)
	p.Update(1000, 10_000_000, 20_000_000)
	p.Done()
	got := out.String()
	if !strings.Contains(got, "1000 rows (500 rows/s, 5.0 MB/s)") || strings.Contains(got, "GB/s") {
		t.Errorf("bar = %q, want 1000 rows (500 rows/s, 5.0 MB/s) and no GB/s", got)
	}
}
