package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/sample"
)

// TestServeSampleDir: `serve --sample N` writes its files where the README's
// quick start reads them, data/sample, on PostgreSQL as on the embedded
// default (with DATABASE_URL=sqlite:data/medsales.db); it wrote them to
// ./sample on PostgreSQL.
func TestServeSampleDir(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			url := e.url(t)
			if e.name == "sqlite" {
				url = "sqlite:" + filepath.Join("data", "medsales.db")
			}
			t.Chdir(t.TempDir())
			env := map[string]string{"DATABASE_URL": url, "LOG_LEVEL": "error"}
			getenv := func(k string) string { return env[k] }
			d, err := open(ctx, getenv, io.Discard, true)
			if err != nil {
				t.Fatal(err)
			}
			defer d.close()
			if err := loadSampleIfEmpty(ctx, d, d.ingester(nil), 3, io.Discard); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join("data", "sample", sample.NPPESFile)); err != nil {
				t.Errorf("the sample's NPPES file is not under data/sample: %v", err)
			}
		})
	}
}
