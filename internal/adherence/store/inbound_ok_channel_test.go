package store_test

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
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
