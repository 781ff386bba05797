package api_test

import (
	"testing"
)

// TestPatchNullRemovesOrIsRefused: a null member of a PATCH body is not a
// member left out. It removes an optional field's value, as its empty
// value does (a null phone of a consenting patient needs smsConsent false
// with it, as "" does), and is a 400 naming a field that must have a
// value; a refused PATCH changes nothing, not even the version.
func TestPatchNullRemovesOrIsRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Null Patch Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "familyName": "Diaz",
			"timeZone": "America/New_York", "phone": "+15551230001", "smsConsent": true, "email": "ana@example.org",
			"quietHours": map[string]any{"start": "22:00", "end": "07:00"}}, 201)
		pid := p["id"].(string)
		path := "/v1/patients/" + pid

		for _, field := range []string{"phone", "givenName", "timeZone", "language", "anchors", "smsConsent", "shareMedicationWithCaregivers", "version"} {
			r := e.do("PATCH", path, admin, map[string]any{field: nil})
			if r.status != 400 || r.json(t)["field"] != field {
				t.Errorf(`PATCH {%q:null} = %d %s, want 400 naming %s`, field, r.status, r.body, field)
			}
		}
		got := e.mustDo("GET", path, admin, nil, 200)
		if got["phone"] != "+15551230001" || got["smsConsent"] != true || got["version"] != p["version"] {
			t.Errorf("refused PATCHes changed the patient: %v", got)
		}

		got = e.mustDo("PATCH", path, admin, map[string]any{"phone": nil, "smsConsent": false, "familyName": nil,
			"email": nil, "quietHours": nil}, 200)
		for _, f := range []string{"phone", "familyName", "email", "quietHours"} {
			if _, ok := got[f]; ok {
				t.Errorf("PATCH {%q:null} kept it: %v", f, got)
			}
		}
		if got["smsConsent"] != false {
			t.Errorf("smsConsent = %v, want false", got["smsConsent"])
		}

		plan := e.mustDo("POST", path+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril 10 MG Oral Tablet"},
			"dose":       "1 tablet", "instructions": "with water", "daysSupply": 30,
			"timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}}}, 201)
		planPath := "/v1/plans/" + plan["id"].(string)
		for _, field := range []string{"medication", "startAt", "asNeeded", "version"} {
			r := e.do("PATCH", planPath, admin, map[string]any{field: nil})
			if r.status != 400 || r.json(t)["field"] != field {
				t.Errorf(`PATCH plan {%q:null} = %d %s, want 400 naming %s`, field, r.status, r.body, field)
			}
		}
		if r := e.do("PATCH", planPath, admin, map[string]any{"timing": nil}); r.status != 400 || r.json(t)["field"] != "timing.repeat" {
			t.Errorf(`PATCH plan {"timing":null} of a scheduled plan = %d %s, want 400 naming timing.repeat`, r.status, r.body)
		}
		got = e.mustDo("PATCH", planPath, admin, map[string]any{"dose": nil, "instructions": nil, "daysSupply": nil}, 200)
		for _, f := range []string{"dose", "instructions", "daysSupply"} {
			if _, ok := got[f]; ok {
				t.Errorf("PATCH plan {%q:null} kept it: %v", f, got)
			}
		}
		got = e.mustDo("PATCH", planPath, admin, map[string]any{"asNeeded": true, "timing": nil}, 200)
		if timing, _ := got["timing"].(map[string]any); len(timing) != 0 {
			t.Errorf(`PATCH plan {"asNeeded":true,"timing":null} kept the timing: %v`, got["timing"])
		}
	})
}
