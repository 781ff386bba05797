package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fhirRequest is an active MedicationRequest of lisinopril for patient
// pid with the one dosage instruction given; tests change what they test.
func fhirRequest(pid string, dosage map[string]any) map[string]any {
	return map[string]any{
		"resourceType": "MedicationRequest", "status": "active", "intent": "order",
		"subject": map[string]any{"reference": "Patient/" + pid},
		"medicationCodeableConcept": map[string]any{"coding": []any{
			map[string]any{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076", "display": "lisinopril"}}},
		"dosageInstruction": []any{dosage},
	}
}

// dailyAt8 is a dosage instruction taken at 08:00, with doseAndRate when
// dose is not nil.
func dailyAt8(dose map[string]any) map[string]any {
	d := map[string]any{"timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}}}
	if dose != nil {
		d["doseAndRate"] = []any{map[string]any{"doseQuantity": dose}}
	}
	return d
}

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
			var dose map[string]any
			if unit != "" {
				dose = map[string]any{"value": 1, "unit": unit}
			}
			d := dailyAt8(dose)
			d["text"] = instr
			r := fhirRequest(pid, d)
			r["medicationCodeableConcept"] = map[string]any{"text": text, "coding": []any{
				map[string]any{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": code, "display": display}}}
			return r
		}
		cases := []struct {
			name  string
			body  map[string]any
			field string
		}{
			{"code not digits", mr("abc", "lisinopril", "", "", ""), "medicationCodeableConcept.coding[0].code"},
			{"drug name over 500", mr("314076", strings.Repeat("a", 501), "", "", ""), "medicationCodeableConcept.coding[0].display"},
			{"text over 500 without a display", mr("314076", "", strings.Repeat("a", 501), "", ""), "medicationCodeableConcept.text"},
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
		mr := func(quantity map[string]any) map[string]any { return fhirRequest(pid, dailyAt8(quantity)) }
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
			r := fhirRequest(pid, dailyAt8(dose))
			r["dispenseRequest"] = map[string]any{"expectedSupplyDuration": supply}
			return r
		}
		const ucum = "http://unitsofmeasure.org"
		r := e.do("POST", "/fhir/MedicationRequest", admin,
			mr(map[string]any{"value": 10, "system": ucum, "code": "mg"}, map[string]any{"value": 30, "unit": "days", "system": ucum, "code": "wk"}))
		if r.status != 400 || r.json(t)["field"] != "dispenseRequest.expectedSupplyDuration.code" {
			t.Errorf("supply coded in weeks: %d %.300s, want 400 naming dispenseRequest.expectedSupplyDuration.code", r.status, r.body)
		}
		// Written in weeks too: still the code that is named.
		r = e.do("POST", "/fhir/MedicationRequest", admin,
			mr(map[string]any{"value": 10, "system": ucum, "code": "mg"}, map[string]any{"value": 30, "unit": "wk", "system": ucum, "code": "wk"}))
		if r.status != 400 || r.json(t)["field"] != "dispenseRequest.expectedSupplyDuration.code" {
			t.Errorf("supply coded and written in weeks: %d %.300s, want 400 naming dispenseRequest.expectedSupplyDuration.code", r.status, r.body)
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

// TestFHIRImportEHRElements: a MedicationRequest as EHRs write it (with
// R4 elements a plan has no place for: text, extension, category,
// requester, reasonCode, dosage sequence and route, refills,
// substitution) imports, its extra elements ignored; a misspelt
// element, a modifier extension, doNotPerform and a medicationReference
// without a code are refused, naming the element; asNeededCodeableConcept
// makes the plan as needed.
func TestFHIRImportEHRElements(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("FHIR EHR Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)
		pid := p["id"].(string)
		rxnorm := map[string]any{"coding": []any{map[string]any{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
			"version": "2024-01", "code": "314076", "display": "lisinopril", "userSelected": true}}}
		ehr := func(edit func(mr, dosage map[string]any)) map[string]any {
			dosage := map[string]any{
				"sequence": 1, "text": "one tablet every morning",
				"additionalInstruction": []any{map[string]any{"text": "with water"}},
				"timing":                map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
				"route":                 map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": "26643006", "display": "Oral route"}}},
				"doseAndRate": []any{map[string]any{
					"type":         map[string]any{"coding": []any{map[string]any{"code": "ordered"}}},
					"doseQuantity": map[string]any{"value": 1, "unit": "tablet"}}},
				"maxDosePerPeriod": map[string]any{"numerator": map[string]any{"value": 1}, "denominator": map[string]any{"value": 1, "unit": "d"}},
			}
			mr := map[string]any{
				"resourceType": "MedicationRequest", "id": "medrx0302", "status": "active", "intent": "order",
				"meta":                      map[string]any{"profile": []string{"http://hl7.org/fhir/us/core/StructureDefinition/us-core-medicationrequest"}},
				"text":                      map[string]any{"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">lisinopril</div>"},
				"extension":                 []any{map[string]any{"url": "http://example.org/ext", "valueString": "x"}},
				"identifier":                []any{map[string]any{"use": "official", "system": "http://www.bmc.nl/portal/prescriptions", "value": "12345689"}},
				"category":                  []any{map[string]any{"coding": []any{map[string]any{"code": "outpatient"}}}},
				"priority":                  "routine",
				"medicationCodeableConcept": rxnorm,
				"subject":                   map[string]any{"reference": "Patient/" + pid, "display": "Ana"},
				"encounter":                 map[string]any{"reference": "Encounter/f001"},
				"authoredOn":                "2026-01-15",
				"requester":                 map[string]any{"reference": "Practitioner/f007", "display": "Dr. Hall"},
				"recorder":                  map[string]any{"reference": "Practitioner/f007"},
				"reasonCode":                []any{map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": "38341003"}}}},
				"courseOfTherapyType":       map[string]any{"coding": []any{map[string]any{"code": "continuous"}}},
				"note":                      []any{map[string]any{"text": "check blood pressure", "authorString": "Dr. Hall"}},
				"dosageInstruction":         []any{dosage},
				"dispenseRequest": map[string]any{
					"validityPeriod":         map[string]any{"start": "2026-01-15", "end": "2027-01-15"},
					"numberOfRepeatsAllowed": 3,
					"quantity":               map[string]any{"value": 30, "unit": "tablet"},
					"expectedSupplyDuration": map[string]any{"value": 30, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"},
				},
				"substitution": map[string]any{"allowedBoolean": true},
			}
			if edit != nil {
				edit(mr, dosage)
			}
			return mr
		}
		created := e.mustDo("POST", "/fhir/MedicationRequest", admin, ehr(nil), 201)
		if created["status"] != "active" {
			t.Errorf("imported request: %v", created)
		}
		plans := e.mustDo("GET", "/v1/patients/"+pid+"/plans", admin, nil, 200)["plans"].([]any)
		if len(plans) != 1 {
			t.Fatalf("plans stored = %d, want 1", len(plans))
		}
		if pl := plans[0].(map[string]any); pl["dose"] != "1 tablet" || pl["daysSupply"] != float64(30) || pl["asNeeded"] == true {
			t.Errorf("imported plan: dose %v, daysSupply %v, asNeeded %v; want 1 tablet, 30, scheduled", pl["dose"], pl["daysSupply"], pl["asNeeded"])
		}

		refused := []struct {
			name, field string
			edit        func(mr, dosage map[string]any)
		}{
			{"misspelt element", "requestor", func(mr, _ map[string]any) { mr["requestor"] = mr["requester"] }},
			{"modifier extension", "modifierExtension", func(mr, _ map[string]any) {
				mr["modifierExtension"] = []any{map[string]any{"url": "http://example.org/m", "valueBoolean": true}}
			}},
			{"do not perform", "doNotPerform", func(mr, _ map[string]any) { mr["doNotPerform"] = true }},
			{"medication reference", "medicationReference", func(mr, _ map[string]any) {
				delete(mr, "medicationCodeableConcept")
				mr["medicationReference"] = map[string]any{"reference": "#med0309"}
			}},
			{"as needed twice", "dosageInstruction[0].asNeededCodeableConcept", func(_, d map[string]any) {
				d["asNeededBoolean"] = true
				d["asNeededCodeableConcept"] = map[string]any{"text": "pain"}
			}},
		}
		for _, c := range refused {
			r := e.do("POST", "/fhir/MedicationRequest", admin, ehr(c.edit))
			if r.status != 400 || r.json(t)["field"] != c.field {
				t.Errorf("%s: %d %.300s, want 400 naming %s", c.name, r.status, r.body, c.field)
			}
		}
		if n := len(e.mustDo("GET", "/v1/patients/"+pid+"/plans", admin, nil, 200)["plans"].([]any)); n != 1 {
			t.Errorf("plans after the refused imports = %d, want still 1", n)
		}

		prn := ehr(func(_, d map[string]any) {
			delete(d, "timing")
			d["asNeededCodeableConcept"] = map[string]any{"text": "headache"}
		})
		e.mustDo("POST", "/fhir/MedicationRequest", admin, prn, 201)
		plans = e.mustDo("GET", "/v1/patients/"+pid+"/plans", admin, nil, 200)["plans"].([]any)
		asNeeded := 0
		for _, pl := range plans {
			if pl.(map[string]any)["asNeeded"] == true {
				asNeeded++
			}
		}
		if len(plans) != 2 || asNeeded != 1 {
			t.Errorf("after the as-needed import: %d plans, %d as needed; want 2 and 1", len(plans), asNeeded)
		}
	})
}

// TestFHIRExportPlanPeriod: a plan's startAt and endAt are exported as the
// timing's boundsPeriod (end: the last second before endAt, which is
// exclusive), so that an EHR reading the export sees when the plan ends;
// they were left out, and a plan that had ended read as one that goes on.
// A timing with a boundsPeriod of its own exports it unchanged, and the
// export imports back into a plan that ends where the first one did.
func TestFHIRExportPlanPeriod(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("FHIR Period Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "UTC"}, 201)["id"].(string)
		start := e.now.Add(48 * time.Hour).Truncate(24 * time.Hour)
		end := start.Add(72 * time.Hour)
		plan := func(timing map[string]any) string {
			return e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
				"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"}, "dose": "1 tablet",
				"timing": timing, "startAt": start.Format(time.RFC3339), "endAt": end.Format(time.RFC3339)}, 201)["id"].(string)
		}
		bounds := func(id string) map[string]any {
			res := e.mustDo("GET", "/fhir/MedicationRequest/"+id, admin, nil, 200)
			rep := res["dosageInstruction"].([]any)[0].(map[string]any)["timing"].(map[string]any)["repeat"].(map[string]any)
			b, _ := rep["boundsPeriod"].(map[string]any)
			return b
		}
		daily := plan(map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}})
		b := bounds(daily)
		if b["start"] != start.Format(time.RFC3339) || b["end"] != end.Add(-time.Second).Format(time.RFC3339) {
			t.Fatalf("boundsPeriod = %v, want %s to %s", b, start.Format(time.RFC3339), end.Add(-time.Second).Format(time.RFC3339))
		}
		own := plan(map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"},
			"boundsPeriod": map[string]any{"start": start.Format("2006-01-02")}}})
		if b := bounds(own); b["start"] != start.Format("2006-01-02") || b["end"] != nil {
			t.Errorf("the timing's own boundsPeriod exported as %v", b)
		}

		// The export imports back into a plan with the same three doses.
		res := e.mustDo("GET", "/fhir/MedicationRequest/"+daily, admin, nil, 200)
		delete(res, "id")
		delete(res, "meta")
		back := e.mustDo("POST", "/fhir/MedicationRequest", admin, res, 201)["id"].(string)
		for _, id := range []string{daily, back} {
			doses := e.mustDo("GET", "/v1/plans/"+id+"/doses", admin, nil, 200)["doses"].([]any)
			if len(doses) != 3 {
				t.Errorf("plan %s: %d doses, want 3 (08:00 on the three days before endAt)", id, len(doses))
			}
		}
	})
}

// TestTimingElementIDsAndExtensions creates a plan through the plans API
// and through the FHIR import with a timing that carries element ids,
// extensions and a coding with version and userSelected: valid FHIR,
// accepted and kept as given. Both refused them as unknown fields. A
// modifierExtension, which may change what the timing means, is still
// refused by both.
func TestTimingElementIDsAndExtensions(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("FHIR Timing Elements Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)["id"].(string)
		ext := []any{map[string]any{"url": "http://example.org/fhir/StructureDefinition/timing-note", "valueString": "with food"}}
		timing := map[string]any{
			"id": "timing-1", "extension": ext,
			"repeat": map[string]any{"id": "repeat-1", "extension": ext, "timeOfDay": []any{"08:00:00"},
				"boundsPeriod": map[string]any{"id": "bounds-1", "start": "2026-03-01"}},
			"code": map[string]any{"id": "code-1", "coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation",
				"version": "2.0.0", "code": "QD", "userSelected": true}}},
		}
		plan := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"}, "timing": timing}, 201)
		imported := e.mustDo("POST", "/fhir/MedicationRequest", admin, fhirRequest(pid, map[string]any{"timing": timing}), 201)
		got := imported["dosageInstruction"].([]any)[0].(map[string]any)["timing"]
		for name, v := range map[string]any{"plans API": plan["timing"], "FHIR import": got} {
			if diff := cmp.Diff(timing, v); diff != "" {
				t.Errorf("%s: timing not kept as given (-sent +got):\n%s", name, diff)
			}
		}

		modifier := map[string]any{"modifierExtension": ext, "repeat": map[string]any{"timeOfDay": []any{"08:00:00"}}}
		r := e.do("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"}, "timing": modifier})
		if r.status != 400 || !strings.Contains(string(r.body), "timing.modifierExtension") {
			t.Errorf("plans API with modifierExtension = %d %s, want 400 naming timing.modifierExtension", r.status, r.body)
		}
		r = e.do("POST", "/fhir/MedicationRequest", admin, fhirRequest(pid, map[string]any{"timing": modifier}))
		if r.status != 400 || !strings.Contains(string(r.body), "dosageInstruction[0].timing.modifierExtension") {
			t.Errorf("FHIR import with modifierExtension = %d %s, want 400 naming dosageInstruction[0].timing.modifierExtension", r.status, r.body)
		}
	})
}

