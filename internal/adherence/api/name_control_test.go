package api_test

import (
	"testing"
)

// TestNamesRefuseControlCharacters: an API key's or a care-team member's
// name is one line of text; a line break, tab or escape in it is a 400
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
			for _, name := range []string{"Bo\nadmin key", "Bo\rSmith", "Bo\tSmith", "Bo\x1b[2J", "Bo\u0085Smith"} {
				r := e.do("POST", c.path, admin, body(name))
				if r.status != 400 || r.json(t)["field"] != "name" {
					t.Errorf("%s name %q = %d %s, want 400 naming name", c.kind, name, r.status, r.body)
				}
			}
			e.mustDo("POST", c.path, admin, body("Bo Smith — Дочь"), 201)
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
			for _, v := range []string{"Bo\nSmith", "Bo\rSmith", "Bo\tSmith", "Bo\x1b[2J", "Bo\u0085Smith"} {
				r := e.do(c.method, c.path, w.admin, c.body(v))
				if r.status != 400 || r.json(t)["field"] != c.field {
					t.Errorf("%s %q = %d %s, want 400 naming %s", c.name, v, r.status, r.body, c.field)
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
