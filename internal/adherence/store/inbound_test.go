package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/phi"
)

// text handles an inbound SMS with message id sid(n) and fails on error.
func (f *fixture) text(n int, from, body string) store.InboundResult {
	f.t.Helper()
	res, err := f.s.HandleInboundSMS(f.ctx, store.InboundSMS{
		Provider: "twilio", ProviderMessageID: sid(n), From: from, To: "+15005550006", Body: body, ReceivedAt: f.now,
	})
	if err != nil {
		f.t.Fatalf("inbound %q: %v", body, err)
	}
	return res
}

// replies counts reply notifications of a template to a number.
func (f *fixture) replies(template remind.Kind, number string) int {
	f.t.Helper()
	return f.count(`SELECT COUNT(*) FROM notifications WHERE kind = 'reply' AND template = $1 AND address = $2`, string(template), number)
}

func TestInboundStopAndStart(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		number := p.Phone.Reveal()

		res := f.text(1, number, "Stop")
		if res.Result != store.InboundOptedOut || res.Reply != remind.ReplyOptOut || res.Replayed {
			t.Fatalf("STOP = %+v", res)
		}
		if !f.optedOut(number) || f.smsConsent(f.org, p.ID) {
			t.Fatal("STOP did not opt the number out and withdraw sms consent")
		}
		if n := f.replies(remind.KindOptOutConfirmation, number); n != 1 {
			t.Fatalf("%d opt-out confirmations, want 1", n)
		}
		var key, channels string
		var urgent bool
		var valid time.Time
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT idempotency_key, channels, urgent, valid_until FROM notifications
			WHERE kind = 'reply'`).Scan(&key, &channels, &urgent, &valid); err != nil {
			t.Fatal(err)
		}
		if key != "reply:"+sid(1) || channels != "sms" || !urgent || !valid.Equal(f.now.Add(15*time.Minute)) {
			t.Fatalf("confirmation: key %s channels %s urgent %v valid until %v", key, channels, urgent, valid)
		}

		// Twilio retries the webhook: nothing changes.
		if res := f.text(1, number, "Stop"); !res.Replayed || res.Result != store.InboundOptedOut {
			t.Fatalf("replayed STOP = %+v", res)
		}
		// A second STOP is recorded but not confirmed again.
		if res := f.text(2, number, "QUIT"); res.Result != store.InboundOptedOut || res.Replayed {
			t.Fatalf("second STOP = %+v", res)
		}
		if n := f.replies(remind.KindOptOutConfirmation, number); n != 1 {
			t.Fatalf("%d opt-out confirmations after a second STOP, want 1", n)
		}
		if n := f.count(`SELECT COUNT(*) FROM consent_ledger WHERE source = 'sms_keyword' AND action = 'opt_out'`); n != 2 {
			t.Fatalf("ledger rows = %d, want one per STOP", n)
		}

		res = f.text(3, number, "START")
		if res.Result != store.InboundOptedIn || f.optedOut(number) || !f.smsConsent(f.org, p.ID) {
			t.Fatalf("START = %+v, opted out %v", res, f.optedOut(number))
		}
		if n := f.replies(remind.KindOptInConfirmation, number); n != 1 {
			t.Fatalf("%d opt-in confirmations", n)
		}
		// After STOP, only START re-subscribes: the API cannot.
		f.text(4, number, "STOP")
		if err := f.apiConsent(p, store.ConsentOptIn); err == nil {
			t.Fatal("an API opt-in overrode a texted STOP")
		}
		if n := f.count(`SELECT COUNT(*) FROM inbound_messages`); n != 4 {
			t.Fatalf("inbound rows = %d, want 4", n)
		}
		f.noNumberStored(number)
	})
}

// A STOP applies to the number: every patient and member with it, in
// every org, gets a ledger row; the confirmation goes once.
func TestInboundStopAppliesToEveryRecordOfTheNumber(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC")
		number := p.Phone.Reveal()
		orgB, actorB := f.otherOrg()
		pb := adherence.Patient{OrgID: orgB, GivenName: phi.New("Ana"), Phone: phi.New(number), TimeZone: "UTC", SMSConsent: true}
		if err := f.s.CreatePatient(f.ctx, actorB, &pb); err != nil {
			t.Fatal(err)
		}
		m := adherence.Member{OrgID: f.org, Kind: adherence.MemberCaregiver, Name: phi.New("Carla"), Phone: phi.New(number)}
		if err := f.s.CreateMember(f.ctx, f.actor, &m); err != nil {
			t.Fatal(err)
		}
		other := adherence.Patient{OrgID: f.org, GivenName: phi.New("Zed"), Phone: phi.New("+15559990000"), TimeZone: "UTC", SMSConsent: true}
		if err := f.s.CreatePatient(f.ctx, f.actor, &other); err != nil {
			t.Fatal(err)
		}

		if res := f.text(1, number, "STOP"); res.Result != store.InboundOptedOut {
			t.Fatalf("STOP = %+v", res)
		}
		if n := f.count(`SELECT COUNT(*) FROM consent_ledger`); n != 3 {
			t.Fatalf("ledger rows = %d, want 3 (two patients, one member)", n)
		}
		if f.smsConsent(f.org, p.ID) || f.smsConsent(orgB, pb.ID) || !f.smsConsent(f.org, other.ID) {
			t.Fatal("sms consent not withdrawn exactly for the number's patients")
		}
		if n := f.count(`SELECT COUNT(*) FROM notifications WHERE kind = 'reply'`); n != 1 {
			t.Fatalf("%d confirmations, want 1", n)
		}
		if f.optedOut(other.Phone.Reveal()) {
			t.Fatal("another number was opted out")
		}
	})
}

// START re-subscribes a number, but it restores sms_consent only to a
// patient whose consent an opt-out withdrew: a patient enrolled without
// SMS consent stays without it, even after STOP and START, while a
// consenting patient with the same number gets it back.
func TestInboundStartNeverEnablesAnUnconsentedPatient(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		consented := f.patient("UTC")
		number := consented.Phone.Reveal()
		never := adherence.Patient{OrgID: f.org, GivenName: phi.New("Bo"), Phone: phi.New(number), TimeZone: "UTC", SMSConsent: false}
		if err := f.s.CreatePatient(f.ctx, f.actor, &never); err != nil {
			t.Fatal(err)
		}

		if res := f.text(1, number, "START"); res.Result != store.InboundOptedIn {
			t.Fatalf("START = %+v", res)
		}
		if f.smsConsent(f.org, never.ID) {
			t.Fatal("START switched on sms consent for a patient who never gave it")
		}
		f.text(2, number, "STOP")
		f.text(3, number, "STOP")
		if res := f.text(4, number, "START"); res.Result != store.InboundOptedIn || f.optedOut(number) {
			t.Fatalf("START after STOP = %+v, opted out %v", res, f.optedOut(number))
		}
		if f.smsConsent(f.org, never.ID) {
			t.Fatal("STOP then START switched on sms consent for a patient who never gave it")
		}
		if !f.smsConsent(f.org, consented.ID) {
			t.Fatal("START did not restore the consent STOP withdrew")
		}
		// Once restored, the next STOP and START withdraw and restore it
		// again, and still leave the other patient alone.
		f.text(5, number, "STOP")
		f.text(6, number, "START")
		if !f.smsConsent(f.org, consented.ID) || f.smsConsent(f.org, never.ID) {
			t.Fatal("a second STOP and START did not restore exactly the consent withdrawn")
		}
		// Staff recording consent through the API decide from then on: a
		// patient they set to consenting and then to not consenting after a
		// STOP is not switched on by the next START.
		f.text(7, number, "STOP")
		for _, consent := range []bool{true, false} {
			cur, err := f.s.GetPatient(f.ctx, f.org, consented.ID)
			if err != nil {
				t.Fatal(err)
			}
			cur.SMSConsent = consent
			if err := f.s.UpdatePatient(f.ctx, f.actor, &cur, cur.Version); err != nil {
				t.Fatal(err)
			}
		}
		f.text(8, number, "START")
		if f.smsConsent(f.org, consented.ID) {
			t.Fatal("START switched on a patient staff had set to not consenting")
		}
	})
}

func TestInboundUnknownNumberIsIgnored(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		auditBefore := f.count(`SELECT COUNT(*) FROM audit_log`)
		for i, body := range []string{"TAKEN", "HELP", "what is this"} {
			res := f.text(i+1, "+15550001111", body)
			if res.Result != store.InboundIgnored {
				t.Fatalf("%q from an unknown number = %+v", body, res)
			}
		}
		if n := f.count(`SELECT COUNT(*) FROM inbound_messages WHERE result = 'ignored' AND org_id IS NULL AND patient_id IS NULL AND member_id IS NULL AND address_key = $1`,
			store.AddressKey("+15550001111")); n != 3 {
			t.Fatalf("ignored rows = %d, want 3", n)
		}
		for _, table := range []string{"consent_ledger", "notifications", "events"} {
			if n := f.count(`SELECT COUNT(*) FROM ` + table); n != 0 {
				t.Errorf("%s has %d rows after texts from an unknown number", table, n)
			}
		}
		if n := f.count(`SELECT COUNT(*) FROM audit_log`); n != auditBefore {
			t.Errorf("audit records written for an unknown number")
		}
		f.noNumberStored("+15550001111")
	})
}

// TestInboundStopFromAnUnknownNumberIsKept: STOP from a number on no
// record is kept in the ledger for the number alone (no organization, no
// patient, no audit record, no answer), so a patient enrolled with that
// number afterwards is not texted: the reminder is undeliverable
// (opted_out). It was dropped as "ignored", and that patient was texted
// (QA). START from the number lifts it.
func TestInboundStopFromAnUnknownNumberIsKept(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		const number = "+15551234567" // reminderPatient's, enrolled below
		auditBefore := f.count(`SELECT COUNT(*) FROM audit_log`)
		if res := f.text(1, number, "STOP"); res.Result != store.InboundOptedOut {
			t.Fatalf("STOP from an unknown number = %+v, want opted_out", res)
		}
		if n := f.count(`SELECT COUNT(*) FROM consent_ledger WHERE org_id IS NULL AND patient_id IS NULL AND member_id IS NULL
			AND channel = 'sms' AND action = 'opt_out' AND keyword = 'STOP' AND address_key = $1`, store.AddressKey(number)); n != 1 {
			t.Fatalf("%d number-level opt-outs in the ledger, want 1", n)
		}
		if n := f.count(`SELECT COUNT(*) FROM notifications`); n != 0 {
			t.Fatalf("%d answers to a STOP from an unknown number, want none", n)
		}
		if n := f.count(`SELECT COUNT(*) FROM audit_log`); n != auditBefore {
			t.Errorf("audit records written for an unknown number")
		}
		f.noNumberStored(number)

		_, _, dose := f.reminderPatient("", "")
		if out, err := f.s.OptedOut(f.ctx, f.org, "sms", number); err != nil || !out {
			t.Fatalf("OptedOut after the STOP = %v, %v; want true", out, err)
		}
		// The reminder as the deliverer claims it: the number is opted
		// out, so no SMS goes (deliver answers it opted_out).
		f.arm(utc(11, 30))
		f.dispatch(utc(13, 0))
		var id int64
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT id FROM notifications WHERE dose_instance_id = $1`, dose.ID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		claimed, err := f.s.ClaimNotifications(f.ctx, []int64{id})
		if err != nil || len(claimed) != 1 || !claimed[0].OptedOut {
			t.Fatalf("the reminder of the patient enrolled with the number: %+v, %v; want it claimed with the number opted out", claimed, err)
		}

		f.now = utc(14, 0)
		if res := f.text(2, number, "START"); res.Result != store.InboundOptedIn {
			t.Fatalf("START = %+v", res)
		}
		if out, err := f.s.OptedOut(f.ctx, f.org, "sms", number); err != nil || out {
			t.Fatalf("OptedOut after START = %v, %v; want false", out, err)
		}
	})
}

