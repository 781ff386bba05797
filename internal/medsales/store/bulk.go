package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/db/sqlitebulk"
)

// Bulk loading: every dataset loader streams its rows through a Replace.
//
// Rows go into staging tables named <live>__stg_<token> that have the live
// table's columns but no indexes, so readers never see a partial dataset
// and a killed or failed load leaves the live version intact. Commit then
// builds the live table's indexes on the staging table and, in one
// transaction, swaps it in (or, for a scoped or keyed load, deletes the
// replaced live rows and inserts the staged ones).
//
// A scoped load on PostgreSQL whose live table is LIST-partitioned by the
// scope column (the Part B, Part D and Open Payments years) swaps a
// partition instead: copying a year with INSERT … SELECT cost most of the
// load and left the replaced year as dead tuples. Its staging table is
// created with CHECK (<col> IS NOT NULL AND <col> = <value>), which COPY
// enforces row by row, so that ATTACH PARTITION can trust it instead of
// scanning the table under its lock; Commit builds the parent's indexes on
// it and analyzes it, then in one transaction drops the partition that
// holds the value (found through pg_inherits and its bound, not its name),
// attaches the staging table in its place (PostgreSQL adopts the matching
// indexes as partitions of the parent's indexes instead of building new
// ones) and renames it <live>_y<value>, its indexes <live>_y<value><suffix
// of the parent's index>. A renamed table is a live partition, which
// DropStaleStaging never matches; a failed swap rolls the rename back and
// the staging table is dropped as usual.
//
// PostgreSQL: each table has its own connection and goroutine running
// COPY … FROM STDIN WITH (FREEZE) (pgx PgConn.CopyFrom; binary format when
// every column's type allows, text otherwise) in the transaction that
// created its staging table, fed with buffers of encoded rows through a
// channel, so parsing and copying overlap. The tables are analyzed and
// their indexes rebuilt from their pg_get_indexdef definitions, two
// statements at a time. A Replace holds a session advisory lock keyed by
// its token while it lives; DropStaleStaging drops staging tables whose
// lock nobody holds.
//
// SQLite: one goroutine inserts batches with multi-row prepared INSERT OR
// FAIL statements and commits every ~10k rows, so the writer connection
// (shared with the API's writes in the same process; its reads use
// db.DB.Read) is never held for the whole load; the load raises the page
// cache and checkpoints the WAL itself every 250k rows. Indexes are re-created from sqlite_master in the swap
// transaction. A Replace refreshes a heartbeat row in bulk_loads;
// DropStaleStaging drops staging tables whose heartbeat stopped.
//
// Writer takes boxed values; Builder (RowBuilder) writes the same rows
// value by value without an allocation per value, for the hot loaders.

// Table is a live table and the columns a loader writes, in order.
type Table struct {
	Name    string
	Columns []string
}

// ReplaceOptions choose what a Replace replaces. The zero value replaces
// whole tables.
type ReplaceOptions struct {
	// ScopeColumn and ScopeValue, when set, replace only the live rows
	// whose ScopeColumn = ScopeValue (a Part D data year, an Open Payments
	// program year), in every table of the Replace.
	ScopeColumn string
	ScopeValue  any
	// KeyColumn, when set (and ScopeColumn is not), makes the load an
	// upsert by key (the NPPES weekly increment by NPI): in every table the
	// live rows whose KeyColumn value occurs in the staged rows of the
	// first table are deleted, then every staged row is inserted.
	KeyColumn string
}

// RowWriter writes rows into one staging table.
type RowWriter interface {
	// Write buffers one row: one value per column of the Table, in order.
	// Values are string, []byte (a nil slice is NULL; the bytes are copied,
	// so the caller may reuse them), int64 (and the other integer types),
	// float64, bool, time.Time, or nil (NULL). A failure of the background
	// copy is returned by a later Write or by Commit.
	Write(values ...any) error
}

// Replace is one bulk load in progress. Its methods other than Writer's
// Write must be called from one goroutine.
type Replace struct {
	s      *Store
	tables []Table
	opts   ReplaceOptions
	token  string
	stage  map[string]string // live → staging table name
	idx    map[string]int    // live → index in tables

	ctx      context.Context
	cancel   context.CancelCauseFunc
	wg       sync.WaitGroup
	stop     chan struct{} // closed when the load fails or is aborted
	stopOnce sync.Once

	mu  sync.Mutex
	err error // first background error

	writers  []rowWriter
	flushed  bool
	finished bool // committed or aborted

	// PostgreSQL
	lockConn *pgxpool.Conn
	// partitioned holds the live tables of a scoped load that are
	// LIST-partitioned by the scope column: Commit swaps their partition
	// of the scope value (scopeLit, the value as an SQL literal) instead
	// of merging rows.
	partitioned map[string]bool
	scopeLit    string
	// rebuildKeys are the index-rebuild locks (shared) the load holds on
	// lockConn, one per partitioned table.
	rebuildKeys []int32
	// SQLite
	batches chan *sqliteBatch
	bulk    *sqlitebulk.Conn // the sink's own connection for the inserts
	stopHB  chan struct{}
	hbwg    sync.WaitGroup
	// tuned tells that the load counts among the loads that changed the
	// writer connection's settings (sqliteTuning).
	tuned bool
}

// RowBuilder writes a row value by value without boxing every value in an
// interface: the fast path for loaders of national files. The values of a
// row follow the Table's columns in order; End finishes the row. Values
// are copied, so the caller may reuse their memory after each call.
type RowBuilder interface {
	Bytes(b []byte)   // text; a nil slice is NULL
	String(s string)  // text ("" is an empty string)
	Int(v int64)      // integer
	Float(v float64)  // double precision
	Bool(v bool)      // boolean (0 or 1 on SQLite)
	Time(t time.Time) // date or timestamp; the zero time is NULL
	Null()            // NULL
	// End finishes the row. It fails when the row has the wrong number of
	// values (the row is dropped) or the background copy failed.
	End() error
}

type rowWriter interface {
	RowWriter
	RowBuilder
	flush() error
	rows() int64
}

const (
	stagingInfix         = "__stg_"
	advisoryNS           = 0x6d656473 // "meds": advisory lock namespace of staging tokens
	pgBatchBytes         = 256 << 10  // COPY data per channel message
	pgQueuedBatches      = 4          // messages in flight per table
	sqliteTxRows         = 10_000     // rows per SQLite transaction
	sqliteMaxParams      = 16_000     // bound parameters per INSERT statement
	sqliteStaleAge       = 10 * time.Minute
	sqliteLoadCacheKiB   = -128 << 10            // PRAGMA cache_size of a load's own connection: 128 MiB
	sqliteSortCacheKiB   = -4 << 10              // PRAGMA cache_size while the swap builds the indexes: 4 MiB
	sqliteSwapMmapBytes  = 256 << 20             // PRAGMA mmap_size while the swap builds the indexes
	sqliteCheckpointRows = 250_000               // rows between two WAL checkpoints during a load
	sqliteBatchWait      = 50 * time.Millisecond // longest wait for the next batch inside a transaction
	heartbeatEvery       = 30 * time.Second
)

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// BeginReplace creates a staging table for each table and returns the
// Replace that loads them. The caller writes rows through Writer, then
// calls Commit; it must call Abort when it gives up (deferring Abort right
// after BeginReplace is right: it does nothing after a successful Commit).
func (s *Store) BeginReplace(ctx context.Context, tables []Table, opts ReplaceOptions) (*Replace, error) {
	if len(tables) == 0 {
		return nil, errors.New("begin replace: no tables")
	}
	for _, name := range []string{opts.ScopeColumn, opts.KeyColumn} {
		if name != "" && !identRE.MatchString(name) {
			return nil, fmt.Errorf("begin replace: bad column name %q", name)
		}
	}
	var tok [4]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, fmt.Errorf("begin replace: %w", err)
	}
	rctx, cancel := context.WithCancelCause(ctx)
	r := &Replace{
		s: s, tables: tables, opts: opts, token: hex.EncodeToString(tok[:]),
		stage: make(map[string]string, len(tables)), idx: make(map[string]int, len(tables)),
		ctx: rctx, cancel: cancel, stop: make(chan struct{}),
	}
	for i, t := range tables {
		if !identRE.MatchString(t.Name) || len(t.Name)+len(stagingInfix)+8 > 63 {
			cancel(nil)
			return nil, fmt.Errorf("begin replace: bad table name %q", t.Name)
		}
		if len(t.Columns) == 0 {
			cancel(nil)
			return nil, fmt.Errorf("begin replace: table %s: no columns", t.Name)
		}
		for _, c := range t.Columns {
			if !identRE.MatchString(c) {
				cancel(nil)
				return nil, fmt.Errorf("begin replace: table %s: bad column name %q", t.Name, c)
			}
		}
		if _, dup := r.idx[t.Name]; dup {
			cancel(nil)
			return nil, fmt.Errorf("begin replace: table %s listed twice", t.Name)
		}
		r.idx[t.Name] = i
		r.stage[t.Name] = t.Name + stagingInfix + r.token
	}
	var err error
	if s.db.Dialect == db.Postgres {
		err = r.beginPostgres(ctx)
	} else {
		err = r.beginSQLite(ctx)
	}
	if err != nil {
		r.Abort()
		return nil, fmt.Errorf("begin replace of %s: %w", r.tableNames(), err)
	}
	return r, nil
}

