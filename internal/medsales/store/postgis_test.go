package store_test

import (
	"context"
	"database/sql"
	"math"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// Every point at the given distance from the centre, walked around the
// circle on the sphere, lies inside the box RadiusDegrees gives: the index
// filter of a radius search never drops a provider inside the radius.
func TestRadiusDegreesContainsCircle(t *testing.T) {
	const earth = 6_371_008.8
	for _, lat := range []float64{0, 25.76, 30.33, 47.6, 61.2, 71.3, -33.9} {
		for _, metres := range []float64{100, 5_000, 40_000, 160_934, 500_000} {
			deg := store.RadiusDegrees(lat, metres)
			if deg >= 180 {
				continue // every longitude: nothing to check
			}
			d := metres / earth
			phi := lat * math.Pi / 180
			for b := 0.0; b < 360; b += 0.5 {
				theta := b * math.Pi / 180
				// Destination point from (lat, 0) at bearing b.
				phi2 := math.Asin(math.Sin(phi)*math.Cos(d) + math.Cos(phi)*math.Sin(d)*math.Cos(theta))
				dLon := math.Atan2(math.Sin(theta)*math.Sin(d)*math.Cos(phi), math.Cos(d)-math.Sin(phi)*math.Sin(phi2))
				if dy, dx := math.Abs(phi2*180/math.Pi-lat), math.Abs(dLon*180/math.Pi); dy > deg || dx > deg {
					t.Fatalf("lat %v, %v m: point at bearing %v is (%.6f, %.6f) degrees off, outside the box of %.6f", lat, metres, b, dy, dx, deg)
				}
			}
		}
	}
	// A box much wider than the circle makes the index useless: 40 km at
	// Jacksonville needs about 0.36 by 0.42 degrees.
	if deg := store.RadiusDegrees(30.33, 40_000); deg > 0.45 {
		t.Errorf("RadiusDegrees(30.33, 40 km) = %v, want a box under 0.45 degrees", deg)
	}
}

// TestEnablePostGISAgainDoesNotWaitForReaders: on a database already set
// up, EnablePostGIS (run at every start of serve, worker and ingest) does
// nothing, so it neither waits for the API's reads of providers nor makes
// the reads arriving after it wait. It took an ACCESS EXCLUSIVE lock on
// providers and practice_locations every time.
func TestEnablePostGISAgainDoesNotWaitForReaders(t *testing.T) {
	d := dbtest.Postgres(t, store.Migrations)
	s := store.New(d)
	ctx := context.Background()
	if ok, err := s.EnablePostGIS(ctx); err != nil || !ok {
		t.Skipf("PostGIS not available: %v, %v", ok, err)
	}
	read, err := d.SQL.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer read.Rollback()
	var n int
	if err := read.QueryRowContext(ctx, "SELECT COUNT(*) FROM providers").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := read.QueryRowContext(ctx, "SELECT COUNT(*) FROM practice_locations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if ok, err := s.EnablePostGIS(c); err != nil || !ok {
		t.Errorf("EnablePostGIS again while a read is open = %v, %v; want true, nil at once", ok, err)
	}
	// Still set up: the column and its index are there.
	var cols int
	if err := d.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_indexes WHERE indexname IN ('providers_geom', 'practice_locations_geom')`).Scan(&cols); err != nil || cols != 2 {
		t.Errorf("geometry indexes = %d, %v; want 2", cols, err)
	}
}