// remindedDose enrols a patient with an 08:00 New York plan and sends (as
// far as the store knows) the first reminder of the 2026-03-02 dose.
func (f *fixture) remindedDose() (adherence.Patient, adherence.Plan, adherence.DoseInstance) {
	f.t.Helper()
	p, pl, dose := f.reminderPatient("", "")
	f.arm(utc(11, 30))
	if res := f.dispatch(utc(13, 0)); res.Sent != 1 {
		f.t.Fatalf("dispatch: %+v", res)
	}
	f.exec(`UPDATE notifications SET status = 'sent' WHERE dose_instance_id = $1`, dose.ID)
	return p, pl, dose
}

// linkedCaregiver creates a caregiver with a phone number, linked to p.
func (f *fixture) linkedCaregiver(p adherence.Patient) adherence.Member {
	f.t.Helper()
	m := adherence.Member{OrgID: f.org, Kind: adherence.MemberCaregiver, Name: phi.New("Carla"), Phone: phi.New("+15553334444")}
	if err := f.s.CreateMember(f.ctx, f.actor, &m); err != nil {
		f.t.Fatal(err)
	}
	if err := f.s.LinkMember(f.ctx, f.actor, f.org, adherence.Link{PatientID: p.ID, MemberID: m.ID}); err != nil {
		f.t.Fatal(err)
	}
	return m
}

func (f *fixture) dose(planID string, id int64) adherence.DoseInstance {
	f.t.Helper()
	for _, d := range f.allDoses(planID) {
		if d.ID == id {
			return d
		}
	}
	f.t.Fatalf("dose %d not found", id)
	return adherence.DoseInstance{}
}

