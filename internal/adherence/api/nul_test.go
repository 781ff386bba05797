package api_test

import (
	"testing"
)

// TestNULInTextIsRefused: a string holding U+0000 (JSON \u0000) in a body
// is a 400 naming the field on both engines, and nothing is stored.
// PostgreSQL text cannot hold the character, so such a patient, plan, link,
// member or key name was a 500 there, while SQLite stored it.
func TestNULInTextIsRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("NUL Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)
		pid := p["id"].(string)
		plan := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"},
			"timing":     map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
		}, 201)
		planID := plan["id"].(string)
		m := e.mustDo("POST", "/v1/members", admin, map[string]any{"kind": "caregiver", "name": "Bob"}, 201)
		mid := m["id"].(string)
		cases := []struct {
			method, path string
			body         any
			field        string
		}{
			{"POST", "/v1/patients", map[string]any{"givenName": "A\u0000B", "timeZone": "UTC"}, "givenName"},
			{"POST", "/v1/patients", map[string]any{"givenName": "A", "email": "a\u0000@b.co", "timeZone": "UTC"}, "email"},
			{"PATCH", "/v1/patients/" + pid, map[string]any{"familyName": "B\u0000"}, "familyName"},
			{"PATCH", "/v1/plans/" + planID, map[string]any{"medication": map[string]any{"rxnorm": "1", "display": "x\u0000"}}, "medication.display"},
			{"PATCH", "/v1/plans/" + planID, map[string]any{"instructions": "x\u0000"}, "instructions"},
			{"PUT", "/v1/patients/" + pid + "/links/" + mid, map[string]any{"relationship": "x\u0000"}, "relationship"},
			{"POST", "/v1/members", map[string]any{"kind": "caregiver", "name": "x\u0000"}, "name"},
			{"POST", "/v1/api-keys", map[string]any{"role": "integration", "name": "x\u0000"}, "name"},
		}
		for _, c := range cases {
			r := e.do(c.method, c.path, admin, c.body)
			if r.status != 400 || r.json(t)["field"] != c.field {
				t.Errorf("%s %s %v = %d %s, want 400 naming %s", c.method, c.path, c.body, r.status, r.body, c.field)
			}
		}
		var n int
		if err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM patients`).Scan(&n); err != nil || n != 1 {
			t.Errorf("patients stored = %d (%v), want 1", n, err)
		}
		got := e.mustDo("GET", "/v1/plans/"+planID, admin, nil, 200)
		if got["version"] != 1.0 {
			t.Errorf("a refused PATCH changed the plan: %v", got)
		}
	})
}