func (r *Replace) tableNames() string {
	names := make([]string, len(r.tables))
	for i, t := range r.tables {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}

// Writer returns the writer of the named table, which must be one of the
// tables given to BeginReplace.
func (r *Replace) Writer(table string) RowWriter {
	i, ok := r.idx[table]
	if !ok {
		return errWriter{fmt.Errorf("bulk load: table %s is not part of this load", table)}
	}
	return r.writers[i]
}

// Builder returns the row builder of the named table, which must be one
// of the tables given to BeginReplace. A table's Builder and Writer write
// to the same staging table; a row is written by one of them.
func (r *Replace) Builder(table string) RowBuilder {
	i, ok := r.idx[table]
	if !ok {
		return errWriter{fmt.Errorf("bulk load: table %s is not part of this load", table)}
	}
	return r.writers[i]
}

type errWriter struct{ err error }

func (w errWriter) Write(...any) error { return w.err }
func (errWriter) Bytes([]byte)         {}
func (errWriter) String(string)        {}
func (errWriter) Int(int64)            {}
func (errWriter) Float(float64)        {}
func (errWriter) Bool(bool)            {}
func (errWriter) Time(time.Time)       {}
func (errWriter) Null()                {}
func (w errWriter) End() error         { return w.err }

// Rows returns how many rows have been written to the named table.
func (r *Replace) Rows(table string) int64 {
	if i, ok := r.idx[table]; ok {
		return r.writers[i].rows()
	}
	return 0
}

// StagingTable returns the name of the staging table of a live table.
func (r *Replace) StagingTable(table string) string { return r.stage[table] }

// setErr records the first background error and stops the load. It does
// not cancel the context: a COPY is ended with CopyFail, which keeps its
// connection usable, rather than by a cancel request.
func (r *Replace) setErr(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	r.halt()
}

func (r *Replace) halt() { r.stopOnce.Do(func() { close(r.stop) }) }

// stopped reports whether the load failed, was aborted or its context
// ended.
func (r *Replace) stopped() bool {
	select {
	case <-r.stop:
		return true
	case <-r.ctx.Done():
		return true
	default:
		return false
	}
}

// failure returns the first background error, or the context's error.
func (r *Replace) failure() error {
	r.mu.Lock()
	err := r.err
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if cause := context.Cause(r.ctx); cause != nil {
		return cause
	}
	return errAborted
}

// Flush waits until every row written so far is in the staging tables.
// Afterwards Write fails; the staging tables can be read and updated with
// plain SQL (see StagingTable) until Commit. Commit flushes by itself.
func (r *Replace) Flush(ctx context.Context) error {
	if r.finished {
		return errors.New("bulk load: already committed or aborted")
	}
	if r.flushed {
		return r.firstErr()
	}
	r.flushed = true
	var first error
	for _, w := range r.writers {
		if err := w.flush(); err != nil && first == nil {
			first = err
		}
	}
	if r.batches != nil {
		close(r.batches)
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		r.cancel(ctx.Err())
		<-done
		return fmt.Errorf("bulk load: %w", ctx.Err())
	}
	if err := r.firstErr(); err != nil {
		return err
	}
	return first
}

func (r *Replace) firstErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Commit flushes the writers, builds the live tables' indexes on the
// staging tables, then in ONE transaction swaps the staged data in and runs
// finalize (which may be nil). On error nothing changed in the live
// tables; the caller's deferred Abort drops the staging tables.
func (r *Replace) Commit(ctx context.Context, finalize func(tx *db.Tx) error) error {
	if err := r.Flush(ctx); err != nil {
		return err
	}
	if finalize == nil {
		finalize = func(*db.Tx) error { return nil }
	}
	var err error
	if r.s.db.Dialect == db.Postgres {
		err = r.commitPostgres(ctx, finalize)
	} else {
		err = r.commitSQLite(ctx, finalize)
	}
	if err != nil {
		return err
	}
	r.finished = true
	if r.opts.ScopeColumn != "" || r.opts.KeyColumn != "" {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		r.dropStaging(dctx)
		cancel()
	}
	rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r.release(rctx)
	return nil
}

// abortBudget bounds Abort, in all: the end of the COPYs, dropping the
// staging tables and ending the claim. The last two are best effort (the
// next load drops what is left, and closing the session ends its locks);
// with the database stalled, they waited a minute and 30 s, and an
// operator's Ctrl-C took two minutes to end the command (QA).
const abortBudget = 10 * time.Second

// dropStaging drops the staging tables within ctx (best effort: a table
// left behind is dropped by the next DropStaleStaging).
func (r *Replace) dropStaging(ctx context.Context) {
	for _, t := range r.tables {
		_, _ = r.s.db.SQL.ExecContext(ctx, "DROP TABLE IF EXISTS "+r.stage[t.Name])
	}
}

// Abort stops the load and drops the staging tables. It is safe to call
// more than once, after Commit (it then does nothing) and on every error
// path.
func (r *Replace) Abort() {
	if r.finished {
		return
	}
	r.finished = true
	ctx, cancel := context.WithTimeout(context.Background(), abortBudget)
	defer cancel()
	r.halt()
	// An INSERT in progress on SQLite is interrupted at once; a COPY on
	// PostgreSQL ends with CopyFail, answered at once, or is cut
	// copyStopGrace later when the server does not answer (see runCopy).
	// Cancelled only after the wait, a COPY into a stalled server waited
	// for its answer for ever (QA).
	r.cancel(errAborted)
	if !r.flushed && r.batches != nil {
		r.flushed = true
		close(r.batches)
	}
	r.wg.Wait()
	r.dropStaging(ctx)
	r.release(ctx)
}

var errAborted = errors.New("bulk load: aborted")

// release ends the Replace's claim on its staging token, asking
// PostgreSQL within ctx.
func (r *Replace) release(ctx context.Context) {
	r.cancel(nil)
	if r.stopHB != nil {
		close(r.stopHB)
		r.stopHB = nil
	}
	r.hbwg.Wait()
	if r.lockConn != nil {
		for _, key := range r.rebuildKeys {
			if _, err := r.lockConn.Exec(ctx, unshareIndexRebuild, int32(advisoryIndexNS), key); err != nil {
				// The lock must not outlive the load: close the session.
				_ = r.lockConn.Conn().Close(ctx)
			}
		}
		r.rebuildKeys = nil
		_, err := r.lockConn.Exec(ctx, "SELECT pg_advisory_unlock($1, $2)", int32(advisoryNS), tokenKey(r.token))
		if err != nil {
			// The lock must not outlive the load: close the session.
			_ = r.lockConn.Conn().Close(ctx)
		}
		r.lockConn.Release()
		r.lockConn = nil
	}
	if r.s.db.Dialect == db.SQLite {
		// A local file does not stall, and the writer's settings must be
		// put back whatever ctx has left (a long DROP may have spent it).
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = r.s.db.SQL.ExecContext(ctx, "DELETE FROM bulk_loads WHERE token = $1", r.token)
		r.untuneSQLite(ctx)
	}
}

func tokenKey(token string) int32 {
	b, _ := hex.DecodeString(token)
	if len(b) != 4 {
		return 0
	}
	return int32(binary.BigEndian.Uint32(b))
}

// stagingRE matches staging table names and captures the token.
var stagingRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*` + stagingInfix + `([0-9a-f]{8})$`)

// DropStaleStaging drops the staging tables left by killed loads: on
// PostgreSQL those whose load no longer holds its advisory lock, on SQLite
// those whose load stopped refreshing its heartbeat. Staging tables of
// loads still running (in this process or another) are kept. Every load
// calls it first.
func (s *Store) DropStaleStaging(ctx context.Context) error {
	if s.db.Dialect == db.Postgres {
		return s.dropStalePostgres(ctx)
	}
	return s.dropStaleSQLite(ctx)
}

// ---- PostgreSQL ----------------------------------------------------------

func (r *Replace) beginPostgres(ctx context.Context) error {
	pool := r.s.db.Pool
	if pool == nil {
		return errors.New("no pgx pool")
	}
	lc, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	r.lockConn = lc
	if _, err := lc.Exec(ctx, "SELECT pg_advisory_lock($1, $2)", int32(advisoryNS), tokenKey(r.token)); err != nil {
		return fmt.Errorf("lock staging token: %w", err)
	}
	colTypes := make([][]string, len(r.tables))
	for i, t := range r.tables {
		var err error
		if colTypes[i], err = r.checkColumnsPostgres(ctx, t); err != nil {
			return err
		}
		if r.opts.ScopeColumn == "" && r.opts.KeyColumn == "" {
			if err := checkNoReferencesPostgres(ctx, lc, t.Name); err != nil {
				return err
			}
		}
		if err := r.checkPartitioningPostgres(ctx, t.Name); err != nil {
			return err
		}
	}
	// A migration rebuilding the indexes of a partitioned table (migration
	// 9: open_payments_npi) holds the table's index-rebuild lock
	// exclusive; the load holds it shared until it ends, from before its
	// staging table exists, so the load waits for such a migration (and
	// the migration for the load) instead of building and attaching the
	// indexes of before. Two loads of one table share it.
	for _, t := range r.tables {
		if !r.partitioned[t.Name] {
			continue
		}
		key := indexRebuildKey(t.Name)
		err := pollLock(ctx, "the indexes of "+t.Name, func(ctx context.Context) (bool, error) {
			var got bool
			err := lc.QueryRow(ctx, shareIndexRebuildSQL, int32(advisoryIndexNS), key).Scan(&got)
			return got, err
		})
		if err != nil {
			return err
		}
		r.rebuildKeys = append(r.rebuildKeys, key)
	}
	// Each staging table is created in the transaction of its COPY, on the
	// COPY's own connection: COPY … FREEZE then writes the rows frozen and
	// all-visible, so building the indexes and the first reads do not
	// rewrite every page to set hint bits; and a failed COPY rolls the
	// table back with it.
	for i, t := range r.tables {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("acquire connection: %w", err)
		}
		scopeCheck := ""
		if r.partitioned[t.Name] {
			scopeCheck = fmt.Sprintf(", CONSTRAINT %s CHECK (%s IS NOT NULL AND %s = %s)",
				r.scopeCheckName(), r.opts.ScopeColumn, r.opts.ScopeColumn, r.scopeLit)
		}
		ddl := fmt.Sprintf("CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING IDENTITY "+
			"INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMPRESSION%s)", r.stage[t.Name], t.Name, scopeCheck)
		if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
			conn.Release()
			return fmt.Errorf("create staging table for %s: %w", t.Name, err)
		}
		if _, err := conn.Exec(ctx, ddl); err != nil {
			_, _ = conn.Exec(context.Background(), "ROLLBACK")
			conn.Release()
			return fmt.Errorf("create staging table for %s: %w", t.Name, err)
		}
		w := &pgWriter{
			r: r, table: t.Name, ncols: len(t.Columns),
			full: make(chan []byte, pgQueuedBatches),
			free: make(chan []byte, pgQueuedBatches+2),
		}
		w.buf = make([]byte, 0, pgBatchBytes+pgBatchBytes/4)
		format := ""
		if kinds, ok := binaryKinds(colTypes[i]); ok {
			// Binary COPY spares the server parsing text into dates,
			// numbers and booleans: about a fifth of the CPU of COPY
			// into providers.
			w.kinds = kinds
			w.buf = append(w.buf, pgCopyHeader...)
			format = ", FORMAT binary"
		}
		r.writers = append(r.writers, w)
		copySQL := fmt.Sprintf("COPY %s (%s) FROM STDIN WITH (FREEZE%s)", r.stage[t.Name], strings.Join(t.Columns, ", "), format)
		r.wg.Add(1)
		go r.runCopy(w, conn, copySQL)
	}
	return nil
}

// checkColumnsPostgres checks that the live table has t's columns and
// returns their types (information_schema udt_name) in t's order.
func (r *Replace) checkColumnsPostgres(ctx context.Context, t Table) ([]string, error) {
	rows, err := r.lockConn.Query(ctx,
		`SELECT column_name, udt_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`, t.Name)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", t.Name, err)
	}
	have := map[string]bool{}
	types := map[string]string{}
	for rows.Next() {
		var c, typ string
		if err := rows.Scan(&c, &typ); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read columns of %s: %w", t.Name, err)
		}
		have[c], types[c] = true, typ
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", t.Name, err)
	}
	if err := checkColumns(t, have, r.opts); err != nil {
		return nil, err
	}
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = types[c]
	}
	return out, nil
}

// checkPartitioningPostgres finds out whether the live table is
// partitioned (relkind 'p') and, when it is, that the load can keep it so:
// a scoped load must scope by the table's LIST partition key with an
// integer value (it becomes the partition <table>_y<value>), and a
// whole-table replace is refused (it would swap in a plain table). A keyed
// load deletes and inserts through the parent like on a plain table.
func (r *Replace) checkPartitioningPostgres(ctx context.Context, table string) error {
	var kind, key string
	err := r.lockConn.QueryRow(ctx,
		`SELECT relkind::text, COALESCE(pg_get_partkeydef(oid), '') FROM pg_class WHERE oid = $1::text::regclass`, table).Scan(&kind, &key)
	if err != nil {
		return fmt.Errorf("read the kind of table %s: %w", table, err)
	}
	if kind != "p" {
		return nil
	}
	switch {
	case r.opts.ScopeColumn == "" && r.opts.KeyColumn == "":
		return fmt.Errorf("table %s is partitioned (%s): it is replaced one partition at a time, by a load scoped by its partition key", table, key)
	case r.opts.ScopeColumn == "":
		return nil
	case key != "LIST ("+r.opts.ScopeColumn+")":
		return fmt.Errorf("table %s is partitioned by %s, not LIST (%s): a load scoped by %s cannot swap its partition",
			table, key, r.opts.ScopeColumn, r.opts.ScopeColumn)
	}
	lit, ok := integerLiteral(r.opts.ScopeValue)
	if !ok {
		return fmt.Errorf("table %s is partitioned by %s: the scope value must be an integer, not %T", table, r.opts.ScopeColumn, r.opts.ScopeValue)
	}
	if name := partitionName(table, lit); !identRE.MatchString(name) || len(name) > 63 {
		return fmt.Errorf("table %s: %s = %s cannot name a partition (%s)", table, r.opts.ScopeColumn, lit, name)
	}
	if r.partitioned == nil {
		r.partitioned = map[string]bool{}
	}
	r.partitioned[table] = true
	r.scopeLit = lit
	return nil
}

// integerLiteral returns v as an SQL integer literal: partition bounds and
// CHECK constraints are DDL, which takes no bind parameters.
func integerLiteral(v any) (string, bool) {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10), true
	case int:
		return strconv.FormatInt(int64(x), 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case int16:
		return strconv.FormatInt(int64(x), 10), true
	}
	return "", false
}

// partitionName is the name of a partitioned table's partition of one
// scope value: partd_drugs_y2024.
func partitionName(table, lit string) string { return table + "_y" + lit }

// scopeCheckName names the CHECK constraint of a staging partition.
func (r *Replace) scopeCheckName() string { return "stg_scope_" + r.token }

func checkColumns(t Table, have map[string]bool, opts ReplaceOptions) error {
	if len(have) == 0 {
		return fmt.Errorf("table %s does not exist (migrations not applied?)", t.Name)
	}
	var missing []string
	for _, c := range t.Columns {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	for _, c := range []string{opts.ScopeColumn, opts.KeyColumn} {
		if c != "" && !have[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("table %s has no column %s", t.Name, strings.Join(missing, ", "))
	}
	return nil
}

func checkNoReferencesPostgres(ctx context.Context, c *pgxpool.Conn, table string) error {
	var name, from string
	err := c.QueryRow(ctx, `SELECT conname, conrelid::regclass::text FROM pg_constraint
		WHERE contype = 'f' AND confrelid = $1::text::regclass AND conrelid <> confrelid LIMIT 1`, table).Scan(&name, &from)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check references to %s: %w", table, err)
	}
	return fmt.Errorf("table %s is referenced by foreign key %s of %s: a bulk-replaced table cannot be referenced", table, name, from)
}

// pgWriter encodes rows in COPY format into buffers that the table's
// COPY goroutine sends to the server: binary when every column has a type
// binaryKinds knows (kinds is set), text otherwise.
type pgWriter struct {
	r     *Replace
	table string
	ncols int
	kinds []pgKind // binary format: the kind of each column; nil: text
	n     int64
	buf   []byte
	full  chan []byte
	free  chan []byte
	done  bool
	col   int   // values of the row being built
	start int   // where that row starts in buf
	err   error // a value of the row being built that its column cannot take
}

// sep starts a value: in text, the tab before every value but the first;
// in binary, the field count before the first (a value beyond the
// columns is caught by End).
func (w *pgWriter) sep() {
	switch {
	case w.kinds != nil && w.col == 0:
		w.buf = binary.BigEndian.AppendUint16(w.buf, uint16(w.ncols))
	case w.kinds == nil && w.col > 0:
		w.buf = append(w.buf, '\t')
	}
	w.col++
}

// kind is the binary kind of the value sep just started, or ok false in
// text mode or past the last column.
func (w *pgWriter) kind() (pgKind, bool) {
	if w.kinds == nil || w.col > len(w.kinds) {
		return 0, false
	}
	return w.kinds[w.col-1], true
}

// put takes the result of a binary encoder: the buffer, or on an error
// the buffer unchanged, a NULL in the value's place (the row stays well
// formed until End drops it) and the error for End.
func (w *pgWriter) put(buf []byte, err error) {
	w.buf = buf
	if err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("column %d: %w", w.col, err)
		}
		w.buf = appendBinaryNull(w.buf)
	}
}

func (w *pgWriter) Bytes(b []byte) {
	w.sep()
	k, bin := w.kind()
	switch {
	case b == nil && w.kinds != nil:
		w.buf = appendBinaryNull(w.buf)
	case b == nil:
		w.buf = append(w.buf, `\N`...)
	case bin:
		w.put(appendBinaryText(w.buf, k, unsafe.String(unsafe.SliceData(b), len(b))))
	default:
		w.buf = appendCopyText(w.buf, unsafe.String(unsafe.SliceData(b), len(b)))
	}
}

func (w *pgWriter) String(s string) {
	w.sep()
	if k, ok := w.kind(); ok {
		w.put(appendBinaryText(w.buf, k, s))
		return
	}
	w.buf = appendCopyText(w.buf, s)
}

func (w *pgWriter) Int(v int64) {
	w.sep()
	if k, ok := w.kind(); ok {
		w.put(appendBinaryInt(w.buf, k, v))
		return
	}
	w.buf = strconv.AppendInt(w.buf, v, 10)
}

func (w *pgWriter) Float(v float64) {
	w.sep()
	if k, ok := w.kind(); ok {
		w.put(appendBinaryFloat(w.buf, k, v))
		return
	}
	w.buf = appendFloat(w.buf, v)
}

func (w *pgWriter) Null() {
	w.sep()
	if w.kinds != nil {
		w.buf = appendBinaryNull(w.buf)
		return
	}
	w.buf = append(w.buf, `\N`...)
}

func (w *pgWriter) Bool(v bool) {
	w.sep()
	if k, ok := w.kind(); ok {
		w.put(appendBinaryValue(w.buf, k, v))
		return
	}
	if v {
		w.buf = append(w.buf, 't')
	} else {
		w.buf = append(w.buf, 'f')
	}
}

func (w *pgWriter) Time(t time.Time) {
	w.sep()
	k, bin := w.kind()
	switch {
	case t.IsZero() && w.kinds != nil:
		w.buf = appendBinaryNull(w.buf)
	case t.IsZero():
		w.buf = append(w.buf, `\N`...)
	case bin:
		w.put(appendBinaryTime(w.buf, k, t))
	default:
		w.buf = appendTimestamp(w.buf, t)
	}
}

func (w *pgWriter) End() error {
	if w.done {
		return fmt.Errorf("bulk load %s: write after flush", w.table)
	}
	if w.col != w.ncols || w.err != nil {
		n, err := w.col, w.err
		w.buf, w.col, w.err = w.buf[:w.start], 0, nil
		if err != nil {
			return fmt.Errorf("bulk load %s: %w", w.table, err)
		}
		return fmt.Errorf("bulk load %s: %d values for %d columns", w.table, n, w.ncols)
	}
	if w.kinds == nil {
		w.buf = append(w.buf, '\n')
	}
	w.n++
	w.col = 0
	var err error
	if len(w.buf) >= pgBatchBytes {
		err = w.send()
	}
	w.start = len(w.buf)
	return err
}

func (w *pgWriter) rows() int64 { return w.n }

func (w *pgWriter) Write(values ...any) error {
	if w.done {
		return fmt.Errorf("bulk load %s: write after flush", w.table)
	}
	if len(values) != w.ncols {
		return fmt.Errorf("bulk load %s: %d values for %d columns", w.table, len(values), w.ncols)
	}
	if w.col != 0 {
		return fmt.Errorf("bulk load %s: Write while a built row is not ended", w.table)
	}
	start := len(w.buf)
	if w.kinds != nil {
		w.buf = binary.BigEndian.AppendUint16(w.buf, uint16(w.ncols))
	}
	for i, v := range values {
		var err error
		switch {
		case w.kinds != nil:
			w.buf, err = appendBinaryValue(w.buf, w.kinds[i], v)
		default:
			if i > 0 {
				w.buf = append(w.buf, '\t')
			}
			w.buf, err = appendCopyValue(w.buf, v)
		}
		if err != nil {
			w.buf = w.buf[:start]
			return fmt.Errorf("bulk load %s: column %d: %w", w.table, i+1, err)
		}
	}
	if w.kinds == nil {
		w.buf = append(w.buf, '\n')
	}
	w.n++
	var err error
	if len(w.buf) >= pgBatchBytes {
		err = w.send()
	}
	w.start = len(w.buf)
	return err
}

func (w *pgWriter) send() error {
	if w.r.stopped() {
		return w.r.failure()
	}
	select {
	case w.full <- w.buf:
	case <-w.r.stop:
		return w.r.failure()
	case <-w.r.ctx.Done():
		return w.r.failure()
	}
	select {
	case b := <-w.free:
		w.buf = b[:0]
	default:
		w.buf = make([]byte, 0, pgBatchBytes+pgBatchBytes/4)
	}
	return nil
}

func (w *pgWriter) flush() error {
	if w.done {
		return nil
	}
	w.done = true
	if w.kinds != nil {
		w.buf = binary.BigEndian.AppendUint16(w.buf, 0xffff) // file trailer: field count -1
	}
	var err error
	if len(w.buf) > 0 {
		err = w.send()
	}
	close(w.full)
	return err
}

// chanReader is the io.Reader COPY reads: the buffers a pgWriter sends.
type chanReader struct {
	ctx  context.Context
	stop <-chan struct{}
	full <-chan []byte
	free chan<- []byte
	cur  []byte
	off  int
}

func (c *chanReader) Read(p []byte) (int, error) {
	for c.off >= len(c.cur) {
		if c.cur != nil {
			select {
			case c.free <- c.cur:
			default:
			}
			c.cur = nil
		}
		select {
		case b, ok := <-c.full:
			if !ok {
				return 0, io.EOF
			}
			c.cur, c.off = b, 0
		case <-c.stop:
			return 0, errAborted
		case <-c.ctx.Done():
			return 0, context.Cause(c.ctx)
		}
	}
	n := copy(p, c.cur[c.off:])
	c.off += n
	return n, nil
}

// copyStopGrace is how long the COPY of a stopped load has to end
// cleanly before its connection is cut.
const copyStopGrace = 10 * time.Second

// graceContext returns a context that ends grace after ctx ends, with
// ctx's cause, and a func that releases it.
func graceContext(ctx context.Context, grace time.Duration) (context.Context, func()) {
	c, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	finished := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel(context.Cause(ctx))
		case <-finished:
		}
	})
	return c, func() {
		stop()
		close(finished)
		cancel(nil)
	}
}

func (r *Replace) runCopy(w *pgWriter, conn *pgxpool.Conn, copySQL string) {
	defer r.wg.Done()
	rd := &chanReader{ctx: r.ctx, stop: r.stop, full: w.full, free: w.free}
	// When the load stops, rd fails and pgx ends the COPY with CopyFail,
	// which the server answers at once. The COPY's own context ends only
	// copyStopGrace later, for a server that does not answer: ending it
	// with r.ctx would make pgx send a cancel request, which a server
	// waiting for COPY data acts on only once more data comes (pgx sends
	// Terminate instead), so the connection would stay open, and counted
	// in use by the pool, for up to 15 s after the load stopped.
	copyCtx, release := graceContext(r.ctx, copyStopGrace)
	defer release()
	_, err := conn.Conn().PgConn().CopyFrom(copyCtx, rd, copySQL)
	if err == nil {
		_, err = conn.Exec(copyCtx, "COMMIT")
	}
	if err != nil {
		if r.ctx.Err() != nil {
			// Cancelled mid-COPY: the connection's state is unknown; closing
			// it ends the transaction.
			_ = conn.Conn().Close(context.Background())
		} else if _, rerr := conn.Exec(context.Background(), "ROLLBACK"); rerr != nil {
			_ = conn.Conn().Close(context.Background())
		}
		conn.Release()
		r.setErr(fmt.Errorf("copy into %s: %w", w.table, err))
		return
	}
	conn.Release()
}

// appendCopyValue appends v in PostgreSQL COPY text format.
func appendCopyValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, `\N`...), nil
	case string:
		return appendCopyText(b, v), nil
	case []byte:
		if v == nil {
			return append(b, `\N`...), nil
		}
		return appendCopyText(b, unsafe.String(unsafe.SliceData(v), len(v))), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(b, int64(v), 10), nil
	case float64:
		return appendFloat(b, v), nil
	case float32:
		return appendFloat(b, float64(v)), nil
	case bool:
		if v {
			return append(b, 't'), nil
		}
		return append(b, 'f'), nil
	case time.Time:
		return appendTimestamp(b, v), nil
	default:
		return b, fmt.Errorf("unsupported value type %T", v)
	}
}

// appendTimestamp appends t in UTC as "2006-01-02 15:04:05[.ffffff]Z",
// which PostgreSQL reads into DATE, TIMESTAMP and TIMESTAMPTZ columns.
func appendTimestamp(b []byte, t time.Time) []byte {
	t = t.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return t.AppendFormat(b, "2006-01-02 15:04:05.999999Z07:00")
	}
	b = appendDateTime(b, t)
	if us := t.Nanosecond() / 1000; us > 0 {
		var frac [7]byte
		frac[0] = '.'
		for i := 6; i >= 1; i-- {
			frac[i] = byte('0' + us%10)
			us /= 10
		}
		n := 7
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z')
}

func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

func appendCopyText(b []byte, s string) []byte {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '\t' || c == '\n' || c == '\r' {
			clean = false
			break
		}
	}
	if clean {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, c)
		}
	}
	return b
}

// pgIndex is one index of a live table, to be rebuilt on its staging table.
type pgIndex struct {
	name, def      string
	conType        string // "p", "u" or "" (no constraint)
	conName        string
	stagingName    string
	stagingDef     string
	stagingConstrt string
}

var indexDefRE = regexp.MustCompile(`(?s)^CREATE (UNIQUE )?INDEX (\S+) ON (ONLY )?(\S+) (USING .*)$`)

func (r *Replace) pgIndexes(ctx context.Context, table string) ([]pgIndex, error) {
	rows, err := r.s.db.SQL.QueryContext(ctx, `
		SELECT ic.relname, pg_get_indexdef(ix.indexrelid), COALESCE(con.contype::text, ''), COALESCE(con.conname, '')
		FROM pg_index ix
		JOIN pg_class ic ON ic.oid = ix.indexrelid
		LEFT JOIN pg_constraint con ON con.conindid = ix.indexrelid AND con.conrelid = ix.indrelid AND con.contype IN ('p', 'u')
		WHERE ix.indrelid = $1::text::regclass
		ORDER BY ic.relname`, table)
	if err != nil {
		return nil, fmt.Errorf("read indexes of %s: %w", table, err)
	}
	defer rows.Close()
	var out []pgIndex
	for rows.Next() {
		var ix pgIndex
		if err := rows.Scan(&ix.name, &ix.def, &ix.conType, &ix.conName); err != nil {
			return nil, fmt.Errorf("read indexes of %s: %w", table, err)
		}
		m := indexDefRE.FindStringSubmatch(ix.def)
		if m == nil {
			return nil, fmt.Errorf("index %s of %s: cannot rewrite definition %q", ix.name, table, ix.def)
		}
		ix.stagingName = fmt.Sprintf("stgidx_%s_%d_%d", r.token, r.idx[table], len(out))
		ix.stagingDef = "CREATE " + m[1] + "INDEX " + ix.stagingName + " ON " + r.stage[table] + " " + m[5]
		out = append(out, ix)
	}
	return out, rows.Err()
}

type pgTrigger struct{ name, def string }

func (r *Replace) pgTriggers(ctx context.Context, table string) ([]pgTrigger, error) {
	rows, err := r.s.db.SQL.QueryContext(ctx,
		`SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = $1::text::regclass AND NOT tgisinternal ORDER BY tgname`, table)
	if err != nil {
		return nil, fmt.Errorf("read triggers of %s: %w", table, err)
	}
	defer rows.Close()
	var out []pgTrigger
	for rows.Next() {
		var t pgTrigger
		if err := rows.Scan(&t.name, &t.def); err != nil {
			return nil, fmt.Errorf("read triggers of %s: %w", table, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

type pgOwnedSeq struct{ seq, column string }

func (r *Replace) pgOwnedSequences(ctx context.Context, table string) ([]pgOwnedSeq, error) {
	rows, err := r.s.db.SQL.QueryContext(ctx, `
		SELECT s.oid::regclass::text, a.attname
		FROM pg_depend d
		JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
		JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
		WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
		  AND d.refobjid = $1::text::regclass AND d.deptype = 'a'`, table)
	if err != nil {
		return nil, fmt.Errorf("read sequences of %s: %w", table, err)
	}
	defer rows.Close()
	var out []pgOwnedSeq
	for rows.Next() {
		var o pgOwnedSeq
		if err := rows.Scan(&o.seq, &o.column); err != nil {
			return nil, fmt.Errorf("read sequences of %s: %w", table, err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

func (r *Replace) commitPostgres(ctx context.Context, finalize func(tx *db.Tx) error) error {
	if len(r.partitioned) > 0 {
		return r.commitPartitions(ctx, finalize)
	}
	if r.opts.ScopeColumn != "" || r.opts.KeyColumn != "" {
		return r.s.db.InTx(ctx, func(tx *db.Tx) error {
			if err := r.mergeInto(ctx, tx); err != nil {
				return err
			}
			return finalize(tx)
		})
	}
	indexes := make([][]pgIndex, len(r.tables))
	triggers := make([][]pgTrigger, len(r.tables))
	seqs := make([][]pgOwnedSeq, len(r.tables))
	for i, t := range r.tables {
		var err error
		if indexes[i], err = r.pgIndexes(ctx, t.Name); err != nil {
			return err
		}
		if triggers[i], err = r.pgTriggers(ctx, t.Name); err != nil {
			return err
		}
		if seqs[i], err = r.pgOwnedSequences(ctx, t.Name); err != nil {
			return err
		}
	}
	if err := r.buildIndexesPostgres(ctx, indexes); err != nil {
		return err
	}
	return r.s.db.InTx(ctx, func(tx *db.Tx) error {
		for i, t := range r.tables {
			stg := r.stage[t.Name]
			for _, o := range seqs[i] {
				if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER SEQUENCE %s OWNED BY %s.%s", o.seq, stg, o.column)); err != nil {
					return fmt.Errorf("swap %s: move sequence %s: %w", t.Name, o.seq, err)
				}
			}
			if _, err := tx.ExecContext(ctx, "DROP TABLE "+t.Name); err != nil {
				return fmt.Errorf("swap %s: drop the previous version: %w", t.Name, err)
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s RENAME TO %s", stg, t.Name)); err != nil {
				return fmt.Errorf("swap %s: %w", t.Name, err)
			}
			for _, ix := range indexes[i] {
				if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER INDEX %s RENAME TO %s", ix.stagingName, quoteIdent(ix.name))); err != nil {
					return fmt.Errorf("swap %s: rename index %s: %w", t.Name, ix.name, err)
				}
				if ix.conType != "" && ix.conName != ix.name {
					if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s",
						t.Name, quoteIdent(ix.name), quoteIdent(ix.conName))); err != nil {
						return fmt.Errorf("swap %s: rename constraint %s: %w", t.Name, ix.conName, err)
					}
				}
			}
			for _, tg := range triggers[i] {
				if _, err := tx.ExecContext(ctx, tg.def); err != nil {
					return fmt.Errorf("swap %s: re-create trigger %s: %w", t.Name, tg.name, err)
				}
			}
		}
		return finalize(tx)
	})
}

// commitPartitions commits a scoped load whose live tables are
// partitioned by the scope column (the others of the load, if any, are
// merged as usual): it builds the parents' indexes on the staging tables
// and analyzes them, then in one transaction swaps each one in as the
// partition of the scope value and runs finalize.
//
// The Replace holds the index-rebuild lock of each of those tables (see
// beginPostgres), so the parent's indexes it reads here are still the
// parent's when it swaps.
func (r *Replace) commitPartitions(ctx context.Context, finalize func(tx *db.Tx) error) error {
	indexes := make([][]pgIndex, len(r.tables))
	for i, t := range r.tables {
		if !r.partitioned[t.Name] {
			continue
		}
		var err error
		if indexes[i], err = r.pgIndexes(ctx, t.Name); err != nil {
			return err
		}
	}
	if err := r.buildIndexesPostgres(ctx, indexes); err != nil {
		return err
	}
	return r.s.db.InTx(ctx, func(tx *db.Tx) error {
		for i, t := range r.tables {
			var err error
			if r.partitioned[t.Name] {
				err = r.swapPartition(ctx, tx, t.Name, indexes[i])
			} else {
				err = r.mergeTable(ctx, tx, t)
			}
			if err != nil {
				return err
			}
		}
		return finalize(tx)
	})
}

// swapPartition makes the staging table of table its partition of the
// scope value, within tx: the partition that held the value is dropped,
// the staging table attached and renamed, with its indexes (which ATTACH
// adopted as partitions of the parent's indexes).
func (r *Replace) swapPartition(ctx context.Context, tx *db.Tx, table string, indexes []pgIndex) error {
	stg := r.stage[table]
	// ATTACH takes this lock too; taking it first serialises two loads of
	// one table, so that the second finds the partition the first attached.
	if _, err := tx.ExecContext(ctx, "LOCK TABLE "+table+" IN SHARE UPDATE EXCLUSIVE MODE"); err != nil {
		return fmt.Errorf("swap partition of %s: lock: %w", table, err)
	}
	if err := sameIndexes(ctx, tx, table, indexes); err != nil {
		return err
	}
	old, err := partitionOf(ctx, tx, table, r.scopeLit)
	if err != nil {
		return err
	}
	if old != "" {
		// Dropping a partition locks the parent exclusively until commit:
		// readers wait for the rest of this transaction, which must stay
		// catalog-only (see LoadResult.Beside).
		if _, err := tx.ExecContext(ctx, "DROP TABLE "+old); err != nil {
			return fmt.Errorf("swap partition of %s: drop the previous partition %s: %w", table, old, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES IN (%s)", table, stg, r.scopeLit)); err != nil {
		return fmt.Errorf("swap partition of %s: attach: %w", table, err)
	}
	// The partition bound says what the CHECK said.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s", stg, r.scopeCheckName())); err != nil {
		return fmt.Errorf("swap partition of %s: drop the scope check: %w", table, err)
	}
	part := partitionName(table, r.scopeLit)
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s RENAME TO %s", stg, part)); err != nil {
		return fmt.Errorf("swap partition of %s: rename to %s: %w", table, part, err)
	}
	for _, ix := range indexes {
		name := part + strings.TrimPrefix(ix.name, table)
		if !strings.HasPrefix(ix.name, table+"_") {
			name = part + "_" + ix.name
		}
		if len(name) > 63 {
			continue // keeps its unique staging name rather than a truncated one
		}
		// Renaming the index of a constraint renames the constraint too.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER INDEX %s RENAME TO %s", ix.stagingName, quoteIdent(name))); err != nil {
			return fmt.Errorf("swap partition of %s: rename index %s: %w", table, ix.stagingName, err)
		}
	}
	return nil
}

// sameIndexes checks, under the swap's lock of table, that its indexes are
// still those the staging table was given. Attached with others, the
// staging table would keep indexes no parent index owns, under names the
// renames get wrong, and ATTACH would build the missing ones under the
// lock that readers wait for. The index-rebuild lock keeps this
// version's migrations out; this catches any other change.
func sameIndexes(ctx context.Context, tx *db.Tx, table string, built []pgIndex) error {
	rows, err := tx.QueryContext(ctx, `SELECT ic.relname, pg_get_indexdef(ix.indexrelid)
		FROM pg_index ix JOIN pg_class ic ON ic.oid = ix.indexrelid
		WHERE ix.indrelid = $1::text::regclass ORDER BY ic.relname`, table)
	if err != nil {
		return fmt.Errorf("swap partition of %s: read its indexes: %w", table, err)
	}
	defer rows.Close()
	var now, then []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return fmt.Errorf("swap partition of %s: read its indexes: %w", table, err)
		}
		now = append(now, def)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("swap partition of %s: read its indexes: %w", table, err)
	}
	for _, ix := range built {
		then = append(then, ix.def)
	}
	if strings.Join(now, "\n") != strings.Join(then, "\n") {
		return fmt.Errorf("swap partition of %s: its indexes changed while the load built them (a schema migration?): "+
			"nothing was replaced; load the file again", table)
	}
	return nil
}

// partitionOf returns the partition of table whose bound holds the value
// lit (its name as a regclass text), or "" when none does. It goes by the
// bounds, not by the names: a partition created by hand may be named
// otherwise. A partition that holds other values too is an error: dropping
// it would drop them.
func partitionOf(ctx context.Context, tx *db.Tx, table, lit string) (string, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT c.oid::regclass::text, pg_get_expr(c.relpartbound, c.oid)
		FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
		WHERE h.inhparent = $1::text::regclass`, table)
	if err != nil {
		return "", fmt.Errorf("read partitions of %s: %w", table, err)
	}
	defer rows.Close()
	found := ""
	for rows.Next() {
		var name, bound string
		if err := rows.Scan(&name, &bound); err != nil {
			return "", fmt.Errorf("read partitions of %s: %w", table, err)
		}
		// "FOR VALUES IN (2023, 2024)", or "DEFAULT" (which ATTACH checks
		// holds no row of the value).
		list, ok := strings.CutPrefix(bound, "FOR VALUES IN (")
		if !ok {
			continue
		}
		values := strings.Split(strings.TrimSuffix(list, ")"), ", ")
		for _, v := range values {
			if strings.Trim(v, "'") != lit {
				continue
			}
			if len(values) > 1 {
				return "", fmt.Errorf("partition %s of %s holds %s: it cannot be replaced by one value's partition", name, table, bound)
			}
			found = name
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("read partitions of %s: %w", table, err)
	}
	return found, nil
}