func TestInboundTakenRecordsTheEvent(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p, pl, dose := f.remindedDose()
		number := p.Phone.Reveal()
		f.now = utc(13, 10)
		res := f.text(1, number, "taken")
		if res.Result != store.InboundRecorded || res.EventID == "" || res.Reply != remind.ReplyTaken || res.EventResult != adherence.ResultScored {
			t.Fatalf("TAKEN = %+v", res)
		}
		if d := f.dose(pl.ID, dose.ID); d.Status != adherence.DoseTakenOnTime {
			t.Fatalf("dose status = %s", d.Status)
		}
		var source, client, actor string
		var requested int64
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT source, client_event_id, actor_id, requested_dose FROM events WHERE id = $1`, res.EventID).
			Scan(&source, &client, &actor, &requested); err != nil {
			t.Fatal(err)
		}
		if source != "sms" || client != sid(1) || actor != "sms" || requested != dose.ID {
			t.Fatalf("event: source %s client %s actor %s dose %d", source, client, actor, requested)
		}
		// The retried webhook records nothing more.
		again := f.text(1, number, "taken")
		if !again.Replayed || again.EventID != res.EventID {
			t.Fatalf("replay = %+v", again)
		}
		if n := f.count(`SELECT COUNT(*) FROM events`); n != 1 {
			t.Fatalf("%d events, want 1", n)
		}
		// The event was audited like any other.
		var audited bool
		for _, r := range f.auditRecords() {
			if r.ResourceType == "AdherenceEvent" && r.ResourceID == res.EventID && r.PatientID == p.ID {
				audited = true
			}
		}
		if !audited {
			t.Fatal("the SMS event has no audit record")
		}
		if n := f.count(`SELECT COUNT(*) FROM notifications WHERE kind = 'reply'`); n != 0 {
			t.Fatalf("a dose reply was answered (%d)", n)
		}
		f.noNumberStored(number)
	})
}

// TestInboundTakenAfterDeactivation: a TAKEN answering a reminder sent
// before the patient was deactivated is recorded for the dose, as the API
// records the same event; it was dropped ("no_dose") and the patient got
// the program's help text instead.
func TestInboundTakenAfterDeactivation(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p, pl, dose := f.remindedDose()
		f.now = utc(13, 5)
		if _, err := f.s.SetPatientActive(f.ctx, f.actor, f.org, p.ID, false); err != nil {
			t.Fatal(err)
		}
		f.now = utc(13, 10)
		res := f.text(1, p.Phone.Reveal(), "taken")
		if res.Result != store.InboundRecorded || res.EventResult != adherence.ResultScored {
			t.Fatalf("TAKEN after the deactivation = %+v, want the event recorded and scored", res)
		}
		if d := f.dose(pl.ID, dose.ID); d.Status != adherence.DoseTakenOnTime {
			t.Fatalf("dose status = %s, want taken on time", d.Status)
		}
		if n := f.count(`SELECT COUNT(*) FROM notifications WHERE kind = 'reply'`); n != 0 {
			t.Fatalf("the dose reply was answered (%d)", n)
		}
		if again := f.text(1, p.Phone.Reveal(), "taken"); !again.Replayed || again.EventID != res.EventID {
			t.Fatalf("the retried webhook = %+v, want a replay of %s", again, res.EventID)
		}
	})
}

func TestInboundSkipWithReason(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p, pl, dose := f.remindedDose()
		f.now = utc(13, 20)
		if res := f.text(1, p.Phone.Reveal(), "SKIP side effects"); res.Result != store.InboundRecorded {
			t.Fatalf("SKIP = %+v", res)
		}
		d := f.dose(pl.ID, dose.ID)
		if d.Status != adherence.DoseSkipped || d.SkipReason != remind.SkipSideEffects {
			t.Fatalf("dose: %s %q", d.Status, d.SkipReason)
		}
	})
}

func TestInboundLateReplyRescoresMissedDose(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p, pl, dose := f.remindedDose()
		f.now = utc(16, 30)
		if _, err := f.s.MarkMissed(f.ctx, f.now); err != nil {
			t.Fatal(err)
		}
		if d := f.dose(pl.ID, dose.ID); d.Status != adherence.DoseMissed {
			t.Fatalf("dose not missed: %s", d.Status)
		}
		// The patient answers at 11:30 New York, after the window closed:
		// the dose is no longer open but was reminded in the last 24
		// hours, so the event names it and matching decides.
		res := f.text(1, p.Phone.Reveal(), "took it")
		if res.Result != store.InboundRecorded {
			t.Fatalf("late TAKEN = %+v", res)
		}
		var requested int64
		var result string
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT requested_dose, result FROM events WHERE id = $1`, res.EventID).Scan(&requested, &result); err != nil {
			t.Fatal(err)
		}
		if requested != dose.ID {
			t.Fatalf("the late reply named dose %d, want %d", requested, dose.ID)
		}
		// The webhook's log line says how it was matched, not only that
		// an event was recorded.
		if string(res.EventResult) != result || result == "" {
			t.Errorf("late TAKEN: EventResult %q, the event's result %q", res.EventResult, result)
		}
	})
}

// The event committed but the process stopped before the inbound row: the
// retried webhook replays the event (even though the dose it would pick
// now is another one) instead of recording a second.
func TestInboundRetryAfterEventCommitted(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p, pl, dose := f.remindedDose()
		f.now = utc(13, 10)
		out, err := f.s.RecordEvents(f.ctx, []store.EventInput{{
			Actor: adherence.Actor{ID: "sms", Role: "patient", OrgID: f.org},
			Event: adherence.Event{OrgID: f.org, PatientID: p.ID, PlanID: pl.ID, RequestedDose: dose.ID, Kind: adherence.EventTaken,
				OccurredAt: f.now, ReceivedAt: f.now, Source: adherence.SourceSMS, ClientEventID: sid(7)},
		}})
		if err != nil || out[0].Err != nil {
			t.Fatalf("first attempt: %v %v", err, out[0].Err)
		}
		f.now = utc(13, 12)
		res := f.text(7, p.Phone.Reveal(), "TAKEN")
		if res.Result != store.InboundRecorded || res.EventID != out[0].Event.ID {
			t.Fatalf("retry = %+v, want the first attempt's event %s", res, out[0].Event.ID)
		}
		if n := f.count(`SELECT COUNT(*) FROM events`); n != 1 {
			t.Fatalf("%d events, want 1", n)
		}
	})
}

// Texts from one number handled at the same time (a patient sending STOP
// several times in a row, Twilio delivering the webhooks at once) get one
// STOP confirmation and one automatic answer, as texts handled one after
// the other do.
func TestInboundConcurrentTextsAnsweredOnce(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC") // no reminder sent: a dose reply gets the help text
		number := p.Phone.Reveal()
		send := func(first int, body string) {
			t.Helper()
			const n = 8
			var wg sync.WaitGroup
			errc := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := f.s.HandleInboundSMS(f.ctx, store.InboundSMS{
						Provider: "twilio", ProviderMessageID: sid(first + i), From: number, To: "+15005550006", Body: body, ReceivedAt: f.now,
					})
					errc <- err
				}()
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				if err != nil {
					t.Fatalf("inbound %q: %v", body, err)
				}
			}
		}
		send(1, "TAKEN")
		if n := f.replies(remind.KindHelp, number); n != 1 {
			t.Fatalf("%d help answers to texts at once, want 1", n)
		}
		send(100, "STOP")
		if n := f.replies(remind.KindOptOutConfirmation, number); n != 1 {
			t.Fatalf("%d opt-out confirmations of STOPs at once, want 1", n)
		}
		if n := f.count(`SELECT COUNT(*) FROM consent_ledger WHERE action = 'opt_out'`); n != 8 {
			t.Fatalf("ledger rows = %d, want one per STOP", n)
		}
	})
}

func TestInboundAnswersAreLimited(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC") // no reminder sent
		number := p.Phone.Reveal()
		if res := f.text(1, number, "TAKEN"); res.Result != store.InboundNoDose {
			t.Fatalf("TAKEN without a reminded dose = %+v", res)
		}
		if n := f.replies(remind.KindHelp, number); n != 1 {
			t.Fatalf("%d help answers, want 1", n)
		}
		f.now = f.now.Add(10 * time.Minute)
		if res := f.text(2, number, "what?"); res.Result != store.InboundUnanswered {
			t.Fatalf("second automatic answer within the hour = %+v", res)
		}
		// HELP is always answered.
		if res := f.text(3, number, "help"); res.Result != store.InboundHelp {
			t.Fatalf("HELP = %+v", res)
		}
		if n := f.replies(remind.KindHelp, number); n != 2 {
			t.Fatalf("%d help answers, want 2", n)
		}
		f.now = f.now.Add(time.Hour)
		if res := f.text(4, number, "what?"); res.Result != store.InboundUnknown {
			t.Fatalf("an hour later = %+v", res)
		}
		if n := f.replies(remind.KindUnknownReply, number); n != 1 {
			t.Fatalf("%d unknown-reply answers, want 1", n)
		}
		// OK from a patient acknowledges nothing.
		f.now = f.now.Add(2 * time.Hour)
		if res := f.text(5, number, "ok"); res.Result != store.InboundUnknown {
			t.Fatalf("OK from a patient = %+v", res)
		}
	})
}

