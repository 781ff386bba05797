// Package store keeps the medsales product's data in SQL on SQLite
// (embedded default) and PostgreSQL (production): the public provider
// datasets, their load history (dataset versions) and the geocoding cache.
//
// Full dataset files are loaded into staging tables and swapped in
// atomically, so readers never see a partial dataset and a failed or killed
// load leaves the previous version served. Statements are written once with
// $n placeholders where the dialects agree; where they differ the variants
// sit side by side, chosen by db.DB.Dialect.
package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"strings"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

//go:embed migrations
var migrationFiles embed.FS

// Migrations creates the medsales tables (goose SQL files embedded from
// migrations/sqlite and migrations/postgres, and on PostgreSQL the Go
// migration 9, which builds an index online: onlineindex.go), and the
// Repair of databases made by an earlier text of a migration (repair.go).
var Migrations = func() migrate.Set {
	s := migrate.Embedded(migrationFiles, "migrations", "")
	s.PostgresGo = postgresGoMigrations
	s.Repair = repairEditedMigrations
	return s
}()

// Store reads and writes the medsales tables.
type Store struct {
	db *db.DB
	// q, when set, is the read-only transaction of a Snapshot: the read
	// methods use it instead of the pool.
	q db.Querier
	// tuning is what the SQLite loads running through this store have
	// changed on the writer connection (shared with Snapshot copies).
	// Loads of one database go through one Store: the process's.
	tuning *sqliteTuning
}

// New returns a Store on d.
func New(d *db.DB) *Store { return &Store{db: d, tuning: &sqliteTuning{}} }

// DB returns the database the store uses.
func (s *Store) DB() *db.DB { return s.db }

// reader is what the read methods query: the snapshot transaction inside
// Snapshot, else the read pool (db.DB.Read: on SQLite read-only
// connections, so a load holding the writer — its swap builds indexes for
// many seconds on a national file — does not stall the API).
func (s *Store) reader() db.Querier {
	if s.q != nil {
		return s.q
	}
	return s.db.Read
}

// snapshotTables are the tables a Snapshot locks (those a provider profile
// reads), in the order an NPPES swap takes them (providers first), so that
// the two never deadlock.
var snapshotTables = []string{
	"providers", "provider_taxonomies", "provider_identifiers",
	"practice_locations", "provider_other_names", "provider_endpoints",
	"nucc_taxonomy", "partb_services", "partd_drugs", "open_payments",
}

// lockSnapshotTables locks the snapshotTables for reading, until the end
// of the transaction (PostgreSQL; see Snapshot).
var lockSnapshotTables = "LOCK TABLE " + strings.Join(snapshotTables, ", ") + " IN ACCESS SHARE MODE"

// Snapshot runs fn with a Store whose reads all see one state of the
// database, so a reader assembling a provider profile from several tables
// never mixes two releases when a load swaps one in meanwhile.
func (s *Store) Snapshot(ctx context.Context, fn func(st *Store) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.db.Dialect == db.Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.db.Read.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin read snapshot: %w", err)
	}
	defer tx.Rollback() // read-only: nothing to keep
	if s.db.Dialect == db.Postgres {
		// A swap drops a live table and renames a staging table (or
		// attaches a partition) in its place, and PostgreSQL's snapshots
		// do not cover that: a table swapped in after the snapshot was
		// taken is read as the new version (its rows are written with
		// COPY FREEZE) or as empty. Locking every table a reader may read
		// before the first query takes the snapshot after any swap in
		// progress, and keeps swaps out until the snapshot ends.
		if _, err := tx.ExecContext(ctx, lockSnapshotTables); err != nil {
			return fmt.Errorf("begin read snapshot: %w", err)
		}
	}
	return fn(&Store{db: s.db, q: tx, tuning: s.tuning})
}
