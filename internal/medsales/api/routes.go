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
	mux.Handle("GET /metrics", telemetry.MetricsHandler(s.Registry))

	mux.HandleFunc("GET /v1/providers/{npi}", s.handleProvider)
	mux.HandleQuery("GET /v1/datasets", http.HandlerFunc(s.handleDatasets), "dataset", "limit")
	mux.Handle("POST /v1/ingestions", s.operator(s.handleCreateIngestion))
	mux.Handle("GET /v1/ingestions/{id}", s.operator(s.handleGetIngestion))
}
