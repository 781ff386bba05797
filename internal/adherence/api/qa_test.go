package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/httpx"
)

// TestRevokeLastAdminKey checks that an admin cannot revoke the
// organization's last active admin key, its own included (nothing could
// issue keys afterwards), and can once another admin key exists.
func TestRevokeLastAdminKey(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin1 := e.org("Org A")
		keyID := func(token string) string { return strings.Split(token, "_")[1] }

		r := e.do("DELETE", "/v1/api-keys/"+keyID(admin1), admin1, nil)
		if r.status != 409 {
			t.Fatalf("revoking the only admin key = %d, want 409: %s", r.status, r.body)
		}
		p := r.json(t)
		if !strings.HasSuffix(p["type"].(string), "/conflict") || !strings.Contains(p["detail"].(string), "last active admin key") {
			t.Fatalf("problem %v does not say why", p)
		}
		// A non-admin key can go whatever admin keys exist.
		integ := e.mustDo("POST", "/v1/api-keys", admin1, map[string]any{"role": "integration"}, 201)["id"].(string)
		e.mustDo("DELETE", "/v1/api-keys/"+integ, admin1, nil, 204)

		admin2 := e.mustDo("POST", "/v1/api-keys", admin1, map[string]any{"role": "admin", "name": "second"}, 201)["key"].(string)
		e.mustDo("DELETE", "/v1/api-keys/"+keyID(admin1), admin2, nil, 204)
		r = e.do("DELETE", "/v1/api-keys/"+keyID(admin2), admin2, nil)
		if r.status != 409 {
			t.Fatalf("revoking the last admin key, own = %d, want 409: %s", r.status, r.body)
		}
		keys := e.mustDo("GET", "/v1/api-keys", admin2, nil, 200)["keys"].([]any)
		for _, k := range keys {
			k := k.(map[string]any)
			if k["id"] == keyID(admin2) && k["revokedAt"] != nil {
				t.Fatal("the last admin key was revoked")
			}
		}
	})
}

// TestBooleanQueryParameters checks that a boolean query parameter other
// than true or false is a 400 naming it, not a silent false.
func TestBooleanQueryParameters(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Org A")
		for _, c := range []struct {
			path, field string
		}{
			{"/v1/outbox", "pending"},
			{"/v1/patients", "inactive"},
		} {
			for _, v := range []string{"maybe", "1", "TRUE", "yes"} {
				r := e.do("GET", c.path+"?"+c.field+"="+v, admin, nil)
				if r.status != 400 || r.json(t)["field"] != c.field {
					t.Errorf("GET %s?%s=%s = %d, want 400 naming %s: %s", c.path, c.field, v, r.status, c.field, r.body)
				}
			}
			for _, v := range []string{"true", "false", ""} {
				e.mustDo("GET", c.path+"?"+c.field+"="+v, admin, nil, 200)
			}
		}
	})
}

// TestOutboxUnknownTopic checks that a misspelt outbox topic is a 400
// naming it, not an empty list that reads as "nothing was missed".
func TestOutboxUnknownTopic(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Org A")
		for _, topic := range []string{"dose.mised", "bogus", "DOSE.MISSED"} {
			r := e.do("GET", "/v1/outbox?topic="+topic, admin, nil)
			if r.status != 400 || r.json(t)["field"] != "topic" {
				t.Errorf("GET /v1/outbox?topic=%s = %d, want 400 naming topic: %s", topic, r.status, r.body)
			}
		}
		for _, topic := range []string{"dose.missed", "dose.resolved", ""} {
			e.mustDo("GET", "/v1/outbox?topic="+topic, admin, nil, 200)
		}
	})
}

// TestFillDateInPatientZone checks that a fill dated today where the
// patient lives is accepted while UTC is still on yesterday (Sydney in
// the morning), and that tomorrow there is refused (Honolulu, where UTC is
// already on the next day).
func TestFillDateInPatientZone(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Org A")
		e.now = time.Date(2026, 12, 1, 22, 4, 0, 0, time.UTC) // 09:04 on Dec 2 in Sydney, 12:04 on Dec 1 in Honolulu
		plan := func(zone string) string {
			pat := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Zoe", "timeZone": zone}, 201)["id"].(string)
			return e.mustDo("POST", "/v1/patients/"+pat+"/plans", admin, map[string]any{
				"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril 10 MG Oral Tablet"}, "dose": "1 tablet",
				"timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
			}, 201)["id"].(string)
		}
		sydney, honolulu := plan("Australia/Sydney"), plan("Pacific/Honolulu")
		e.mustDo("POST", "/v1/plans/"+sydney+"/fills", admin, map[string]any{"fillDate": "2026-12-02", "daysSupply": 30}, 201)
		e.mustDo("POST", "/v1/plans/"+honolulu+"/fills", admin, map[string]any{"fillDate": "2026-12-01", "daysSupply": 30}, 201)
		for _, c := range []struct{ plan, date string }{{sydney, "2026-12-03"}, {honolulu, "2026-12-02"}} {
			r := e.do("POST", "/v1/plans/"+c.plan+"/fills", admin, map[string]any{"fillDate": c.date, "daysSupply": 30})
			if r.status != 400 || r.json(t)["field"] != "fillDate" {
				t.Errorf("fill dated %s: %d, want 400 naming fillDate: %s", c.date, r.status, r.body)
			}
		}
	})
}

// TestFHIRImportOtherOrgPatient checks that a MedicationRequest naming
// another organization's patient is a 404, answered exactly as one naming
// a patient that does not exist.
func TestFHIRImportOtherOrgPatient(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, adminA := e.org("Org A")
		_, adminB := e.org("Org B")
		other := e.mustDo("POST", "/v1/patients", adminB, map[string]any{"givenName": "Bea", "timeZone": "UTC"}, 201)["id"].(string)
		body := func(patient string) map[string]any {
			return map[string]any{"resourceType": "MedicationRequest", "status": "active", "intent": "order",
				"subject":                   map[string]any{"reference": "Patient/" + patient},
				"medicationCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076", "display": "lisinopril"}}},
				"dosageInstruction":         []any{map[string]any{"timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"09:00:00"}}}}}}
		}
		problem := func(patient string) map[string]any {
			t.Helper()
			r := e.do("POST", "/fhir/MedicationRequest", adminA, body(patient))
			if r.status != 404 {
				t.Fatalf("import for patient %s = %d, want 404: %s", patient, r.status, r.body)
			}
			p := r.json(t)
			delete(p, "requestId")
			return p
		}
		foreign, missing := problem(other), problem("0190a8e2-0000-7000-8000-000000000000")
		if foreign["field"] != "subject.reference" {
			t.Fatalf("problem %v does not name subject.reference", foreign)
		}
		for k, v := range missing {
			if foreign[k] != v {
				t.Fatalf("another org's patient answers %v, a missing one %v", foreign, missing)
			}
		}
	})
}

