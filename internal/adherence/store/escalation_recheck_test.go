package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// TestFireStepAfterLateTaking: a level due after the dose was recorded
// late, but before the outbox consumer read its dose.resolved record (the
// worker was down; its overdue step jobs run first), pages no one: the
// step resolves the escalation, reason dose_recorded. It paged the
// caregivers, then at once the clinician, about a dose taken four hours
// before (QA).
func TestFireStepAfterLateTaking(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		w := newEscWorld(t, f)
		w.standard()
		w.missDay(1)
		w.consume()
		es := w.escalations(store.EscalationFilter{})
		if len(es) != 1 {
			t.Fatalf("escalations = %+v, want one", es)
		}
		st := w.get(es[0].ID).Steps[0]
		w.takeLate(w.pat.ID, w.plan.ID, 1) // at 12:00; the consumer does not run

		res := w.fire(st.ID, local(2026, 3, 1, 16, 0).UTC())
		if res.Fired || res.Skipped != store.SkipTriggerCleared || res.NextStepID != 0 ||
			res.Resolved == nil || res.Resolved.Reason != store.ReasonDoseRecorded {
			t.Fatalf("fire = %+v, want skipped %s, resolved for %s", res, store.SkipTriggerCleared, store.ReasonDoseRecorded)
		}
		if n := w.sent(es[0].ID); len(n) != 0 {
			t.Errorf("notifications of the escalation = %+v, want none", n)
		}
		e := w.get(es[0].ID)
		if e.Status != adherence.EscalationResolved || e.Reason != store.ReasonDoseRecorded || e.ClosedBy != store.ClosedByPatient {
			t.Errorf("escalation = %s %s by %s, want resolved %s by %s", e.Status, e.Reason, e.ClosedBy, store.ReasonDoseRecorded, store.ClosedByPatient)
		}
		if n := w.audited(e.ID, "status=resolved reason="+store.ReasonDoseRecorded); n != 1 {
			t.Errorf("%d audit records of the resolution, want 1", n)
		}
		// The consumer then reads the record: nothing more happens.
		w.consume()
		if e := w.get(es[0].ID); e.Status != adherence.EscalationResolved || e.Reason != store.ReasonDoseRecorded {
			t.Errorf("after the consumer, escalation = %s %s", e.Status, e.Reason)
		}
	})
}

// TestFireStepMovesToATakenInMiss: when the escalation's own dose was
// recorded late before the consumer ran, but a later miss it took in is
// still missed, the level fires about that miss, as the consumer would
// have moved it.
func TestFireStepMovesToATakenInMiss(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		w := newEscWorld(t, f)
		w.policy(adherence.EscalationTrigger{Kind: adherence.TriggerMissedDose},
			level(30*time.Hour, adherence.RecipientsCaregivers, notify.SMS))
		w.missDay(1)
		w.consume()
		w.missDay(2) // taken in by the open escalation
		w.consume()
		es := w.escalations(store.EscalationFilter{})
		if len(es) != 1 {
			t.Fatalf("escalations = %+v, want one", es)
		}
		first := es[0].DoseInstanceID
		w.takeLate(w.pat.ID, w.plan.ID, 1)
		var second int64
		for _, d := range w.doses(w.plan.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0)) {
			second = d.ID
		}
		if second == 0 || second == first {
			t.Fatalf("day 2's dose = %d, escalation's = %d", second, first)
		}

		res := w.fire(w.get(es[0].ID).Steps[0].ID, local(2026, 3, 2, 18, 0).UTC())
		if !res.Fired || res.Recipients != len(w.carers) {
			t.Fatalf("fire = %+v, want fired to the %d caregivers", res, len(w.carers))
		}
		e := w.get(es[0].ID)
		if e.Status != adherence.EscalationOpen || e.DoseInstanceID != second {
			t.Errorf("escalation = %s about dose %d, want open about day 2's dose %d", e.Status, e.DoseInstanceID, second)
		}
		w.movedAudited(e.ID, second, store.ReasonDoseRecorded, store.EscalationSystemActor.ID)
		for _, n := range w.sent(e.ID) {
			if n.Level != 1 {
				t.Errorf("notification %+v, want level 1", n)
			}
		}
	})
}

// TestMissedCountLeavesOutPlansOnHold: {{missed_count}} in a missed_count
// escalation's messages counts the misses of active scheduled plans only,
// as the trigger does: those of a plan paused since were told to
// caregivers too ("missed 5" where 2 opened it, QA).
func TestMissedCountLeavesOutPlansOnHold(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		w := newEscWorld(t, f)
		w.policy(adherence.EscalationTrigger{Kind: adherence.TriggerMissedCount, Count: 2, Window: 48 * time.Hour},
			level(0, adherence.RecipientsCaregivers, notify.SMS))
		other := f.plan(w.pat.ID, timeOfDay("05:00", "06:00", "07:00"))
		w.missDay(1) // the other plan's three doses and the 08:00 one
		w.consume()
		w.exec(`UPDATE escalations SET status = 'acknowledged'`)
		if _, err := w.s.SetPlanStatus(w.ctx, w.actor, w.org, other.ID, adherence.PlanPaused); err != nil {
			t.Fatal(err)
		}
		w.missDay(2)
		w.consume()
		open := w.escalations(store.EscalationFilter{Status: adherence.EscalationOpen})
		if len(open) != 1 {
			t.Fatalf("open escalations = %+v, want one", open)
		}
		fr := w.fire(w.get(open[0].ID).Steps[0].ID, w.now)
		ds, err := w.s.ClaimNotifications(w.ctx, fr.Notifications)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != len(w.carers) {
			t.Fatalf("claimed %d notifications, want one per caregiver (%d)", len(ds), len(w.carers))
		}
		for _, d := range ds {
			if d.Values.MissedCount != 2 {
				t.Errorf("missed_count = %d, want 2 (the active plan's two misses)", d.Values.MissedCount)
			}
		}
	})
}