func TestInboundMemberAcknowledges(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC")
		m := f.linkedCaregiver(p)
		number := m.Phone.Reveal()
		// Nothing open yet.
		if res := f.text(1, number, "OK"); res.Result != store.InboundNothingToAck {
			t.Fatalf("OK with nothing open = %+v", res)
		}
		// An open escalation this member was notified about.
		policy, esc := "0190c0de-0000-7000-8000-000000000001", "0190c0de-0000-7000-8000-000000000002"
		f.exec(`INSERT INTO escalation_policies (id, org_id, name, trigger_kind, levels, created_at, updated_at)
			VALUES ($1, $2, 'p', 'missed_dose', '[]', $3, $3)`, policy, f.org, f.now)
		f.exec(`INSERT INTO escalations (id, org_id, patient_id, policy_id, status, level, opened_at)
			VALUES ($1, $2, $3, $4, 'open', 1, $5)`, esc, f.org, p.ID, policy, f.now)
		f.exec(`INSERT INTO notifications (org_id, idempotency_key, kind, template, member_id, escalation_id, channels, channel, status, due_at, created_at, updated_at)
			VALUES ($1, 'esc-1', 'escalation', 'escalation_caregiver', $2, $3, 'sms', 'sms', 'sent', $4, $4, $4)`, f.org, m.ID, esc, f.now)

		res := f.text(2, number, "ok")
		if res.Result != store.InboundAcknowledged {
			t.Fatalf("OK = %+v", res)
		}
		var status string
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT status FROM escalations WHERE id = $1`, esc).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status != "acknowledged" {
			t.Fatalf("escalation %s", status)
		}
		if n := f.replies(remind.KindAckConfirmation, number); n != 1 {
			t.Fatalf("%d acknowledgement confirmations", n)
		}
		if again := f.text(2, number, "ok"); !again.Replayed || again.Result != store.InboundAcknowledged {
			t.Fatalf("replay = %+v", again)
		}
		if n := f.replies(remind.KindAckConfirmation, number); n != 1 {
			t.Fatalf("%d acknowledgement confirmations after a replay", n)
		}
		// Anything else from a member gets the help text, at most hourly.
		if res := f.text(3, number, "TAKEN"); res.Result != store.InboundUnknown {
			t.Fatalf("TAKEN from a member = %+v", res)
		}
		if n := f.replies(remind.KindHelp, number); n != 1 {
			t.Fatalf("%d help answers to the member", n)
		}
		if res := f.text(4, number, "I'm driving"); res.Result != store.InboundUnanswered {
			t.Fatalf("an auto-reply within the hour = %+v", res)
		}
		// STOP from a member's number opts the number out too.
		if res := f.text(5, number, "STOP 🛑🛑🛑🛑🛑🛑🛑🛑🛑🛑🛑🛑🛑🛑🛑🛑🛑🛑🛑🛑🛑"); res.Result != store.InboundOptedOut || !f.optedOut(number) {
			t.Fatalf("STOP from a member = %+v", res)
		}
	})
}

// TestInboundOKFromADeactivatedMember: a deactivated caregiver's OK
// acknowledges nothing, and they get the help text, not the patient's
// "reply TAKEN, SKIP, SNOOZE" (QA re-test).
func TestInboundOKFromADeactivatedMember(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC")
		m := f.linkedCaregiver(p)
		number := m.Phone.Reveal()
		if _, err := f.s.SetMemberActive(f.ctx, f.actor, f.org, m.ID, false); err != nil {
			t.Fatal(err)
		}
		if res := f.text(1, number, "OK"); res.Result != store.InboundUnknown {
			t.Fatalf("OK from a deactivated member = %+v", res)
		}
		if n, unknown := f.replies(remind.KindHelp, number), f.replies(remind.KindUnknownReply, number); n != 1 || unknown != 0 {
			t.Fatalf("answers to the deactivated member: %d help, %d not-understood; want 1 help", n, unknown)
		}
	})
}

// submitter is a store.EventSubmitter that records through the store and
// counts what it was given.
type submitter struct {
	s     *store.Store
	items []store.EventInput
}

func (r *submitter) Submit(ctx context.Context, items []store.EventInput, _ time.Time) ([]store.EventOutcome, error) {
	r.items = append(r.items, items...)
	return r.s.RecordEvents(ctx, items)
}

// TestInboundRepliesGoThroughTheIngester: with Store.Events set (serve sets
// it to the ingester of POST /v1/events), a dose reply is recorded through
// it, so SMS events are group-committed and counted in
// adherence_events_ingested_total{source="sms"} like the API's.
func TestInboundRepliesGoThroughTheIngester(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		rec := &submitter{s: f.s}
		f.s.Events = rec
		p, pl, dose := f.remindedDose()
		f.now = utc(13, 10)
		res := f.text(1, p.Phone.Reveal(), "taken")
		if res.Result != store.InboundRecorded || res.EventID == "" {
			t.Fatalf("TAKEN = %+v", res)
		}
		if len(rec.items) != 1 || rec.items[0].Event.Source != adherence.SourceSMS || rec.items[0].Event.Kind != adherence.EventTaken {
			t.Fatalf("submitted %+v, want the one sms taking", rec.items)
		}
		if d := f.dose(pl.ID, dose.ID); d.Status != adherence.DoseTakenOnTime {
			t.Fatalf("dose status = %s", d.Status)
		}
	})
}

// After STOP a number gets nothing but the answer to a HELP keyword (and
// its START confirmation): a dose reply with no dose, or any text from a
// care-team member, is not answered with the help text.
func TestInboundOptedOutNumberGetsNoAutomaticAnswers(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC") // no reminder sent
		number := p.Phone.Reveal()
		m := adherence.Member{OrgID: f.org, Kind: adherence.MemberCaregiver, Name: phi.New("Carla"), Phone: phi.New("+15557770001")}
		if err := f.s.CreateMember(f.ctx, f.actor, &m); err != nil {
			t.Fatal(err)
		}
		f.text(1, number, "STOP")
		f.text(2, m.Phone.Reveal(), "STOP")
		if res := f.text(3, number, "YES"); res.Result != store.InboundUnanswered {
			t.Fatalf("YES after STOP = %+v, want unanswered", res)
		}
		f.now = f.now.Add(2 * time.Hour)
		f.text(4, m.Phone.Reveal(), "who is this")
		if n := f.replies(remind.KindHelp, number) + f.replies(remind.KindHelp, m.Phone.Reveal()); n != 0 {
			t.Fatalf("%d help texts to opted-out numbers that did not text HELP", n)
		}
		// HELP itself is answered, opted out or not.
		if res := f.text(5, number, "HELP"); res.Result != store.InboundHelp || f.replies(remind.KindHelp, number) != 1 {
			t.Fatalf("HELP after STOP = %+v", res)
		}
		// Texts left unanswered while opted out do not count against the
		// hourly limit: after START the next text is answered.
		f.now = f.now.Add(time.Minute)
		if res := f.text(6, number, "what is this"); res.Result != store.InboundUnanswered {
			t.Fatalf("text after STOP = %+v, want unanswered", res)
		}
		f.text(7, number, "START")
		if res := f.text(8, number, "what is this"); res.Result != store.InboundUnknown || f.replies(remind.KindUnknownReply, number) != 1 {
			t.Fatalf("text after START = %+v, %d unknown-reply answers, want one", res, f.replies(remind.KindUnknownReply, number))
		}
	})
}

// OK acknowledges an escalation the member was told about: one whose
// message to the member is still held for the caregivers' quiet hours (or
// could not be delivered) has told them nothing, and an OK meant for
// something else does not close it.
func TestInboundAckNeedsAMessageThatWent(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC")
		m := f.linkedCaregiver(p)
		policy, esc := "0190c0de-0000-7000-8000-000000000001", "0190c0de-0000-7000-8000-000000000002"
		f.exec(`INSERT INTO escalation_policies (id, org_id, name, trigger_kind, levels, created_at, updated_at)
			VALUES ($1, $2, 'p', 'missed_dose', '[]', $3, $3)`, policy, f.org, f.now)
		f.exec(`INSERT INTO escalations (id, org_id, patient_id, policy_id, status, level, opened_at)
			VALUES ($1, $2, $3, $4, 'open', 1, $5)`, esc, f.org, p.ID, policy, f.now)
		f.exec(`INSERT INTO notifications (org_id, idempotency_key, kind, template, member_id, escalation_id, channels, status, reason, due_at, created_at, updated_at)
			VALUES ($1, 'esc-1', 'escalation', 'escalation_caregiver', $2, $3, 'sms', 'queued', 'quiet_hours', $4, $4, $4)`, f.org, m.ID, esc, f.now)
		f.exec(`INSERT INTO notifications (org_id, idempotency_key, kind, template, member_id, escalation_id, channels, status, reason, due_at, created_at, updated_at)
			VALUES ($1, 'esc-2', 'escalation', 'escalation_caregiver', $2, $3, 'sms', 'undeliverable', 'no_address', $4, $4, $4)`, f.org, m.ID, esc, f.now)
		if res := f.text(1, m.Phone.Reveal(), "OK"); res.Result != store.InboundNothingToAck {
			t.Fatalf("OK before any message went = %+v", res)
		}
		var status string
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT status FROM escalations WHERE id = $1`, esc).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status != "open" {
			t.Fatalf("escalation %s, want open", status)
		}
		f.exec(`UPDATE notifications SET status = 'delivered', channel = 'sms' WHERE idempotency_key = 'esc-1'`)
		if res := f.text(2, m.Phone.Reveal(), "OK"); res.Result != store.InboundAcknowledged {
			t.Fatalf("OK after the message was delivered = %+v", res)
		}
	})
}

