package store_test

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// TestUpdatePatientRetriedOnDeadlock: a change of zone locks the patient,
// then its plans. A transaction that locks them the other way round (plans,
// then patient) deadlocks with it, and PostgreSQL aborts one of the two:
// UpdatePatient was not retried, as SetPatientActive and UpdatePlan are,
// and its caller got a 500 (QA). Here the other transaction is made to
// outwait the deadlock check, so UpdatePatient is the one aborted; it is
// retried, and succeeds once the other commits.
func TestUpdatePatientRetriedOnDeadlock(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		if f.d.Dialect != db.Postgres {
			t.Skip("SQLite has one writer: its transactions cannot deadlock")
		}
		p := f.patient("America/New_York")
		f.plan(p.ID, timeOfDay("08:00"))

		other, err := f.d.SQL.BeginTx(f.ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Rollback()
		if _, err := other.ExecContext(f.ctx, `SET LOCAL deadlock_timeout = '30s'`); err != nil {
			t.Fatal(err)
		}
		if _, err := other.ExecContext(f.ctx, `SELECT id FROM plans WHERE patient_id = $1 FOR UPDATE`, p.ID); err != nil {
			t.Fatal(err)
		}

		updated := make(chan error, 1)
		version := p.Version
		p.TimeZone = "Europe/Paris"
		go func() { updated <- f.s.UpdatePatient(f.ctx, f.actor, &p, version) }()
		// UpdatePatient holds the patient and waits for the plans.
		waitFor(t, f, `SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)
		locked := make(chan error, 1)
		go func() {
			_, err := other.ExecContext(f.ctx, `SELECT id FROM patients WHERE id = $1 FOR UPDATE`, p.ID)
			locked <- err
		}()
		select {
		case err := <-locked:
			if err != nil {
				t.Fatalf("the other transaction: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the other transaction did not get the patient")
		}
		if err := other.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-updated; err != nil {
			t.Fatalf("UpdatePatient after a deadlock: %v", err)
		}
		got, err := f.s.GetPatient(f.ctx, f.org, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.TimeZone != "Europe/Paris" {
			t.Errorf("zone = %s, want Europe/Paris", got.TimeZone)
		}
	})
}

// waitFor polls query (one boolean) until it is true, for up to 30 s.
func waitFor(t *testing.T, f *fixture, query string) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		var ok bool
		if err := f.d.SQL.QueryRowContext(f.ctx, query).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
	}
	t.Fatalf("timed out waiting for: %s", query)
}
