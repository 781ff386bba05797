package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/notify"
	"github.com/medplatform/medplatform/internal/platform/notify/twilio"
)

// Reconciliation of notification delivery. Status callbacks go missing
// (our endpoint was down, Twilio gave up): every run fetches the status of
// Twilio messages still "sent" a while after acceptance and records it as
// a callback would; a message Twilio has no record of (404), or still not
// final 24 hours after acceptance, is marked lost. Every run also moves
// notifications stuck in "sending" for 10 minutes (the sender died between
// handing them to a provider and recording the answer) to "unknown" —
// never sent again — and gives those stuck in "claimed" for 2 min 15 s (the
// sender died before handing them to any provider) back to delivery.

// Reconciliation settings.
const (
	// ReconcileInterval is how often the job runs by default: a claim
	// abandoned by a killed worker goes back to delivery within 30 s of
	// reaching claimedTimeout. Each run is a few indexed statements, and
	// Twilio is asked about a message only when its back-off tier says so
	// (store.StuckMessages), whatever the interval.
	ReconcileInterval = 30 * time.Second
	// reconcileAfter is how long after acceptance a message without a
	// final status is first checked (then less often as it ages: see
	// store.StuckMessages).
	reconcileAfter = 15 * time.Minute
	// lostAfter is how long after acceptance a message without a final
	// status is given up.
	lostAfter = 24 * time.Hour
	// sendingTimeout is how long a notification may stay in sending.
	sendingTimeout = 10 * time.Minute
	// claimedTimeout is how long a notification may stay claimed. A
	// delivery job claims its notifications as it starts and hands none
	// to a provider once its Timeout (2 min) has ended its context, so a
	// claim older than that has no job that will send it; were its job
	// still writing, the claim's attempt number keeps it from writing
	// over the next claim. Given back 2:15-2:45 after the claim, a
	// reminder abandoned by a killed worker still goes out within the
	// 3-minute objective (QA measured 3:16-3:24 with 3 min and a sweep
	// every minute).
	claimedTimeout = 2*time.Minute + 15*time.Second
	// reconcileBatch is how many messages one run checks at most.
	reconcileBatch = 500
)

// TwilioFetcher reads a Twilio message's status (*twilio.Client).
type TwilioFetcher interface {
	Fetch(ctx context.Context, sid string) (twilio.Status, error)
}

// ReconcileArgs asks for one reconciliation run.
type ReconcileArgs struct{}

// Kind identifies the job in the queue.
func (ReconcileArgs) Kind() string { return "reconcile_notifications" }

// InsertOpts makes the job unique while queued or running.
func (ReconcileArgs) InsertOpts() river.InsertOpts { return DoseHorizonArgs{}.InsertOpts() }

// ReconcileMetrics are the reconciliation job's metrics.
type ReconcileMetrics struct {
	// Lost counts notifications marked lost, by reason (provider_not_found,
	// no_final_status).
	Lost *prometheus.CounterVec
	// Unknown counts notifications moved from sending to unknown.
	Unknown prometheus.Counter
	// Requeued counts claimed notifications given back to delivery.
	Requeued prometheus.Counter
	// Checks counts status fetches, by outcome (updated, unchanged, lost,
	// error).
	Checks *prometheus.CounterVec
}

// NewReconcileMetrics returns the metrics, registered on reg unless reg is
// nil (a metric already registered there is reused).
func NewReconcileMetrics(reg prometheus.Registerer) *ReconcileMetrics {
	m := &ReconcileMetrics{
		Lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adherence_notifications_lost_total",
			Help: "Notifications marked lost: the provider has no record of them, or no final status came within 24 h, by reason.",
		}, []string{"reason"}),
		Unknown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adherence_notifications_unknown_total",
			Help: "Notifications left in sending by an interrupted sender and marked unknown (never re-sent).",
		}),
		Requeued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adherence_notifications_requeued_total",
			Help: "Notifications claimed by an interrupted sender, never handed to a provider, and queued again.",
		}),
		Checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adherence_notification_reconcile_checks_total",
			Help: "Provider status fetches of messages without a final status, by outcome (updated, unchanged, lost, error).",
		}, []string{"outcome"}),
	}
	if reg != nil {
		m.Lost = registerOrReuse(reg, m.Lost)
		m.Unknown = registerOrReuse(reg, m.Unknown)
		m.Requeued = registerOrReuse(reg, m.Requeued)
		m.Checks = registerOrReuse(reg, m.Checks)
	}
	// Every series starts at 0, so that the first notification lost
	// counts in increase() (the dashboard missed it).
	for _, reason := range []string{store.LostNotFound, store.LostNoFinalStatus} {
		m.Lost.WithLabelValues(reason)
	}
	for _, outcome := range []string{"updated", "unchanged", "lost", "error"} {
		m.Checks.WithLabelValues(outcome)
	}
	return m
}

// registerOrReuse registers c on reg and returns it, or the collector of the
// same name registered before.
func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

// ReconcileWorker runs the reconciliation.
type ReconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	Store *store.Store
	// Twilio fetches message statuses; nil when Twilio is not configured
	// (only the sending → unknown sweep runs).
	Twilio  TwilioFetcher
	Now     func() time.Time
	Logger  *slog.Logger
	Metrics *ReconcileMetrics // optional
}

