package store

import (
	"context"
	"fmt"
	"regexp"
	"strconv"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/dataset"
	"github.com/medplatform/medplatform/internal/medsales/geo"
	"github.com/medplatform/medplatform/internal/platform/db"
)

func zctaTable() Table {
	return Table{Name: "zcta_centroids", Columns: []string{"zip", "lat", "lon"}}
}

// LoadZCTA replaces the ZIP centroids with a Census gazetteer ZCTA file
// (20xx_Gaz_zcta_national.txt, tab-separated). Once loaded, Centroids
// returns them instead of the table embedded in the binary, so a newer
// gazetteer takes effect without a new release. See LoadNUCC for rejects,
// the reject threshold and the swap; like every full load it refuses a
// file without the GEOID, INTPTLAT and INTPTLONG columns before writing
// anything. The data year recorded for the load is in.DataYear, else the
// gazetteer year the file name starts with ("2024_Gaz_…" → 2024), else
// none.
func (s *Store) LoadZCTA(ctx context.Context, in LoadInput) (LoadResult, error) {
	if err := fullOnly(in); err != nil {
		return LoadResult{}, err
	}
	year, err := loadYear(in, gazetteerYear, "")
	if err != nil {
		return LoadResult{}, err
	}
	r, err := dataset.NewZCTAReader(in.Reader, in.File)
	if err != nil {
		return LoadResult{}, wrongFile(err)
	}
	table := zctaTable()
	rep, err := s.beginLoad(ctx, []Table{table}, ReplaceOptions{})
	if err != nil {
		return LoadResult{}, err
	}
	defer rep.Abort()
	w := rep.Writer(table.Name)
	tally := NewTally(in)
	var c geo.Centroid
	for r.Next() {
		tally.Row()
		if err := r.Centroid(&c); err != nil {
			tally.Reject(r.Line(), err.Error())
			continue
		}
		if err := w.Write(c.ZIP, c.Lat, c.Lon); err != nil {
			return LoadResult{}, fmt.Errorf("%s: line %d: %w", in.File, r.Line(), err)
		}
		tally.Loaded++
	}
	// The practice addresses placed at a ZIP centroid move with the new
	// gazetteer in the swap transaction, so that they read as a reload of
	// NPPES would place them.
	next := in.Finalize
	in.Finalize = func(tx *db.Tx, res LoadResult) error {
		if err := refreshCentroidCoords(ctx, tx); err != nil {
			return err
		}
		if next == nil {
			return nil
		}
		return next(tx, res)
	}
	return finish(ctx, in, r, tally, rep, year)
}

// refreshCentroidCoords gives the practice addresses of providers and
// practice_locations the coordinates of the ZIP centroids just loaded into
// zcta_centroids, within tx: an address placed at its ZIP's centroid
// (coord_source 'zcta') moves to the new centroid, or loses its
// coordinates when the new gazetteer has no such ZIP; a U.S. address that
// had none (a ZIP the previous centroids lacked) gets the new centroid.
// Coordinates from the Census geocoder (coord_source 'census') stay.
func refreshCentroidCoords(ctx context.Context, tx *db.Tx) error {
	for _, t := range geomTables {
		if err := refreshTableCentroids(ctx, tx, t); err != nil {
			return err
		}
	}
	return nil
}

// refreshTableCentroids is refreshCentroidCoords for one table.
func refreshTableCentroids(ctx context.Context, tx *db.Tx, t geomTable) error {
	set := fmt.Sprintf(`UPDATE %[1]s SET %[2]s = z.lat, %[3]s = z.lon, coord_source = 'zcta'
		FROM zcta_centroids AS z
		WHERE z.zip = %[1]s.%[4]s
		  AND ((%[1]s.coord_source = 'zcta' AND (%[1]s.%[2]s <> z.lat OR %[1]s.%[3]s <> z.lon))
		       OR %[1]s.coord_source IS NULL)`, t.table, t.lat, t.lon, t.zip5)
	if _, err := tx.ExecContext(ctx, set); err != nil {
		return fmt.Errorf("move %s to the new ZIP centroids: %w", t.table, err)
	}
	unset := fmt.Sprintf(`UPDATE %[1]s SET %[2]s = NULL, %[3]s = NULL, coord_source = NULL
		WHERE coord_source = 'zcta' AND NOT EXISTS (SELECT 1 FROM zcta_centroids AS z WHERE z.zip = %[1]s.%[4]s)`,
		t.table, t.lat, t.lon, t.zip5)
	if _, err := tx.ExecContext(ctx, unset); err != nil {
		return fmt.Errorf("clear %s coordinates of ZIPs without a centroid: %w", t.table, err)
	}
	return nil
}

