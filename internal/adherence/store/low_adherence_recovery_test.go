package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// TestLowAdherenceResolvedWhenItRecovers: a low_adherence escalation whose
// patient has since taken enough doses on time that the trigger no longer
// holds is resolved (trigger_cleared) when its next level is due, instead
// of paging the clinician. Only a late recording of a missed dose
// re-evaluated it, so the levels went on paging about adherence that had
// recovered (QA). While the trigger holds, the level fires.
func TestLowAdherenceResolvedWhenItRecovers(t *testing.T) {
	for _, recovers := range []bool{true, false} {
		t.Run(fmt.Sprintf("recovers=%v", recovers), func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				w := newEscWorld(t, f)
				var resolved []store.Resolution
				w.s.OnEscalationsResolved = func(by map[store.Resolution]int) {
					for r, n := range by {
						for range n {
							resolved = append(resolved, r)
						}
					}
				}
				w.policy(adherence.EscalationTrigger{Kind: adherence.TriggerLowAdherence, Threshold: 0.5},
					level(0, adherence.RecipientsCaregivers, notify.SMS),
					level(7*24*time.Hour, adherence.RecipientsClinicians, notify.Email))
				// Days 1-4 missed: 0 of 4, below 0.5; the escalation opens.
				for d := 1; d <= 4; d++ {
					w.missDay(d)
					w.consume()
				}
				es := w.escalations(store.EscalationFilter{Status: adherence.EscalationOpen})
				if len(es) != 1 {
					t.Fatalf("set-up: open escalations = %+v", es)
				}
				e := w.get(es[0].ID)
				if res := w.fire(e.Steps[0].ID, w.now); !res.Fired {
					t.Fatalf("set-up: level 1 = %+v", res)
				}
				step2 := w.get(e.ID).Steps[1]
				// Days 5-11: taken on time (7 of 11 by the time level 2 is
				// due, a week after day 4, not below 0.5), or missed.
				for d := 5; d <= 11; d++ {
					if recovers {
						w.now = local(2026, 3, d, 8, 5).UTC()
						w.record(w.ev(w.pat.ID, w.plan.ID, adherence.EventTaken, local(2026, 3, d, 8, 0), fmt.Sprint("on-time-", d)))
					} else {
						w.missDay(d)
						w.consume()
					}
				}
				res := w.fire(step2.ID, step2.DueAt)
				got := w.get(e.ID)
				if recovers {
					if res.Fired || res.Skipped != store.SkipTriggerCleared || got.Status != adherence.EscalationResolved ||
						got.Reason != store.ReasonTriggerCleared || len(w.sent(e.ID)) != 2 {
						t.Fatalf("level 2 after adherence recovered: %+v; escalation %+v, %d messages; want resolved, trigger_cleared, no message to the clinician",
							res, got, len(w.sent(e.ID)))
					}
					if len(resolved) != 1 || resolved[0] != (store.Resolution{Reason: store.ReasonTriggerCleared, Level: 1}) {
						t.Errorf("resolutions told = %+v, want one trigger_cleared at level 1", resolved)
					}
					if w.audited(e.ID, "status=resolved reason=trigger_cleared") != 1 {
						t.Error("the resolution is not audited")
					}
				} else if !res.Fired || got.Status != adherence.EscalationOpen {
					t.Fatalf("level 2 while adherence stays low: %+v; escalation %+v; want fired, open", res, got)
				}
			})
		})
	}
}
