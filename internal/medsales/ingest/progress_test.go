package ingest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/syncbuf"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
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
	p.Done(nil)
	got := out.String()
	if !strings.Contains(got, "1000 rows (500 rows/s, 5.0 MB/s)") || strings.Contains(got, "GB/s") {
		t.Errorf("bar = %q, want 1000 rows (500 rows/s, 5.0 MB/s) and no GB/s", got)
	}
}

// TestBarProgressFailedLoad: a load that fails leaves the bar where it
// was drawn last and says on a line of its own that the load failed, with
// the rows and the share of the source read at that point; the bar was
// filled to 100% whatever the outcome, as if the file had loaded. A load
// that succeeds still fills it.
func TestBarProgressFailedLoad(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }

	var out bytes.Buffer
	p := NewBarProgress(&out, "nppes", 20_000_000, clock)
	p.Update(1000, 10_000_000, 20_000_000)
	p.Done(errors.New("npidata_pfile.csv: line 1001: unexpected EOF"))
	got := out.String()
	if strings.Contains(got, "100%") {
		t.Errorf("bar of a load failed halfway = %q, want it left where it was, never at 100%%", got)
	}
	if !strings.HasSuffix(got, "\nnppes: load failed after 1000 rows, 50% of the source read\n") {
		t.Errorf("bar of a failed load = %q, want it to end with the line %q", got, "nppes: load failed after 1000 rows, 50% of the source read")
	}

	// Every byte read, then the load fails (its rejects over the
	// threshold, an index build): never at 100% either.
	out.Reset()
	p = NewBarProgress(&out, "nppes", 20_000_000, clock)
	p.Update(2000, 20_000_000, 20_000_000)
	if got := out.String(); strings.Contains(got, "100%") || !strings.Contains(got, "2000 rows read, finishing (indexes, swap)") {
		t.Errorf("bar once the source is read = %q, want it short of 100%% and saying the load is finishing", got)
	}
	p.Done(errors.New("nppes: 30 of 2000 rows rejected, more than 1%"))
	if got := out.String(); strings.Contains(strings.TrimSuffix(got, "nppes: load failed after 2000 rows, 100% of the source read\n"), "100%") ||
		!strings.HasSuffix(got, "\nnppes: load failed after 2000 rows, 100% of the source read\n") {
		t.Errorf("bar of a load failed after its last byte = %q, want the bar short of 100%% and the failure line", got)
	}

	out.Reset()
	p = NewBarProgress(&out, "nppes", 20_000_000, clock)
	p.Update(2000, 20_000_000, 20_000_000)
	p.Done(nil)
	if got := out.String(); !strings.Contains(got, "100%") || strings.Contains(got, "failed") {
		t.Errorf("bar of a load that succeeded = %q, want 100%% and no failure", got)
	}
}

// TestLogProgressWhileFinishing: once the whole source is read, a
// non-terminal load logs a "finishing" progress line every interval until
// Done: the index builds, the swap and the commit, as long as the reading
// on a large file, were silent, and a PostgreSQL load of 300,000 rows
// logged no progress at all (QA). A source of unknown size never says it
// is finishing.
func TestLogProgressWhileFinishing(t *testing.T) {
	var out syncbuf.Buffer
	log := telemetry.NewLogger(&out, slog.LevelInfo)
	p := NewLogProgress(context.Background(), log, "nppes", 10*time.Millisecond, time.Now)
	p.Update(1000, 500, 1000)
	p.Update(2000, 1000, 1000) // the last byte
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), `"phase":"finishing"`) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := strings.Count(out.String(), `"phase":"finishing"`); n < 2 || !strings.Contains(out.String(), `"rows":2000`) {
		t.Fatalf("after the last byte: %d finishing lines, want them every interval with the rows read: %s", n, out.String())
	}
	p.Done(nil)
	time.Sleep(20 * time.Millisecond) // a tick already under way ends
	n := strings.Count(out.String(), `"phase":"finishing"`)
	time.Sleep(100 * time.Millisecond)
	if m := strings.Count(out.String(), `"phase":"finishing"`); m != n {
		t.Errorf("%d finishing lines after Done, want none", m-n)
	}

	var unknown syncbuf.Buffer
	p = NewLogProgress(context.Background(), telemetry.NewLogger(&unknown, slog.LevelInfo), "nppes", 10*time.Millisecond, time.Now)
	p.Update(2000, 1000, -1)
	time.Sleep(100 * time.Millisecond)
	p.Done(nil)
	if strings.Contains(unknown.String(), "finishing") {
		t.Errorf("a source of unknown size said it was finishing: %s", unknown.String())
	}
}
