// Package migrate applies a product's schema migrations (goose, embedded SQL,
// one directory per dialect) and River's own job-queue migrations.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/health"
)

// Set is one component's migrations: one fs.FS per dialect, each holding
// goose SQL files (NNNNN_name.sql) at its root, and, on PostgreSQL, Go
// migrations for what one SQL transaction cannot do (an index built
// CONCURRENTLY). Each set keeps its own version table, so a shared
// component (the audit trail, say) versions its tables independently of
// the product that embeds it.
type Set struct {
	// Table is the goose version table; empty means goose's default.
	Table    string
	SQLite   fs.FS
	Postgres fs.FS
	// PostgresGo, when set, returns Go migrations (goose.NewGoMigration)
	// registered beside the SQL files of Postgres; a version must not be
	// both. It is a func so that every provider gets migrations of its own
	// (goose fills in fields of the ones it is given).
	PostgresGo func() []*goose.Migration
	// Repair, when set, runs before the set's pending migrations, under the
	// migration lock: it brings a database on which an earlier text of a
	// migration since edited was applied to what the current text creates
	// (a column added to a migration that had already shipped), so that
	// the later migrations and the code find it. It must be idempotent and
	// do nothing on a database that needs nothing, a new one included.
	Repair func(ctx context.Context, d *db.DB) error
}

// Embedded builds a Set from an embedded tree holding sqlite/ and postgres/
// directories under root, e.g. Embedded(files, "migrations", ""). It panics
// when a directory is missing: that is a build mistake, found at start-up.
func Embedded(files fs.FS, root, table string) Set {
	sub := func(dialect string) fs.FS {
		f, err := fs.Sub(files, root+"/"+dialect)
		if err != nil {
			panic(fmt.Sprintf("migrate: embedded migrations %s/%s: %v", root, dialect, err))
		}
		return f
	}
	return Set{Table: table, SQLite: sub("sqlite"), Postgres: sub("postgres")}
}

// Provider returns the goose provider of the set for d's dialect (the Go
// migrations of PostgresGo included; goose's global registry is not
// read). Up and Pending use it; tests use it to migrate to a version.
func (s Set) Provider(d *db.DB) (*goose.Provider, error) {
	return s.provider(d, d.SQL)
}

