package api_test

import (
	"strings"
	"testing"
)

// TestTimingCodeText: the text of a plan's timing code ("twice daily with
// meals") is one line of at most 500 characters, as the drug name is, on
// POST and PATCH of a plan and in a FHIR import: one character over (in a
// 2-byte script: characters are counted, not bytes) or a control character
// (line break, tab, escape, U+0085) is a 400 naming timing.code.text
// (dosageInstruction[0].timing.code.text in the import), and nothing is
// written. A PATCH that leaves the timing alone is not held to it.
func TestTimingCodeText(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		timing := func(text string) map[string]any {
			return map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}, "code": map[string]any{"text": text}}
		}
		plans := "/v1/patients/" + w.patient + "/plans"
		plan := "/v1/plans/" + w.plan
		fhir := func(text string) map[string]any {
			return map[string]any{
				"resourceType": "MedicationRequest", "status": "active", "intent": "order",
				"subject": map[string]any{"reference": "Patient/" + w.patient},
				"medicationCodeableConcept": map[string]any{"coding": []any{map[string]any{
					"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076", "display": "lisinopril"}}},
				"dosageInstruction": []any{map[string]any{"timing": timing(text)}},
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
		for _, c := range []struct {
			name, method, path, field string
			body                      func(text string) any
			okStatus                  int
		}{
			{"new plan", "POST", plans, "timing.code.text", func(v string) any {
				return map[string]any{"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"}, "timing": timing(v)}
			}, 201},
			{"plan", "PATCH", plan, "timing.code.text", func(v string) any { return map[string]any{"timing": timing(v)} }, 200},
			{"FHIR import", "POST", "/fhir/MedicationRequest", "dosageInstruction[0].timing.code.text", func(v string) any { return fhir(v) }, 201},
		} {
			before := countPlans()
			for _, v := range []string{strings.Repeat("ж", 501), "twice daily\nwith meals", "twice\tdaily", "daily\x1b[2J", "dai\u0085ly", "daily\x7f"} {
				r := e.do(c.method, c.path, w.admin, c.body(v))
				if r.status != 400 || r.json(t)["field"] != c.field {
					t.Errorf("%s code.text %.20q = %d %.300s, want 400 naming %s", c.name, v, r.status, r.body, c.field)
				}
			}
			if n := countPlans(); n != before {
				t.Errorf("%s: %d plans after the refusals, want %d", c.name, n, before)
			}
			if r := e.do(c.method, c.path, w.admin, c.body(strings.Repeat("ж", 500))); r.status != c.okStatus {
				t.Errorf("%s code.text of 500 characters = %d %.300s, want %d", c.name, r.status, r.body, c.okStatus)
			}
		}
		got := e.mustDo("GET", plan, w.admin, nil, 200)
		if text := got["timing"].(map[string]any)["code"].(map[string]any)["text"]; text != strings.Repeat("ж", 500) {
			t.Errorf("plan's code.text after the refusals = %.40q", text)
		}
		// A plan saved with such a text before the check still takes a
		// change that leaves its timing alone.
		if _, err := e.db.SQL.Exec(`UPDATE plans SET timing = $1 WHERE id = $2`,
			`{"repeat":{"timeOfDay":["08:00:00"]},"code":{"text":"twice\tdaily"}}`, w.plan); err != nil {
			t.Fatal(err)
		}
		e.mustDo("PATCH", plan, w.admin, map[string]any{"dose": "2 tablets"}, 200)
	})
}

