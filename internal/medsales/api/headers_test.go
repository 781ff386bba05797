package api_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medplatform/medplatform/internal/medsales/api"
	"github.com/medplatform/medplatform/internal/platform/health"
)

// TestMetricsNoStore: every response carries Cache-Control: no-store and
// X-Request-Id (docs/medsales-api.md), /metrics included; it had no
// Cache-Control.
func TestMetricsNoStore(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	srv := httptest.NewServer(api.NewServer(api.Deps{
		Health: health.New(nil, time.Second, time.Now, log), Registry: prometheus.NewRegistry(), Logger: log,
	}))
	defer srv.Close()
	for _, path := range []string{"/metrics", "/livez", "/v1/providers/123"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("GET %s: Cache-Control = %q, want no-store", path, got)
		}
		if res.Header.Get("X-Request-Id") == "" {
			t.Errorf("GET %s: no X-Request-Id", path)
		}
	}
}