// TestTemplateLanguage checks that a template can only be saved in a
// language a patient can have.
func TestTemplateLanguage(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Org A")
		body := map[string]any{"body": "Hi {{first_name}}: your {{dose_time}} dose. {{reply_hint}}"}
		for _, lang := range []string{"xx", "ES", "eng"} {
			r := e.do("PUT", "/v1/templates/reminder/"+lang+"/sms", admin, body)
			if r.status != 400 || r.json(t)["field"] != "language" {
				t.Errorf("PUT template in %q = %d, want 400 naming language: %s", lang, r.status, r.body)
			}
		}
		for _, lang := range []string{"en", "es", "ht", "de"} {
			e.mustDo("PUT", "/v1/templates/reminder/"+lang+"/sms", admin, body, 200)
		}
		items := e.mustDo("GET", "/v1/templates", admin, nil, 200)["items"].([]any)
		for _, it := range items {
			if l := it.(map[string]any)["language"]; l == "xx" || l == "ES" || l == "eng" {
				t.Fatalf("a template in %v was stored", l)
			}
		}
	})
}

// TestFillDateOutsideCalendar checks that a fill dated in a year PDC
// cannot count (0000) is refused naming fillDate on both engines, instead
// of being stored (SQLite) and then failing every PDC of the patient with a
// 400 that names no parameter, or failing the insert with a 500
// (PostgreSQL has no year 0).
func TestFillDateOutsideCalendar(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		for _, date := range []string{"0000-06-01", "0000-01-01", "0001-01-01", "1969-12-31"} {
			r := e.do("POST", "/v1/plans/"+w.plan+"/fills", w.admin, map[string]any{"fillDate": date, "daysSupply": 30})
			if r.status != 400 || r.json(t)["field"] != "fillDate" {
				t.Errorf("fill dated %s: %d, want 400 naming fillDate: %s", date, r.status, r.body)
			}
		}
		// A quantity, when given, is a number of units dispensed: 0, -0
		// and 1e308 were taken (0 then left out of the answer).
		for _, q := range []string{"0", "-0.0", "-1", "1e308", "100001"} {
			body := []byte(`{"fillDate":"2026-01-01","daysSupply":30,"quantity":` + q + `}`)
			r := e.do("POST", "/v1/plans/"+w.plan+"/fills", w.admin, json.RawMessage(body))
			if r.status != 400 || r.json(t)["field"] != "quantity" {
				t.Errorf("fill of quantity %s: %d, want 400 naming quantity: %s", q, r.status, r.body)
			}
		}
		if got := e.mustDo("POST", "/v1/plans/"+w.plan+"/fills", w.admin, map[string]any{"fillDate": "2025-12-01", "daysSupply": 30, "quantity": 30.5}, 201); got["quantity"] != 30.5 {
			t.Errorf("fill of quantity 30.5 = %v", got)
		}
		e.mustDo("POST", "/v1/plans/"+w.plan+"/fills", w.admin, map[string]any{"fillDate": "2026-01-01", "daysSupply": 30}, 201)
		c := e.mustDo("GET", "/v1/patients/"+w.patient+"/pdc?from=2026-01-01&to=2026-01-31", w.admin, nil, 200)["classes"].([]any)
		if len(c) != 1 || c[0].(map[string]any)["coveredDays"] != 30.0 {
			t.Errorf("pdc classes = %v, want 30 covered days", c)
		}
	})
}

// TestMedicationDeniedToCaregiverIsAudited checks that a linked caregiver
// refused a patient's medication details (the patient does not share them)
// leaves a failed-access audit record for the patient, like any other
// failed attempt on a patient record.
func TestMedicationDeniedToCaregiverIsAudited(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		for _, c := range []struct{ path, resource string }{
			{"/v1/patients/" + f.own + "/pdc?from=2026-01-01&to=2026-12-31", "PDCReport"},
			{"/fhir/MedicationAdministration?patient=" + f.own, "MedicationAdministration"},
			{"/fhir/MedicationRequest?patient=" + f.own, "MedicationRequest"},
		} {
			e.mustDo("GET", c.path, f.keys["caregiver"], nil, 403)
			var n int
			err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = $1 AND patient_id = $2 AND outcome = 4 AND actor_role = 'caregiver'`,
				c.resource, f.own).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("GET %s refused: %d failed-access audit records of %s, want 1", c.path, n, c.resource)
			}
		}
	})
}

// TestUnencodedPlusInTimeParameter checks that a timestamp whose UTC
// offset was sent with an unencoded + (which a URL query reads as a space)
// is refused with a hint to send %2B, naming the parameter, instead of only
// claiming the value is not RFC 3339 while it looks like it is.
func TestUnencodedPlusInTimeParameter(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		for _, c := range []struct{ path, field string }{
			{"/v1/patients/" + w.patient + "/adherence?from=2026-03-01T00:00:00+01:00", "from"},
			{"/v1/plans/" + w.plan + "/adherence?from=2026-03-01T00:00:00Z&to=2026-03-05T00:00:00+01:00", "to"},
			{"/v1/reports/adherence?from=2026-03-01T00:00:00+01:00", "from"},
			{"/fhir/MedicationAdministration?patient=" + w.patient + "&date=ge2026-03-01T00:00:00+01:00", "date"},
		} {
			r := e.do("GET", c.path, w.admin, nil)
			if p := r.json(t); r.status != 400 || p["field"] != c.field || !strings.Contains(p["detail"].(string), "%2B") {
				t.Errorf("GET %s = %d %s, want 400 naming %s with a hint to send %%2B", c.path, r.status, r.body, c.field)
			}
		}
		// Encoded, the same values are accepted.
		e.mustDo("GET", "/v1/patients/"+w.patient+"/adherence?from=2026-03-01T00:00:00%2B01:00", w.admin, nil, 200)
		e.mustDo("GET", "/fhir/MedicationAdministration?patient="+w.patient+"&date=ge2026-03-01T00:00:00%2B01:00", w.admin, nil, 200)
	})
}

// TestFailedPatientWritesAreAudited checks that a refused attempt to change
// a patient record — a role that may not write (403) or another
// organization's patient (404) — leaves a failed-access audit record for
// the patient, as refused reads do.
func TestFailedPatientWritesAreAudited(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		for _, c := range []struct {
			method, path, role, patient string
			body                        map[string]any
			status                      int
		}{
			{"PATCH", "/v1/patients/" + f.own, "caregiver", f.own, map[string]any{"familyName": "X"}, 403},
			{"PATCH", "/v1/patients/" + f.other, "admin", f.other, map[string]any{"familyName": "X"}, 404},
			{"POST", "/v1/patients/" + f.other + "/deactivate", "clinician", f.other, nil, 404},
			{"POST", "/v1/patients/" + f.own + "/plans", "patient", f.own, map[string]any{}, 403},
			// Messaging preferences are read and changed by staff and the
			// patient: a refused change is a failed update, not a read.
			{"PUT", "/v1/patients/" + f.unlinked + "/messaging-preferences", "patient", f.unlinked, map[string]any{"medicationInMessages": true}, 404},
			{"PUT", "/v1/patients/" + f.own + "/messaging-preferences", "integration", f.own, map[string]any{"medicationInMessages": true}, 403},
		} {
			e.mustDo(c.method, c.path, f.keys[c.role], c.body, c.status)
			var n int
			err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'Patient' AND patient_id = $1
				AND outcome = 4 AND actor_role = $2 AND action <> 'R'`, c.patient, c.role).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%s %s by %s refused: %d failed-access audit records, want 1", c.method, c.path, c.role, n)
			}
		}
	})
}

