package store_test

import (
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/phi"
)

// apiConsent records a consent change for a patient through the API path.
func (f *fixture) apiConsent(p adherence.Patient, action string) error {
	f.t.Helper()
	return f.s.RecordConsent(f.ctx, store.ConsentInput{
		OrgID: f.org, PatientID: p.ID, Channel: "sms", Address: p.Phone.Reveal(), Action: action,
		Source: store.ConsentSourceAPI, Actor: f.actor,
	})
}

func (f *fixture) optedOut(number string) bool {
	f.t.Helper()
	out, err := f.s.OptedOut(f.ctx, f.org, "sms", number)
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *fixture) smsConsent(orgID, patientID string) bool {
	f.t.Helper()
	p, err := f.s.GetPatient(f.ctx, orgID, patientID)
	if err != nil {
		f.t.Fatal(err)
	}
	return p.SMSConsent
}

// noNumberStored fails if a phone number appears in the ledger, the
// inbound messages or the audit trail.
func (f *fixture) noNumberStored(numbers ...string) {
	f.t.Helper()
	for _, q := range []string{
		`SELECT address_key || keyword || provider_message_id || actor FROM consent_ledger`,
		`SELECT address_key || provider_message_id || reply_kind || result FROM inbound_messages`,
		`SELECT COALESCE(detail, '') || resource_type || resource_id || actor_id FROM audit_log`,
	} {
		rows, err := f.d.SQL.QueryContext(f.ctx, q)
		if err != nil {
			f.t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				f.t.Fatal(err)
			}
			for _, n := range numbers {
				if strings.Contains(s, n) || strings.Contains(s, strings.TrimPrefix(n, "+")) {
					f.t.Errorf("a phone number is stored in %q", q)
				}
			}
		}
		rows.Close()
	}
}

func TestConsentThroughAPI(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		number := p.Phone.Reveal()
		if f.optedOut(number) {
			t.Fatal("opted out before anything was recorded")
		}
		if err := f.apiConsent(p, store.ConsentOptOut); err != nil {
			t.Fatal(err)
		}
		if !f.optedOut(number) || f.smsConsent(f.org, p.ID) {
			t.Fatal("an API opt-out did not opt the number out and withdraw the patient's sms consent")
		}
		if err := f.apiConsent(p, store.ConsentOptIn); err != nil {
			t.Fatal(err)
		}
		if f.optedOut(number) || !f.smsConsent(f.org, p.ID) {
			t.Fatal("an API opt-in after the API opt-out did not restore consent")
		}
		entries, err := f.s.ListConsent(f.ctx, f.org, p.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 2 || entries[0].Action != store.ConsentOptIn || entries[1].Action != store.ConsentOptOut ||
			entries[0].Source != store.ConsentSourceAPI || entries[0].Actor != f.actor.ID || entries[0].PatientID != p.ID {
			t.Fatalf("ledger = %+v", entries)
		}
		var consentAudits int
		for _, r := range f.auditRecords() {
			if r.ResourceType == "Consent" {
				consentAudits++
				if r.PatientID != p.ID || r.ActorID != f.actor.ID {
					t.Errorf("audit record %+v", r)
				}
			}
		}
		if consentAudits != 2 {
			t.Errorf("%d consent audit records, want 2", consentAudits)
		}
		if n := f.count(`SELECT COUNT(*) FROM consent_ledger WHERE address_key = $1`, store.AddressKey(number)); n != 2 {
			t.Errorf("ledger rows by address key = %d", n)
		}
		f.noNumberStored(number)
	})
}

func TestConsentOptInNeverEnablesUnconsentedPatient(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := adherence.Patient{OrgID: f.org, GivenName: phi.New("B"), Phone: phi.New("+15557654321"), TimeZone: "UTC", SMSConsent: false}
		if err := f.s.CreatePatient(f.ctx, f.actor, &p); err != nil {
			t.Fatal(err)
		}
		if err := f.apiConsent(p, store.ConsentOptIn); err != nil {
			t.Fatal(err)
		}
		if f.smsConsent(f.org, p.ID) {
			t.Fatal("an opt-in switched on a patient enrolled without sms consent")
		}
	})
}

func TestConsentValidation(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC")
		otherOrg, _ := f.otherOrg()
		base := store.ConsentInput{OrgID: f.org, PatientID: p.ID, Channel: "sms", Address: "+15551234567",
			Action: store.ConsentOptOut, Source: store.ConsentSourceAPI, Actor: f.actor}
		for name, c := range map[string]struct {
			mod  func(*store.ConsentInput)
			code errs.Code
		}{
			"channel":           {func(in *store.ConsentInput) { in.Channel = "fax" }, errs.CodeInvalid},
			"action":            {func(in *store.ConsentInput) { in.Action = "maybe" }, errs.CodeInvalid},
			"source":            {func(in *store.ConsentInput) { in.Source = "guess" }, errs.CodeInvalid},
			"address":           {func(in *store.ConsentInput) { in.Address = " " }, errs.CodeInvalid},
			"actor":             {func(in *store.ConsentInput) { in.Actor = adherence.Actor{} }, errs.CodeInvalid},
			"patient elsewhere": {func(in *store.ConsentInput) { in.OrgID = otherOrg }, errs.CodeNotFound},
			"member elsewhere":  {func(in *store.ConsentInput) { in.PatientID, in.MemberID = "", p.ID }, errs.CodeNotFound},
		} {
			in := base
			c.mod(&in)
			if err := f.s.RecordConsent(f.ctx, in); errs.CodeOf(err) != c.code {
				t.Errorf("%s: error %v, want %s", name, err, c.code)
			}
		}
		if n := f.count(`SELECT COUNT(*) FROM consent_ledger`); n != 0 {
			t.Fatalf("%d rows recorded from refused input", n)
		}
		if _, err := f.s.ListConsent(f.ctx, otherOrg, p.ID, 0, 10); errs.CodeOf(err) != errs.CodeNotFound {
			t.Fatalf("another org listed the patient's consent: %v", err)
		}
	})
}
