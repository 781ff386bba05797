package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// repairHeadGuard is the Repair of Migrations. Migration 00001 was edited
// after releases had applied it (2026-11-22, 01:09 UTC): its first text
// let audit_head advance one record at a time, and appending a batch (the
// group commit of concurrent requests, AppendAll) moves it several. A
// database created by those releases kept the first guard: most audited
// requests made at the same time failed with 500 (QA). The guard is
// replaced by the current text; a database that has it is left alone.
func repairHeadGuard(ctx context.Context, d *db.DB) error {
	if d.Dialect == db.Postgres {
		var src string
		err := d.SQL.QueryRowContext(ctx, `SELECT prosrc FROM pg_proc
			WHERE proname = 'audit_head_advance_only' AND pronamespace = current_schema()::regnamespace`).Scan(&src)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // a new database
		}
		if err != nil {
			return fmt.Errorf("read the audit head's guard: %w", err)
		}
		if !strings.Contains(src, "OLD.seq + 1") {
			return nil
		}
		if _, err := d.SQL.ExecContext(ctx, headGuardPostgres); err != nil {
			return fmt.Errorf("replace the audit head's guard: %w", err)
		}
		return nil
	}
	var text string
	err := d.SQL.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_head_advance_only'`).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the audit head's guard: %w", err)
	}
	if !strings.Contains(text, "OLD.seq + 1") {
		return nil
	}
	err = d.InTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `DROP TRIGGER audit_head_advance_only`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, headGuardSQLite)
		return err
	})
	if err != nil {
		return fmt.Errorf("replace the audit head's guard: %w", err)
	}
	return nil
}

// The guard as migrations/*/00001_audit.sql creates it now.
const (
	headGuardPostgres = `CREATE OR REPLACE FUNCTION audit_head_advance_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.id <> OLD.id OR NEW.seq <= OLD.seq
       OR NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq AND hash = NEW.hash) THEN
        RAISE EXCEPTION 'audit_head only advances, to the last appended record';
    END IF;
    RETURN NEW;
END;
$$`
	headGuardSQLite = `CREATE TRIGGER audit_head_advance_only BEFORE UPDATE ON audit_head
WHEN NEW.id <> OLD.id OR NEW.seq <= OLD.seq
    OR NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq AND hash = NEW.hash)
BEGIN
    SELECT RAISE(ABORT, 'audit_head only advances, to the last appended record');
END`
)