// buildIndexesPostgres analyzes the staging tables and builds their
// indexes, two statements at a time, then turns the indexes behind
// primary-key and unique constraints into those constraints.
//
// ANALYZE and CREATE INDEX of one table wait for each other (their locks
// conflict), so a statement of a table is only started while no statement
// of the other sort runs on it: the ANALYZEs go first, each beside another
// table's work, and the index builds follow, longest first so that the two
// builders finish together.
func (r *Replace) buildIndexesPostgres(ctx context.Context, indexes [][]pgIndex) error {
	type job struct {
		table string
		rows  int64
		ix    *pgIndex // nil: ANALYZE the table
	}
	var builds []job
	for i, t := range r.tables {
		for k := range indexes[i] {
			builds = append(builds, job{t.Name, r.writers[i].rows(), &indexes[i][k]})
		}
	}
	// The cost guess is rows × key columns; a GiST build costs about twice
	// a btree's.
	cost := func(j job) int64 {
		c := j.rows * int64(strings.Count(j.ix.def, ",")+1)
		if strings.Contains(j.ix.def, "USING gist") {
			c *= 2
		}
		return c
	}
	sort.SliceStable(builds, func(a, b int) bool { return cost(builds[a]) > cost(builds[b]) })
	var pending []job
	for i, t := range r.tables {
		pending = append(pending, job{table: t.Name, rows: r.writers[i].rows()})
	}
	sort.SliceStable(pending, func(a, b int) bool { return pending[a].rows > pending[b].rows })
	pending = append(pending, builds...)

	var (
		mu        sync.Mutex
		cond      = sync.NewCond(&mu)
		analyzing = map[string]bool{}
		building  = map[string]int{}
		failed    error
	)
	// next takes the first pending job that may start now, waiting while
	// every pending one is blocked by a running one; nil when none is left
	// or a job failed.
	next := func() *job {
		mu.Lock()
		defer mu.Unlock()
		for {
			if failed != nil || len(pending) == 0 {
				return nil
			}
			for i, j := range pending {
				if (j.ix == nil && building[j.table] == 0) || (j.ix != nil && !analyzing[j.table]) {
					pending = append(pending[:i], pending[i+1:]...)
					if j.ix == nil {
						analyzing[j.table] = true
					} else {
						building[j.table]++
					}
					return &j
				}
			}
			cond.Wait()
		}
	}
	done := func(j *job, err error) {
		mu.Lock()
		switch {
		case j == nil: // no job ran: the worker could not start
		case j.ix == nil:
			analyzing[j.table] = false
		default:
			building[j.table]--
		}
		if err != nil && failed == nil {
			failed = err
		}
		mu.Unlock()
		cond.Broadcast()
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := r.s.db.Pool.Acquire(ctx)
			if err != nil {
				done(nil, fmt.Errorf("build indexes: %w", err))
				return
			}
			defer conn.Release()
			_, _ = conn.Exec(ctx, "SET maintenance_work_mem = '256MB'")
			for j := next(); j != nil; j = next() {
				done(j, r.runIndexJob(ctx, conn, j.table, j.ix))
			}
			_, _ = conn.Exec(ctx, "RESET maintenance_work_mem")
		}()
	}
	wg.Wait()
	if failed != nil {
		return failed
	}
	// ADD CONSTRAINT … USING INDEX locks the table exclusively: it runs
	// once every build is done (it only updates the catalog).
	for i, t := range r.tables {
		for _, ix := range indexes[i] {
			var con string
			switch ix.conType {
			case "p":
				con = "PRIMARY KEY"
			case "u":
				con = "UNIQUE"
			default:
				continue
			}
			q := fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s USING INDEX %s", r.stage[t.Name], ix.stagingName, con, ix.stagingName)
			if _, err := r.s.db.SQL.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("add %s of %s: %w", strings.ToLower(con), t.Name, err)
			}
		}
	}
	return nil
}

