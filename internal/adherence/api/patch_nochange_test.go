package api_test

import (
	"testing"
)

// TestPatchWithoutChangeKeepsVersion: a PATCH of a patient or a plan that
// changes nothing (an empty body, or the values already stored) keeps the
// version, so that a client holding it gets no 409 for a change nobody
// made, and is still audited as the attempted change it is; a PATCH that
// changes something bumps it.
func TestPatchWithoutChangeKeepsVersion(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("No Change Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York",
			"phone": "+15551230001", "smsConsent": true}, 201)
		pid := p["id"].(string)
		plan := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril 10 MG Oral Tablet"}, "dose": "1 tablet",
			"timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}}}, 201)
		planID := plan["id"].(string)

		audited := func(resource, id string) int {
			t.Helper()
			var n int
			if err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'U' AND outcome = 0
				AND resource_type = $1 AND resource_id = $2`, resource, id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		cases := []struct {
			path, resource, id string
			body               map[string]any
			version            float64
		}{
			{"/v1/patients/" + pid, "Patient", pid, map[string]any{}, p["version"].(float64)},
			{"/v1/patients/" + pid, "Patient", pid, map[string]any{"givenName": "Ana", "phone": "+15551230001",
				"version": p["version"]}, p["version"].(float64)},
			{"/v1/plans/" + planID, "MedicationRequest", planID, map[string]any{}, plan["version"].(float64)},
			{"/v1/plans/" + planID, "MedicationRequest", planID, map[string]any{"dose": "1 tablet",
				"version": plan["version"]}, plan["version"].(float64)},
		}
		for _, c := range cases {
			before := audited(c.resource, c.id)
			got := e.mustDo("PATCH", c.path, admin, c.body, 200)
			if got["version"] != c.version {
				t.Errorf("PATCH %s %v changing nothing: version %v, want %v", c.path, c.body, got["version"], c.version)
			}
			if n := audited(c.resource, c.id); n != before+1 {
				t.Errorf("PATCH %s %v changing nothing: %d U records written, want 1", c.path, c.body, n-before)
			}
		}
		if got := e.mustDo("GET", "/v1/patients/"+pid, admin, nil, 200); got["version"] != p["version"] || got["updatedAt"] != p["updatedAt"] {
			t.Errorf("patient after PATCHes changing nothing: version %v updatedAt %v, want %v %v", got["version"], got["updatedAt"], p["version"], p["updatedAt"])
		}
		got := e.mustDo("PATCH", "/v1/patients/"+pid, admin, map[string]any{"familyName": "Diaz", "version": p["version"]}, 200)
		if got["version"] != p["version"].(float64)+1 {
			t.Errorf("PATCH changing familyName: version %v, want %v", got["version"], p["version"].(float64)+1)
		}
		got = e.mustDo("PATCH", "/v1/plans/"+planID, admin, map[string]any{"dose": "2 tablets", "version": plan["version"]}, 200)
		if got["version"] != plan["version"].(float64)+1 {
			t.Errorf("PATCH changing dose: version %v, want %v", got["version"], plan["version"].(float64)+1)
		}
	})
}
