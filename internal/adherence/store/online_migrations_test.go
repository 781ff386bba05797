package store_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/syncbuf"
)

// TestOnlineMigrationsBlockNoWrites: on PostgreSQL migrations 12 and 14
// rebuild indexes of dose_instances and notifications CONCURRENTLY. A plain
// CREATE INDEX (or DROP INDEX) waiting for a transaction that writes the
// table made every later write of the table wait too: during a blue/green
// deploy the version still serving could not record a dose or a reminder
// (QA). And the migrations' lock_timeout (1 s) stopped a CREATE INDEX
// CONCURRENTLY waiting for an older transaction, which was then run again
// from the start: an 84 s build at 250,000 patients, started over for as
// long as reports kept transactions open. Here a writer holds its
// transaction open while the migration runs: other writes go through
// meanwhile, the build waits without being restarted, and once the writer
// commits the migration ends with the new index.
func TestOnlineMigrationsBlockNoWrites(t *testing.T) {
	for _, tc := range []struct {
		version      int64
		table, index string
		want         string // in the index's definition after the migration
	}{
		{12, "dose_instances", "dose_instances_patient_due", "INCLUDE (status, double_dose)"},
		{14, "notifications", "notifications_in_flight", "'claimed'"},
	} {
		t.Run(tc.index, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				if f.d.Dialect != db.Postgres {
					t.Skip("SQLite has one writer: its migrations are one transaction each")
				}
				prov, err := store.Migrations.Provider(f.d)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := prov.DownTo(f.ctx, tc.version-1); err != nil {
					t.Fatal(err)
				}
				if def := indexDef(t, f, tc.index); strings.Contains(def, tc.want) {
					t.Fatalf("after migrating down to %d: %s", tc.version-1, def)
				}
				write := `UPDATE ` + tc.table + ` SET org_id = org_id WHERE false`

				// A write of the serving version, its transaction still open.
				writer, err := f.d.SQL.BeginTx(f.ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer writer.Rollback()
				if _, err := writer.ExecContext(f.ctx, write); err != nil {
					t.Fatal(err)
				}

				var logs syncbuf.Buffer
				f.d.Logger = slog.New(slog.NewTextHandler(&logs, nil))
				defer func() { f.d.Logger = nil }()
				migrated := make(chan error, 1)
				go func() {
					_, err := migrate.Up(f.ctx, f.d, store.Migrations)
					migrated <- err
				}()
				build := buildWaiting(t, f, migrated)
				// Other writes go through for a while, longer than a
				// lock_timeout and its retry pause.
				for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
					if err := writeWithin(f.ctx, f.d, write, "500ms"); err != nil {
						t.Fatalf("a write of %s during migration %d: %v", tc.table, tc.version, err)
					}
				}
				var still bool
				err = f.d.SQL.QueryRowContext(f.ctx, `SELECT count(*) = 1 FROM pg_stat_activity
					WHERE pid || ' since ' || query_start = $1 AND wait_event_type = 'Lock'`, build).Scan(&still)
				if err != nil {
					t.Fatal(err)
				}
				if !still {
					t.Fatalf("the index build (session %s) no longer waits for the writer: it was stopped and the migration went on or started again", build)
				}
				select {
				case err := <-migrated:
					t.Fatalf("migration %d ended (%v) before the transaction it must wait for", tc.version, err)
				default:
				}
				if err := writer.Commit(); err != nil {
					t.Fatal(err)
				}
				select {
				case err := <-migrated:
					if err != nil {
						t.Fatalf("migrate: %v", err)
					}
				case <-time.After(time.Minute):
					t.Fatalf("migration %d did not end after the writer committed", tc.version)
				}
				if def := indexDef(t, f, tc.index); !strings.Contains(def, tc.want) {
					t.Errorf("after migration %d: %s, want %s", tc.version, def, tc.want)
				}
				// The operator is told why migrate waits.
				if !strings.Contains(logs.String(), "building an index online") || !strings.Contains(logs.String(), "index="+tc.index) {
					t.Errorf("the online build of %s was not logged: %q", tc.index, logs.String())
				}
			})
		})
	}
}

// TestMigration14RunsAgainAfterAnInterruption: a migration killed during
// its build leaves notifications_in_flight_new behind (invalid, or built
// but not swapped in); the next run replaces it.
func TestMigration14RunsAgainAfterAnInterruption(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		if f.d.Dialect != db.Postgres {
			t.Skip("SQLite runs migration 14 in one transaction")
		}
		prov, err := store.Migrations.Provider(f.d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := prov.DownTo(f.ctx, 13); err != nil {
			t.Fatal(err)
		}
		f.exec(`CREATE INDEX notifications_in_flight_new ON notifications (id)`)
		if _, err := prov.UpTo(f.ctx, 14); err != nil {
			t.Fatalf("migration 14 run again: %v", err)
		}
		if def := indexDef(t, f, "notifications_in_flight"); !strings.Contains(def, "claimed") {
			t.Errorf("after the rerun: %s", def)
		}
		var left int
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT count(*) FROM pg_class WHERE relname = 'notifications_in_flight_new'`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left != 0 {
			t.Error("notifications_in_flight_new is still there")
		}
	})
}

// indexDef returns the definition of index, failing the test unless it
// exists and is valid.
func indexDef(t *testing.T, f *fixture, index string) string {
	t.Helper()
	var def string
	var valid bool
	err := f.d.SQL.QueryRowContext(f.ctx, `SELECT pg_get_indexdef(indexrelid), indisvalid FROM pg_index
		WHERE indexrelid = $1::regclass`, index).Scan(&def, &valid)
	if err != nil {
		t.Fatalf("%s: %v", index, err)
	}
	if !valid {
		t.Fatalf("%s is not valid", index)
	}
	return def
}

// buildWaiting waits until a CREATE INDEX CONCURRENTLY waits for a lock and
// returns its session and statement start; it fails the test if the
// migration ended first.
func buildWaiting(t *testing.T, f *fixture, migrated <-chan error) string {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-migrated:
			t.Fatalf("the migration ended (%v) before the transaction it must wait for", err)
		default:
		}
		var build string
		err := f.d.SQL.QueryRowContext(f.ctx, `SELECT pid || ' since ' || query_start FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%CREATE INDEX CONCURRENTLY%'`).Scan(&build)
		if err == nil {
			return build
		}
		if !errors.Is(err, sql.ErrNoRows) {
			t.Fatal(err)
		}
	}
	t.Fatal("no CREATE INDEX CONCURRENTLY waited for the writer")
	return ""
}

// writeWithin runs write (which takes the table's lock of an insert) in a
// transaction of its own that gives up after timeout.
func writeWithin(ctx context.Context, d *db.DB, write, timeout string) error {
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SET LOCAL statement_timeout = '"+timeout+"'"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, write); err != nil {
		return err
	}
	return tx.Commit()
}
