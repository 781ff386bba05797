package api_test

import "testing"

// TestParametersThatAreNotText: a query value that decodes to a NUL byte
// or to bytes that are not UTF-8 is refused before any handler, and a path
// segment that does names no record (PostgreSQL refused them with an
// error answered 500: QA); a template path is checked as PUT checks it;
// an audit patient filter that is no patient id is a 400 (its text was
// written into the trail as the patient whose history was read). Nothing
// of the request is written to the trail.
func TestParametersThatAreNotText(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Not Text Org")
		for _, c := range []struct {
			method, path string
			status       int
			field        string
		}{
			{"GET", "/v1/audit?patient=%00", 400, "patient"},
			{"GET", "/v1/audit?actor=%00", 400, "actor"},
			{"GET", "/v1/audit?patient=%FF", 400, "patient"},
			{"GET", "/v1/audit?actor=%C0%80", 400, "actor"},
			{"GET", "/v1/audit?patient=a%0Ab%1B%5B31m%E2%80%AEc", 400, "patient"},
			{"GET", "/v1/audit?patient=abc", 400, "patient"},
			{"DELETE", "/v1/api-keys/%00", 404, ""},
			{"DELETE", "/v1/api-keys/%FF", 404, ""},
			{"DELETE", "/v1/templates/reminder/es/%00", 400, "channel"},
			{"DELETE", "/v1/templates/reminder/es/%FF", 400, "channel"},
			{"DELETE", "/v1/templates/nope/xx/fax", 400, "kind"},
			{"DELETE", "/v1/templates/reminder/es/fax", 400, "channel"},
		} {
			r := e.do(c.method, c.path, admin, nil)
			if r.status != c.status || (c.field != "" && r.json(t)["field"] != c.field) {
				t.Errorf("%s %s = %d %s, want %d naming %q", c.method, c.path, r.status, r.body, c.status, c.field)
			}
		}
		records := e.mustDo("GET", "/v1/audit?limit=1000", admin, nil, 200)["records"].([]any)
		for _, rec := range records {
			if r := rec.(map[string]any); r["resourceType"] == "AuditEvent" {
				t.Errorf("a refused read of the trail was recorded: %v", r)
			}
		}
	})
}
