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
