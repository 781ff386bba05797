package worker_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/adherence/worker"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/blob"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/jobs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/syncbuf"
)

// TestAuditCheckpointJob runs the periodic job through real River workers
// on each engine: at start it copies the audit chain's head to the store.
func TestAuditCheckpointJob(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		now := time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		log := audit.New(d, clock, nil)
		if _, err := log.AppendNow(ctx, audit.Record{OrgID: "org", ActorID: "actor", ActorRole: "admin",
			Action: audit.ActionRead, ResourceType: "Patient", ResourceID: "p1", PatientID: "p1"}); err != nil {
			t.Fatal(err)
		}
		head, err := log.Head(ctx)
		if err != nil || head.Seq != 1 {
			t.Fatalf("head = %+v, %v", head, err)
		}
		blobs, err := blob.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		workers := river.NewWorkers()
		periodic := worker.RegisterAuditCheckpoint(workers, log, blobs, clock, logger, time.Hour)
		startJobs(t, d, jobs.Config{Workers: workers, PeriodicJobs: periodic, Logger: logger, Queues: map[string]int{worker.AuditQueue: 1}})
		deadline := time.Now().Add(30 * time.Second)
		for {
			cps, err := audit.ReadCheckpoints(ctx, blobs)
			if err != nil {
				t.Fatal(err)
			}
			if len(cps) == 1 {
				if cps[0].Seq != head.Seq || cps[0].Hash != head.Hash || !cps[0].At.Equal(now) {
					t.Fatalf("checkpoint = %+v, want the head %+v at %s", cps[0], head, now)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no checkpoint written within 30 s (%d)", len(cps))
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// TestAuditCheckpointOutOfReachOfOlderWorkers: during a blue/green deploy
// the workers of the release before share the database and fetch every
// job of the default queue; a kind they do not know they discard. The
// checkpoint job goes in its own queue, which they do not work: it waits
// there for a worker of this release (QA: the old workers discarded it).
func TestAuditCheckpointOutOfReachOfOlderWorkers(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		// An older release's worker: it knows other kinds, not this one.
		older := river.NewWorkers()
		worker.Register(older, store.New(d, audit.New(d, time.Now, nil), time.Now), time.Now, logger, worker.Config{})
		startJobs(t, d, jobs.Config{Workers: older, Logger: logger})

		log := audit.New(d, time.Now, nil)
		blobs, err := blob.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		current := river.NewWorkers()
		worker.RegisterAuditCheckpoint(current, log, blobs, time.Now, logger, time.Hour)
		inserter, err := jobs.New(d, jobs.Config{Workers: current, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		res, err := inserter.Insert(ctx, worker.AuditCheckpointArgs{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Job.Queue != worker.AuditQueue {
			t.Fatalf("checkpoint job in queue %q, want %q", res.Job.Queue, worker.AuditQueue)
		}
		time.Sleep(2 * time.Second) // the older worker polls every 250 ms on SQLite, is notified on PostgreSQL
		job, err := inserter.Job(ctx, res.Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if job.State != rivertype.JobStateAvailable {
			t.Fatalf("checkpoint job %s beside an older worker (%v), want it left available", job.State, job.Errors)
		}
		startJobs(t, d, jobs.Config{Workers: current, Logger: logger, Queues: map[string]int{worker.AuditQueue: 1}})
		deadline := time.Now().Add(30 * time.Second)
		for {
			job, err := inserter.Job(ctx, res.Job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if job.State == rivertype.JobStateCompleted {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("checkpoint job %s 30 s after a worker of this release started", job.State)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// TestAuditCheckpointWithoutStore: a worker process without BLOB_URL
// schedules no checkpoint but still knows the kind, so that as River's
// leader it leaves another process's running checkpoint to its own
// 10-minute Timeout instead of discarding it as a kind it cannot handle,
// and a checkpoint it is handed fails saying what is wrong.
func TestAuditCheckpointWithoutStore(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		var logged syncbuf.Buffer
		logger := slog.New(slog.NewTextHandler(&logged, nil))
		workers := river.NewWorkers()
		river.AddWorker(workers, &otherWorker{}) // the process's other kinds
		if periodic := worker.RegisterAuditCheckpoint(workers, audit.New(d, time.Now, nil), nil, time.Now, logger, time.Hour); len(periodic) != 0 {
			t.Errorf("without a store %d checkpoint job(s) are scheduled, want none", len(periodic))
		}
		jc := startJobs(t, d, jobs.Config{Workers: workers, Logger: logger, Queues: map[string]int{worker.AuditQueue: 1}})
		res, err := jc.Insert(ctx, worker.AuditCheckpointArgs{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			job, err := jc.Job(ctx, res.Job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(job.Errors) > 0 {
				if msg := job.Errors[0].Error; !strings.Contains(msg, "BLOB_URL is not set on this worker process") {
					t.Errorf("the checkpoint failed with %q, want the worker's own reason", msg)
				}
				// The operator reads why in the log (operations.md),
				// not only in the job's row.
				if log := logged.String(); !strings.Contains(log, "level=ERROR msg=\"audit checkpoint failed\"") || !strings.Contains(log, "BLOB_URL is not set") {
					t.Errorf("log lacks the failure: %q", log)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the checkpoint job was not worked within 30 s: %s", job.State)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

type otherArgs struct{}

func (otherArgs) Kind() string { return "test_other" }

type otherWorker struct {
	river.WorkerDefaults[otherArgs]
}

func (*otherWorker) Work(context.Context, *river.Job[otherArgs]) error { return nil }
