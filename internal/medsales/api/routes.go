package api

import (
	"net/http"

	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// routes is the one list of every route the server answers.
func (s *server) routes(mux *httpx.Mux) {
	mux.Handle("GET /livez", s.Health.LivezHandler())
	mux.Handle("GET /readyz", s.Health.ReadyzHandler())
	mux.Handle("GET /health", s.Health.HealthHandler())
	mux.Handle("GET /metrics", noStore(telemetry.MetricsHandler(s.Registry)))

	mux.HandleFunc("GET /v1/providers/{npi}", s.handleProvider)
	mux.HandleFunc("GET /v1/datasets", s.handleDatasets)
	mux.Handle("POST /v1/ingestions", s.operator(s.handleCreateIngestion))
}

// noStore marks h's answers Cache-Control: no-store, as every other
// answer of the API is (the JSON and problem bodies set it themselves).
func noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}
