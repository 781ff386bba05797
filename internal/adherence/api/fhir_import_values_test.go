package api_test

import (
	"strings"
	"testing"
)

// TestFHIRImportValidatesPlanValues: a MedicationRequest import is held to
// the rules of POST /v1/patients/{id}/plans (an RxNorm code of digits, a
// drug name of at most 500 characters, instructions of at most 2000, a
// dose of at most 100), with errors naming the FHIR element. The import
// stored a code "abc" and texts of any length. (A coding without display
// stays valid FHIR and is still imported.)
func TestFHIRImportValidatesPlanValues(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("FHIR Values Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)
		pid := p["id"].(string)
		mr := func(code, display, text, instr, unit string) map[string]any {
			d := map[string]any{"text": instr, "timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}}}
			if unit != "" {
				d["doseAndRate"] = []any{map[string]any{"doseQuantity": map[string]any{"value": 1, "unit": unit}}}
			}
			return map[string]any{
				"resourceType": "MedicationRequest", "status": "active", "intent": "order",
				"subject": map[string]any{"reference": "Patient/" + pid},
				"medicationCodeableConcept": map[string]any{"text": text, "coding": []any{
					map[string]any{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": code, "display": display}}},
				"dosageInstruction": []any{d},
			}
		}
		cases := []struct {
			name  string
			body  map[string]any
			field string
		}{
			{"code not digits", mr("abc", "lisinopril", "", "", ""), "medicationCodeableConcept.coding"},
			{"drug name over 500", mr("314076", strings.Repeat("a", 501), "", "", ""), "medicationCodeableConcept.coding"},
			{"instructions over 2000", mr("314076", "lisinopril", "", strings.Repeat("a", 2001), ""), "dosageInstruction[0].text"},
			{"dose over 100", mr("314076", "lisinopril", "", "", strings.Repeat("a", 100)), "dosageInstruction[0].doseAndRate[0].doseQuantity"},
		}
		for _, c := range cases {
			r := e.do("POST", "/fhir/MedicationRequest", admin, c.body)
			if r.status != 400 || r.json(t)["field"] != c.field {
				t.Errorf("%s: %d %.300s, want 400 naming %s", c.name, r.status, r.body, c.field)
			}
		}
		got := e.mustDo("GET", "/v1/patients/"+pid+"/plans", admin, nil, 200)
		if n := len(got["plans"].([]any)); n != 0 {
			t.Errorf("plans stored = %d, want 0", n)
		}
		// The text stands for a missing display, and the name is trimmed.
		e.mustDo("POST", "/fhir/MedicationRequest", admin, mr("314076", "", " lisinopril 10 MG ", "with water", "tablet"), 201)
		got = e.mustDo("GET", "/v1/patients/"+pid+"/plans", admin, nil, 200)
		plan := got["plans"].([]any)[0].(map[string]any)
		if d := plan["medication"].(map[string]any)["display"]; d != "lisinopril 10 MG" {
			t.Errorf("display = %q, want the trimmed text", d)
		}
	})
}

// TestFHIRImportDoseQuantityNeedsValue: a doseQuantity states the amount
// of one dose. FHIR lets its value be absent, and the import stored such a
// dose as "0 tablet" and exported it with value 0, an amount nobody gave;
// a value of 0 or less is no dose either. Both are a 400 naming the value,
// and nothing is stored.
func TestFHIRImportDoseQuantityNeedsValue(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("FHIR Dose Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)
		pid := p["id"].(string)
		mr := func(quantity map[string]any) map[string]any {
			return map[string]any{
				"resourceType": "MedicationRequest", "status": "active", "intent": "order",
				"subject": map[string]any{"reference": "Patient/" + pid},
				"medicationCodeableConcept": map[string]any{"coding": []any{
					map[string]any{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076", "display": "lisinopril"}}},
				"dosageInstruction": []any{map[string]any{
					"timing":      map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
					"doseAndRate": []any{map[string]any{"doseQuantity": quantity}},
				}},
			}
		}
		const field = "dosageInstruction[0].doseAndRate[0].doseQuantity.value"
		for _, q := range []map[string]any{{"unit": "tablet"}, {"value": 0, "unit": "tablet"}, {"value": -1, "unit": "tablet"}} {
			r := e.do("POST", "/fhir/MedicationRequest", admin, mr(q))
			if r.status != 400 || r.json(t)["field"] != field {
				t.Errorf("doseQuantity %v: %d %.300s, want 400 naming %s", q, r.status, r.body, field)
			}
		}
		got := e.mustDo("GET", "/v1/patients/"+pid+"/plans", admin, nil, 200)
		if n := len(got["plans"].([]any)); n != 0 {
			t.Fatalf("plans stored = %d, want 0", n)
		}
		created := e.mustDo("POST", "/fhir/MedicationRequest", admin, mr(map[string]any{"value": 0.5, "unit": "tablet"}), 201)
		q := created["dosageInstruction"].([]any)[0].(map[string]any)["doseAndRate"].([]any)[0].(map[string]any)["doseQuantity"].(map[string]any)
		if q["value"] != 0.5 || q["unit"] != "tablet" {
			t.Errorf("exported doseQuantity = %v, want 0.5 tablet", q)
		}
	})
}

// TestFHIRImportCodedUnits: FHIR quantities carry their unit coded as well
// (system and code; FHIR's own MedicationRequest examples write
// expectedSupplyDuration as 30 days, UCUM code d). The import refused
// them as "unknown field", so a MedicationRequest written as FHIR
// recommends could not be imported. A supply coded in another unit than
// days is a 400 naming the code.
func TestFHIRImportCodedUnits(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("FHIR Units Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)
		pid := p["id"].(string)
		mr := func(dose, supply map[string]any) map[string]any {
			return map[string]any{
				"resourceType": "MedicationRequest", "status": "active", "intent": "order",
				"subject": map[string]any{"reference": "Patient/" + pid},
				"medicationCodeableConcept": map[string]any{"coding": []any{
					map[string]any{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076", "display": "lisinopril"}}},
				"dosageInstruction": []any{map[string]any{
					"timing":      map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
					"doseAndRate": []any{map[string]any{"doseQuantity": dose}},
				}},
				"dispenseRequest": map[string]any{"expectedSupplyDuration": supply},
			}
		}
		const ucum = "http://unitsofmeasure.org"
		r := e.do("POST", "/fhir/MedicationRequest", admin,
			mr(map[string]any{"value": 10, "system": ucum, "code": "mg"}, map[string]any{"value": 30, "unit": "days", "system": ucum, "code": "wk"}))
		if r.status != 400 || r.json(t)["field"] != "dispenseRequest.expectedSupplyDuration.code" {
			t.Errorf("supply coded in weeks: %d %.300s, want 400 naming dispenseRequest.expectedSupplyDuration.code", r.status, r.body)
		}
		e.mustDo("POST", "/fhir/MedicationRequest", admin,
			mr(map[string]any{"value": 10, "system": ucum, "code": "mg"}, map[string]any{"value": 30, "unit": "days", "system": ucum, "code": "d"}), 201)
		got := e.mustDo("GET", "/v1/patients/"+pid+"/plans", admin, nil, 200)
		plans := got["plans"].([]any)
		if len(plans) != 1 {
			t.Fatalf("plans stored = %d, want 1", len(plans))
		}
		plan := plans[0].(map[string]any)
		if plan["dose"] != "10 mg" || plan["daysSupply"] != float64(30) {
			t.Errorf("dose %v, daysSupply %v; want 10 mg and 30", plan["dose"], plan["daysSupply"])
		}
	})
}
