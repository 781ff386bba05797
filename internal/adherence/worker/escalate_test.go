package worker_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/adherence/worker"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/jobs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/notify"
	"github.com/medplatform/medplatform/internal/platform/phi"
)

// escEnv is a store with an org, a patient taking a dose every 3 hours, a
// linked caregiver and a missed_dose policy notifying caregivers at once,
// then clinicians after an hour.
type escEnv struct {
	ctx    context.Context
	st     *store.Store
	clock  *clock
	org    string
	carer  string
	policy adherence.EscalationPolicy
}

// clock is a settable clock shared with running workers.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func newEscEnv(t *testing.T, d *db.DB, now time.Time) *escEnv {
	t.Helper()
	ctx := context.Background()
	c := &clock{t: now.Add(-6 * time.Hour)}
	st := store.New(d, audit.New(d, c.Now, nil), c.Now)
	e := &escEnv{ctx: ctx, st: st, clock: c}
	org, err := st.CreateOrg(ctx, "Escalations")
	if err != nil {
		t.Fatal(err)
	}
	e.org = org.ID
	a := adherence.Actor{ID: "test", Role: "admin", OrgID: org.ID}
	p := adherence.Patient{OrgID: org.ID, GivenName: phi.New("E"), TimeZone: "UTC", Language: "en", Anchors: schedule.DefaultAnchors()}
	if err := st.CreatePatient(ctx, a, &p); err != nil {
		t.Fatal(err)
	}
	plan := adherence.Plan{OrgID: org.ID, PatientID: p.ID, Medication: adherence.Medication{RxNorm: "1", Display: "x"}, StartAt: c.t,
		Timing: schedule.Timing{Repeat: &schedule.Repeat{TimeOfDay: []string{"00:00", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00"}}}}
	if err := st.CreatePlan(ctx, a, &plan); err != nil {
		t.Fatal(err)
	}
	m := adherence.Member{OrgID: org.ID, Kind: adherence.MemberCaregiver, Name: phi.New("C"), Phone: phi.New("+15550001111")}
	if err := st.CreateMember(ctx, a, &m); err != nil {
		t.Fatal(err)
	}
	if err := st.LinkMember(ctx, a, org.ID, adherence.Link{PatientID: p.ID, MemberID: m.ID}); err != nil {
		t.Fatal(err)
	}
	e.carer = m.ID
	e.policy = adherence.EscalationPolicy{OrgID: org.ID, Name: "any miss", Trigger: adherence.EscalationTrigger{Kind: adherence.TriggerMissedDose},
		Levels: []adherence.EscalationLevel{
			{After: 0, Recipients: adherence.RecipientsCaregivers, Channels: []notify.Channel{notify.SMS}},
			{After: time.Hour, Recipients: adherence.RecipientsClinicians, Channels: []notify.Channel{notify.Email}},
		}}
	if err := st.CreateEscalationPolicy(ctx, a, &e.policy); err != nil {
		t.Fatal(err)
	}
	c.Set(now)
	if res, err := st.MarkMissed(ctx, now); err != nil || res.Marked == 0 {
		t.Fatalf("mark missed = %+v, %v", res, err)
	}
	return e
}

// TestEscalationJobs runs the escalation workers on real River: the
// outbox consumer opens the escalation, the step job fires level 1 at once
// and the caregiver's notification is enqueued.
func TestEscalationJobs(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *db.DB) {
		e := newEscEnv(t, d, time.Now().UTC().Truncate(time.Second))
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		m, err := worker.NewEscalationMetrics(prometheus.NewRegistry(), e.st, e.clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		workers := river.NewWorkers()
		periodic := worker.RegisterEscalation(workers, e.st, e.clock.Now, logger, m,
			worker.EscalationConfig{OutboxInterval: 100 * time.Millisecond, SweepInterval: 100 * time.Millisecond})
		// Delivery is not under test here.
		river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[adherence.DeliverArgs]) error { return nil }))
		jc, err := jobs.New(d, jobs.Config{Workers: workers, PeriodicJobs: periodic, RunWorkers: true, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		e.st.Jobs = jc
		if err := jc.Start(e.ctx); err != nil {
			t.Fatal(err)
		}
		defer func() {
			stopCtx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
			defer cancel()
			_ = jc.Stop(stopCtx)
		}()

		deadline := time.Now().Add(30 * time.Second)
		var esc adherence.Escalation
		for {
			es, err := e.st.ListEscalations(e.ctx, e.org, store.EscalationFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(es) == 1 {
				if esc, err = e.st.GetEscalation(e.ctx, e.org, es[0].ID); err != nil {
					t.Fatal(err)
				}
				if esc.Level == 1 && len(esc.NotificationIDs) == 1 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("escalation after 30 s: %+v (of %d)", esc, len(es))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(esc.Steps) != 2 || esc.Steps[0].Status != adherence.StepFired || esc.Steps[1].Status != adherence.StepPending ||
			!esc.Steps[1].DueAt.Equal(esc.OpenedAt.Add(time.Hour)) {
			t.Fatalf("steps = %+v", esc.Steps)
		}
		for testutil.ToFloat64(m.Escalations.WithLabelValues("1", worker.OutcomeFired, "")) < 1 {
			if time.Now().After(deadline) {
				t.Fatal("the firing was not counted")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := testutil.ToFloat64(m.Escalations.WithLabelValues("0", worker.OutcomeOpened, "")); got != 1 {
			t.Errorf("opened = %v, want 1", got)
		}
		// The patient has no clinician: level 2 will reach nobody, and the
		// escalation stays open; nothing is overdue.
		if got := testutil.ToFloat64(m.OldestOverdue); got != 0 {
			t.Errorf("oldest overdue = %v, want 0", got)
		}
	})
}

// TestEscalationStallHealth: a step whose job never runs (no workers) is
// re-driven by the sweeper after two minutes and makes the health check
// fail after five; firing it makes the check pass again.
func TestEscalationStallHealth(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *db.DB) {
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		e := newEscEnv(t, d, now)
		ctx := e.ctx
		res, err := e.st.ConsumeOutbox(ctx, now, 0)
		if err != nil || res.Opened != 1 {
			t.Fatalf("consume = %+v, %v", res, err)
		}
		es, err := e.st.ListEscalations(ctx, e.org, store.EscalationFilter{})
		if err != nil || len(es) != 1 {
			t.Fatalf("escalations = %v, %v", es, err)
		}
		esc, err := e.st.GetEscalation(ctx, e.org, es[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		step := esc.Steps[0] // due now

		m, err := worker.NewEscalationMetrics(prometheus.NewRegistry(), e.st, e.clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		sweeper := &worker.StallSweeperWorker{Store: e.st, Now: e.clock.Now, Logger: logger, Metrics: m}
		check := worker.EscalationHealthCheck(e.st, e.clock.Now)
		if check.Name != "escalation" || check.Critical {
			t.Fatalf("check = %+v", check)
		}
		sweep := func(at time.Time) {
			t.Helper()
			e.clock.Set(at)
			if err := sweeper.Work(ctx, &river.Job[worker.EscalationSweepArgs]{}); err != nil {
				t.Fatal(err)
			}
		}

		sweep(now.Add(time.Minute))
		if got := testutil.ToFloat64(m.StepsStalled); got != 0 {
			t.Fatalf("stalled after 1 minute = %v", got)
		}
		sweep(now.Add(2*time.Minute + time.Second))
		if got := testutil.ToFloat64(m.StepsStalled); got != 1 {
			t.Fatalf("stalled after 2 minutes = %v, want 1", got)
		}
		if details, err := check.Run(ctx); err != nil || details["oldestOverdueSeconds"] != int64(121) {
			t.Fatalf("health at +2m = %v, %v; want UP with 121 s", details, err)
		}

		sweep(now.Add(5*time.Minute + time.Second))
		if got := testutil.ToFloat64(m.OldestOverdue); got != 301 {
			t.Fatalf("oldest overdue gauge = %v, want 301", got)
		}
		// The gauge is read at scrape time: five minutes later, with no
		// sweep in between (a stalled sweeper), it says so.
		e.clock.Set(now.Add(10*time.Minute + time.Second))
		if got := testutil.ToFloat64(m.OldestOverdue); got != 601 {
			t.Fatalf("oldest overdue gauge without a sweep = %v, want 601", got)
		}
		e.clock.Set(now.Add(5*time.Minute + time.Second))
		if _, err := check.Run(ctx); err == nil {
			t.Fatal("health passes with a step 5 minutes overdue")
		}

		// The worker comes back: the step fires and the check passes.
		stepWorker := &worker.EscalationStepWorker{Store: e.st, Now: e.clock.Now, Logger: logger, Metrics: m}
		if err := stepWorker.Work(ctx, &river.Job[adherence.EscalationStepArgs]{Args: adherence.EscalationStepArgs{StepID: step.ID}}); err != nil {
			t.Fatal(err)
		}
		if _, err := check.Run(ctx); err != nil {
			t.Fatalf("health after the step fired: %v", err)
		}
		if got := testutil.ToFloat64(m.Escalations.WithLabelValues("1", worker.OutcomeFired, "")); got != 1 {
			t.Fatalf("fired = %v", got)
		}
		// The next level's job, run an hour early, is snoozed until due.
		esc, err = e.st.GetEscalation(ctx, e.org, esc.ID)
		if err != nil || len(esc.Steps) != 2 {
			t.Fatalf("escalation = %+v, %v", esc, err)
		}
		err = stepWorker.Work(ctx, &river.Job[adherence.EscalationStepArgs]{Args: adherence.EscalationStepArgs{StepID: esc.Steps[1].ID}})
		var snooze *rivertype.JobSnoozeError
		if !errors.As(err, &snooze) || snooze.Duration != esc.Steps[1].DueAt.Sub(e.clock.Now()) {
			t.Fatalf("early job = %v, want a snooze until %v", err, esc.Steps[1].DueAt)
		}
	})
}

// TestResolutionsOutsideTheJobsAreCounted: an escalation resolved because
// its plan was paused (an API change, not an escalation job) is counted as
// resolved with its reason and the last level it fired, as the jobs'
// resolutions are; it was not counted at all.
func TestResolutionsOutsideTheJobsAreCounted(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *db.DB) {
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		e := newEscEnv(t, d, now)
		m, err := worker.NewEscalationMetrics(prometheus.NewRegistry(), e.st, e.clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		e.st.OnEscalationsResolved = m.CountResolved
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		consumer := &worker.OutboxConsumerWorker{Store: e.st, Now: e.clock.Now, Logger: logger, Metrics: m}
		if err := consumer.Work(e.ctx, &river.Job[worker.EscalationOutboxArgs]{}); err != nil {
			t.Fatal(err)
		}
		es, err := e.st.ListEscalations(e.ctx, e.org, store.EscalationFilter{})
		if err != nil || len(es) != 1 {
			t.Fatalf("escalations = %v, %v", es, err)
		}
		esc, err := e.st.GetEscalation(e.ctx, e.org, es[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		stepWorker := &worker.EscalationStepWorker{Store: e.st, Now: e.clock.Now, Logger: logger, Metrics: m}
		if err := stepWorker.Work(e.ctx, &river.Job[adherence.EscalationStepArgs]{Args: adherence.EscalationStepArgs{StepID: esc.Steps[0].ID}}); err != nil {
			t.Fatal(err)
		}
		plans, err := e.st.ListPlans(e.ctx, e.org, esc.PatientID)
		if err != nil || len(plans) != 1 {
			t.Fatalf("plans = %v, %v", plans, err)
		}
		a := adherence.Actor{ID: "test", Role: "admin", OrgID: e.org}
		if _, err := e.st.SetPlanStatus(e.ctx, a, e.org, plans[0].ID, adherence.PlanPaused); err != nil {
			t.Fatal(err)
		}
		if esc, err = e.st.GetEscalation(e.ctx, e.org, esc.ID); err != nil || esc.Reason != store.ReasonPlanPaused {
			t.Fatalf("escalation after the pause = %+v, %v", esc, err)
		}
		if got := testutil.ToFloat64(m.Escalations.WithLabelValues("1", worker.OutcomeResolved, store.ReasonPlanPaused)); got != 1 {
			t.Errorf("resolved at level 1 as plan_paused = %v, want 1", got)
		}
		if got := counted(t, m.Escalations); got != 3 {
			t.Errorf("%v escalation transitions counted, want 3 (opened, fired, resolved)", got)
		}
	})
}

// TestExhaustedEscalationsAreCounted: an escalation whose every level has
// fired, replaced by a new one when the patient misses another dose, is
// counted as exhausted at the last level it fired; it was not counted at
// all, so it never ended in the metric.
func TestExhaustedEscalationsAreCounted(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *db.DB) {
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		e := newEscEnv(t, d, now)
		m, err := worker.NewEscalationMetrics(prometheus.NewRegistry(), e.st, e.clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		consumer := &worker.OutboxConsumerWorker{Store: e.st, Now: e.clock.Now, Logger: logger, Metrics: m}
		if err := consumer.Work(e.ctx, &river.Job[worker.EscalationOutboxArgs]{}); err != nil {
			t.Fatal(err)
		}
		es, err := e.st.ListEscalations(e.ctx, e.org, store.EscalationFilter{})
		if err != nil || len(es) != 1 {
			t.Fatalf("escalations = %v, %v", es, err)
		}
		stepWorker := &worker.EscalationStepWorker{Store: e.st, Now: e.clock.Now, Logger: logger, Metrics: m}
		// Fire both levels: the second is due an hour after the first.
		for level := 1; level <= 2; level++ {
			esc, err := e.st.GetEscalation(e.ctx, e.org, es[0].ID)
			if err != nil || len(esc.Steps) != level {
				t.Fatalf("escalation before level %d = %+v, %v", level, esc, err)
			}
			e.clock.Set(esc.Steps[level-1].DueAt)
			if err := stepWorker.Work(e.ctx, &river.Job[adherence.EscalationStepArgs]{Args: adherence.EscalationStepArgs{StepID: esc.Steps[level-1].ID}}); err != nil {
				t.Fatal(err)
			}
		}
		// The next dose is missed: the escalation is exhausted and a new one
		// opens.
		e.clock.Set(now.Add(4 * time.Hour))
		if res, err := e.st.MarkMissed(e.ctx, e.clock.Now()); err != nil || res.Marked == 0 {
			t.Fatalf("mark missed = %+v, %v", res, err)
		}
		if err := consumer.Work(e.ctx, &river.Job[worker.EscalationOutboxArgs]{}); err != nil {
			t.Fatal(err)
		}
		if esc, err := e.st.GetEscalation(e.ctx, e.org, es[0].ID); err != nil || esc.Status != adherence.EscalationExhausted {
			t.Fatalf("first escalation after the new miss = %+v, %v", esc, err)
		}
		if got := testutil.ToFloat64(m.Escalations.WithLabelValues("2", worker.OutcomeExhausted, "")); got != 1 {
			t.Errorf("exhausted at level 2 = %v, want 1", got)
		}
		if got := testutil.ToFloat64(m.Escalations.WithLabelValues("0", worker.OutcomeOpened, "")); got != 2 {
			t.Errorf("opened = %v, want 2", got)
		}
	})
}

// counted is the sum of every series of c.
func counted(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1024)
	go func() { c.Collect(ch); close(ch) }()
	var sum float64
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		sum += pb.GetCounter().GetValue()
	}
	return sum
}

// TestEscalationMetricsStartAtZero: the series of every level, outcome and
// resolution reason exist from the start, at zero, so that the first
// escalation of each kind counts in increase() (the dashboard missed it).
func TestEscalationMetricsStartAtZero(t *testing.T) {
	m, err := worker.NewEscalationMetrics(prometheus.NewRegistry(), nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	levels := adherence.MaxEscalationLevels
	// opened at 0; acknowledged at 0…max; fired and exhausted at 1…max;
	// resolved at 0…max for each of the 8 reasons.
	want := 1 + (levels + 1) + 2*levels + 8*(levels+1)
	if n := testutil.CollectAndCount(m.Escalations); n != want {
		t.Errorf("%d escalation series, want %d", n, want)
	}
	if got := counted(t, m.Escalations); got != 0 {
		t.Errorf("escalations counted = %v, want 0", got)
	}
}

// TestOutboxConsumerGoesOnPastItsLimit: a consumer job whose run stops at
// its record limit with records left goes on with another run while its
// budget lasts: one run per 10 s tick of 5,000 records each consumed a
// 100,000-dose miss in over three minutes, the escalations' first level
// firing that late (QA). Limit 1, several missed doses: one job consumes
// them all.
func TestOutboxConsumerGoesOnPastItsLimit(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *db.DB) {
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		e := newEscEnv(t, d, now)
		pending := func() int {
			var n int
			if err := d.SQL.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM outbox WHERE processed_at IS NULL`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		// Half a day later, more doses were missed.
		e.clock.Set(now.Add(12 * time.Hour))
		if _, err := e.st.MarkMissed(e.ctx, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if n := pending(); n < 3 {
			t.Fatalf("%d outbox records pending, want several", n)
		}
		res, err := e.st.ConsumeOutboxWithin(e.ctx, e.clock.Now(), 1, time.Minute)
		if err != nil || res.Examined != 1 || !res.More {
			t.Fatalf("a run of limit 1 = %+v, %v; want one record and more to do", res, err)
		}
		consumer := &worker.OutboxConsumerWorker{Store: e.st, Now: e.clock.Now, Logger: slog.New(slog.DiscardHandler), Limit: 1}
		if err := consumer.Work(e.ctx, &river.Job[worker.EscalationOutboxArgs]{}); err != nil {
			t.Fatal(err)
		}
		if n := pending(); n != 0 {
			t.Errorf("%d outbox records left after one job of limit 1, want none", n)
		}
	})
}
