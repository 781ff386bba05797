package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// TestIngestBadProgressTouchesNoDatabase checks that ingest refuses a
// --progress it does not know before it opens the database, as it does
// the other flags: the database was created and migrated first, so a typo
// left a new empty database behind.
func TestIngestBadProgressTouchesNoDatabase(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			url := eng.url(t)
			dir := t.TempDir()
			src := filepath.Join(dir, "nucc_taxonomy_251.csv")
			if err := os.WriteFile(src, []byte("Code,Grouping\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"DATABASE_URL": url, "LOG_LEVEL": "error", "REJECTS_DIR": filepath.Join(dir, "rejects")}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := run(ctx, []string{"ingest", "--progress", "fancy", "nucc", src}, func(k string) string { return env[k] }, nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "--progress: must be auto, bar, log or none; got \"fancy\"") {
				t.Fatalf("ingest --progress fancy: err = %v, want --progress refused", err)
			}
			if path := db.SQLitePath(url); path != "" {
				if _, err := os.Stat(path); err == nil {
					t.Errorf("ingest --progress fancy created the database %s", path)
				}
				return
			}
			d, err := db.Open(ctx, url, db.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			var n int
			if err := d.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'dataset_versions'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("ingest --progress fancy migrated the database")
			}
		})
	}
}

// TestIngestPartBWithoutDataYear: `medsales ingest partb FILE` with a
// file whose name carries no data year, and no --data-year, fails saying
// how to give the year, before it reads the file or opens the database,
// as POST /v1/ingestions refuses it; the file was opened and the load
// failed in the loader.
func TestIngestPartBWithoutDataYear(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "medsales.db")
	env := map[string]string{"DATABASE_URL": "sqlite:" + dbPath, "LOG_LEVEL": "error", "REJECTS_DIR": filepath.Join(dir, "rejects")}
	// The file does not exist: the year is missing whatever it holds.
	src := filepath.Join(dir, "physicians.csv")
	err := run(context.Background(), []string{"ingest", "--progress", "none", "partb", src}, func(k string) string { return env[k] }, nil, io.Discard, io.Discard)
	want := "--data-year: physicians.csv: the file name carries no data year (such as _D24_ or _DY24_): give it (--data-year, or dataYear in POST /v1/ingestions)"
	if err == nil || err.Error() != want {
		t.Fatalf("ingest partb %s: err = %v, want %q", src, err, want)
	}
	if _, err := os.Stat(dbPath); err == nil {
		t.Errorf("ingest partb without a data year opened the database %s", dbPath)
	}
}

// TestIngestMissingSourceTouchesNoDatabase: `medsales ingest DATASET
// PATH` with a local PATH that is not there (or is a directory) fails
// naming SOURCE before it opens the database; the database was created
// and migrated first, so a mistyped path left a new empty database.
func TestIngestMissingSourceTouchesNoDatabase(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			url := eng.url(t)
			dir := t.TempDir()
			env := map[string]string{"DATABASE_URL": url, "LOG_LEVEL": "error", "REJECTS_DIR": filepath.Join(dir, "rejects")}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for src, want := range map[string]string{
				filepath.Join(dir, "nucc_taxonomy_251.csv"): "no such file or directory",
				dir: "is a directory",
			} {
				err := run(ctx, []string{"ingest", "--progress", "none", "nucc", src}, func(k string) string { return env[k] }, nil, io.Discard, io.Discard)
				if err == nil || !strings.HasPrefix(err.Error(), "SOURCE: "+src) || !strings.Contains(err.Error(), want) {
					t.Errorf("ingest nucc %s: err = %v, want SOURCE refused: %s", src, err, want)
				}
			}
			if path := db.SQLitePath(url); path != "" {
				if _, err := os.Stat(path); err == nil {
					t.Errorf("ingest of a missing file created the database %s", path)
				}
				return
			}
			d, err := db.Open(ctx, url, db.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			var n int
			if err := d.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'dataset_versions'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("ingest of a missing file migrated the database")
			}
		})
	}
}
