package ingest_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/jobs"
)

// killedLoad queues a load of req and leaves it as a worker SIGKILLed
// mid-load leaves it: its River job running, its attempt begun two hours
// ago, and its history row running. It returns the job's id.
func killedLoad(t *testing.T, e env, c *jobs.Client, req ingest.Request) int64 {
	t.Helper()
	ctx := context.Background()
	res, err := c.Insert(ctx, ingest.JobArgs{Request: req}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ago := "now() - interval '2 hours'"
	if e.d.Dialect == db.SQLite {
		ago = "datetime('now', '-2 hours')"
	}
	if _, err := e.d.SQL.ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = `+ago+` WHERE id = $1`, res.Job.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.StartVersion(ctx, store.Version{Dataset: req.Dataset, Mode: store.ModeFull, SourceFile: filepath.Base(req.Source),
		StartedAt: time.Now().Add(-2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return res.Job.ID
}

// TestDeadJobDiscarded: a load whose worker was killed mid-load stays
// running in River, and the same request queued again is answered as its
// duplicate. DiscardDeadJobs discards it — not while a live process holds
// the dataset's lock, nor right after a load of the dataset finished
// (maybe that job's own, River not having marked it completed yet) — with
// an error River reads back, marks its history row failed as
// interrupted, and the request then queues a new job.
func TestDeadJobDiscarded(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		workers := river.NewWorkers()
		river.AddWorker(workers, &ingest.Worker{Service: e.svc, DB: e.d, Logger: e.svc.Logger})
		c, err := jobs.New(e.d, jobs.Config{Workers: workers, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		req := ingest.Request{Dataset: medsales.NPPES, Source: sample(t, e.dir, npiFile, 0)}

		// A load of the dataset that finished (here: failed) just now.
		recent, err := e.st.StartVersion(ctx, store.Version{Dataset: medsales.NPPES, Mode: store.ModeFull, SourceFile: "earlier.csv", StartedAt: time.Now().Add(-3 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.st.FailVersion(ctx, recent, "bad file", 0, 0, time.Now()); err != nil {
			t.Fatal(err)
		}
		dead := killedLoad(t, e, c, req)
		// Another dataset's job, running for as long, whose load is alive.
		otherDead := killedLoad(t, e, c, ingest.Request{Dataset: medsales.NUCC, Source: sample(t, e.dir, "nucc_taxonomy_sample.csv", 0)})
		releaseNUCC := lockDataset(t, e.st, medsales.NUCC)

		if res, err := c.Insert(ctx, ingest.JobArgs{Request: req}, nil); err != nil || !res.UniqueSkippedAsDuplicate || res.Job.ID != dead {
			t.Fatalf("queued again while the dead job runs: %+v, %v; want a duplicate of job %d", res, err, dead)
		}
		state := func(id int64) *rivertype.JobRow {
			t.Helper()
			j, err := c.Job(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return j
		}
		in := func(d time.Duration) func() time.Time { return func() time.Time { return time.Now().Add(d) } }

		// The dataset's lock is held: a live process is loading it.
		release := lockDataset(t, e.st, medsales.NPPES)
		if ids, err := ingest.DiscardDeadJobs(ctx, e.st, "", in(2*time.Minute), e.svc.Logger); err != nil || len(ids) != 0 {
			t.Fatalf("with the lock held: discarded %v, %v; want none", ids, err)
		}
		release()
		// A load of the dataset finished less than a minute ago.
		if ids, err := ingest.DiscardDeadJobs(ctx, e.st, medsales.NPPES, time.Now, e.svc.Logger); err != nil || len(ids) != 0 {
			t.Fatalf("right after a load finished: discarded %v, %v; want none", ids, err)
		}
		if j := state(dead); j.State != rivertype.JobStateRunning {
			t.Fatalf("job %s, want still running", j.State)
		}

		// A minute later, with the lock free, the job is dead.
		ids, err := ingest.DiscardDeadJobs(ctx, e.st, "", in(2*time.Minute), e.svc.Logger)
		if err != nil || len(ids) != 1 || ids[0] != dead {
			t.Fatalf("discarded %v, %v; want job %d", ids, err, dead)
		}
		j := state(dead)
		if j.State != rivertype.JobStateDiscarded || len(j.Errors) != 1 || j.Errors[0].Error != ingest.DeadJobError {
			t.Errorf("dead job: %s, errors %+v; want discarded with %q", j.State, j.Errors, ingest.DeadJobError)
		}
		hist, err := e.st.Versions(ctx, medsales.NPPES, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 || hist[0].Status != store.StatusFailed || hist[0].Error != store.InterruptedReason || hist[0].FinishedAt == nil {
			t.Errorf("history = %+v, want the killed load failed as interrupted", hist)
		}
		if j := state(otherDead); j.State != rivertype.JobStateRunning {
			t.Errorf("the job whose dataset is locked: %s, want running", j.State)
		}
		if got := count(t, e.d, "SELECT COUNT(*) FROM dataset_versions WHERE dataset = 'nucc' AND status = 'running'"); got != 1 {
			t.Errorf("%d running nucc loads, want the live one", got)
		}

		res, err := c.Insert(ctx, ingest.JobArgs{Request: req}, nil)
		if err != nil || res.UniqueSkippedAsDuplicate || res.Job.ID == dead {
			t.Fatalf("queued again after the discard: %+v, %v; want a new job", res, err)
		}
		releaseNUCC()
	})
}
