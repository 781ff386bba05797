package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// Version statuses.
const (
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// Version is one attempt to load a dataset file (a row of dataset_versions).
type Version struct {
	ID         int64            `json:"id"`
	Dataset    medsales.Dataset `json:"dataset"`
	Mode       string           `json:"mode"`
	SourceFile string           `json:"sourceFile"`
	SHA256     string           `json:"sha256,omitempty"`
	// SourceStamp identifies the version of the source the load opened
	// (source.File.Stamp), "" when it had none (migration 10). It is kept
	// out of the API: a local file's stamp holds its absolute path on the
	// loading host.
	SourceStamp  string         `json:"-"`
	ReleaseDate  *medsales.Date `json:"releaseDate,omitempty"`
	DataYear     *int           `json:"dataYear,omitempty"`
	RowsLoaded   int64          `json:"rowsLoaded"`
	RowsRejected int64          `json:"rowsRejected"`
	// RowsSkipped counts the file's rows of empty fields (",,,,", left by
	// a spreadsheet that re-saved it) and blank lines: neither loaded nor
	// rejected (migration 8).
	RowsSkipped int64 `json:"rowsSkipped"`
	// RowsServed is what the dataset served once this load succeeded:
	// RowsLoaded for a whole-file replace, more for a weekly increment or
	// one year of a dataset loaded by year; for a companion file of NPPES,
	// less the rows a weekly increment dropped since with the NPIs it
	// deactivated. Nil for a failed load.
	RowsServed *int64     `json:"rowsServed,omitempty"`
	StartedAt  time.Time  `json:"startedAt"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	Status     string     `json:"status"`
	Error      string     `json:"error,omitempty"`
	// JobID is the River job that ran the load (migration 11); 0 for a
	// load run from the command line.
	JobID int64 `json:"jobId,omitempty"`
}

// InterruptedReason is the recorded reason of a load whose process was
// killed while it ran (its row was left running).
const InterruptedReason = "interrupted: the loading process stopped before finishing"

// StartVersion records the start of a load and returns its id. A source
// file name that is not UTF-8 (a local file named in Latin-1, a zip member
// named in CP437) is recorded with U+FFFD in place of its invalid bytes,
// which PostgreSQL would refuse. Call it
// holding LockDataset: rows of the same dataset still marked running then
// belong to loads that were killed, and are marked failed first, so the
// history never shows a phantom load.
func (s *Store) StartVersion(ctx context.Context, v Version) (int64, error) {
	var id int64
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		if err := failRunning(ctx, tx, v.Dataset, InterruptedReason, v.StartedAt); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO dataset_versions
			(dataset, mode, source_file, sha256, release_date, data_year, started_at, status, source_stamp, job_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
			string(v.Dataset), v.Mode, strings.ToValidUTF8(v.SourceFile, "\uFFFD"), v.SHA256, dateArg(v.ReleaseDate), intArg(v.DataYear),
			db.UTC(v.StartedAt), StatusRunning, strings.ToValidUTF8(v.SourceStamp, "\uFFFD"), jobArg(v.JobID)).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("record start of %s load: %w", v.Dataset, err)
	}
	return id, nil
}

// failRunning marks the rows of d still running failed with reason.
func failRunning(ctx context.Context, q db.Querier, d medsales.Dataset, reason string, finished time.Time) error {
	_, err := q.ExecContext(ctx, `UPDATE dataset_versions SET status = $1, error = $2, finished_at = $3
		WHERE dataset = $4 AND status = $5`,
		StatusFailed, reason, db.UTC(finished), string(d), StatusRunning)
	return err
}

// FailInterrupted marks the rows of dataset d still running failed, as
// interrupted (InterruptedReason). Call it holding LockDataset: the rows
// then belong to loads whose process died.
func (s *Store) FailInterrupted(ctx context.Context, d medsales.Dataset, finished time.Time) error {
	if err := failRunning(ctx, s.db.SQL, d, InterruptedReason, finished); err != nil {
		return fmt.Errorf("record interrupted %s loads: %w", d, err)
	}
	return nil
}

// LastFinished returns when the newest finished load of dataset d (succeeded
// or failed) finished, and false when none has.
func (s *Store) LastFinished(ctx context.Context, d medsales.Dataset) (time.Time, bool, error) {
	// The column itself, not MAX(): SQLite's driver reads a TIMESTAMP
	// column as a time, an aggregate of it as text.
	var t time.Time
	err := s.db.SQL.QueryRowContext(ctx, `SELECT finished_at FROM dataset_versions
		WHERE dataset = $1 AND status IN ($2, $3) AND finished_at IS NOT NULL
		ORDER BY finished_at DESC LIMIT 1`, string(d), StatusSucceeded, StatusFailed).Scan(&t)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("read the last %s load: %w", d, err)
	}
	return t.UTC(), true, nil
}

// FinishVersionTx marks a load succeeded inside the transaction that makes
// its data live, so the history and the data never disagree. The load must
// still be running: a load whose row another load of the dataset has
// marked interrupted (its lock was lost — the PostgreSQL session holding
// it was ended, an idle_session_timeout, pg_terminate_backend — and the
// other load took it) fails here, and the transaction with its data is
// rolled back, rather than overwriting what the other load made live (QA:
// both went live, the table serving one and the history naming the other).
func FinishVersionTx(ctx context.Context, tx *db.Tx, id int64, res LoadResult, sha256 string, finished time.Time) error {
	var year any
	if res.DataYear > 0 {
		year = res.DataYear
	}
	var dataset, mode string
	if err := tx.QueryRowContext(ctx, `SELECT dataset, mode FROM dataset_versions WHERE id = $1`, id).Scan(&dataset, &mode); err != nil {
		return fmt.Errorf("record end of load %d: %w", id, err)
	}
	served, err := rowsServed(ctx, tx, medsales.Dataset(dataset), mode, res)
	if err != nil {
		return fmt.Errorf("record end of load %d: %w", id, err)
	}
	r, err := tx.ExecContext(ctx, `UPDATE dataset_versions SET status = $1, rows_loaded = $2, rows_rejected = $3,
		data_year = COALESCE($4, data_year), sha256 = $5, finished_at = $6, error = '', rows_served = $7, rows_skipped = $8
		WHERE id = $9 AND status = $10`,
		StatusSucceeded, res.Loaded, res.Rejected, year, sha256, db.UTC(finished), served, res.Skipped, id, StatusRunning)
	if err != nil {
		return fmt.Errorf("record end of load %d: %w", id, err)
	}
	if n, err := r.RowsAffected(); err != nil {
		return fmt.Errorf("record end of load %d: %w", id, err)
	} else if n == 0 {
		return &errs.Error{Code: errs.CodeConflict, Message: fmt.Sprintf(
			"load %d of %s is no longer running: another load of the dataset marked it stopped (the load lock was lost), so its data is not made live", id, dataset),
			Err: ErrLoadRunning}
	}
	return nil
}

// servedTables names the table whose rows a dataset serves.
var servedTables = map[medsales.Dataset]string{
	medsales.NPPES:           "providers",
	medsales.NPPESLocations:  "practice_locations",
	medsales.NPPESOtherNames: "provider_other_names",
	medsales.NPPESEndpoints:  "provider_endpoints",
	medsales.NUCC:            "nucc_taxonomy",
	medsales.PartB:           "partb_services",
	medsales.PartD:           "partd_drugs",
	medsales.OpenPayments:    "open_payments",
	medsales.ZCTA:            "zcta_centroids",
}

// rowsServed is what dataset d serves once the load of res commits in tx:
// the loaded rows when a whole-file load replaced the whole table, those
// plus what the latest load of each other year loaded for one year among
// others, else a count of the table (a weekly increment merged into it).
func rowsServed(ctx context.Context, tx *db.Tx, d medsales.Dataset, mode string, res LoadResult) (int64, error) {
	table, ok := servedTables[d]
	if !ok {
		return 0, fmt.Errorf("no served table for dataset %q", d)
	}
	if mode == string(ModeFull) && !d.ByYear() {
		return res.Loaded, nil
	}
	if d.ByYear() && res.DataYear > 0 {
		// The other years serve what their latest loads loaded: each
		// replaced its year whole. Counting the table here ran under the
		// lock of the partition the swap dropped, which holds every reader
		// of the table until this transaction ends, for as long as a
		// count of all years takes (QA: profiles stalled over a second
		// with 6M rows).
		var others int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(v.rows_loaded), 0) FROM dataset_versions v
			WHERE v.dataset = $1 AND v.status = $2 AND v.data_year <> $3
			  AND v.id = (SELECT MAX(w.id) FROM dataset_versions w WHERE w.dataset = v.dataset AND w.status = v.status AND w.data_year = v.data_year)`,
			string(d), StatusSucceeded, res.DataYear).Scan(&others); err != nil {
			return 0, fmt.Errorf("sum the rows of the other years of %s: %w", d, err)
		}
		return others + res.Loaded, nil
	}
	var n int64
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}

