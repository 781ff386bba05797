package worker

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/health"
)

// Escalation outcomes, the values of the outcome label of
// adherence_escalations_total.
const (
	OutcomeOpened       = "opened"
	OutcomeFired        = "fired"
	OutcomeAcknowledged = "acknowledged"
	OutcomeResolved     = "resolved"
	// OutcomeExhausted: every level had fired, nobody acknowledged it,
	// and a new miss replaced it with a new escalation.
	OutcomeExhausted = "exhausted"
)

// EscalationMetrics are the escalation engine's Prometheus metrics. The
// level label is the escalation level (0 before the first level fired, at
// most adherence.MaxEscalationLevels); no label carries an id.
type EscalationMetrics struct {
	// Escalations counts escalations by level, outcome and reason: opened
	// (level 0), fired (the level that fired), acknowledged, resolved and
	// exhausted (the last level fired before). The reason is why one was resolved
	// (store.ReasonDoseRecorded, …ReasonPlanPaused, …), "" for the other
	// outcomes.
	Escalations *prometheus.CounterVec
	// StepsStalled counts steps the stall sweeper re-drove.
	StepsStalled prometheus.Counter
	// OldestOverdue is how late the oldest pending step is, in seconds,
	// read from the database at every scrape: a stalled sweeper (or a
	// process that runs none) cannot leave it stale.
	OldestOverdue prometheus.Collector
}

// NewEscalationMetrics registers the escalation metrics on reg; st and now
// give adherence_escalation_oldest_overdue_seconds at scrape time.
func NewEscalationMetrics(reg prometheus.Registerer, st *store.Store, now func() time.Time) (*EscalationMetrics, error) {
	m := &EscalationMetrics{
		Escalations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adherence_escalations_total",
			Help: "Escalation transitions, by escalation level, outcome (opened, fired, acknowledged, resolved, exhausted) and, for resolved, reason.",
		}, []string{"level", "outcome", "reason"}),
		StepsStalled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adherence_escalation_steps_stalled_total",
			Help: "Escalation steps still pending well after their due time whose job the stall sweeper enqueued again.",
		}),
		OldestOverdue: overdueCollector{st: st, now: now, desc: prometheus.NewDesc("adherence_escalation_oldest_overdue_seconds",
			"How long the oldest pending escalation step is past its due time (0 when none), read at scrape time.", nil, nil)},
	}
	for _, c := range []prometheus.Collector{m.Escalations, m.StepsStalled, m.OldestOverdue} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register escalation metrics: %w", err)
		}
	}
	// Every series starts at 0: one that first appears at 1 loses that
	// escalation to rate() and increase(), so the dashboard missed the
	// first escalation of each kind after every deploy.
	m.Escalations.WithLabelValues("0", OutcomeOpened, "")
	for level := 0; level <= adherence.MaxEscalationLevels; level++ {
		l := strconv.Itoa(level)
		m.Escalations.WithLabelValues(l, OutcomeAcknowledged, "")
		if level > 0 { // a level fires from 1
			m.Escalations.WithLabelValues(l, OutcomeFired, "")
			m.Escalations.WithLabelValues(l, OutcomeExhausted, "")
		}
		for _, reason := range resolvedReasons {
			m.Escalations.WithLabelValues(l, OutcomeResolved, reason)
		}
	}
	return m, nil
}

// resolvedReasons are the reason label values of resolved escalations.
var resolvedReasons = []string{
	store.ReasonDoseRecorded, store.ReasonDoseExcluded, store.ReasonTriggerCleared,
	store.ReasonPlanPaused, store.ReasonPlanStopped, store.ReasonPlanAsNeeded,
	store.ReasonPatientDeactivated, store.ReasonPolicyDeactivated,
}

// overdueCollector reads the oldest overdue escalation step at scrape
// time. A failed read yields no sample (the scrape still succeeds), as the
// job queue collector does: the database's own alerts cover it.
type overdueCollector struct {
	st   *store.Store
	now  func() time.Time
	desc *prometheus.Desc
}

func (c overdueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c overdueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	late, err := c.st.OldestOverdueStep(ctx, c.now())
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, late.Seconds())
}

// Count adds n to adherence_escalations_total{level, outcome} (reason
// ""). It is safe on a nil *EscalationMetrics. Acknowledgements happen
// outside the jobs (API, SMS reply): their callers count them with
// OutcomeAcknowledged.
func (m *EscalationMetrics) Count(outcome string, level, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.Escalations.WithLabelValues(strconv.Itoa(level), outcome, "").Add(float64(n))
}

