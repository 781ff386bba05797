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
		stop(context.Background())
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
		defer g.Start(committers(d))(context.Background())
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

// gateRecorder records the client event ids of each call and holds the
// call whose first event is "hold" until hold is closed.
type gateRecorder struct {
	mu      sync.Mutex
	seen    map[string]bool
	started chan struct{}
	hold    chan struct{}
}

func (r *gateRecorder) RecordEvents(_ context.Context, in []store.EventInput) ([]store.EventOutcome, error) {
	r.mu.Lock()
	for _, e := range in {
		r.seen[e.Event.ClientEventID] = true
	}
	r.mu.Unlock()
	if in[0].Event.ClientEventID == "hold" {
		close(r.started)
		<-r.hold
	}
	return make([]store.EventOutcome, len(in)), nil
}

func (r *gateRecorder) recorded(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}

// TestSmallRequestsGoToTheFirstCommitter: with two committers, requests
// of a few events are committed by the first one only (a second group of
// them would only wait for the audit chain head), while a batch is taken
// by whichever committer is free.
func TestSmallRequestsGoToTheFirstCommitter(t *testing.T) {
	rec := &gateRecorder{seen: map[string]bool{}, started: make(chan struct{}), hold: make(chan struct{})}
	g := ingest.New(rec, nil, 0)
	stop := g.Start(2)
	defer stop(context.Background())
	var once sync.Once
	release := func() { once.Do(func() { close(rec.hold) }) }
	defer release() // before stop, which waits for the held group
	ctx := context.Background()
	one := func(id string) []store.EventInput {
		return []store.EventInput{{Event: adherence.Event{ClientEventID: id}}}
	}
	done := make(chan string, 3)
	submit := func(name string, items []store.EventInput) {
		go func() {
			if _, err := g.Submit(ctx, items, time.Now()); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			done <- name
		}()
	}
	submit("hold", one("hold"))
	<-rec.started // the first committer is busy with it

	batch := make([]store.EventInput, 100)
	for i := range batch {
		batch[i].Event.ClientEventID = fmt.Sprintf("b%d", i)
	}
	submit("batch", batch)
	select {
	case name := <-done:
		if name != "batch" {
			t.Fatalf("%s answered first, want the batch", name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a batch waited for the busy first committer: the second one did not take it")
	}

	submit("single", one("single"))
	time.Sleep(100 * time.Millisecond)
	if rec.recorded("single") {
		t.Fatal("a single event was recorded by the second committer while the first was busy")
	}
	release()
	for range 2 {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("requests not answered after the first committer was released")
		}
	}
	if !rec.recorded("single") {
		t.Error("the single event was never recorded")
	}
}

// TestStopIsBoundedWhenTheDatabaseStalls stalls the connection to
// PostgreSQL with groups in flight and queued, then stops the ingester
// with a short deadline: stop returns soon after it, and every request is
// answered with an error (none acknowledged). Each group waited for its
// own 30 s commit timeout, one after the other, so a server asked to stop
// took minutes, past the 30 s ECS gives it before SIGKILL (QA).
func TestStopIsBoundedWhenTheDatabaseStalls(t *testing.T) {
	d, proxy := dbtest.StallablePostgres(t, db.Options{MaxConns: 10, CloseTimeout: 500 * time.Millisecond}, sets...)
	st, ev := setup(t, d)
	g := ingest.New(st, nil, 2) // two events a group: many groups
	stop := g.Start(2)
	if _, err := g.Submit(context.Background(), []store.EventInput{ev("before")}, time.Now()); err != nil {
		t.Fatal(err)
	}
	proxy.Stall()
	const n = 12
	errsc := make(chan error, n)
	for i := range n {
		go func() {
			_, err := g.Submit(context.Background(), []store.EventInput{ev(fmt.Sprint("stalled-", i)), ev(fmt.Sprint("stalled-b", i))}, time.Now())
			errsc <- err
		}()
	}
	time.Sleep(300 * time.Millisecond) // queued, and two groups in flight
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		stop(ctx)
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("stop did not return within 20 s of its 200 ms deadline with the database stalled")
	}
	for range n {
		select {
		case err := <-errsc:
			if err == nil {
				t.Error("a request was acknowledged while the database was stalled")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a request was left unanswered after stop returned")
		}
	}
}