// FailVersion marks a load failed with a one-line reason and the rows it
// rejected (too many of them is a common reason) and skipped as empty
// before failing. Nothing of a failed load is served, so it records no
// rows loaded. Only a row still running is changed: one that another load
// has marked interrupted (this load lost its lock, and then failed on the
// tables the other swapped in) keeps that reason, the true one, rather
// than the step's error (QA re-test: "could not open relation with OID …"
// replaced it).
func (s *Store) FailVersion(ctx context.Context, id int64, reason string, rejected, skipped int64, finished time.Time) error {
	reason = clipReason(reason, maxReason)
	r, err := s.db.SQL.ExecContext(ctx, `UPDATE dataset_versions SET status = $1, error = $2, rows_loaded = 0, rows_rejected = $3,
		rows_skipped = $4, finished_at = $5 WHERE id = $6 AND status = $7`, StatusFailed, reason, rejected, skipped, db.UTC(finished), id, StatusRunning)
	if err != nil {
		return fmt.Errorf("record failure of load %d: %w", id, err)
	}
	if n, err := r.RowsAffected(); err != nil {
		return fmt.Errorf("record failure of load %d: %w", id, err)
	} else if n > 0 {
		return nil
	}
	var dataset, status, stored string
	err = s.db.SQL.QueryRowContext(ctx, `SELECT dataset, status, error FROM dataset_versions WHERE id = $1`, id).Scan(&dataset, &status, &stored)
	if err != nil {
		return fmt.Errorf("record failure of load %d: %w", id, err)
	}
	if status != StatusFailed {
		// Not stopped by another load (that marks the row failed): the
		// row already says how the load ended (a success committed before
		// a later step failed). A StoppedError would say another load
		// stopped it and, as ErrLoadRunning, have its job run it again.
		return fmt.Errorf("record failure of load %d of %s: it is already recorded %s; the failure (%s) is not recorded", id, dataset, status, reason)
	}
	return &StoppedError{ID: id, Dataset: dataset, Status: status, Reason: stored}
}

