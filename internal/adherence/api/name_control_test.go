package api_test

import (
	"testing"
)

// TestNamesRefuseControlCharacters: an API key's or a care-team member's
// name is one line of text; a line break (U+2028 too), tab, escape or
// bidirectional override in it is a 400
// naming name, and nothing is created. Names without them, in any script,
// are fine.
func TestNamesRefuseControlCharacters(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Control Org")
		for _, c := range []struct{ path, kind string }{{"/v1/members", "member"}, {"/v1/api-keys", "key"}} {
			body := func(name string) map[string]any {
				if c.kind == "member" {
					return map[string]any{"kind": "caregiver", "name": name}
				}
				return map[string]any{"role": "integration", "name": name}
			}
			for _, name := range []string{"Bo\nadmin key", "Bo\rSmith", "Bo\tSmith", "Bo\x1b[2J", "Bo\u0085Smith", "Bo\u2028Smith", "Bo\u202eSmith"} {
				r := e.do("POST", c.path, admin, body(name))
				if r.status != 400 || r.json(t)["field"] != "name" {
					t.Errorf("%s name %q = %d %s, want 400 naming name", c.kind, name, r.status, r.body)
				}
			}
			e.mustDo("POST", c.path, admin, body("Bo Smith — Дочь"), 201)
		}
		// A name of invisible characters only displays as nothing.
		if r := e.do("POST", "/v1/members", admin, map[string]any{"kind": "caregiver", "name": "\u200b \u2060"}); r.status != 400 || r.json(t)["field"] != "name" {
			t.Errorf("member name of zero-width characters = %d %s, want 400 naming name", r.status, r.body)
		}
		if got := e.mustDo("GET", "/v1/members", admin, nil, 200)["members"].([]any); len(got) != 1 {
			t.Errorf("members after the refusals = %v, want one", got)
		}
	})
}

// TestTextFieldsRefuseControlCharacters: a patient's givenName and
// familyName (on POST and PATCH), a link's relationship and an escalation
// policy's name (on POST and PUT) are one line of text, as the names of
// keys and members are: a line break, tab or escape in them is a 400
// naming the field, and nothing is written. The same text without them,
// in any script, is fine.
func TestTextFieldsRefuseControlCharacters(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		member := e.mustDo("POST", "/v1/members", w.admin, map[string]any{"kind": "caregiver", "name": "Bo"}, 201)["id"].(string)
		policy := func(name string) map[string]any {
			return map[string]any{"name": name, "trigger": map[string]any{"kind": "missed_dose"},
				"levels": []any{map[string]any{"afterMinutes": 30, "recipients": "caregivers", "channels": []string{"sms"}}}}
		}
		policyID := e.mustDo("POST", "/v1/escalation-policies", w.admin, policy("Missed dose"), 201)["id"].(string)
		patient := "/v1/patients/" + w.patient
		for _, c := range []struct {
			name, method, path, field string
			body                      func(v string) any
			okStatus                  int
		}{
			{"new givenName", "POST", "/v1/patients", "givenName", func(v string) any { return map[string]any{"givenName": v, "timeZone": "UTC"} }, 201},
			{"new familyName", "POST", "/v1/patients", "familyName", func(v string) any { return map[string]any{"givenName": "A", "familyName": v, "timeZone": "UTC"} }, 201},
			{"givenName", "PATCH", patient, "givenName", func(v string) any { return map[string]any{"givenName": v} }, 200},
			{"familyName", "PATCH", patient, "familyName", func(v string) any { return map[string]any{"familyName": v} }, 200},
			{"relationship", "PUT", patient + "/links/" + member, "relationship", func(v string) any { return map[string]any{"relationship": v} }, 200},
			{"new policy name", "POST", "/v1/escalation-policies", "name", func(v string) any { return policy(v) }, 201},
			{"policy name", "PUT", "/v1/escalation-policies/" + policyID, "name", func(v string) any { return policy(v) }, 200},
		} {
			for _, v := range []string{"Bo\nSmith", "Bo\rSmith", "Bo\tSmith", "Bo\x1b[2J", "Bo\u0085Smith", "Bo\u2028Smith", "Bo\u202eSmith"} {
				r := e.do(c.method, c.path, w.admin, c.body(v))
				if r.status != 400 || r.json(t)["field"] != c.field {
					t.Errorf("%s %q = %d %s, want 400 naming %s", c.name, v, r.status, r.body, c.field)
				}
			}
			if c.name != "relationship" { // optional, and free text
				if r := e.do(c.method, c.path, w.admin, c.body("\u200b")); r.status != 400 || r.json(t)["field"] != c.field {
					t.Errorf("%s of a zero-width space = %d %s, want 400 naming %s", c.name, r.status, r.body, c.field)
				}
			}
			if c.name == "relationship" {
				if got := e.mustDo("GET", patient+"/links", w.admin, nil, 200)["links"].([]any); len(got) != 0 {
					t.Errorf("links after the refusals = %v, want none", got)
				}
			}
			if r := e.do(c.method, c.path, w.admin, c.body("Bo Smith — Дочь")); r.status != c.okStatus {
				t.Errorf("%s without control characters = %d %s, want %d", c.name, r.status, r.body, c.okStatus)
			}
		}
		got := e.mustDo("GET", patient, w.admin, nil, 200)
		if got["givenName"] != "Bo Smith — Дочь" || got["familyName"] != "Bo Smith — Дочь" {
			t.Errorf("patient after the refusals and the changes = %v", got)
		}
	})
}