// TestRefusedEventForAnotherPatientIsAudited checks that a patient
// recording an event for another patient, or a caregiver for a patient not
// linked to it (404 patientId), or either naming their own patient with
// another patient's plan (404 planId, the answer of a plan that does not
// exist), alone or in a batch, leaves a failed-access audit record for
// that other patient; a plan that does not exist audits nothing.
func TestRefusedEventForAnotherPatientIsAudited(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		event := func(id, patient, plan string) map[string]any {
			return map[string]any{"patientId": patient, "planId": plan, "kind": "taken", "source": "app",
				"clientEventId": id, "occurredAt": e.now.Format(time.RFC3339)}
		}
		for _, role := range []string{"patient", "caregiver"} {
			for i, ev := range []map[string]any{
				event(role+"-1", f.unlinked, f.unlinkedPlan),
				event(role+"-2", f.own, f.unlinkedPlan),
			} {
				e.mustDo("POST", "/v1/events", f.keys[role], ev, 404)
				ev = maps.Clone(ev)
				ev["clientEventId"] = fmt.Sprintf("%s-batch-%d", role, i)
				res := e.mustDo("POST", "/v1/events:batch", f.keys[role], map[string]any{"events": []any{ev}}, 200)
				if res["rejected"] != 1.0 {
					t.Fatalf("batch by %s for another patient: %v, want it rejected", role, res)
				}
			}
			e.mustDo("POST", "/v1/events", f.keys[role], event(role+"-3", f.own, "01890000-0000-7000-8000-000000000000"), 404)
			var n int
			err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'AdherenceEvent' AND patient_id = $1
				AND outcome = 4 AND actor_role = $2 AND action = 'C'`, f.unlinked, role).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n != 4 {
				t.Errorf("events refused to %s for another patient: %d failed-access audit records, want 4", role, n)
			}
		}
	})
}

// TestFailedPlanWritesAreAudited: a refused attempt to change a plan — a
// role that may not write (403) or another organization's plan (404) —
// leaves a failed-access audit record on the plan (and on the patient,
// when the plan is in the caller's organization), as for patient records.
func TestFailedPlanWritesAreAudited(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		for _, c := range []struct {
			method, path, role string
			body               map[string]any
			status             int
			resType, resID     string
			patient            string // "" when the caller may not know it
		}{
			{"PATCH", "/v1/plans/" + f.ownPlan, "caregiver", map[string]any{"instructions": "x"}, 403, "MedicationRequest", f.ownPlan, f.own},
			{"PATCH", "/v1/plans/" + f.otherPlan, "admin", map[string]any{"instructions": "x"}, 404, "MedicationRequest", f.otherPlan, ""},
			{"POST", "/v1/plans/" + f.ownPlan + "/pause", "patient", nil, 403, "MedicationRequest", f.ownPlan, f.own},
			{"POST", "/v1/plans/" + f.otherPlan + "/pause", "clinician", nil, 404, "MedicationRequest", f.otherPlan, ""},
			{"POST", "/v1/plans/" + f.ownPlan + "/fills", "caregiver", map[string]any{"fillDate": "2026-03-01", "daysSupply": 30}, 403, "Fill", "*", f.own},
		} {
			e.mustDo(c.method, c.path, f.keys[c.role], c.body, c.status)
			var n int
			err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = $1 AND resource_id = $2
				AND COALESCE(patient_id, '') = $3 AND outcome = 4 AND actor_role = $4 AND action <> 'R'`,
				c.resType, c.resID, c.patient, c.role).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%s %s by %s refused: %d failed-access audit records, want 1", c.method, c.path, c.role, n)
			}
		}
	})
}

