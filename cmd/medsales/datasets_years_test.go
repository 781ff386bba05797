package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/sample"
)

// TestDatasetsListsEveryServedYear: `medsales datasets` shows, for a
// dataset loaded year by year, every data year it serves, newest first:
// Part D loaded for 2024 and then back-filled with 2023 serves both. It
// showed only the year of the newest load (2023), as if 2024 were gone.
func TestDatasetsListsEveryServedYear(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{"DATABASE_URL": eng.url(t), "LOG_LEVEL": "error", "REJECTS_DIR": filepath.Join(dir, "rejects")}
			getenv := func(k string) string { return env[k] }
			files, err := sample.Write(filepath.Join(dir, "sample"), sample.Options{Providers: 20, Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(files.PartD)
			if err != nil {
				t.Fatal(err)
			}
			older := filepath.Join(dir, strings.Replace(filepath.Base(files.PartD), "DY24", "DY23", 1))
			if err := os.WriteFile(older, b, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, src := range []string{files.PartD, older, files.NUCC} {
				ds := "partd"
				if src == files.NUCC {
					ds = "nucc"
				}
				if err := run(context.Background(), []string{"ingest", "--progress", "none", ds, src}, getenv, nil, io.Discard, io.Discard); err != nil {
					t.Fatal(err)
				}
			}
			var out bytes.Buffer
			if err := run(context.Background(), []string{"datasets", "--history", "0"}, getenv, nil, &out, io.Discard); err != nil {
				t.Fatal(err)
			}
			years := map[string]string{}
			for _, line := range strings.Split(out.String(), "\n") {
				if f := strings.Fields(line); len(f) >= 3 {
					years[f[0]] = f[2]
				}
			}
			for ds, want := range map[string]string{"partd": "2024,2023", "nucc": "-", "partb": "-"} {
				if years[ds] != want {
					t.Errorf("%s: DATA YEAR %q, want %q\n%s", ds, years[ds], want, out.String())
				}
			}
			cur, _ := datasetsJSON(t, getenv)["current"].(map[string]any)
			partd, _ := cur["partd"].(map[string]any)
			if got := fmt.Sprint(partd["dataYears"]); got != "[2024 2023]" {
				t.Errorf("datasets --json: partd dataYears %s, want [2024 2023]", got)
			}
		})
	}
}