// provider is Provider on the connections of sqlDB, which reach d's
// database.
func (s Set) provider(d *db.DB, sqlDB *sql.DB) (*goose.Provider, error) {
	fsys, dialect := s.SQLite, goose.DialectSQLite3
	if d.Dialect == db.Postgres {
		fsys, dialect = s.Postgres, goose.DialectPostgres
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if d.Dialect == db.Postgres && s.PostgresGo != nil {
		opts = append(opts, goose.WithGoMigrations(s.PostgresGo()...))
	}
	if s.Table != "" {
		opts = append(opts, goose.WithTableName(s.Table))
	}
	if d.Dialect == db.Postgres {
		// Several ECS tasks may start at once: serialise them on an advisory lock.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, sqlDB, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// Up applies River's migrations, then every pending migration of each set
// in order, and returns how many migrations it applied.
//
// Several processes may migrate one database at once (ECS tasks starting
// together, a CLI beside a server): Up holds a lock for its whole run — a
// PostgreSQL session advisory lock, or an flock on a file beside the
// SQLite database — so the others wait and then find nothing to do.
//
// On PostgreSQL each migration waits at most LockTimeout for a lock (the
// ALTER TABLE of a table that the version still serving reads and writes
// during a blue/green deploy): while it waits, every query of that table
// queues behind it, so a long transaction of the old version (a report, an
// export) stalled its event ingestion for as long as it lasted (QA: 6 s).
// A migration that times out is rolled back and tried again, LockTries
// times in all, LockRetryPause apart.
func Up(ctx context.Context, d *db.DB, sets ...Set) (int, error) {
	unlock, err := lockMigrations(ctx, d)
	if err != nil {
		return 0, err
	}
	defer unlock()
	if err := riverUp(ctx, d); err != nil {
		return 0, err
	}
	sqlDB, closeDB, err := migrationDB(ctx, d)
	if err != nil {
		return 0, err
	}
	defer closeDB()
	applied := 0
	for _, set := range sets {
		p, err := set.provider(d, sqlDB)
		if err != nil {
			return applied, err
		}
		if set.Repair != nil {
			if err := set.Repair(ctx, d); err != nil {
				return applied, fmt.Errorf("repair the schema before migrating: %w", err)
			}
		}
		n, err := upByOne(withLogger(ctx, d.Logger), p)
		applied += n
		if err != nil {
			return applied, fmt.Errorf("apply migrations: %w", err)
		}
	}
	return applied, nil
}

// Lock waits of the migrations on PostgreSQL (see Up).
const (
	LockTimeout    = time.Second
	LockTries      = 60
	LockRetryPause = time.Second
)

// migrationDB returns the connections the migrations run on: for
// PostgreSQL a small pool of its own whose sessions wait LockTimeout at
// most for a lock, for SQLite d's (one writer; its busy timeout applies).
// Go migrations that must wait longer set lock_timeout in their session.
func migrationDB(ctx context.Context, d *db.DB) (*sql.DB, func(), error) {
	if d.Dialect != db.Postgres {
		return d.SQL, func() {}, nil
	}
	cfg := d.Pool.Config()
	cfg.MaxConns = 2
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["lock_timeout"] = fmt.Sprint(LockTimeout.Milliseconds())
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("connect for migrations: %w", err)
	}
	sqlDB := stdlib.OpenDBFromPool(pool)
	return sqlDB, func() { sqlDB.Close(); pool.Close() }, nil
}

// upByOne applies p's pending migrations one at a time and returns how
// many it applied. A migration that failed waiting for a lock (lock_timeout,
// SQLSTATE 55P03) was rolled back: it is tried again after
// LockRetryPause, LockTries times in all.
//
// A wait is logged to the logger Up passed in ctx (none: not logged), at
// its first try and every tenth: an operator whose deploy seems to hang
// learns why.
func upByOne(ctx context.Context, p *goose.Provider) (int, error) {
	log := loggerFrom(ctx)
	applied := 0
	for tries := 1; ; {
		_, err := p.UpByOne(ctx)
		switch {
		case errors.Is(err, goose.ErrNoNextVersion):
			return applied, nil
		case err == nil:
			applied++
			tries = 1
			continue
		case !lockTimedOut(err):
			return applied, err
		case tries >= LockTries:
			return applied, fmt.Errorf("a migration waited for a lock %d times, %s each, and other sessions still held it: a long transaction (a report, an export) holds the table; run migrate again once it has ended: %w", LockTries, LockTimeout, err)
		}
		if log != nil && (tries == 1 || tries%10 == 0) {
			var version int64
			if partial, ok := errors.AsType[*goose.PartialError](err); ok && partial.Failed != nil && partial.Failed.Source != nil {
				version = partial.Failed.Source.Version
			}
			log.WarnContext(ctx, "migration waits for a table lock that another session holds (a long transaction: a report, an export); trying again",
				"version", version, "try", tries, "of", LockTries, "wait_per_try", LockTimeout.String())
		}
		tries++
		select {
		case <-ctx.Done():
			return applied, ctx.Err()
		case <-time.After(LockRetryPause):
		}
	}
}

// lockTimedOut reports whether err is PostgreSQL's lock_timeout (55P03).
func lockTimedOut(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03"
}

// Pending reports whether any migration of the sets is not yet applied.
// Readiness uses it: an instance must not take traffic on an old schema.
func Pending(ctx context.Context, d *db.DB, sets ...Set) (bool, error) {
	for _, set := range sets {
		p, err := set.Provider(d)
		if err != nil {
			return false, err
		}
		pending, err := p.HasPending(ctx)
		if err != nil {
			return false, fmt.Errorf("check migrations: %w", err)
		}
		if pending {
			return true, nil
		}
	}
	return false, nil
}

// migrationLockKey is the advisory lock key of Up on PostgreSQL; goose's
// own session lock (taken inside, per set) uses another key.
const migrationLockKey int64 = 0x6d6967726174 // "migrat"

// lockPoll is how often a migration waiting for the lock asks again.
const lockPoll = 100 * time.Millisecond

// lockMigrations takes the migration lock of d and returns its release.
//
// On PostgreSQL it asks with pg_try_advisory_lock until it gets the lock,
// and never waits in pg_advisory_lock: a session waiting there is inside a
// statement, whose snapshot a CREATE INDEX CONCURRENTLY of the migration
// holding the lock waits for (migration 9 of medsales), so the two would
// wait for each other until the deadlock detector failed one of them.
// Between two tries the session holds no snapshot.
func lockMigrations(ctx context.Context, d *db.DB) (func(), error) {
	// Said once, when the lock is not free at once.
	waiting := func() {
		if d.Logger != nil {
			d.Logger.InfoContext(ctx, "waiting for another process's migrations to finish")
		}
	}
	if d.Dialect == db.Postgres {
		conn, err := d.Pool.Acquire(ctx)
		if err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		for {
			var got bool
			if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", migrationLockKey).Scan(&got); err != nil {
				conn.Release()
				return nil, fmt.Errorf("migration lock: %w", err)
			}
			if got {
				break
			}
			if waiting != nil {
				waiting()
				waiting = nil
			}
			select {
			case <-ctx.Done():
				conn.Release()
				return nil, fmt.Errorf("migration lock: waiting for another migration: %w", ctx.Err())
			case <-time.After(lockPoll):
			}
		}
		return func() {
			if _, err := conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", migrationLockKey); err != nil {
				// Closing the session releases the lock.
				_ = conn.Conn().Close(context.Background())
			}
			conn.Release()
		}, nil
	}
	// The file's real path: the database reached through a symlink is the
	// same database, and takes the same lock.
	file := d.File
	if real, err := filepath.EvalSymlinks(file); err == nil {
		file = real
	}
	f, err := os.OpenFile(file+".migrate-lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("migration lock %s: %w", f.Name(), err)
		}
		if waiting != nil {
			waiting()
			waiting = nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("migration lock %s: %w", f.Name(), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func riverUp(ctx context.Context, d *db.DB) error {
	var err error
	switch d.Dialect {
	case db.Postgres:
		var m *rivermigrate.Migrator[pgx.Tx]
		m, err = rivermigrate.New(riverpgxv5.New(d.Pool), nil)
		if err == nil {
			_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		}
	default:
		var m *rivermigrate.Migrator[*sql.Tx]
		m, err = rivermigrate.New(riversqlite.New(d.SQL), nil)
		if err == nil {
			_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		}
	}
	if err != nil {
		return fmt.Errorf("apply job queue migrations: %w", err)
	}
	return nil
}

// HealthRecheck is how long the "migrations" check trusts a current
// schema before it asks again.
const HealthRecheck = 30 * time.Second

// HealthCheck is the critical "migrations" component of /readyz: down
// while any migration of sets is pending, or while the database cannot
// say. A current schema is trusted for HealthRecheck (now gives the time),
// then asked again: a database restored from an older snapshot, or gone,
// is not reported current for the life of the process (QA: a dropped
// database showed "migrations" UP beside "database" DOWN).
func HealthCheck(d *db.DB, now func() time.Time, sets ...Set) health.Check {
	var mu sync.Mutex
	var currentUntil time.Time
	return health.Check{Name: "migrations", Critical: true, Run: func(ctx context.Context) (map[string]any, error) {
		mu.Lock()
		trusted := now().Before(currentUntil)
		mu.Unlock()
		if trusted {
			return nil, nil
		}
		pending, err := Pending(ctx, d, sets...)
		if err != nil {
			return nil, err
		}
		if pending {
			return nil, errors.New("migrations pending")
		}
		mu.Lock()
		currentUntil = now().Add(HealthRecheck)
		mu.Unlock()
		return nil, nil
	}}
}

// Columns reports whether table exists in d and which of its columns
// exist, for a Set's Repair.
func Columns(ctx context.Context, d *db.DB, table string) (exists bool, columns map[string]bool, err error) {
	query := `SELECT name FROM pragma_table_info($1)`
	if d.Dialect == db.Postgres {
		query = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`
	}
	rows, err := d.SQL.QueryContext(ctx, query, table)
	if err != nil {
		return false, nil, fmt.Errorf("read the columns of %s: %w", table, err)
	}
	defer rows.Close()
	columns = map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return false, nil, fmt.Errorf("read the columns of %s: %w", table, err)
		}
		columns[name] = true
	}
	if err := rows.Err(); err != nil {
		return false, nil, fmt.Errorf("read the columns of %s: %w", table, err)
	}
	return len(columns) > 0, columns, nil
}
