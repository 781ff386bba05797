package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/notify"
	"github.com/medplatform/medplatform/internal/platform/phi"
)

// TestOrgNameRefusesControlCharacters: an organization's name is one line
// (the program name of messages, audit views): a line break, tab or escape
// in it is invalid naming name, from CreateOrg as from Bootstrap, and no
// organization or key is written. Leading and trailing white space is
// trimmed, as before.
func TestOrgNameRefusesControlCharacters(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		for _, name := range []string{"Demo\nCare", "Demo\rCare", "Demo\tCare", "Demo\x1b[2J", "Demo\u0085Care"} {
			_, err := f.s.CreateOrg(f.ctx, name)
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != errs.CodeInvalid || e.Field != "name" {
				t.Errorf("CreateOrg(%q) = %v, want invalid naming name", name, err)
			}
			_, err = f.s.Bootstrap(f.ctx, name, adherence.APIKey{ID: "k-" + name, Role: "admin", Hash: []byte("h"), CreatedBy: "test"})
			if !errors.As(err, &e) || e.Code != errs.CodeInvalid || e.Field != "name" {
				t.Errorf("Bootstrap(%q) = %v, want invalid naming name", name, err)
			}
		}
		var n int
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT count(*) FROM orgs`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("organizations after the refusals = %d, want the fixture's one", n)
		}
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT count(*) FROM api_keys`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("API keys after the refusals = %d, want none", n)
		}
		o, err := f.s.CreateOrg(f.ctx, " Demo Care — Забота\n")
		if err != nil || o.Name != "Demo Care — Забота" {
			t.Errorf("CreateOrg of a name with a trailing line break = %+v, %v; want it trimmed", o, err)
		}
	})
}

// TestSettingsOfAnOrganizationThatDoesNotExist: an OIDC token may carry
// an org_id naming no organization (not a UUID, or one of no org). The
// organization's settings and templates are then not found, as its
// patients and keys are, where the write failed on the foreign key (a
// 500, with the token's value in the log).
func TestSettingsOfAnOrganizationThatDoesNotExist(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		tmpl := remind.Template{Kind: remind.KindReminder, Language: "en", Channel: notify.SMS, Body: "Time for your dose"}
		for _, org := range []string{"phantom-org", "01a245d8-0000-7000-8000-000000000000"} {
			if err := f.s.SetMessaging(f.ctx, f.actor, org, store.MessagingSettings{Policy: remind.DefaultPolicy}); !errs.Is(err, errs.CodeNotFound) {
				t.Errorf("SetMessaging(%s) = %v, want not found", org, err)
			}
			if err := f.s.PutTemplate(f.ctx, f.actor, org, tmpl); !errs.Is(err, errs.CodeNotFound) {
				t.Errorf("PutTemplate(%s) = %v, want not found", org, err)
			}
			if err := f.s.SetWindows(f.ctx, f.actor, org, adherence.DefaultWindows); !errs.Is(err, errs.CodeNotFound) {
				t.Errorf("SetWindows(%s) = %v, want not found", org, err)
			}
		}
		// The organization's own are written as before.
		if err := f.s.PutTemplate(f.ctx, f.actor, f.org, tmpl); err != nil {
			t.Errorf("PutTemplate of the fixture's org: %v", err)
		}
	})
}

// TestCheckOIDCPrincipal: what an OIDC token asserts is checked against
// the records: its subject is a patient, or a member of the role's kind,
// of its organization, and the organization exists. A caregiver token
// naming a clinician member, another organization's patient or an unknown
// organization is refused (unauthorized).
func TestCheckOIDCPrincipal(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("UTC")
		other, err := f.s.CreateOrg(f.ctx, "Other Care")
		if err != nil {
			t.Fatal(err)
		}
		member := func(kind adherence.MemberKind) string {
			m := adherence.Member{OrgID: f.org, Kind: kind, Name: phi.New("Member"), Phone: phi.New("+15557654321")}
			if err := f.s.CreateMember(f.ctx, f.actor, &m); err != nil {
				t.Fatal(err)
			}
			return m.ID
		}
		carer, clinician := member(adherence.MemberCaregiver), member(adherence.MemberClinician)
		tests := []struct {
			name string
			p    auth.Principal
			ok   bool
		}{
			{"patient of the organization", auth.Principal{OrgID: f.org, Role: auth.RolePatient, Subject: pat.ID}, true},
			{"patient of another organization", auth.Principal{OrgID: other.ID, Role: auth.RolePatient, Subject: pat.ID}, false},
			{"patient naming a member", auth.Principal{OrgID: f.org, Role: auth.RolePatient, Subject: carer}, false},
			{"caregiver", auth.Principal{OrgID: f.org, Role: auth.RoleCaregiver, Subject: carer}, true},
			{"caregiver naming a clinician", auth.Principal{OrgID: f.org, Role: auth.RoleCaregiver, Subject: clinician}, false},
			{"caregiver of another organization", auth.Principal{OrgID: other.ID, Role: auth.RoleCaregiver, Subject: carer}, false},
			{"clinician", auth.Principal{OrgID: f.org, Role: auth.RoleClinician, Subject: clinician}, true},
			{"clinician naming a caregiver", auth.Principal{OrgID: f.org, Role: auth.RoleClinician, Subject: carer}, false},
			{"clinician without a subject", auth.Principal{OrgID: f.org, Role: auth.RoleClinician}, true},
			{"clinician without a subject, unknown organization", auth.Principal{OrgID: "0190a0a0-0000-7000-8000-000000000000", Role: auth.RoleClinician}, false},
			{"admin", auth.Principal{OrgID: other.ID, Role: auth.RoleAdmin}, true},
			{"admin of an unknown organization", auth.Principal{OrgID: "0190a0a0-0000-7000-8000-000000000000", Role: auth.RoleAdmin}, false},
			{"admin of a malformed organization id", auth.Principal{OrgID: "org-1", Role: auth.RoleAdmin}, false},
		}
		for _, tc := range tests {
			err := f.s.CheckOIDCPrincipal(f.ctx, tc.p)
			switch {
			case tc.ok && err != nil:
				t.Errorf("%s: %v, want accepted", tc.name, err)
			case !tc.ok && !errs.Is(err, errs.CodeUnauthorized):
				t.Errorf("%s: %v, want unauthorized", tc.name, err)
			}
		}

		// A deactivated patient's token is forbidden until reactivated.
		p := auth.Principal{OrgID: f.org, Role: auth.RolePatient, Subject: pat.ID}
		if _, err := f.s.SetPatientActive(f.ctx, f.actor, f.org, pat.ID, false); err != nil {
			t.Fatal(err)
		}
		if err := f.s.CheckOIDCPrincipal(f.ctx, p); !errs.Is(err, errs.CodeForbidden) || !strings.Contains(err.Error(), "deactivated") {
			t.Errorf("deactivated patient: %v, want forbidden saying the patient is deactivated", err)
		}
		if _, err := f.s.SetPatientActive(f.ctx, f.actor, f.org, pat.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := f.s.CheckOIDCPrincipal(f.ctx, p); err != nil {
			t.Errorf("reactivated patient: %v, want accepted", err)
		}
	})
}
