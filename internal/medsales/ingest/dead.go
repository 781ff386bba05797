package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/jobs"
)

// DeadJobError is the error a dead load's job is discarded with. It does
// not say the load was cut short: a worker shut down while the database
// stalled may have committed its load and failed only to record the job's
// end, and the message sent operators to queue a load that had succeeded
// (QA). The load history says which.
const DeadJobError = "the worker stopped before recording the job's end (killed, lost, or shut down while the database was unreachable): discarded so that the load can be queued again; the dataset's load history says whether the load finished"

// DiscardDeadJobs finds the loads whose worker died and takes them out of
// River's way. A worker killed mid-load (SIGKILL, out of memory, a lost
// host) leaves its job running, and River's rescuer takes it up only once
// the job's 6 h Timeout has passed: until then the same request queued
// again is answered as a duplicate of the dead job, and nothing loads.
//
// A medsales_ingest job (of dataset, or of every dataset when it is "")
// is dead when River has had it running for more than earlierFresh (a
// live load takes its dataset's lock within its first moments and holds
// it to the end) and that lock is free right now: no process is loading
// the dataset. Such a job is discarded, with DeadJobError among its
// errors, so River's unique options no longer cover it, and the rows of
// its dataset still running in the history are marked failed as
// interrupted (store.InterruptedReason). The lock is held meanwhile, so
// no load of the dataset starts halfway through.
//
// A live job leaves one gap: it releases the lock when its load has
// finished, and River marks it completed a moment later. A job seen in
// that gap is left alone when a load of its dataset finished less than
// earlierFresh ago: it may be that job's own load, and River's completer
// records the outcome within seconds. A job still running a minute after
// its dataset's last load finished, with the lock free, is dead either
// way, and a later call discards it. (The history does not record which
// job ran a load, so the load's time is what ties them.)
//
// It returns the ids of the jobs it discarded.
func DiscardDeadJobs(ctx context.Context, st *store.Store, dataset medsales.Dataset, now func() time.Time, log *slog.Logger) ([]int64, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	running, err := jobs.RunningSince(ctx, st.DB(), JobArgs{}.Kind(), earlierFresh)
	if err != nil {
		return nil, err
	}
	byDataset := map[medsales.Dataset][]jobs.RunningJob{}
	var order []medsales.Dataset
	for _, j := range running {
		var args JobArgs
		if err := json.Unmarshal(j.Args, &args); err != nil || !args.Dataset.Valid() {
			continue // not a load this code can run
		}
		if dataset != "" && args.Dataset != dataset {
			continue
		}
		if byDataset[args.Dataset] == nil {
			order = append(order, args.Dataset)
		}
		byDataset[args.Dataset] = append(byDataset[args.Dataset], j)
	}
	var discarded []int64
	for _, d := range order {
		ids, err := discardDead(ctx, st, d, byDataset[d], now, log)
		discarded = append(discarded, ids...)
		if err != nil {
			return discarded, err
		}
	}
	return discarded, nil
}

// discardDead discards the candidate jobs of dataset d if no process is
// loading d (DiscardDeadJobs).
func discardDead(ctx context.Context, st *store.Store, d medsales.Dataset, candidates []jobs.RunningJob, now func() time.Time, log *slog.Logger) ([]int64, error) {
	release, err := st.LockDataset(ctx, d)
	if errors.Is(err, store.ErrLoadRunning) {
		return nil, nil // a live load: the job is it, or waits behind it
	}
	if err != nil {
		return nil, err
	}
	defer release()
	last, ok, err := st.LastFinished(ctx, d)
	if err != nil {
		return nil, err
	}
	if ok && now().Sub(last) < earlierFresh {
		return nil, nil // maybe a job whose load just finished: see DiscardDeadJobs
	}
	var discarded []int64
	for _, j := range candidates {
		done, err := jobs.DiscardRunning(ctx, st.DB(), j, DeadJobError, now())
		if err != nil {
			return discarded, err
		}
		if done {
			discarded = append(discarded, j.ID)
			log.WarnContext(ctx, "ingest job discarded: its worker stopped before recording its end (see the dataset's load history)", "dataset", string(d), "job", j.ID)
		}
	}
	if len(discarded) > 0 {
		if err := st.FailInterrupted(ctx, d, now()); err != nil {
			return discarded, err
		}
	}
	return discarded, nil
}

// DeadJobsArgs is the periodic job that runs DiscardDeadJobs on every
// dataset, so that a load whose worker died is discarded within minutes
// even when nobody queues it again.
type DeadJobsArgs struct{}

// Kind names the job in River's tables.
func (DeadJobsArgs) Kind() string { return "medsales_dead_jobs" }

// InsertOpts: tried once (the next tick is the retry), and unique while
// queued or running so that busy workers never pile ticks up.
func (DeadJobsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		MaxAttempts: 1,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled,
		}},
	}
}

// DeadJobsWorker runs DeadJobsArgs.
type DeadJobsWorker struct {
	river.WorkerDefaults[DeadJobsArgs]
	Store  *store.Store
	Now    func() time.Time
	Logger *slog.Logger
}

// Work discards the dead loads of every dataset.
func (w *DeadJobsWorker) Work(ctx context.Context, _ *river.Job[DeadJobsArgs]) error {
	_, err := DiscardDeadJobs(ctx, w.Store, "", w.Now, w.Logger)
	return err
}

// Timeout bounds one run: a few queries and a lock per dataset.
func (w *DeadJobsWorker) Timeout(*river.Job[DeadJobsArgs]) time.Duration { return time.Minute }

// DeadJobsPeriodic is the periodic DeadJobsArgs job: once at start and
// then every minute (earlierFresh), enqueued by the elected leader.
func DeadJobsPeriodic() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(earlierFresh), func() (river.JobArgs, *river.InsertOpts) {
		return DeadJobsArgs{}, nil
	}, &river.PeriodicJobOpts{ID: "medsales_dead_jobs", RunOnStart: true})
}
