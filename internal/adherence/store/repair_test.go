package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestUpgradeFromBeforeEditedMigrations: a database migrated to version 3
// by a release from before migrations 00002 and 00003 were edited (no
// events.request_id, notifications.level or inbound_messages_address)
// migrates to the current version and records events. On SQLite migration
// 4 failed on the missing column and left the database half migrated; on
// PostgreSQL every migration applied and every event was refused (QA).
func TestUpgradeFromBeforeEditedMigrations(t *testing.T) {
	dbtest.Each(t, nil, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		if _, err := migrate.Up(ctx, d, audit.Migrations); err != nil {
			t.Fatal(err)
		}
		p, err := store.Migrations.Provider(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.UpTo(ctx, 3); err != nil {
			t.Fatal(err)
		}
		// What the migrations' earlier texts created.
		for _, q := range []string{
			`ALTER TABLE events DROP COLUMN request_id`,
			`ALTER TABLE notifications DROP COLUMN level`,
			`DROP INDEX inbound_messages_address`,
		} {
			if _, err := d.SQL.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}

		if _, err := migrate.Up(ctx, d, sets...); err != nil {
			t.Fatalf("migrate a database from before the edits: %v", err)
		}
		if pending, err := migrate.Pending(ctx, d, sets...); err != nil || pending {
			t.Fatalf("pending after the upgrade: %v, %v", pending, err)
		}
		for table, column := range map[string]string{"events": "request_id", "notifications": "level"} {
			if _, cols, err := migrate.Columns(ctx, d, table); err != nil || !cols[column] {
				t.Errorf("%s.%s after the upgrade: %v, %v", table, column, cols[column], err)
			}
		}
		f := newFixture(t, d)
		pat := f.patient("UTC")
		pl := f.plan(pat.ID, timeOfDay("08:00"))
		out := f.record(f.ev(pat.ID, pl.ID, adherence.EventTaken, start.Add(8*60*60*1e9), "after-upgrade"))
		if out[0].Err != nil {
			t.Fatalf("an event after the upgrade: %v", out[0].Err)
		}
		// Migrating again changes nothing.
		if n, err := migrate.Up(ctx, d, sets...); err != nil || n != 0 {
			t.Fatalf("migrate again: %d, %v", n, err)
		}
	})
}

