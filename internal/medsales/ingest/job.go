package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/medsales/source"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/jobs"
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
// one is waiting or running (a job whose worker died is discarded first:
// DiscardDeadJobs).
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
	// DB is River's database, where the worker looks for earlier loads of
	// the same dataset (nil: it does not, and two loads queued back to
	// back may run in either order).
	DB     *db.DB
	Logger *slog.Logger
	// BusySnooze overrides DefaultBusySnooze (tests shorten it).
	BusySnooze time.Duration
}

// Timeout lets a national-scale file load for hours.
func (w *Worker) Timeout(*river.Job[JobArgs]) time.Duration { return 6 * time.Hour }

// earlierFresh is how long a running job counts as about to take its
// dataset's lock: a live load takes it as it starts, so an earlier job
// running for longer without it (the lock was free) is dead.
const earlierFresh = time.Minute

// DefaultBusySnooze is how long a job that finds another load of its
// dataset running waits before trying again: short beside a load's
// minutes, long enough not to poll the lock in a tight loop.
const DefaultBusySnooze = 20 * time.Second

// Work runs the load and logs progress every 30 seconds. A job that finds
// a load of its dataset already running (two files queued back to back)
// waits its turn: it is snoozed, which River does not count as an attempt,
// rather than discarded with nothing recorded.
//
// A worker shutting down (SIGTERM) lets a running load go on for the
// shutdown's grace period, then River cancels the job's context
// (jobs.Client.Stop). The load then stops, leaves the live data as it
// was, and is recorded as failed with WorkerStopping as the reason; Work
// returns an error wrapping the context's, which River recognises as its
// own stop: it puts the job back in the queue without counting the
// attempt, so the load runs again from the start on the next worker to
// fetch it (this one's next start, or another worker at once). A job
// past its Timeout or cancelled through River is not re-queued: its
// context ends for that reason, which is recorded instead.
//
// A job queued through POST /v1/ingestions carries in its metadata the
// prefixes its source was allowed by (QueuedOpts): the source's server
// may redirect the load only to a target they allow too.
func (w *Worker) Work(ctx context.Context, job *river.Job[JobArgs]) error {
	snooze := w.BusySnooze
	if snooze <= 0 {
		snooze = DefaultBusySnooze
	}
	// A load queued through the API follows only the redirects that stay
	// within the prefixes its source was allowed by (jobMeta).
	meta, err := jobMetaOf(job.Metadata)
	if err != nil {
		w.Logger.WarnContext(ctx, "ingest job cancelled: its metadata cannot be read", "job", job.ID, "error", err.Error())
		return river.JobCancel(fmt.Errorf("ingest %s: %w", job.Args.Dataset, err))
	}
	// The job's lines name it, and the request that queued it: a load
	// can be followed from its POST /v1/ingestions (the history entry
	// records the job too: GET /v1/ingestions/{id}).
	attrs := []any{"job", job.ID}
	if meta.RequestID != "" {
		attrs = append(attrs, "request_id", meta.RequestID)
	}
	log := w.Logger.With(attrs...)
	if w.DB != nil {
		// Loads of one dataset run in the order they were queued: a full
		// file queued before the week's increment must not run after it
		// (it would undo the week), which can happen when River starts
		// both at once, or when the earlier one had to wait for the lock.
		earlier, err := jobs.EarlierJob(ctx, w.DB, job.Kind, job.ID, "dataset", string(job.Args.Dataset), earlierFresh)
		if err != nil {
			return stopped(ctx, err)
		}
		if earlier {
			log.InfoContext(ctx, "ingest job waiting: a load of its dataset queued earlier runs first",
				"dataset", string(job.Args.Dataset), "retry_in", snooze.String())
			return river.JobSnooze(snooze)
		}
	}
	svc := *w.Service
	if svc.Logger != nil {
		svc.Logger = svc.Logger.With(attrs...)
	}
	if len(meta.AllowedSources) > 0 {
		svc.Source.CheckRedirect = redirectWithin(meta.AllowedSources)
	}
	req := job.Args.Request
	req.JobID = job.ID
	loadCtx, stop := loadContext(ctx)
	defer stop()
	res, err := svc.Run(loadCtx, req, NewLogProgress(ctx, log, string(job.Args.Dataset), 30*time.Second, time.Now))
	if err != nil {
		if errors.Is(err, store.ErrLoadRunning) {
			log.InfoContext(ctx, "ingest job waiting: a load of its dataset is running",
				"dataset", string(job.Args.Dataset), "retry_in", snooze.String())
			return river.JobSnooze(snooze)
		}
		if ctx.Err() != nil {
			return stopped(ctx, fmt.Errorf("ingest %s: %w", job.Args.Dataset, err))
		}
		// Bad input (a damaged archive too: its bytes are the same on
		// the next attempt), or an s3:// source the worker's AWS
		// configuration cannot read (no credentials): another attempt
		// would fail alike.
		if errs.CodeOf(err) == errs.CodeInvalid || errors.Is(err, source.ErrDamaged) || errors.Is(err, source.ErrConfig) {
			return river.JobCancel(err)
		}
		return fmt.Errorf("ingest %s: %w", job.Args.Dataset, err)
	}
	if res.Unchanged {
		// Run logged "ingest skipped" with the reason; the job succeeds.
		log.InfoContext(ctx, "ingest job done", "dataset", string(job.Args.Dataset), "skipped", true, "served_version", res.ServedVersionID)
		return nil
	}
	done := []any{"dataset", string(job.Args.Dataset), "version", res.VersionID, "loaded", res.Loaded, "rejected", res.Rejected}
	if res.RejectsFile != "" {
		done = append(done, "rejects_file", res.RejectsFile)
	}
	log.InfoContext(ctx, "ingest job done", done...)
	return nil
}

// loadContext is the context a job's load runs with. It ends when River
// ends the job's context ctx, with River's reason turned into the
// Interruption the load records: past the job's Timeout (JobTimedOut),
// cancelled through River (JobCancelled), or cancelled because the client
// is stopping (WorkerStopping). River's stop cause is internal to River,
// so it is recognised as the cause that is none of the others: River
// v0.47 ends a job's context for these three reasons only. A context
// cancelled with no cause at all (not River's doing) records a plain
// cancellation.
func loadContext(ctx context.Context) (context.Context, func()) {
	loadCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	stopAfter := context.AfterFunc(ctx, func() {
		cause := context.Cause(ctx)
		switch {
		case errors.Is(cause, context.DeadlineExceeded):
			cause = JobTimedOut
		case errors.Is(cause, rivertype.ErrJobCancelledRemotely):
			cause = JobCancelled
		case cause == context.Canceled:
		default:
			cause = WorkerStopping
		}
		cancel(cause)
	})
	return loadCtx, func() {
		stopAfter()
		cancel(nil)
	}
}

// stopped returns err, when ctx has ended, wrapping ctx's error too, so
// that River tells a job stopped by its own shutdown (which it re-queues)
// from a failed one whatever the step that saw the end wrapped.
func stopped(ctx context.Context, err error) error {
	if ctx.Err() == nil || errors.Is(err, ctx.Err()) {
		return err
	}
	return fmt.Errorf("%w (%w)", err, ctx.Err())
}
