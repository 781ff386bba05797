package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/geo"
	"github.com/medplatform/medplatform/internal/medsales/geo/geotest"
)

// TestGeocodeNeverCreatesTheDatabase: `medsales geocode` on a SQLite file
// that does not exist (a wrong working directory or DATABASE_URL) fails
// saying so, sends nothing and leaves nothing behind; it created and
// migrated an empty database and reported "geocoded 0 addresses" as if
// every address were already cached.
func TestGeocodeNeverCreatesTheDatabase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data", "medsales.db")
	getenv := func(k string) string {
		if k == "DATABASE_URL" {
			return "sqlite:" + path
		}
		return ""
	}
	srv := geotest.NewCensusServer(t, func(a geo.Address) geo.Result { return geo.Result{Status: geo.NoMatch} })
	err := run(context.Background(), []string{"geocode", "--url", srv.URL}, getenv, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no database at "+path) {
		t.Errorf("geocode on a missing database: err = %v, want it to name the missing file", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("geocode created %q", entries[0].Name())
	}
	if n := srv.Requests(); n != 0 {
		t.Errorf("geocode sent %d requests", n)
	}
}