func (r *Replace) runIndexJob(ctx context.Context, conn *pgxpool.Conn, table string, ix *pgIndex) error {
	stg := r.stage[table]
	if ix == nil {
		if _, err := conn.Exec(ctx, "ANALYZE "+stg); err != nil {
			return fmt.Errorf("analyze %s: %w", table, err)
		}
		return nil
	}
	if _, err := conn.Exec(ctx, ix.stagingDef); err != nil {
		return fmt.Errorf("build index %s of %s: %w", ix.name, table, err)
	}
	return nil
}

// mergeInto moves the staged rows of a scoped or keyed load into the live
// tables within tx.
func (r *Replace) mergeInto(ctx context.Context, tx *db.Tx) error {
	for _, t := range r.tables {
		if err := r.mergeTable(ctx, tx, t); err != nil {
			return err
		}
	}
	return nil
}

// mergeTable deletes the live rows of t that a scoped or keyed load
// replaces, then inserts t's staged rows, within tx. The keys of a keyed
// load are those staged in the load's first table.
func (r *Replace) mergeTable(ctx context.Context, tx *db.Tx, t Table) error {
	if r.opts.ScopeColumn != "" {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s = $1", t.Name, r.opts.ScopeColumn), r.opts.ScopeValue); err != nil {
			return fmt.Errorf("replace %s = %v in %s: %w", r.opts.ScopeColumn, r.opts.ScopeValue, t.Name, err)
		}
	} else {
		key := r.opts.KeyColumn
		q := fmt.Sprintf("DELETE FROM %s WHERE %s IN (SELECT %s FROM %s)", t.Name, key, key, r.stage[r.tables[0].Name])
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("replace rows of %s by %s: %w", t.Name, key, err)
		}
	}
	cols := strings.Join(t.Columns, ", ")
	q := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s", t.Name, cols, cols, r.stage[t.Name])
	if _, err := tx.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("insert staged rows into %s: %w", t.Name, err)
	}
	return nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func (s *Store) dropStalePostgres(ctx context.Context) error {
	conn, err := s.db.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("drop stale staging tables: %w", err)
	}
	defer conn.Release()
	// Only plain tables that are no partition: a staging table attached as
	// a partition is renamed in the same transaction, and a live
	// partition must never be dropped here, whatever its name.
	rows, err := conn.Query(ctx, `SELECT relname FROM pg_class
		WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r' AND NOT relispartition
		  AND relname LIKE '%\_\_stg\_%'`)
	if err != nil {
		return fmt.Errorf("drop stale staging tables: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("drop stale staging tables: %w", err)
		}
		if stagingRE.MatchString(n) {
			names = append(names, n)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("drop stale staging tables: %w", err)
	}
	for _, n := range names {
		key := tokenKey(stagingRE.FindStringSubmatch(n)[1])
		var free bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", int32(advisoryNS), key).Scan(&free); err != nil {
			return fmt.Errorf("drop stale staging tables: %w", err)
		}
		if !free {
			continue // its load is running
		}
		_, err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+n)
		if _, uerr := conn.Exec(ctx, "SELECT pg_advisory_unlock($1, $2)", int32(advisoryNS), key); uerr != nil && err == nil {
			err = uerr
		}
		if err != nil {
			return fmt.Errorf("drop stale staging table %s: %w", n, err)
		}
	}
	return nil
}

