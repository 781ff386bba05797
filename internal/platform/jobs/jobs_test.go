package jobs_test

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"
	"time"

	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/jobs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

var schema = fstest.MapFS{"00001_init.sql": {Data: []byte(
	"-- +goose Up\nCREATE TABLE thing (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n")}}

type pingArgs struct{ ID int }

func (pingArgs) Kind() string { return "test_ping" }

type pingWorker struct {
	river.WorkerDefaults[pingArgs]
	done chan int
}

func (w *pingWorker) Work(ctx context.Context, j *river.Job[pingArgs]) error {
	w.done <- j.Args.ID
	return nil
}

// TestInsertTx checks that a job enqueued inside a transaction exists only
// when the transaction commits, and that workers then run it.
func TestInsertTx(t *testing.T) {
	dbtest.Each(t, []migrate.Set{{SQLite: schema, Postgres: schema}}, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := &pingWorker{done: make(chan int, 10)}
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		c, err := jobs.New(d, jobs.Config{Workers: workers, RunWorkers: true})
		if err != nil {
			t.Fatal(err)
		}

		errRollback := errors.New("roll back")
		err = d.InTx(ctx, func(tx *db.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO thing (id, name) VALUES ($1, $2)", 1, "rolled back"); err != nil {
				return err
			}
			if _, err := c.InsertTx(ctx, tx, pingArgs{ID: 1}, nil); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("InTx = %v, want the rollback error", err)
		}
		err = d.InTx(ctx, func(tx *db.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO thing (id, name) VALUES ($1, $2)", 2, "committed"); err != nil {
				return err
			}
			_, err := c.InsertTx(ctx, tx, pingArgs{ID: 2}, nil)
			return err
		})
		if err != nil {
			t.Fatalf("InTx: %v", err)
		}
		var jobsCount int
		if err := d.SQL.QueryRowContext(ctx, "SELECT count(*) FROM river_job").Scan(&jobsCount); err != nil {
			t.Fatal(err)
		}
		if jobsCount != 1 {
			t.Fatalf("river_job has %d rows, want 1 (the rolled-back job must not exist)", jobsCount)
		}

		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer func() {
			stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := c.Stop(stopCtx); err != nil {
				t.Errorf("stop: %v", err)
			}
		}()
		select {
		case id := <-w.done:
			if id != 2 {
				t.Fatalf("worked job %d, want 2", id)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("job was not worked within 20s")
		}
	})
}

type slowArgs struct{}

func (slowArgs) Kind() string { return "test_slow" }

type slowWorker struct {
	river.WorkerDefaults[slowArgs]
	started chan struct{}
	result  chan error
}

func (w *slowWorker) Work(ctx context.Context, j *river.Job[slowArgs]) error {
	close(w.started)
	select {
	case <-time.After(500 * time.Millisecond):
		w.result <- nil
	case <-ctx.Done():
		w.result <- ctx.Err()
	}
	return nil
}

// TestStartContextEndDoesNotCancelJobs: the context given to Start ends at
// SIGTERM; a running job must still get Stop's grace period, not be
// cancelled at once.
func TestStartContextEndDoesNotCancelJobs(t *testing.T) {
	dbtest.Each(t, []migrate.Set{{SQLite: schema, Postgres: schema}}, func(t *testing.T, d *db.DB) {
		w := &slowWorker{started: make(chan struct{}), result: make(chan error, 1)}
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		c, err := jobs.New(d, jobs.Config{Workers: workers, RunWorkers: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Insert(context.Background(), slowArgs{}, nil); err != nil {
			t.Fatal(err)
		}
		signalCtx, sigterm := context.WithCancel(context.Background())
		if err := c.Start(signalCtx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-w.started:
		case <-time.After(15 * time.Second):
			t.Fatal("the job did not start")
		}
		sigterm()
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(stopCtx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if err := <-w.result; err != nil {
			t.Fatalf("the running job was cancelled (%v) instead of finishing within Stop's grace period", err)
		}
	})
}

type stuckArgs struct{}

func (stuckArgs) Kind() string { return "test_stuck" }

// stuckWorker ignores its context: it returns only when release closes.
type stuckWorker struct {
	river.WorkerDefaults[stuckArgs]
	started, release chan struct{}
}

func (w *stuckWorker) Work(ctx context.Context, j *river.Job[stuckArgs]) error {
	close(w.started)
	<-w.release
	return nil
}

// TestStopIsBounded: once Stop's context is done, a job that does not
// return when cancelled (or whose completion cannot be recorded, the
// database stalled) holds Stop at most CancelWait more. The wait was
// unbounded: a worker outlived the 30 s ECS gives it after SIGTERM by
// more than half a minute, and was killed (QA).
func TestStopIsBounded(t *testing.T) {
	dbtest.Each(t, []migrate.Set{{SQLite: schema, Postgres: schema}}, func(t *testing.T, d *db.DB) {
		w := &stuckWorker{started: make(chan struct{}), release: make(chan struct{})}
		t.Cleanup(func() { close(w.release) })
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		c, err := jobs.New(d, jobs.Config{Workers: workers, RunWorkers: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Insert(context.Background(), stuckArgs{}, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-w.started:
		case <-time.After(15 * time.Second):
			t.Fatal("the job did not start")
		}
		stopCtx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		returned := make(chan error, 1)
		go func() { returned <- c.Stop(stopCtx) }()
		// The job is stuck for good: Stop returns once CancelWait is over
		// (the limit below leaves it ample slack), with an error.
		select {
		case err := <-returned:
			if err == nil {
				t.Error("Stop with a job still running = nil, want an error")
			}
		case <-time.After(jobs.CancelWait + 20*time.Second):
			t.Fatal("Stop still waits for a job that does not return")
		}
	})
}
