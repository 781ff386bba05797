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
		// Both as a worker killed 90 s into its third attempt leaves them,
		// the first two having failed.
		e1 := `{"at":"2026-01-01T00:00:00Z","attempt":1,"error":"failed","trace":""}`
		e2 := `{"at":"2026-01-01T00:00:01Z","attempt":2,"error":"failed","trace":""}`
		set := `state = 'running', attempt = 3, attempted_at = now() - interval '90 seconds', errors = ARRAY['` + e1 + `'::jsonb, '` + e2 + `'::jsonb]`
		if d.Dialect == db.SQLite {
			set = `state = 'running', attempt = 3, attempted_at = datetime('now', '-90 seconds'), errors = jsonb('[` + e1 + `,` + e2 + `]')`
		}
		if _, err := d.SQL.ExecContext(ctx, `UPDATE river_job SET `+set); err != nil {
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
		// 30 s. The retry is due at once: the third attempt's backoff (81 s)
		// counts from when that attempt began (RetryPolicy).
		select {
		case attempt := <-short.done:
			if attempt != 4 {
				t.Errorf("the killed job ran again as attempt %d, want 4", attempt)
			}
		case <-time.After(45 * time.Second):
			t.Fatalf("the job killed 90 s into its third attempt was not retried within 45 s (DefaultJobTimeout %s; the backoff after a third attempt is 81 s)", jobs.DefaultJobTimeout)
		}
		job, err := c.Job(ctx, longJob.Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if job.State != rivertype.JobStateRunning || job.Attempt != 3 {
			t.Errorf("the job with a 10-minute Timeout, 90 s into its attempt: %s, attempt %d; want it left running, attempt 3", job.State, job.Attempt)
		}
		if job, err := c.Job(ctx, shortJob.Job.ID); err != nil || len(job.Errors) != 3 {
			t.Errorf("the rescued job: %v, %v; want River's rescue recorded as a third error", job, err)
		}
	})
}