// A caregiver of two patients answers OK to the message they got last:
// that escalation is acknowledged, even when the other one opened later.
func TestInboundAckAcknowledgesTheEscalationLastNotified(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		mother := f.patient("UTC")
		m := f.linkedCaregiver(mother)
		father := adherence.Patient{OrgID: f.org, GivenName: phi.New("Luis"), Phone: phi.New("+15551230002"), TimeZone: "UTC", SMSConsent: true}
		if err := f.s.CreatePatient(f.ctx, f.actor, &father); err != nil {
			t.Fatal(err)
		}
		if err := f.s.LinkMember(f.ctx, f.actor, f.org, adherence.Link{PatientID: father.ID, MemberID: m.ID}); err != nil {
			t.Fatal(err)
		}
		policy := "0190c0de-0000-7000-8000-000000000001"
		escMother, escFather := "0190c0de-0000-7000-8000-000000000002", "0190c0de-0000-7000-8000-000000000003"
		f.exec(`INSERT INTO escalation_policies (id, org_id, name, trigger_kind, levels, created_at, updated_at)
			VALUES ($1, $2, 'p', 'missed_dose', '[]', $3, $3)`, policy, f.org, f.now)
		// The mother's escalation opened at 08:00, the father's at 09:00.
		f.exec(`INSERT INTO escalations (id, org_id, patient_id, policy_id, status, level, opened_at)
			VALUES ($1, $2, $3, $4, 'open', 2, $5)`, escMother, f.org, mother.ID, policy, f.now.Add(8*time.Hour))
		f.exec(`INSERT INTO escalations (id, org_id, patient_id, policy_id, status, level, opened_at)
			VALUES ($1, $2, $3, $4, 'open', 1, $5)`, escFather, f.org, father.ID, policy, f.now.Add(9*time.Hour))
		// The caregiver was told about the father at 09:30, then about the
		// mother again (her level 2) at 10:00.
		notify := func(key, esc, patient string, at time.Time) {
			f.exec(`INSERT INTO notifications (org_id, idempotency_key, kind, template, patient_id, member_id, escalation_id, channels,
					channel, status, due_at, accepted_at, created_at, updated_at)
				VALUES ($1, $2, 'escalation', 'escalation_caregiver', $3, $4, $5, 'sms', 'sms', 'delivered', $6, $6, $6, $6)`,
				f.org, key, patient, m.ID, esc, at)
		}
		notify("esc-father-1", escFather, father.ID, f.now.Add(9*time.Hour+30*time.Minute))
		notify("esc-mother-2", escMother, mother.ID, f.now.Add(10*time.Hour))
		f.now = f.now.Add(10*time.Hour + 5*time.Minute)
		if res := f.text(1, m.Phone.Reveal(), "OK"); res.Result != store.InboundAcknowledged {
			t.Fatalf("OK = %+v", res)
		}
		status := func(id string) string {
			var s string
			if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT status FROM escalations WHERE id = $1`, id).Scan(&s); err != nil {
				t.Fatal(err)
			}
			return s
		}
		if got, other := status(escMother), status(escFather); got != "acknowledged" || other != "open" {
			t.Fatalf("mother's escalation %s, father's %s; want the mother's (the last message) acknowledged", got, other)
		}
	})
}

// One number can be several member records: a caregiver entered once per
// patient, or on the care teams of two organizations. Their OK
// acknowledges exactly one escalation, the one whose message to that
// number went last, whichever record it was addressed to; the next OK the
// one before.
func TestInboundAckFromANumberOfSeveralMembers(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		const number = "+15553334444"
		orgB, actorB := f.otherOrg()
		type team struct {
			org     string
			actor   adherence.Actor
			patient adherence.Patient
			member  adherence.Member
		}
		newTeam := func(org string, actor adherence.Actor, patientPhone string) team {
			t.Helper()
			tm := team{org: org, actor: actor}
			tm.patient = adherence.Patient{OrgID: org, GivenName: phi.New("Pat"), Phone: phi.New(patientPhone), TimeZone: "UTC", SMSConsent: true}
			if err := f.s.CreatePatient(f.ctx, actor, &tm.patient); err != nil {
				t.Fatal(err)
			}
			tm.member = adherence.Member{OrgID: org, Kind: adherence.MemberCaregiver, Name: phi.New("Carla"), Phone: phi.New(number)}
			if err := f.s.CreateMember(f.ctx, actor, &tm.member); err != nil {
				t.Fatal(err)
			}
			if err := f.s.LinkMember(f.ctx, actor, org, adherence.Link{PatientID: tm.patient.ID, MemberID: tm.member.ID}); err != nil {
				t.Fatal(err)
			}
			return tm
		}
		teams := []team{
			newTeam(f.org, f.actor, "+15551230001"), // two records in org A, one per patient
			newTeam(f.org, f.actor, "+15551230002"),
			newTeam(orgB, actorB, "+15551230003"), // and one in org B
		}
		// One open escalation per team; the number was told about the org B
		// one last, then the first one of org A, then the second.
		escs := []string{"0190c0de-0000-7000-8000-000000000011", "0190c0de-0000-7000-8000-000000000012", "0190c0de-0000-7000-8000-000000000013"}
		told := []time.Duration{10 * time.Hour, 9 * time.Hour, 11 * time.Hour}
		for i, tm := range teams {
			policy := fmt.Sprintf("0190c0de-0000-7000-8000-00000000002%d", i)
			f.exec(`INSERT INTO escalation_policies (id, org_id, name, trigger_kind, levels, created_at, updated_at)
				VALUES ($1, $2, 'p', 'missed_dose', '[]', $3, $3)`, policy, tm.org, f.now)
			f.exec(`INSERT INTO escalations (id, org_id, patient_id, policy_id, status, level, opened_at)
				VALUES ($1, $2, $3, $4, 'open', 1, $5)`, escs[i], tm.org, tm.patient.ID, policy, f.now.Add(8*time.Hour))
			f.exec(`INSERT INTO notifications (org_id, idempotency_key, kind, template, patient_id, member_id, escalation_id, channels,
					channel, status, due_at, accepted_at, created_at, updated_at)
				VALUES ($1, $2, 'escalation', 'escalation_caregiver', $3, $4, $5, 'sms', 'sms', 'delivered', $6, $6, $6, $6)`,
				tm.org, fmt.Sprintf("esc-%d", i), tm.patient.ID, tm.member.ID, escs[i], f.now.Add(told[i]))
		}
		f.now = f.now.Add(12 * time.Hour)
		status := func(id string) string {
			var s string
			if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT status FROM escalations WHERE id = $1`, id).Scan(&s); err != nil {
				t.Fatal(err)
			}
			return s
		}
		for n, want := range []int{2, 0, 1} {
			res := f.text(n+1, number, "OK")
			if res.Result != store.InboundAcknowledged || len(res.AcknowledgedLevels) != 1 {
				t.Fatalf("OK %d = %+v, want one escalation acknowledged", n+1, res)
			}
			for i, id := range escs {
				acked := i == want
				for _, earlier := range []int{2, 0, 1}[:n] {
					acked = acked || i == earlier
				}
				if got := status(id); (got == "acknowledged") != acked {
					t.Fatalf("after OK %d escalation %d is %s, want acknowledged only %d and those before", n+1, i, got, want)
				}
			}
			var closedBy, rowMember string
			if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT closed_by FROM escalations WHERE id = $1`, escs[want]).Scan(&closedBy); err != nil {
				t.Fatal(err)
			}
			if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT CAST(member_id AS TEXT) FROM inbound_messages WHERE provider_message_id = $1`, sid(n+1)).Scan(&rowMember); err != nil {
				t.Fatal(err)
			}
			if closedBy != teams[want].member.ID || rowMember != teams[want].member.ID {
				t.Fatalf("OK %d: closed by %s, inbound row of %s; want the member told, %s", n+1, closedBy, rowMember, teams[want].member.ID)
			}
		}
		if n := f.replies(remind.KindAckConfirmation, number); n != 3 {
			t.Fatalf("%d acknowledgement confirmations, want one per OK", n)
		}
		if res := f.text(4, number, "OK"); res.Result != store.InboundNothingToAck {
			t.Fatalf("OK with nothing left open = %+v", res)
		}
	})
}

