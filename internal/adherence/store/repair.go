package store

import (
	"context"
	"fmt"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// repairEditedMigrations is the Repair of Migrations. Three migrations
// were edited after releases had applied them: 00002 gained
// events.request_id (2026-12-01), 00003 notifications.level and the index
// inbound_messages_address (the same day). A database created before
// then has none of them: on SQLite migration 00004, which copies the
// events table, failed on the missing column and left the database half
// migrated; on PostgreSQL every migration applied and the API became
// ready, but every event was refused (QA). What is missing is added here,
// before the pending migrations run; a database that has them is left
// alone.
func repairEditedMigrations(ctx context.Context, d *db.DB) error {
	for _, c := range []struct{ table, column, add string }{
		{"events", "request_id", `ALTER TABLE events ADD COLUMN request_id TEXT NOT NULL DEFAULT ''`},
		{"notifications", "level", `ALTER TABLE notifications ADD COLUMN level INTEGER NOT NULL DEFAULT 0`},
	} {
		exists, columns, err := migrate.Columns(ctx, d, c.table)
		if err != nil {
			return err
		}
		if !exists || columns[c.column] {
			continue
		}
		if _, err := d.SQL.ExecContext(ctx, c.add); err != nil {
			return fmt.Errorf("add %s.%s: %w", c.table, c.column, err)
		}
	}
	exists, _, err := migrate.Columns(ctx, d, "inbound_messages")
	if err != nil {
		return err
	}
	if exists {
		if _, err := d.SQL.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS inbound_messages_address ON inbound_messages (address_key, received_at)`); err != nil {
			return fmt.Errorf("create inbound_messages_address: %w", err)
		}
	}
	return nil
}
