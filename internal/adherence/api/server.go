// Package api is the HTTP JSON API of the adherence product: NewServer
// builds the handler, routes.go lists every route, and each handler
// decodes → authorizes → calls the store → audits → encodes.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medplatform/medplatform/internal/adherence/ingest"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// Deps are the server's collaborators.
type Deps struct {
	Store    *store.Store
	Audit    *audit.Log
	Auth     *auth.Authenticator
	Health   *health.Checker
	Registry *prometheus.Registry
	// HTTPMetrics records request counts and durations (on Registry).
	HTTPMetrics *telemetry.HTTPMetrics
	Logger      *slog.Logger
	Now         func() time.Time
	// Ingest commits events in groups; nil records each request in a
	// transaction of its own.
	Ingest *ingest.Ingester
	// Webhooks validates the Twilio webhooks (status callbacks, inbound
	// SMS); without an auth token they answer 403.
	Webhooks Webhooks
	// PublicURL is the public base URL of the API (PUBLIC_URL, without a
	// trailing slash); FHIR fullUrls are under it. Empty: they are built
	// from each request's Host and scheme.
	PublicURL string
	// WebhookAllowHTTP (WEBHOOK_ALLOW_HTTP) lets escalation policies name
	// http:// webhook URLs; otherwise only https ones are accepted.
	WebhookAllowHTTP bool
	// WebhookOff says the webhook channel is off (no WEBHOOK_SECRET): an
	// escalation level to a webhook could never be delivered, and is
	// refused.
	WebhookOff bool
	// OnKeyRevoked, when set, is told of each API key revoked through the
	// API, after this process forgot it: it tells the other API processes
	// (keyrevoke), so that they forget the key at once too.
	OnKeyRevoked func(ctx context.Context, keyID string)
	// OnEscalationAcknowledged, when set, is told of each escalation
	// acknowledged through the API (metrics).
	OnEscalationAcknowledged func(level int)
	// Wrap, when set, wraps the whole handler (tracing).
	Wrap func(http.Handler) http.Handler
}

// errInternalPanic answers a request whose handler panicked.
var errInternalPanic = errors.New("handler panicked")

type server struct {
	Deps
}

// NewServer returns the product's HTTP handler with every route, the
// authentication middleware on /v1 and /fhir, and request logging, metrics
// and panic recovery around everything.
func NewServer(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Ingest == nil {
		d.Ingest = ingest.New(d.Store, nil, 0)
	}
	s := &server{Deps: d}
	mux := httpx.NewMux()
	mux.QueryPrefix = "/v1/"
	s.routes(mux)
	var h http.Handler = httpx.OneValueEach(mux, "/v1/")
	h = httpx.RefusePreconditions(h)
	h = telemetry.Middleware(h, telemetry.MiddlewareDeps{
		Logger:  d.Logger,
		Metrics: d.HTTPMetrics,
		// AdoptRequestID stays off: the audit trail records the request
		// id and joins its records to their events by it, so the server
		// picks it (QA: two principals sent one id, and its records
		// joined both's events).
		OnPanic: func(w http.ResponseWriter, r *http.Request) {
			httpx.WriteError(w, r, nil, telemetry.RequestID(r.Context()), errInternalPanic)
		},
	})
	if d.Wrap != nil {
		h = d.Wrap(h)
	}
	// FHIR clients expect a failed interaction to answer an
	// OperationOutcome, whoever refused it (QA).
	return httpx.FHIRErrors(h, "/fhir/")
}

// authed wraps a handler that needs an authenticated principal; its
// refusals once it has identified a patient are audited (see attempt).
func (s *server) authed(h http.HandlerFunc) http.Handler {
	return s.Auth.Middleware(withAttempt(h), func(w http.ResponseWriter, r *http.Request, err error) {
		s.fail(w, r, err)
	})
}

// fail writes err as a problem; a refusal of an attempt on a patient's
// record is audited first (see attempt).
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.auditRefused(r, err)
	httpx.WriteError(w, r, s.Logger, telemetry.RequestID(r.Context()), err)
}
