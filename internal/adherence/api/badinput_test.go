package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/httpx"
)

// TestBadInput checks that malformed, oversized, mistyped and invalid
// requests get a 4xx problem naming the field (or line and column), and
// that nothing is written when a request fails.
func TestBadInput(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Bad Input Org")
		_, otherAdmin := e.org("Other Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "B", "timeZone": "America/Denver"}, 201)["id"].(string)
		otherPID := e.mustDo("POST", "/v1/patients", otherAdmin, map[string]any{"givenName": "O", "timeZone": "UTC"}, 201)["id"].(string)
		plansPath := "/v1/patients/" + pid + "/plans"
		med := `"medication":{"rxnorm":"314076","display":"lisinopril"}`
		cases := []struct {
			name, method, path, body string
			status                   int
			field, detail            string
		}{
			{"malformed json", "POST", "/v1/patients", "{\n \"givenName\": \"A\",\n \"timeZone\" \"UTC\"\n}", 400, "", "line 3, column 13"},
			{"unknown field", "POST", "/v1/patients", `{"givenName":"A","timeZone":"UTC","shoeSize":9}`, 400, "shoeSize", "unknown field"},
			{"wrong type", "POST", "/v1/patients", `{"givenName":"A","timeZone":"UTC","smsConsent":"yes"}`, 400, "smsConsent", "wrong type"},
			{"missing required", "POST", "/v1/patients", `{"timeZone":"UTC"}`, 400, "givenName", "required"},
			{"unknown time zone", "POST", "/v1/patients", `{"givenName":"A","timeZone":"America/Atlantis"}`, 400, "timeZone", "IANA"},
			{"member unknown time zone", "POST", "/v1/members", `{"kind":"caregiver","name":"C","timeZone":"Mars/Olympus"}`, 400, "timeZone", "IANA"},
			{"bad anchor", "PATCH", "/v1/patients/" + pid, `{"anchors":{"wake":"25:00"}}`, 400, "anchors.wake", "HH:MM"},
			{"oversized body", "POST", "/v1/patients", `{"givenName":"` + strings.Repeat("x", httpx.MaxBodyBytes+10) + `"}`, 413, "", "exceeds"},
			{"timeOfDay with when", "POST", plansPath, `{` + med + `,"timing":{"repeat":{"timeOfDay":["08:00:00"],"when":["MORN"]}}}`, 400, "timing.repeat.when", ""},
			{"offset without when", "POST", plansPath, `{` + med + `,"timing":{"repeat":{"timeOfDay":["08:00:00"],"offset":30}}}`, 400, "timing.repeat.offset", ""},
			{"bad timeOfDay", "POST", plansPath, `{` + med + `,"timing":{"repeat":{"timeOfDay":["08:00:00","8 pm"]}}}`, 400, "timing.repeat.timeOfDay[1]", ""},
			{"period without unit", "POST", plansPath, `{` + med + `,"timing":{"repeat":{"frequency":2,"period":1}}}`, 400, "timing.repeat.periodUnit", ""},
			{"timing wrong type", "POST", plansPath, `{` + med + `,"timing":{"repeat":{"count":"three"}}}`, 400, "timing.repeat.count", "wrong type"},
			{"timing wrong type in list", "POST", plansPath, `{` + med + `,"timing":{"repeat":{"timeOfDay":["08:00:00",20]}}}`, 400, "timing.repeat.timeOfDay[1]", "wrong type"},
			{"timing name in wrong case", "POST", plansPath, `{` + med + `,"timing":{"repeat":{"timeofday":["08:00:00"]}}}`, 400, "timing.repeat.timeofday", "unknown field"},
			{"timing null", "POST", plansPath, `{` + med + `,"timing":{"repeat":{"timeOfDay":["08:00:00"],"count":null}}}`, 400, "timing.repeat.count", "null"},
			{"unknown field in windows", "POST", plansPath, `{` + med + `,"timing":{"repeat":{"timeOfDay":["08:00:00"]}},"windows":{"onTimeMinutes":30,"earlyMinutes":5}}`, 400, "windows.earlyMinutes", "unknown field"},
			{"bad rxnorm", "POST", plansPath, `{"medication":{"rxnorm":"abc","display":"x"},"timing":{"repeat":{"timeOfDay":["08:00:00"]}}}`, 400, "medication.rxnorm", "must be an RxNorm concept id"},
			{"missing rxnorm", "POST", plansPath, `{"medication":{"display":"x"},"timing":{"repeat":{"timeOfDay":["08:00:00"]}}}`, 400, "medication.rxnorm", "is required"},
			{"end before the start now", "POST", plansPath, `{` + med + `,"timing":{"repeat":{"timeOfDay":["08:00:00"]}},"endAt":"2020-01-01T00:00:00Z"}`, 400, "endAt", "when the plan is created when not given"},
			{"other org patient", "POST", "/v1/patients/" + otherPID + "/plans", `{` + med + `,"timing":{"repeat":{"timeOfDay":["08:00:00"]}}}`, 404, "", "not found"},
			{"fhir bad subject", "POST", "/fhir/MedicationRequest", `{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Group/1"}}`, 400, "subject.reference", ""},
			{"fhir bad timing", "POST", "/fhir/MedicationRequest", `{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/` + pid + `"},
				"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"1"}]},
				"dosageInstruction":[{"timing":{"repeat":{"dayOfWeek":["funday"],"timeOfDay":["08:00:00"]}}}]}`, 400, "dosageInstruction[0].timing.repeat.dayOfWeek[0]", ""},
			{"fhir timing wrong type in list", "POST", "/fhir/MedicationRequest", `{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/` + pid + `"},
				"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"1"}]},
				"dosageInstruction":[{"timing":{"repeat":{"timeOfDay":["08:00:00",5]}}}]}`, 400, "dosageInstruction[0].timing.repeat.timeOfDay[1]", ""},
			{"fhir timing name in wrong case", "POST", "/fhir/MedicationRequest", `{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/` + pid + `"},
				"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"1"}]},
				"dosageInstruction":[{"timing":{"repeat":{"TimeOfDay":["08:00:00"]}}}]}`, 400, "dosageInstruction[0].timing.repeat.TimeOfDay", ""},
			{"fhir fractional supply", "POST", "/fhir/MedicationRequest", fhirSupply(pid, "30.9"), 400, "dispenseRequest.expectedSupplyDuration.value", "whole number"},
			{"fhir huge supply", "POST", "/fhir/MedicationRequest", fhirSupply(pid, "1e300"), 400, "dispenseRequest.expectedSupplyDuration.value", "whole number"},
			{"fhir negative supply", "POST", "/fhir/MedicationRequest", fhirSupply(pid, "-1"), 400, "dispenseRequest.expectedSupplyDuration.value", "whole number"},
			{"bad dose window", "GET", "/v1/patients/" + pid + "/doses?from=yesterday", "", 400, "from", "RFC 3339"},
			{"unknown route", "GET", "/v1/nothing-here", "", 404, "", "no such route"},
			{"wrong method", "DELETE", "/v1/patients/" + pid, "", 405, "", "not allowed"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := e.do(c.method, c.path, admin, c.body)
				if r.status != c.status {
					t.Fatalf("status %d, want %d: %.300s", r.status, c.status, r.body)
				}
				want := "application/problem+json"
				if strings.HasPrefix(c.path, "/fhir/") {
					want = "application/fhir+json" // an OperationOutcome, read as its problem (asProblem)
				}
				if ct := r.header.Get("Content-Type"); ct != want {
					t.Fatalf("Content-Type %q, want %s", ct, want)
				}
				var p httpx.Problem
				if err := json.Unmarshal(r.body, &p); err != nil {
					t.Fatal(err)
				}
				if p.Field != c.field || !strings.Contains(p.Detail, c.detail) || p.Status != c.status {
					t.Fatalf("problem = field %q detail %q; want field %q detail containing %q", p.Field, p.Detail, c.field, c.detail)
				}
			})
		}
		// Nothing was half-written: the patient has no plans, and only the
		// two patients exist in their orgs.
		plans := e.mustDo("GET", plansPath, admin, nil, 200)["plans"].([]any)
		if len(plans) != 0 {
			t.Errorf("failed requests left %d plan(s) behind", len(plans))
		}
		pats := e.mustDo("GET", "/v1/patients", admin, nil, 200)["patients"].([]any)
		if len(pats) != 1 {
			t.Errorf("failed requests left %d patient(s), want 1", len(pats))
		}
		var doses int
		if err := e.db.SQL.QueryRow("SELECT count(*) FROM dose_instances").Scan(&doses); err != nil {
			t.Fatal(err)
		}
		if doses != 0 {
			t.Errorf("failed requests left %d dose instance(s)", doses)
		}
	})
}

