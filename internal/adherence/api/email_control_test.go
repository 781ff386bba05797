package api_test

import (
	"strings"
	"testing"
)

// TestEmailsRefuseControlCharacters: a patient's email (on POST and PATCH)
// and a care-team member's email are one address: a control character in
// it (a tab, an escape, DEL, a C1 control such as U+0085, a NUL) is a 400
// naming email, and nothing is written. So is a member's address longer
// than 254 bytes, as a patient's already was, and an address the e-mail
// sender would not read as one bare address.
func TestEmailsRefuseControlCharacters(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		patient := "/v1/patients/" + w.patient
		e.mustDo("PATCH", patient, w.admin, map[string]any{"email": "eve@example.org"}, 200)
		bad := []string{"eve\t@example.org", "eve\x1b[2J@example.org", "eve\x7f@example.org",
			"eve\u0085@example.org", "eve@example.org\u0085", "eve\x00@example.org", "eve\v@example.org",
			strings.Repeat("a", 250) + "@example.org",
			// Not one bare address to the e-mail sender (net/mail): every
			// message to them failed at send (QA).
			"eve@example.org,c", "eve@example..org", ".eve@example.org", "eve;x@example.org", "eve(x)@example.org",
			"Eve <eve@example.org>"}
		for _, c := range []struct {
			name, method, path string
			body               func(v string) any
			okStatus           int
		}{
			{"new patient", "POST", "/v1/patients", func(v string) any { return map[string]any{"givenName": "A", "timeZone": "UTC", "email": v} }, 201},
			{"patient", "PATCH", patient, func(v string) any { return map[string]any{"email": v} }, 200},
			{"member", "POST", "/v1/members", func(v string) any { return map[string]any{"kind": "caregiver", "name": "Bo", "email": v} }, 201},
		} {
			for _, v := range bad {
				r := e.do(c.method, c.path, w.admin, c.body(v))
				if r.status != 400 || r.json(t)["field"] != "email" {
					t.Errorf("%s email %q = %d %s, want 400 naming email", c.name, v, r.status, r.body)
				}
			}
			if r := e.do(c.method, c.path, w.admin, c.body("bo.smith+meds@example.org")); r.status != c.okStatus {
				t.Errorf("%s with a plain address = %d %s, want %d", c.name, r.status, r.body, c.okStatus)
			}
		}
		if got := e.mustDo("GET", "/v1/members", w.admin, nil, 200)["members"].([]any); len(got) != 1 {
			t.Errorf("members after the refusals = %v, want one", got)
		}
		var n int
		if err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM patients`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 3 { // newWorld's two and the one created with a plain address
			t.Errorf("patients after the refusals = %d, want 3", n)
		}
	})
}
