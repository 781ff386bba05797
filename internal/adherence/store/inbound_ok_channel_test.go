package store_test

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// TestOKAcknowledgesTheEscalationTexted: a caregiver of two patients was
// texted about one escalation, then e-mailed about another. Their OK
// answers the text: it acknowledges the escalation texted to the number
// (api.md: "the open one whose message to that number went last"), not the
// one e-mailed later, which they may not have read.
func TestOKAcknowledgesTheEscalationTexted(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p1 := f.patient("UTC")
		m := f.linkedCaregiver(p1)
		p2 := f.patient("UTC")
		if err := f.s.LinkMember(f.ctx, f.actor, f.org, adherence.Link{PatientID: p2.ID, MemberID: m.ID}); err != nil {
			t.Fatal(err)
		}
		const policy = "0190c0de-0000-7000-8000-000000000001"
		const texted, mailed = "0190c0de-0000-7000-8000-000000000002", "0190c0de-0000-7000-8000-000000000003"
		f.exec(`INSERT INTO escalation_policies (id, org_id, name, trigger_kind, levels, created_at, updated_at)
			VALUES ($1, $2, 'p', 'missed_dose', '[]', $3, $3)`, policy, f.org, f.now)
		for _, e := range []struct{ id, patient string }{{texted, p1.ID}, {mailed, p2.ID}} {
			f.exec(`INSERT INTO escalations (id, org_id, patient_id, policy_id, status, level, opened_at)
				VALUES ($1, $2, $3, $4, 'open', 1, $5)`, e.id, f.org, e.patient, policy, f.now)
		}
		t1, t2 := f.now, f.now.Add(10*time.Minute)
		notify := func(key, patient, esc, channel string, at time.Time) {
			f.exec(`INSERT INTO notifications (org_id, idempotency_key, kind, template, patient_id, member_id, escalation_id,
					channels, channel, status, due_at, accepted_at, created_at, updated_at)
				VALUES ($1, $2, 'escalation', 'escalation_caregiver', $3, $4, $5, $6, $6, 'sent', $7, $7, $7, $7)`,
				f.org, key, patient, m.ID, esc, channel, at)
		}
		notify("esc-sms", p1.ID, texted, "sms", t1)
		notify("esc-mail", p2.ID, mailed, "email", t2)

		f.now = t2.Add(time.Minute)
		if res := f.text(1, m.Phone.Reveal(), "OK"); res.Result != store.InboundAcknowledged {
			t.Fatalf("OK = %+v", res)
		}
		for id, want := range map[string]string{texted: "acknowledged", mailed: "open"} {
			var got string
			if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT status FROM escalations WHERE id = $1`, id).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("escalation %s is %s, want %s", id, got, want)
			}
		}

		// Told by e-mail only, there is nothing the OK can answer.
		if res := f.text(2, m.Phone.Reveal(), "OK"); res.Result == store.InboundAcknowledged {
			t.Errorf("a second OK acknowledged the e-mailed escalation: %+v", res)
		}
	})
}

// TestOKAcknowledgesATextInFlight: the escalation text a caregiver answers
// may still be sending, or its outcome unknown (the process stopped while
// handing it over): no channel is recorded yet, and the OK counts it, as
// it did before only texts counted (re-test: it answered "nothing to
// acknowledge" and the escalation kept paging). A message in flight that
// cannot be a text (e-mail only) does not count.
func TestOKAcknowledgesATextInFlight(t *testing.T) {
	for _, c := range []struct {
		state string
		via   notify.Channel
		acked bool
	}{{"sending", notify.SMS, true}, {"unknown", notify.SMS, true}, {"sent", notify.SMS, true}, {"sending", notify.Email, false}} {
		t.Run(c.state+" by "+string(c.via), func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				w := newEscWorld(t, f)
				w.policy(adherence.EscalationTrigger{Kind: adherence.TriggerMissedDose}, level(0, adherence.RecipientsCaregivers, c.via))
				w.missDay(1)
				w.consume()
				var claims []store.Claim
				for _, d := range w.claimEscalation() {
					claims = append(claims, store.Claim{ID: d.ID, Attempt: d.Attempts})
				}
				if len(claims) == 0 {
					t.Fatal("set-up: no escalation message to claim")
				}
				if _, _, err := w.s.RecordDeliveryProgress(w.ctx, nil, claims); err != nil {
					t.Fatal(err)
				}
				switch c.state {
				case "unknown":
					w.now = w.now.Add(11 * time.Minute)
					if n, err := w.s.MarkUnknownSending(w.ctx, 10*time.Minute, w.now); err != nil || n == 0 {
						t.Fatalf("set-up: mark unknown: %d %v", n, err)
					}
				case "sent":
					w.exec(`UPDATE notifications SET status = 'sent', channel = 'sms' WHERE escalation_id IS NOT NULL`)
				}
				var status, channel string
				if err := w.d.SQL.QueryRowContext(w.ctx, `SELECT status, channel FROM notifications WHERE escalation_id IS NOT NULL LIMIT 1`).Scan(&status, &channel); err != nil {
					t.Fatal(err)
				}
				if status != c.state || (c.state != "sent" && channel != "") {
					t.Fatalf("set-up: the message is %s on %q, want %s with no channel recorded", status, channel, c.state)
				}
				w.now = w.now.Add(time.Minute)
				res := w.text(1, "+15557654321", "OK")
				if got := res.Result == store.InboundAcknowledged; got != c.acked {
					t.Errorf("OK to an escalation message %s by %s: %s, want acknowledged %v", c.state, c.via, res.Result, c.acked)
				}
			})
		})
	}
}
