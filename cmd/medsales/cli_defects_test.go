package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/geo"
	"github.com/medplatform/medplatform/internal/medsales/geo/geotest"
	"github.com/medplatform/medplatform/internal/medsales/sample"
)

// TestIngestRefusesHeaderOnlyFile runs `medsales ingest nppes` on a copy
// of the monthly file cut down to its header: it fails with one line
// naming the file, is recorded as a failed load, and what is served stays.
func TestIngestRefusesHeaderOnlyFile(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{"DATABASE_URL": eng.url(t), "LOG_LEVEL": "error", "REJECTS_DIR": filepath.Join(dir, "rejects")}
			getenv := func(k string) string { return env[k] }
			files, err := sample.Write(filepath.Join(dir, "sample"), sample.Options{Providers: 20, Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			if err := run(context.Background(), []string{"ingest", "--progress", "none", "nppes", files.NPPES}, getenv, nil, io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
			before := datasetsJSON(t, getenv)

			data, err := os.ReadFile(files.NPPES)
			if err != nil {
				t.Fatal(err)
			}
			header, _, _ := strings.Cut(string(data), "\n")
			if err := os.MkdirAll(filepath.Join(dir, "x"), 0o750); err != nil {
				t.Fatal(err)
			}
			empty := filepath.Join(dir, "x", filepath.Base(files.NPPES))
			if err := os.WriteFile(empty, []byte(header+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = run(context.Background(), []string{"ingest", "--progress", "none", "nppes", empty}, getenv, nil, &out, io.Discard)
			if err == nil {
				t.Fatalf("header-only file loaded: %s", out.String())
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, filepath.Base(empty)) || !strings.Contains(msg, "no data rows") {
				t.Errorf("error %q: want one line naming the file and saying it has no data rows", msg)
			}
			after := datasetsJSON(t, getenv)
			if !sameCurrent(before, after) {
				t.Errorf("live data changed:\nbefore %v\nafter  %v", before, after)
			}
			hist, _ := after["history"].([]any)
			if len(hist) != 2 || hist[0].(map[string]any)["status"] != "failed" {
				t.Errorf("history = %v, want the refused load first, failed", hist)
			}
		})
	}
}

// TestIngestFailurePrintsRejectsFile: a load failing on its rejects
// prints where they are, as a successful load does.
func TestIngestFailurePrintsRejectsFile(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(dir, "medsales.db"), "LOG_LEVEL": "error", "REJECTS_DIR": filepath.Join(dir, "rejects")}
	getenv := func(k string) string { return env[k] }
	files, err := sample.Write(filepath.Join(dir, "sample"), sample.Options{Providers: 20, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(files.NUCC)
	if err != nil {
		t.Fatal(err)
	}
	// Half the rows lose their code: far more than 1% rejected.
	lines := strings.SplitAfter(string(data), "\n")
	for i := 1; i < len(lines); i += 2 {
		if _, rest, ok := strings.Cut(lines[i], ","); ok {
			lines[i] = "," + rest
		}
	}
	bad := filepath.Join(dir, filepath.Base(files.NUCC))
	if err := os.WriteFile(bad, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	err = run(context.Background(), []string{"ingest", "--progress", "none", "nucc", bad}, getenv, nil, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "rows rejected") {
		t.Fatalf("ingest = %v, want the reject ratio error", err)
	}
	want := filepath.Join(dir, "rejects", "nucc-1.rejects.csv")
	if !strings.Contains(stderr.String(), "rejected rows: "+want+"\n") {
		t.Errorf("stderr %q does not name the rejects file %s", stderr.String(), want)
	}
	if _, err := os.Stat(want); err != nil {
		t.Error(err)
	}
}

// TestDatasetsJSONEmpty: an empty database has an empty history, not null.
func TestDatasetsJSONEmpty(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "medsales.db"), "LOG_LEVEL": "error"}
	if err := run(context.Background(), []string{"migrate"}, func(k string) string { return env[k] }, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"datasets", "--json"}, func(k string) string { return env[k] }, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"history": []`) || strings.Contains(out.String(), "null") {
		t.Errorf("datasets --json on an empty database:\n%s", out.String())
	}
}

// TestIngestArgumentErrors: command-line mistakes are reported in the
// command line's terms.
func TestIngestArgumentErrors(t *testing.T) {
	getenv := func(k string) string { return map[string]string{"LOG_LEVEL": "error"}[k] }
	tests := []struct {
		args []string
		want string // prefix of the error
	}{
		{[]string{"partb", "f.csv", "extra"}, `ingest takes DATASET and SOURCE only: unexpected extra argument "extra"`},
		{nil, "ingest needs DATASET and SOURCE"},
		{[]string{"partb"}, "ingest partb needs SOURCE: a local path"},
		{[]string{"foo"}, `DATASET: unknown dataset "foo" (known: `},
		{[]string{"--data-year", "1999", "partb", "f.csv"}, "--data-year: must be a year between 2000 and 2100"},
		{[]string{"--max-reject-ratio", "2", "partb", "f.csv"}, "--max-reject-ratio: must be between 0 and 1"},
		// NaN compares false with both bounds, and a NaN threshold is never
		// exceeded: it would load a file whatever share of it is rejected.
		{[]string{"--max-reject-ratio", "NaN", "partb", "f.csv"}, "--max-reject-ratio: must be between 0 and 1"},
		{[]string{"--mode", "weekly", "partb", "f.csv"}, "--mode: must be"},
		// A negative value is the flag's value, not a flag of its own
		// (before, the ratio's -1 was taken for a flag and the error was
		// about an unexpected extra argument), also after the arguments.
		{[]string{"--max-reject-ratio", "-1", "partb", "f.csv"}, "--max-reject-ratio: must be between 0 and 1"},
		{[]string{"partb", "f.csv", "--data-year", "-2024"}, "--data-year: must be a year between 2000 and 2100"},
		{[]string{"nppes2", "f.csv"}, "DATASET: unknown dataset"},
	}
	for _, tt := range tests {
		err := run(context.Background(), append([]string{"ingest"}, tt.args...), getenv, nil, io.Discard, io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("ingest %v = %v, want an error starting %q", tt.args, err, tt.want)
		}
	}
}

// TestGeocodeSummary: `medsales geocode` prints labelled counts.
func TestGeocodeSummary(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(dir, "medsales.db"), "LOG_LEVEL": "error", "REJECTS_DIR": filepath.Join(dir, "rejects")}
	getenv := func(k string) string { return env[k] }
	files, err := sample.Write(filepath.Join(dir, "sample"), sample.Options{Providers: 10, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"ingest", "--progress", "none", "nppes", files.NPPES}, getenv, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	srv := geotest.NewCensusServer(t, func(a geo.Address) geo.Result {
		return geo.Result{Status: geo.Match, Exact: true, MatchedAddress: a.Street, Lat: 30.3, Lon: -81.6, TigerLineID: "1", Side: "L"}
	})
	var out bytes.Buffer
	if err := run(context.Background(), []string{"geocode", "--url", srv.URL}, getenv, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	line := out.String()
	if !strings.HasPrefix(line, "geocoded ") || strings.Contains(line, "{") || strings.Count(line, "\n") != 1 {
		t.Fatalf("geocode printed %q, want one readable line", line)
	}
	for _, label := range []string{"addresses", "batches", "matched", "unmatched", "unanswered", "invalid", "providers", "practice locations"} {
		if !strings.Contains(line, label) {
			t.Errorf("geocode summary %q has no %q", line, label)
		}
	}
}

// TestServeSampleFewProviders: `serve --sample N` loads the sample for any
// N it accepts. With a few providers nobody has a secondary location or an
// other name, so those files are only a header, which a load refuses (it
// would empty the live data): they are skipped, and every other dataset is
// loaded. SQLite only: on PostgreSQL the sample goes to data/sample in the
// working directory (TestServeSampleDir).
func TestServeSampleFewProviders(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(dir, "medsales.db"), "LOG_LEVEL": "error", "REJECTS_DIR": filepath.Join(dir, "rejects")}
	getenv := func(k string) string { return env[k] }
	d, err := open(ctx, getenv, io.Discard, true)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	var out bytes.Buffer
	if err := loadSampleIfEmpty(ctx, d, d.ingester(nil), 3, &out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("loadSampleIfEmpty(3 providers) = %v; printed:\n%s", err, out.String())
	}
	if want := "wrote sample files for 3 providers in " + filepath.Join(dir, "sample") + "\n"; !strings.HasPrefix(out.String(), want) {
		t.Errorf("output does not start by saying where the sample is (%q):\n%s", want, out.String())
	}
	cur, _ := datasetsJSON(t, getenv)["current"].(map[string]any)
	for _, ds := range []string{"zcta", "nucc", "nppes", "nppes-endpoints", "partb", "partd", "openpayments"} {
		if cur[ds] == nil {
			t.Errorf("%s not loaded; printed:\n%s", ds, out.String())
		}
	}
	for _, ds := range []string{"nppes-locations", "nppes-othernames"} {
		if cur[ds] != nil {
			t.Errorf("%s loaded from a file without rows", ds)
		}
		if !strings.Contains(out.String(), "skipped "+ds) {
			t.Errorf("output does not say %s was skipped:\n%s", ds, out.String())
		}
	}
}

// TestIngestMaxRejectRatioZero: `--max-reject-ratio 0` allows no rejected
// row. It meant the default 1% (0 is "not given" in the request), so a
// file with one malformed line in 200 loaded without it.
func TestIngestMaxRejectRatioZero(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(dir, "medsales.db"), "LOG_LEVEL": "error", "REJECTS_DIR": filepath.Join(dir, "rejects")}
	getenv := func(k string) string { return env[k] }
	files, err := sample.Write(filepath.Join(dir, "sample"), sample.Options{Providers: 300, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(files.PartD)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	if len(lines) < 150 {
		t.Fatalf("set-up: %d Part D lines, want more than 100 (one reject under 1%%)", len(lines))
	}
	lines[2] = strings.TrimSuffix(lines[2], "\n") + ",extra\n"
	bad := filepath.Join(dir, filepath.Base(files.PartD))
	if err := os.WriteFile(bad, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"ingest", "--progress", "none", "--max-reject-ratio", "0", "partd", bad}, getenv, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "1 of ") || !strings.Contains(err.Error(), "more than the allowed 0.00%") {
		t.Fatalf("ingest --max-reject-ratio 0 with one rejected row = %v, want the reject ratio error", err)
	}
	// Without the flag, the default 1% lets the same file load.
	if err := run(context.Background(), []string{"ingest", "--progress", "none", "partd", bad}, getenv, nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("ingest with the default ratio: %v", err)
	}
}