// TestFailedPlanReadsAreAudited: a refused attempt to read a record through
// a plan id — another organization's plan (404) or a role that may not read
// plans (403) — leaves one failed-access audit record on the plan, as a
// refused read by patient id and a refused plan change do; a plan of an
// unlinked patient is recorded once, on the patient.
func TestFailedPlanReadsAreAudited(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		// failed counts the failed-access records, all of them when
		// resType is "", else those on the resource, patient and role.
		failed := func(resType, resID, patient, role string) int {
			q, args := `SELECT COUNT(*) FROM audit_log WHERE outcome = 4`, []any{}
			if resType != "" {
				q += ` AND resource_type = $1 AND resource_id = $2 AND COALESCE(patient_id, '') = $3 AND actor_role = $4 AND action = 'R'`
				args = []any{resType, resID, patient, role}
			}
			var n int
			if err := e.db.SQL.QueryRow(q, args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, c := range []struct {
			path, role string
			status     int
			resType    string
			resID      string
			patient    string // "" when the caller may not know it
		}{
			{"/v1/plans/" + f.otherPlan + "/adherence", "admin", 404, "MedicationRequest", f.otherPlan, ""},
			{"/v1/plans/" + f.otherPlan + "/doses", "clinician", 404, "MedicationRequest", f.otherPlan, ""},
			{"/v1/plans/" + f.otherPlan, "admin", 404, "MedicationRequest", f.otherPlan, ""},
			{"/fhir/MedicationRequest/" + f.otherPlan, "clinician", 404, "MedicationRequest", f.otherPlan, ""},
			{"/v1/plans/" + f.ownPlan + "/adherence", "integration", 403, "MedicationRequest", f.ownPlan, f.own},
			{"/v1/plans/" + f.unlinkedPlan + "/adherence", "caregiver", 404, "Patient", f.unlinked, f.unlinked},
		} {
			all, these := failed("", "", "", ""), failed(c.resType, c.resID, c.patient, c.role)
			e.mustDo("GET", c.path, f.keys[c.role], nil, c.status)
			all, these = failed("", "", "", "")-all, failed(c.resType, c.resID, c.patient, c.role)-these
			if these != 1 || all != 1 {
				t.Errorf("GET %s by %s refused: %d failed-access audit records of %s %s (%d in all), want 1",
					routeOf(c.path, f), c.role, these, c.resType, c.resID, all)
			}
		}
	})
}

// A member's own time zone (for quiet hours) is stored and returned; a
// member without one has none, and follows the patient's.
func TestMemberTimeZone(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Member Zones")
		id := e.mustDo("POST", "/v1/members", admin, map[string]any{"kind": "caregiver", "name": "C", "timeZone": "Europe/Lisbon"}, 201)["id"].(string)
		if got := e.mustDo("GET", "/v1/members/"+id, admin, nil, 200)["timeZone"]; got != "Europe/Lisbon" {
			t.Fatalf("timeZone = %v, want Europe/Lisbon", got)
		}
		id = e.mustDo("POST", "/v1/members", admin, map[string]any{"kind": "caregiver", "name": "D"}, 201)["id"].(string)
		if got, ok := e.mustDo("GET", "/v1/members/"+id, admin, nil, 200)["timeZone"]; ok {
			t.Fatalf("timeZone = %v, want none", got)
		}
	})
}

// GET /v1/api-keys shows when each key last authenticated a request: a key
// never used has no lastUsedAt; one used has the time of that request.
func TestAPIKeyLastUsed(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Key Use")
		idle := e.mustDo("POST", "/v1/api-keys", admin, map[string]any{"role": "integration", "name": "idle"}, 201)["id"].(string)
		keys := e.mustDo("GET", "/v1/api-keys", admin, nil, 200)["keys"].([]any)
		adminID := strings.Split(admin, "_")[1]
		seen := map[string]bool{}
		for _, k := range keys {
			k := k.(map[string]any)
			seen[k["id"].(string)] = true
			switch k["id"] {
			case adminID:
				if k["lastUsedAt"] != e.now.Format(time.RFC3339) {
					t.Errorf("admin key lastUsedAt = %v, want %s", k["lastUsedAt"], e.now.Format(time.RFC3339))
				}
			case idle:
				if v, ok := k["lastUsedAt"]; ok {
					t.Errorf("an unused key has lastUsedAt %v", v)
				}
			}
		}
		if !seen[adminID] || !seen[idle] {
			t.Fatalf("keys listed: %v", keys)
		}
	})
}

// TestFHIRExportOverLimitIsRefused checks that a MedicationAdministration
// search whose window holds more than 10,000 doses with an outcome is a
// 413 asking to narrow the range, not a Bundle silently cut at 10,000.
func TestFHIRExportOverLimitIsRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Org A")
		start := e.now
		pat := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Max", "timeZone": "UTC"}, 201)["id"].(string)
		// 15 plans of a dose every 30 minutes: 48 a day, 672 in the 14
		// days materialised ahead, 10,080 in all.
		for range 15 {
			e.mustDo("POST", "/v1/patients/"+pat+"/plans", admin, map[string]any{
				"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril 10 MG Oral Tablet"},
				"timing":     map[string]any{"repeat": map[string]any{"frequency": 1, "period": 30, "periodUnit": "min"}},
			}, 201)
		}
		e.now = start.Add(15 * 24 * time.Hour)
		if _, err := e.store.MarkMissed(context.Background(), e.now); err != nil {
			t.Fatal(err)
		}
		q := "/fhir/MedicationAdministration?patient=" + pat + "&date=ge" + start.Format("2006-01-02") + "&date=lt" + e.now.Format("2006-01-02")
		r := e.do("GET", q, admin, nil)
		if r.status != 413 {
			var n any
			if r.status == 200 {
				n = r.json(t)["total"]
			}
			t.Fatalf("export of 10,080 doses = %d (total %v), want 413", r.status, n)
		}
		// Narrowed to a week, it is answered.
		week := "/fhir/MedicationAdministration?patient=" + pat + "&date=ge" + start.Format("2006-01-02") + "&date=lt" + start.Add(7*24*time.Hour).Format("2006-01-02")
		if b := e.mustDo("GET", week, admin, nil, 200); b["total"].(float64) < 4000 {
			t.Errorf("a week's export = %v entries", b["total"])
		}
	})
}

