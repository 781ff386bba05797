package store_test

import (
	"testing"

	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/db"
)

// TestMigration18RunsAgainAfterAnInterruption: on PostgreSQL migration 18
// runs outside a transaction (its ALTER must not hold the table's lock
// through the backfill, QA), so a migrate killed between its statements
// leaves the column without the version recorded: run again, it completes
// and fills the plans' basis.
func TestMigration18RunsAgainAfterAnInterruption(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		if f.d.Dialect != db.Postgres {
			t.Skip("SQLite runs migration 18 in one transaction")
		}
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00"))
		prov, err := store.Migrations.Provider(f.d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := prov.DownTo(f.ctx, 17); err != nil {
			t.Fatal(err)
		}
		f.exec(`ALTER TABLE plans ADD COLUMN dose_basis TEXT NOT NULL DEFAULT ''`) // the first statement, then killed
		if _, err := prov.UpTo(f.ctx, 18); err != nil {
			t.Fatalf("migration 18 run again: %v", err)
		}
		var basis string
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT dose_basis FROM plans WHERE id = $1`, pl.ID).Scan(&basis); err != nil {
			t.Fatal(err)
		}
		if basis != `{"zone" : "America/New_York"}` {
			t.Errorf("dose basis after the rerun: %q", basis)
		}
	})
}