// ---- SQLite --------------------------------------------------------------

func (r *Replace) beginSQLite(ctx context.Context) error {
	now := time.Now().Unix()
	if _, err := r.s.db.SQL.ExecContext(ctx, "INSERT INTO bulk_loads (token, heartbeat_at) VALUES ($1, $2)", r.token, now); err != nil {
		return fmt.Errorf("register load: %w", err)
	}
	for _, t := range r.tables {
		have, err := sqliteColumns(ctx, r.s.db.SQL, t.Name)
		if err != nil {
			return err
		}
		if err := checkColumns(t, have, r.opts); err != nil {
			return err
		}
		var ddl string
		err = r.s.db.SQL.QueryRowContext(ctx, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1", t.Name).Scan(&ddl)
		if err != nil {
			return fmt.Errorf("read definition of %s: %w", t.Name, err)
		}
		open := strings.IndexByte(ddl, '(')
		if open < 0 {
			return fmt.Errorf("table %s: unexpected definition %q", t.Name, ddl)
		}
		if _, err := r.s.db.SQL.ExecContext(ctx, "CREATE TABLE "+r.stage[t.Name]+" "+ddl[open:]); err != nil {
			return fmt.Errorf("create staging table for %s: %w", t.Name, err)
		}
	}
	if err := r.tuneSQLite(ctx); err != nil {
		return err
	}
	// The inserts go through a connection of their own, opened without
	// database/sql (package sqlitebulk): binding the values through the
	// driver was most of the sink's time. It checks foreign keys as the
	// application's connections do (db.Open): a staging table keeps the
	// live table's REFERENCES, and the swap runs without them, so a row
	// not checked here would never be. It opens the URI db.Open gives the
	// driver ("file:" + Path), so that a path holding URI syntax ("%41")
	// names the same file on both.
	bulk, err := sqlitebulk.Open("file:"+r.s.db.Path, "busy_timeout = 10000", "synchronous = NORMAL", "foreign_keys = ON",
		fmt.Sprintf("cache_size = %d", sqliteLoadCacheKiB), "wal_autocheckpoint = 0")
	if err != nil {
		return fmt.Errorf("bulk load: %w", err)
	}
	r.bulk = bulk
	r.batches = make(chan *sqliteBatch, 8)
	for _, t := range r.tables {
		per := sqliteMaxParams / len(t.Columns)
		per = max(1, min(per, 128))
		w := &sqliteWriter{r: r, table: t, stmtRows: per, spent: make(chan *sqliteBatch, 4)}
		w.batch = w.newBatch()
		r.writers = append(r.writers, w)
	}
	r.stopHB = make(chan struct{})
	r.wg.Add(1)
	go r.runSQLiteSink()
	r.hbwg.Add(1)
	go r.runHeartbeat(r.stopHB)
	return nil
}

// sqliteTuning is what the SQLite loads of a Store have changed on the
// database's (single) writer connection. Loads overlap (the workers run
// two jobs at once): the first to begin saves the connection's settings,
// the last to end restores them. A load that read them while another had
// changed them would otherwise restore the other's (the swap's 4 MiB
// page cache, no automatic checkpoints) for good.
type sqliteTuning struct {
	mu        sync.Mutex
	loads     int   // loads begun and not ended
	cacheSize int64 // PRAGMA cache_size before the first load
	walAuto   int64 // PRAGMA wal_autocheckpoint before the first load
}

// tuneSQLite gives the application's writer connection the settings of a
// load: no automatic checkpoint at commit (the WAL grows past its 64 MiB
// threshold between two of the sink's checkpoints, every
// sqliteCheckpointRows, and a heartbeat's commit would otherwise copy the
// whole WAL into the database file). It saves the page cache size too,
// which the swap lowers to build the indexes (commitSQLite).
func (r *Replace) tuneSQLite(ctx context.Context) error {
	t := r.s.tuning
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.loads == 0 {
		if err := r.s.db.SQL.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&t.cacheSize); err != nil {
			return fmt.Errorf("read cache size: %w", err)
		}
		if err := r.s.db.SQL.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&t.walAuto); err != nil {
			return fmt.Errorf("read WAL checkpoint setting: %w", err)
		}
	}
	t.loads++
	r.tuned = true // untuneSQLite restores the settings even if one below fails
	if _, err := r.s.db.SQL.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 0"); err != nil {
		return fmt.Errorf("set WAL checkpoint: %w", err)
	}
	return nil
}

