package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/adherence"
)

// Metrics are the background jobs' Prometheus metrics. Labels carry job
// kinds and outcomes only, never ids.
type Metrics struct {
	HorizonRuns     *prometheus.CounterVec
	HorizonDuration prometheus.Histogram
	DosesGenerated  prometheus.Counter
	JobErrors       *prometheus.CounterVec
	JobPanics       *prometheus.CounterVec
	DosesMissed     prometheus.Counter
	QueueLag        *prometheus.HistogramVec
}

// NewMetrics registers the job metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		HorizonRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adherence_dose_horizon_runs_total",
			Help: "Runs of the dose-horizon job, by outcome (success, error).",
		}, []string{"outcome"}),
		HorizonDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "adherence_dose_horizon_duration_seconds",
			Help:    "Duration of dose-horizon job runs.",
			Buckets: []float64{0.1, 1, 5, 15, 30, 60, 120, 300, 600},
		}),
		DosesGenerated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adherence_dose_instances_generated_total",
			Help: "Dose instances created by the dose-horizon job as the horizon moves on (not those made with a plan or by its regeneration).",
		}),
		JobErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adherence_job_errors_total",
			Help: "Job attempts that returned an error, by job kind.",
		}, []string{"kind"}),
		JobPanics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adherence_job_panics_total",
			Help: "Job attempts that panicked, by job kind.",
		}, []string{"kind"}),
		DosesMissed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adherence_doses_missed_total",
			Help: "Dose instances marked missed (window closed with no outcome).",
		}),
		QueueLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "adherence_job_queue_lag_seconds",
			Help:    "Time from a job's scheduled time to a worker starting it, by job kind.",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 30, 60, 180, 600},
		}, []string{"kind"}),
	}
	// Every job kind starts at 0: a series that first appears at 1 is
	// missed by increase() in the alert rules, so the first failure of a
	// kind would not alert.
	for _, kind := range jobKinds {
		m.JobErrors.WithLabelValues(kind)
		m.JobPanics.WithLabelValues(kind)
		m.QueueLag.WithLabelValues(kind)
	}
	for _, c := range []prometheus.Collector{m.HorizonRuns, m.HorizonDuration, m.DosesGenerated, m.JobErrors, m.JobPanics, m.DosesMissed, m.QueueLag} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register job metrics: %w", err)
		}
	}
	return m, nil
}

// jobKinds are the kinds of every adherence job.
var jobKinds = []string{
	ArmRemindersArgs{}.Kind(), DispatchRemindersArgs{}.Kind(), adherence.DeliverArgs{}.Kind(),
	DoseHorizonArgs{}.Kind(), MissedDosesArgs{}.Kind(), ReconcileArgs{}.Kind(),
	EscalationOutboxArgs{}.Kind(), EscalationSweepArgs{}.Kind(), adherence.EscalationStepArgs{}.Kind(),
	TableStatsArgs{}.Kind(), AuditCheckpointArgs{}.Kind(), OutboxPruneArgs{}.Kind(),
}

// ErrorHandler counts failed job attempts for River's Config.ErrorHandler;
// River itself retries them.
func (m *Metrics) ErrorHandler() river.ErrorHandler { return errorCounter{m} }

type errorCounter struct{ m *Metrics }

func (e errorCounter) HandleError(ctx context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	e.m.JobErrors.WithLabelValues(job.Kind).Inc()
	return nil
}

func (e errorCounter) HandlePanic(ctx context.Context, job *rivertype.JobRow, panicVal any, trace string) *river.ErrorHandlerResult {
	e.m.JobPanics.WithLabelValues(job.Kind).Inc()
	return nil
}

// Middleware observes every job's queue lag (its scheduled time to a
// worker starting it), whatever its kind, for River's Config.Middleware.
func (m *Metrics) Middleware() rivertype.Middleware { return &lagObserver{m: m} }

type lagObserver struct {
	river.MiddlewareDefaults
	m *Metrics
}

func (l *lagObserver) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	l.m.QueueLag.WithLabelValues(job.Kind).Observe(time.Since(job.ScheduledAt).Seconds())
	return doInner(ctx)
}
