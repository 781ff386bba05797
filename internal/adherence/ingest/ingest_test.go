package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/ingest"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/phi"
)

var sets = []migrate.Set{audit.Migrations, store.Migrations}

// setup returns a store with one patient and plan, and an event maker.
func setup(t *testing.T, d *db.DB) (*store.Store, func(id string) store.EventInput) {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := store.New(d, audit.New(d, clock, nil), clock)
	o, err := st.CreateOrg(ctx, "Ingest")
	if err != nil {
		t.Fatal(err)
	}
	a := adherence.Actor{ID: "key-1", Role: "integration", OrgID: o.ID}
	p := adherence.Patient{OrgID: o.ID, GivenName: phi.New("Ida"), TimeZone: "UTC"}
	if err := st.CreatePatient(ctx, a, &p); err != nil {
		t.Fatal(err)
	}
	pl := adherence.Plan{OrgID: o.ID, PatientID: p.ID, Medication: adherence.Medication{RxNorm: "314076", Display: "lisinopril"},
		Timing: schedule.Timing{Repeat: &schedule.Repeat{TimeOfDay: []string{"12:00"}}}}
	if err := st.CreatePlan(ctx, a, &pl); err != nil {
		t.Fatal(err)
	}
	return st, func(id string) store.EventInput {
		return store.EventInput{Actor: a, Event: adherence.Event{OrgID: o.ID, PatientID: p.ID, PlanID: pl.ID,
			Kind: adherence.EventTaken, Source: adherence.SourceApp, ClientEventID: id, OccurredAt: now, ReceivedAt: now}}
	}
}

// TestGroupCommit submits from many goroutines at once: every caller gets
// its own outcome, and everything answered is stored exactly once.
func TestGroupCommit(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		st, ev := setup(t, d)
		reg := prometheus.NewRegistry()
		m, err := ingest.NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		g := ingest.New(st, m, 0)
		stop := g.Start(committers(d))
		const n = 200
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Every tenth caller repeats caller i-1's event.
				key := fmt.Sprintf("e-%d", i)
				if i%10 == 9 {
					key = fmt.Sprintf("e-%d", i-1)
				}
				out, err := g.Submit(context.Background(), []store.EventInput{ev(key)}, time.Now())
				if err != nil || out[0].Err != nil {
					t.Errorf("caller %d: %v / %+v", i, err, out)
					return
				}
				ids[i] = out[0].Event.ID
			}()
		}
		wg.Wait()
		stop()
		for i := 9; i < n; i += 10 {
			if ids[i] != ids[i-1] {
				t.Errorf("caller %d got %s, caller %d got %s for the same key", i, ids[i], i-1, ids[i-1])
			}
		}
		var rows int
		if err := d.SQL.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != n-n/10 {
			t.Fatalf("%d events stored, want %d", rows, n-n/10)
		}
		if got := testutil.ToFloat64(m.Ingested.WithLabelValues("taken", "app")); got != float64(rows) {
			t.Errorf("ingested metric = %v, want %d", got, rows)
		}
		if got := testutil.ToFloat64(m.Replayed); got != float64(n/10) {
			t.Errorf("replayed metric = %v, want %d", got, n/10)
		}
		// After stop, nothing is accepted.
		if _, err := g.Submit(context.Background(), []store.EventInput{ev("late")}, time.Now()); !errors.Is(err, ingest.ErrStopped) {
			t.Fatalf("submit after stop = %v, want ErrStopped", err)
		}
	})
}

// TestFailureIsNotAcknowledged closes the database under the ingester: the
// caller gets an error, never a success.
func TestFailureIsNotAcknowledged(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		st, ev := setup(t, d)
		g := ingest.New(st, nil, 0)
		defer g.Start(committers(d))()
		if _, err := g.Submit(context.Background(), []store.EventInput{ev("before")}, time.Now()); err != nil {
			t.Fatal(err)
		}
		d.SQL.Close()
		out, err := g.Submit(context.Background(), []store.EventInput{ev("after")}, time.Now())
		if err == nil {
			t.Fatalf("submit on a closed database succeeded: %+v", out)
		}
	})
}

// committers is what serve uses: one on SQLite, several on PostgreSQL.
func committers(d *db.DB) int {
	if d.Dialect == db.Postgres {
		return 4
	}
	return 1
}