// untuneSQLite ends the load's share in sqliteTuning: it restores the page
// cache its swap may have lowered, and the last load to end checkpoints
// the WAL and turns automatic checkpoints on again.
func (r *Replace) untuneSQLite(ctx context.Context) {
	if !r.tuned {
		return
	}
	r.tuned = false
	t := r.s.tuning
	t.mu.Lock()
	defer t.mu.Unlock()
	_, _ = r.s.db.SQL.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = %d", t.cacheSize))
	if t.loads--; t.loads > 0 {
		return
	}
	// Copy the loads' pages into the database file and shrink the WAL
	// again (best effort: a busy reader elsewhere defers it to the next
	// automatic checkpoint).
	_, _ = r.s.db.SQL.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	_, _ = r.s.db.SQL.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", t.walAuto))
}

func sqliteColumns(ctx context.Context, q db.Querier, table string) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, "SELECT name FROM pragma_table_info($1)", table)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", table, err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("read columns of %s: %w", table, err)
		}
		have[c] = true
	}
	return have, rows.Err()
}

func (r *Replace) runHeartbeat(stop <-chan struct{}) {
	defer r.hbwg.Done()
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-r.ctx.Done():
			return
		case <-t.C:
			_, _ = r.s.db.SQL.ExecContext(r.ctx, "UPDATE bulk_loads SET heartbeat_at = $1 WHERE token = $2", time.Now().Unix(), r.token)
		}
	}
}