// TestFHIRAdministrationRead checks that each MedicationAdministration's
// fullUrl in an export can be read (a searchset entry's fullUrl is where
// the resource lives), with the export's access rules: another
// organization's dose, a dose without an outcome and a malformed id are
// 404, a caregiver of a patient who does not share medication gets 403.
func TestFHIRAdministrationRead(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		// The first dose of the own patient's plan (2026-03-06 20:00 New
		// York) is taken; later ones have no outcome yet.
		ev := map[string]any{"patientId": f.own, "planId": f.ownPlan, "kind": "taken", "source": "app",
			"occurredAt": "2026-03-06T20:10:00-05:00", "clientEventId": "read-1"}
		e.now = time.Date(2026, 3, 7, 2, 0, 0, 0, time.UTC)
		e.mustDo("POST", "/v1/events", f.keys["admin"], ev, 201)
		b := e.mustDo("GET", "/fhir/MedicationAdministration?patient="+f.own+"&date=2026-03-07", f.keys["admin"], nil, 200)
		entries := asSlice(b["entry"])
		if len(entries) != 1 {
			t.Fatalf("export = %v", b)
		}
		entry := entries[0].(map[string]any)
		fullURL, want := entry["fullUrl"].(string), entry["resource"].(map[string]any)
		path := strings.TrimPrefix(fullURL, "http://example.com")
		for _, role := range []string{"admin", "clinician", "patient"} {
			r := e.do("GET", path, f.keys[role], nil)
			if r.status != 200 || r.header.Get("Content-Type") != "application/fhir+json" {
				t.Fatalf("GET %s (the entry's fullUrl) by %s = %d %s, want 200", path, role, r.status, r.body)
			}
			if got := r.json(t); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("read by %s = %v, want the exported %v", role, got, want)
			}
		}
		var reads int
		if err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'MedicationAdministration'
			AND resource_id = $1 AND patient_id = $2 AND action = 'R' AND outcome = 0`, want["id"], f.own).Scan(&reads); err != nil {
			t.Fatal(err)
		}
		if reads != 3 {
			t.Errorf("%d audited reads, want 3", reads)
		}
		for _, c := range []struct {
			path, role string
			status     int
		}{
			{path, "caregiver", 403},   // the patient does not share medication
			{path, "integration", 403}, // reads nothing
			{path, "", 401},
			{"/fhir/MedicationAdministration/dose-999999999", "admin", 404}, // no such dose
			{"/fhir/MedicationAdministration/dose-x", "admin", 404},
			{"/fhir/MedicationAdministration/42", "admin", 404},
			{strings.Replace(path, "dose-", "dose-0", 1), "admin", 404},
			{strings.Replace(path, "dose-", "dose-+", 1), "admin", 404},
		} {
			if r := e.do("GET", c.path, f.keys[c.role], nil); r.status != c.status {
				t.Errorf("GET %s by %q = %d, want %d: %s", c.path, c.role, r.status, c.status, r.body)
			}
		}
		// Another organization's admin, and a dose without an outcome.
		_, otherAdmin := e.org("Org C")
		e.mustDo("GET", path, otherAdmin, nil, 404)
		// A dose of the unlinked patient: not the patient's nor the
		// caregiver's to see.
		ev["patientId"], ev["planId"], ev["clientEventId"] = f.unlinked, f.unlinkedPlan, "read-2"
		taken := e.mustDo("POST", "/v1/events", f.keys["admin"], ev, 201)["match"].(map[string]any)["doseInstanceId"]
		unlinked := fmt.Sprintf("/fhir/MedicationAdministration/dose-%.0f", taken)
		e.mustDo("GET", unlinked, f.keys["admin"], nil, 200)
		for _, role := range []string{"patient", "caregiver"} {
			e.mustDo("GET", unlinked, f.keys[role], nil, 404)
		}
		doses := e.mustDo("GET", "/v1/plans/"+f.ownPlan+"/doses?from=2026-03-07T02:00:00Z", f.keys["admin"], nil, 200)["doses"].([]any)
		open := fmt.Sprintf("/fhir/MedicationAdministration/dose-%.0f", doses[0].(map[string]any)["id"])
		e.mustDo("GET", open, f.keys["admin"], nil, 404)
	})
}

// TestFHIRSearchPaging: _count bounds the entries of a MedicationAdministration
// searchset (a server must not return more than asked; it returned every
// match); total counts every match, and next and previous links, which
// state the page they give, walk through them. _count=0 gives the total
// alone. A malformed _count or an _offset without _count is a 400 naming
// it.
func TestFHIRSearchPaging(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		e.now = time.Date(2026, 3, 9, 4, 0, 0, 0, time.UTC)
		e.mustDo("POST", "/v1/events", w.integration, w.event("taken", "2026-03-06T20:20:00-05:00", "p1"), 201)
		e.mustDo("POST", "/v1/events", w.integration, w.event("skipped", "2026-03-07T08:00:00-05:00", "p2"), 201)
		e.mustDo("POST", "/v1/events", w.integration, w.event("taken", "2026-03-07T20:05:00-05:00", "p3"), 201)
		links := func(b map[string]any) map[string]string {
			out := map[string]string{}
			for _, l := range asSlice(b["link"]) {
				l := l.(map[string]any)
				out[l["relation"].(string)] = l["url"].(string)
			}
			return out
		}
		ids := func(b map[string]any) []string {
			var out []string
			for _, en := range asSlice(b["entry"]) {
				out = append(out, en.(map[string]any)["resource"].(map[string]any)["id"].(string))
			}
			return out
		}
		search := "/fhir/MedicationAdministration?patient=" + w.patient + "&date=ge2026-03-06&date=lt2026-03-10"
		whole := e.mustDo("GET", search, w.admin, nil, 200)
		all := ids(whole)
		if len(all) != 3 || whole["total"] != 3.0 || links(whole)["next"] != "" {
			t.Fatalf("without _count: entries %v, total %v, links %v", all, whole["total"], links(whole))
		}
		var walked []string
		b := e.mustDo("GET", search+"&_count=2", w.admin, nil, 200)
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatal("the next links do not end")
			}
			if n := len(asSlice(b["entry"])); n > 2 || b["total"] != 3.0 {
				t.Fatalf("a page of _count=2 has %d entries, total %v", n, b["total"])
			}
			walked = append(walked, ids(b)...)
			next := links(b)["next"]
			if next == "" {
				break
			}
			u, err := url.Parse(next)
			if err != nil || u.Query().Get("_count") != "2" {
				t.Fatalf("next link %s", next)
			}
			b = e.mustDo("GET", u.RequestURI(), w.admin, nil, 200)
			if self := links(b)["self"]; self != next {
				t.Errorf("the page's self link %s is not the next link followed %s", self, next)
			}
		}
		if fmt.Sprint(walked) != fmt.Sprint(all) {
			t.Errorf("pages walked %v, want %v", walked, all)
		}
		if prev := links(b)["previous"]; prev == "" {
			t.Errorf("the last page has no previous link: %v", links(b))
		} else if u, _ := url.Parse(prev); fmt.Sprint(ids(e.mustDo("GET", u.RequestURI(), w.admin, nil, 200))) != fmt.Sprint(all[:2]) {
			t.Errorf("the previous link %s does not give the first page", prev)
		}
		if z := e.mustDo("GET", search+"&_count=0", w.admin, nil, 200); z["total"] != 3.0 || len(asSlice(z["entry"])) != 0 {
			t.Errorf("_count=0: total %v, %d entries", z["total"], len(asSlice(z["entry"])))
		}
		// MedicationRequest searches page alike.
		mr := "/fhir/MedicationRequest?patient=" + w.patient
		if z := e.mustDo("GET", mr+"&_count=0", w.admin, nil, 200); z["total"] != 1.0 || len(asSlice(z["entry"])) != 0 {
			t.Errorf("MedicationRequest _count=0: total %v, %d entries", z["total"], len(asSlice(z["entry"])))
		}
		if one := e.mustDo("GET", mr+"&_count=1", w.admin, nil, 200); len(asSlice(one["entry"])) != 1 || links(one)["next"] != "" ||
			!strings.HasSuffix(links(one)["self"], "_count=1&patient="+w.patient) {
			t.Errorf("MedicationRequest _count=1: %d entries, links %v", len(asSlice(one["entry"])), links(one))
		}
		for _, c := range []struct{ q, field string }{
			{"&_count=-1", "_count"}, {"&_count=x", "_count"}, {"&_count=1&_count=2", "_count"}, {"&_count=10001", "_count"},
			{"&_offset=1", "_offset"}, {"&_count=1&_offset=-1", "_offset"},
		} {
			r := e.do("GET", search+c.q, w.admin, nil)
			var p httpx.Problem
			if r.status != 400 || json.Unmarshal(r.body, &p) != nil || p.Field != c.field {
				t.Errorf("%s = %d %s, want 400 naming %s", c.q, r.status, r.body, c.field)
			}
		}
	})
}

// TestFHIRSearchSelfLink checks that a searchset Bundle states the search
// the server ran in its self link (FHIR search: the client can see which
// parameters were used): the patient and the date range applied, not the
// parameters it ignored; following the link gives the same result.
func TestFHIRSearchSelfLink(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		e.now = time.Date(2026, 3, 9, 4, 0, 0, 0, time.UTC)
		e.mustDo("POST", "/v1/events", w.integration, w.event("taken", "2026-03-06T20:20:00-05:00", "s1"), 201)
		e.mustDo("POST", "/v1/events", w.integration, w.event("skipped", "2026-03-07T08:00:00-05:00", "s2"), 201)
		self := func(b map[string]any) string {
			t.Helper()
			for _, l := range asSlice(b["link"]) {
				if l := l.(map[string]any); l["relation"] == "self" {
					return l["url"].(string)
				}
			}
			t.Fatalf("no self link in %v", b)
			return ""
		}
		b := e.mustDo("GET", "/fhir/MedicationAdministration?patient=Patient/"+w.patient+
			"&date=ge2026-03-06&date=lt2026-03-10&status=completed", w.admin, nil, 200)
		link := self(b)
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		want := url.Values{"patient": {w.patient}, "date": {"ge2026-03-06T00:00:00Z", "lt2026-03-10T00:00:00Z"}}
		if u.Path != "/fhir/MedicationAdministration" || fmt.Sprint(u.Query()) != fmt.Sprint(want) {
			t.Errorf("self link %s, want the search run: %v", link, want)
		}
		again := e.mustDo("GET", u.RequestURI(), w.admin, nil, 200)
		if again["total"] != 2.0 || b["total"] != 2.0 || self(again) != link {
			t.Errorf("following the self link: total %v (first %v), self %s", again["total"], b["total"], self(again))
		}
		mr := e.mustDo("GET", "/fhir/MedicationRequest?patient="+w.patient+"&status=stopped", w.admin, nil, 200)
		if link := self(mr); !strings.HasSuffix(link, "/fhir/MedicationRequest?patient="+w.patient) {
			t.Errorf("MedicationRequest self link = %s", link)
		}
	})
}

// TestFHIRMedicationRequestDose checks that a plan's dose is exported
// whole: as a doseQuantity only when it is exactly a finite number and a
// unit, otherwise in the dosage text beside the instructions. A dose
// that reads as NaN or Inf must not break the export (JSON has no such
// numbers), and words after the unit must not be dropped.
func TestFHIRMedicationRequestDose(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Org A")
		pat := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Dee", "timeZone": "UTC"}, 201)["id"].(string)
		type want struct {
			quantity string // "value unit" of doseQuantity, "" for none
			text     []string
		}
		cases := map[string]want{
			"1 tablet":            {"1 tablet", []string{"with water"}},
			"2 tablets with food": {"", []string{"2 tablets with food", "with water"}},
			"NaN tablets":         {"", []string{"NaN tablets", "with water"}},
			"Infinity mg":         {"", []string{"Infinity mg", "with water"}},
			"half a tablet":       {"", []string{"half a tablet", "with water"}},
		}
		byPlan := map[string]string{}
		for dose := range cases {
			id := e.mustDo("POST", "/v1/patients/"+pat+"/plans", admin, map[string]any{
				"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril 10 MG Oral Tablet"},
				"dose":       dose, "instructions": "with water",
				"timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
			}, 201)["id"].(string)
			byPlan[id] = dose
		}
		b := e.mustDo("GET", "/fhir/MedicationRequest?patient="+pat, admin, nil, 200)
		for _, en := range asSlice(b["entry"]) {
			res := en.(map[string]any)["resource"].(map[string]any)
			dose := byPlan[res["id"].(string)]
			w := cases[dose]
			di := res["dosageInstruction"].([]any)[0].(map[string]any)
			var quantity string
			for _, dr := range asSlice(di["doseAndRate"]) {
				q := dr.(map[string]any)["doseQuantity"].(map[string]any)
				quantity = fmt.Sprint(q["value"], " ", q["unit"])
			}
			text, _ := di["text"].(string)
			if quantity != w.quantity {
				t.Errorf("dose %q: doseQuantity %q, want %q", dose, quantity, w.quantity)
			}
			for _, s := range w.text {
				if !strings.Contains(text, s) {
					t.Errorf("dose %q: text %q lacks %q", dose, text, s)
				}
			}
			delete(byPlan, res["id"].(string))
		}
		if len(byPlan) != 0 {
			t.Errorf("plans missing from the export: %v", byPlan)
		}
	})
}

// TestFHIRExportRefusesRoleBeforeParameters: an integration key searching
// MedicationAdministration is refused (403) and the attempt audited, even
// with a malformed date: access is decided before the search is read.
func TestFHIRExportRefusesRoleBeforeParameters(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		orgID, admin := e.org("Export Role Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "R", "timeZone": "UTC"}, 201)["id"].(string)
		integ := e.key(orgID, auth.RoleIntegration, "")
		r := e.do("GET", "/fhir/MedicationAdministration?patient="+pid+"&date=yesterday", integ, nil)
		if r.status != 403 {
			t.Fatalf("integration key with a bad date = %d, want 403: %s", r.status, r.body)
		}
		var n int
		if err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE patient_id = $1 AND outcome = 4 AND actor_role = 'integration'`, pid).Scan(&n); err != nil || n != 1 {
			t.Errorf("%d failed-access audit records (err %v), want 1", n, err)
		}
	})
}

