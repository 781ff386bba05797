package store_test

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// claimEscalation fires the first step of the only escalation of w.pat and
// claims its notifications.
func (w *escWorld) claimEscalation() []store.Delivery {
	w.t.Helper()
	es := w.escalations(store.EscalationFilter{PatientID: w.pat.ID})
	if len(es) != 1 {
		w.t.Fatalf("escalations = %+v, want 1", es)
	}
	e := w.get(es[0].ID)
	res := w.fire(e.Steps[0].ID, e.Steps[0].DueAt)
	if !res.Fired || len(res.Notifications) == 0 {
		w.t.Fatalf("fire = %+v", res)
	}
	dls, err := w.s.ClaimNotifications(w.ctx, res.Notifications)
	if err != nil || len(dls) != len(res.Notifications) {
		w.t.Fatalf("claim = %d, %v", len(dls), err)
	}
	return dls
}

// TestEscalationMessageMissedCount: {{missed_count}} is the number of
// misses that opened the escalation, by trigger kind, and the message
// knows the trigger (for its title).
func TestEscalationMessageMissedCount(t *testing.T) {
	clin := level(0, adherence.RecipientsClinicians, notify.Email)
	for _, tc := range []struct {
		name    string
		trigger adherence.EscalationTrigger
		days    int // days 1..days missed
		want    int
	}{
		{"missed_dose", adherence.EscalationTrigger{Kind: adherence.TriggerMissedDose}, 1, 1},
		{"missed_count", adherence.EscalationTrigger{Kind: adherence.TriggerMissedCount, Count: 3, Window: 49 * time.Hour}, 3, 3},
		{"low_adherence", adherence.EscalationTrigger{Kind: adherence.TriggerLowAdherence, Threshold: 0.5}, 4, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				w := newEscWorld(t, f)
				w.policy(tc.trigger, clin)
				for d := 1; d <= tc.days; d++ {
					w.missDay(d)
					w.consume()
				}
				for _, dl := range w.claimEscalation() {
					if dl.Values.MissedCount != tc.want || dl.Trigger != tc.trigger.Kind {
						t.Errorf("missed count = %d, trigger %q; want %d, %q", dl.Values.MissedCount, dl.Trigger, tc.want, tc.trigger.Kind)
					}
				}
			})
		})
	}
}