// StoppedError is FailVersion's error for a load whose row was no longer
// running: another load of the dataset took the lock this one lost and
// marked it stopped. Its message is the one to show the operator in place
// of the failed step's own error, which then only says that the tables
// the other load swapped in were gone ("could not open relation with OID
// …").
type StoppedError struct {
	ID      int64
	Dataset string
	Status  string // what the row says now (failed)
	Reason  string // the reason the other load recorded
}

func (e *StoppedError) Error() string {
	return fmt.Sprintf("load %d of %s was stopped: another load of the dataset took its lock (this load's database session had ended) and recorded %q; nothing of this load is served",
		e.ID, e.Dataset, e.Reason)
}

// Unwrap makes a stopped load's job wait for the running load and then run
// again, as one that found the lock taken does.
func (e *StoppedError) Unwrap() error { return ErrLoadRunning }

// maxReason is the most bytes of a failed load's reason that the history
// keeps.
const maxReason = 1000

// clipReason returns reason as valid UTF-8 of at most max bytes, cut at a
// character boundary: a reason quotes values from the file (a reject's
// value, a header name), and cutting one of their characters in two would
// leave bytes PostgreSQL refuses in a TEXT column, so the failure would not
// be recorded at all and the load would stay "running".
func clipReason(reason string, max int) string {
	reason = strings.ToValidUTF8(reason, "\uFFFD")
	if len(reason) <= max {
		return reason
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut]
}