// TestFHIRSearchesRefuseIntegrationWithoutPatient: an integration key, which
// may call no FHIR search, is answered 403 by both searches when it names
// no patient too, not a 400 asking for the parameter it could never use.
func TestFHIRSearchesRefuseIntegrationWithoutPatient(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		orgID, admin := e.org("Search Role Org")
		integ := e.key(orgID, auth.RoleIntegration, "")
		for _, path := range []string{"/fhir/MedicationRequest", "/fhir/MedicationAdministration", "/fhir/MedicationAdministration?date=yesterday"} {
			if r := e.do("GET", path, integ, nil); r.status != 403 {
				t.Errorf("GET %s by an integration key = %d, want 403: %s", path, r.status, r.body)
			}
			// Those who may search are still told the parameter is needed.
			if r := e.do("GET", path, admin, nil); r.status != 400 {
				t.Errorf("GET %s by an admin = %d, want 400: %s", path, r.status, r.body)
			}
		}
	})
}

// TestReportWindowNamesTheGivenParameter: a report window with only from,
// in the future, names from (to defaulted to now); with both, to.
func TestReportWindowNamesTheGivenParameter(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Window Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "W", "timeZone": "UTC"}, 201)["id"].(string)
		for q, field := range map[string]string{
			"from=2099-01-01T00:00:00Z":                         "from",
			"from=2099-01-01T00:00:00Z&to=2098-01-01T00:00:00Z": "to",
		} {
			r := e.do("GET", "/v1/patients/"+pid+"/adherence?"+q, admin, nil)
			var p httpx.Problem
			if r.status != 400 || json.Unmarshal(r.body, &p) != nil || p.Field != field {
				t.Errorf("%s: %d %s, want 400 naming %s", q, r.status, r.body, field)
			}
		}
	})
}

