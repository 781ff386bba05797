package worker_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/adherence/worker"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/jobs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/phi"
)

// TestDoseHorizonJob runs the periodic job through real River workers on
// each engine: after the clock moves two days ahead, the job extends an
// existing plan's doses to the new horizon.
func TestDoseHorizonJob(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		st := store.New(d, audit.New(d, clock, nil), clock)
		a := adherence.Actor{ID: "test", Role: "admin"}
		org, err := st.CreateOrg(ctx, "Jobs")
		if err != nil {
			t.Fatal(err)
		}
		a.OrgID = org.ID
		p := adherence.Patient{OrgID: org.ID, GivenName: phi.New("J"), TimeZone: "America/Los_Angeles", Language: "en", Anchors: schedule.DefaultAnchors()}
		if err := st.CreatePatient(ctx, a, &p); err != nil {
			t.Fatal(err)
		}
		plan := adherence.Plan{OrgID: org.ID, PatientID: p.ID, Medication: adherence.Medication{RxNorm: "1", Display: "x"},
			Timing: schedule.Timing{Repeat: &schedule.Repeat{TimeOfDay: []string{"09:00:00"}}}, Status: adherence.PlanActive, StartAt: now}
		if err := st.CreatePlan(ctx, a, &plan); err != nil {
			t.Fatal(err)
		}
		start := now
		count := func() int {
			ds, err := st.ListDoses(ctx, org.ID, store.DoseFilter{PlanID: plan.ID, From: start, To: start.Add(30 * 24 * time.Hour), Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			return len(ds)
		}
		before := count()

		now = now.Add(48 * time.Hour) // the job sees a later clock
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		workers := river.NewWorkers()
		metrics, err := worker.NewMetrics(prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		periodic := worker.Register(workers, st, clock, logger, worker.Config{HorizonInterval: time.Hour, Metrics: metrics})
		startJobs(t, d, jobs.Config{Workers: workers, PeriodicJobs: periodic, Logger: logger})
		deadline := time.Now().Add(30 * time.Second)
		for count() < before+2 {
			if time.Now().After(deadline) {
				t.Fatalf("after the job: %d doses, want %d (two more days)", count(), before+2)
			}
			time.Sleep(100 * time.Millisecond)
		}
		for testutil.ToFloat64(metrics.HorizonRuns.WithLabelValues("success")) < 1 {
			if time.Now().After(deadline) {
				t.Fatal("the job run was not counted")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if got := testutil.ToFloat64(metrics.DosesGenerated); got < 2 {
			t.Errorf("adherence_dose_instances_generated_total = %v, want >= 2", got)
		}
	})
}

// TestJobErrorSeriesStartAtZero: every job kind has its error and panic
// series at 0 from the start, so increase() sees the first failure.
func TestJobErrorSeriesStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := worker.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if m.GetCounter() != nil && m.GetCounter().GetValue() == 0 {
				series[f.GetName()]++
			}
		}
	}
	for _, name := range []string{"adherence_job_errors_total", "adherence_job_panics_total"} {
		if series[name] != 12 {
			t.Errorf("%s: %d zero series, want one per job kind (12)", name, series[name])
		}
	}
}

