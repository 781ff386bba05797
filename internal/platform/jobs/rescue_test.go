package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/jobs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// shortArgs is a job whose worker declares no Timeout (DefaultJobTimeout
// applies); longArgs one whose worker declares 10 minutes.
type shortArgs struct{}

func (shortArgs) Kind() string { return "test_short" }

type longArgs struct{}

func (longArgs) Kind() string { return "test_long" }

type shortWorker struct {
	river.WorkerDefaults[shortArgs]
	done chan int
}

func (w *shortWorker) Work(_ context.Context, j *river.Job[shortArgs]) error {
	w.done <- j.Attempt
	return nil
}

type longWorker struct {
	river.WorkerDefaults[longArgs]
}

func (longWorker) Work(context.Context, *river.Job[longArgs]) error { return nil }

func (longWorker) Timeout(*river.Job[longArgs]) time.Duration { return 10 * time.Minute }

// TestKilledJobIsRetriedAfterItsTimeout: a job left running by a killed
// process is retried once its own timeout has passed, not River's default
// of an hour past JobTimeout (nor the 11 minutes this client used to wait,
// which kept a killed delivery job's notifications waiting well past the
// 3-minute notification objective); a job of a kind with a longer Timeout,
// which may still be running somewhere, is left alone.
func TestKilledJobIsRetriedAfterItsTimeout(t *testing.T) {
	dbtest.Each(t, []migrate.Set{{SQLite: schema, Postgres: schema}}, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		short := &shortWorker{done: make(chan int, 1)}
		workers := river.NewWorkers()
		river.AddWorker(workers, short)
		river.AddWorker(workers, longWorker{})
		c, err := jobs.New(d, jobs.Config{Workers: workers, RunWorkers: true})
		if err != nil {
			t.Fatal(err)
		}
		shortJob, err := c.Insert(ctx, shortArgs{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		longJob, err := c.Insert(ctx, longArgs{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Both as a worker killed 90 s into its attempt leaves them.
		at := "now() - interval '90 seconds'"
		if d.Dialect == db.SQLite {
			at = "datetime('now', '-90 seconds')"
		}
		if _, err := d.SQL.ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = `+at); err != nil {
			t.Fatal(err)
		}

		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = c.Stop(stopCtx)
		})
		// The rescuer runs when the client is elected leader, then every
		// 30 s; the retry is due a second or so after the rescue.
		select {
		case attempt := <-short.done:
			if attempt != 2 {
				t.Errorf("the killed job ran again as attempt %d, want 2", attempt)
			}
		case <-time.After(45 * time.Second):
			t.Fatalf("the job killed 90 s into its attempt was not retried within 45 s (DefaultJobTimeout %s)", jobs.DefaultJobTimeout)
		}
		job, err := c.Job(ctx, longJob.Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if job.State != rivertype.JobStateRunning || job.Attempt != 1 {
			t.Errorf("the job with a 10-minute Timeout, 90 s into its attempt: %s, attempt %d; want it left running, attempt 1", job.State, job.Attempt)
		}
		if job, err := c.Job(ctx, shortJob.Job.ID); err != nil || len(job.Errors) == 0 {
			t.Errorf("the rescued job: %v, %v; want River's rescue recorded as an error of attempt 1", job, err)
		}
	})
}
