package store

import (
	"context"
	"fmt"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// repairEditedMigrations is the Repair of Migrations. Migrations were
// edited after releases had applied them: 00002 gained events.request_id
// (2026-12-01), 00003 notifications.level and the index
// inbound_messages_address (the same day), and 00018 was rewritten
// (repairDoseZone). A database created before
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
		if err := migrate.AlterBriefly(ctx, d, c.add); err != nil {
			return fmt.Errorf("add %s.%s: %w", c.table, c.column, err)
		}
	}
	exists, _, err := migrate.Columns(ctx, d, "inbound_messages")
	if err != nil {
		return err
	}
	if exists {
		if err := migrate.EnsureIndex(ctx, d, "inbound_messages_address", "ON inbound_messages (address_key, received_at)"); err != nil {
			return fmt.Errorf("create inbound_messages_address: %w", err)
		}
	}
	return repairDoseZone(ctx, d)
}

// repairDoseZone: migration 00018 first added plans.dose_zone (the zone a
// plan's doses were generated in; releases of 2026-12-07 from 09:09 UTC),
// and was then rewritten, under the same version, to add plans.dose_basis
// (the zone with the anchors and timing) instead. A database migrated by
// the first text has version 18 and no dose_basis: every plan created or
// resumed failed on the missing column, and nothing said why (QA). The
// column is added here and filled from dose_zone where that knew the zone,
// else with the patient's zone as migration 00018 does. dose_zone is left
// in place: the release that reads it may still be serving (blue/green).
//
// As migration 00018 does on PostgreSQL, the ALTER holds the table's lock
// an instant (AlterBriefly) and the backfill then takes row locks only:
// in one transaction the plans table stayed locked through the backfill,
// and every query of plans of the release still serving waited, as did
// the ALTER behind a long report (QA re-test: 12.7 s). The backfill runs
// at every migration of such a database, for what an interrupted one, or
// the release still serving, left empty.
func repairDoseZone(ctx context.Context, d *db.DB) error {
	exists, columns, err := migrate.Columns(ctx, d, "plans")
	if err != nil {
		return err
	}
	if !exists || !columns["dose_zone"] {
		return nil
	}
	if !columns["dose_basis"] {
		if err := migrate.AlterBriefly(ctx, d, `ALTER TABLE plans ADD COLUMN dose_basis TEXT NOT NULL DEFAULT ''`); err != nil {
			return fmt.Errorf("add plans.dose_basis to a database migrated with plans.dose_zone: %w", err)
		}
	}
	zone := `CASE WHEN plans.dose_zone <> '' THEN plans.dose_zone ELSE patients.time_zone END`
	_, err = d.SQL.ExecContext(ctx, `UPDATE plans SET dose_basis = COALESCE((SELECT `+zoneBasisSQL(d.Dialect, zone)+`
		FROM patients WHERE patients.org_id = plans.org_id AND patients.id = plans.patient_id), '')
		WHERE dose_basis = ''`)
	if err != nil {
		return fmt.Errorf("fill plans.dose_basis from plans.dose_zone: %w", err)
	}
	return nil
}