// CountResolved adds the resolutions of by to
// adherence_escalations_total{level, outcome="resolved", reason}. It is
// safe on a nil *EscalationMetrics. Resolutions outside the jobs (a plan
// paused or stopped, a patient or policy deactivated) reach it through
// store.Store.OnEscalationsResolved: counted by the jobs only, they were
// missing from the metric.
func (m *EscalationMetrics) CountResolved(by map[store.Resolution]int) {
	if m == nil {
		return
	}
	for r, n := range by {
		if n > 0 {
			m.Escalations.WithLabelValues(strconv.Itoa(r.Level), OutcomeResolved, r.Reason).Add(float64(n))
		}
	}
}

// EscalationOutboxArgs asks for the dose.missed and dose.resolved outbox
// records to be consumed by the escalation engine.
type EscalationOutboxArgs struct{}

// Kind identifies the job in the queue.
func (EscalationOutboxArgs) Kind() string { return "escalation_outbox" }

// InsertOpts makes the job unique while queued or running.
func (EscalationOutboxArgs) InsertOpts() river.InsertOpts { return DoseHorizonArgs{}.InsertOpts() }

// OutboxConsumerWorker runs store.ConsumeOutbox. Several may run at once
// (separate worker processes): each record is consumed once.
type OutboxConsumerWorker struct {
	river.WorkerDefaults[EscalationOutboxArgs]
	Store   *store.Store
	Now     func() time.Time
	Logger  *slog.Logger
	Metrics *EscalationMetrics // optional
	// Limit bounds the records of one store run (store.DefaultConsumeLimit
	// when not positive); a job goes on with another run while records
	// are left and its budget (PeriodicBudget) lasts, and the next tick
	// takes the rest.
	Limit int
}

// Work consumes the outbox.
func (w *OutboxConsumerWorker) Work(ctx context.Context, _ *river.Job[EscalationOutboxArgs]) error {
	start := time.Now()
	var res store.ConsumeResult
	// Runs of Limit records each, until the outbox is empty or the
	// budget is spent: one run per tick consumed 5,000 records per 10 s,
	// and the first level of the escalations of a 100,000-dose miss
	// fired minutes late (QA).
	for {
		// The budget left is positive (0 would mean none).
		r, err := w.Store.ConsumeOutboxWithin(ctx, w.Now(), w.Limit, max(time.Nanosecond, PeriodicBudget-time.Since(start)))
		res.Add(r)
		w.Metrics.Count(OutcomeOpened, 0, r.Opened)
		w.Metrics.CountResolved(r.ResolvedBy)
		// An exhausted escalation ends as surely as a resolved one:
		// uncounted, the escalations that ran out of levels vanished
		// from the metric.
		for level, n := range r.ExhaustedBy {
			w.Metrics.Count(OutcomeExhausted, level, n)
		}
		if err != nil {
			return fmt.Errorf("consume escalation outbox: %w", err)
		}
		if !r.More || time.Since(start) >= PeriodicBudget {
			break
		}
	}
	if res.Examined > 0 {
		w.Logger.InfoContext(ctx, "escalation outbox consumed", "records", res.Examined, "opened", res.Opened,
			"resolved", res.Resolved, "exhausted", res.Exhausted, "more", res.More, "duration_ms", time.Since(start).Milliseconds())
	}
	return nil
}

// Timeout is PeriodicTimeout: a run stops after PeriodicBudget or its
// Limit of records, and the next goes on.
func (w *OutboxConsumerWorker) Timeout(*river.Job[EscalationOutboxArgs]) time.Duration {
	return PeriodicTimeout
}

// EscalationStepWorker fires escalation steps (adherence.EscalationStepArgs)
// through store.FireStep. A job that runs before its step is due is
// snoozed until then; a step no longer pending is left alone.
type EscalationStepWorker struct {
	river.WorkerDefaults[adherence.EscalationStepArgs]
	Store   *store.Store
	Now     func() time.Time
	Logger  *slog.Logger
	Metrics *EscalationMetrics // optional
}

// Work fires the step.
func (w *EscalationStepWorker) Work(ctx context.Context, job *river.Job[adherence.EscalationStepArgs]) error {
	now := w.Now()
	res, err := w.Store.FireStep(ctx, job.Args.StepID, now)
	if err != nil {
		return err
	}
	switch {
	case res.Skipped == store.SkipNotDue:
		return river.JobSnooze(max(res.DueAt.Sub(now), time.Second))
	case !res.Fired:
		return nil
	}
	w.Metrics.Count(OutcomeFired, res.Level, 1)
	if res.NoRecipients {
		// Not an error — a patient may have no linked clinician — but worth
		// knowing: the level reached nobody.
		w.Logger.WarnContext(ctx, "escalation level fired with no recipients", "escalation_id", res.EscalationID,
			"step_id", job.Args.StepID, "level", res.Level)
	}
	return nil
}

// Timeout bounds one step.
func (w *EscalationStepWorker) Timeout(*river.Job[adherence.EscalationStepArgs]) time.Duration {
	return time.Minute
}

