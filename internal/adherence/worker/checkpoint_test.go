package worker_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/adherence/worker"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/blob"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/jobs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
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
		startJobs(t, d, jobs.Config{Workers: workers, PeriodicJobs: periodic, Logger: logger})
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