// TestPlanTextsRefuseControlCharacters: a plan's drug name
// (medication.display), dose, ingredient and drugClass are one line of
// text, on POST and PATCH, as are the drug name and the dose of a FHIR
// import (the RxNorm coding's display or the concept's text; the dose
// quantity's unit or code): a line break, tab or escape in them is a 400
// naming the field (the FHIR element), and nothing is written. The
// instructions may span lines, in the plan API and in the import.
func TestPlanTextsRefuseControlCharacters(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		plans := "/v1/patients/" + w.patient + "/plans"
		plan := func(field, v string) map[string]any {
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
		patch := func(field, v string) map[string]any {
			if field == "medication.display" {
				return map[string]any{"medication": map[string]any{"rxnorm": "314076", "display": v}}
			}
			return map[string]any{field: v}
		}
		// fhir is an import whose element at is v: "display", "text" (the
		// concept's text, without a display), "unit", "code" (the unit's
		// code, without a unit) or "instructions".
		fhir := func(at, v string) map[string]any {
			coding := map[string]any{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076", "display": "lisinopril"}
			concept := map[string]any{"coding": []any{coding}}
			quantity := map[string]any{"value": 1, "unit": "tablet"}
			dosage := map[string]any{
				"timing":      map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
				"doseAndRate": []any{map[string]any{"doseQuantity": quantity}},
			}
			switch at {
			case "display":
				coding["display"] = v
			case "text":
				delete(coding, "display")
				concept["text"] = v
			case "unit":
				quantity["unit"] = v
			case "code":
				delete(quantity, "unit")
				quantity["code"] = v
			case "instructions":
				dosage["text"] = v
			}
			return map[string]any{
				"resourceType": "MedicationRequest", "status": "active", "intent": "order",
				"subject":                   map[string]any{"reference": "Patient/" + w.patient},
				"medicationCodeableConcept": concept,
				"dosageInstruction":         []any{dosage},
			}
		}
		countPlans := func() int {
			t.Helper()
			var n int
			if err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM plans`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := countPlans()
		const display, text, dose = "medicationCodeableConcept.coding[0].display", "medicationCodeableConcept.text", "dosageInstruction[0].doseAndRate[0].doseQuantity"
		for _, c := range []struct {
			name, method, path, field string
			body                      func(v string) any
		}{
			{"new display", "POST", plans, "medication.display", func(v string) any { return plan("medication.display", v) }},
			{"new dose", "POST", plans, "dose", func(v string) any { return plan("dose", v) }},
			{"new ingredient", "POST", plans, "ingredient", func(v string) any { return plan("ingredient", v) }},
			{"new drugClass", "POST", plans, "drugClass", func(v string) any { return plan("drugClass", v) }},
			{"display", "PATCH", "/v1/plans/" + w.plan, "medication.display", func(v string) any { return patch("medication.display", v) }},
			{"dose", "PATCH", "/v1/plans/" + w.plan, "dose", func(v string) any { return patch("dose", v) }},
			{"ingredient", "PATCH", "/v1/plans/" + w.plan, "ingredient", func(v string) any { return patch("ingredient", v) }},
			{"drugClass", "PATCH", "/v1/plans/" + w.plan, "drugClass", func(v string) any { return patch("drugClass", v) }},
			{"FHIR display", "POST", "/fhir/MedicationRequest", display, func(v string) any { return fhir("display", v) }},
			{"FHIR text", "POST", "/fhir/MedicationRequest", text, func(v string) any { return fhir("text", v) }},
			{"FHIR unit", "POST", "/fhir/MedicationRequest", dose, func(v string) any { return fhir("unit", v) }},
			{"FHIR unit code", "POST", "/fhir/MedicationRequest", dose, func(v string) any { return fhir("code", v) }},
		} {
			for _, v := range []string{"10\nmg", "10\rmg", "10\tmg", "10 mg\x1b[2J", "10\u0085mg"} {
				r := e.do(c.method, c.path, w.admin, c.body(v))
				if r.status != 400 || r.json(t)["field"] != c.field {
					t.Errorf("%s %q = %d %s, want 400 naming %s", c.name, v, r.status, r.body, c.field)
				}
			}
		}
		if n := countPlans(); n != before {
			t.Errorf("plans after the refusals = %d, want %d", n, before)
		}
		got := e.mustDo("GET", "/v1/plans/"+w.plan, w.admin, nil, 200)
		if got["version"] != 1.0 {
			t.Errorf("a refused PATCH changed the plan: %v", got)
		}

		// One line in any script is fine; instructions may span lines.
		got = e.mustDo("POST", plans, w.admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "лизиноприл 10 мг"},
			"dose":       "1 таблетка", "ingredient": "лизиноприл", "drugClass": "RASA — ИАПФ",
			"instructions": "Take with water.\nAvoid potassium supplements.",
			"timing":       map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
		}, 201)
		if got["instructions"] != "Take with water.\nAvoid potassium supplements." || got["dose"] != "1 таблетка" {
			t.Errorf("plan of one-line texts and multi-line instructions = %v", got)
		}
		e.mustDo("PATCH", "/v1/plans/"+w.plan, w.admin, map[string]any{"instructions": "Morning.\r\nWith food."}, 200)
		for _, at := range []string{"display", "text", "unit", "code"} {
			e.mustDo("POST", "/fhir/MedicationRequest", w.admin, fhir(at, "таблетка"), 201)
		}
		e.mustDo("POST", "/fhir/MedicationRequest", w.admin, fhir("instructions", "Take with water.\nAvoid potassium supplements."), 201)
	})
}

// TestNamesTrimSurroundingWhiteSpace: white space around a name, a pasted
// line break or tab at its end included, is trimmed before the name is
// checked, for every name of the API alike: a key's name and a link's
// relationship were refused for it while a patient's or member's name
// was trimmed (QA).
func TestNamesTrimSurroundingWhiteSpace(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		key := e.mustDo("POST", "/v1/api-keys", w.admin, map[string]any{"role": "integration", "name": "\tdevice hub\n"}, 201)
		if key["name"] != "device hub" {
			t.Errorf("key created as %v, want the name trimmed to %q", key, "device hub")
		}
		member := e.mustDo("POST", "/v1/members", w.admin, map[string]any{"kind": "caregiver", "name": "Bo\n"}, 201)["id"].(string)
		e.mustDo("PUT", "/v1/patients/"+w.patient+"/links/"+member, w.admin, map[string]any{"relationship": "daughter\u2028"}, 200)
		links := e.mustDo("GET", "/v1/patients/"+w.patient+"/links", w.admin, nil, 200)["links"].([]any)
		if len(links) != 1 || links[0].(map[string]any)["relationship"] != "daughter" {
			t.Errorf("links = %v, want one with relationship %q", links, "daughter")
		}
		p := e.mustDo("PATCH", "/v1/patients/"+w.patient, w.admin, map[string]any{"givenName": "\tAna\n"}, 200)
		if p["givenName"] != "Ana" {
			t.Errorf("patient givenName %v, want %q", p["givenName"], "Ana")
		}
		// The program's name starts every message; its help contact ends
		// HELP answers: both were stored with their spaces, and refused
		// for a pasted line break at the end.
		policy := map[string]any{"firstOffsetMinutes": 0, "repeatEveryMinutes": 15, "maxReminders": 3, "validityMinutes": 30, "channels": []string{"sms"}}
		m := e.mustDo("PUT", "/v1/settings/messaging", w.admin, map[string]any{"programName": "  Demo Care\n", "helpContact": " 555-0100 ", "reminderPolicy": policy}, 200)
		if m["programName"] != "Demo Care" || m["helpContact"] != "555-0100" {
			t.Errorf("messaging settings %v, want programName %q and helpContact %q", m, "Demo Care", "555-0100")
		}
		// A template's subject, and the text of a plan's timing code, as
		// the plan's drug name.
		tpl := e.mustDo("PUT", "/v1/templates/reminder/en/push", w.admin, map[string]any{"subject": " Reminder\n", "body": "Hi {{first_name}}"}, 200)
		if tpl["subject"] != "Reminder" {
			t.Errorf("template subject %q, want %q", tpl["subject"], "Reminder")
		}
		plan := e.mustDo("PATCH", "/v1/plans/"+w.plan, w.admin, map[string]any{"timing": map[string]any{
			"code":   map[string]any{"text": "  twice daily\n", "coding": []any{map[string]any{"code": "BID", "display": " twice a day "}}},
			"repeat": map[string]any{"timeOfDay": []string{"08:00:00", "20:00:00"}}}}, 200)
		code := plan["timing"].(map[string]any)["code"].(map[string]any)
		if code["text"] != "twice daily" || code["coding"].([]any)[0].(map[string]any)["display"] != "twice a day" {
			t.Errorf("timing code %v, want its text and display trimmed", code)
		}
		// Of invisible characters only, they would show as nothing: refused
		// as a givenName of them is (QA: stored as a lone U+200B).
		for _, c := range []struct {
			method, path, field string
			body                map[string]any
		}{
			{"PUT", "/v1/settings/messaging", "programName", map[string]any{"programName": "\u200b", "reminderPolicy": policy}},
			{"PUT", "/v1/settings/messaging", "helpContact", map[string]any{"helpContact": "\u2060 ", "reminderPolicy": policy}},
			{"PUT", "/v1/templates/reminder/en/push", "subject", map[string]any{"subject": "\u200b", "body": "Hi"}},
			{"PATCH", "/v1/plans/" + w.plan, "timing.code.text", map[string]any{"timing": map[string]any{
				"code": map[string]any{"text": "\u200b"}, "repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}}}},
		} {
			if r := e.do(c.method, c.path, w.admin, c.body); r.status != 400 || r.json(t)["field"] != c.field {
				t.Errorf("%s %s with an invisible %s = %d %s, want 400 naming it", c.method, c.path, c.field, r.status, r.body)
			}
		}
	})
}
