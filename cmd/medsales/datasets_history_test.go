package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/sample"
)

// TestDatasetsHistoryFlag: `datasets --history N` lists N past loads:
// 0 lists none (the current table only), and a count the history cannot
// give (negative, or more than the 1000 the store returns) is refused,
// not silently replaced by 100.
func TestDatasetsHistoryFlag(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{"DATABASE_URL": eng.url(t), "LOG_LEVEL": "error"}
			getenv := func(k string) string { return env[k] }
			files, err := sample.Write(filepath.Join(dir, "sample"), sample.Options{Providers: 20, Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range [][]string{{"zcta", files.Gazetteer}, {"nucc", files.NUCC}} {
				if err := run(context.Background(), []string{"ingest", "--progress", "none", a[0], a[1]}, getenv, nil, io.Discard, io.Discard); err != nil {
					t.Fatal(err)
				}
			}
			history := func(n string) []any {
				t.Helper()
				var out bytes.Buffer
				if err := run(context.Background(), []string{"datasets", "--json", "--history", n}, getenv, nil, &out, io.Discard); err != nil {
					t.Fatalf("datasets --history %s: %v", n, err)
				}
				var v struct {
					Current map[string]any `json:"current"`
					History []any          `json:"history"`
				}
				if err := json.Unmarshal(out.Bytes(), &v); err != nil || v.History == nil || len(v.Current) != 2 {
					t.Fatalf("datasets --history %s: %v\n%s", n, err, out.String())
				}
				return v.History
			}
			if h := history("1"); len(h) != 1 {
				t.Errorf("--history 1 listed %d loads", len(h))
			}
			if h := history("0"); len(h) != 0 {
				t.Errorf("--history 0 listed %d loads, want none", len(h))
			}
			var text bytes.Buffer
			if err := run(context.Background(), []string{"datasets", "--history", "0"}, getenv, nil, &text, io.Discard); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(text.String(), "STATUS") || !strings.Contains(text.String(), "nucc_taxonomy_251.csv") {
				t.Errorf("datasets --history 0 prints a history or no current table:\n%s", text.String())
			}
			for _, n := range []string{"-1", "1001"} {
				err := run(context.Background(), []string{"datasets", "--history", n}, getenv, nil, io.Discard, io.Discard)
				if err == nil || !strings.Contains(err.Error(), "--history") {
					t.Errorf("datasets --history %s = %v, want an error naming --history", n, err)
				}
			}
		})
	}
}
