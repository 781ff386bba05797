package jobs_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/jobs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// loadArgs is a job unique by its arguments while queued or running, as
// the medsales loads are.
type loadArgs struct {
	Name string `json:"name"`
}

func (loadArgs) Kind() string { return "test_load" }

func (loadArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	}}}
}

type loadWorker struct {
	river.WorkerDefaults[loadArgs]
}

func (loadWorker) Work(context.Context, *river.Job[loadArgs]) error { return nil }

// TestDiscardRunning: a unique job left running by a killed worker is
// found by RunningSince once its attempt is old enough, and DiscardRunning
// finalizes it with an error River reads back, after which the same job
// can be queued again instead of being answered as a duplicate.
func TestDiscardRunning(t *testing.T) {
	dbtest.Each(t, []migrate.Set{{SQLite: schema, Postgres: schema}}, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		workers := river.NewWorkers()
		river.AddWorker(workers, loadWorker{})
		c, err := jobs.New(d, jobs.Config{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		insert := func(name string) *rivertype.JobInsertResult {
			t.Helper()
			res, err := c.Insert(ctx, loadArgs{Name: name}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		// running marks a job as River does when a worker takes it, its
		// attempt begun `ago` (SQL interval text) ago.
		running := func(id int64, ago string) {
			t.Helper()
			at := "now() - interval '" + ago + "'"
			if d.Dialect == db.SQLite {
				at = "datetime('now', '-" + ago + "')"
			}
			if _, err := d.SQL.ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = `+at+` WHERE id = $1`, id); err != nil {
				t.Fatal(err)
			}
		}
		dead, live := insert("dead"), insert("live")
		running(dead.Job.ID, "2 hours")
		running(live.Job.ID, "5 seconds")
		if again := insert("dead"); !again.UniqueSkippedAsDuplicate || again.Job.ID != dead.Job.ID {
			t.Fatalf("the same job while the first runs: duplicate %v, id %d; want a duplicate of %d", again.UniqueSkippedAsDuplicate, again.Job.ID, dead.Job.ID)
		}

		got, err := jobs.RunningSince(ctx, d, "test_load", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ID != dead.Job.ID || got[0].Attempt != 1 {
			t.Fatalf("RunningSince = %+v, want only job %d, attempt 1", got, dead.Job.ID)
		}
		var args loadArgs
		if err := json.Unmarshal(got[0].Args, &args); err != nil || args.Name != "dead" {
			t.Fatalf("args %q: %v", got[0].Args, err)
		}

		const reason = "the worker stopped mid-load"
		at := time.Now()
		if ok, err := jobs.DiscardRunning(ctx, d, got[0], reason, at); err != nil || !ok {
			t.Fatalf("DiscardRunning = %v, %v; want true", ok, err)
		}
		if ok, err := jobs.DiscardRunning(ctx, d, got[0], reason, at); err != nil || ok {
			t.Fatalf("DiscardRunning of a job no longer running = %v, %v; want false", ok, err)
		}
		job, err := c.Job(ctx, dead.Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if job.State != rivertype.JobStateDiscarded || job.FinalizedAt == nil {
			t.Errorf("job state %s, finalized at %v; want discarded, finalized", job.State, job.FinalizedAt)
		}
		if len(job.Errors) != 1 || job.Errors[0].Error != reason || job.Errors[0].Attempt != 1 || !job.Errors[0].At.Equal(at.UTC()) {
			t.Errorf("job errors = %+v, want one of attempt 1 saying %q at %v", job.Errors, reason, at)
		}
		if again := insert("dead"); again.UniqueSkippedAsDuplicate || again.Job.ID == dead.Job.ID {
			t.Errorf("the same job after the discard: duplicate %v, id %d; want a new job", again.UniqueSkippedAsDuplicate, again.Job.ID)
		}
		if job, err := c.Job(ctx, live.Job.ID); err != nil || job.State != rivertype.JobStateRunning {
			t.Errorf("the live job: %v, %v; want it still running", job, err)
		}
	})
}
