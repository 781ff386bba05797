// Package migrate applies a product's schema migrations (goose, embedded SQL,
// one directory per dialect) and River's own job-queue migrations.
package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// Set is a product's migrations: one fs.FS per dialect, each holding goose
// SQL files (NNNNN_name.sql) at its root.
type Set struct {
	SQLite   fs.FS
	Postgres fs.FS
}

func (s Set) provider(d *db.DB) (*goose.Provider, error) {
	fsys, dialect := s.SQLite, goose.DialectSQLite3
	if d.Dialect == db.Postgres {
		fsys, dialect = s.Postgres, goose.DialectPostgres
	}
	var opts []goose.ProviderOption
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

// Up applies every pending migration, River's first, and returns the
// product schema version reached.
func Up(ctx context.Context, d *db.DB, set Set) (int64, error) {
	if err := riverUp(ctx, d); err != nil {
		return 0, err
	}
	p, err := set.provider(d)
	if err != nil {
		return 0, err
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("apply migrations: %w", err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// Pending reports whether any product migration is not yet applied.
// Readiness uses it: an instance must not take traffic on an old schema.
func Pending(ctx context.Context, d *db.DB, set Set) (bool, error) {
	p, err := set.provider(d)
	if err != nil {
		return false, err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("check migrations: %w", err)
	}
	return pending, nil
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