// TestFHIRImportEndedBoundsNamesTheElement: a MedicationRequest whose
// timing's boundsPeriod.end is already past is a 400 naming the element of
// the resource, dosageInstruction[0].timing.repeat.boundsPeriod.end. It
// named the plan's field, timing.repeat.boundsPeriod.end, which a
// MedicationRequest does not have.
func TestFHIRImportEndedBoundsNamesTheElement(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("FHIR Ended Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "UTC"}, 201)["id"].(string)
		r := e.do("POST", "/fhir/MedicationRequest", admin, fhirRequest(pid, map[string]any{"timing": map[string]any{"repeat": map[string]any{
			"timeOfDay": []string{"08:00:00"}, "boundsPeriod": map[string]any{"start": "2026-01-01", "end": "2026-02-01"}}}}))
		if want := "dosageInstruction[0].timing.repeat.boundsPeriod.end"; r.status != 400 || r.json(t)["field"] != want {
			t.Errorf("import of an ended timing = %d %s, want 400 naming %s", r.status, r.body, want)
		}
	})
}

// TestFHIRImportNamesAreCaseSensitive: FHIR JSON element names are
// case-sensitive (docs/api.md), so an element written in another case is
// not that element: it is a 400 naming it, where encoding/json read
// "Status" as status and a dosage's "timinG" as its timing.
func TestFHIRImportNamesAreCaseSensitive(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("FHIR Case Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)
		pid := p["id"].(string)
		cases := []struct {
			name  string
			edit  func(r map[string]any)
			field string
		}{
			{"resource element", func(r map[string]any) { r["Status"] = r["status"]; delete(r, "status") }, "Status"},
			{"nested element", func(r map[string]any) {
				r["subject"] = map[string]any{"Reference": "Patient/" + pid}
			}, "subject.Reference"},
			{"coding element", func(r map[string]any) {
				r["medicationCodeableConcept"] = map[string]any{"Coding": []any{map[string]any{"code": "314076"}}}
			}, "medicationCodeableConcept.Coding"},
			{"dosage element", func(r map[string]any) {
				r["dosageInstruction"] = []any{map[string]any{"timinG": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}}}}
			}, "dosageInstruction[0].timinG"},
			{"ignored element", func(r map[string]any) { r["Encounter"] = map[string]any{"reference": "Encounter/1"} }, "Encounter"},
		}
		for _, c := range cases {
			body := fhirRequest(pid, dailyAt8(nil))
			c.edit(body)
			r := e.do("POST", "/fhir/MedicationRequest", admin, body)
			if r.status != 400 || r.json(t)["field"] != c.field || !strings.Contains(string(r.body), "case-sensitive") {
				t.Errorf("%s: %d %s, want 400 naming %s", c.name, r.status, r.body, c.field)
			}
		}
		if got := e.mustDo("GET", "/v1/patients/"+pid+"/plans", admin, nil, 200); len(got["plans"].([]any)) != 0 {
			t.Errorf("refused imports created plans: %v", got)
		}
		// Written as R4 names them, including elements kept unread.
		body := fhirRequest(pid, dailyAt8(nil))
		body["encounter"] = map[string]any{"reference": "Encounter/1"}
		e.mustDo("POST", "/fhir/MedicationRequest", admin, body, 201)
	})
}

// TestFHIRImportDoseRangeRefusedWithItsReason: a dose as a range (valid
// R4) is refused naming the element and saying why, not as an unknown
// field, which read like a misspelling (QA).
func TestFHIRImportDoseRangeRefusedWithItsReason(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("FHIR Range Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)
		d := dailyAt8(nil)
		d["doseAndRate"] = []any{map[string]any{"doseRange": map[string]any{
			"low": map[string]any{"value": 1, "unit": "tablet"}, "high": map[string]any{"value": 2, "unit": "tablet"}}}}
		r := e.do("POST", "/fhir/MedicationRequest", admin, fhirRequest(p["id"].(string), d))
		body := r.json(t)
		detail, _ := body["detail"].(string)
		if r.status != 400 || body["field"] != "dosageInstruction[0].doseAndRate[0].doseRange" || !strings.Contains(detail, "dose range is not supported") {
			t.Fatalf("a dose range: %d %.300s, want 400 naming doseRange and saying it is not supported", r.status, r.body)
		}
	})
}
