package api_test

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medplatform/medplatform/internal/medsales/api"
	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/httpx"
)

// TestUncleanPathsAreNotFound: a path with an empty segment ("//") or a
// "." or ".." segment is a 404 problem saying which; the ServeMux answered
// it with a 307 redirect to the cleaned path and an HTML body.
func TestUncleanPathsAreNotFound(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	h := api.NewServer(api.Deps{
		Health: health.New(nil, time.Second, time.Now, log), Registry: prometheus.NewRegistry(), Logger: log,
	})
	for _, c := range []struct{ method, path, detail string }{
		{"GET", "/v1//datasets", "empty segment (//)"},
		{"GET", "/v1/./datasets", "has a . segment"},
		{"GET", "/v1/providers/../datasets", "has a .. segment"},
		{"GET", "//livez", "empty segment (//)"},
		{"POST", "/v1//ingestions", "empty segment (//)"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		var p httpx.Problem
		if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/problem+json" || json.Unmarshal(rec.Body.Bytes(), &p) != nil {
			t.Errorf("%s %s = %d %s %q, want a 404 problem", c.method, c.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			continue
		}
		if p.Type != httpx.ProblemTypeBase+"not_found" || !strings.Contains(p.Detail, c.detail) || p.RequestID != rec.Header().Get("X-Request-Id") {
			t.Errorf("%s %s: problem %+v, want not_found saying %q with the request id", c.method, c.path, p, c.detail)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			t.Errorf("%s %s: Location %q, want no redirect", c.method, c.path, loc)
		}
	}
}
