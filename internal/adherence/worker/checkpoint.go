package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/blob"
)

// AuditCheckpointArgs asks for the audit chain head to be copied to the
// blob store (BLOB_URL), so that a later `adherence audit verify` can tell
// a chain rewritten from some record on, head included, from the real one.
type AuditCheckpointArgs struct{}

// Kind identifies the job in the queue.
func (AuditCheckpointArgs) Kind() string { return "audit_checkpoint" }

// AuditQueue is the queue of the audit checkpoint jobs, which the workers
// of this release work beside River's default queue (jobs.Config.Queues):
// the kind came after other releases, whose workers, sharing the database
// during a blue/green deploy, discarded the checkpoints they fetched from
// the default queue as a kind they did not know (QA).
const AuditQueue = "audit"

// InsertOpts: unique and tried once, as every periodic job, in AuditQueue.
func (AuditCheckpointArgs) InsertOpts() river.InsertOpts {
	opts := DoseHorizonArgs{}.InsertOpts()
	opts.Queue = AuditQueue
	return opts
}

// AuditCheckpointWorker runs audit.Log.WriteCheckpoint.
type AuditCheckpointWorker struct {
	river.WorkerDefaults[AuditCheckpointArgs]
	Audit  *audit.Log
	Store  blob.Store
	Now    func() time.Time
	Logger *slog.Logger
}

// Work writes a checkpoint of the current head; with no record since the
// last one there is nothing to write.
//
// A failure is logged at ERROR ("audit checkpoint failed", with the
// error), as operations.md tells the operator to look for: River keeps it
// only in the job's row, and the alert on the failure count says nothing
// of why.
func (w *AuditCheckpointWorker) Work(ctx context.Context, job *river.Job[AuditCheckpointArgs]) error {
	err := w.write(ctx)
	if err != nil {
		w.Logger.ErrorContext(ctx, "audit checkpoint failed", "error", err.Error())
	}
	return err
}

func (w *AuditCheckpointWorker) write(ctx context.Context) error {
	if w.Store == nil {
		return fmt.Errorf("audit checkpoint: BLOB_URL is not set on this worker process, though another one scheduled the checkpoint: give every worker process the same BLOB_URL")
	}
	cp, written, err := w.Audit.WriteCheckpoint(ctx, w.Store, w.Now())
	if err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	if written {
		w.Logger.InfoContext(ctx, "audit checkpoint written", "seq", cp.Seq, "store", w.Store.String())
	}
	return nil
}

// Timeout: a read of the chain head and one object written to the blob
// store, which may be slow to answer.
func (w *AuditCheckpointWorker) Timeout(*river.Job[AuditCheckpointArgs]) time.Duration {
	return 10 * time.Minute
}

// RegisterAuditCheckpoint adds the checkpoint worker and returns its
// periodic job: every interval (default 1h), and at start. With no store
// (BLOB_URL not set on PostgreSQL) the worker is still added, so that this
// process, as River's leader, knows the kind's Timeout (River's rescuer
// discards a running job whose kind it does not know once it is
// jobs.DefaultJobTimeout old), and a checkpoint another process scheduled
// fails here saying why; nothing is scheduled.
func RegisterAuditCheckpoint(workers *river.Workers, log *audit.Log, store blob.Store, now func() time.Time, logger *slog.Logger, interval time.Duration) []*river.PeriodicJob {
	river.AddWorker(workers, &AuditCheckpointWorker{Audit: log, Store: store, Now: now, Logger: logger})
	if store == nil {
		return nil
	}
	if interval <= 0 {
		interval = time.Hour
	}
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(interval), func() (river.JobArgs, *river.InsertOpts) {
			return AuditCheckpointArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "audit_checkpoint", RunOnStart: true}),
	}
}
