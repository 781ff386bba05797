package store_test

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales/geo"
	"github.com/medplatform/medplatform/internal/medsales/geo/geotest"
	"github.com/medplatform/medplatform/internal/medsales/store"
)

// geocodeAnswers is the local Census server's knowledge: street prefix →
// answer; anything else is No_Match.
func geocodeAnswers(a geo.Address) geo.Result {
	switch {
	case strings.HasPrefix(a.Street, "4600 SILVER HILL RD"):
		return geo.Result{Status: geo.Match, Exact: true, MatchedAddress: "4600 SILVER HILL RD, WASHINGTON, DC, 20233", Lat: 38.845985, Lon: -76.92744, TigerLineID: "76355984", Side: "L"}
	case strings.HasPrefix(a.Street, "1 MAIN ST"):
		return geo.Result{Status: geo.Match, MatchedAddress: "1 MAIN ST, JACKSONVILLE, FL, 32204", Lat: 30.3171, Lon: -81.6801, TigerLineID: "1", Side: "R"}
	case strings.HasPrefix(a.Street, "1 TIE ST"):
		return geo.Result{Status: geo.Tie}
	}
	return geo.Result{Status: geo.NoMatch}
}

// testProvider is the part of a providers row geocoding uses.
type testProvider struct {
	npi, line1, line2, city, state, zip string
	key                                 string // "" computes geo.AddressKey
}

