package worker_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/adherence/deliver"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/adherence/worker"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/jobs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/notify"
	"github.com/medplatform/medplatform/internal/platform/notify/twilio"
	"github.com/medplatform/medplatform/internal/platform/notify/twilio/twiliotest"
)

// reconcileWorld is a store with one org and a local Twilio.
type reconcileWorld struct {
	t      *testing.T
	ctx    context.Context
	d      *db.DB
	st     *store.Store
	now    time.Time
	org    string
	tw     *twiliotest.Server
	client *twilio.Client
	n      int
}

func newReconcileWorld(t *testing.T, d *db.DB) *reconcileWorld {
	t.Helper()
	w := &reconcileWorld{t: t, ctx: context.Background(), d: d, now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return w.now }
	w.st = store.New(d, audit.New(d, clock, nil), clock)
	o, err := w.st.CreateOrg(w.ctx, "Reconcile")
	if err != nil {
		t.Fatal(err)
	}
	w.org = o.ID
	if w.tw, err = twiliotest.New(twiliotest.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.tw.Close)
	if w.client, err = twilio.New(twilio.Config{BaseURL: w.tw.URL, AccountSID: w.tw.AccountSID, AuthToken: w.tw.AuthToken, From: "+15005550006"}); err != nil {
		t.Fatal(err)
	}
	return w
}