// TestCaregiverRefusalsAreAudited checks that a linked caregiver refused
// a part of the patient's record that caregivers never see (fills,
// notification history, messaging preferences, the consent ledger) leaves
// a failed-access audit record for the patient, as a refused medication
// read does.
func TestCaregiverRefusalsAreAudited(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		for _, c := range []struct{ method, path, resource, action string }{
			{"GET", "/v1/plans/" + f.ownPlan + "/fills", "Fill", "R"},
			{"GET", "/v1/patients/" + f.own + "/notifications", "Communication", "R"},
			{"GET", "/v1/patients/" + f.own + "/messaging-preferences", "Patient", "R"},
			{"PUT", "/v1/patients/" + f.own + "/messaging-preferences", "Patient", "U"},
			{"GET", "/v1/patients/" + f.own + "/consent", "Consent", "R"},
		} {
			var body any
			if c.method == "PUT" {
				body = map[string]any{"medicationInMessages": true}
			}
			e.mustDo(c.method, c.path, f.keys["caregiver"], body, 403)
			var n int
			err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = $1 AND action = $2 AND patient_id = $3 AND outcome = 4 AND actor_role = 'caregiver'`,
				c.resource, c.action, f.own).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%s %s refused: %d failed-access audit records of %s, want 1", c.method, c.path, n, c.resource)
			}
		}
		// A caregiver not linked to the patient is told nothing more than
		// about any other record it may not see.
		e.mustDo("GET", "/v1/patients/"+f.unlinked+"/consent", f.keys["caregiver"], nil, 404)
	})
}

// TestFailedReminderPolicyWritesAreAudited: a refused attempt to change a
// plan's reminder policy — a role that may not write (403) or another
// organization's plan (404) — leaves a failed-access audit record on the
// plan, as a refused PATCH or pause does.
func TestFailedReminderPolicyWritesAreAudited(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		policy := map[string]any{"firstOffsetMinutes": 0, "repeatEveryMinutes": 15, "maxReminders": 2, "validityMinutes": 30, "channels": []string{"sms"}}
		for _, c := range []struct {
			method, plan, role string
			body               map[string]any
			status             int
			patient            string // "" when the caller may not know it
		}{
			{"PUT", f.ownPlan, "caregiver", policy, 403, f.own},
			{"PUT", f.otherPlan, "admin", policy, 404, ""},
			{"DELETE", f.ownPlan, "patient", nil, 403, f.own},
			{"DELETE", f.otherPlan, "clinician", nil, 404, ""},
		} {
			e.mustDo(c.method, "/v1/plans/"+c.plan+"/reminder-policy", f.keys[c.role], c.body, c.status)
			var n int
			err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'MedicationRequest' AND resource_id = $1
				AND COALESCE(patient_id, '') = $2 AND outcome = 4 AND actor_role = $3 AND action = 'U'`,
				c.plan, c.patient, c.role).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%s reminder policy of %s by %s refused: %d failed-access audit records, want 1", c.method, c.plan, c.role, n)
			}
		}
		// Access is decided before the body is read: another
		// organization's plan with a bad policy is 404 and audited too,
		// not a 400 that leaves no record of the attempt.
		bad := map[string]any{"firstOffsetMinutes": 0, "repeatEveryMinutes": 15, "maxReminders": 2, "validityMinutes": 30, "channels": []string{"pigeon"}}
		e.mustDo("PUT", "/v1/plans/"+f.otherPlan+"/reminder-policy", f.keys["admin"], bad, 404)
		var n int
		err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'MedicationRequest' AND resource_id = $1
			AND outcome = 4 AND actor_role = 'admin' AND action = 'U'`, f.otherPlan).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("PUT of a bad reminder policy on another organization's plan: %d failed-access audit records, want 2", n)
		}
	})
}

// TestRefusedReadOfMalformedIDIsAudited: a refused read whose patient id
// is not valid UTF-8, holds a NUL byte or is very long is still recorded
// as a failed access (the audit trail refuses such bytes as they are, so
// the attempt went unrecorded), with the id kept short.
func TestRefusedReadOfMalformedIDIsAudited(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		for _, id := range []string{"%FF", "%00", f.own + "%00", strings.Repeat("a", 5000)} {
			count := func() int {
				var n int
				if err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'Patient' AND outcome = 4 AND actor_role = 'caregiver' AND length(patient_id) <= 100`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			before := count()
			e.mustDo("GET", "/v1/patients/"+id, f.keys["caregiver"], nil, 404)
			if got := count() - before; got != 1 {
				t.Errorf("GET /v1/patients/%.20s refused: %d failed-access audit records, want 1", id, got)
			}
		}
	})
}

