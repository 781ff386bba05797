package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/sample"
)

// TestIngestFutureReleaseDateRecordsNothing: `medsales ingest` of a file
// whose name carries a release date in the future is refused before
// anything is recorded, as a file whose name's dates cannot be is: the
// error names the date, without the usage, and the dataset history keeps
// only the loads before it. The refusal came from the load, which wrote a
// failed version to the history.
func TestIngestFutureReleaseDateRecordsNothing(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{"DATABASE_URL": eng.url(t), "LOG_LEVEL": "error", "REJECTS_DIR": filepath.Join(dir, "rejects")}
			getenv := func(k string) string { return env[k] }
			files, err := sample.Write(filepath.Join(dir, "sample"), sample.Options{Providers: 20, Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			if err := run(context.Background(), []string{"ingest", "--progress", "none", "nucc", files.NUCC}, getenv, nil, io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
			// A file the loader would read, but for its name.
			b, err := os.ReadFile(files.NPPES)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct{ name, says string }{
				{"npidata_pfile_20990101-20990107.csv", "npidata_pfile_20990101-20990107.csv: its release date, 2099-01-07, is in the future"},
				{"npidata_pfile_20050523-20990810.csv", "npidata_pfile_20050523-20990810.csv: its release date, 2099-08-10, is in the future"},
				{"npidata_pfile_20051340-20261399.csv", "20051340 is not a date"},
			} {
				src := filepath.Join(dir, c.name)
				if err := os.WriteFile(src, b, 0o600); err != nil {
					t.Fatal(err)
				}
				var stdout, stderr bytes.Buffer
				err := run(context.Background(), []string{"ingest", "--progress", "none", "nppes", src}, getenv, nil, &stdout, &stderr)
				if err == nil || !strings.Contains(err.Error(), c.says) {
					t.Errorf("ingest nppes %s = %v, want an error saying %q", c.name, err, c.says)
				}
				if strings.Contains(stderr.String(), "Usage:") || stdout.Len() != 0 {
					t.Errorf("ingest nppes %s: stdout %.60q, stderr %.60q, want neither the usage nor anything on stdout", c.name, stdout.String(), stderr.String())
				}
			}
			var out bytes.Buffer
			if err := run(context.Background(), []string{"datasets", "--json", "--history", "100"}, getenv, nil, &out, io.Discard); err != nil {
				t.Fatal(err)
			}
			var v struct {
				History []struct {
					Dataset string `json:"dataset"`
					Status  string `json:"status"`
				} `json:"history"`
			}
			if err := json.Unmarshal(out.Bytes(), &v); err != nil {
				t.Fatalf("datasets --json: %v\n%s", err, out.String())
			}
			if len(v.History) != 1 || v.History[0].Dataset != "nucc" {
				t.Errorf("history = %+v, want the nucc load only: a refused name records nothing", v.History)
			}
		})
	}
}
