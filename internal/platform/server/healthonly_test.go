package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/server"
)

// TestHealthOnlyAnswersProblems: a worker's port serves its health
// endpoints and metrics, and answers anything else as the API does, with
// problem+json.
func TestHealthOnlyAnswersProblems(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("up 1\n")) })
	h := server.HealthOnly(health.New(nil, time.Second, time.Now, nil), metrics)
	for _, c := range []struct {
		method, path string
		status       int
		problem      bool
	}{
		{"GET", "/livez", 200, false},
		{"GET", "/metrics", 200, false},
		{"GET", "/nope", 404, true},
		{"POST", "/livez", 405, true},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.status {
			t.Errorf("%s %s = %d, want %d", c.method, c.path, rec.Code, c.status)
		}
		if !c.problem {
			continue
		}
		var p map[string]any
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p["status"] != float64(c.status) {
			t.Errorf("%s %s: %s %q, want a problem+json body", c.method, c.path, ct, rec.Body.String())
		}
	}
}