// TestFailedFHIRImportIsAudited: a refused FHIR MedicationRequest import —
// a role that may not write (403) or another organization's patient (404)
// — leaves a failed-access audit record, as a refused POST
// /v1/patients/{id}/plans does, naming the patient id the request gave.
func TestFailedFHIRImportIsAudited(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		body := func(patient string) map[string]any {
			return map[string]any{"resourceType": "MedicationRequest", "status": "active", "intent": "order",
				"subject":                   map[string]any{"reference": "Patient/" + patient},
				"medicationCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076", "display": "lisinopril"}}},
				"dosageInstruction":         []any{map[string]any{"timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"09:00:00"}}}}}}
		}
		for _, c := range []struct {
			role, patient string
			status        int
		}{
			{"caregiver", f.own, 403},
			{"patient", f.own, 403},
			{"integration", f.unlinked, 403},
			{"clinician", f.other, 404},
		} {
			e.mustDo("POST", "/fhir/MedicationRequest", f.keys[c.role], body(c.patient), c.status)
			var n int
			err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'Patient' AND patient_id = $1
				AND outcome = 4 AND actor_role = $2 AND action = 'U'`, c.patient, c.role).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("FHIR import for %s by %s refused: %d failed-access audit records, want 1", c.patient, c.role, n)
			}
		}
		// A body that gives a key twice, by staff, names the patient too:
		// refused (400) before it was read, it was not audited (QA).
		for i, dup := range []string{`"status": "active", "Status": "active"`, `"status": "active", "status": "active"`} {
			b, err := json.Marshal(body(f.own))
			if err != nil {
				t.Fatal(err)
			}
			raw := strings.Replace(string(b), `"status":"active"`, dup, 1)
			count := func() int {
				var n int
				if err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'Patient' AND patient_id = $1
					AND outcome = 4 AND actor_role = 'clinician' AND action = 'U'`, f.own).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			before := count()
			if r := e.do("POST", "/fhir/MedicationRequest", f.keys["clinician"], raw); r.status != 400 {
				t.Fatalf("import %d with a key twice = %d %s, want 400", i, r.status, r.body)
			}
			if n := count() - before; n != 1 {
				t.Errorf("import %d with a key twice: %d failed-attempt audit records, want 1", i, n)
			}
		}
	})
}

// TestEventForAnotherOrgsPatientIsAudited: an event naming another
// organization's patient, from staff or an integration (who may record for
// any patient of their own organization, checked by the store), is a probe
// for that patient's record and is audited as a failed attempt on it, in
// the caller's organization, single or in a batch: with that
// organization's plan (404) as with one of the caller's (400). It was
// answered without an audit record.
func TestEventForAnotherOrgsPatientIsAudited(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		orgA := e.mustDo("GET", "/v1/me", f.keys["admin"], nil, 200)["orgId"].(string)
		event := func(id, plan string) map[string]any {
			return map[string]any{"patientId": f.other, "planId": plan, "kind": "taken", "source": "app",
				"clientEventId": id, "occurredAt": e.now.Format(time.RFC3339)}
		}
		for _, role := range []string{"admin", "clinician", "integration"} {
			for i, c := range []struct {
				plan   string
				status int
			}{{f.otherPlan, 404}, {f.ownPlan, 400}} {
				e.mustDo("POST", "/v1/events", f.keys[role], event(fmt.Sprintf("%s-%d", role, i), c.plan), c.status)
				res := e.mustDo("POST", "/v1/events:batch", f.keys[role],
					map[string]any{"events": []any{event(fmt.Sprintf("%s-batch-%d", role, i), c.plan)}}, 200)
				if res["rejected"] != 1.0 {
					t.Fatalf("batch by %s for another org's patient: %v, want it rejected", role, res)
				}
			}
			var n int
			err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'AdherenceEvent' AND patient_id = $1
				AND org_id = $2 AND outcome = 4 AND actor_role = $3 AND action = 'C'`, f.other, orgA, role).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n != 4 {
				t.Errorf("events by %s naming another organization's patient: %d failed-access audit records, want 4", role, n)
			}
		}
	})
}

// TestCaregiverDoesNotSeeUnsharedTimingCode: a plan's timing code (its
// text, codes and displays: "warfarin at bedtime") may name the
// medication, so a caregiver of a patient who does not share medication
// details sees the schedule without it, in the plan list and in a plan
// read (with its doses too); it was passed through. Staff, the patient,
// and a caregiver once the patient shares, see it.
func TestCaregiverDoesNotSeeUnsharedTimingCode(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		const secret = "warfarin 5 mg at bedtime"
		plan := e.mustDo("POST", "/v1/patients/"+f.own+"/plans", f.keys["admin"], map[string]any{
			"medication": map[string]any{"rxnorm": "855332", "display": "warfarin"},
			"timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"21:00:00"}},
				"code": map[string]any{"text": secret, "coding": []any{map[string]any{"system": "urn:example", "code": "WARF-HS", "display": secret}}}},
		}, 201)["id"].(string)
		paths := []string{"/v1/patients/" + f.own + "/plans", "/v1/plans/" + plan, "/v1/plans/" + plan + "?include=doses"}
		check := func(role string, wantCode bool) {
			t.Helper()
			for _, p := range paths {
				body := e.mustDo("GET", p, f.keys[role], nil, 200)
				b, err := json.Marshal(body)
				if err != nil {
					t.Fatal(err)
				}
				if got := strings.Contains(string(b), secret) || strings.Contains(string(b), "WARF-HS"); got != wantCode {
					t.Errorf("GET %s by %s: timing code shown = %t, want %t: %s", p, role, got, wantCode, b)
				}
				if !strings.Contains(string(b), "21:00:00") {
					t.Errorf("GET %s by %s: the schedule itself is missing: %s", p, role, b)
				}
			}
		}
		check("caregiver", false)
		check("clinician", true)
		check("patient", true)
		e.mustDo("PATCH", "/v1/patients/"+f.own, f.keys["admin"], map[string]any{"shareMedicationWithCaregivers": true}, 200)
		check("caregiver", true)
	})
}
