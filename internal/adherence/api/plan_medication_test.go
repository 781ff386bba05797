package api_test

import (
	"strings"
	"testing"
)

// TestPatchPlanCannotChangeTheDrug: PATCH /v1/plans/{id} with another
// medication.rxnorm is a 400 naming the field (not the drug), and the plan keeps its drug; the
// drug's name may be corrected. The drug was replaced: the plan's past
// doses were then exported as administrations of the new drug, and its
// fills counted under it.
func TestPatchPlanCannotChangeTheDrug(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Drug Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "UTC"}, 201)
		plan := e.mustDo("POST", "/v1/patients/"+p["id"].(string)+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril 10 MG Oral Tablet"},
			"timing":     map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
		}, 201)
		planID := plan["id"].(string)
		r := e.do("PATCH", "/v1/plans/"+planID, admin, map[string]any{
			"medication": map[string]any{"rxnorm": "979480", "display": "losartan 50 MG Oral Tablet"}})
		// The plan's drug is not quoted: no error message carries PHI (QA).
		if r.status != 400 || r.json(t)["field"] != "medication.rxnorm" || strings.Contains(string(r.body), "314076") || strings.Contains(string(r.body), "979480") {
			t.Errorf("PATCH to another drug = %d %s, want 400 naming medication.rxnorm, and neither drug", r.status, r.body)
		}
		got := e.mustDo("GET", "/v1/plans/"+planID, admin, nil, 200)
		if m := got["medication"].(map[string]any); m["rxnorm"] != "314076" || m["display"] != "lisinopril 10 MG Oral Tablet" {
			t.Errorf("after the refused PATCH the plan's medication is %v", m)
		}
		got = e.mustDo("PATCH", "/v1/plans/"+planID, admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "Lisinopril 10 mg tablet"}}, 200)
		if m := got["medication"].(map[string]any); m["display"] != "Lisinopril 10 mg tablet" {
			t.Errorf("PATCH of the drug's name: medication = %v", m)
		}
	})
}
