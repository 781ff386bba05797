// Package jobs runs River job queues on either database engine behind one
// small, non-generic Client, and lets stores enqueue jobs inside their own
// database transaction so a job exists if and only if the change that caused
// it was committed.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// Config describes the work a Client does.
type Config struct {
	// Workers holds every job kind this process can run (river.AddWorker).
	// It is needed even by insert-only clients so that job kinds are known.
	Workers *river.Workers
	// PeriodicJobs are enqueued on their schedule by the elected leader
	// only, so several worker processes never duplicate them.
	PeriodicJobs []*river.PeriodicJob
	// RunWorkers makes Start fetch and work jobs. When false the client only
	// inserts (the `serve --workers=false` shape).
	RunWorkers bool
	// MaxWorkers is the number of jobs worked at once (default 10).
	MaxWorkers int
	// Queues are queues this process works besides River's default one,
	// each with its number of jobs worked at once. A job kind added by a
	// release goes in a queue of its own: during a blue/green deploy the
	// workers of the release before share the database, fetch every job of
	// the queues they work, and discard a kind they do not know (QA: the
	// old workers threw away the new audit checkpoints).
	Queues map[string]int
	// Logger receives River's own logs.
	Logger *slog.Logger
	// ErrorHandler is told about failed jobs (for metrics); may be nil.
	ErrorHandler river.ErrorHandler
	// Middleware wraps every job this client inserts or works (for
	// metrics of every kind, such as queue lag); may be empty.
	Middleware []rivertype.Middleware
}

// DefaultJobTimeout bounds a job whose worker declares no Timeout, and is
// how long a job must have been running before River's rescuer looks at
// it. A job kind that may run longer declares its own Timeout (River's
// Worker.Timeout), which the rescuer waits for before retrying a job whose
// process died.
const DefaultJobTimeout = time.Minute

// RetryPolicy is River's default backoff (attempt⁴ seconds, ±10%: 1 s,
// 16 s, 81 s, 256 s, …) counted from the start of the failed attempt
// rather than from its end, and never earlier than now.
//
// Why: a job whose process was killed is only retried once River's rescuer
// sees its Timeout has passed, so its attempt began that long ago; counted
// from the rescue, the backoff came on top. A delivery job killed in its
// third attempt sent its reminders 81 s after the rescue, 3.5-4 min after
// they were due, past the 3-minute notification objective. A job that
// fails by itself fails soon after it starts and is retried as before.
type RetryPolicy struct{}

// NextRetry returns when job, whose attempt has just failed or been
// rescued, runs again.
func (RetryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	now := time.Now().UTC()
	next := (&river.DefaultClientRetryPolicy{}).NextRetry(job)
	if job.AttemptedAt == nil {
		return next
	}
	fromStart := job.AttemptedAt.Add(next.Sub(now))
	if fromStart.Before(now) {
		return now
	}
	return fromStart
}

// Client is a River client on one of the two engines.
type Client struct {
	dialect db.Dialect
	lite    *river.Client[*sql.Tx]
	pg      *river.Client[pgx.Tx]
	running bool
}

// New builds a client on d.
func New(d *db.DB, cfg Config) (*Client, error) {
	rc := &river.Config{
		Workers:      cfg.Workers,
		PeriodicJobs: cfg.PeriodicJobs,
		Logger:       cfg.Logger,
		ErrorHandler: cfg.ErrorHandler,
		Middleware:   cfg.Middleware,
		JobTimeout:   DefaultJobTimeout,
		// A job whose process was killed stays "running", and a periodic
		// job is unique while running: nothing runs it again until River's
		// rescuer retries it. The rescuer leaves alone a job still within
		// its own Timeout (or JobTimeout when it has none), so a killed job
		// is retried once that has passed, checked every 30 s: 2-2.5 min
		// for a delivery job (notifications must go out within 3 min), 30
		// min for a dose-horizon run, 6 h for a national load. River's
		// default would wait JobTimeout + 1 h, and it refuses a
		// RescueStuckJobsAfter below JobTimeout.
		RescueStuckJobsAfter: DefaultJobTimeout,
		RetryPolicy:          RetryPolicy{},
	}
	if cfg.RunWorkers {
		n := cfg.MaxWorkers
		if n <= 0 {
			n = 10
		}
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: n}}
		for name, workers := range cfg.Queues {
			rc.Queues[name] = river.QueueConfig{MaxWorkers: max(workers, 1)}
		}
	}
	c := &Client{dialect: d.Dialect, running: cfg.RunWorkers}
	var err error
	switch d.Dialect {
	case db.Postgres:
		c.pg, err = river.NewClient(riverpgxv5.New(d.Pool), rc)
	default:
		// SQLite has no LISTEN/NOTIFY: River polls. A short poll interval
		// keeps the embedded shape responsive.
		rc.PollOnly = true
		rc.FetchPollInterval = 250 * time.Millisecond
		c.lite, err = river.NewClient(riversqlite.New(d.SQL), rc)
	}
	if err != nil {
		return nil, fmt.Errorf("create job client: %w", err)
	}
	return c, nil
}

// Start begins working jobs when the client was built with RunWorkers; it is
// a no-op for insert-only clients. The end of ctx does not stop the client:
// Stop does.
func (c *Client) Start(ctx context.Context) error {
	if !c.running {
		return nil
	}
	// River stops hard when its start context ends: callers pass the
	// process's signal context, which ends at SIGTERM, while running jobs
	// should get Stop's grace period. Only Stop ends the client.
	ctx = context.WithoutCancel(ctx)
	var err error
	if c.pg != nil {
		err = c.pg.Start(ctx)
	} else {
		err = c.lite.Start(ctx)
	}
	if err != nil {
		return fmt.Errorf("start job workers: %w", err)
	}
	return nil
}