// TestInboundAnswersNameTheProgramLastTexted: one person enrolled by two
// programs with one number gets a HELP answer (which carriers require to
// name the program) from the program whose text they are answering, the
// one that texted them last, as a dose reply goes to the dose last
// reminded; it came from whichever program enrolled them first.
func TestInboundAnswersNameTheProgramLastTexted(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC")
		number := p.Phone.Reveal()
		orgB, actorB := f.otherOrg()
		pb := adherence.Patient{OrgID: orgB, GivenName: phi.New("Ana"), Phone: phi.New(number), TimeZone: "UTC", SMSConsent: true}
		if err := f.s.CreatePatient(f.ctx, actorB, &pb); err != nil {
			t.Fatal(err)
		}
		sent := func(org, patient, key string) {
			f.exec(`INSERT INTO notifications (org_id, idempotency_key, kind, template, patient_id, channels, status, due_at,
				channel, provider, created_at, updated_at)
				VALUES ($1, $2, 'reminder', 'reminder', $3, 'sms', 'sent', $4, 'sms', 'twilio', $4, $4)`, org, key, patient, f.now)
		}
		answeredBy := func(n int) string {
			var org string
			if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT org_id FROM notifications WHERE kind = 'reply' AND idempotency_key = $1`,
				"reply:"+sid(n)).Scan(&org); err != nil {
				t.Fatalf("the answer to text %d: %v", n, err)
			}
			return org
		}
		sent(orgB, pb.ID, "b-1") // the second program texted last
		if res := f.text(1, number, "HELP"); res.Result != store.InboundHelp {
			t.Fatalf("HELP = %+v", res)
		}
		if org := answeredBy(1); org != orgB {
			t.Errorf("HELP answered by org %s, want %s, whose text came last", org, orgB)
		}
		sent(f.org, p.ID, "a-1") // then the first
		f.text(2, number, "HELP")
		if org := answeredBy(2); org != f.org {
			t.Errorf("HELP answered by org %s, want %s, whose text came last", org, f.org)
		}
	})
}

// TestInboundStartWithoutConsentIsNotTold: START from the number of a
// patient enrolled without SMS consent, who stays without it, is answered
// with the help text, not "you are subscribed to medication reminders and alerts":
// no reminder will be texted. A patient whose consent START restores is
// told so.
func TestInboundStartWithoutConsentIsNotTold(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		never := adherence.Patient{OrgID: f.org, GivenName: phi.New("Bo"), Phone: phi.New("+15557770001"), TimeZone: "UTC", SMSConsent: false}
		if err := f.s.CreatePatient(f.ctx, f.actor, &never); err != nil {
			t.Fatal(err)
		}
		f.text(1, "+15557770001", "STOP")
		if res := f.text(2, "+15557770001", "START"); res.Result != store.InboundOptedIn {
			t.Fatalf("START = %+v", res)
		}
		if n := f.replies(remind.KindOptInConfirmation, "+15557770001"); n != 0 {
			t.Errorf("%d 'subscribed' confirmations to a patient who gets no texts, want 0", n)
		}
		if n := f.replies(remind.KindHelp, "+15557770001"); n != 1 {
			t.Errorf("%d help answers to START without consent, want 1", n)
		}

		consented := f.patient("UTC")
		number := consented.Phone.Reveal()
		f.text(3, number, "STOP")
		f.text(4, number, "START")
		if n := f.replies(remind.KindOptInConfirmation, number); n != 1 {
			t.Errorf("%d confirmations to a patient whose consent START restored, want 1", n)
		}
	})
}

// TestInboundSharedNumberAsksWhichPatient: two patients of one number (a
// parent texted for two children) are reminded of their 08:00 doses. A
// plain TAKEN could answer either reminder: it records nothing and the
// number is asked to name the patient, as recording it for the one
// reminded last would leave the other's dose to be marked missed. A reply
// that names the patient (TAKEN LUIS, SNOOZE ANA 30, YES ANA) goes to that
// patient's dose, and once only one of them has a dose open, a plain reply
// goes to it.
func TestInboundSharedNumberAsksWhichPatient(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ana, anaPlan, anaDose := f.reminderPatient("", "")
		number := ana.Phone.Reveal()
		luis := adherence.Patient{OrgID: f.org, GivenName: phi.New("Luis"), Phone: phi.New(number),
			TimeZone: "America/New_York", Language: "en", SMSConsent: true}
		if err := f.s.CreatePatient(f.ctx, f.actor, &luis); err != nil {
			t.Fatal(err)
		}
		luisPlan := f.plan(luis.ID, timeOfDay("08:00"))
		due := time.Date(2026, 3, 2, 13, 0, 0, 0, time.UTC)
		luisDoses := f.doses(luisPlan.ID, due, due.Add(time.Minute))
		if len(luisDoses) != 1 {
			t.Fatalf("Luis's 08:00 dose: %d doses", len(luisDoses))
		}
		luisDose := luisDoses[0]
		f.arm(utc(11, 30))
		if res := f.dispatch(utc(13, 0)); res.Sent != 2 {
			t.Fatalf("dispatch: %+v, want both reminders", res)
		}
		f.exec(`UPDATE notifications SET status = 'sent' WHERE kind = 'reminder'`)
		var last string // the patient reminded last, whom the question names as an example
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT CAST(patient_id AS TEXT) FROM notifications
			WHERE kind = 'reminder' ORDER BY id DESC LIMIT 1`).Scan(&last); err != nil {
			t.Fatal(err)
		}

		f.now = utc(13, 10)
		res := f.text(1, number, "Taken")
		if res.Result != store.InboundAmbiguous || res.EventID != "" {
			t.Fatalf("a plain TAKEN from the shared number = %+v, want %q and no event", res, store.InboundAmbiguous)
		}
		if n := f.count(`SELECT COUNT(*) FROM events`); n != 0 {
			t.Fatalf("%d events recorded for an ambiguous reply", n)
		}
		var asked string
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT CAST(patient_id AS TEXT) FROM notifications
			WHERE kind = 'reply' AND template = $1 AND address = $2`, string(remind.KindWhichPatient), number).Scan(&asked); err != nil {
			t.Fatalf("the question to the number: %v", err)
		}
		if asked != last {
			t.Errorf("the question is about patient %s, want %s (reminded last)", asked, last)
		}
		// A second plain TAKEN is asked again: it is someone trying to answer.
		if res := f.text(2, number, "yes"); res.Result != store.InboundAmbiguous {
			t.Fatalf("a second plain reply = %+v", res)
		}
		if n := f.replies(remind.KindWhichPatient, number); n != 2 {
			t.Fatalf("%d questions, want 2", n)
		}

		if res := f.text(3, number, "taken LUIS"); res.Result != store.InboundRecorded || res.EventResult != adherence.ResultScored {
			t.Fatalf("TAKEN LUIS = %+v", res)
		}
		if d := f.dose(luisPlan.ID, luisDose.ID); d.Status != adherence.DoseTakenOnTime {
			t.Fatalf("Luis's dose: %s, want taken on time", d.Status)
		}
		if d := f.dose(anaPlan.ID, anaDose.ID); d.Status != adherence.DoseScheduled {
			t.Fatalf("Ana's dose: %s, want still open", d.Status)
		}

		// The name anywhere, and the reply read without it: SNOOZE 30.
		if res := f.text(4, number, "snooze, Ána 30"); res.Result != store.InboundRecorded {
			t.Fatalf("SNOOZE ANA 30 = %+v", res)
		}
		var patient string
		var minutes int
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT CAST(patient_id AS TEXT), snooze_minutes FROM events WHERE client_event_id = $1`,
			sid(4)).Scan(&patient, &minutes); err != nil {
			t.Fatal(err)
		}
		if patient != ana.ID || minutes != 30 {
			t.Fatalf("SNOOZE ANA 30 recorded for %s with %d minutes, want Ana's with 30", patient, minutes)
		}

		// Only Ana's dose is open now: a plain YES is hers.
		if res := f.text(5, number, "YES"); res.Result != store.InboundRecorded {
			t.Fatalf("YES with one dose open = %+v", res)
		}
		if d := f.dose(anaPlan.ID, anaDose.ID); d.Status != adherence.DoseTakenOnTime {
			t.Fatalf("Ana's dose: %s, want taken on time", d.Status)
		}
		// A name that is no patient's of the number is not read as one.
		if res := f.text(6, number, "taken maria"); res.Result != store.InboundRecorded {
			t.Fatalf("TAKEN MARIA = %+v", res)
		}
	})
}

