package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/geo"
	"github.com/medplatform/medplatform/internal/medsales/geo/geotest"
	"github.com/medplatform/medplatform/internal/medsales/sample"
)

// TestGeocodeLogsProgress: `medsales geocode`, which takes minutes per
// batch against the public service and hours for a national first run,
// logs a structured progress line after each committed batch: addresses
// sent so far, their rate and the time elapsed.
func TestGeocodeLogsProgress(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) { testGeocodeLogsProgress(t, eng.url(t)) })
	}
}

func testGeocodeLogsProgress(t *testing.T, dbURL string) {
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": dbURL, "LOG_LEVEL": "info", "REJECTS_DIR": filepath.Join(dir, "rejects")}
	getenv := func(k string) string { return env[k] }
	files, err := sample.Write(filepath.Join(dir, "sample"), sample.Options{Providers: 10, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"ingest", "--progress", "none", "nppes", files.NPPES}, getenv, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	srv := geotest.NewCensusServer(t, func(a geo.Address) geo.Result {
		return geo.Result{Status: geo.Match, Exact: true, MatchedAddress: a.Street, Lat: 30.3, Lon: -81.6, TigerLineID: "1", Side: "L"}
	})
	var logs bytes.Buffer
	if err := run(context.Background(), []string{"geocode", "--url", srv.URL}, getenv, nil, io.Discard, &logs); err != nil {
		t.Fatal(err)
	}
	sent := len(srv.Received())
	var lines []map[string]any
	sc := bufio.NewScanner(&logs)
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) == nil && l["msg"] == "geocode progress" {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d geocode progress lines for one batch, want 1; logs:\n%s", len(lines), logs.String())
	}
	l := lines[0]
	if n, _ := l["addresses"].(float64); int(n) != sent || sent == 0 {
		t.Errorf("progress addresses = %v, want %d (the addresses sent)", l["addresses"], sent)
	}
	for _, k := range []string{"addresses_per_s", "elapsed_s"} {
		if _, ok := l[k]; !ok {
			t.Errorf("progress line has no %s: %v", k, l)
		}
	}
}

// TestGeocodeRefusesNegativeLimit: `geocode --limit -3` is refused before
// anything is sent; it was taken as "no cap" and sent every address.
func TestGeocodeRefusesNegativeLimit(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(dir, "medsales.db"), "LOG_LEVEL": "error", "REJECTS_DIR": filepath.Join(dir, "rejects")}
	getenv := func(k string) string { return env[k] }
	files, err := sample.Write(filepath.Join(dir, "sample"), sample.Options{Providers: 10, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"ingest", "--progress", "none", "nppes", files.NPPES}, getenv, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	srv := geotest.NewCensusServer(t, func(a geo.Address) geo.Result { return geo.Result{Status: geo.NoMatch} })
	err = run(context.Background(), []string{"geocode", "--limit", "-3", "--url", srv.URL}, getenv, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--limit") {
		t.Errorf("geocode --limit -3 = %v, want an error about --limit", err)
	}
	if n := srv.Requests(); n != 0 {
		t.Errorf("geocode --limit -3 sent %d requests, want none", n)
	}
}
