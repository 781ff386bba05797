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
	p, err := goose.NewProvider(dialect, d.SQL, fsys, opts...)
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
func Up(ctx context.Context, d *db.DB, sets ...Set) (int, error) {
	unlock, err := lockMigrations(ctx, d)
	if err != nil {
		return 0, err
	}
	defer unlock()
	if err := riverUp(ctx, d); err != nil {
		return 0, err
	}
	applied := 0
	for _, set := range sets {
		p, err := set.Provider(d)
		if err != nil {
			return applied, err
		}
		if set.Repair != nil {
			if err := set.Repair(ctx, d); err != nil {
				return applied, fmt.Errorf("repair the schema before migrating: %w", err)
			}
		}
		res, err := p.Up(ctx)
		applied += len(res)
		if err != nil {
			return applied, fmt.Errorf("apply migrations: %w", err)
		}
	}
	return applied, nil
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
