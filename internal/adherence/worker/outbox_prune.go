package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/adherence/store"
)

// DefaultOutboxRetention is how long processed outbox records are kept
// (OUTBOX_RETENTION): long enough for a consumer paging GET /v1/outbox to
// catch up after an outage, short enough that the table does not grow
// with every miss since the first.
const DefaultOutboxRetention = 30 * 24 * time.Hour

// OutboxPruneArgs asks for the outbox records processed more than the
// retention period ago to be deleted.
type OutboxPruneArgs struct{}

// Kind identifies the job in the queue.
func (OutboxPruneArgs) Kind() string { return "outbox_prune" }

// InsertOpts makes the job unique while queued or running, tried once.
func (OutboxPruneArgs) InsertOpts() river.InsertOpts { return DoseHorizonArgs{}.InsertOpts() }

// outboxPruneBudget is how long one run deletes before it leaves the rest
// to the next: a year's backlog on a first run is worked off over a few
// days of hourly runs, in chunks that keep SQLite's one writer free for
// the reminders between them.
const outboxPruneBudget = 2 * time.Minute

// OutboxPruneWorker runs store.PruneOutbox.
type OutboxPruneWorker struct {
	river.WorkerDefaults[OutboxPruneArgs]
	Store     *store.Store
	Now       func() time.Time
	Logger    *slog.Logger
	Retention time.Duration
}

// Work deletes what is past the retention period.
func (w *OutboxPruneWorker) Work(ctx context.Context, job *river.Job[OutboxPruneArgs]) error {
	start := time.Now()
	res, err := w.Store.PruneOutbox(ctx, w.Now().Add(-w.Retention), outboxPruneBudget)
	if err != nil {
		return fmt.Errorf("prune outbox: %w", err)
	}
	if res.Deleted > 0 || res.More {
		w.Logger.InfoContext(ctx, "processed outbox records pruned", "deleted", res.Deleted, "more", res.More,
			"retention", w.Retention.String(), "duration_ms", time.Since(start).Milliseconds())
	}
	return nil
}

// Timeout: the run's budget and its last chunk.
func (w *OutboxPruneWorker) Timeout(*river.Job[OutboxPruneArgs]) time.Duration {
	return outboxPruneBudget + time.Minute
}

// RegisterOutboxPrune adds the outbox pruning worker to workers and
// returns its periodic job: hourly, and at start. retention is
// DefaultOutboxRetention when zero.
func RegisterOutboxPrune(workers *river.Workers, st *store.Store, now func() time.Time, logger *slog.Logger, retention time.Duration) []*river.PeriodicJob {
	if retention <= 0 {
		retention = DefaultOutboxRetention
	}
	river.AddWorker(workers, &OutboxPruneWorker{Store: st, Now: now, Logger: logger, Retention: retention})
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(time.Hour), func() (river.JobArgs, *river.InsertOpts) {
			return OutboxPruneArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "outbox_prune", RunOnStart: true}),
	}
}