// TestReopenedMissIsAnnouncedAgain: a dose missed, recorded late (a
// device synced hours later), then opened again because an earlier
// opening took its recording over (see unscore), is missed again, and
// that miss is announced and escalated, whichever of the two openings
// arrives first. Kept once per dose, the second dose.missed record was
// never written: the dose ended missed with no escalation open, or open
// depending on the order the openings arrived in (QA).
func TestReopenedMissIsAnnouncedAgain(t *testing.T) {
	for _, order := range []string{"later opening first", "earlier opening first"} {
		t.Run(order, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				w := newEscWorld(t, f)
				w.standard()
				p := f.patient("America/New_York")
				w.member(p.ID, adherence.MemberCaregiver, true)
				pl := f.plan(p.ID, timeOfDay("04:00", "08:00"))
				// March 1's doses are missed and dealt with first.
				w.now = local(2026, 3, 2, 0, 0).UTC()
				if _, err := w.s.MarkMissed(w.ctx, w.now); err != nil {
					t.Fatal(err)
				}
				w.consume()
				w.exec(`UPDATE escalations SET status = 'acknowledged' WHERE patient_id = $1`, p.ID)
				// 11:01: both of March 2's doses are missed; one escalation,
				// about 04:00, takes 08:00 in.
				w.now = local(2026, 3, 2, 11, 1).UTC()
				if _, err := w.s.MarkMissed(w.ctx, w.now); err != nil {
					t.Fatal(err)
				}
				w.consume()
				doses := w.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))
				if len(doses) != 2 {
					t.Fatalf("March 2's doses = %+v", doses)
				}
				eight := doses[1].ID
				// Bottle openings at 06:55 (late for 04:00) and 07:05 (on
				// time for 08:00, or the 06:55 one's repeat), synced at noon.
				early := w.ev(p.ID, pl.ID, adherence.EventOpened, local(2026, 3, 2, 6, 55), "early")
				later := w.ev(p.ID, pl.ID, adherence.EventOpened, local(2026, 3, 2, 7, 5), "later")
				first, second := later, early
				if order == "earlier opening first" {
					first, second = early, later
				}
				w.now = local(2026, 3, 2, 12, 0).UTC()
				first.Event.ReceivedAt = w.now
				if out := w.record(first); out[0].Err != nil {
					t.Fatal(out[0].Err)
				}
				w.consume()
				w.now = local(2026, 3, 2, 12, 5).UTC()
				second.Event.ReceivedAt = w.now
				if out := w.record(second); out[0].Err != nil {
					t.Fatal(out[0].Err)
				}
				w.consume()
				w.now = local(2026, 3, 2, 12, 6).UTC()
				if _, err := w.s.MarkMissed(w.ctx, w.now); err != nil {
					t.Fatal(err)
				}
				w.consume()

				doses = w.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))
				if doses[0].Status != adherence.DoseTakenLate || doses[1].Status != adherence.DoseMissed {
					t.Fatalf("doses = %s, %s, want taken_late, missed", doses[0].Status, doses[1].Status)
				}
				open := w.escalations(store.EscalationFilter{PatientID: p.ID, Status: adherence.EscalationOpen})
				if len(open) != 1 || open[0].DoseInstanceID != eight {
					t.Fatalf("open escalations = %+v, want one about the 08:00 dose %d", open, eight)
				}
				// Every announcement of the 08:00 dose is kept; the latest
				// holds the dose's id as its key.
				missed := w.count(`SELECT COUNT(*) FROM outbox WHERE topic = 'dose.missed' AND (dedupe_key = $1 OR dedupe_key LIKE $2)`,
					fmt.Sprint(eight), fmt.Sprint(eight)+":%")
				current := w.count(`SELECT COUNT(*) FROM outbox WHERE topic = 'dose.missed' AND dedupe_key = $1`, fmt.Sprint(eight))
				wantMissed := 2
				if order == "earlier opening first" {
					wantMissed = 1 // the 08:00 dose was never taken from it
				}
				if missed != wantMissed || current != 1 {
					t.Errorf("dose.missed records of the 08:00 dose = %d (%d keyed by its id), want %d (1)", missed, current, wantMissed)
				}
				if n := w.count(`SELECT COUNT(*) FROM outbox WHERE processed_at IS NULL`); n != 0 {
					t.Errorf("%d outbox records left unprocessed", n)
				}
			})
		})
	}
}