// notification inserts a notification in status with message id sid,
// accepted at accepted and last updated at updated.
func (w *reconcileWorld) notification(status, sid string, accepted, updated time.Time) int64 {
	w.t.Helper()
	w.n++
	provider := ""
	if sid != "" {
		provider = "twilio"
	}
	var acc any
	if !accepted.IsZero() {
		acc = accepted
	}
	var id int64
	err := w.d.SQL.QueryRowContext(w.ctx, `INSERT INTO notifications (org_id, idempotency_key, kind, template, channels, status,
			due_at, provider, provider_message_id, accepted_at, created_at, updated_at)
		VALUES ($1, $2, 'reminder', 'reminder', 'sms', $3, $4, $5, $6, $7, $4, $8) RETURNING id`,
		w.org, "k"+strconv.Itoa(w.n), status, updated, provider, sid, acc, updated).Scan(&id)
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

// sent sends a message through the local Twilio, sets its status there,
// and records it here as sent at accepted.
func (w *reconcileWorld) sent(twilioStatus string, accepted time.Time) (int64, string) {
	w.t.Helper()
	r, err := w.client.Send(w.ctx, notify.Message{Channel: notify.SMS, To: "+15551234567", Body: "Time for your medicine"})
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.tw.SetStatus(r.ProviderID, twilioStatus); err != nil {
		w.t.Fatal(err)
	}
	return w.notification(store.NotificationSent, r.ProviderID, accepted, accepted), r.ProviderID
}

func (w *reconcileWorld) state(id int64) (status, reason string) {
	w.t.Helper()
	if err := w.d.SQL.QueryRowContext(w.ctx, `SELECT status, reason FROM notifications WHERE id = $1`, id).Scan(&status, &reason); err != nil {
		w.t.Fatal(err)
	}
	return status, reason
}

func (w *reconcileWorld) count(q string, args ...any) int {
	w.t.Helper()
	var n int
	if err := w.d.SQL.QueryRowContext(w.ctx, q, args...).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestReconcile(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *db.DB) {
		w := newReconcileWorld(t, d)
		ago := func(d time.Duration) time.Time { return w.now.Add(-d) }
		delivered, _ := w.sent("delivered", ago(20*time.Minute))
		undelivered, _ := w.sent("undelivered", ago(20*time.Minute))
		stillSent, _ := w.sent("sent", ago(20*time.Minute))
		young, _ := w.sent("delivered", ago(5*time.Minute))
		expired, _ := w.sent("sent", ago(25*time.Hour))
		missing := w.notification(store.NotificationSent, "SM"+"0123456789abcdef0123456789abcdef", ago(30*time.Minute), ago(30*time.Minute))
		interrupted := w.notification(store.NotificationSending, "", time.Time{}, ago(11*time.Minute))
		sending := w.notification(store.NotificationSending, "", time.Time{}, ago(2*time.Minute))
		abandoned := w.notification(store.NotificationClaimed, "", time.Time{}, ago(2*time.Minute+30*time.Second))
		claimed := w.notification(store.NotificationClaimed, "", time.Time{}, ago(2*time.Minute))

		m := worker.NewReconcileMetrics(prometheus.NewRegistry())
		// Every reason and outcome starts at 0, so that the first loss
		// counts in increase().
		if n, want := testutil.CollectAndCount(m.Lost), 2; n != want {
			t.Errorf("%d lost series before any run, want %d", n, want)
		}
		if n, want := testutil.CollectAndCount(m.Checks), 4; n != want {
			t.Errorf("%d check series before any run, want %d", n, want)
		}
		rw := &worker.ReconcileWorker{Store: w.st, Twilio: w.client, Now: func() time.Time { return w.now }, Logger: discard(), Metrics: m}
		if err := rw.Work(w.ctx, &river.Job[worker.ReconcileArgs]{}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			id             int64
			status, reason string
		}{
			{delivered, store.NotificationDelivered, ""},
			{undelivered, store.NotificationUndelivered, "provider_error:30003"},
			{stillSent, store.NotificationSent, ""},
			{young, store.NotificationSent, ""}, // not checked yet
			{expired, store.NotificationLost, store.LostNoFinalStatus},
			{missing, store.NotificationLost, store.LostNotFound},
			{interrupted, store.NotificationUnknown, "interrupted_while_sending"},
			{sending, store.NotificationSending, ""},
			{abandoned, store.NotificationRetrying, store.ReasonInterruptedBeforeSending},
			{claimed, store.NotificationClaimed, ""},
		} {
			if status, reason := w.state(c.id); status != c.status || reason != c.reason {
				t.Errorf("notification %d: %s %q, want %s %q", c.id, status, reason, c.status, c.reason)
			}
		}
		if n := w.count(`SELECT COUNT(*) FROM notification_status_events WHERE source = 'reconcile'`); n != 4 {
			t.Errorf("%d reconcile status events, want 4 (one per fetched message Twilio knows)", n)
		}
		if got := testutil.ToFloat64(m.Lost.WithLabelValues(store.LostNotFound)); got != 1 {
			t.Errorf("lost (not found) = %v", got)
		}
		if got := testutil.ToFloat64(m.Lost.WithLabelValues(store.LostNoFinalStatus)); got != 1 {
			t.Errorf("lost (no final status) = %v", got)
		}
		if got := testutil.ToFloat64(m.Unknown); got != 1 {
			t.Errorf("unknown = %v", got)
		}
		if got := testutil.ToFloat64(m.Requeued); got != 1 {
			t.Errorf("requeued = %v", got)
		}

		// A second run right away fetches nothing: every stuck message was
		// just checked.
		checks := testutil.CollectAndCount(m.Checks)
		before := testutil.ToFloat64(m.Checks.WithLabelValues("unchanged")) + testutil.ToFloat64(m.Checks.WithLabelValues("updated"))
		if err := rw.Work(w.ctx, &river.Job[worker.ReconcileArgs]{}); err != nil {
			t.Fatal(err)
		}
		after := testutil.ToFloat64(m.Checks.WithLabelValues("unchanged")) + testutil.ToFloat64(m.Checks.WithLabelValues("updated"))
		if after != before || testutil.CollectAndCount(m.Checks) != checks {
			t.Errorf("the second run fetched again (%v → %v)", before, after)
		}

		// Twilio is down: the run fails and gives nothing up.
		w.now = w.now.Add(20 * time.Minute)
		w.tw.SetFailure(twiliotest.FailHTTP500)
		if err := rw.Work(w.ctx, &river.Job[worker.ReconcileArgs]{}); err == nil {
			t.Error("a run against a failing Twilio succeeded")
		}
		if status, _ := w.state(stillSent); status != store.NotificationSent {
			t.Errorf("after an outage the message is %s", status)
		}
	})
}

// failingFetcher is a Twilio whose status fetches of some messages fail.
type failingFetcher struct {
	worker.TwilioFetcher
	fail map[string]error
}

func (f failingFetcher) Fetch(ctx context.Context, sid string) (twilio.Status, error) {
	if err, ok := f.fail[sid]; ok {
		return twilio.Status{}, err
	}
	return f.TwilioFetcher.Fetch(ctx, sid)
}

