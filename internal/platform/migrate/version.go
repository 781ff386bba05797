package migrate

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// Newer reports whether d holds a migration of sets that this binary does
// not have: a database written by a newer version of the product, which
// this one must not serve or replace another with (a restore).
func Newer(ctx context.Context, d *db.DB, sets ...Set) (bool, error) {
	for _, set := range sets {
		p, err := set.Provider(d)
		if err != nil {
			return false, err
		}
		current, target, err := p.GetVersions(ctx)
		if err != nil {
			return false, fmt.Errorf("read the schema version: %w", err)
		}
		if current > target {
			return true, nil
		}
	}
	return false, nil
}

// WarnIfNewer logs a warning when d's schema is newer than this binary's
// (Newer): a rollback to an earlier release after a later one migrated
// the database. The binary runs on it, since migrations only add (expand,
// then contract a release later), but applies none; the warning says so
// rather than "applied 0 migration(s)" alone (QA). Like Pending, it
// creates a missing version table: a command that must only read an
// unmigrated database calls it after checking that it is migrated.
func WarnIfNewer(ctx context.Context, d *db.DB, logger *slog.Logger, sets ...Set) {
	newer, err := Newer(ctx, d, sets...)
	if err != nil {
		logger.WarnContext(ctx, "could not read the database's schema version", "error", err)
		return
	}
	if newer {
		logger.WarnContext(ctx, "the database's schema is newer than this release's: a later release migrated it (this is a rollback); "+
			"this release runs on it, since migrations only add, and applies no migration")
	}
}
