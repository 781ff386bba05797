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
	"embed"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

//go:embed migrations
var migrationFiles embed.FS

// Migrations creates the medsales tables (goose SQL files embedded from
// migrations/sqlite and migrations/postgres).
var Migrations = migrate.Embedded(migrationFiles, "migrations", "")

// Store reads and writes the medsales tables.
type Store struct {
	db *db.DB
}

// New returns a Store on d.
func New(d *db.DB) *Store { return &Store{db: d} }

// DB returns the database the store uses.
func (s *Store) DB() *db.DB { return s.db }
