package deliver

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// Metrics are the delivery pipeline's Prometheus metrics. Labels are
// channels, providers and outcomes: never a person.
type Metrics struct {
	// Notifications counts notifications by their outcome (sent, dropped,
	// cancelled, undeliverable, retrying, deferred, unknown), with the
	// channel and provider that took them when sent or unknown (accepted
	// with an answer that could not be read).
	Notifications *prometheus.CounterVec
	// Attempts counts provider calls by outcome (accepted, failed,
	// rejected, expired, skipped_open_circuit, rate_limited, unknown): the
	// inputs of the delivery success rate per provider.
	Attempts *prometheus.CounterVec
	// Latency is sendable → provider accepted, per channel; the 180 s
	// bucket is the notification-latency SLO. A message becomes sendable
	// at its due time, or, when it is held on purpose through the
	// caregivers' quiet hours, when that hold ends (sendableAt): a caregiver
	// alert held from 23:00 to 08:00 and sent at 08:00:05 took 5 s, not
	// nine hours, so the SLO measures the pipeline, not the policy.
	Latency *prometheus.HistogramVec
	// AttemptDuration is the duration of provider calls.
	AttemptDuration *prometheus.HistogramVec
	// Expired counts the notifications never sent because their validity
	// passed first: the dispatcher fell behind, or delivery (every
	// provider failing, retries) took until then. Each is a miss of the
	// notification-latency SLO that the latency histogram, which observes
	// sent notifications only, cannot show.
	Expired prometheus.Counter
}

// NewMetrics registers the delivery metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adherence_notifications_total",
			Help: "Notifications handled by the delivery pipeline, by channel, provider and outcome.",
		}, []string{"channel", "provider", "outcome"}),
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adherence_notification_attempts_total",
			Help: "Provider calls by channel, provider and outcome (accepted, failed, rejected, expired, skipped_open_circuit, rate_limited, unknown).",
		}, []string{"channel", "provider", "outcome"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "adherence_notification_latency_seconds",
			Help:    "Time from when a notification became sendable (its due time, or the end of a quiet-hours hold) to its acceptance by a provider.",
			Buckets: []float64{1, 5, 10, 30, 60, 120, 180, 300, 600, 1800, 3600},
		}, []string{"channel"}),
		AttemptDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "adherence_notification_provider_duration_seconds",
			Help:    "Duration of provider calls.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"provider"}),
		Expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adherence_notifications_expired_total",
			Help: "Notifications never sent because their validity passed first (dispatch or delivery fell behind): misses of the notification-latency SLO.",
		}),
	}
	reg.MustRegister(m.Notifications, m.Attempts, m.Latency, m.AttemptDuration, m.Expired)
	return m
}

// Start creates the provider-attempt series of every channel, provider
// (providers, as notify.Router.Providers lists them) and outcome at zero,
// the notification series of each outcome (sent and unknown per channel and
// provider), and the latency and duration series of each channel and
// provider. A
// counter that first appears at 1 loses that increment to rate(): without
// this, the first failures of a provider would not count in the
// provider-failure alert.
func (m *Metrics) Start(providers map[notify.Channel][]string) {
	for ch, names := range providers {
		m.Latency.WithLabelValues(string(ch))
		for _, name := range names {
			m.AttemptDuration.WithLabelValues(name)
			for _, o := range notify.AttemptOutcomes() {
				m.Attempts.WithLabelValues(string(ch), name, o)
			}
			// The outcomes a provider took (observe).
			m.Notifications.WithLabelValues(string(ch), name, store.NotificationSent)
			m.Notifications.WithLabelValues(string(ch), name, store.NotificationUnknown)
		}
	}
	// The outcomes no provider took, without channel and provider.
	for _, o := range []string{store.NotificationRetrying, store.NotificationDropped, store.NotificationCancelled, store.NotificationUndeliverable, "deferred"} {
		m.Notifications.WithLabelValues("", "", o)
	}
}

// CountExpired adds n reminders the dispatcher recorded as dropped because
// their validity had passed (store.DispatchResult.Expired). m may be nil.
func (m *Metrics) CountExpired(n int) {
	if m != nil && n > 0 {
		m.Expired.Add(float64(n))
	}
}

// AttemptObserver returns the notify.RouterConfig.Observe hook: every
// attempt is counted (ObserveAttempt), and one that failed, was refused or
// whose answer could not be read is logged at WARN with its channel,
// provider and error (provider, HTTP status and code; never recipient or
// body). A provider failing while the next one takes the message shows
// nowhere else: the message is sent, and the runbook's first question is
// which provider refused what (a rotated TWILIO_AUTH_TOKEN is a 401).
func (m *Metrics) AttemptObserver(log *slog.Logger) func(notify.Attempt) {
	return func(a notify.Attempt) {
		m.ObserveAttempt(a)
		switch a.Outcome {
		case notify.OutcomeFailed, notify.OutcomeRejected, notify.OutcomeUnknown:
			if log != nil && a.Err != nil {
				log.Warn("notification provider attempt failed", "channel", string(a.Channel), "provider", a.Provider,
					"outcome", a.Outcome, "error", a.Err.Error())
			}
		}
	}
}

// ObserveAttempt is the notify.RouterConfig.Observe hook.
func (m *Metrics) ObserveAttempt(a notify.Attempt) {
	m.Attempts.WithLabelValues(string(a.Channel), a.Provider, a.Outcome).Inc()
	if a.Duration > 0 {
		m.AttemptDuration.WithLabelValues(a.Provider).Observe(a.Duration.Seconds())
	}
}

func (m *Metrics) observe(dl *store.Delivery, r store.DeliveryResult) {
	outcome := r.Status
	if r.Status == store.NotificationQueued {
		outcome = "deferred"
	}
	m.Notifications.WithLabelValues(string(r.Channel), r.Provider, outcome).Inc()
	if r.Status == store.NotificationDropped && r.Reason == store.ReasonValidityPassed {
		m.Expired.Inc()
	}
	if r.Status == store.NotificationSent && r.AcceptedAt != nil {
		m.Latency.WithLabelValues(string(r.Channel)).Observe(max(0, r.AcceptedAt.Sub(sendableAt(dl, *r.AcceptedAt))).Seconds())
	}
}