// One message whose status cannot be fetched (first in line) does not
// keep the others from being reconciled: the run goes on, then reports
// the failure (River retries); the message itself is not given up. A
// refusal of our credentials stops the run: every fetch would fail.
func TestReconcileGoesOnPastAFailedFetch(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *db.DB) {
		w := newReconcileWorld(t, d)
		ago := func(d time.Duration) time.Time { return w.now.Add(-d) }
		bad, badSID := w.sent("delivered", ago(40*time.Minute)) // the longest unchecked: fetched first
		delivered, _ := w.sent("delivered", ago(20*time.Minute))
		undelivered, _ := w.sent("undelivered", ago(20*time.Minute))
		expired, _ := w.sent("sent", ago(25*time.Hour))

		m := worker.NewReconcileMetrics(prometheus.NewRegistry())
		tw := failingFetcher{TwilioFetcher: w.client, fail: map[string]error{
			badSID: &notify.Error{Provider: twilio.Name, Retryable: true, Status: 500, Err: errors.New("internal server error")},
		}}
		rw := &worker.ReconcileWorker{Store: w.st, Twilio: tw, Now: func() time.Time { return w.now }, Logger: discard(), Metrics: m}
		if err := rw.Work(w.ctx, &river.Job[worker.ReconcileArgs]{}); err == nil {
			t.Error("a run with a failed fetch reported no error")
		}
		for _, c := range []struct {
			id             int64
			status, reason string
		}{
			{bad, store.NotificationSent, ""},
			{delivered, store.NotificationDelivered, ""},
			{undelivered, store.NotificationUndelivered, "provider_error:30003"},
			{expired, store.NotificationLost, store.LostNoFinalStatus},
		} {
			if status, reason := w.state(c.id); status != c.status || reason != c.reason {
				t.Errorf("notification %d: %s %q, want %s %q", c.id, status, reason, c.status, c.reason)
			}
		}
		if got := testutil.ToFloat64(m.Checks.WithLabelValues("error")); got != 1 {
			t.Errorf("checks with outcome error = %v, want 1", got)
		}

		// Our credentials refused: the run stops at the first message.
		w.now = w.now.Add(time.Hour)
		other, otherSID := w.sent("delivered", ago(20*time.Minute))
		tw.fail[badSID] = &notify.Error{Provider: twilio.Name, Status: 401, Err: errors.New("authenticate")}
		tw.fail[otherSID] = tw.fail[badSID]
		if err := rw.Work(w.ctx, &river.Job[worker.ReconcileArgs]{}); err == nil {
			t.Error("a run whose credentials were refused reported no error")
		}
		if got := testutil.ToFloat64(m.Checks.WithLabelValues("error")); got != 2 {
			t.Errorf("checks with outcome error = %v, want 2 (the run stopped at the first refusal)", got)
		}
		for _, id := range []int64{bad, other} {
			if status, _ := w.state(id); status != store.NotificationSent {
				t.Errorf("notification %d is %s after a refusal, want sent", id, status)
			}
		}
	})
}

// RegisterReconcile without Twilio still sweeps interrupted sends and gives
// abandoned claims back to delivery, run by real River workers: the
// abandoned claim's new delivery job runs (here it is cancelled: the test
// row has no patient, so no dose wants it).
func TestReconcileJobWithoutTwilio(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *db.DB) {
		w := newReconcileWorld(t, d)
		interrupted := w.notification(store.NotificationSending, "", time.Time{}, w.now.Add(-time.Hour))
		abandoned := w.notification(store.NotificationClaimed, "", time.Time{}, w.now.Add(-time.Hour))
		workers := river.NewWorkers()
		var none *twilio.Client
		reg := prometheus.NewRegistry()
		periodic := worker.RegisterReconcile(workers, w.st, none, func() time.Time { return w.now }, discard(), reg, time.Minute)
		river.AddWorker(workers, &worker.DeliverWorker{Deliverer: &deliver.Deliverer{Store: w.st, Sender: noSender{},
			Now: func() time.Time { return w.now }, Logger: discard()}})
		w.st.Jobs = startJobs(t, d, jobs.Config{Workers: workers, PeriodicJobs: periodic, Logger: discard()})
		deadline := time.Now().Add(30 * time.Second)
		for {
			status, _ := w.state(interrupted)
			again, reason := w.state(abandoned)
			if status == store.NotificationUnknown && again == store.NotificationCancelled {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the periodic job did not sweep the interrupted send (%s) and deliver the abandoned claim again (%s %q)", status, again, reason)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n, err := testutil.GatherAndCount(reg, "adherence_notifications_unknown_total", "adherence_notifications_requeued_total"); err != nil || n != 2 {
			t.Fatalf("metrics not registered: %d %v", n, err)
		}
	})
}

// noSender has no channel.
type noSender struct{}

func (noSender) Has(notify.Channel) bool { return false }

func (noSender) Send(context.Context, notify.Message) (notify.Receipt, error) {
	return notify.Receipt{}, errors.New("no channel")
}
