package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// geogTables are the tables that get a PostGIS geography point computed
// from their latitude and longitude columns.
var geogTables = []struct{ table, lat, lon string }{
	{"providers", "practice_lat", "practice_lon"},
	{"practice_locations", "lat", "lon"},
}

// EnablePostGIS installs PostGIS when the server has it and gives the
// providers and practice_locations tables a generated geography(Point,
// 4326) column "geog" (computed from their latitude and longitude) with a
// GiST index, for radius searches. It reports whether PostGIS is in use:
// false on SQLite, and false without error when the extension is not
// available or may not be created. Run it after the migrations; it is
// idempotent. Bulk loads carry the column and its index into their staging
// tables, so loaders need not know about it.
func (s *Store) EnablePostGIS(ctx context.Context) (bool, error) {
	if s.db.Dialect != db.Postgres {
		return false, nil
	}
	if _, err := s.db.SQL.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS postgis"); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			switch pgErr.Code {
			case "0A000", // feature_not_supported: extension not available
				"58P01", // undefined_file: no control file
				"42501": // insufficient_privilege
				return false, nil
			}
		}
		return false, fmt.Errorf("enable PostGIS: %w", err)
	}
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		// Serialise concurrent start-ups.
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1, 0)", int32(advisoryNS)); err != nil {
			return err
		}
		for _, g := range geogTables {
			q := fmt.Sprintf(`ALTER TABLE %s ADD COLUMN IF NOT EXISTS geog geography(Point, 4326)
				GENERATED ALWAYS AS (CASE WHEN %[2]s IS NOT NULL AND %[3]s IS NOT NULL
					THEN ST_SetSRID(ST_MakePoint(%[3]s, %[2]s), 4326)::geography END) STORED`, g.table, g.lat, g.lon)
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("add geography column to %s: %w", g.table, err)
			}
			q = fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s_geog ON %s USING GIST (geog)", g.table, g.table)
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("index geography of %s: %w", g.table, err)
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("enable PostGIS: %w", err)
	}
	return true, nil
}
