package deliver_test

import (
	"io"
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
}
