package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	pdb "github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/phi"
)

// The consent endpoints run on the test server of webhooks_test.go.

func TestConsentAPI(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *pdb.DB) {
		e := newWhEnv(t, d, Webhooks{TwilioAuthToken: whToken, PublicURL: whPublicURL})
		path := "/v1/patients/" + e.patient.ID + "/consent"
		if rec := e.api(http.MethodPost, path, e.admin, map[string]string{"channel": "sms", "action": "opt_out"}); rec.Code != http.StatusNoContent {
			t.Fatalf("admin opt-out: %d %s", rec.Code, rec.Body)
		}
		rec := e.api(http.MethodGet, path, e.key(auth.RolePatient, e.patient.ID), nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("patient reads own consent: %d %s", rec.Code, rec.Body)
		}
		var got struct {
			Consent []struct {
				Channel, Action, Source, Actor string
			} `json:"consent"`
			SMSOptedOut bool `json:"smsOptedOut"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Consent) != 1 || got.Consent[0].Action != "opt_out" || got.Consent[0].Source != "api" || !got.SMSOptedOut {
			t.Fatalf("consent: %s", rec.Body)
		}
		// The admin who recorded it is another person's id to the patient:
		// staff see it, the patient does not.
		if got.Consent[0].Actor != "" || strings.Contains(rec.Body.String(), `"actor"`) {
			t.Errorf("the patient reads its consent ledger with the staff actor: %s", rec.Body)
		}
		// The national number: "1555" alone could turn up in an id.
		if strings.Contains(rec.Body.String(), whPhone[2:]) {
			t.Fatalf("the answer holds the number: %s", rec.Body)
		}
		if n := e.count(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'Consent' AND action = 'R' AND patient_id = $1`, e.patient.ID); n != 1 {
			t.Fatalf("%d audited consent reads", n)
		}
		if staff := e.api(http.MethodGet, path, e.admin, nil); staff.Code != http.StatusOK || !strings.Contains(staff.Body.String(), `"actor":"`) {
			t.Errorf("admin reads the consent ledger without its actor: %d %s", staff.Code, staff.Body)
		}

		carer := adherence.Member{OrgID: e.org, Kind: adherence.MemberCaregiver, Name: phi.New("Carla")}
		if err := e.st.CreateMember(context.Background(), adherence.Actor{ID: "test", Role: "admin", OrgID: e.org}, &carer); err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]struct {
			method, path, key string
			body              any
			want              int
		}{
			"caregiver may not change consent": {http.MethodPost, path, e.key(auth.RoleCaregiver, carer.ID), map[string]string{"channel": "sms", "action": "opt_in"}, http.StatusForbidden},
			"integration may not read it":      {http.MethodGet, path, e.key(auth.RoleIntegration, ""), nil, http.StatusForbidden},
			"unknown channel":                  {http.MethodPost, path, e.admin, map[string]string{"channel": "fax", "action": "opt_in"}, http.StatusBadRequest},
			"unknown action":                   {http.MethodPost, path, e.admin, map[string]string{"channel": "sms", "action": "maybe"}, http.StatusBadRequest},
			"unknown field":                    {http.MethodPost, path, e.admin, map[string]string{"channel": "sms", "action": "opt_in", "phone": "+1"}, http.StatusBadRequest},
			"another org's patient":            {http.MethodGet, "/v1/patients/" + e.patient.ID + "/consent", func() string { _, k := e.newOrg("Org B"); return k }(), nil, http.StatusNotFound},
			"no key":                           {http.MethodGet, path, "", nil, http.StatusUnauthorized},
		} {
			if rec := e.api(c.method, c.path, c.key, c.body); rec.Code != c.want {
				t.Errorf("%s: %d, want %d: %s", name, rec.Code, c.want, rec.Body)
			}
		}

		// After a texted STOP only START re-subscribes.
		if rec := e.signed(whSMSPath, whInbound(whSID(1), whPhone, "STOP")); rec.Code != http.StatusOK {
			t.Fatalf("STOP: %d", rec.Code)
		}
		if rec := e.api(http.MethodPost, path, e.admin, map[string]string{"channel": "sms", "action": "opt_in"}); rec.Code != http.StatusConflict {
			t.Fatalf("API opt-in after STOP: %d, want 409: %s", rec.Code, rec.Body)
		}
		if rec := e.api(http.MethodPost, path, e.admin, map[string]string{"channel": "email", "action": "opt_out"}); rec.Code != http.StatusNoContent {
			t.Fatalf("email opt-out: %d %s", rec.Code, rec.Body)
		}
	})
}

// A refused read of a patient's consent ledger or escalations is refused
// (403, 404) and audited as a failed access whatever its query holds: a
// bad limit is not a 400 that skips the access check and the audit.
func TestRefusedReadWithBadQueryIsAudited(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *pdb.DB) {
		e := newWhEnv(t, d, Webhooks{TwilioAuthToken: whToken, PublicURL: whPublicURL})
		_, otherAdmin := e.newOrg("Org B")
		for _, c := range []struct {
			name, path, key string
			want            int
		}{
			{"another org's consent ledger", "/v1/patients/" + e.patient.ID + "/consent?limit=0", otherAdmin, http.StatusNotFound},
			{"consent ledger, integration", "/v1/patients/" + e.patient.ID + "/consent?limit=x", e.key(auth.RoleIntegration, ""), http.StatusForbidden},
			{"another org's escalations", "/v1/escalations?patient=" + e.patient.ID + "&limit=0", otherAdmin, http.StatusNotFound},
		} {
			before := e.count(`SELECT COUNT(*) FROM audit_log WHERE outcome <> 0 AND patient_id = $1`, e.patient.ID)
			if rec := e.api(http.MethodGet, c.path, c.key, nil); rec.Code != c.want {
				t.Errorf("%s: %d, want %d: %s", c.name, rec.Code, c.want, rec.Body)
			}
			if n := e.count(`SELECT COUNT(*) FROM audit_log WHERE outcome <> 0 AND patient_id = $1`, e.patient.ID) - before; n != 1 {
				t.Errorf("%s: %d failed accesses audited, want 1", c.name, n)
			}
		}
	})
}
