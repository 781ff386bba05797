package store_test

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

func strp(s string) *string { return &s }

// TestUpdateMember: an edit sets the fields it names and only those, ""
// clears an optional one, a bad zone is refused, another organization's
// member is not found, and the audit record names the fields, not their
// values.
func TestUpdateMember(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		w := newEscWorld(t, f)
		id := w.carers[0]
		before, err := f.s.GetMember(f.ctx, f.org, id)
		if err != nil {
			t.Fatal(err)
		}
		m, err := f.s.UpdateMember(f.ctx, f.actor, f.org, id, store.MemberChange{Phone: strp("+15550001111"), TimeZone: strp("Europe/London")})
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.s.GetMember(f.ctx, f.org, id)
		if err != nil {
			t.Fatal(err)
		}
		if m != got || got.Phone.Reveal() != "+15550001111" || got.TimeZone != "Europe/London" ||
			got.Name.Reveal() != before.Name.Reveal() || got.Kind != before.Kind || !got.Active {
			t.Fatalf("member after the edit = %+v (returned %+v), before %+v", got, m, before)
		}
		var n int
		for _, r := range f.auditRecords() {
			if r.ResourceType == "Member" && r.ResourceID == id && r.Detail == "fields=phone,timeZone" && r.Action == "U" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d audit records of the edit, want 1", n)
		}
		if m, err := f.s.UpdateMember(f.ctx, f.actor, f.org, id, store.MemberChange{TimeZone: strp("")}); err != nil || m.TimeZone != "" || m.Phone.Reveal() != "+15550001111" {
			t.Fatalf("clearing the zone: %+v, %v", m, err)
		}
		_, err = f.s.UpdateMember(f.ctx, f.actor, f.org, id, store.MemberChange{TimeZone: strp("Mars/Olympus")})
		wantCode(t, err, errs.CodeInvalid)
		other, otherActor := f.otherOrg()
		_, err = f.s.UpdateMember(f.ctx, otherActor, other, id, store.MemberChange{Name: strp("Someone")})
		wantCode(t, err, errs.CodeNotFound)
	})
}

// TestMemberDeactivation: a deactivated caregiver's waiting escalation
// messages are cancelled (the other caregiver's stay), their API key is
// refused until they are reactivated, and each change is audited once.
func TestMemberDeactivation(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		w := newEscWorld(t, f)
		w.standard()
		w.missDay(1)
		opened := w.now
		w.consume()
		e := w.escalations(store.EscalationFilter{})[0]
		if res := w.fire(w.get(e.ID).Steps[0].ID, opened.Add(30*time.Minute)); !res.Fired {
			t.Fatalf("level 1 did not fire: %+v", res)
		}
		gone, stays := w.carers[0], w.carers[1]
		_, keyID, hash, err := auth.NewAPIKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := f.s.CreateAPIKey(f.ctx, f.actor, adherence.APIKey{ID: keyID, OrgID: f.org, Role: "caregiver", Subject: gone,
			Hash: hash, CreatedAt: f.now, CreatedBy: "test"}); err != nil {
			t.Fatal(err)
		}

		m, err := f.s.SetMemberActive(f.ctx, f.actor, f.org, gone, false)
		if err != nil || m.Active {
			t.Fatalf("deactivate: %+v, %v", m, err)
		}
		if _, err := f.s.SetMemberActive(f.ctx, f.actor, f.org, gone, false); err != nil {
			t.Fatal(err)
		}
		status := map[string]string{}
		for _, n := range w.sent(e.ID) {
			status[n.Member] = n.Status
		}
		if status[gone] != store.NotificationCancelled || status[stays] != store.NotificationQueued {
			t.Fatalf("escalation messages after the deactivation: %v, want %s cancelled and %s queued", status, gone, stays)
		}
		if c := f.count(`SELECT COUNT(*) FROM notifications WHERE member_id = $1 AND reason = $2`, gone, store.ReasonMemberDeactivated); c != 1 {
			t.Fatalf("%d notifications cancelled with reason %s, want 1", c, store.ReasonMemberDeactivated)
		}
		k, err := f.s.LookupAPIKey(f.ctx, keyID)
		if err != nil || k.Disabled == "" {
			t.Fatalf("the deactivated member's key = %+v, %v; want it disabled", k, err)
		}
		if err := f.s.CheckOIDCPrincipal(f.ctx, auth.Principal{OrgID: f.org, Role: auth.RoleCaregiver, Subject: gone}); !errs.Is(err, errs.CodeForbidden) {
			t.Fatalf("an OIDC token of the deactivated member: %v, want forbidden", err)
		}

		if m, err := f.s.SetMemberActive(f.ctx, f.actor, f.org, gone, true); err != nil || !m.Active {
			t.Fatalf("reactivate: %+v, %v", m, err)
		}
		if k, err := f.s.LookupAPIKey(f.ctx, keyID); err != nil || k.Disabled != "" {
			t.Fatalf("the reactivated member's key = %+v, %v; want it enabled", k, err)
		}
		changes := map[string]int{}
		for _, r := range f.auditRecords() {
			if r.ResourceType == "Member" && r.ResourceID == gone && r.Action == "U" {
				changes[r.Detail]++
			}
		}
		if changes["active=false"] != 1 || changes["active=true"] != 1 {
			t.Fatalf("audit records of the member's changes = %v, want one deactivation and one reactivation", changes)
		}
		other, otherActor := f.otherOrg()
		_, err = f.s.SetMemberActive(f.ctx, otherActor, other, gone, false)
		wantCode(t, err, errs.CodeNotFound)
	})
}

