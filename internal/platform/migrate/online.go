package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// Briefly runs stmts in one transaction on conn whose lock waits end after
// LockTimeout, trying again up to LockTries times, 100 ms apart: a catalog
// change (ALTER, DROP INDEX, a rename) must not wait long for a reader's
// lock, since every query of the table arriving after it waits too. For
// the Go migrations of PostgreSQL.
func Briefly(ctx context.Context, conn *sql.Conn, stmts ...string) error {
	setTimeout := fmt.Sprintf("SET LOCAL lock_timeout = '%dms'", LockTimeout.Milliseconds())
	for try := 1; ; try++ {
		err := inTx(ctx, conn, append([]string{setTimeout}, stmts...))
		if err == nil || !lockTimedOut(err) || try == LockTries {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func inTx(ctx context.Context, conn *sql.Conn, stmts []string) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// ReplaceIndex makes name, an index of a PostgreSQL table, the one that
// definition describes ("ON notifications (status, updated_at) WHERE …"),
// without blocking the table's readers or writers: a plain CREATE INDEX
// holds a SHARE lock on the table for the whole build, and during a
// blue/green deploy every insert and update of the version still serving
// waits for it.
//
// It builds name_new with CREATE INDEX CONCURRENTLY (Unbounded), then drops
// name and renames name_new in one short transaction (Briefly). A run that
// was interrupted left at most an invalid or finished name_new, which the
// next run drops first, so a migration can be run again whole.
func ReplaceIndex(ctx context.Context, d *sql.DB, name, definition string) error {
	temp := name + "_new"
	conn, err := d.Conn(ctx)
	if err != nil {
		return fmt.Errorf("replace index %s: %w", name, err)
	}
	defer conn.Close()
	if log := loggerFrom(ctx); log != nil {
		log.InfoContext(ctx, "building an index online: it waits for the transactions older than it, however long, without blocking reads or writes",
			"index", name)
	}
	err = Unbounded(ctx, conn,
		"DROP INDEX CONCURRENTLY IF EXISTS "+temp,
		"CREATE INDEX CONCURRENTLY "+temp+" "+definition)
	if err != nil {
		return fmt.Errorf("replace index %s: build %s: %w", name, temp, err)
	}
	if err := Briefly(ctx, conn, "DROP INDEX IF EXISTS "+name, "ALTER INDEX "+temp+" RENAME TO "+name); err != nil {
		return fmt.Errorf("replace index %s with %s: %w", name, temp, err)
	}
	return nil
}

// Unbounded runs stmts one by one on conn, outside a transaction, with no
// lock_timeout: for statements that block no reader or writer while they
// wait (CREATE or DROP INDEX CONCURRENTLY, ANALYZE), and would be stopped
// by the migrations' LockTimeout and run again from the start, rebuilding
// the index each time, as long as a transaction older than a second (a
// report, an export) was open when they reached one of their waits.
func Unbounded(ctx context.Context, conn *sql.Conn, stmts ...string) error {
	if _, err := conn.ExecContext(ctx, "SET lock_timeout = 0"); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "RESET lock_timeout")
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// AlterBriefly runs stmt, a catalog change (ALTER TABLE … ADD COLUMN), on
// d: on PostgreSQL through Briefly, so that while it waits for a long
// transaction of the release still serving it does not hold up every
// query of the table behind it; on SQLite as it is (one writer, its busy
// timeout applies). For a Set's Repair, which runs on the product's
// connections, outside Up's own.
func AlterBriefly(ctx context.Context, d *db.DB, stmt string) error {
	if d.Dialect != db.Postgres {
		_, err := d.SQL.ExecContext(ctx, stmt)
		return err
	}
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return Briefly(ctx, conn, stmt)
}

// EnsureIndex creates the index name (definition as for ReplaceIndex)
// when d has no valid index of that name: on PostgreSQL online, with
// ReplaceIndex (a build that failed midway left an invalid one, which it
// replaces), on SQLite with CREATE INDEX IF NOT EXISTS. For a Set's Repair.
func EnsureIndex(ctx context.Context, d *db.DB, name, definition string) error {
	if d.Dialect != db.Postgres {
		_, err := d.SQL.ExecContext(ctx, "CREATE INDEX IF NOT EXISTS "+name+" "+definition)
		return err
	}
	var valid sql.NullBool
	err := d.SQL.QueryRowContext(ctx, `SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)`, name).Scan(&valid)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read index %s: %w", name, err)
	}
	if valid.Valid && valid.Bool {
		return nil
	}
	return ReplaceIndex(ctx, d.SQL, name, definition)
}

// loggerKey carries Up's logger to the Go migrations, which goose calls
// with a context and a *sql.DB only.
type loggerKey struct{}

func withLogger(ctx context.Context, log *slog.Logger) context.Context {
	if log == nil {
		return ctx
	}
	return context.WithValue(ctx, loggerKey{}, log)
}

// loggerFrom returns the logger Up passed down, or nil.
func loggerFrom(ctx context.Context) *slog.Logger {
	log, _ := ctx.Value(loggerKey{}).(*slog.Logger)
	return log
}
