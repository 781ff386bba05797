package store_test

import (
	"context"
	"testing"

	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// TestReportIndexesMigrationResumes: on PostgreSQL, migration 12 builds the
// report indexes CONCURRENTLY outside a transaction (a plain rebuild would
// lock dose_instances against every read and write for its whole build),
// so a run stopped midway leaves part of its work done. Run again from
// such a state — the widened index built under its temporary name and the
// old one already dropped, or an invalid leftover of a failed build — it
// completes, and down and up again it leaves the same indexes.
func TestReportIndexesMigrationResumes(t *testing.T) {
	d := dbtest.Postgres(t, sets...)
	ctx := context.Background()
	p, err := store.Migrations.Provider(d)
	if err != nil {
		t.Fatal(err)
	}
	indexes := func() map[string]string {
		t.Helper()
		rows, err := d.SQL.QueryContext(ctx, `SELECT c.relname, pg_get_indexdef(c.oid) || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END
			FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
			WHERE c.relname IN ('dose_instances_patient_due', 'dose_instances_patient_due_new', 'events_orphans')`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var name, def string
			if err := rows.Scan(&name, &def); err != nil {
				t.Fatal(err)
			}
			out[name] = def
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := indexes()
	if len(want) != 2 || want["dose_instances_patient_due"] == "" || want["events_orphans"] == "" {
		t.Fatalf("after the migrations: %v, want dose_instances_patient_due and events_orphans", want)
	}
	exec := func(sql string) {
		t.Helper()
		if _, err := d.SQL.ExecContext(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	resume := func(state string) {
		t.Helper()
		if _, err := p.UpTo(ctx, 12); err != nil {
			t.Fatalf("migration 12 run again %s: %v", state, err)
		}
		if got := indexes(); len(got) != len(want) || got["dose_instances_patient_due"] != want["dose_instances_patient_due"] || got["events_orphans"] != want["events_orphans"] {
			t.Fatalf("migration 12 run again %s: indexes %v, want %v", state, got, want)
		}
	}

	if _, err := p.DownTo(ctx, 11); err != nil {
		t.Fatalf("down to 11: %v", err)
	}
	if got := indexes(); len(got) != 1 || got["dose_instances_patient_due"] == want["dose_instances_patient_due"] {
		t.Fatalf("down to 11: indexes %v, want only the narrow dose_instances_patient_due", got)
	}
	resume("after down")

	// Stopped after the old index was dropped, before the rename.
	if _, err := p.DownTo(ctx, 11); err != nil {
		t.Fatal(err)
	}
	exec(`CREATE INDEX dose_instances_patient_due_new ON dose_instances (org_id, patient_id, due_at) INCLUDE (status, double_dose)`)
	exec(`DROP INDEX dose_instances_patient_due`)
	resume("stopped before the rename")

	// A failed concurrent build leaves an invalid index under the
	// temporary name; the orphans' index was never built.
	if _, err := p.DownTo(ctx, 11); err != nil {
		t.Fatal(err)
	}
	exec(`CREATE INDEX dose_instances_patient_due_new ON dose_instances (org_id)`)
	exec(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'dose_instances_patient_due_new'::regclass`)
	resume("after a failed build")
}