// ErrLoadRunning is in the chain of LockDataset's error when another load
// of the dataset holds the lock, so a queued job can wait its turn instead
// of failing.
var ErrLoadRunning = errors.New("another load of the dataset is running; wait for it to finish")

// LockDataset makes sure one load of a dataset runs at a time, across
// processes and hosts: a PostgreSQL session advisory lock, or an exclusive
// flock on a file beside the SQLite database. Either is released when the
// process dies, so a killed load never blocks the next one. It fails at
// once, with a conflict error wrapping ErrLoadRunning, when another load
// holds the lock.
func (s *Store) LockDataset(ctx context.Context, d medsales.Dataset) (release func(), err error) {
	busy := &errs.Error{Code: errs.CodeConflict, Message: fmt.Sprintf("cannot load %s", d), Err: ErrLoadRunning}
	if s.db.Dialect == db.Postgres {
		conn, err := s.db.SQL.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", d, err)
		}
		key := "medsales.ingest." + string(d)
		var ok bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtext($1))`, key).Scan(&ok); err != nil {
			conn.Close()
			return nil, fmt.Errorf("lock %s: %w", d, err)
		}
		if !ok {
			conn.Close()
			return nil, busy
		}
		return func() {
			c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = conn.ExecContext(c, `SELECT pg_advisory_unlock(hashtext($1))`, key)
			conn.Close()
		}, nil
	}
	// The file's real path: the database reached through a symlink is
	// the same database, and must take the same lock (QA).
	file := s.db.File
	if real, err := filepath.EvalSymlinks(file); err == nil {
		file = real
	}
	path := file + ".ingest-" + string(d) + ".lock"
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", d, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, busy
		}
		return nil, fmt.Errorf("lock %s: %w", d, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

const versionColumns = `id, dataset, mode, source_file, sha256, release_date, data_year, rows_loaded, rows_rejected,
	started_at, finished_at, status, error, rows_served, rows_skipped, source_stamp, job_id`

// jobArg is job_id's argument: NULL for no job.
func jobArg(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// JobVersions returns the load attempts the River job id recorded, oldest
// first: one, or none while it has not started (or was skipped as
// unchanged); more when it was stopped by a shutdown and ran again.
func (s *Store) JobVersions(ctx context.Context, id int64) ([]Version, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT `+versionColumns+` FROM dataset_versions
		WHERE job_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("read the loads of job %d: %w", id, err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("read the loads of job %d: %w", id, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Versions lists load attempts, newest first; dataset "" lists every dataset.
func (s *Store) Versions(ctx context.Context, dataset medsales.Dataset, limit int) ([]Version, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.reader().QueryContext(ctx, `SELECT `+versionColumns+` FROM dataset_versions
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
	// DataYears, for a dataset loaded year by year (Dataset.ByYear), are
	// the years served, newest first: DataYear is only the newest load's,
	// which a back-filled older year makes look stale.
	DataYears   []int          `json:"dataYears,omitempty"`
	SourceFile  string         `json:"sourceFile"`
	ReleaseDate *medsales.Date `json:"releaseDate,omitempty"`
}

