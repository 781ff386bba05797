package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// TestEventsKeepTheirPlan: an event always names an existing plan of its
// patient and organization. On PostgreSQL that is kept by migration 13's
// triggers (an INSERT is checked as a whole; plans are not deleted or
// re-keyed, nor are events), on SQLite by the events' deferred foreign key.
// Either way the statement is refused and nothing changes.
func TestEventsKeepTheirPlan(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		other := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00"))
		f.record(f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 5), "kept"))

		// What the refusal says: the triggers' own message on
		// PostgreSQL, SQLite's foreign key error.
		refused := func(what string, err error, pgWant string) {
			t.Helper()
			want := "FOREIGN KEY"
			if f.d.Dialect == db.Postgres {
				want = pgWant
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("%s: %v, want it refused (%q)", what, err, want)
			}
		}
		_, err := f.d.SQL.ExecContext(f.ctx, `DELETE FROM plans WHERE id = $1`, pl.ID)
		refused("delete the plan", err, "plans are not deleted")
		_, err = f.d.SQL.ExecContext(f.ctx, `UPDATE plans SET patient_id = $1 WHERE id = $2`, other.ID, pl.ID)
		refused("move the plan to another patient", err, "a plan keeps its id, org_id and patient_id")
		_, err = f.d.SQL.ExecContext(f.ctx, `UPDATE events SET patient_id = $1 WHERE client_event_id = 'kept'`, other.ID)
		refused("move the event to another patient", err, "an event keeps its org_id, patient_id and plan_id")

		// One statement inserting a good row and a row naming no plan of
		// its patient: refused whole.
		insert := `INSERT INTO events (id, org_id, patient_id, plan_id, kind, occurred_at, received_at, source,
			client_event_id, result, actor_id) VALUES
			($1, $2, $3, $4, 'taken', $5, $5, 'app', 'good', 'scored', 'x'),
			($6, $2, $7, $4, 'taken', $5, $5, 'app', 'bad', 'scored', 'x')`
		_, err = f.d.SQL.ExecContext(f.ctx, insert, "0b0e0000-0000-7000-8000-000000000001", f.org, pat.ID, pl.ID, f.now, "0b0e0000-0000-7000-8000-000000000002", other.ID)
		refused("insert an event naming another patient's plan", err, "not a plan of its patient and organization")

		if n := f.count(`SELECT COUNT(*) FROM plans WHERE id = $1 AND patient_id = $2`, pl.ID, pat.ID); n != 1 {
			t.Fatalf("%d plans as created, want 1", n)
		}
		if n := f.count(`SELECT COUNT(*) FROM events WHERE patient_id = $1 AND plan_id = $2`, pat.ID, pl.ID); n != 1 {
			t.Fatalf("%d events of the plan, want only the recorded one", n)
		}
		if n := f.count(`SELECT COUNT(*) FROM events`); n != 1 {
			t.Fatalf("%d events, want 1", n)
		}

		// Changes that keep the references still go through: the plan's
		// other columns, a key set to the value it has, an event's result.
		f.exec(`UPDATE plans SET dose = '2 tablets', patient_id = $1 WHERE id = $2`, pat.ID, pl.ID)
		f.exec(`UPDATE events SET result = result, plan_id = $1 WHERE client_event_id = 'kept'`, pl.ID)
	})
}

// TestEventsPlanGuardMigration: on PostgreSQL, migration 13 down puts the
// events' foreign key back (the stored events satisfy it) and removes the
// triggers; up again removes it and puts them back.
func TestEventsPlanGuardMigration(t *testing.T) {
	d := dbtest.Postgres(t, sets...)
	f := newFixture(t, d)
	ctx := context.Background()
	pat := f.patient("America/New_York")
	pl := f.plan(pat.ID, timeOfDay("08:00"))
	f.record(f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 5), "kept"))
	p, err := store.Migrations.Provider(d)
	if err != nil {
		t.Fatal(err)
	}
	state := func() (fk, triggers int) {
		t.Helper()
		fk = f.count(`SELECT COUNT(*) FROM pg_constraint WHERE conname = 'events_org_id_patient_id_plan_id_fkey'`)
		triggers = f.count(`SELECT COUNT(*) FROM pg_trigger WHERE tgname IN ('events_plan_exists', 'plans_no_delete', 'plans_keep_keys', 'events_keep_plan')`)
		return fk, triggers
	}
	if fk, tr := state(); fk != 0 || tr != 4 {
		t.Fatalf("after the migrations: %d foreign key, %d of 4 triggers; want none and all", fk, tr)
	}
	if _, err := p.DownTo(ctx, 12); err != nil {
		t.Fatal(err)
	}
	if fk, tr := state(); fk != 1 || tr != 0 {
		t.Fatalf("down to 12: %d foreign key, %d triggers; want the foreign key back and no trigger", fk, tr)
	}
	if _, err := p.UpTo(ctx, 13); err != nil {
		t.Fatal(err)
	}
	if fk, tr := state(); fk != 0 || tr != 4 {
		t.Fatalf("up to 13: %d foreign key, %d of 4 triggers; want none and all", fk, tr)
	}
	if n := f.count(`SELECT COUNT(*) FROM events WHERE client_event_id = 'kept'`); n != 1 {
		t.Fatalf("%d events kept, want 1", n)
	}
}
