package store_test

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
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
