package api_test

import (
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// FuzzDecodeRequests sends arbitrary bodies to the endpoints that decode
// JSON: whatever arrives, the answer is never a 5xx, and every error is
// problem+json.
func FuzzDecodeRequests(f *testing.F) {
	seeds := []string{
		`{"givenName":"A","timeZone":"America/New_York"}`,
		`{"givenName":"A","timeZone":"UTC","anchors":{"wake":"06:00"},"quietHours":{"start":"22:00","end":"07:00"}}`,
		`{"medication":{"rxnorm":"1","display":"x"},"timing":{"repeat":{"timeOfDay":["08:00:00"]}}}`,
		`{"medication":{"rxnorm":"1","display":"x"},"timing":{"repeat":{"frequency":2,"period":1,"periodUnit":"d","boundsPeriod":{"start":"2026-01-01"}}}}`,
		`{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/x"}}`,
		`{"timing":{"repeat":{"when":["ACM"],"offset":30,"count":3}}}`,
		`[]`, `null`, `{"a":`, "\x00", `{"givenName":1}`,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	e := newEnv(f, dbtest.SQLite(f, sets...))
	_, admin := e.org("Fuzz")
	pid := ""
	f.Fuzz(func(t *testing.T, body string) {
		e.t = t
		if pid == "" {
			pid = e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "F", "timeZone": "UTC"}, 201)["id"].(string)
		}
		for _, path := range []string{"/v1/patients", "/v1/patients/" + pid + "/plans", "/fhir/MedicationRequest", "/v1/patients/" + pid} {
			method := "POST"
			if path == "/v1/patients/"+pid {
				method = "PATCH"
			}
			r := e.do(method, path, admin, body)
			if r.status >= 500 {
				t.Fatalf("%s %s with %q = %d: %s", method, path, body, r.status, r.body)
			}
			want := "application/problem+json"
			if strings.HasPrefix(path, "/fhir/") {
				want = "application/fhir+json" // an OperationOutcome (do read it, see asProblem)
			}
			if r.status >= 400 && r.header.Get("Content-Type") != want {
				t.Fatalf("%s %s error without %s: %d %s", method, path, want, r.status, r.body)
			}
		}
	})
}
