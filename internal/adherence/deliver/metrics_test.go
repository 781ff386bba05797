package deliver_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/medplatform/medplatform/internal/adherence/deliver"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// TestMetricsStartAtZero: every provider's attempt series exists from the
// start, at zero, so the first failures count in rate() and the
// provider-failure alert.
func TestMetricsStartAtZero(t *testing.T) {
	router, err := notify.NewRouter(notify.RouterConfig{Routes: map[notify.Channel][]notify.Route{
		notify.SMS:   {{Provider: &notify.Console{W: io.Discard, Chan: notify.SMS}}},
		notify.Email: {{Provider: &notify.Console{W: io.Discard, Chan: notify.Email}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	m := deliver.NewMetrics(prometheus.NewRegistry())
	if n := testutil.CollectAndCount(m.Attempts); n != 0 {
		t.Fatalf("%d attempt series before Start", n)
	}
	m.Start(router.Providers())
	outcomes := len(notify.AttemptOutcomes())
	if n := testutil.CollectAndCount(m.Attempts); n != 2*outcomes {
		t.Errorf("%d attempt series, want %d (2 routes × %d outcomes)", n, 2*outcomes, outcomes)
	}
	if v := testutil.ToFloat64(m.Attempts.WithLabelValues("sms", "console", notify.OutcomeFailed)); v != 0 {
		t.Errorf("sms/console/failed = %v, want 0", v)
	}
	if n := testutil.CollectAndCount(m.Latency); n != 2 {
		t.Errorf("%d latency series, want one per channel", n)
	}
	// Notifications: sent and unknown per route, and the five outcomes no
	// provider took (the dashboard's first notification of each was lost
	// to rate()).
	if n := testutil.CollectAndCount(m.Notifications); n != 2*2+5 {
		t.Errorf("%d notification series, want %d", n, 2*2+5)
	}
	for _, labels := range [][]string{{"sms", "console", "sent"}, {"email", "console", "unknown"}, {"", "", "undeliverable"}, {"", "", "deferred"}} {
		if v := testutil.ToFloat64(m.Notifications.WithLabelValues(labels...)); v != 0 {
			t.Errorf("notifications %v = %v, want 0", labels, v)
		}
	}
}

// TestAttemptObserverLogsFailures: a provider attempt that failed is
// counted and logged at WARN with its provider and error (a Twilio 401
// while SNS took the message showed in no log); an accepted one is only
// counted.
func TestAttemptObserverLogsFailures(t *testing.T) {
	var logs bytes.Buffer
	m := deliver.NewMetrics(prometheus.NewRegistry())
	observe := m.AttemptObserver(slog.New(slog.NewJSONHandler(&logs, nil)))
	observe(notify.Attempt{Channel: notify.SMS, Provider: "sns", Outcome: notify.OutcomeAccepted})
	if logs.Len() != 0 {
		t.Fatalf("an accepted attempt was logged: %s", logs.String())
	}
	observe(notify.Attempt{Channel: notify.SMS, Provider: "twilio", Outcome: notify.OutcomeFailed,
		Err: &notify.Error{Provider: "twilio", Status: 401, Code: "20003", Err: errors.New("authenticate")}})
	line := logs.String()
	for _, want := range []string{`"level":"WARN"`, `"provider":"twilio"`, `"outcome":"failed"`, "401", "20003"} {
		if !strings.Contains(line, want) {
			t.Errorf("log %s does not hold %s", line, want)
		}
	}
	if v := testutil.ToFloat64(m.Attempts.WithLabelValues("sms", "twilio", notify.OutcomeFailed)); v != 1 {
		t.Errorf("sms/twilio/failed = %v, want 1", v)
	}
}