// sqliteBatch is up to stmtRows rows of one table, flattened into the
// arguments of one multi-row INSERT, numbered as the driver takes them
// (the sink passes them on as they are: numbering them here keeps that
// work off the one writer connection).
type sqliteBatch struct {
	w     *sqliteWriter
	vals  []sqlitebulk.Value
	rows  int
	arena []byte
}

// recycle empties b, whose rows are inserted (Exec copied its text), and
// hands it back to its writer for reuse, unless the writer has enough.
func (b *sqliteBatch) recycle() {
	clear(b.vals) // drop the strings into the arena
	b.vals, b.arena, b.rows = b.vals[:0], b.arena[:0], 0
	select {
	case b.w.spent <- b:
	default:
	}
}

// arg appends v as the batch's next argument.
func (b *sqliteBatch) arg(v sqlitebulk.Value) { b.vals = append(b.vals, v) }

// sqliteTimeLayout is how timestamps are stored in SQLite: the layout of
// the database/sql driver's _time_format=sqlite (platform/db), which reads
// them back as time.Time.
const sqliteTimeLayout = "2006-01-02 15:04:05.999999999-07:00"

// sqliteWriter gathers rows into batches for the SQLite sink goroutine.
type sqliteWriter struct {
	r        *Replace
	table    Table
	stmtRows int
	n        int64
	batch    *sqliteBatch
	done     bool
	col      int // values of the row being built
	// spent holds batches the sink has inserted, for reuse: a batch of a
	// wide table is a few hundred KiB, and allocating one per send made
	// the garbage collector run a few times a second.
	spent chan *sqliteBatch
}

func (w *sqliteWriter) add(v sqlitebulk.Value) { w.batch.arg(v); w.col++ }

// text copies b into the batch's arena; the arena is never written again
// where a string points, so the string stays valid.
func (w *sqliteWriter) text(x []byte) string {
	b := w.batch
	off := len(b.arena)
	b.arena = append(b.arena, x...)
	return unsafe.String(unsafe.SliceData(b.arena[off:]), len(x))
}

func (w *sqliteWriter) Bytes(x []byte) {
	if x == nil {
		w.add(sqlitebulk.Value{})
		return
	}
	w.add(sqlitebulk.TextValue(w.text(x)))
}

func (w *sqliteWriter) String(s string) { w.add(sqlitebulk.TextValue(s)) }
func (w *sqliteWriter) Int(v int64)     { w.add(sqlitebulk.IntValue(v)) }
func (w *sqliteWriter) Float(v float64) { w.add(sqlitebulk.FloatValue(v)) }
func (w *sqliteWriter) Null()           { w.add(sqlitebulk.Value{}) }
func (w *sqliteWriter) Bool(v bool)     { w.add(sqliteBool(v)) }

func sqliteBool(v bool) sqlitebulk.Value {
	if v {
		return sqlitebulk.IntValue(1)
	}
	return sqlitebulk.IntValue(0)
}

func (w *sqliteWriter) Time(t time.Time) {
	if t.IsZero() {
		w.add(sqlitebulk.Value{})
		return
	}
	w.add(sqlitebulk.TextValue(w.time(t)))
}

// time formats t into the batch's arena. Here, on the parsing goroutine,
// rather than by the one writer.
func (w *sqliteWriter) time(t time.Time) string {
	b := w.batch
	off := len(b.arena)
	b.arena = appendSQLiteTime(b.arena, t)
	return unsafe.String(unsafe.SliceData(b.arena[off:]), len(b.arena)-off)
}

// appendSQLiteTime appends t in sqliteTimeLayout. The dates of the CMS
// files (midnight UTC) take a fast path: time.Format was about a tenth of
// the parsing goroutine's time on an NPPES load, which has five dates a
// row.
func appendSQLiteTime(b []byte, t time.Time) []byte {
	if y := t.Year(); t.Location() != time.UTC || y < 1 || y > 9999 || t.Nanosecond() != 0 {
		return t.AppendFormat(b, sqliteTimeLayout)
	}
	return append(appendDateTime(b, t), "+00:00"...)
}

// appendDateTime appends t's date and clock as "2006-01-02 15:04:05", for a
// year of four digits (the callers check).
func appendDateTime(b []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-', byte('0'+d/10), byte('0'+d%10), ' ',
		byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':', byte('0'+s/10), byte('0'+s%10))
}

func (w *sqliteWriter) End() error {
	if w.done {
		return fmt.Errorf("bulk load %s: write after flush", w.table.Name)
	}
	if w.col != len(w.table.Columns) {
		n := w.col
		w.batch.vals = w.batch.vals[:len(w.batch.vals)-n]
		w.col = 0
		return fmt.Errorf("bulk load %s: %d values for %d columns", w.table.Name, n, len(w.table.Columns))
	}
	w.col = 0
	if w.r.stopped() {
		return w.r.failure()
	}
	w.batch.rows++
	w.n++
	if w.batch.rows >= w.stmtRows {
		return w.send()
	}
	return nil
}

func (w *sqliteWriter) rows() int64 { return w.n }

func (w *sqliteWriter) newBatch() *sqliteBatch {
	select {
	case b := <-w.spent:
		return b
	default:
	}
	return &sqliteBatch{w: w, vals: make([]sqlitebulk.Value, 0, w.stmtRows*len(w.table.Columns)), arena: make([]byte, 0, 64<<10)}
}

func (w *sqliteWriter) Write(values ...any) error {
	if w.done {
		return fmt.Errorf("bulk load %s: write after flush", w.table.Name)
	}
	if len(values) != len(w.table.Columns) {
		return fmt.Errorf("bulk load %s: %d values for %d columns", w.table.Name, len(values), len(w.table.Columns))
	}
	if w.col != 0 {
		return fmt.Errorf("bulk load %s: Write while a built row is not ended", w.table.Name)
	}
	if w.r.stopped() {
		return w.r.failure()
	}
	b := w.batch
	start := len(b.vals)
	for i, v := range values {
		switch x := v.(type) {
		case nil:
			b.arg(sqlitebulk.Value{})
		case string:
			b.arg(sqlitebulk.TextValue(x))
		case int64:
			b.arg(sqlitebulk.IntValue(x))
		case float64:
			b.arg(sqlitebulk.FloatValue(x))
		case time.Time:
			b.arg(sqlitebulk.TextValue(w.time(x)))
		case []byte:
			if x == nil {
				b.arg(sqlitebulk.Value{})
				break
			}
			b.arg(sqlitebulk.TextValue(w.text(x)))
		case int:
			b.arg(sqlitebulk.IntValue(int64(x)))
		case int32:
			b.arg(sqlitebulk.IntValue(int64(x)))
		case int16:
			b.arg(sqlitebulk.IntValue(int64(x)))
		case float32:
			b.arg(sqlitebulk.FloatValue(float64(x)))
		case bool:
			b.arg(sqliteBool(x))
		default:
			b.vals = b.vals[:start]
			return fmt.Errorf("bulk load %s: column %d: unsupported value type %T", w.table.Name, i+1, v)
		}
	}
	b.rows++
	w.n++
	if b.rows >= w.stmtRows {
		return w.send()
	}
	return nil
}

func (w *sqliteWriter) send() error {
	select {
	case w.r.batches <- w.batch:
	case <-w.r.stop:
		return w.r.failure()
	case <-w.r.ctx.Done():
		return w.r.failure()
	}
	w.batch = w.newBatch()
	return nil
}

func (w *sqliteWriter) flush() error {
	if w.done {
		return nil
	}
	w.done = true
	if w.batch.rows > 0 {
		return w.send()
	}
	return nil
}

func insertSQL(table string, cols []string, rows int) string {
	var b strings.Builder
	// OR FAIL: a failing row fails the load anyway, and without ABORT's
	// statement rollback SQLite keeps no statement journal for the
	// multi-row statement (it wrote every page twice).
	b.WriteString("INSERT OR FAIL INTO ")
	b.WriteString(table)
	b.WriteString(" (")
	b.WriteString(strings.Join(cols, ", "))
	b.WriteString(") VALUES ")
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// runSQLiteSink inserts the batches in transactions of ~10k rows on the
// load's own connection (r.bulk), which runs with synchronous = NORMAL: a
// staging transaction lost to a power failure is harmless (the load fails
// and its staging tables are dropped as stale). The swap transaction, on
// the application's writer connection, runs with FULL, and its commit
// syncs the WAL with every staged page in it.
//
// Each transaction holds the application's (single) writer connection
// while it runs, without using it: SQLite lets one connection write at a
// time, and waiting for database/sql's pool, in turn with the API's and
// River's writes, is fairer than retrying SQLITE_BUSY. It is given back
// between transactions, so those writes interleave.
func (r *Replace) runSQLiteSink() {
	defer r.wg.Done()
	stmts := map[sqliteStmtKey]*sqlitebulk.Stmt{}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
		r.bulk.Close()
	}()
	fail := func(err error) {
		r.setErr(err)
		for range r.batches {
		}
	}
	sinceCheckpoint := 0 // rows committed since the last checkpoint
	for {
		first, ok := <-r.batches
		if !ok {
			return
		}
		rows, more, err := r.sqliteSinkTx(first, stmts)
		if err != nil {
			fail(err)
			return
		}
		if !more {
			return
		}
		if sinceCheckpoint += rows; sinceCheckpoint >= sqliteCheckpointRows {
			sinceCheckpoint = 0
			if _, err := r.s.db.SQL.ExecContext(r.ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
				fail(fmt.Errorf("bulk load: checkpoint: %w", err))
				return
			}
		}
	}
}

