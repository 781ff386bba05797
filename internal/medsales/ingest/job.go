package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

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
}

// Timeout lets a national-scale file load for hours.
func (w *Worker) Timeout(*river.Job[JobArgs]) time.Duration { return 6 * time.Hour }

// Work runs the load and logs progress every 30 seconds.
func (w *Worker) Work(ctx context.Context, job *river.Job[JobArgs]) error {
	res, err := w.Service.Run(ctx, job.Args.Request, NewLogProgress(ctx, w.Logger, string(job.Args.Dataset), 30*time.Second, time.Now))
	if err != nil {
		if errs.CodeOf(err) == errs.CodeInvalid {
			return river.JobCancel(err)
		}
		return fmt.Errorf("ingest %s: %w", job.Args.Dataset, err)
	}
	w.Logger.InfoContext(ctx, "ingest job done", "dataset", string(job.Args.Dataset), "version", res.VersionID, "loaded", res.Loaded, "rejected", res.Rejected)
	return nil
}