// TestTimingCodeCodings: the values of a timing code's codings are held
// to the rules of its text, on POST and PATCH of a plan and in a FHIR
// import: a display or a system (a URI) of more than 500 characters, a
// code or a version of more than 100, or a control character in any of
// them is a 400 naming the value down to its coding
// (timing.code.coding[1].display;
// dosageInstruction[0].timing.code.coding[1].display in the import), and
// nothing is written. They took any length and any character.
func TestTimingCodeCodings(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		// The second coding holds the value under test: the first is fine.
		timing := func(name, value string) map[string]any {
			bad := map[string]any{"system": "http://example.org/timing", "code": "BID", "display": "twice daily"}
			bad[name] = value
			return map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}},
				"code": map[string]any{"coding": []any{
					map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "code": "BID", "display": "BID"},
					bad}}}
		}
		plans := "/v1/patients/" + w.patient + "/plans"
		plan := "/v1/plans/" + w.plan
		fhir := func(name, value string) map[string]any {
			return map[string]any{
				"resourceType": "MedicationRequest", "status": "active", "intent": "order",
				"subject": map[string]any{"reference": "Patient/" + w.patient},
				"medicationCodeableConcept": map[string]any{"coding": []any{map[string]any{
					"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076", "display": "lisinopril"}}},
				"dosageInstruction": []any{map[string]any{"timing": timing(name, value)}},
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
		limits := map[string]int{"system": 500, "version": 100, "code": 100, "display": 500}
		for _, c := range []struct {
			name, method, path, prefix string
			body                       func(name, value string) any
			okStatus                   int
		}{
			{"new plan", "POST", plans, "timing", func(n, v string) any {
				return map[string]any{"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"}, "timing": timing(n, v)}
			}, 201},
			{"plan", "PATCH", plan, "timing", func(n, v string) any { return map[string]any{"timing": timing(n, v)} }, 200},
			{"FHIR import", "POST", "/fhir/MedicationRequest", "dosageInstruction[0].timing", func(n, v string) any { return fhir(n, v) }, 201},
		} {
			for name, max := range limits {
				field := c.prefix + ".code.coding[1]." + name
				before := countPlans()
				for _, v := range []string{strings.Repeat("ж", max+1), "twice\ndaily", "B\tID", "BID\x1b[2J", "B\u0085ID"} {
					r := e.do(c.method, c.path, w.admin, c.body(name, v))
					if r.status != 400 || r.json(t)["field"] != field {
						t.Errorf("%s %s %.20q = %d %.300s, want 400 naming %s", c.name, name, v, r.status, r.body, field)
					}
				}
				if n := countPlans(); n != before {
					t.Errorf("%s %s: %d plans after the refusals, want %d", c.name, name, n, before)
				}
				if r := e.do(c.method, c.path, w.admin, c.body(name, strings.Repeat("ж", max))); r.status != c.okStatus {
					t.Errorf("%s %s of %d characters = %d %.300s, want %d", c.name, name, max, r.status, r.body, c.okStatus)
				}
			}
		}
	})
}

// TestTimingElementIDs: the FHIR element ids of a plan's timing, its
// repeat and boundsPeriod, its code and each coding are kept with the
// plan and shown with it, so they are held to the rules of the codings'
// codes, on POST and PATCH of a plan and in a FHIR import: more than 100
// characters or a control character is a 400 naming the id
// (timing.code.coding[1].id; dosageInstruction[0].timing.code.coding[1].id
// in the import), and nothing is written. They took any length and any
// character.
func TestTimingElementIDs(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		// at names the element whose id is under test.
		timing := func(at, id string) map[string]any {
			period := map[string]any{"start": "2026-01-01"}
			repeat := map[string]any{"timeOfDay": []string{"08:00:00"}, "boundsPeriod": period}
			first := map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "code": "BID"}
			second := map[string]any{"system": "http://example.org/timing", "code": "BID"}
			code := map[string]any{"text": "twice daily", "coding": []any{first, second}}
			tm := map[string]any{"repeat": repeat, "code": code}
			map[string]map[string]any{"": tm, "repeat.": repeat, "repeat.boundsPeriod.": period,
				"code.": code, "code.coding[1].": second}[at]["id"] = id
			return tm
		}
		plans := "/v1/patients/" + w.patient + "/plans"
		plan := "/v1/plans/" + w.plan
		fhir := func(at, id string) map[string]any {
			return map[string]any{
				"resourceType": "MedicationRequest", "status": "active", "intent": "order",
				"subject": map[string]any{"reference": "Patient/" + w.patient},
				"medicationCodeableConcept": map[string]any{"coding": []any{map[string]any{
					"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076", "display": "lisinopril"}}},
				"dosageInstruction": []any{map[string]any{"timing": timing(at, id)}},
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
		for _, c := range []struct {
			name, method, path, prefix string
			body                       func(at, id string) any
			okStatus                   int
		}{
			{"new plan", "POST", plans, "timing.", func(at, id string) any {
				return map[string]any{"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"}, "timing": timing(at, id)}
			}, 201},
			{"plan", "PATCH", plan, "timing.", func(at, id string) any { return map[string]any{"timing": timing(at, id)} }, 200},
			{"FHIR import", "POST", "/fhir/MedicationRequest", "dosageInstruction[0].timing.", func(at, id string) any { return fhir(at, id) }, 201},
		} {
			for _, at := range []string{"", "repeat.", "repeat.boundsPeriod.", "code.", "code.coding[1]."} {
				field := c.prefix + at + "id"
				before := countPlans()
				for _, v := range []string{strings.Repeat("ж", 101), "t\n1", "t\t1", "t1\x1b[2J", "t1\u0085"} {
					r := e.do(c.method, c.path, w.admin, c.body(at, v))
					if r.status != 400 || r.json(t)["field"] != field {
						t.Errorf("%s %s %.20q = %d %.300s, want 400 naming %s", c.name, field, v, r.status, r.body, field)
					}
				}
				if n := countPlans(); n != before {
					t.Errorf("%s %s: %d plans after the refusals, want %d", c.name, field, n, before)
				}
				if r := e.do(c.method, c.path, w.admin, c.body(at, strings.Repeat("ж", 100))); r.status != c.okStatus {
					t.Errorf("%s %s of 100 characters = %d %.300s, want %d", c.name, field, r.status, r.body, c.okStatus)
				}
			}
		}
	})
}