// insertProviders writes providers placed at their ZIP centroid, as the
// NPPES loader does.
func insertProviders(t *testing.T, s *store.Store, ps ...testProvider) {
	t.Helper()
	cents, err := geo.EmbeddedCentroids()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		key := p.key
		if key == "" {
			key = geo.AddressKey(p.line1, p.line2, p.city, p.state, p.zip)
		}
		var lat, lon, src any
		if la, lo, ok := cents.Lookup(p.zip); ok {
			lat, lon, src = la, lo, "zcta"
		}
		zip5, _ := geo.ZIP5(p.zip)
		_, err := s.DB().SQL.Exec(`INSERT INTO providers (npi, entity_type, last_name, practice_line1, practice_line2,
			practice_city, practice_state, practice_postal_code, practice_zip5, address_key, practice_lat, practice_lon, coord_source)
			VALUES ($1, 1, 'TEST', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			p.npi, p.line1, nullIfEmpty(p.line2), p.city, p.state, p.zip, zip5, nullIfEmpty(key), lat, lon, src)
		if err != nil {
			t.Fatal(err)
		}
	}
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// coords returns a provider's coordinates and their source.
type coords struct {
	lat, lon float64
	source   string
}

func providerCoords(t *testing.T, s *store.Store, npi string) coords {
	t.Helper()
	var lat, lon sql.NullFloat64
	var src sql.NullString
	if err := s.DB().SQL.QueryRow("SELECT practice_lat, practice_lon, coord_source FROM providers WHERE npi = $1", npi).Scan(&lat, &lon, &src); err != nil {
		t.Fatal(err)
	}
	return coords{lat.Float64, lon.Float64, src.String}
}

func cacheRows(t *testing.T, s *store.Store) map[string]string {
	t.Helper()
	rows, err := s.DB().SQL.Query("SELECT address_key, match_status FROM geocode_cache")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, st string
		if err := rows.Scan(&k, &st); err != nil {
			t.Fatal(err)
		}
		out[k] = st
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func newCensus(t *testing.T, srv *geotest.CensusServer) *geo.Census {
	t.Helper()
	c, err := geo.NewCensus(geo.CensusOptions{BaseURL: srv.URL, Backoff: time.Millisecond, MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGeocodeProviders(t *testing.T) {
	geoEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		srv := geotest.NewCensusServer(t, geocodeAnswers)
		census := newCensus(t, srv)
		clock := func() time.Time { return time.Date(2026, 8, 12, 9, 0, 0, 0, time.UTC) }
		insertProviders(t, s,
			testProvider{npi: "1000000004", line1: "4600 Silver Hill Road", city: "Washington", state: "DC", zip: "202330001"},
			testProvider{npi: "1000000012", line1: "4600 SILVER HILL RD", city: "WASHINGTON", state: "DC", zip: "20233"}, // same address
			testProvider{npi: "1000000020", line1: "9 Nowhere Lane", city: "Jacksonville", state: "FL", zip: "322044736"},
			testProvider{npi: "1000000038", line1: "1 Tie Street", city: "Springfield", state: "IL", zip: "62701"},
			testProvider{npi: "1000000046", line1: "", city: "Boise", state: "ID", zip: "83702"},                             // no street: nothing to geocode
			testProvider{npi: "1000000053", line1: "X", city: "Boise", state: "ID", zip: "83702", key: "not an address key"}, // foreign key format
		)
		before := providerCoords(t, s, "1000000020")
		if before.source != "zcta" {
			t.Fatalf("setup: provider not at its ZIP centroid: %+v", before)
		}

		var progress []int
		res, err := s.GeocodeProviders(ctx, census, store.GeocodeOptions{BatchSize: 2, Now: clock, Progress: func(n int) { progress = append(progress, n) }})
		if err != nil {
			t.Fatal(err)
		}
		want := store.GeocodeResult{Addresses: 3, Matched: 1, Unmatched: 2, Invalid: 1, Batches: 2, ProvidersUpdated: 2}
		if res != want {
			t.Errorf("first run = %+v, want %+v", res, want)
		}
		if len(progress) != 2 || progress[len(progress)-1] != 3 {
			t.Errorf("progress calls %v, want two ending at 3", progress)
		}
		if n, got := srv.Requests(), len(srv.Received()); n != 2 || got != 3 {
			t.Errorf("server got %d requests with %d addresses, want 2 with the 3 distinct addresses", n, got)
		}
		for _, npi := range []string{"1000000004", "1000000012"} {
			if got := providerCoords(t, s, npi); got != (coords{38.845985, -76.92744, "census"}) {
				t.Errorf("provider %s: %+v, want the geocoder's coordinates", npi, got)
			}
		}
		if got := providerCoords(t, s, "1000000020"); got != before {
			t.Errorf("unmatched provider moved: %+v, want its ZIP centroid %+v", got, before)
		}
		wantCache := map[string]string{
			"4600 SILVER HILL RD|WASHINGTON|DC|20233": "Match",
			"9 NOWHERE LN|JACKSONVILLE|FL|32204":      "No_Match",
			"1 TIE ST|SPRINGFIELD|IL|62701":           "Tie",
			"not an address key":                      "Invalid_Key",
		}
		if got := cacheRows(t, s); len(got) != len(wantCache) {
			t.Errorf("cache = %v, want %v", got, wantCache)
		} else {
			for k, v := range wantCache {
				if got[k] != v {
					t.Errorf("cache[%q] = %q, want %q", k, got[k], v)
				}
			}
		}
		var geocodedAt time.Time
		if err := s.DB().SQL.QueryRow("SELECT geocoded_at FROM geocode_cache WHERE match_status = 'Match'").Scan(&geocodedAt); err != nil {
			t.Fatal(err)
		}
		if !geocodedAt.Equal(clock()) {
			t.Errorf("geocoded_at = %v, want the injected clock's %v", geocodedAt, clock())
		}

		// A re-run finds everything in the cache: no request.
		res, err = s.GeocodeProviders(ctx, census, store.GeocodeOptions{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		if res != (store.GeocodeResult{}) || srv.Requests() != 2 {
			t.Errorf("re-run = %+v with %d requests in all; want nothing done and still 2 requests", res, srv.Requests())
		}

		// A changed address (new key) is geocoded, and only it.
		if _, err := s.DB().SQL.Exec("UPDATE providers SET practice_line1 = '1 Main Street', address_key = $1 WHERE npi = '1000000020'",
			geo.AddressKey("1 Main Street", "", "Jacksonville", "FL", "322044736")); err != nil {
			t.Fatal(err)
		}
		res, err = s.GeocodeProviders(ctx, census, store.GeocodeOptions{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		if res != (store.GeocodeResult{Addresses: 1, Matched: 1, Batches: 1, ProvidersUpdated: 1}) {
			t.Errorf("run after the change = %+v", res)
		}
		got := srv.Received()
		if srv.Requests() != 3 || len(got) != 4 || got[3].Street != "1 MAIN ST" || got[3].ZIP != "32204" {
			t.Errorf("after the change the server received %+v in %d requests; want one more request with 1 MAIN ST", got, srv.Requests())
		}
		if c := providerCoords(t, s, "1000000020"); c != (coords{30.3171, -81.6801, "census"}) {
			t.Errorf("changed provider: %+v", c)
		}

		// Providers reloaded at their ZIP centroid get the cached coordinates back without a request.
		if _, err := s.DB().SQL.Exec("UPDATE providers SET practice_lat = 38.8, practice_lon = -76.9, coord_source = 'zcta' WHERE npi = '1000000004'"); err != nil {
			t.Fatal(err)
		}
		res, err = s.GeocodeProviders(ctx, census, store.GeocodeOptions{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		if res != (store.GeocodeResult{ProvidersUpdated: 1}) || srv.Requests() != 3 {
			t.Errorf("run after a reload = %+v, %d requests; want 1 provider updated from the cache, no request", res, srv.Requests())
		}
		if c := providerCoords(t, s, "1000000004"); c != (coords{38.845985, -76.92744, "census"}) {
			t.Errorf("reloaded provider: %+v", c)
		}
	})
}

func TestGeocodeProvidersLimitAndFailure(t *testing.T) {
	geoEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		srv := geotest.NewCensusServer(t, geocodeAnswers)
		census := newCensus(t, srv)
		insertProviders(t, s,
			testProvider{npi: "1000000004", line1: "4600 Silver Hill Rd", city: "Washington", state: "DC", zip: "20233"},
			testProvider{npi: "1000000012", line1: "1 Main St", city: "Jacksonville", state: "FL", zip: "32204"},
			testProvider{npi: "1000000020", line1: "9 Nowhere Ln", city: "Jacksonville", state: "FL", zip: "32204"},
		)

		// The service refuses the request: nothing is cached, the error says why.
		srv.FailNext(http.StatusBadRequest)
		res, err := s.GeocodeProviders(ctx, census, store.GeocodeOptions{})
		if err == nil || !strings.Contains(err.Error(), "400") {
			t.Fatalf("err = %v, want the service's 400", err)
		}
		if res.Addresses != 0 || len(cacheRows(t, s)) != 0 {
			t.Errorf("after a failure: %+v, cache %v; want nothing recorded", res, cacheRows(t, s))
		}

		// A limit geocodes a slice; the next run goes on with the rest.
		res, err = s.GeocodeProviders(ctx, census, store.GeocodeOptions{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if res.Addresses != 2 || len(cacheRows(t, s)) != 2 {
			t.Errorf("limited run = %+v, cache %v; want 2 addresses", res, cacheRows(t, s))
		}
		res, err = s.GeocodeProviders(ctx, census, store.GeocodeOptions{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if res.Addresses != 1 || len(cacheRows(t, s)) != 3 {
			t.Errorf("second limited run = %+v, cache %v; want the 1 address left", res, cacheRows(t, s))
		}

		// A cancelled context stops the run.
		insertProviders(t, s, testProvider{npi: "1000000038", line1: "2 Main St", city: "Jacksonville", state: "FL", zip: "32204"})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.GeocodeProviders(cctx, census, store.GeocodeOptions{}); err == nil {
			t.Error("no error with a cancelled context")
		}
	})
}

// locationCoords returns a secondary practice location's coordinates and
// their source.
func locationCoords(t *testing.T, s *store.Store, npi string, seq int) coords {
	t.Helper()
	var lat, lon sql.NullFloat64
	var src sql.NullString
	if err := s.DB().SQL.QueryRow("SELECT lat, lon, coord_source FROM practice_locations WHERE npi = $1 AND seq = $2", npi, seq).Scan(&lat, &lon, &src); err != nil {
		t.Fatal(err)
	}
	return coords{lat.Float64, lon.Float64, src.String}
}

// Secondary practice locations are geocoded with the providers: their
// keys join the same batches (an address shared with a provider is sent
// once), matches land on every row with the key, foreign locations are
// never sent, and reloaded locations get cached coordinates back.
func TestGeocodeProvidersLocations(t *testing.T) {
	geoEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		srv := geotest.NewCensusServer(t, geocodeAnswers)
		census := newCensus(t, srv)
		insertProviders(t, s,
			testProvider{npi: "1000000004", line1: "4600 Silver Hill Road", city: "Washington", state: "DC", zip: "20233"},
		)
		for _, l := range []struct {
			seq                                   int
			line1, city, state, zip, country, key string
		}{
			{1, "4600 Silver Hill Rd", "Washington", "DC", "20233", "US", ""},  // the provider's own address
			{2, "1 Main Street", "Jacksonville", "FL", "32204", "US", ""},      // matched
			{3, "9 Nowhere Lane", "Jacksonville", "FL", "32204", "US", ""},     // no match
			{4, "1 Main Street", "Jacksonville", "FL", "32204", "DE", "keyed"}, // abroad: never sent
		} {
			key := geo.AddressKey(l.line1, "", l.city, l.state, l.zip)
			if l.key != "" {
				key = "1 MAIN ST|BERLIN|BE|10115"
			}
			if _, err := s.DB().SQL.Exec(`INSERT INTO practice_locations (npi, seq, line1, city, state, postal_code, zip5, country,
				address_key, lat, lon, coord_source) VALUES ('1000000004', $1, $2, $3, $4, $5, $5, $6, $7, 10, 20, 'zcta')`,
				l.seq, l.line1, l.city, l.state, l.zip, l.country, key); err != nil {
				t.Fatal(err)
			}
		}
		res, err := s.GeocodeProviders(ctx, census, store.GeocodeOptions{BatchSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		want := store.GeocodeResult{Addresses: 3, Matched: 2, Unmatched: 1, Batches: 2, ProvidersUpdated: 1, LocationsUpdated: 2}
		if res != want {
			t.Errorf("first run = %+v, want %+v", res, want)
		}
		for _, a := range srv.Received() {
			if a.City == "BERLIN" {
				t.Errorf("foreign location sent: %+v", a)
			}
		}
		silver, jax := coords{38.845985, -76.92744, "census"}, coords{30.3171, -81.6801, "census"}
		for seq, want := range map[int]coords{1: silver, 2: jax, 3: {10, 20, "zcta"}, 4: {10, 20, "zcta"}} {
			if got := locationCoords(t, s, "1000000004", seq); got != want {
				t.Errorf("location %d: %+v, want %+v", seq, got, want)
			}
		}

		// A reload puts location 2 back at its ZIP centroid: the cache
		// restores it without a request.
		if _, err := s.DB().SQL.Exec("UPDATE practice_locations SET lat = 10, lon = 20, coord_source = 'zcta' WHERE seq = 2"); err != nil {
			t.Fatal(err)
		}
		requests := srv.Requests()
		res, err = s.GeocodeProviders(ctx, census, store.GeocodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res != (store.GeocodeResult{LocationsUpdated: 1}) || srv.Requests() != requests {
			t.Errorf("run after a reload = %+v, %d requests (before %d); want 1 location updated from the cache, no request", res, srv.Requests(), requests)
		}
		if got := locationCoords(t, s, "1000000004", 2); got != jax {
			t.Errorf("reloaded location: %+v", got)
		}
	})
}
