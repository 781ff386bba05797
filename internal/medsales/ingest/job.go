package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// JobArgs is the River job that runs one load; POST /v1/ingestions
// enqueues it and any worker process runs it.
type JobArgs struct {
	Request
}

// Kind names the job in River's tables.
func (JobArgs) Kind() string { return "medsales_ingest" }

// InsertOpts: a load is not retried automatically (a bad file stays bad;
// the operator re-submits), and the same request is not queued twice while
// one is waiting or running.
func (JobArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		MaxAttempts: 1,
		Queue:       river.QueueDefault,
		UniqueOpts: river.UniqueOpts{
			ByArgs:  true,
			ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled, rivertype.JobStateRetryable},
		},
	}
}

// Worker runs JobArgs with a Service.
type Worker struct {
	river.WorkerDefaults[JobArgs]
	Service *Service
	Logger  *slog.Logger
	// BusySnooze overrides DefaultBusySnooze (tests shorten it).
	BusySnooze time.Duration
}

// Timeout lets a national-scale file load for hours.
func (w *Worker) Timeout(*river.Job[JobArgs]) time.Duration { return 6 * time.Hour }

// DefaultBusySnooze is how long a job that finds another load of its
// dataset running waits before trying again: short beside a load's
// minutes, long enough not to poll the lock in a tight loop.
const DefaultBusySnooze = 20 * time.Second

// Work runs the load and logs progress every 30 seconds. A job that finds
// a load of its dataset already running (two files queued back to back)
// waits its turn: it is snoozed, which River does not count as an attempt,
// rather than discarded with nothing recorded.
func (w *Worker) Work(ctx context.Context, job *river.Job[JobArgs]) error {
	res, err := w.Service.Run(ctx, job.Args.Request, NewLogProgress(ctx, w.Logger, string(job.Args.Dataset), 30*time.Second, time.Now))
	if err != nil {
		if errors.Is(err, store.ErrLoadRunning) {
			d := w.BusySnooze
			if d <= 0 {
				d = DefaultBusySnooze
			}
			w.Logger.InfoContext(ctx, "ingest job waiting: a load of its dataset is running",
				"dataset", string(job.Args.Dataset), "job", job.ID, "retry_in", d.String())
			return river.JobSnooze(d)
		}
		if errs.CodeOf(err) == errs.CodeInvalid {
			return river.JobCancel(err)
		}
		return fmt.Errorf("ingest %s: %w", job.Args.Dataset, err)
	}
	w.Logger.InfoContext(ctx, "ingest job done", "dataset", string(job.Args.Dataset), "version", res.VersionID, "loaded", res.Loaded, "rejected", res.Rejected)
	return nil
}
