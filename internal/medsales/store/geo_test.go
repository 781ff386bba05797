package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/dataset"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// geoEach runs fn on a fresh store on each engine.
func geoEach(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	dbtest.Each(t, []migrate.Set{store.Migrations}, func(t *testing.T, d *db.DB) { fn(t, store.New(d)) })
}

const gazetteerHeader = "GEOID\tALAND\tAWATER\tALAND_SQMI\tAWATER_SQMI\tINTPTLAT\tINTPTLONG                  \n"

// gazetteer builds a gazetteer file from lines "zip lat lon".
func gazetteer(lines ...string) []byte {
	var b bytes.Buffer
	b.WriteString(gazetteerHeader)
	for _, l := range lines {
		f := strings.Fields(l)
		b.WriteString(f[0] + "\t1000\t0\t0.386\t0.0\t" + f[1] + "\t" + f[2] + "\n")
	}
	return b.Bytes()
}

func loadZCTA(s *store.Store, content []byte, in store.LoadInput) (store.LoadResult, error) {
	in.File = "2024_Gaz_zcta_national.txt"
	in.Reader = bytes.NewReader(content)
	return s.LoadZCTA(context.Background(), in)
}

func TestCentroidsEmbeddedUntilLoaded(t *testing.T) {
	geoEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c, err := s.Centroids(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.Len() != 33791 {
			t.Fatalf("empty table: Centroids has %d ZIPs, want the embedded 33,791", c.Len())
		}
		if lat, lon, ok := c.Lookup("322044736"); !ok || lat != 30.31702 || lon != -81.68083 {
			t.Errorf("embedded Lookup(322044736) = %v, %v, %v", lat, lon, ok)
		}

		var rejects bytes.Buffer
		finalized := false
		res, err := loadZCTA(s, gazetteer(
			"00601 18.180555 -66.749961",
			"32204 30.317018 -81.680832",
			"99999 91.5 -81.0", // out of range: rejected
			"10001 40.750650 -73.997293",
		), store.LoadInput{Rejects: &rejects, MaxRejectRatio: 0.5, Finalize: func(*db.Tx, store.LoadResult) error {
			finalized = true
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Loaded != 3 || res.Rejected != 1 || !finalized {
			t.Errorf("LoadZCTA = %+v, finalized %v; want 3 loaded, 1 rejected, finalized", res, finalized)
		}
		if !strings.HasPrefix(rejects.String(), "4,INTPTLAT 91.5 is out of range") {
			t.Errorf("rejects = %q", rejects.String())
		}
		c, err = s.Centroids(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.Len() != 3 {
			t.Fatalf("after load: %d ZIPs, want the 3 loaded", c.Len())
		}
		tests := []struct {
			zip      string
			lat, lon float64
			ok       bool
		}{
			{"322044736", 30.317018, -81.680832, true}, // full gazetteer precision, not the embedded 5 decimals
			{"00601", 18.180555, -66.749961, true},
			{"10001-0001", 40.75065, -73.997293, true},
			{"90210", 0, 0, false}, // only the loaded gazetteer counts now
		}
		for _, tt := range tests {
			lat, lon, ok := c.Lookup(tt.zip)
			if lat != tt.lat || lon != tt.lon || ok != tt.ok {
				t.Errorf("Lookup(%s) = %v, %v, %v; want %v, %v, %v", tt.zip, lat, lon, ok, tt.lat, tt.lon, tt.ok)
			}
		}

		// A newer gazetteer replaces the previous one whole.
		if _, err := loadZCTA(s, gazetteer("90210 34.100517 -118.41463"), store.LoadInput{}); err != nil {
			t.Fatal(err)
		}
		c, err = s.Centroids(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, ok := c.Lookup("32204"); ok || c.Len() != 1 {
			t.Errorf("after the second load: %d ZIPs, 32204 still there: %v", c.Len(), ok)
		}
	})
}

func TestLoadZCTARefuses(t *testing.T) {
	geoEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if _, err := loadZCTA(s, gazetteer("32204 30.317018 -81.680832", "10001 40.75065 -73.997293"), store.LoadInput{}); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name    string
			content []byte
			in      store.LoadInput
			wrong   bool // errors.Is dataset.ErrWrongFile
		}{
			{"comma-separated file without INTPTLONG", []byte("GEOID,ALAND,AWATER,ALAND_SQMI,AWATER_SQMI,INTPTLAT\n00601,1,1,1,1,18.1\n"), store.LoadInput{}, false},
			{"NUCC file", []byte("Code,Grouping,Classification\n207Q00000X,A,B\n"), store.LoadInput{}, true},
			{"too many rejects", gazetteer("00601 18.18 -66.75", "1234 1 1", "ABCDE 1 1"), store.LoadInput{}, false},
			{"increment mode", gazetteer("00601 18.18 -66.75"), store.LoadInput{Mode: store.ModeIncrement}, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := loadZCTA(s, tt.content, tt.in)
				if err == nil {
					t.Fatal("no error")
				}
				if errs.CodeOf(err) != errs.CodeInvalid {
					t.Errorf("code %q, want invalid: %v", errs.CodeOf(err), err)
				}
				if tt.wrong != errors.Is(err, dataset.ErrWrongFile) {
					t.Errorf("errors.Is(ErrWrongFile) = %v: %v", !tt.wrong, err)
				}
				c, err := s.Centroids(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if c.Len() != 2 {
					t.Errorf("a refused load changed the centroids: %d ZIPs, want 2", c.Len())
				}
			})
		}
	})
}

// A newer gazetteer moves the practice addresses placed at a ZIP centroid,
// on both tables, in the load's swap: a centroid that moved moves its
// addresses, a ZIP the gazetteer no longer has loses its coordinates, a
// U.S. address that had none gets them, and addresses placed by the
// Census geocoder, or abroad, stay where they are.
func TestLoadZCTAMovesCentroidCoordinates(t *testing.T) {
	geoEach(t, func(t *testing.T, s *store.Store) {
		insertProviders(t, s,
			testProvider{npi: "1000000001", line1: "1 A St", city: "Jacksonville", state: "FL", zip: "32204"},  // centroid moves
			testProvider{npi: "1000000002", line1: "2 B St", city: "New York", state: "NY", zip: "10001"},      // centroid unchanged
			testProvider{npi: "1000000003", line1: "3 C St", city: "Beverly Hills", state: "CA", zip: "90210"}, // ZIP dropped
			testProvider{npi: "1000000004", line1: "4 D St", city: "Nowhere", state: "FL", zip: "00000"},       // no centroid before
			testProvider{npi: "1000000005", line1: "5 E St", city: "Jacksonville", state: "FL", zip: "32204"},  // geocoded below
		)
		if _, err := s.DB().SQL.Exec(`UPDATE providers SET practice_lat = 30.5, practice_lon = -81.5, coord_source = 'census' WHERE npi = '1000000005'`); err != nil {
			t.Fatal(err)
		}
		if got := providerCoords(t, s, "1000000004"); got != (coords{}) {
			t.Fatalf("set-up: 00000 has coordinates %+v", got)
		}
		for _, l := range []struct {
			seq            int
			zip, zip5, cty string
			lat, lon       any
			src            any
		}{
			{1, "32204", "32204", "US", 10.0, 20.0, "zcta"},
			{2, "10115", "", "DE", nil, nil, nil}, // abroad: no zip5, never placed
			{3, "90210", "90210", "US", 34.1, -118.4, "zcta"},
		} {
			if _, err := s.DB().SQL.Exec(`INSERT INTO practice_locations (npi, seq, line1, city, state, postal_code, zip5, country, lat, lon, coord_source)
				VALUES ('1000000001', $1, 'x', 'y', 'z', $2, $3, $4, $5, $6, $7)`, l.seq, l.zip, nullIfEmpty(l.zip5), l.cty, l.lat, l.lon, l.src); err != nil {
				t.Fatal(err)
			}
		}
		ny := providerCoords(t, s, "1000000002")

		if _, err := loadZCTA(s, gazetteer(
			"32204 30.400000 -81.700000",
			fmt.Sprintf("10001 %f %f", ny.lat, ny.lon),
			"00000 27.000000 -82.000000",
		), store.LoadInput{}); err != nil {
			t.Fatal(err)
		}
		want := map[string]coords{
			"1000000001": {30.4, -81.7, "zcta"},
			"1000000002": ny,
			"1000000003": {},
			"1000000004": {27, -82, "zcta"},
			"1000000005": {30.5, -81.5, "census"},
		}
		for npi, w := range want {
			if got := providerCoords(t, s, npi); got != w {
				t.Errorf("provider %s: %+v, want %+v", npi, got, w)
			}
		}
		for seq, w := range map[int]coords{1: {30.4, -81.7, "zcta"}, 2: {}, 3: {}} {
			if got := locationCoords(t, s, "1000000001", seq); got != w {
				t.Errorf("location %d: %+v, want %+v", seq, got, w)
			}
		}
	})
}
