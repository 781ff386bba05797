package deliver

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// TestLatencyExcludesQuietHold: a caregiver message held on purpose
// through quiet hours is measured from the end of the hold; other
// messages from their due time.
func TestLatencyExcludesQuietHold(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	held := func(urgent bool) store.Delivery {
		return store.Delivery{Kind: store.KindEscalation, ToMember: true, MemberKind: adherence.MemberCaregiver, Urgent: urgent,
			TimeZone: "America/New_York", DueAt: time.Date(2026, 3, 2, 23, 0, 0, 0, ny).UTC()}
	}
	morning := time.Date(2026, 3, 3, 8, 0, 5, 0, ny)
	for _, tc := range []struct {
		name     string
		dl       store.Delivery
		accepted time.Time
		want     float64
	}{
		{"held overnight", held(false), morning, 5},
		{"urgent, not held", held(true), time.Date(2026, 3, 2, 23, 1, 0, 0, ny), 60},
		{"due in the day", store.Delivery{Kind: store.KindEscalation, ToMember: true, MemberKind: adherence.MemberCaregiver, TimeZone: "America/New_York",
			DueAt: time.Date(2026, 3, 3, 10, 0, 0, 0, ny).UTC()}, time.Date(2026, 3, 3, 10, 0, 30, 0, ny), 30},
		{"reminder", store.Delivery{Kind: store.KindReminder, TimeZone: "America/New_York",
			DueAt: time.Date(2026, 3, 2, 23, 0, 0, 0, ny).UTC()}, time.Date(2026, 3, 2, 23, 2, 0, 0, ny), 120},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMetrics(prometheus.NewRegistry())
			at := tc.accepted.UTC()
			m.observe(&tc.dl, store.DeliveryResult{Status: store.NotificationSent, Channel: notify.SMS, Provider: "console", AcceptedAt: &at})
			var out dto.Metric
			if err := m.Latency.WithLabelValues("sms").(prometheus.Histogram).Write(&out); err != nil {
				t.Fatal(err)
			}
			if got := out.GetHistogram().GetSampleSum(); got != tc.want {
				t.Errorf("latency = %v s, want %v", got, tc.want)
			}
		})
	}
}

// TestExpiredCountsDropsOfPassedValidity: a notification dropped because
// its validity passed is an SLO miss the latency histogram cannot show
// (it observes sent notifications); drops on purpose (quiet hours) and
// cancellations are not.
func TestExpiredCountsDropsOfPassedValidity(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	dl := store.Delivery{Kind: store.KindReminder, TimeZone: "UTC"}
	for _, r := range []store.DeliveryResult{
		{Status: store.NotificationDropped, Reason: store.ReasonValidityPassed, Channel: notify.SMS},
		{Status: store.NotificationDropped, Reason: "quiet_hours", Channel: notify.SMS},
		{Status: store.NotificationCancelled, Reason: "dose_taken", Channel: notify.SMS},
	} {
		m.observe(&dl, r)
	}
	m.CountExpired(2) // from the dispatcher
	m.CountExpired(0)
	var out dto.Metric
	if err := m.Expired.Write(&out); err != nil {
		t.Fatal(err)
	}
	if got := out.GetCounter().GetValue(); got != 3 {
		t.Errorf("expired = %v, want 3 (one at delivery, two at dispatch)", got)
	}
	var none *Metrics
	none.CountExpired(1) // no metrics: nothing to count, no panic
}
