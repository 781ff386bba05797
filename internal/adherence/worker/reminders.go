package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/deliver"
	"github.com/medplatform/medplatform/internal/adherence/store"
)

// ArmRemindersArgs asks for the doses due within store.ArmLead to get
// their first reminder time.
type ArmRemindersArgs struct{}

// Kind identifies the job in the queue.
func (ArmRemindersArgs) Kind() string { return "arm_reminders" }

// InsertOpts makes the job unique while queued or running.
func (ArmRemindersArgs) InsertOpts() river.InsertOpts { return DoseHorizonArgs{}.InsertOpts() }

// ArmRemindersWorker runs store.ArmReminders.
type ArmRemindersWorker struct {
	river.WorkerDefaults[ArmRemindersArgs]
	Store  *store.Store
	Now    func() time.Time
	Logger *slog.Logger
}

// Work arms the reminders; it is idempotent.
func (w *ArmRemindersWorker) Work(ctx context.Context, _ *river.Job[ArmRemindersArgs]) error {
	res, err := w.Store.ArmReminders(ctx, w.Now())
	if err != nil {
		return err
	}
	if res.Unreadable > 0 {
		// Plan ids only, never the policy or why it could not be read.
		w.Logger.WarnContext(ctx, "doses left unarmed: reminder policy unreadable", "doses", res.Unreadable,
			"plan_ids", res.UnreadablePlans)
	}
	if res.Armed > 0 {
		w.Logger.InfoContext(ctx, "reminders armed", "armed", res.Armed)
	}
	return nil
}

// Timeout: a run arms every reminder of the next window, 200,000 of them
// before an 08:00 spike (bench/spike).
func (w *ArmRemindersWorker) Timeout(*river.Job[ArmRemindersArgs]) time.Duration {
	return 10 * time.Minute
}

// DispatchRemindersArgs asks for every reminder whose time has come to be
// decided and, when it goes, enqueued for delivery.
type DispatchRemindersArgs struct{}

// Kind identifies the job in the queue.
func (DispatchRemindersArgs) Kind() string { return "dispatch_reminders" }

// InsertOpts makes the job unique while queued or running.
func (DispatchRemindersArgs) InsertOpts() river.InsertOpts { return DoseHorizonArgs{}.InsertOpts() }

// DispatchRemindersWorker runs store.DispatchReminders.
type DispatchRemindersWorker struct {
	river.WorkerDefaults[DispatchRemindersArgs]
	Store  *store.Store
	Now    func() time.Time
	Logger *slog.Logger
	// Metrics, optional, counts the reminders dropped because their
	// validity had passed (adherence_notifications_expired_total).
	Metrics *deliver.Metrics
}

// Work dispatches the due reminders.
func (w *DispatchRemindersWorker) Work(ctx context.Context, job *river.Job[DispatchRemindersArgs]) error {
	start := time.Now()
	res, err := w.Store.DispatchRemindersWithin(ctx, w.Now(), PeriodicBudget)
	if err != nil {
		return err
	}
	w.Metrics.CountExpired(res.Expired)
	if res.Unreadable > 0 {
		// Dose ids only, never the settings or why they could not be read:
		// a patient's time zone or quiet hours say where and how they live.
		w.Logger.WarnContext(ctx, "reminders dropped: stored settings unreadable", "count", res.Unreadable,
			"dose_instance_ids", res.UnreadableDoses)
	}
	if res.Examined > 0 {
		w.Logger.InfoContext(ctx, "reminders dispatched", "sent", res.Sent, "held", res.Held, "dropped", res.Dropped,
			"expired", res.Expired, "unreadable", res.Unreadable, "stopped", res.Stopped, "more", res.More,
			"duration_ms", time.Since(start).Milliseconds())
	}
	return nil
}

// Timeout is PeriodicTimeout: a run stops after PeriodicBudget, and the
// next, 5 s later, goes on with the 08:00 spike.
func (w *DispatchRemindersWorker) Timeout(*river.Job[DispatchRemindersArgs]) time.Duration {
	return PeriodicTimeout
}

// DeliverWorker works adherence.DeliverArgs through a deliver.Deliverer.
type DeliverWorker struct {
	river.WorkerDefaults[adherence.DeliverArgs]
	Deliverer *deliver.Deliverer
}

// Work delivers the job's notifications. When some could only be retried
// it returns an error, so River runs the job again with backoff; the
// notifications already sent or ended are not claimed again.
func (w *DeliverWorker) Work(ctx context.Context, job *river.Job[adherence.DeliverArgs]) error {
	_, err := w.Deliverer.Deliver(ctx, job.Args.IDs)
	if err != nil && !errors.Is(err, deliver.ErrRetry) {
		return fmt.Errorf("deliver notifications: %w", err)
	}
	return err
}

// Timeout bounds one batch: every provider of every channel timing out for
// a few messages at once.
func (w *DeliverWorker) Timeout(*river.Job[adherence.DeliverArgs]) time.Duration {
	return 2 * time.Minute
}

// RemindersConfig says how often the reminder jobs run.
type RemindersConfig struct {
	ArmInterval      time.Duration // default 1m
	DispatchInterval time.Duration // default 5s
}

// RegisterReminders adds the reminder and delivery workers to workers and
// returns their periodic jobs. d may be nil in a process that only
// enqueues (then no notification is delivered here).
func RegisterReminders(workers *river.Workers, st *store.Store, d *deliver.Deliverer, now func() time.Time, logger *slog.Logger, cfg RemindersConfig) []*river.PeriodicJob {
	river.AddWorker(workers, &ArmRemindersWorker{Store: st, Now: now, Logger: logger})
	dispatch := &DispatchRemindersWorker{Store: st, Now: now, Logger: logger}
	if d != nil {
		dispatch.Metrics = d.Metrics
	}
	river.AddWorker(workers, dispatch)
	if d != nil {
		river.AddWorker(workers, &DeliverWorker{Deliverer: d})
	}
	arm, every := cfg.ArmInterval, cfg.DispatchInterval
	if arm <= 0 {
		arm = time.Minute
	}
	if every <= 0 {
		every = 5 * time.Second
	}
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(arm), func() (river.JobArgs, *river.InsertOpts) {
			return ArmRemindersArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "arm_reminders", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(every), func() (river.JobArgs, *river.InsertOpts) {
			return DispatchRemindersArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "dispatch_reminders", RunOnStart: true}),
	}
}