// fhirSupply is a MedicationRequest for patient pid whose expected supply
// duration has the JSON number value (in days).
func fhirSupply(pid, value string) string {
	return `{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/` + pid + `"},
		"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"314076"}]},
		"dosageInstruction":[{"timing":{"repeat":{"timeOfDay":["08:00:00"]}}}],
		"dispenseRequest":{"expectedSupplyDuration":{"value":` + value + `,"unit":"d"}}}`
}

// TestFHIRRoundTrip imports a MedicationRequest, exports it and checks the
// schedule and medication survive, and that the import created doses.
func TestFHIRRoundTrip(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("FHIR Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "F", "timeZone": "Europe/London",
			"anchors": map[string]any{"breakfast": "08:15", "dinner": "19:00"}}, 201)["id"].(string)
		mr := `{"resourceType":"MedicationRequest","status":"active","intent":"order",
			"subject":{"reference":"Patient/` + pid + `"},
			"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"860975","display":"metformin 500 MG Oral Tablet"}]},
			"dosageInstruction":[{"text":"with meals","timing":{"repeat":{"when":["PCM","PCV"],"offset":15}},
				"doseAndRate":[{"doseQuantity":{"value":1,"unit":"tablet"}}]}],
			"dispenseRequest":{"expectedSupplyDuration":{"value":30,"unit":"d"}}}`
		r := e.do("POST", "/fhir/MedicationRequest", admin, mr)
		if r.status != 201 || r.header.Get("Content-Type") != "application/fhir+json" {
			t.Fatalf("import = %d %s: %s", r.status, r.header.Get("Content-Type"), r.body)
		}
		created := r.json(t)
		planID := created["id"].(string)

		b := e.mustDo("GET", "/fhir/MedicationRequest?patient=Patient/"+pid, admin, nil, 200)
		if b["resourceType"] != "Bundle" || b["total"].(float64) != 1 {
			t.Fatalf("bundle = %v", b)
		}
		if full := b["entry"].([]any)[0].(map[string]any)["fullUrl"]; full != "http://example.com/fhir/MedicationRequest/"+planID {
			t.Errorf("fullUrl = %v, want the absolute URL of the resource", full)
		}
		// The import's Location reads the resource back.
		if loc := r.header.Get("Location"); loc != "/fhir/MedicationRequest/"+planID {
			t.Errorf("Location = %q", loc)
		}
		read := e.do("GET", "/fhir/MedicationRequest/"+planID, admin, nil)
		if read.status != 200 || read.header.Get("Content-Type") != "application/fhir+json" || read.json(t)["id"] != planID {
			t.Errorf("read of the Location = %d %s", read.status, read.body)
		}
		if miss := e.do("GET", "/fhir/MedicationRequest/00000000-0000-0000-0000-000000000000", admin, nil); miss.status != 404 {
			t.Errorf("read of an unknown plan = %d, want 404", miss.status)
		}
		res := b["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
		di := res["dosageInstruction"].([]any)[0].(map[string]any)
		rep := di["timing"].(map[string]any)["repeat"].(map[string]any)
		if res["id"] != planID || res["status"] != "active" || di["text"] != "with meals" ||
			rep["offset"].(float64) != 15 || len(rep["when"].([]any)) != 2 {
			t.Fatalf("exported resource does not match the import: %v", res)
		}
		coding := res["medicationCodeableConcept"].(map[string]any)["coding"].([]any)[0].(map[string]any)
		if coding["code"] != "860975" {
			t.Fatalf("coding = %v", coding)
		}
		doses := e.mustDo("GET", "/v1/plans/"+planID+"/doses", admin, nil, 200)["doses"].([]any)
		if len(doses) < 26 || len(doses) > 28 {
			t.Fatalf("imported plan has %d doses in 14 days, want about 28", len(doses))
		}
		for _, d := range doses {
			local := d.(map[string]any)["localTime"].(string)
			if hm := local[11:]; hm != "08:30" && hm != "19:15" {
				t.Errorf("dose at local %s, want 08:30 (breakfast+15) or 19:15 (dinner+15)", local)
			}
		}
	})
}