// nextSQLiteBatch returns the next batch for the transaction in progress,
// waiting at most sqliteBatchWait for the parser to produce it: a slow
// source (a remote file arriving at a few MB/s) must not keep the write
// lock, and the API's writes waiting behind it, while the rows of a whole
// transaction trickle in. waited tells that none came in time: the caller
// commits what it has and takes the next batch outside a transaction.
// more is false once the channel is closed.
func (r *Replace) nextSQLiteBatch() (b *sqliteBatch, more, waited bool) {
	select {
	case b, more = <-r.batches:
		return b, more, false
	default:
	}
	t := time.NewTimer(sqliteBatchWait)
	defer t.Stop()
	select {
	case b, more = <-r.batches:
		if !more {
			return nil, false, false
		}
		return b, true, false
	case <-t.C:
		return nil, true, true
	}
}

// sqliteStmtKey names a prepared multi-row INSERT: the writer's table and
// the number of rows (a full batch, or the last, shorter one).
type sqliteStmtKey struct {
	w    *sqliteWriter
	rows int
}

// sqliteSinkTx inserts first and the batches after it, up to about
// sqliteTxRows rows, in one transaction, and reports the rows committed
// and whether the channel may hold more. stmts keeps the prepared
// statements from one transaction to the next.
func (r *Replace) sqliteSinkTx(first *sqliteBatch, stmts map[sqliteStmtKey]*sqlitebulk.Stmt) (rows int, more bool, err error) {
	turn, err := r.s.db.SQL.Conn(r.ctx)
	if err != nil {
		return 0, false, fmt.Errorf("bulk load: begin: %w", err)
	}
	defer turn.Close()
	if err := r.bulk.Exec("BEGIN IMMEDIATE"); err != nil {
		return 0, false, fmt.Errorf("bulk load: %w", err)
	}
	// insert inserts b's rows, adds them to rows and recycles b.
	insert := func(b *sqliteBatch) error {
		k := sqliteStmtKey{b.w, b.rows}
		st := stmts[k]
		if st == nil {
			var err error
			if st, err = r.bulk.Prepare(insertSQL(r.stage[b.w.table.Name], b.w.table.Columns, b.rows)); err != nil {
				return fmt.Errorf("bulk load %s: %w", b.w.table.Name, err)
			}
			stmts[k] = st
		}
		if err := st.Exec(b.vals); err != nil {
			return fmt.Errorf("bulk load %s: insert: %w", b.w.table.Name, err)
		}
		rows += b.rows
		b.recycle()
		return nil
	}
	more = true
	b := first
	for {
		if r.stopped() {
			err = r.failure()
			break
		}
		if err = insert(b); err != nil {
			break
		}
		if rows >= sqliteTxRows {
			break
		}
		var waited bool
		if b, more, waited = r.nextSQLiteBatch(); !more || waited {
			break
		}
	}
	if err == nil {
		if err = r.bulk.Exec("COMMIT"); err != nil {
			err = fmt.Errorf("bulk load: %w", err)
		}
	}
	if err != nil {
		_ = r.bulk.Exec("ROLLBACK")
		return 0, false, err
	}
	return rows, more, nil
}

type sqliteObject struct{ name, sql string }

func sqliteObjects(ctx context.Context, q db.Querier, kind, table string) ([]sqliteObject, error) {
	rows, err := q.QueryContext(ctx,
		"SELECT name, sql FROM sqlite_master WHERE type = $1 AND tbl_name = $2 AND sql IS NOT NULL ORDER BY name", kind, table)
	if err != nil {
		return nil, fmt.Errorf("read %ss of %s: %w", kind, table, err)
	}
	defer rows.Close()
	var out []sqliteObject
	for rows.Next() {
		var o sqliteObject
		if err := rows.Scan(&o.name, &o.sql); err != nil {
			return nil, fmt.Errorf("read %ss of %s: %w", kind, table, err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

func (r *Replace) commitSQLite(ctx context.Context, finalize func(tx *db.Tx) error) error {
	if r.opts.ScopeColumn != "" || r.opts.KeyColumn != "" {
		return r.s.db.InTx(ctx, func(tx *db.Tx) error {
			if err := r.mergeInto(ctx, tx); err != nil {
				return err
			}
			return finalize(tx)
		})
	}
	// Foreign-key enforcement cannot change inside a transaction: turn it
	// off on the (single) connection around the swap, so that DROP TABLE
	// never runs an implicit DELETE through foreign keys of other tables.
	conn, err := r.s.db.SQL.Conn(ctx)
	if err != nil {
		return fmt.Errorf("swap: %w", err)
	}
	defer conn.Close()
	// threads and a small page cache: the sorter of CREATE INDEX sorts in
	// memory up to the page cache's size, on the connection's own thread,
	// after the scan. Kept under a few MiB, it hands each run to a helper
	// thread as the scan goes on and merges the runs on two threads, which
	// built the NPPES indexes about 40% faster (1M providers: 1.4 s → 0.8
	// s for the name index) than one in-memory sort with the load's cache.
	// With so small a cache each index build reads the whole table again:
	// mmap spares it a read system call per page (about 7% of a build).
	// Only the file's first sqliteSwapMmapBytes are mapped: every mapped
	// page an index build reads stays in the process's resident set, and
	// with 4 GiB mapped a load's peak RSS grew with the database (1M
	// providers: 472 MB of it were mapped pages).
	pragmas := []string{"PRAGMA foreign_keys = OFF", "PRAGMA legacy_alter_table = ON", "PRAGMA threads = 2",
		fmt.Sprintf("PRAGMA cache_size = %d", sqliteSortCacheKiB), fmt.Sprintf("PRAGMA mmap_size = %d", sqliteSwapMmapBytes)}
	// The reset is deferred before the first change: a load cancelled
	// between two of them must not leave the shared connection changed.
	// (The page cache is restored by untuneSQLite.)
	defer func() {
		bg := context.Background()
		failed := false
		for _, p := range []string{"PRAGMA threads = 0", "PRAGMA mmap_size = 0", "PRAGMA legacy_alter_table = OFF", "PRAGMA foreign_keys = ON"} {
			if _, err := conn.ExecContext(bg, p); err != nil {
				failed = true
			}
		}
		if failed {
			// Never hand back a connection without foreign keys:
			// ErrBadConn makes database/sql close it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	for _, p := range pragmas {
		if _, err := conn.ExecContext(ctx, p); err != nil {
			return fmt.Errorf("swap: %s: %w", p, err)
		}
	}
	sqlTx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("swap: begin: %w", err)
	}
	tx := &db.Tx{Tx: sqlTx, Conn: conn, Dialect: db.SQLite}
	if err := r.swapSQLite(ctx, tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := finalize(tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("swap: commit: %w", err)
	}
	return nil
}

func (r *Replace) swapSQLite(ctx context.Context, tx *db.Tx) error {
	for _, t := range r.tables {
		indexes, err := sqliteObjects(ctx, tx, "index", t.Name)
		if err != nil {
			return err
		}
		triggers, err := sqliteObjects(ctx, tx, "trigger", t.Name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DROP TABLE "+t.Name); err != nil {
			return fmt.Errorf("swap %s: drop the previous version: %w", t.Name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s RENAME TO %s", r.stage[t.Name], t.Name)); err != nil {
			return fmt.Errorf("swap %s: %w", t.Name, err)
		}
		for _, o := range append(indexes, triggers...) {
			if _, err := tx.ExecContext(ctx, o.sql); err != nil {
				return fmt.Errorf("swap %s: re-create %s: %w", t.Name, o.name, err)
			}
		}
	}
	return nil
}

func (s *Store) dropStaleSQLite(ctx context.Context) error {
	rows, err := s.db.SQL.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%\\_\\_stg\\_%' ESCAPE '\\'")
	if err != nil {
		return fmt.Errorf("drop stale staging tables: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("drop stale staging tables: %w", err)
		}
		if stagingRE.MatchString(n) {
			names = append(names, n)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("drop stale staging tables: %w", err)
	}
	staleBefore := time.Now().Add(-sqliteStaleAge).Unix()
	for _, n := range names {
		token := stagingRE.FindStringSubmatch(n)[1]
		var beat int64
		err := s.db.SQL.QueryRowContext(ctx, "SELECT heartbeat_at FROM bulk_loads WHERE token = $1", token).Scan(&beat)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("drop stale staging tables: %w", err)
		case beat >= staleBefore:
			continue // its load is running
		}
		if _, err := s.db.SQL.ExecContext(ctx, "DROP TABLE IF EXISTS "+n); err != nil {
			return fmt.Errorf("drop stale staging table %s: %w", n, err)
		}
	}
	if _, err := s.db.SQL.ExecContext(ctx, "DELETE FROM bulk_loads WHERE heartbeat_at < $1", staleBefore); err != nil {
		return fmt.Errorf("drop stale staging tables: %w", err)
	}
	return nil
}

// duplicate returns a value of column that occurs more than once in the
// staged rows of table (flushed), if any.
func (r *Replace) duplicate(ctx context.Context, table, column string) (string, bool) {
	stg, ok := r.stage[table]
	if !ok || !identRE.MatchString(column) {
		return "", false
	}
	var v sql.NullString
	err := r.s.db.SQL.QueryRowContext(ctx, fmt.Sprintf(
		"SELECT CAST(%[1]s AS TEXT) FROM %[2]s WHERE %[1]s IS NOT NULL GROUP BY %[1]s HAVING COUNT(*) > 1 LIMIT 1", column, stg)).Scan(&v)
	if err != nil || !v.Valid {
		return "", false
	}
	return v.String, true
}
