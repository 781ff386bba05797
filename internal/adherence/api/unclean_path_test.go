package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/httpx"
)

// TestUncleanPathsAreNotFound: a path with an empty segment ("//") or a
// "." or ".." segment is a 404 problem saying which, with or without
// credentials; the ServeMux answered it with a 307 redirect to the cleaned
// path and an HTML body. No handler runs, so nothing is audited or written.
func TestUncleanPathsAreNotFound(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Unclean Path Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "U", "timeZone": "UTC"}, 201)["id"].(string)
		count := func(query string) int {
			var n int
			if err := e.db.SQL.QueryRow(query).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		audits, patients := count("SELECT COUNT(*) FROM audit_log"), count("SELECT COUNT(*) FROM patients")
		for _, c := range []struct{ method, path, body, detail string }{
			{"GET", "/v1//patients", "", "empty segment (//)"},
			{"GET", "/v1/./patients", "", "has a . segment"},
			{"GET", "/v1/patients/other/../" + pid, "", "has a .. segment"},
			{"GET", "/v1/patients/" + pid + "/.", "", "has a . segment"},
			{"GET", "//v1/patients/" + pid + "/doses", "", "empty segment (//)"},
			{"POST", "/v1//patients", `{"givenName":"V","timeZone":"UTC"}`, "empty segment (//)"},
		} {
			for _, token := range []string{admin, ""} {
				r := e.do(c.method, c.path, token, c.body)
				var p httpx.Problem
				if r.status != 404 || r.header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(r.body, &p) != nil {
					t.Errorf("%s %s (token %t) = %d %s %q, want a 404 problem", c.method, c.path, token != "", r.status, r.header.Get("Content-Type"), r.body)
					continue
				}
				if p.Type != httpx.ProblemTypeBase+"not_found" || !strings.Contains(p.Detail, c.detail) || p.RequestID != r.header.Get("X-Request-Id") {
					t.Errorf("%s %s: problem %+v, want not_found saying %q with the request id", c.method, c.path, p, c.detail)
				}
				if strings.Contains(p.Detail, pid) {
					t.Errorf("%s %s: detail %q repeats the path", c.method, c.path, p.Detail)
				}
				if loc := r.header.Get("Location"); loc != "" {
					t.Errorf("%s %s: Location %q, want no redirect", c.method, c.path, loc)
				}
			}
		}
		if got := count("SELECT COUNT(*) FROM audit_log"); got != audits {
			t.Errorf("audit records: %d after the requests, want %d (none)", got, audits)
		}
		if got := count("SELECT COUNT(*) FROM patients"); got != patients {
			t.Errorf("patients: %d after the requests, want %d", got, patients)
		}
	})
}
