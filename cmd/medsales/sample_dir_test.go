package main

import (
	"context"
	"io"
	"log/slog"
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
			if err := loadSampleIfEmpty(ctx, d, d.ingester(nil), 3, io.Discard, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join("data", "sample", sample.NPPESFile)); err != nil {
				t.Errorf("the sample's NPPES file is not under data/sample: %v", err)
			}
		})
	}
}

// TestServeSampleResumesAnInterruptedLoad: `serve --sample N` after a
// quick start stopped midway (some of the sample's datasets loaded) loads
// the rest; it said "data already loaded" and served a database without
// providers. A database holding anything but that sample — here the NPPES
// file of a sample of another size — is left as it is.
func TestServeSampleResumesAnInterruptedLoad(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			for _, c := range []struct {
				name      string
				loadedN   int // providers of the sample the first loads came from
				wantTotal int // datasets loaded after serve --sample 3
			}{{"interrupted", 3, 0}, {"other data", 4, 3}} {
				t.Run(c.name, func(t *testing.T) {
					t.Chdir(t.TempDir())
					env := map[string]string{"DATABASE_URL": e.url(t), "LOG_LEVEL": "error"}
					d, err := open(ctx, func(k string) string { return env[k] }, io.Discard, true)
					if err != nil {
						t.Fatal(err)
					}
					defer d.close()
					svc := d.ingester(nil)
					files, err := writeSample(context.Background(), t.TempDir(), c.loadedN, 1)
					if err != nil {
						t.Fatal(err)
					}
					if err := loadSampleFiles(ctx, svc, files[:3], 3, io.Discard, slog.New(slog.DiscardHandler)); err != nil { // zcta, nucc, nppes: then stopped
						t.Fatal(err)
					}
					if err := loadSampleIfEmpty(ctx, d, svc, 3, io.Discard, slog.New(slog.DiscardHandler)); err != nil {
						t.Fatal(err)
					}
					latest, err := d.store.LatestLoads(ctx)
					if err != nil {
						t.Fatal(err)
					}
					want := c.wantTotal
					if want == 0 { // every dataset of the sample that has rows
						mine, err := writeSample(context.Background(), t.TempDir(), 3, 1)
						if err != nil {
							t.Fatal(err)
						}
						for _, f := range mine {
							if f.rows > 0 {
								want++
							}
						}
					}
					if len(latest) != want {
						var got []string
						for ds := range latest {
							got = append(got, string(ds))
						}
						t.Fatalf("datasets loaded: %v (%d), want %d", got, len(latest), want)
					}
				})
			}
		})
	}
}
