package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDatasetsNeverCreatesTheDatabase: `medsales datasets` on a SQLite
// file that does not exist (a wrong working directory or DATABASE_URL)
// fails saying so and leaves nothing behind; it created and migrated an
// empty database and listed every dataset as never loaded.
func TestDatasetsNeverCreatesTheDatabase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data", "medsales.db")
	getenv := func(k string) string {
		if k == "DATABASE_URL" {
			return "sqlite:" + path
		}
		return ""
	}
	err := run(context.Background(), []string{"datasets"}, getenv, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no database at "+path) {
		t.Errorf("datasets on a missing database: err = %v, want it to name the missing file", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("datasets created %q", entries[0].Name())
	}
}
