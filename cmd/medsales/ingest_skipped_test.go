package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/sample"
)

// TestIngestReportsSkippedEmptyRows: `medsales ingest` of a file a
// spreadsheet re-saved, ending in rows of commas, loads it and says how
// many empty rows it skipped in its summary line; `medsales datasets`
// shows them in a SKIPPED column of the history, and --json as
// rowsSkipped (as GET /v1/datasets does). The rows were rejected, and
// failed the load.
func TestIngestReportsSkippedEmptyRows(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{"DATABASE_URL": eng.url(t), "LOG_LEVEL": "error", "REJECTS_DIR": filepath.Join(dir, "rejects")}
			getenv := func(k string) string { return env[k] }
			files, err := sample.Write(filepath.Join(dir, "sample"), sample.Options{Providers: 20, Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(files.NUCC)
			if err != nil {
				t.Fatal(err)
			}
			header, _, _ := strings.Cut(string(data), "\n")
			empty := strings.Repeat(",", strings.Count(header, ",")) + "\r\n"
			if err := os.WriteFile(files.NUCC, append(data, strings.Repeat(empty, 20)...), 0o600); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := run(context.Background(), []string{"ingest", "--progress", "none", "nucc", files.NUCC}, getenv, nil, &out, io.Discard); err != nil {
				t.Fatalf("ingest: %v", err)
			}
			if !strings.Contains(out.String(), "rejected 0, skipped 20 empty (") {
				t.Errorf("summary %q: want it to say 0 rejected and 20 empty rows skipped", out.String())
			}
			out.Reset()
			if err := run(context.Background(), []string{"datasets"}, getenv, nil, &out, io.Discard); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(out.String(), "\n")
			var head, row []string
			for i, l := range lines {
				if strings.HasPrefix(l, "ID ") && i+1 < len(lines) {
					head, row = strings.Fields(l), strings.Fields(lines[i+1])
				}
			}
			if len(head) < 7 || len(row) < 7 || head[6] != "SKIPPED" || row[5] != "0" || row[6] != "20" {
				t.Errorf("datasets history:\n%s\nwant a SKIPPED column after REJECTED, 0 rejected and 20 skipped", out.String())
			}
			hist, _ := datasetsJSON(t, getenv)["history"].([]any)
			if len(hist) != 1 || hist[0].(map[string]any)["rowsSkipped"] != float64(20) {
				t.Errorf("datasets --json history = %v, want rowsSkipped 20", hist)
			}
		})
	}
}
