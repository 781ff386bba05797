package api_test

import (
	"strings"
	"testing"
)

// TestTextLimitsCountCharacters: the length limits of free text, which the
// errors state in characters ("must be at most 2000 characters"), count
// characters, not UTF-8 bytes. They counted bytes, so text in Cyrillic,
// Arabic or Chinese (2 or 3 bytes a character) was refused at a half or a
// third of the limit the error stated: instructions of 700 Chinese
// characters were "more than 2000 characters". Each text is tried at its
// limit in a 2-byte script (accepted) and one character over (400 naming
// the field).
func TestTextLimitsCountCharacters(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		member := e.mustDo("POST", "/v1/members", w.admin, map[string]any{"kind": "caregiver", "name": "Bo"}, 201)["id"].(string)
		text := func(n int) string { return strings.Repeat("ж", n) }
		plan := func(field string, v string) map[string]any {
			body := map[string]any{
				"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"},
				"timing":     map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
			}
			if field == "medication.display" {
				body["medication"] = map[string]any{"rxnorm": "314076", "display": v}
			} else {
				body[field] = v
			}
			return body
		}
		fhir := func(display, text, unit string) map[string]any {
			return map[string]any{
				"resourceType": "MedicationRequest", "status": "active", "intent": "order",
				"subject": map[string]any{"reference": "Patient/" + w.patient},
				"medicationCodeableConcept": map[string]any{"coding": []any{map[string]any{
					"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076", "display": display}}},
				"dosageInstruction": []any{map[string]any{
					"text":        text,
					"timing":      map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
					"doseAndRate": []any{map[string]any{"doseQuantity": map[string]any{"value": 1, "unit": unit}}},
				}},
			}
		}
		policy := func(name string) map[string]any {
			return map[string]any{"name": name, "trigger": map[string]any{"kind": "missed_dose"},
				"levels": []any{map[string]any{"afterMinutes": 30, "recipients": "caregivers", "channels": []string{"sms"}}}}
		}
		for _, c := range []struct {
			name, method, path, field string
			body                      func(n int) any
			limit                     int
			okStatus                  int
		}{
			{"givenName", "POST", "/v1/patients", "givenName", func(n int) any { return map[string]any{"givenName": text(n), "timeZone": "UTC"} }, 200, 201},
			{"familyName", "POST", "/v1/patients", "familyName", func(n int) any { return map[string]any{"givenName": "A", "familyName": text(n), "timeZone": "UTC"} }, 200, 201},
			{"display", "POST", "/v1/patients/" + w.patient + "/plans", "medication.display", func(n int) any { return plan("medication.display", text(n)) }, 500, 201},
			{"dose", "POST", "/v1/patients/" + w.patient + "/plans", "dose", func(n int) any { return plan("dose", text(n)) }, 100, 201},
			{"instructions", "POST", "/v1/patients/" + w.patient + "/plans", "instructions", func(n int) any { return plan("instructions", text(n)) }, 2000, 201},
			{"ingredient", "POST", "/v1/patients/" + w.patient + "/plans", "ingredient", func(n int) any { return plan("ingredient", text(n)) }, 200, 201},
			{"drugClass", "POST", "/v1/patients/" + w.patient + "/plans", "drugClass", func(n int) any { return plan("drugClass", text(n)) }, 100, 201},
			{"member name", "POST", "/v1/members", "name", func(n int) any { return map[string]any{"kind": "caregiver", "name": text(n)} }, 200, 201},
			{"relationship", "PUT", "/v1/patients/" + w.patient + "/links/" + member, "relationship", func(n int) any { return map[string]any{"relationship": text(n)} }, 100, 200},
			{"key name", "POST", "/v1/api-keys", "name", func(n int) any { return map[string]any{"role": "integration", "name": text(n)} }, 100, 201},
			{"programName", "PUT", "/v1/settings/messaging", "programName", func(n int) any {
				return map[string]any{"programName": text(n), "reminderPolicy": map[string]any{"validityMinutes": 30, "channels": []string{"sms"}}}
			}, 100, 200},
			{"helpContact", "PUT", "/v1/settings/messaging", "helpContact", func(n int) any {
				return map[string]any{"helpContact": text(n), "reminderPolicy": map[string]any{"validityMinutes": 30, "channels": []string{"sms"}}}
			}, 100, 200},
			{"policy name", "POST", "/v1/escalation-policies", "name", func(n int) any { return policy(text(n)) }, 200, 201},
			{"FHIR display", "POST", "/fhir/MedicationRequest", "medicationCodeableConcept.coding[0].display", func(n int) any { return fhir(text(n), "", "tablet") }, 500, 201},
			{"FHIR text", "POST", "/fhir/MedicationRequest", "dosageInstruction[0].text", func(n int) any { return fhir("lisinopril", text(n), "tablet") }, 2000, 201},
			// The dose is "1 " and the unit: 98 characters of unit make 100.
			{"FHIR dose", "POST", "/fhir/MedicationRequest", "dosageInstruction[0].doseAndRate[0].doseQuantity", func(n int) any { return fhir("lisinopril", "", text(n-2)) }, 100, 201},
		} {
			if r := e.do(c.method, c.path, w.admin, c.body(c.limit)); r.status != c.okStatus {
				t.Errorf("%s of %d characters (%d bytes) = %d %s, want %d", c.name, c.limit, 2*c.limit, r.status, r.body, c.okStatus)
			}
			r := e.do(c.method, c.path, w.admin, c.body(c.limit+1))
			if r.status != 400 || r.json(t)["field"] != c.field {
				t.Errorf("%s of %d characters = %d %s, want 400 naming %s", c.name, c.limit+1, r.status, r.body, c.field)
			}
		}
	})
}