// TestInboundSharedNumberNamesOfOneFirstWord: Anne-Marie and Anne-Sophie,
// of one number, both reminded. Their names share their first word: a
// plain TAKEN asks which, and TAKEN ANNE-MARIE is Anne-Marie's whichever
// was reminded last (QA re-test: only the first word was read, both were
// ANNE, and the reply went to the other).
func TestInboundSharedNumberNamesOfOneFirstWord(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		first, firstPlan, firstDose := f.reminderPatient("", "")
		first.GivenName = phi.New("Anne-Marie")
		if err := f.s.UpdatePatient(f.ctx, f.actor, &first, first.Version); err != nil {
			t.Fatal(err)
		}
		number := first.Phone.Reveal()
		second := adherence.Patient{OrgID: f.org, GivenName: phi.New("Anne Sophie"), Phone: phi.New(number),
			TimeZone: "America/New_York", Language: "en", SMSConsent: true}
		if err := f.s.CreatePatient(f.ctx, f.actor, &second); err != nil {
			t.Fatal(err)
		}
		secondPlan := f.plan(second.ID, timeOfDay("08:00"))
		due := time.Date(2026, 3, 2, 13, 0, 0, 0, time.UTC)
		secondDose := f.doses(secondPlan.ID, due, due.Add(time.Minute))[0]
		f.arm(utc(11, 30))
		if res := f.dispatch(utc(13, 0)); res.Sent != 2 {
			t.Fatalf("dispatch: %+v", res)
		}
		f.exec(`UPDATE notifications SET status = 'sent' WHERE kind = 'reminder'`)
		f.now = utc(13, 10)
		if res := f.text(1, number, "taken"); res.Result != store.InboundAmbiguous {
			t.Fatalf("a plain TAKEN = %+v, want ambiguous", res)
		}
		if res := f.text(2, number, "Anne"); res.Result != store.InboundUnknown {
			t.Fatalf("ANNE alone = %+v, want it not understood", res)
		}
		if res := f.text(3, number, "TAKEN ANNE-MARIE"); res.Result != store.InboundRecorded {
			t.Fatalf("TAKEN ANNE-MARIE = %+v", res)
		}
		if d := f.dose(firstPlan.ID, firstDose.ID); d.Status != adherence.DoseTakenOnTime {
			t.Errorf("Anne-Marie's dose: %s, want taken", d.Status)
		}
		if d := f.dose(secondPlan.ID, secondDose.ID); d.Status != adherence.DoseScheduled {
			t.Errorf("Anne Sophie's dose: %s, want still open", d.Status)
		}
		// TAKEN ANNE names no one: both names start with it. With one
		// dose open it is Anne Sophie's all the same.
		if res := f.text(4, number, "taken anne"); res.Result != store.InboundRecorded {
			t.Fatalf("TAKEN ANNE = %+v", res)
		}
		if d := f.dose(secondPlan.ID, secondDose.ID); d.Status != adherence.DoseTakenOnTime {
			t.Errorf("Anne Sophie's dose: %s, want taken", d.Status)
		}
	})
}

