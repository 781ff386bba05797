// Package api is the HTTP JSON API of the medsales product: NewServer
// builds the handler, routes.go lists every route, and each handler
// decodes → validates → calls the store → encodes.
//
// The provider and dataset endpoints serve public reference data and need
// no credentials. Enqueueing a load (POST /v1/ingestions) is an operator
// action: it needs the bearer token configured as INGEST_API_TOKEN.
package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/ratelimit"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// Enqueuer inserts jobs and reads them back (jobs.Client).
type Enqueuer interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	// Job returns the job id, or an error wrapping rivertype.ErrNotFound.
	Job(ctx context.Context, id int64) (*rivertype.JobRow, error)
}

// Deps are the server's collaborators.
type Deps struct {
	Store       *store.Store
	Health      *health.Checker
	Registry    *prometheus.Registry
	HTTPMetrics *telemetry.HTTPMetrics
	Logger      *slog.Logger
	Now         func() time.Time
	// Jobs enqueues ingestion jobs; nil disables POST /v1/ingestions.
	Jobs Enqueuer
	// IngestToken is the bearer token POST /v1/ingestions requires; empty
	// disables the endpoint.
	IngestToken string
	// AllowedSources are the prefixes an ingestion source must start with.
	AllowedSources []string
	// Limiter counts wrong ingestion tokens per client address: once one
	// has sent auth.DefaultMaxFailures of them within
	// auth.DefaultFailureWindow, every attempt from it, the right token
	// included, is refused (429) until the window passes, so the token
	// cannot be guessed at network speed. Nil: an in-process limiter.
	Limiter ratelimit.Limiter
	// Wrap, when set, wraps the whole handler (tracing).
	Wrap func(http.Handler) http.Handler
}

var errInternalPanic = errors.New("handler panicked")

type server struct {
	Deps
}

// NewServer returns the product's HTTP handler with every route, and
// request logging, metrics and panic recovery around everything.
func NewServer(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Limiter == nil {
		d.Limiter = ratelimit.NewMemory(d.Now)
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
		// Public data, no audit trail: a caller's own id helps it
		// follow a request through the logs.
		AdoptRequestID: true,
		OnPanic: func(w http.ResponseWriter, r *http.Request) {
			httpx.WriteError(w, r, nil, telemetry.RequestID(r.Context()), errInternalPanic)
		},
	})
	if d.Wrap != nil {
		h = d.Wrap(h)
	}
	return h
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpx.WriteError(w, r, s.Logger, telemetry.RequestID(r.Context()), err)
}

// operator wraps a handler that needs the ingestion token.
func (s *server) operator(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.IngestToken == "" || s.Jobs == nil {
			s.fail(w, r, errs.Forbidden("loads from the API are disabled: set INGEST_API_TOKEN on the server"))
			return
		}
		ctx := r.Context()
		limitKey := "ingestfail:" + auth.ClientAddr(r.RemoteAddr)
		over, err := s.Limiter.Exceeded(ctx, limitKey, auth.DefaultMaxFailures)
		if err != nil && !errors.Is(err, ratelimit.ErrPaused) {
			// Fail open, as the adherence API does: a limiter outage must
			// not stop operators. (ErrPaused: logged at the failure.)
			s.Logger.WarnContext(ctx, "ingestion token: rate limiter failed; letting the attempt through", "error", err.Error())
		}
		if over {
			s.fail(w, r, errs.E(errs.CodeRateLimited, "too many failed authentication attempts; try again later"))
			return
		}
		got, err := auth.BearerToken(r)
		if err != nil || subtle.ConstantTimeCompare([]byte(got), []byte(s.IngestToken)) != 1 {
			if err == nil { // a token was presented, and it was wrong: a guess
				if _, herr := s.Limiter.Hit(ctx, limitKey, auth.DefaultFailureWindow); herr != nil && !errors.Is(herr, ratelimit.ErrPaused) {
					s.Logger.WarnContext(ctx, "ingestion token: rate limiter failed to count a failed attempt", "error", herr.Error())
				}
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="medsales"`)
			s.fail(w, r, errs.E(errs.CodeUnauthorized, "a valid bearer token is required"))
			return
		}
		h(w, r)
	})
}
