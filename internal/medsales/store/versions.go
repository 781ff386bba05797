package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/platform/db"
)

// Version statuses.
const (
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// Version is one attempt to load a dataset file (a row of dataset_versions).
type Version struct {
	ID           int64            `json:"id"`
	Dataset      medsales.Dataset `json:"dataset"`
	Mode         string           `json:"mode"`
	SourceFile   string           `json:"sourceFile"`
	SHA256       string           `json:"sha256,omitempty"`
	ReleaseDate  *time.Time       `json:"releaseDate,omitempty"`
	DataYear     *int             `json:"dataYear,omitempty"`
	RowsLoaded   int64            `json:"rowsLoaded"`
	RowsRejected int64            `json:"rowsRejected"`
	StartedAt    time.Time        `json:"startedAt"`
	FinishedAt   *time.Time       `json:"finishedAt,omitempty"`
	Status       string           `json:"status"`
	Error        string           `json:"error,omitempty"`
}

// StartVersion records the start of a load and returns its id. Rows of the
// same dataset still marked running belong to loads that were killed: they
// are marked failed first, so the history never shows a phantom load.
func (s *Store) StartVersion(ctx context.Context, v Version) (int64, error) {
	var id int64
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE dataset_versions SET status = $1, error = $2, finished_at = $3
			WHERE dataset = $4 AND status = $5`,
			StatusFailed, "interrupted: the loading process stopped before finishing", db.UTC(v.StartedAt), string(v.Dataset), StatusRunning); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO dataset_versions
			(dataset, mode, source_file, sha256, release_date, data_year, started_at, status)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			string(v.Dataset), v.Mode, v.SourceFile, v.SHA256, dateArg(v.ReleaseDate), intArg(v.DataYear),
			db.UTC(v.StartedAt), StatusRunning).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("record start of %s load: %w", v.Dataset, err)
	}
	return id, nil
}

// FinishVersionTx marks a load succeeded inside the transaction that makes
// its data live, so the history and the data never disagree.
func FinishVersionTx(ctx context.Context, tx *db.Tx, id int64, res LoadResult, sha256 string, finished time.Time) error {
	var year any
	if res.DataYear > 0 {
		year = res.DataYear
	}
	_, err := tx.ExecContext(ctx, `UPDATE dataset_versions SET status = $1, rows_loaded = $2, rows_rejected = $3,
		data_year = COALESCE($4, data_year), sha256 = $5, finished_at = $6 WHERE id = $7`,
		StatusSucceeded, res.Loaded, res.Rejected, year, sha256, db.UTC(finished), id)
	if err != nil {
		return fmt.Errorf("record end of load %d: %w", id, err)
	}
	return nil
}

// FailVersion marks a load failed with a one-line reason.
func (s *Store) FailVersion(ctx context.Context, id int64, reason string, rowsRead int64, finished time.Time) error {
	if len(reason) > 1000 {
		reason = reason[:1000]
	}
	_, err := s.db.SQL.ExecContext(ctx, `UPDATE dataset_versions SET status = $1, error = $2, rows_loaded = $3, finished_at = $4
		WHERE id = $5`, StatusFailed, reason, rowsRead, db.UTC(finished), id)
	if err != nil {
		return fmt.Errorf("record failure of load %d: %w", id, err)
	}
	return nil
}

const versionColumns = `id, dataset, mode, source_file, sha256, release_date, data_year, rows_loaded, rows_rejected,
	started_at, finished_at, status, error`

// Versions lists load attempts, newest first; dataset "" lists every dataset.
func (s *Store) Versions(ctx context.Context, dataset medsales.Dataset, limit int) ([]Version, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT `+versionColumns+` FROM dataset_versions
		WHERE ($1 = '' OR dataset = $1) ORDER BY started_at DESC, id DESC LIMIT $2`, string(dataset), limit)
	if err != nil {
		return nil, fmt.Errorf("list dataset versions: %w", err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("list dataset versions: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Freshness is what is served now for one dataset: its last successful load.
type Freshness struct {
	Dataset      medsales.Dataset `json:"-"`
	LastIngested time.Time        `json:"lastIngested"`
	RecordCount  int64            `json:"recordCount"`
	DataYear     *int             `json:"dataYear,omitempty"`
	SourceFile   string           `json:"sourceFile"`
	ReleaseDate  *time.Time       `json:"releaseDate,omitempty"`
}

// LatestLoads returns, per dataset, the newest successful load.
func (s *Store) LatestLoads(ctx context.Context) (map[medsales.Dataset]Freshness, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT `+versionColumns+` FROM dataset_versions v
		WHERE status = 'succeeded' AND id = (SELECT MAX(id) FROM dataset_versions w
			WHERE w.dataset = v.dataset AND w.status = 'succeeded')`)
	if err != nil {
		return nil, fmt.Errorf("read data freshness: %w", err)
	}
	defer rows.Close()
	out := map[medsales.Dataset]Freshness{}
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("read data freshness: %w", err)
		}
		f := Freshness{Dataset: v.Dataset, RecordCount: v.RowsLoaded, DataYear: v.DataYear, SourceFile: v.SourceFile, ReleaseDate: v.ReleaseDate}
		if v.FinishedAt != nil {
			f.LastIngested = *v.FinishedAt
		}
		out[v.Dataset] = f
	}
	return out, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanVersion(r scanner) (Version, error) {
	var (
		v        Version
		dataset  string
		release  sql.NullString
		year     sql.NullInt64
		finished sql.NullTime
	)
	if err := r.Scan(&v.ID, &dataset, &v.Mode, &v.SourceFile, &v.SHA256, &release, &year, &v.RowsLoaded, &v.RowsRejected,
		&v.StartedAt, &finished, &v.Status, &v.Error); err != nil {
		return v, err
	}
	v.Dataset = medsales.Dataset(dataset)
	v.StartedAt = v.StartedAt.UTC()
	if release.Valid && len(release.String) >= 10 {
		if t, err := time.Parse("2006-01-02", release.String[:10]); err == nil {
			v.ReleaseDate = &t
		}
	}
	if year.Valid {
		y := int(year.Int64)
		v.DataYear = &y
	}
	if finished.Valid {
		t := finished.Time.UTC()
		v.FinishedAt = &t
	}
	return v, nil
}

func dateArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format("2006-01-02")
}

func intArg(p *int) any {
	if p == nil || *p == 0 {
		return nil
	}
	return *p
}
