package store_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales/geo"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
)

// TestGeocodeCommittedBeforeSwap: a 'medsales geocode' batch that commits
// after a load gave its staged rows the cached coordinates (before it
// builds its indexes and swaps) is not undone by the swap: the rows
// swapped in get its coordinates, not their ZIP centroid. The batch is
// played by Finalize, which runs in the swap transaction: what it caches
// there is what another process committed just before the swap.
func TestGeocodeCommittedBeforeSwap(t *testing.T) {
	for _, c := range []struct {
		name, file, table, lat, lon string
		load                        loader
	}{
		{"nppes", npiCurrent, "providers", "practice_lat", "practice_lon", (*store.Store).LoadNPPES},
		{"nppes-locations", plSample, "practice_locations", "lat", "lon", (*store.Store).LoadNPPESLocations},
	} {
		t.Run(c.name, func(t *testing.T) {
			geoEach(t, func(t *testing.T, s *store.Store) {
				cents, err := geo.EmbeddedCentroids()
				if err != nil {
					t.Fatal(err)
				}
				in := store.LoadInput{File: c.file, Reader: bytes.NewReader(sampleFile(t, c.file)), Centroids: cents}
				cached := false
				in.Finalize = func(tx *db.Tx, _ store.LoadResult) error {
					_, err := tx.ExecContext(context.Background(), `INSERT INTO geocode_cache
						(address_key, lat, lon, matched, match_status, exact, matched_address, geocoded_at)
						SELECT address_key, 1.5, 2.5, $1, 'Match', $1, 'MATCHED', $2 FROM `+c.table+`
						WHERE address_key IS NOT NULL ORDER BY address_key LIMIT 1`, true, db.UTC(time.Now()))
					cached = err == nil
					return err
				}
				if _, err := c.load(s, context.Background(), in); err != nil {
					t.Fatal(err)
				}
				if !cached {
					t.Fatal("Finalize did not run")
				}
				key := `(SELECT address_key FROM geocode_cache)`
				var placed, total int
				if err := s.DB().SQL.QueryRow(`SELECT COUNT(*) FROM ` + c.table + ` WHERE address_key = ` + key + `
					AND ` + c.lat + ` = 1.5 AND ` + c.lon + ` = 2.5 AND coord_source = 'census'`).Scan(&placed); err != nil {
					t.Fatal(err)
				}
				if err := s.DB().SQL.QueryRow(`SELECT COUNT(*) FROM ` + c.table + ` WHERE address_key = ` + key).Scan(&total); err != nil {
					t.Fatal(err)
				}
				if total == 0 || placed != total {
					t.Errorf("%s: %d of the %d rows of the address geocoded before the swap have its coordinates", c.table, placed, total)
				}
			})
		})
	}
}