// LatestLoads returns, per dataset, the newest successful load, except
// that an increment of an older release than the load current before it
// (a weekly NPPES file loaded out of order, or run again after a newer
// one) does not become current: its records older than those loaded were
// left out, so what is served is still the newer release. RecordCount is
// what is served now, as of the newest successful load.
func (s *Store) LatestLoads(ctx context.Context) (map[medsales.Dataset]Freshness, error) {
	// The last whole-file load of each dataset and the increments after
	// it, oldest first: a whole file replaces the data whatever its
	// release, so the increments before it no longer matter.
	rows, err := s.reader().QueryContext(ctx, `SELECT `+versionColumns+` FROM dataset_versions v
		WHERE status = 'succeeded' AND id >= COALESCE((SELECT MAX(id) FROM dataset_versions w
			WHERE w.dataset = v.dataset AND w.status = 'succeeded' AND w.mode <> $1), 0)
		ORDER BY dataset, id`, ModeIncrement)
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
		served := v.RowsLoaded
		if v.RowsServed != nil { // recorded since migration 7
			served = *v.RowsServed
		}
		if f, ok := out[v.Dataset]; ok && v.Mode == ModeIncrement && f.ReleaseDate != nil && v.ReleaseDate != nil &&
			v.ReleaseDate.Before(f.ReleaseDate.Time) {
			f.RecordCount = served
			out[v.Dataset] = f
			continue
		}
		f := Freshness{Dataset: v.Dataset, RecordCount: served, DataYear: v.DataYear, SourceFile: v.SourceFile, ReleaseDate: v.ReleaseDate}
		if v.FinishedAt != nil {
			f.LastIngested = *v.FinishedAt
		}
		out[v.Dataset] = f
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read data freshness: %w", err)
	}
	rows.Close()
	// Every year with a successful load is served: a load replaces its
	// own year only, and nothing deletes a year.
	years, err := s.reader().QueryContext(ctx, `SELECT DISTINCT dataset, data_year FROM dataset_versions
		WHERE status = 'succeeded' AND data_year IS NOT NULL ORDER BY dataset, data_year DESC`)
	if err != nil {
		return nil, fmt.Errorf("read data years: %w", err)
	}
	defer years.Close()
	for years.Next() {
		var d string
		var y int
		if err := years.Scan(&d, &y); err != nil {
			return nil, fmt.Errorf("read data years: %w", err)
		}
		ds := medsales.Dataset(d)
		if f, ok := out[ds]; ok && ds.ByYear() {
			f.DataYears = append(f.DataYears, y)
			out[ds] = f
		}
	}
	return out, years.Err()
}

// ServedWithStamp returns the load of dataset d served now, in the scope
// of a new load of mode and data year, whose source stamp is stamp, and
// false when there is none: a new load of a source with that stamp would
// then load what is served already. year 0 means the new load's year is
// not known before its rows are read (an Open Payments file named without
// one): any year served counts. An empty stamp matches nothing.
//
// What is served is decided as LatestLoads decides it. For a dataset
// loaded year by year (Dataset.ByYear), it is the newest successful load
// of each year: a load replaces its own year only. For any other dataset,
// it is the newest successful whole-file load and the increments that
// succeeded after it: a whole file replaces the data, and a re-run of
// the whole file served now would only undo the increments since. A load
// of the same source that succeeded before a newer one replaced it is not
// served, so the source is loaded again.
func (s *Store) ServedWithStamp(ctx context.Context, d medsales.Dataset, mode string, year int, stamp string) (Version, bool, error) {
	if stamp == "" {
		return Version{}, false, nil
	}
	return s.servedWhere(ctx, d, func(v Version) bool {
		return v.SourceStamp == stamp && v.Mode == mode && (year == 0 || v.DataYear != nil && *v.DataYear == year)
	})
}

// ServedFromArchive is ServedWithStamp for a zip archive whose member is
// not known yet (source.Options.SkipArchive): it finds the load served
// now whose stamp is archiveStamp followed by a member's name. The same
// archive read with the same options yields the same member. mode ""
// matches any mode: a load that gives none takes it from the member's
// name, the same for the same member.
func (s *Store) ServedFromArchive(ctx context.Context, d medsales.Dataset, mode string, year int, archiveStamp string) (Version, bool, error) {
	if archiveStamp == "" {
		return Version{}, false, nil
	}
	return s.servedWhere(ctx, d, func(v Version) bool {
		return strings.HasPrefix(v.SourceStamp, archiveStamp+" member=") && (mode == "" || v.Mode == mode) &&
			(year == 0 || v.DataYear != nil && *v.DataYear == year)
	})
}