// TestMissedDosesJobRecoversAtNextTick: a run of the missed-dose job that
// fails (here: the outbox table is gone for a while, as in a database
// outage) must not hold up missed-dose detection once the cause is gone.
// The periodic job is unique while queued, running or retrying, so a
// failed run waiting for River's backoff (1 s, 16 s, 81 s, … 4th power of
// the attempt) kept every later tick out: after a few failures detection
// stopped for many minutes, then hours. The next tick runs it again.
func TestMissedDosesJobRecoversAtNextTick(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		st := store.New(d, audit.New(d, clock, nil), clock)
		a := adherence.Actor{ID: "test", Role: "admin"}
		org, err := st.CreateOrg(ctx, "Jobs")
		if err != nil {
			t.Fatal(err)
		}
		a.OrgID = org.ID
		p := adherence.Patient{OrgID: org.ID, GivenName: phi.New("J"), TimeZone: "UTC", Language: "en", Anchors: schedule.DefaultAnchors()}
		if err := st.CreatePatient(ctx, a, &p); err != nil {
			t.Fatal(err)
		}
		plan := adherence.Plan{OrgID: org.ID, PatientID: p.ID, Medication: adherence.Medication{RxNorm: "1", Display: "x"},
			Timing: schedule.Timing{Repeat: &schedule.Repeat{TimeOfDay: []string{"13:00:00"}}}, Status: adherence.PlanActive, StartAt: now}
		if err := st.CreatePlan(ctx, a, &plan); err != nil {
			t.Fatal(err)
		}
		now = now.Add(6 * time.Hour) // the 13:00 dose's window has closed
		if _, err := d.SQL.ExecContext(ctx, `ALTER TABLE outbox RENAME TO outbox_away`); err != nil {
			t.Fatal(err)
		}

		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		workers := river.NewWorkers()
		metrics, err := worker.NewMetrics(prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		periodic := worker.Register(workers, st, clock, logger, worker.Config{MissedInterval: 200 * time.Millisecond, Metrics: metrics})
		startJobs(t, d, jobs.Config{Workers: workers, PeriodicJobs: periodic, Logger: logger, ErrorHandler: metrics.ErrorHandler()})
		failures := metrics.JobErrors.WithLabelValues(worker.MissedDosesArgs{}.Kind())
		for deadline := time.Now().Add(30 * time.Second); testutil.ToFloat64(failures) < 2; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the missed-dose job failed %v times within 30 s, want 2", testutil.ToFloat64(failures))
			}
		}
		if _, err := d.SQL.ExecContext(ctx, `ALTER TABLE outbox_away RENAME TO outbox`); err != nil {
			t.Fatal(err)
		}
		// The next tick is 200 ms away; River promotes scheduled jobs every
		// 5 s. The third attempt of a retried job comes 16 s after the
		// second.
		recovered := time.Now()
		for testutil.ToFloat64(metrics.DosesMissed) < 1 {
			if time.Since(recovered) > 10*time.Second {
				t.Fatalf("no dose marked missed within 10 s of the database recovering (the job failed %v times)", testutil.ToFloat64(failures))
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// startJobs starts a River client on d that works cfg's workers and
// periodic jobs, and stops it when the test ends.
func startJobs(t *testing.T, d *db.DB, cfg jobs.Config) *jobs.Client {
	t.Helper()
	cfg.RunWorkers = true
	jc, err := jobs.New(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := jc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = jc.Stop(ctx)
	})
	return jc
}

// TestNotificationPeriodicJobsHaveShortTimeouts: the periodic jobs that
// notifications wait on are rescued within a minute and a half of a
// killed run's start (their Timeout, and the rescuer's 30-second look),
// and a live run stops at its budget well within that Timeout. With 10
// minutes, a worker killed during a dispatch run stopped every reminder
// for ten minutes (QA).
func TestNotificationPeriodicJobsHaveShortTimeouts(t *testing.T) {
	timeouts := map[string]time.Duration{
		"dispatch_reminders": (&worker.DispatchRemindersWorker{}).Timeout(nil),
		"missed_doses":       (&worker.MissedDosesWorker{}).Timeout(nil),
		"escalation_outbox":  (&worker.OutboxConsumerWorker{}).Timeout(nil),
	}
	for kind, d := range timeouts {
		if d > time.Minute {
			t.Errorf("%s: Timeout %s, want at most a minute", kind, d)
		}
		if worker.PeriodicBudget > d/2 {
			t.Errorf("%s: a run works %s of its %s Timeout, want at most half", kind, worker.PeriodicBudget, d)
		}
	}
}