// CancelWait is how long Stop waits, once ctx is done, for the cancelled
// jobs to return and River to record what finished. Unbounded, that wait
// lasted as long as River's completer retried against a database that
// had stalled: 65 s, where ECS kills the task 30 s after SIGTERM (QA).
const CancelWait = 3 * time.Second

// Stop lets running jobs finish until ctx is done, then cancels them and
// waits at most CancelWait more. A job still running then (one that does
// not heed its context, or whose completion cannot be recorded) is left
// to River's rescuer, which runs it again once its timeout has passed.
func (c *Client) Stop(ctx context.Context) error {
	if !c.running {
		return nil
	}
	stop, stopAndCancel := c.lite.Stop, c.lite.StopAndCancel
	if c.pg != nil {
		stop, stopAndCancel = c.pg.Stop, c.pg.StopAndCancel
	}
	err := stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CancelWait)
		defer cancel()
		err = stopAndCancel(cctx)
	}
	if err != nil {
		return fmt.Errorf("stop job workers: %w", err)
	}
	return nil
}

// Insert enqueues a job outside any transaction.
func (c *Client) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	var (
		res *rivertype.JobInsertResult
		err error
	)
	if c.pg != nil {
		res, err = c.pg.Insert(ctx, args, opts)
	} else {
		res, err = c.lite.Insert(ctx, args, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("enqueue %s job: %w", args.Kind(), err)
	}
	return res, nil
}

// InsertTx enqueues a job inside tx: it becomes visible to workers only if
// tx commits.
func (c *Client) InsertTx(ctx context.Context, tx *db.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	var (
		res *rivertype.JobInsertResult
		err error
	)
	if c.lite != nil {
		res, err = c.lite.InsertTx(ctx, tx.Tx, args, opts)
	} else {
		// The stores use database/sql; River's pgx driver wants a pgx.Tx.
		// Both sit on the same pgx connection, so hand River that
		// connection, already inside our transaction.
		err = tx.Conn.Raw(func(driverConn any) error {
			sc, ok := driverConn.(*stdlib.Conn)
			if !ok {
				return fmt.Errorf("unexpected driver connection %T", driverConn)
			}
			var ierr error
			res, ierr = c.pg.InsertTx(ctx, &connTx{conn: sc.Conn()}, args, opts)
			return ierr
		})
	}
	if err != nil {
		return nil, fmt.Errorf("enqueue %s job: %w", args.Kind(), err)
	}
	return res, nil
}

// Job returns the job id as River reads it (its state and errors).
func (c *Client) Job(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	var (
		job *rivertype.JobRow
		err error
	)
	if c.pg != nil {
		job, err = c.pg.JobGet(ctx, id)
	} else {
		job, err = c.lite.JobGet(ctx, id)
	}
	if err != nil {
		return nil, fmt.Errorf("read job %d: %w", id, err)
	}
	return job, nil
}

// QuietLogger keeps River's own logs at warn and above: its info lines
// (job started, completed) would drown the product's logs. It also drops
// River's messages whose error is only "context canceled": Start gives
// River a context that nothing cancels, so that error comes from Stop,
// when a maintenance service (the periodic job enqueuer, the scheduler)
// is cut short at SIGTERM; River logs it at ERROR, which paged whoever
// alerts on error lines at every deployment. A leader's failure to resign
// at a stop is logged as a warning (see levelFilter.Handle).
func QuietLogger(log *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{Handler: log.Handler(), min: slog.LevelWarn})
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (l levelFilter) Enabled(ctx context.Context, lvl slog.Level) bool {
	return lvl >= l.min && l.Handler.Enabled(ctx, lvl)
}

func (l levelFilter) Handle(ctx context.Context, r slog.Record) error {
	stopped := false
	r.Attrs(func(a slog.Attr) bool {
		// River names the attribute "error" in some lines and "err" in
		// others (the job executor, the producer, leader election).
		if (a.Key == "error" || a.Key == "err") && a.Value.String() == context.Canceled.Error() {
			stopped = true
			return false
		}
		return true
	})
	if stopped {
		return nil
	}
	if r.Level >= slog.LevelError && strings.Contains(r.Message, "Error attempting to resign") {
		// Giving up leadership at a stop can time out (on SQLite a load
		// finishing its swap holds the only writer; QA): the lease then
		// runs out by itself and another process is elected. A warning,
		// not an error line that pages at a deployment.
		r.Level = slog.LevelWarn
	}
	return l.Handler.Handle(ctx, r)
}

// WithAttrs and WithGroup keep the filter on derived handlers (River
// derives loggers with attributes).
func (l levelFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelFilter{Handler: l.Handler.WithAttrs(attrs), min: l.min}
}

func (l levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{Handler: l.Handler.WithGroup(name), min: l.min}
}

// InsertManyTx enqueues many jobs inside tx in one round trip (COPY on
// PostgreSQL): they become visible to workers only if tx commits. Unique
// job options are not honoured on this path.
func (c *Client) InsertManyTx(ctx context.Context, tx *db.Tx, params []river.InsertManyParams) error {
	if len(params) == 0 {
		return nil
	}
	var err error
	if c.lite != nil {
		_, err = c.lite.InsertManyFastTx(ctx, tx.Tx, params)
	} else {
		err = tx.Conn.Raw(func(driverConn any) error {
			sc, ok := driverConn.(*stdlib.Conn)
			if !ok {
				return fmt.Errorf("unexpected driver connection %T", driverConn)
			}
			_, ierr := c.pg.InsertManyFastTx(ctx, &connTx{conn: sc.Conn()}, params)
			return ierr
		})
	}
	if err != nil {
		return fmt.Errorf("enqueue %d %s jobs: %w", len(params), params[0].Args.Kind(), err)
	}
	return nil
}