// Work runs one reconciliation pass. A message whose check fails (its
// fetch failed, or recording the answer did) is logged, counted with
// outcome error and left for the next pass, and the pass goes on with the
// others: one bad fetch first in line kept every later message from being
// reconciled, pass after pass. The pass then ends with an error (River
// retries). A refusal of our credentials (401, 403) stops the pass at
// once: every fetch would be refused the same way.
func (w *ReconcileWorker) Work(ctx context.Context, job *river.Job[ReconcileArgs]) error {
	now := w.Now()
	n, err := w.Store.MarkUnknownSending(ctx, sendingTimeout, now)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	if n > 0 {
		if w.Metrics != nil {
			w.Metrics.Unknown.Add(float64(n))
		}
		w.Logger.WarnContext(ctx, "notifications interrupted while sending marked unknown", "count", n)
	}
	n, err = w.Store.RequeueClaimed(ctx, claimedTimeout, now)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	if n > 0 {
		if w.Metrics != nil {
			w.Metrics.Requeued.Add(float64(n))
		}
		w.Logger.WarnContext(ctx, "notifications interrupted before sending queued again", "count", n)
	}
	if w.Twilio == nil {
		return nil
	}
	stuck, err := w.Store.StuckMessages(ctx, twilio.Name, reconcileAfter, now, reconcileBatch)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	var updated, lost, failed int
	var firstErr error
	for _, st := range stuck {
		outcome, err := w.check(ctx, st, now)
		w.count(outcome)
		if err != nil {
			if refusedCredentials(err) || ctx.Err() != nil {
				return fmt.Errorf("reconcile notification %d: %w", st.NotificationID, err)
			}
			failed++
			if firstErr == nil {
				firstErr = fmt.Errorf("reconcile notification %d: %w", st.NotificationID, err)
			}
			w.Logger.WarnContext(ctx, "notification status check failed", "notification_id", st.NotificationID, "error", err)
			continue
		}
		switch outcome {
		case "updated":
			updated++
		case "lost":
			lost++
		}
	}
	if len(stuck) > 0 {
		w.Logger.InfoContext(ctx, "notifications reconciled", "checked", len(stuck), "updated", updated, "lost", lost, "failed", failed)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed, first: %w", failed, len(stuck), firstErr)
	}
	return nil
}

// refusedCredentials reports whether err is Twilio refusing our
// credentials (401, 403).
func refusedCredentials(err error) bool {
	var ne *notify.Error
	return errors.As(err, &ne) && (ne.Status == http.StatusUnauthorized || ne.Status == http.StatusForbidden)
}

func (w *ReconcileWorker) count(outcome string) {
	if w.Metrics != nil {
		w.Metrics.Checks.WithLabelValues(outcome).Inc()
	}
}

// check fetches one message's status and records it; it returns the
// outcome (updated, unchanged, lost, error).
func (w *ReconcileWorker) check(ctx context.Context, st store.Stuck, now time.Time) (string, error) {
	status, err := w.Twilio.Fetch(ctx, st.ProviderMessageID)
	if err != nil {
		var ne *notify.Error
		if errors.As(err, &ne) && (ne.Status == http.StatusNotFound || (ne.Status == 0 && !ne.Retryable)) {
			// Twilio has no such message (404), or its id is not one
			// Twilio could have given (refused before asking): it cannot
			// be reconciled. Other refusals (401, 403: our credentials)
			// stop the run instead of losing every message.
			return w.lose(ctx, st, store.LostNotFound, now)
		}
		return "error", err
	}
	code := ""
	if status.ErrorCode != 0 {
		code = strconv.Itoa(status.ErrorCode)
	}
	res, err := w.Store.RecordDeliveryStatus(ctx, store.StatusInput{
		Provider: twilio.Name, ProviderMessageID: st.ProviderMessageID, NotificationID: st.NotificationID,
		Status: status.Status, ErrorCode: code, Source: store.StatusSourceReconcile, At: now,
	})
	if err != nil {
		return "error", err
	}
	if res.Status == store.NotificationSent && !now.Before(st.AcceptedAt.Add(lostAfter)) {
		return w.lose(ctx, st, store.LostNoFinalStatus, now)
	}
	if res.Changed {
		return "updated", nil
	}
	return "unchanged", nil
}

func (w *ReconcileWorker) lose(ctx context.Context, st store.Stuck, reason string, now time.Time) (string, error) {
	ok, err := w.Store.MarkLost(ctx, st.NotificationID, reason, now)
	if err != nil {
		return "error", err
	}
	if !ok {
		return "unchanged", nil // moved on meanwhile (a callback arrived)
	}
	if w.Metrics != nil {
		w.Metrics.Lost.WithLabelValues(reason).Inc()
	}
	w.Logger.WarnContext(ctx, "notification lost", "notification_id", st.NotificationID, "reason", reason)
	return "lost", nil
}

// Timeout bounds one run: reconcileBatch fetches.
func (w *ReconcileWorker) Timeout(*river.Job[ReconcileArgs]) time.Duration { return 4 * time.Minute }

// RegisterReconcile adds the reconciliation worker to workers and returns
// its periodic job (every interval; ReconcileInterval when zero). tw may
// be nil when Twilio is not configured: then only the sending → unknown
// sweep runs. The metrics are registered on reg (none when nil).
func RegisterReconcile(workers *river.Workers, st *store.Store, tw TwilioFetcher, now func() time.Time, logger *slog.Logger,
	reg prometheus.Registerer, interval time.Duration) []*river.PeriodicJob {
	if c, ok := tw.(*twilio.Client); ok && c == nil {
		tw = nil // a nil *twilio.Client in the interface
	}
	if interval <= 0 {
		interval = ReconcileInterval
	}
	m := NewReconcileMetrics(reg)
	river.AddWorker(workers, &ReconcileWorker{Store: st, Twilio: tw, Now: now, Logger: logger, Metrics: m})
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(interval), func() (river.JobArgs, *river.InsertOpts) {
			return ReconcileArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "reconcile_notifications", RunOnStart: true}),
	}
}