// CentroidsVersion returns the id of the newest successful zcta load, 0
// when there is none (Centroids then returns the embedded table). Read it
// before Centroids and pass both in LoadInput.
func (s *Store) CentroidsVersion(ctx context.Context) (int64, error) {
	return latestZCTA(ctx, s.db.SQL)
}

func latestZCTA(ctx context.Context, q db.Querier) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM dataset_versions WHERE dataset = $1 AND status = $2`,
		string(medsales.ZCTA), StatusSucceeded).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("read the ZIP centroids' version: %w", err)
	}
	return id, nil
}

// catchUpCentroids runs in the swap transaction of a load that placed the
// practice addresses of table at the ZIP centroids of in.Centroids.
// When a gazetteer load (zcta) committed after those centroids were read —
// loads of different datasets run side by side, and INGEST_SCHEDULE starts
// them all at once — its swap moved the addresses of the table this load
// is replacing, and this load would swap in the previous centroids until
// the next one. The addresses are then moved to the loaded centroids here,
// as the gazetteer load moved the others. A load without centroids has
// placed nothing and is left alone.
func catchUpCentroids(ctx context.Context, tx *db.Tx, in LoadInput, table string) error {
	if in.Centroids == nil {
		return nil
	}
	latest, err := latestZCTA(ctx, tx)
	if err != nil {
		return err
	}
	if latest == in.CentroidsVersion {
		return nil
	}
	for _, t := range geomTables {
		if t.table == table {
			return refreshTableCentroids(ctx, tx, t)
		}
	}
	return fmt.Errorf("catch up with the ZIP centroids: %s has no practice addresses", table)
}

// gazetteerRE matches the year a Census gazetteer file name starts with.
var gazetteerRE = regexp.MustCompile(`(?i)^(20[0-9]{2})_Gaz_`)

// gazetteerYear returns the year of a gazetteer file name
// ("2024_Gaz_zcta_national.txt" → 2024).
func gazetteerYear(name string) (int, bool) {
	m := gazetteerRE.FindStringSubmatch(name)
	if m == nil {
		return 0, false
	}
	y, err := strconv.Atoi(m[1])
	return y, err == nil
}

// Centroids returns the ZIP centroids to place providers with: the loaded
// gazetteer when zcta_centroids has rows, else the table embedded in the
// binary (geo.EmbeddedCentroids). Callers keep the result for a whole
// load.
func (s *Store) Centroids(ctx context.Context) (*geo.Centroids, error) {
	rows, err := s.db.SQL.QueryContext(ctx, "SELECT zip, lat, lon FROM zcta_centroids")
	if err != nil {
		return nil, fmt.Errorf("read ZIP centroids: %w", err)
	}
	defer rows.Close()
	var list []geo.Centroid
	for rows.Next() {
		var c geo.Centroid
		if err := rows.Scan(&c.ZIP, &c.Lat, &c.Lon); err != nil {
			return nil, fmt.Errorf("read ZIP centroids: %w", err)
		}
		list = append(list, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read ZIP centroids: %w", err)
	}
	if len(list) == 0 {
		return geo.EmbeddedCentroids()
	}
	c, err := geo.NewCentroids(list)
	if err != nil {
		return nil, fmt.Errorf("read ZIP centroids: %w", err)
	}
	return c, nil
}
