package audit_test

import (
	"context"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestUpgradeFromTheFirstHeadGuard: databases made by the first text of
// migration 00001 (releases of 2026-11-22 before 01:09 UTC) kept a guard
// that let audit_head advance one record at a time; appending a batch
// failed, and with it most audited requests made at the same time (QA).
// Migrating replaces the guard, which still refuses a head moved back.
func TestUpgradeFromTheFirstHeadGuard(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		first := []string{`DROP TRIGGER audit_head_advance_only`,
			`CREATE TRIGGER audit_head_advance_only BEFORE UPDATE ON audit_head
			WHEN NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1
			BEGIN
			    SELECT RAISE(ABORT, 'audit_head only advances one record at a time');
			END`}
		if d.Dialect == db.Postgres {
			first = []string{`CREATE OR REPLACE FUNCTION audit_head_advance_only() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
			    IF TG_OP <> 'UPDATE' OR NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1 THEN
			        RAISE EXCEPTION 'audit_head only advances one record at a time';
			    END IF;
			    RETURN NEW;
			END;
			$$`}
		}
		for _, q := range first {
			if _, err := d.SQL.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if _, err := migrate.Up(ctx, d, sets...); err != nil {
			t.Fatal(err)
		}
		l := audit.New(d, newClock().now, nil)
		if err := l.AppendAll(ctx, []audit.Record{sample(1), sample(2), sample(3)}); err != nil {
			t.Fatalf("append a batch after the upgrade: %v", err)
		}
		verifyOK(t, l, 3)
		if _, err := d.SQL.ExecContext(ctx, `UPDATE audit_head SET seq = 1`); err == nil {
			t.Error("the head moved back after the upgrade")
		}
		// Done once: the repair finds nothing more to do.
		if err := audit.Migrations.Repair(ctx, d); err != nil {
			t.Fatal(err)
		}
	})
}