// TestInboundOnePatientIsNotReadForNames: a patient alone on her number
// whose name is a skip reason (Caro: cost, in Spanish) skips for that
// reason; her name was taken out of the text (QA re-test).
func TestInboundOnePatientIsNotReadForNames(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p, pl, dose := f.remindedDose()
		p.GivenName = phi.New("Caro")
		if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
			t.Fatal(err)
		}
		f.now = utc(13, 10)
		if res := f.text(1, p.Phone.Reveal(), "NO CARO"); res.Result != store.InboundRecorded {
			t.Fatalf("NO CARO = %+v", res)
		}
		if d := f.dose(pl.ID, dose.ID); d.Status != adherence.DoseSkipped || d.SkipReason != remind.SkipCost {
			t.Errorf("dose: %s %q, want skipped for its cost", d.Status, d.SkipReason)
		}
	})
}

// TestInboundSharedNumberReadings: what a reply from a number of two
// patients, each with an open reminded dose, does (QA re-test of the
// shared-number rules). Each case is read 5 times on fresh messages: the
// outcome must not depend on map order.
func TestInboundSharedNumberReadings(t *testing.T) {
	cases := []struct {
		name         string
		first, other string // given names; first is reminded first
		reply        string
		result       string
		patient      int // 0: first, 1: other; for recorded
	}{
		// Two names: it names no one in particular, and is asked about.
		{"two names", "Ana", "Luis", "TAKEN ANA AND LUIS", store.InboundAmbiguous, 0},
		// A name that is a keyword: SI ANA is YES for Ana.
		{"a name that is a keyword", "Si", "Ana", "SI ANA", store.InboundRecorded, 1},
		// One first name: a reply cannot tell them apart and is not asked
		// to; it goes to the one reminded last.
		{"one first name", "Luis", "Luis", "TAKEN", store.InboundRecorded, 1},
		// Accents of any letter are read away.
		{"accents", "Tomáš", "Zoë", "taken tomas", store.InboundRecorded, 0},
		{"accents, other", "Tomáš", "Zoë", "TAKEN ZOE", store.InboundRecorded, 1},
		// A name that is one of the reply's own words there names no one
		// (QA re-test: Min's dose was snoozed, Ran's skipped, unasked).
		{"a snooze unit", "Min", "Ana", "SNOOZE 30 MIN", store.InboundAmbiguous, 0},
		{"a skip reason", "Ran", "Ana", "SKIP RAN OUT", store.InboundAmbiguous, 0},
		// ... but a name all the same where the reply has no use for it.
		{"a reason word after TAKEN", "Caro", "Ana", "TAKEN CARO", store.InboundRecorded, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				number := "+15551234567"
				var ids []string
				for i, given := range []string{c.first, c.other} {
					p := adherence.Patient{OrgID: f.org, GivenName: phi.New(given), Phone: phi.New(number),
						TimeZone: "America/New_York", Language: "en", SMSConsent: true}
					if err := f.s.CreatePatient(f.ctx, f.actor, &p); err != nil {
						t.Fatal(err)
					}
					f.plan(p.ID, timeOfDay("08:00"))
					ids = append(ids, p.ID)
					// One reminded after the other.
					f.arm(utc(11, 30))
					if res := f.dispatch(utc(13, 0+i)); res.Sent != 1 {
						t.Fatalf("dispatch %d: %+v", i, res)
					}
				}
				f.exec(`UPDATE notifications SET status = 'sent' WHERE kind = 'reminder'`)
				for n := 1; n <= 5; n++ {
					f.now = utc(13, 10)
					res := f.text(n, number, c.reply)
					if res.Result != c.result {
						t.Fatalf("%q (%d) = %+v, want %s", c.reply, n, res, c.result)
					}
					if c.result != store.InboundRecorded {
						continue
					}
					var patient string
					if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT CAST(patient_id AS TEXT) FROM events WHERE id = $1`, res.EventID).Scan(&patient); err != nil {
						t.Fatal(err)
					}
					if patient != ids[c.patient] {
						t.Fatalf("%q (%d) recorded for patient %s, want %s", c.reply, n, patient, ids[c.patient])
					}
					// The dose is taken now: undo it for the next reading.
					f.exec(`DELETE FROM events WHERE id = $1`, res.EventID)
					f.exec(`UPDATE dose_instances SET status = 'scheduled', resolved_at = NULL WHERE patient_id = $1`, patient)
				}
			})
		})
	}
}

// TestInboundSharedNumberAbsentName: a number of Ana, reminded, and Caro,
// deactivated with no plan. NO CARO is Ana's skip for its cost: Caro has
// no dose to answer, so the word is the reply's (QA re-test: it was read
// as Caro's name and answered no_dose). And a plain TAKEN from the number
// of two patients reminded, after it texted STOP, is recorded as
// ambiguous with no question sent (it said unanswered).
func TestInboundSharedNumberAbsentName(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ana, pl, dose := f.remindedDose()
		number := ana.Phone.Reveal()
		caro := adherence.Patient{OrgID: f.org, GivenName: phi.New("Caro"), Phone: phi.New(number), TimeZone: "UTC", SMSConsent: true}
		if err := f.s.CreatePatient(f.ctx, f.actor, &caro); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.SetPatientActive(f.ctx, f.actor, f.org, caro.ID, false); err != nil {
			t.Fatal(err)
		}
		f.now = utc(13, 10)
		if res := f.text(1, number, "NO CARO"); res.Result != store.InboundRecorded {
			t.Fatalf("NO CARO = %+v, want it recorded for Ana", res)
		}
		if d := f.dose(pl.ID, dose.ID); d.Status != adherence.DoseSkipped || d.SkipReason != remind.SkipCost {
			t.Errorf("Ana's dose: %s %q, want skipped for its cost", d.Status, d.SkipReason)
		}
	})
	each(t, func(t *testing.T, f *fixture) {
		ana, _, _ := f.reminderPatient("", "")
		number := ana.Phone.Reveal()
		luis := adherence.Patient{OrgID: f.org, GivenName: phi.New("Luis"), Phone: phi.New(number),
			TimeZone: "America/New_York", Language: "en", SMSConsent: true}
		if err := f.s.CreatePatient(f.ctx, f.actor, &luis); err != nil {
			t.Fatal(err)
		}
		f.plan(luis.ID, timeOfDay("08:00"))
		f.arm(utc(11, 30))
		if res := f.dispatch(utc(13, 0)); res.Sent != 2 {
			t.Fatalf("dispatch: %+v", res)
		}
		f.exec(`UPDATE notifications SET status = 'sent' WHERE kind = 'reminder'`)
		f.now = utc(13, 5)
		f.text(1, number, "STOP")
		f.now = utc(13, 10)
		if res := f.text(2, number, "TAKEN"); res.Result != store.InboundAmbiguous {
			t.Fatalf("a plain TAKEN after STOP = %+v, want ambiguous", res)
		}
		if n := f.replies(remind.KindWhichPatient, number); n != 0 {
			t.Errorf("%d questions to the opted-out number, want none", n)
		}
	})
}
