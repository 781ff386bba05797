package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// TestNewDatabaseHasLargePages: the embedded database medsales creates
// has sqlitePageSize pages (SQLite's default is 4 KiB), which the national
// loads write and scan a quarter as many of.
func TestNewDatabaseHasLargePages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "medsales.db")
	getenv := func(k string) string {
		if k == "DATABASE_URL" {
			return "sqlite:" + path
		}
		return ""
	}
	if err := run(context.Background(), []string{"migrate"}, getenv, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(context.Background(), "sqlite:"+path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var size int
	if err := d.SQL.QueryRow("PRAGMA page_size").Scan(&size); err != nil {
		t.Fatal(err)
	}
	if size != 16384 {
		t.Errorf("page_size = %d, want 16384", size)
	}
}
