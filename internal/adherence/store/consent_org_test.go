package store_test

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/phi"
)

// TestAPIOptOutIsTheOrgsOwn: an opt-out staff record through the API
// counts for their org only. Counted for every org, it let one org, by
// enrolling a throwaway patient with another org's patient's number and
// opting it out, stop that patient's reminders (SMS and email alike), and
// read from smsOptedOut that another org had opted the number out (QA,
// security). The number's own STOP still counts for every org.
func TestAPIOptOutIsTheOrgsOwn(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		const number, email = "+15551234567", "ana@example.org"
		// The other org enrols a patient with the number and the address
		// and opts both out.
		orgB, actorB := f.otherOrg()
		mallory := adherence.Patient{OrgID: orgB, GivenName: phi.New("Mallory"), Phone: phi.New(number), Email: phi.New(email),
			TimeZone: "UTC", Language: "en", SMSConsent: true}
		if err := f.s.CreatePatient(f.ctx, actorB, &mallory); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ channel, address string }{{"sms", number}, {"email", email}} {
			if err := f.s.RecordConsent(f.ctx, store.ConsentInput{OrgID: orgB, PatientID: mallory.ID, Channel: c.channel,
				Address: c.address, Action: store.ConsentOptOut, Source: store.ConsentSourceAPI, Actor: actorB}); err != nil {
				t.Fatal(err)
			}
		}
		optedOut := func(org, channel, address string) bool {
			t.Helper()
			out, err := f.s.OptedOut(f.ctx, org, channel, address)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		for _, c := range []struct{ channel, address string }{{"sms", number}, {"email", email}} {
			if !optedOut(orgB, c.channel, c.address) {
				t.Errorf("%s: not opted out for the org that opted it out", c.channel)
			}
			if optedOut(f.org, c.channel, c.address) {
				t.Errorf("%s: another org's API opt-out counted for this org", c.channel)
			}
		}

		// This org's patient of the number is reminded as usual.
		p, _, dose := f.reminderPatient("", "")
		p.Email = phi.New(email)
		if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
			t.Fatal(err)
		}
		f.arm(utc(11, 30))
		f.dispatch(utc(13, 0))
		var id int64
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT id FROM notifications WHERE dose_instance_id = $1`, dose.ID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		claimed, err := f.s.ClaimNotifications(f.ctx, []int64{id})
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim the reminder: %+v, %v", claimed, err)
		}
		if claimed[0].OptedOut || claimed[0].EmailOptedOut {
			t.Errorf("the reminder of this org's patient: number opted out %v, address opted out %v; want neither (only another org opted them out)",
				claimed[0].OptedOut, claimed[0].EmailOptedOut)
		}

		// The number's own STOP counts for every org.
		f.now = utc(13, 5)
		if err := f.s.RecordConsent(f.ctx, store.ConsentInput{Channel: "sms", Address: number, Action: store.ConsentOptOut,
			Source: store.ConsentSourceSMSKeyword, Keyword: "STOP"}); err != nil {
			t.Fatal(err)
		}
		if !optedOut(f.org, "sms", number) || !optedOut(orgB, "sms", number) {
			t.Error("a STOP the number texted does not count for every org")
		}
		// And this org's own API opt-out counts for it.
		f.now = f.now.Add(time.Minute)
		if err := f.s.RecordConsent(f.ctx, store.ConsentInput{OrgID: f.org, PatientID: p.ID, Channel: "email",
			Address: email, Action: store.ConsentOptOut, Source: store.ConsentSourceAPI, Actor: f.actor}); err != nil {
			t.Fatal(err)
		}
		if !optedOut(f.org, "email", email) {
			t.Error("this org's own API opt-out does not count for it")
		}
	})
}

// TestAPIConsentCannotUndoAStop: a number that texted STOP stays opted out
// until it texts START, whatever an org records through the API after it:
// an API opt-out then an API opt-in got round the 409 and the number was
// texted again (QA re-test, HIGH). And the number's first STOP is
// confirmed, although an org had opted the number out through the API:
// whether it was depended on which org's patient the text was matched to
// (QA re-test).
func TestAPIConsentCannotUndoAStop(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p, _, dose := f.reminderPatient("", "")
		number := p.Phone.Reveal()
		api := func(action string) error {
			f.t.Helper()
			return f.s.RecordConsent(f.ctx, store.ConsentInput{OrgID: f.org, PatientID: p.ID, Channel: "sms", Address: number,
				Action: action, Source: store.ConsentSourceAPI, Actor: f.actor})
		}
		f.now = utc(11, 0)
		if err := api(store.ConsentOptOut); err != nil {
			t.Fatal(err)
		}
		f.now = utc(11, 1)
		if res := f.text(1, number, "STOP"); res.Result != store.InboundOptedOut {
			t.Fatalf("STOP = %+v", res)
		}
		if n := f.replies(remind.KindOptOutConfirmation, number); n != 1 {
			t.Errorf("%d STOP confirmations after the org's API opt-out, want 1: the number had not texted STOP before", n)
		}
		f.now = utc(11, 2)
		if err := api(store.ConsentOptIn); errs.CodeOf(err) != errs.CodeConflict {
			t.Fatalf("API opt-in after the STOP: %v, want a conflict", err)
		}
		if err := api(store.ConsentOptOut); err != nil {
			t.Fatal(err)
		}
		f.now = utc(11, 3)
		if err := api(store.ConsentOptIn); errs.CodeOf(err) != errs.CodeConflict {
			t.Fatalf("API opt-in after the STOP and an API opt-out: %v, want a conflict", err)
		}
		if out, err := f.s.OptedOut(f.ctx, f.org, "sms", number); err != nil || !out {
			t.Fatalf("OptedOut = %v, %v; want true until the number texts START", out, err)
		}
		// The reminder is claimed with the number opted out.
		f.arm(utc(11, 30))
		f.dispatch(utc(13, 0))
		var id int64
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT id FROM notifications WHERE dose_instance_id = $1`, dose.ID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		claimed, err := f.s.ClaimNotifications(f.ctx, []int64{id})
		if err != nil || len(claimed) != 1 || !claimed[0].OptedOut {
			t.Fatalf("the reminder after the STOP and the org's API rows: %+v, %v; want the number opted out", claimed, err)
		}
	})
}
