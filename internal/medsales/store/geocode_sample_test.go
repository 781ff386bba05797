package store_test

import (
	"context"
	"os"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/geo"
	"github.com/medplatform/medplatform/internal/medsales/geo/geotest"
	"github.com/medplatform/medplatform/internal/medsales/sample"
	"github.com/medplatform/medplatform/internal/medsales/store"
)

// TestGeocodeSampleProviders runs the whole geocoding path on generated
// files: gazetteer and NPPES loads, a first geocoding run, a weekly
// increment that moves some providers, and a second run that geocodes only
// the moved providers' new addresses.
func TestGeocodeSampleProviders(t *testing.T) {
	files, err := sample.Write(t.TempDir(), sample.Options{Providers: 300, Seed: 5, Weekly: true})
	if err != nil {
		t.Fatal(err)
	}
	geoEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		load := func(path string, fn func(*store.Store, context.Context, store.LoadInput) (store.LoadResult, error), mode string) store.LoadResult {
			t.Helper()
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cents, err := s.Centroids(ctx)
			if err != nil {
				t.Fatal(err)
			}
			res, err := fn(s, ctx, store.LoadInput{File: path, Reader: f, Mode: mode, Centroids: cents})
			if err != nil {
				t.Fatalf("load %s: %v", path, err)
			}
			if res.Rejected != 0 {
				t.Errorf("load %s: %d rows rejected", path, res.Rejected)
			}
			return res
		}
		load(files.Gazetteer, (*store.Store).LoadZCTA, "")
		res := load(files.NPPES, (*store.Store).LoadNPPES, store.ModeFull)
		if res.Loaded != int64(files.Counts.NPPES) {
			t.Fatalf("loaded %d providers, want %d", res.Loaded, files.Counts.NPPES)
		}
		// Every active sample provider sits at its ZIP centroid from the loaded gazetteer.
		active := files.Counts.Individuals + files.Counts.Organizations
		if n := countRows(t, s, "SELECT COUNT(*) FROM providers WHERE coord_source = 'zcta' AND practice_lat IS NOT NULL"); n != active {
			t.Errorf("%d providers at a ZIP centroid, want all %d active ones", n, active)
		}

		// The local geocoder matches every address, at a point derived from its key.
		srv := geotest.NewCensusServer(t, func(a geo.Address) geo.Result {
			return geo.Result{Status: geo.Match, Exact: true, MatchedAddress: a.Street, Lat: 30 + float64(len(a.Street))/100, Lon: -80 - float64(len(a.City))/100}
		})
		census := newCensus(t, srv)
		distinct := countRows(t, s, "SELECT COUNT(DISTINCT address_key) FROM providers WHERE address_key IS NOT NULL")
		gr, err := s.GeocodeProviders(ctx, census, store.GeocodeOptions{BatchSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		if gr.Addresses != distinct || gr.Matched != distinct || gr.ProvidersUpdated != int64(active) {
			t.Errorf("first run = %+v; want %d addresses matched and %d providers updated", gr, distinct, active)
		}
		if n := countRows(t, s, "SELECT COUNT(*) FROM providers WHERE coord_source = 'census'"); n != active {
			t.Errorf("%d providers geocoded, want %d", n, active)
		}
		requests := srv.Requests()

		// The weekly increment moves some providers and adds new ones; the
		// loader places them at their ZIP centroid (or a cached match).
		load(files.NPPESWeekly, (*store.Store).LoadNPPES, store.ModeIncrement)
		moved := countRows(t, s, "SELECT COUNT(*) FROM providers p WHERE p.address_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM geocode_cache c WHERE c.address_key = p.address_key)")
		if moved == 0 {
			t.Fatal("the weekly increment brought no new address")
		}
		newKeys := countRows(t, s, "SELECT COUNT(DISTINCT p.address_key) FROM providers p WHERE p.address_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM geocode_cache c WHERE c.address_key = p.address_key)")
		gr, err = s.GeocodeProviders(ctx, census, store.GeocodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if gr.Addresses != newKeys || srv.Requests() != requests+1 {
			t.Errorf("second run = %+v in %d more requests; want only the %d new addresses in one request", gr, srv.Requests()-requests, newKeys)
		}
		if n := countRows(t, s, "SELECT COUNT(*) FROM providers WHERE entity_type IS NOT NULL AND coord_source <> 'census'"); n != 0 {
			t.Errorf("%d active providers not geocoded after the second run", n)
		}

		// A third run has nothing to do.
		gr, err = s.GeocodeProviders(ctx, census, store.GeocodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if gr != (store.GeocodeResult{}) {
			t.Errorf("third run = %+v, want nothing done", gr)
		}
	})
}

func countRows(t *testing.T, s *store.Store, query string) int {
	t.Helper()
	var n int
	if err := s.DB().SQL.QueryRow(query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
