package api_test

import (
	"strings"
	"testing"
)

// TestInvisibleTextsRefused: a drug's display name, a dose, a link's
// relationship and a template body of invisible characters only (a
// zero-width space) are refused, naming the field, as every name of the
// API is; they were stored and shown as nothing (QA).
func TestInvisibleTextsRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Invisible Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "UTC"}, 201)["id"].(string)
		member := e.mustDo("POST", "/v1/members", admin, map[string]any{"kind": "caregiver", "name": "Cara"}, 201)["id"].(string)
		timing := map[string]any{"repeat": map[string]any{"timeOfDay": []string{"10:00:00"}}}
		for _, c := range []struct {
			method, path string
			body         any
			field        string
		}{
			{"POST", "/v1/patients/" + pid + "/plans", map[string]any{"medication": map[string]any{"rxnorm": "1", "display": "\u200b"}, "dose": "1 tab", "timing": timing}, "medication.display"},
			{"POST", "/v1/patients/" + pid + "/plans", map[string]any{"medication": map[string]any{"rxnorm": "1", "display": "aspirin"}, "dose": "\u200b\u2060", "timing": timing}, "dose"},
			{"PUT", "/v1/patients/" + pid + "/links/" + member, map[string]any{"relationship": "\u200b"}, "relationship"},
			{"PUT", "/v1/templates/reminder/en/sms", map[string]any{"body": "\u200b"}, "body"},
		} {
			r := e.do(c.method, c.path, admin, c.body)
			if r.status != 400 || r.json(t)["field"] != c.field {
				t.Errorf("%s %s = %d %s, want 400 naming %s", c.method, c.path, r.status, r.body, c.field)
			}
		}
		fhir := map[string]any{"resourceType": "MedicationRequest", "status": "active", "intent": "order",
			"subject":                   map[string]any{"reference": "Patient/" + pid},
			"medicationCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076", "display": "\u200b"}}},
			"dosageInstruction":         []any{map[string]any{"timing": timing}}}
		if r := e.do("POST", "/fhir/MedicationRequest", admin, fhir); r.status != 400 || r.json(t)["field"] != "medicationCodeableConcept.coding[0].display" {
			t.Errorf("FHIR import with an invisible display = %d %s, want 400 naming medicationCodeableConcept.coding[0].display", r.status, r.body)
		}
		// Without a display the drug name is the concept's text, and the
		// refusal names that (it named the coding, which was fine).
		fhir["medicationCodeableConcept"] = map[string]any{"text": "​", "coding": []any{map[string]any{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076"}}}
		if r := e.do("POST", "/fhir/MedicationRequest", admin, fhir); r.status != 400 || r.json(t)["field"] != "medicationCodeableConcept.text" {
			t.Errorf("FHIR import with an invisible text = %d %s, want 400 naming medicationCodeableConcept.text", r.status, r.body)
		}
		if plans := e.mustDo("GET", "/v1/patients/"+pid+"/plans", admin, nil, 200)["plans"].([]any); len(plans) != 0 {
			t.Errorf("plans stored despite the refusals: %v", plans)
		}
		// A right-to-left override is refused as a control character,
		// and the message says so (it spoke of line breaks and tabs only).
		if r := e.do("POST", "/v1/patients", admin, map[string]any{"givenName": "A\u202eB", "timeZone": "UTC"}); r.status != 400 ||
			!strings.Contains(r.json(t)["detail"].(string), "text-direction overrides") {
			t.Errorf("a name with U+202E = %d %s, want 400 naming text-direction overrides", r.status, r.body)
		}
		// A dose left empty is still fine: it is optional.
		e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{"medication": map[string]any{"rxnorm": "1", "display": "aspirin"}, "dose": "", "timing": timing}, 201)
	})
}
