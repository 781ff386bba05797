package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/httpx"
)

// TestFHIRErrorsAreOperationOutcomes: an interaction under /fhir/ that
// fails answers a FHIR R4 OperationOutcome (application/fhir+json), with
// the status and an issue whose code follows it, whoever refused it: a
// handler (a bad search parameter, naming it), the authentication (401,
// its WWW-Authenticate kept), a read of another org's resource (404), the
// mux (405). They were problem+json, which FHIR clients do not read (QA).
// /v1 keeps problem+json.
func TestFHIRErrorsAreOperationOutcomes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("FHIR errors")
		patient := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Eve", "timeZone": "UTC"}, 201)["id"].(string)
		for _, c := range []struct {
			name, method, path, token string
			status                    int
			code, expression          string
		}{
			{"bad date prefix", "GET", "/fhir/MedicationAdministration?patient=" + patient + "&date=xx2026-12-01", admin, 400, "invalid", "date"},
			{"no key", "GET", "/fhir/MedicationAdministration?patient=" + patient, "", 401, "login", ""},
			{"unknown administration", "GET", "/fhir/MedicationAdministration/dose-99999999", admin, 404, "not-found", ""},
			{"wrong method", "DELETE", "/fhir/MedicationRequest", admin, 405, "not-supported", ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				req := httptest.NewRequest(c.method, c.path, nil)
				if c.token != "" {
					req.Header.Set("Authorization", "Bearer "+c.token)
				}
				rec := httptest.NewRecorder()
				e.h.ServeHTTP(rec, req)
				if rec.Code != c.status || rec.Header().Get("Content-Type") != "application/fhir+json" {
					t.Fatalf("%s %s = %d %s, want %d application/fhir+json: %s", c.method, c.path, rec.Code, rec.Header().Get("Content-Type"), c.status, rec.Body)
				}
				var oo map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &oo); err != nil {
					t.Fatal(err)
				}
				issues, _ := oo["issue"].([]any)
				if oo["resourceType"] != "OperationOutcome" || len(issues) != 1 || len(oo) != 2 {
					t.Fatalf("body %s, want an OperationOutcome of one issue and nothing else", rec.Body)
				}
				issue := issues[0].(map[string]any)
				if issue["severity"] != "error" || issue["code"] != c.code || issue["diagnostics"] == "" {
					t.Errorf("issue %v, want severity error, code %s and diagnostics", issue, c.code)
				}
				if expr, _ := issue["expression"].([]any); (c.expression == "") != (len(expr) == 0) || (c.expression != "" && expr[0] != c.expression) {
					t.Errorf("issue expression %v, want %q", issue["expression"], c.expression)
				}
				if rec.Header().Get("X-Request-Id") == "" {
					t.Errorf("no X-Request-Id")
				}
				if c.status == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
			})
		}
		// /v1 answers problem+json as before.
		r := e.do("GET", "/v1/patients/"+patient+"/doses?from=yesterday", admin, nil)
		var p httpx.Problem
		if r.header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(r.body, &p) != nil || p.Field != "from" {
			t.Errorf("/v1 error: %s %s, want problem+json naming from", r.header.Get("Content-Type"), r.body)
		}
	})
}