// ServedWhole returns the whole-file load of dataset d served now in the
// scope of data year year (for a dataset loaded year by year; 0: a load
// without a year), and false when there is none.
func (s *Store) ServedWhole(ctx context.Context, d medsales.Dataset, year int) (Version, bool, error) {
	return s.servedWhere(ctx, d, func(v Version) bool {
		if v.Mode == ModeIncrement {
			return false
		}
		if !d.ByYear() {
			return true
		}
		if v.DataYear == nil {
			return year == 0
		}
		return *v.DataYear == year
	})
}

// servedWhere returns the newest load of dataset d served now (as
// ServedWithStamp decides it) for which match holds.
func (s *Store) servedWhere(ctx context.Context, d medsales.Dataset, match func(Version) bool) (Version, bool, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT `+versionColumns+` FROM dataset_versions
		WHERE dataset = $1 AND status = $2 ORDER BY id`, string(d), StatusSucceeded)
	if err != nil {
		return Version{}, false, fmt.Errorf("read the %s loads served: %w", d, err)
	}
	defer rows.Close()
	var loads []Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return Version{}, false, fmt.Errorf("read the %s loads served: %w", d, err)
		}
		loads = append(loads, v)
	}
	if err := rows.Err(); err != nil {
		return Version{}, false, fmt.Errorf("read the %s loads served: %w", d, err)
	}
	var served []Version
	if d.ByYear() {
		newest := map[int]int{} // data year (0: none) → index in loads
		for i, v := range loads {
			y := 0
			if v.DataYear != nil {
				y = *v.DataYear
			}
			newest[y] = i
		}
		for _, i := range newest {
			served = append(served, loads[i])
		}
	} else {
		from := 0
		for i, v := range loads {
			if v.Mode != ModeIncrement {
				from = i
			}
		}
		served = loads[from:]
	}
	var newest Version
	found := false
	for _, v := range served {
		if match(v) && (!found || v.ID > newest.ID) {
			newest, found = v, true
		}
	}
	return newest, found, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanVersion(r scanner) (Version, error) {
	var (
		v        Version
		dataset  string
		release  releaseDate
		year     sql.NullInt64
		finished sql.NullTime
		served   sql.NullInt64
		job      sql.NullInt64
	)
	if err := r.Scan(&v.ID, &dataset, &v.Mode, &v.SourceFile, &v.SHA256, &release, &year, &v.RowsLoaded, &v.RowsRejected,
		&v.StartedAt, &finished, &v.Status, &v.Error, &served, &v.RowsSkipped, &v.SourceStamp, &job); err != nil {
		return v, err
	}
	v.JobID = job.Int64
	if served.Valid {
		v.RowsServed = &served.Int64
	}
	v.Dataset = medsales.Dataset(dataset)
	v.StartedAt = v.StartedAt.UTC()
	if release.valid {
		v.ReleaseDate = medsales.DatePtr(release.t.UTC())
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

// dateArg is a DATE column's argument: midnight UTC of the date, written
// on SQLite in the same text form as every other DATE column (the NPPES
// and Open Payments dates the bulk loader writes).
// releaseDate scans dataset_versions.release_date: a time on PostgreSQL
// and on SQLite, where the column is declared DATE, or its text where a
// database created by the first medsales commits of 2026-12-01 declared
// it TEXT (the driver then gives the string it stored; scanned as a time,
// every read of the versions failed: QA).
type releaseDate struct {
	t     time.Time
	valid bool
}

func (r *releaseDate) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		r.valid = false
		return nil
	case time.Time:
		r.t, r.valid = v, true
		return nil
	case []byte:
		return r.Scan(string(v))
	case string:
		for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02"} {
			if t, err := time.Parse(layout, v); err == nil {
				r.t, r.valid = t, true
				return nil
			}
		}
		return fmt.Errorf("release_date %q is not a date", v)
	}
	return fmt.Errorf("release_date of type %T", src)
}

func dateArg(d *medsales.Date) any {
	if d == nil {
		return nil
	}
	return medsales.DateOf(d.Time).Time
}

func intArg(p *int) any {
	if p == nil || *p == 0 {
		return nil
	}
	return *p
}
