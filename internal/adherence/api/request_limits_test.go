package api_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/httpx"
)

// TestOversizedRequestsAreRefused: a request target over 8 KiB is a 414
// problem and header fields over 64 KiB a 431 problem, with or without
// credentials, before any handler runs: an over-long patient id is not
// looked up, nor audited as an attempt on a record.
func TestOversizedRequestsAreRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Oversized Org")
		count := func() int {
			var n int
			if err := e.db.SQL.QueryRow("SELECT COUNT(*) FROM audit_log").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		audits := count()
		long := "/v1/patients/" + strings.Repeat("a", httpx.MaxURLBytes) + "/doses"
		for _, c := range []struct {
			name, path, header string
			status             int
			problemType        string
		}{
			{"long path", long, "", 414, "uri_too_long"},
			{"long query", "/v1/patients?cursor=" + strings.Repeat("a", httpx.MaxURLBytes), "", 414, "uri_too_long"},
			{"large header", "/v1/patients", strings.Repeat("b", httpx.MaxHeaderBytes), 431, "header_too_large"},
		} {
			for _, token := range []string{admin, ""} {
				req := httptest.NewRequest("GET", c.path, nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				if c.header != "" {
					req.Header.Set("X-Padding", c.header)
				}
				rec := httptest.NewRecorder()
				e.h.ServeHTTP(rec, req)
				var p httpx.Problem
				if rec.Code != c.status || rec.Header().Get("Content-Type") != "application/problem+json" || json.Unmarshal(rec.Body.Bytes(), &p) != nil {
					t.Errorf("%s (token %t) = %d %q %.200s, want a %d problem", c.name, token != "", rec.Code, rec.Header().Get("Content-Type"), rec.Body, c.status)
					continue
				}
				if p.Type != httpx.ProblemTypeBase+c.problemType || p.RequestID != rec.Header().Get("X-Request-Id") {
					t.Errorf("%s: problem %+v, want %s with the request id", c.name, p, c.problemType)
				}
			}
		}
		if got := count(); got != audits {
			t.Errorf("audit records: %d after the requests, want %d (none)", got, audits)
		}
	})
}