// TestUpgradeFromTheDoseZoneMigration18: releases of 2026-12-07 applied a
// first text of migration 00018, which added plans.dose_zone; the current
// text adds plans.dose_basis under the same version, so a database
// migrated by those releases never got it and every plan created or
// resumed failed (QA). Migrating it adds the column, filled from dose_zone
// (else the patient's zone), and plans work again.
func TestUpgradeFromTheDoseZoneMigration18(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		f := newFixture(t, d)
		moved := f.patient("America/New_York")
		pl := f.plan(moved.ID, timeOfDay("08:00"))
		unknown := f.patient("Asia/Tokyo")
		pl2 := f.plan(unknown.ID, timeOfDay("09:00"))
		// What the first text of 00018 left: dose_zone, known for the first
		// plan only, and no dose_basis.
		for _, q := range []string{
			`ALTER TABLE plans DROP COLUMN dose_basis`,
			`ALTER TABLE plans ADD COLUMN dose_zone TEXT NOT NULL DEFAULT ''`,
			`UPDATE plans SET dose_zone = 'Europe/Paris' WHERE id = '` + pl.ID + `'`,
		} {
			if _, err := d.SQL.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}

		if _, err := migrate.Up(ctx, d, sets...); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		for id, want := range map[string]string{pl.ID: "Europe/Paris", pl2.ID: "Asia/Tokyo"} {
			var basis string
			if err := d.SQL.QueryRowContext(ctx, `SELECT dose_basis FROM plans WHERE id = $1`, id).Scan(&basis); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(basis, `"zone"`) || !strings.Contains(basis, `"`+want+`"`) {
				t.Errorf("plan %s: dose_basis %q, want the zone %s", id, basis, want)
			}
		}
		// Plans are created, paused and resumed again.
		f.plan(moved.ID, timeOfDay("20:00"))
		if _, err := f.s.SetPlanStatus(ctx, f.actor, f.org, pl2.ID, adherence.PlanPaused); err != nil {
			t.Fatalf("pause: %v", err)
		}
		if _, err := f.s.SetPlanStatus(ctx, f.actor, f.org, pl2.ID, adherence.PlanActive); err != nil {
			t.Fatalf("resume: %v", err)
		}
		// Done once: migrating again changes nothing.
		if err := store.Migrations.Repair(ctx, d); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDoseZoneRepairDoesNotQueueTheServingVersion: on PostgreSQL the
// repair of a database migrated with plans.dose_zone waits a second at a
// time for a long transaction on plans (a report of the release still
// serving), letting the queries queued behind it through in between, and
// completes once the transaction ends. In one transaction with no bound,
// every query of plans waited for the report (QA re-test: 12.7 s).
func TestDoseZoneRepairDoesNotQueueTheServingVersion(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		if d.Dialect != db.Postgres {
			t.Skip("SQLite has one writer")
		}
		ctx := t.Context()
		f := newFixture(t, d)
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00"))
		for _, q := range []string{
			`ALTER TABLE plans DROP COLUMN dose_basis`,
			`ALTER TABLE plans ADD COLUMN dose_zone TEXT NOT NULL DEFAULT ''`,
		} {
			if _, err := d.SQL.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		report, err := d.SQL.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer report.Rollback()
		var n int
		if err := report.QueryRowContext(ctx, `SELECT count(*) FROM plans`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := migrate.Up(ctx, d, sets...)
			done <- err
		}()
		// Reads of the serving release while the repair waits.
		for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			tx, err := d.SQL.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, `SET LOCAL statement_timeout = '2s'`); err != nil {
				t.Fatal(err)
			}
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM plans`).Scan(&n); err != nil {
				t.Fatalf("a read of plans while the repair waited: %v", err)
			}
			tx.Rollback()
		}
		select {
		case err := <-done:
			t.Fatalf("migrate ended (%v) while the report held plans", err)
		default:
		}
		if err := report.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("migrate after the report: %v", err)
		}
		var basis string
		if err := d.SQL.QueryRowContext(ctx, `SELECT dose_basis FROM plans WHERE id = $1`, pl.ID).Scan(&basis); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(basis, "America/New_York") {
			t.Errorf("dose_basis after the repair: %q", basis)
		}
	})
}

// TestRepairLeavesACurrentDatabaseAlone: on a database migrated by this
// release the repair finds nothing to do.
func TestRepairLeavesACurrentDatabaseAlone(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		if err := store.Migrations.Repair(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	})
}

// TestMigration16RewritesInstantsInUTC: on SQLite, reminder times that a
// release from before 2026-12-06 wrote in the patient's offset are
// rewritten in UTC, so that the text comparisons of the scheduling read
// them as the instants they are. A reminder held for quiet hours in
// Auckland (remind_at 08:35+13:00) was never sent after the upgrade (QA).
func TestMigration16RewritesInstantsInUTC(t *testing.T) {
	f := newFixture(t, dbtest.SQLite(t, sets...))
	p := f.patient("Pacific/Auckland")
	pl := f.plan(p.ID, timeOfDay("08:00"))
	ds := f.allDoses(pl.ID)
	if len(ds) < 3 {
		t.Fatalf("%d doses", len(ds))
	}
	cases := []struct {
		stored, want string
	}{
		{"2026-12-07 08:35:00+13:00", "2026-12-06 19:35:00+00:00"},
		{"2026-12-07 08:35:00.5+13:00", "2026-12-06 19:35:00.5+00:00"},
		{"2026-12-06 19:40:00+00:00", "2026-12-06 19:40:00+00:00"}, // already UTC: left alone
	}
	for i, c := range cases {
		f.exec(`UPDATE dose_instances SET remind_at = $1 WHERE id = $2`, c.stored, ds[i].ID)
	}
	p16, err := store.Migrations.Provider(f.d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p16.DownTo(f.ctx, 15); err != nil {
		t.Fatal(err)
	}
	if _, err := p16.UpTo(f.ctx, 16); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		var got string
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT CAST(remind_at AS TEXT) FROM dose_instances WHERE id = $1`, ds[i].ID).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("remind_at %s became %s, want %s", c.stored, got, c.want)
		}
	}
}
