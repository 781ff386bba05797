package api_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestRefusedAttemptsAreAudited walks the routes that reach a patient's
// record: a request refused once the record it names is identified — a
// field that fails validation, a stale version, an illegal state change,
// a member or link that does not exist — and one refused on a record the
// caller may not see, writes exactly one audit record: a failed attempt
// (outcome 4) with the caller's role and the request id, naming the
// patient (none for another organization's plan or dose, whose patient
// the caller may not learn). Linking an unknown member, or another
// organization's, to a patient (404) was not audited, nor were 400s and
// 409s on records the caller may change.
func TestRefusedAttemptsAreAudited(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		admin := f.keys["admin"]
		stopped := e.mustDo("POST", "/v1/patients/"+f.own+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "197361", "display": "amlodipine 5 MG Oral Tablet"},
			"timing":     map[string]any{"repeat": map[string]any{"timeOfDay": []string{"09:00:00"}}},
		}, 201)["id"].(string)
		e.mustDo("POST", "/v1/plans/"+stopped+"/stop", admin, nil, 200)
		const unknown = "01890000-0000-7000-8000-000000000000"
		dose := e.mustDo("GET", "/v1/plans/"+f.ownPlan+"/doses", admin, nil, 200)["doses"].([]any)[0].(map[string]any)["id"].(float64)
		notExported := fmt.Sprintf("/fhir/MedicationAdministration/dose-%d", int64(dose)) // no outcome yet
		cases := []struct {
			name, method, path, role string
			body                     any
			status                   int
			patient                  string // the patient the record names ("" none)
			record                   string // its action and resource type
		}{
			{"another org's patient", "GET", "/v1/patients/" + f.other, "admin", nil, 404, f.other, "R Patient"},
			{"unlinked patient", "GET", "/v1/patients/" + f.unlinked, "caregiver", nil, 404, f.unlinked, "R Patient"},
			{"patient: bad time zone", "PATCH", "/v1/patients/" + f.own, "admin", map[string]any{"timeZone": "Mars/Olympus"}, 400, f.own, "U Patient"},
			{"patient: stale version", "PATCH", "/v1/patients/" + f.own, "clinician", map[string]any{"version": 999}, 409, f.own, "U Patient"},
			{"deactivate another org's patient", "POST", "/v1/patients/" + f.other + "/deactivate", "admin", nil, 404, f.other, "U Patient"},
			{"links by a caregiver", "GET", "/v1/patients/" + f.own + "/links", "caregiver", nil, 403, f.own, "R Patient"},
			{"link an unknown member", "PUT", "/v1/patients/" + f.own + "/links/" + unknown, "admin", map[string]any{"relationship": "son"}, 404, f.own, "U Link"},
			{"link a malformed member id", "PUT", "/v1/patients/" + f.own + "/links/not-a-member", "admin", nil, 404, f.own, "U Link"},
			{"link another org's member", "PUT", "/v1/patients/" + f.own + "/links/" + f.otherMember, "clinician", nil, 404, f.own, "U Link"},
			{"link: relationship too long", "PUT", "/v1/patients/" + f.own + "/links/" + f.clinicianA, "admin", map[string]any{"relationship": strings.Repeat("x", 101)}, 400, f.own, "U Link"},
			{"unlink a member not linked", "DELETE", "/v1/patients/" + f.own + "/links/" + unknown, "admin", nil, 404, f.own, "D Link"},
			{"plan: no medication", "POST", "/v1/patients/" + f.own + "/plans", "admin", map[string]any{}, 400, f.own, "U Patient"},
			{"doses: bad limit", "GET", "/v1/patients/" + f.own + "/doses?limit=0", "patient", nil, 400, f.own, "R DoseInstance"},
			{"events: bad from", "GET", "/v1/patients/" + f.own + "/events?from=yesterday", "caregiver", nil, 400, f.own, "R AdherenceEvent"},
			{"adherence: bad from", "GET", "/v1/patients/" + f.own + "/adherence?from=yesterday", "clinician", nil, 400, f.own, "R AdherenceReport"},
			{"pdc: bad from", "GET", "/v1/patients/" + f.own + "/pdc?from=yesterday", "admin", nil, 400, f.own, "R PDCReport"},
			{"notifications: bad limit", "GET", "/v1/patients/" + f.own + "/notifications?limit=0", "patient", nil, 400, f.own, "R Communication"},
			{"consent: bad limit", "GET", "/v1/patients/" + f.own + "/consent?limit=0", "admin", nil, 400, f.own, "R Consent"},
			{"consent: unknown channel", "POST", "/v1/patients/" + f.own + "/consent", "admin", map[string]any{"channel": "fax", "action": "opt_out"}, 400, f.own, "C Consent"},
			{"preferences: unknown channel", "PUT", "/v1/patients/" + f.own + "/messaging-preferences", "patient", map[string]any{"channels": []string{"fax"}}, 400, f.own, "U Patient"},
			{"another org's plan", "GET", "/v1/plans/" + f.otherPlan, "admin", nil, 404, "", "R MedicationRequest"},
			{"plan: bad include window", "GET", "/v1/plans/" + f.ownPlan + "?include=doses&limit=0", "admin", nil, 400, f.own, "R MedicationRequest"},
			{"plan: stale version", "PATCH", "/v1/plans/" + f.ownPlan, "admin", map[string]any{"version": 999}, 409, f.own, "U MedicationRequest"},
			{"resume a stopped plan", "POST", "/v1/plans/" + stopped + "/resume", "clinician", nil, 409, f.own, "U MedicationRequest"},
			{"fill: bad date", "POST", "/v1/plans/" + f.ownPlan + "/fills", "admin", map[string]any{"fillDate": "soon", "daysSupply": 30}, 400, f.own, "C Fill"},
			{"plan doses: bad limit", "GET", "/v1/plans/" + f.ownPlan + "/doses?limit=0", "caregiver", nil, 400, f.own, "R DoseInstance"},
			{"plan adherence: bad from", "GET", "/v1/plans/" + f.ownPlan + "/adherence?from=yesterday", "patient", nil, 400, f.own, "R AdherenceReport"},
			{"reminder policy: bad policy", "PUT", "/v1/plans/" + f.ownPlan + "/reminder-policy", "admin", map[string]any{"maxReminders": -1}, 400, f.own, "U MedicationRequest"},
			{"FHIR import: another org's patient", "POST", "/fhir/MedicationRequest", "admin", fhirRequest(f.other, dailyAt8(nil)), 404, f.other, "U Patient"},
			{"FHIR import: dose of 0", "POST", "/fhir/MedicationRequest", "admin", fhirRequest(f.own, dailyAt8(map[string]any{"value": 0})), 400, f.own, "U Patient"},
			{"FHIR search: bad _count", "GET", "/fhir/MedicationRequest?patient=" + f.own + "&_count=many", "admin", nil, 400, f.own, "E MedicationRequest"},
			{"FHIR read: another org's plan", "GET", "/fhir/MedicationRequest/" + f.otherPlan, "admin", nil, 404, "", "R MedicationRequest"},
			{"FHIR administrations: bad date", "GET", "/fhir/MedicationAdministration?patient=" + f.own + "&date=yesterday", "patient", nil, 400, f.own, "E MedicationAdministration"},
			{"escalations: another org's patient", "GET", "/v1/escalations?patient=" + f.other, "admin", nil, 404, f.other, "R Patient"},
			{"FHIR administration read: a dose without an outcome", "GET", notExported, "admin", nil, 404, f.own, "R MedicationAdministration"},
			{"escalations of a patient by the patient", "GET", "/v1/escalations?patient=" + f.own, "patient", nil, 403, f.own, "R Patient"},
			{"escalations of a patient by an integration", "GET", "/v1/escalations?patient=" + f.own, "integration", nil, 403, f.own, "R Patient"},
			{"links by an integration", "GET", "/v1/patients/" + f.own + "/links", "integration", nil, 403, f.own, "R Patient"},
			{"consent by the patient", "POST", "/v1/patients/" + f.own + "/consent", "patient", map[string]any{"channel": "sms", "action": "opt_out"}, 403, f.own, "U Patient"},
			{"pdc by an integration", "GET", "/v1/patients/" + f.own + "/pdc", "integration", nil, 403, f.own, "R Patient"},
			{"FHIR search by an integration", "GET", "/fhir/MedicationRequest?patient=" + f.own, "integration", nil, 403, f.own, "R Patient"},
			{"escalations: bad limit", "GET", "/v1/escalations?patient=" + f.own + "&limit=0", "admin", nil, 400, f.own, "R Escalation"},
		}
		for _, c := range cases {
			res := e.do(c.method, c.path, f.keys[c.role], c.body)
			if res.status != c.status {
				t.Errorf("%s: %s %s by %s = %d, want %d: %.300s", c.name, c.method, c.path, c.role, res.status, c.status, res.body)
				continue
			}
			rows, err := e.db.SQL.Query(`SELECT COALESCE(patient_id, ''), outcome, actor_role, action || ' ' || resource_type FROM audit_log WHERE request_id = $1`, res.header.Get("X-Request-Id"))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for rows.Next() {
				var patient, role, record string
				var outcome int
				if err := rows.Scan(&patient, &outcome, &role, &record); err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprintf("%s by %s on %q, outcome %d", record, role, patient, outcome))
			}
			rows.Close()
			want := fmt.Sprintf("%s by %s on %q, outcome 4", c.record, c.role, c.patient)
			if len(got) != 1 || got[0] != want {
				t.Errorf("%s: %s %s: audit records %q, want [%q]", c.name, c.method, c.path, got, want)
			}
		}
	})
}