// EscalationSweepArgs asks for stalled escalation steps to be re-driven.
type EscalationSweepArgs struct{}

// Kind identifies the job in the queue.
func (EscalationSweepArgs) Kind() string { return "escalation_stall_sweep" }

// InsertOpts makes the job unique while queued or running.
func (EscalationSweepArgs) InsertOpts() river.InsertOpts { return DoseHorizonArgs{}.InsertOpts() }

// DefaultStallAfter is how late a pending step must be before the sweeper
// enqueues its job again.
const DefaultStallAfter = 2 * time.Minute

// StallSweeperWorker runs store.RedriveStalledSteps and records how late
// the oldest pending step is.
type StallSweeperWorker struct {
	river.WorkerDefaults[EscalationSweepArgs]
	Store   *store.Store
	Now     func() time.Time
	Logger  *slog.Logger
	Metrics *EscalationMetrics // optional
	// StallAfter: DefaultStallAfter when not positive.
	StallAfter time.Duration
}

// Work re-drives the stalled steps.
func (w *StallSweeperWorker) Work(ctx context.Context, _ *river.Job[EscalationSweepArgs]) error {
	after := w.StallAfter
	if after <= 0 {
		after = DefaultStallAfter
	}
	now := w.Now()
	n, err := w.Store.RedriveStalledSteps(ctx, now, after)
	if w.Metrics != nil {
		w.Metrics.StepsStalled.Add(float64(n))
	}
	if err != nil {
		return fmt.Errorf("redrive stalled escalation steps: %w", err)
	}
	if n > 0 {
		w.Logger.WarnContext(ctx, "stalled escalation steps re-driven", "steps", n)
	}
	return nil
}

// Timeout: one indexed statement; a killed sweep is retried soon after.
func (w *StallSweeperWorker) Timeout(*river.Job[EscalationSweepArgs]) time.Duration {
	return 2 * time.Minute
}

// EscalationConfig says how often the escalation jobs run.
type EscalationConfig struct {
	OutboxInterval time.Duration // default 10s
	SweepInterval  time.Duration // default 30s
	StallAfter     time.Duration // default DefaultStallAfter (2m)
	OutboxLimit    int           // records per consumer run; default store.DefaultConsumeLimit
}

// RegisterEscalation adds the escalation workers to workers and returns
// their periodic jobs (outbox consumer and stall sweeper). m may be nil.
func RegisterEscalation(workers *river.Workers, st *store.Store, now func() time.Time, logger *slog.Logger, m *EscalationMetrics, cfg EscalationConfig) []*river.PeriodicJob {
	river.AddWorker(workers, &OutboxConsumerWorker{Store: st, Now: now, Logger: logger, Metrics: m, Limit: cfg.OutboxLimit})
	river.AddWorker(workers, &EscalationStepWorker{Store: st, Now: now, Logger: logger, Metrics: m})
	river.AddWorker(workers, &StallSweeperWorker{Store: st, Now: now, Logger: logger, Metrics: m, StallAfter: cfg.StallAfter})
	outbox, sweep := cfg.OutboxInterval, cfg.SweepInterval
	if outbox <= 0 {
		outbox = 10 * time.Second
	}
	if sweep <= 0 {
		sweep = 30 * time.Second
	}
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(outbox), func() (river.JobArgs, *river.InsertOpts) {
			return EscalationOutboxArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "escalation_outbox", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(sweep), func() (river.JobArgs, *river.InsertOpts) {
			return EscalationSweepArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "escalation_stall_sweep", RunOnStart: true}),
	}
}

// Health component of the escalation engine.
const (
	// EscalationHealthName is the component name in /health.
	EscalationHealthName = "escalation"
	// EscalationMaxOverdue is how late the oldest pending step may be
	// before the component is DOWN: the step job and the sweeper's
	// re-drives have both failed to fire it.
	EscalationMaxOverdue = 5 * time.Minute
)

// EscalationHealthCheck returns the "escalation" /health component: DOWN
// when the oldest pending escalation step is more than EscalationMaxOverdue
// past its due time, with that lateness in whole seconds as detail
// (oldestOverdueSeconds). It is not critical: stalled escalations show in
// /health and alerts without taking the API out of the load balancer.
func EscalationHealthCheck(st *store.Store, now func() time.Time) health.Check {
	return health.Check{
		Name: EscalationHealthName,
		Run: func(ctx context.Context) (map[string]any, error) {
			late, err := st.OldestOverdueStep(ctx, now())
			if err != nil {
				return nil, err
			}
			details := map[string]any{"oldestOverdueSeconds": int64(late / time.Second)}
			if late > EscalationMaxOverdue {
				return details, fmt.Errorf("oldest pending escalation step is %s overdue (limit %s)", late.Round(time.Second), EscalationMaxOverdue)
			}
			return details, nil
		},
	}
}