// TestMemberZoneChangeRedecidesHeldMessages: a message to a caregiver held
// for their quiet hours gets a delivery job at once when their zone
// changes (it decides again under the new zone), and none when a PATCH
// leaves the zone as it was; a PATCH that sets a field to its value is
// audited as changing nothing (QA re-test: the held message waited for
// the old zone's morning, and a PATCH was audited with the fields given).
func TestMemberZoneChangeRedecidesHeldMessages(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		rec := &jobRecorder{}
		w := newEscWorld(t, f)
		f.s.Jobs = rec
		carer := w.carers[0]
		var held int64
		err := f.d.SQL.QueryRowContext(f.ctx, `INSERT INTO notifications (org_id, idempotency_key, kind, template, patient_id, member_id,
				channels, status, reason, due_at, created_at, updated_at)
			VALUES ($1, 'esc-held', 'escalation', 'escalation_caregiver', $2, $3, 'sms', 'queued', 'quiet_hours', $4, $4, $4) RETURNING id`,
			f.org, w.pat.ID, carer, f.now).Scan(&held)
		if err != nil {
			t.Fatal(err)
		}
		jobs := func() []int64 {
			var ids []int64
			for _, prm := range rec.params {
				if args, ok := prm.Args.(adherence.DeliverArgs); ok {
					ids = append(ids, args.IDs...)
				}
			}
			return ids
		}
		m, err := f.s.GetMember(f.ctx, f.org, carer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.UpdateMember(f.ctx, f.actor, f.org, carer, store.MemberChange{Name: strp(m.Name.Reveal()), TimeZone: strp(m.TimeZone)}); err != nil {
			t.Fatal(err)
		}
		if got := jobs(); len(got) != 0 {
			t.Fatalf("delivery jobs after a PATCH that changed nothing: %v", got)
		}
		if _, err := f.s.UpdateMember(f.ctx, f.actor, f.org, carer, store.MemberChange{TimeZone: strp("America/Los_Angeles")}); err != nil {
			t.Fatal(err)
		}
		if got := jobs(); len(got) != 1 || got[0] != held {
			t.Fatalf("delivery jobs after the zone change: %v, want one for the held message %d", got, held)
		}
		var details []string
		for _, r := range f.auditRecords() {
			if r.ResourceType == "Member" && r.ResourceID == carer {
				details = append(details, r.Detail)
			}
		}
		if len(details) < 2 || details[len(details)-2] != "fields=none" || details[len(details)-1] != "fields=timeZone" {
			t.Fatalf("member audit details = %q, want fields=none then fields=timeZone last", details)
		}
	})
}
