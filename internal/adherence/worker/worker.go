// Package worker defines the adherence product's background jobs: their
// River argument types, workers and periodic schedules.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/db"
)

// PeriodicTimeout is the Timeout of the frequent periodic jobs that
// notifications wait on: reminder dispatch, missed-dose marking and the
// escalation outbox. Unique while running (see DoseHorizonArgs.InsertOpts),
// a run whose process was killed keeps every later tick out until River's
// rescuer takes it up, once its Timeout has passed since it started (the
// rescuer looks every 30 s): QA killed a worker during a dispatch run,
// and with its former 10-minute Timeout no reminder was sent for ten
// minutes, by any worker. A run stops after PeriodicBudget, at the end of
// the chunk it is in, and the next tick goes on.
const PeriodicTimeout = time.Minute

// PeriodicBudget is how long a run of those jobs works before it stops:
// half their Timeout, so the chunk under way when it runs out (one
// transaction of at most a thousand doses or a hundred outbox records)
// ends in time on a loaded database.
const PeriodicBudget = 30 * time.Second

// DoseHorizonArgs asks for dose instances to be materialised up to the
// rolling horizon for every active plan.
type DoseHorizonArgs struct{}

// Kind identifies the job in the queue.
func (DoseHorizonArgs) Kind() string { return "dose_horizon" }

// InsertOpts makes the job unique while queued or running, so a slow run is
// never overlapped by the next tick. Every periodic job of the product
// uses these options.
//
// A periodic job is tried once (MaxAttempts 1): its next tick is its
// retry. Retried by River, a failed run stayed retryable — unique, so
// keeping every later tick out — for River's backoff (the 4th power of
// the attempt in seconds: 16 s, 81 s, … hours), and a short database
// outage stopped missed-dose detection, reminders and escalations for
// that long after the database was back.
func (DoseHorizonArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	}}}
}

// DoseHorizonWorker runs store.ExtendHorizon.
type DoseHorizonWorker struct {
	river.WorkerDefaults[DoseHorizonArgs]
	Store   *store.Store
	Now     func() time.Time
	Logger  *slog.Logger
	Metrics *Metrics // optional
}

// Work extends the horizon; it is idempotent, so retries are harmless.
func (w *DoseHorizonWorker) Work(ctx context.Context, job *river.Job[DoseHorizonArgs]) error {
	start := time.Now()
	res, err := w.Store.ExtendHorizon(ctx, w.Now())
	if w.Metrics != nil {
		w.Metrics.HorizonDuration.Observe(time.Since(start).Seconds())
		w.Metrics.DosesGenerated.Add(float64(res.Instances))
		outcome := "success"
		if err != nil {
			outcome = "error"
		}
		w.Metrics.HorizonRuns.WithLabelValues(outcome).Inc()
	}
	if err != nil {
		return fmt.Errorf("extend dose horizon: %w", err)
	}
	w.Logger.InfoContext(ctx, "dose horizon extended", "plans", res.Plans, "instances", res.Instances, "duration_ms", time.Since(start).Milliseconds())
	return nil
}

// Timeout allows a full national run (250k patients) to finish.
func (w *DoseHorizonWorker) Timeout(*river.Job[DoseHorizonArgs]) time.Duration {
	return 30 * time.Minute
}

// MissedDosesArgs asks for every dose whose window has closed without an
// outcome to be marked missed (and announced in the outbox).
type MissedDosesArgs struct{}

// Kind identifies the job in the queue.
func (MissedDosesArgs) Kind() string { return "missed_doses" }

// InsertOpts makes the job unique while queued or running.
func (MissedDosesArgs) InsertOpts() river.InsertOpts { return DoseHorizonArgs{}.InsertOpts() }

// MissedDosesWorker runs store.MarkMissed. Running it on several workers
// at once is safe: each instance is marked and announced exactly once.
type MissedDosesWorker struct {
	river.WorkerDefaults[MissedDosesArgs]
	Store   *store.Store
	Now     func() time.Time
	Logger  *slog.Logger
	Metrics *Metrics // optional
}

