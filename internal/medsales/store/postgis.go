package store

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// geomTables are the tables of practice addresses: their latitude,
// longitude and 5-digit ZIP columns. They get a PostGIS point computed
// from the coordinates, and are geocoded the same way.
var geomTables = []geomTable{
	{"providers", "practice_lat", "practice_lon", "practice_zip5"},
	{"practice_locations", "lat", "lon", "zip5"},
}

// geomTable names a table of practice addresses and its coordinate and
// 5-digit ZIP columns.
type geomTable struct{ table, lat, lon, zip5 string }

// EnablePostGIS installs PostGIS when the server has it and gives the
// providers and practice_locations tables a generated geometry(Point, 4326)
// column "geom" (longitude, latitude; computed from their coordinate
// columns) with a GiST index, for radius searches. It reports whether
// PostGIS is in use: false on SQLite, and false without error when the
// extension is not available or may not be created. Run it after the
// migrations; it is idempotent. Bulk loads carry the column and its index
// into their staging tables, so loaders need not know about it.
//
// Why geometry and not geography: PostGIS builds a GiST index on 2-D
// geometry by sorting the points first (PostgreSQL 14+), about three times
// faster than the insertion build a geography index needs, and the index
// is rebuilt on every full NPPES load. A radius search filters with the
// index on a bounding box in degrees, then measures on the sphere:
//
//	geom && ST_Expand(ST_SetSRID(ST_MakePoint(lon, lat), 4326), deg)
//	AND ST_DistanceSphere(geom, ST_SetSRID(ST_MakePoint(lon, lat), 4326)) <= metres
//
// where deg covers metres at that latitude (see RadiusDegrees). Earlier
// versions had a geography column "geog": it is dropped here.
func (s *Store) EnablePostGIS(ctx context.Context) (bool, error) {
	if s.db.Dialect != db.Postgres {
		return false, nil
	}
	unavailable := errors.New("PostGIS is not available")
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		// Serialise concurrent start-ups, the extension's creation
		// included: two CREATE EXTENSION IF NOT EXISTS racing on a fresh
		// database fail one of them with a unique violation.
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1, 0)", int32(advisoryNS)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS postgis"); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) {
				switch pgErr.Code {
				case "0A000", // feature_not_supported: extension not available
					"58P01", // undefined_file: no control file
					"42501": // insufficient_privilege
					return unavailable
				}
			}
			return err
		}
		for _, g := range geomTables {
			// ALTER TABLE … IF [NOT] EXISTS takes an ACCESS EXCLUSIVE lock
			// even when it has nothing to do, and CREATE INDEX IF NOT
			// EXISTS a SHARE lock: on a database already set up, every
			// start of a process would wait for the API's reads of the
			// table and stall every read arriving after it. Look first.
			var geog, geom, index bool
			if err := tx.QueryRowContext(ctx, `SELECT
					EXISTS (SELECT 1 FROM information_schema.columns
						WHERE table_schema = current_schema() AND table_name = $1 AND column_name = 'geog'),
					EXISTS (SELECT 1 FROM information_schema.columns
						WHERE table_schema = current_schema() AND table_name = $1 AND column_name = 'geom'),
					EXISTS (SELECT 1 FROM pg_indexes
						WHERE schemaname = current_schema() AND tablename = $1 AND indexname = $1 || '_geom')`,
				g.table).Scan(&geog, &geom, &index); err != nil {
				return fmt.Errorf("look for the geometry column of %s: %w", g.table, err)
			}
			if !geog && geom && index {
				continue
			}
			if _, err := tx.ExecContext(ctx, "ALTER TABLE "+g.table+" DROP COLUMN IF EXISTS geog"); err != nil {
				return fmt.Errorf("drop the geography column of %s: %w", g.table, err)
			}
			q := fmt.Sprintf(`ALTER TABLE %s ADD COLUMN IF NOT EXISTS geom geometry(Point, 4326)
				GENERATED ALWAYS AS (CASE WHEN %[2]s IS NOT NULL AND %[3]s IS NOT NULL
					THEN ST_SetSRID(ST_MakePoint(%[3]s, %[2]s), 4326) END) STORED`, g.table, g.lat, g.lon)
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("add geometry column to %s: %w", g.table, err)
			}
			q = fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s_geom ON %s USING GIST (geom)", g.table, g.table)
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("index geometry of %s: %w", g.table, err)
			}
		}
		return nil
	})
	if errors.Is(err, unavailable) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("enable PostGIS: %w", err)
	}
	return true, nil
}

// RadiusDegrees returns the half-width in degrees of a box around a point
// at latitude lat that contains every point within metres of it: the
// index filter of a radius search (see EnablePostGIS). Longitude degrees
// shrink with the cosine of the latitude; near the poles the box spans
// every longitude.
func RadiusDegrees(lat, metres float64) float64 {
	const metresPerDegree = 111_195.0 // mean Earth radius 6,371,008.8 m × π/180
	c := math.Cos(math.Abs(lat)*math.Pi/180) - metres/6_371_008.8
	if c < 0.01 {
		return 180
	}
	return metres / metresPerDegree / c
}