// TestFHIRImportOnHold imports an on-hold MedicationRequest: the plan is
// created paused in one step, with no doses until it is resumed (not
// created active, its doses materialised, then paused and excluded).
func TestFHIRImportOnHold(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("FHIR Hold Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "H", "timeZone": "Europe/London"}, 201)["id"].(string)
		mr := `{"resourceType":"MedicationRequest","status":"on-hold","intent":"order",
			"subject":{"reference":"Patient/` + pid + `"},
			"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"860975","display":"metformin 500 MG Oral Tablet"}]},
			"dosageInstruction":[{"timing":{"repeat":{"frequency":2,"period":1,"periodUnit":"d","timeOfDay":["08:00:00","20:00:00"]}}}]}`
		r := e.do("POST", "/fhir/MedicationRequest", admin, mr)
		if r.status != 201 {
			t.Fatalf("import = %d: %s", r.status, r.body)
		}
		created := r.json(t)
		planID := created["id"].(string)
		if created["status"] != "on-hold" {
			t.Fatalf("imported status = %v, want on-hold", created["status"])
		}
		if doses := e.mustDo("GET", "/v1/plans/"+planID+"/doses", admin, nil, 200)["doses"].([]any); len(doses) != 0 {
			t.Fatalf("an on-hold import has %d doses, want none until it is resumed", len(doses))
		}
		if st := e.mustDo("POST", "/v1/plans/"+planID+"/resume", admin, nil, 200)["status"]; st != "active" {
			t.Fatalf("resumed status = %v", st)
		}
		doses := e.mustDo("GET", "/v1/plans/"+planID+"/doses", admin, nil, 200)["doses"].([]any)
		if len(doses) < 26 || len(doses) > 28 {
			t.Fatalf("resumed plan has %d doses in 14 days, want about 28", len(doses))
		}
		for _, d := range doses {
			if st := d.(map[string]any)["status"]; st != "scheduled" {
				t.Errorf("dose of the resumed plan is %v, want scheduled", st)
			}
		}
	})
}