// Work marks the missed doses.
func (w *MissedDosesWorker) Work(ctx context.Context, job *river.Job[MissedDosesArgs]) error {
	start := time.Now()
	res, err := w.Store.MarkMissedWithin(ctx, w.Now(), PeriodicBudget)
	if w.Metrics != nil {
		w.Metrics.DosesMissed.Add(float64(res.Marked))
	}
	if err != nil {
		return fmt.Errorf("mark missed doses: %w", err)
	}
	if res.Marked > 0 {
		w.Logger.InfoContext(ctx, "missed doses marked", "marked", res.Marked, "examined", res.Examined, "more", res.More,
			"duration_ms", time.Since(start).Milliseconds())
	}
	return nil
}

// Timeout is PeriodicTimeout: a run stops after PeriodicBudget, and the
// next goes on with a national 08:00 backlog (a few hundred thousand
// instances).
func (w *MissedDosesWorker) Timeout(*river.Job[MissedDosesArgs]) time.Duration {
	return PeriodicTimeout
}

// TableStatsArgs asks for planner statistics on the tables that have none
// yet or, where autovacuum is off, out-of-date ones (PostgreSQL; see
// db.AnalyzeStale).
type TableStatsArgs struct{}

// Kind identifies the job in the queue.
func (TableStatsArgs) Kind() string { return "table_statistics" }

// InsertOpts makes the job unique while queued or running.
func (TableStatsArgs) InsertOpts() river.InsertOpts { return DoseHorizonArgs{}.InsertOpts() }

// TableStatsWorker runs store.AnalyzeStaleTables.
type TableStatsWorker struct {
	river.WorkerDefaults[TableStatsArgs]
	Store  *store.Store
	Logger *slog.Logger
}

// Work analyzes what needs it; most runs only read the statistics views.
func (w *TableStatsWorker) Work(ctx context.Context, job *river.Job[TableStatsArgs]) error {
	start := time.Now()
	tables, err := w.Store.AnalyzeStaleTables(ctx)
	if err != nil {
		return fmt.Errorf("table statistics: %w", err)
	}
	if len(tables) > 0 {
		w.Logger.InfoContext(ctx, "tables with missing or stale planner statistics analyzed", "tables", tables, "duration_ms", time.Since(start).Milliseconds())
	}
	return nil
}

// Timeout: ANALYZE of a table of tens of millions of dose instances.
func (w *TableStatsWorker) Timeout(*river.Job[TableStatsArgs]) time.Duration { return 10 * time.Minute }

// Config says how often periodic work runs.
type Config struct {
	HorizonInterval time.Duration // default 1h
	MissedInterval  time.Duration // default 1m
	// StatsInterval is how often tables without planner statistics are
	// looked for (default 15s: soon enough that a young database's first
	// spike runs on indexed plans).
	StatsInterval time.Duration
	Metrics       *Metrics // optional
}

// Register adds every worker to workers and returns the periodic jobs.
func Register(workers *river.Workers, st *store.Store, now func() time.Time, logger *slog.Logger, cfg Config) []*river.PeriodicJob {
	river.AddWorker(workers, &DoseHorizonWorker{Store: st, Now: now, Logger: logger, Metrics: cfg.Metrics})
	river.AddWorker(workers, &MissedDosesWorker{Store: st, Now: now, Logger: logger, Metrics: cfg.Metrics})
	river.AddWorker(workers, &TableStatsWorker{Store: st, Logger: logger})
	interval := cfg.HorizonInterval
	if interval <= 0 {
		interval = time.Hour
	}
	missed := cfg.MissedInterval
	if missed <= 0 {
		missed = time.Minute
	}
	stats := cfg.StatsInterval
	if stats <= 0 {
		stats = 15 * time.Second
	}
	periodic := []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(interval), func() (river.JobArgs, *river.InsertOpts) {
			return DoseHorizonArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "dose_horizon", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(missed), func() (river.JobArgs, *river.InsertOpts) {
			return MissedDosesArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "missed_doses", RunOnStart: true}),
	}
	if st.Dialect() == db.Postgres {
		// SQLite plans without statistics well enough; the job would be
		// a no-op write every tick on its one writer.
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(stats), func() (river.JobArgs, *river.InsertOpts) {
			return TableStatsArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "table_statistics", RunOnStart: true}))
	}
	return periodic
}
