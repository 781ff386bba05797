// Package server runs a product process's lifecycle: the HTTP listener,
// the job workers, readiness, and the graceful shutdown both products
// share. On SIGTERM (ctx cancelled) readiness fails at once, the listener
// keeps serving for Drain so the load balancer stops routing, then
// in-flight requests finish, then the workers stop.
//
// Every request's context carries a deadline (Config.RequestTimeout), so a
// database that stops answering fails the request instead of holding it,
// and its connection, for as long as the stall lasts. Requests still
// running when shutdown stops waiting for them have their contexts
// cancelled and their connections closed, so the process can exit.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/medplatform/medplatform/internal/platform/config"
	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// Jobs is the job client the process runs (jobs.Client).
type Jobs interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Config is what Run needs.
type Config struct {
	// Addr is the listen address.
	Addr string
	// Handler serves the API, or HealthOnly in a worker process.
	Handler http.Handler
	Health  *health.Checker
	Jobs    Jobs
	// Drain is how long readiness fails before the listener closes.
	Drain time.Duration
	// RequestTimeout is the deadline of every request's context, counted
	// from when the handler starts (default DefaultRequestTimeout). No
	// endpoint of either product streams or legitimately runs longer:
	// the ones that wait on something slow (health checks, metrics
	// collectors, event ingestion) bound that wait themselves, below it.
	RequestTimeout time.Duration
	// ShutdownTimeout is how long shutdown waits for in-flight requests
	// once the listener is closed, and then for running jobs: one budget
	// for both (default DefaultShutdownTimeout). Jobs still running when
	// it is spent are cancelled.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
	// Started is logged once the process is ready, with these attributes.
	Started []any
}

// DefaultRequestTimeout is the request deadline when Config.RequestTimeout
// is zero.
const DefaultRequestTimeout = 30 * time.Second

// RequestTimeout reads REQUEST_TIMEOUT through getenv, both products'
// request deadline: DefaultRequestTimeout when unset, and more than 0.
func RequestTimeout(getenv func(string) string) (time.Duration, error) {
	d, err := config.Env{Getenv: getenv}.Duration("REQUEST_TIMEOUT", DefaultRequestTimeout)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("REQUEST_TIMEOUT must be more than 0s, got %s", d)
	}
	return d, nil
}

// CheckAddr refuses a listen address that could never be listened on (no
// port, a port that is no number): the address is only taken when Run
// starts, after the database has been opened (and, for an embedded
// default, created), so both products check it first.
func CheckAddr(addr string) error {
	if _, err := net.ResolveTCPAddr("tcp", addr); err != nil {
		return fmt.Errorf("listen on %s (--addr or LISTEN_ADDR): %w", addr, err)
	}
	return nil
}

// DefaultShutdownTimeout is how long shutdown waits, in all, for in-flight
// requests and then running jobs when Config.ShutdownTimeout is zero: with
// the default 5 s drain, the jobs' cancellation (at most jobs.CancelWait,
// 3 s) and at most 3 s to close the database (db.Close) it fits the 30 s
// ECS gives a task between SIGTERM and SIGKILL.
const DefaultShutdownTimeout = 16 * time.Second

// WithRequestTimeout gives every request's context a deadline timeout
// from now. Database calls made with the context fail once it passes
// (pgx closes a connection whose server does not answer in time), and the
// telemetry middleware then answers 503 with Retry-After.
func WithRequestTimeout(next http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// withResponseHardening sets what every answer of a process carries,
// whatever handler writes it:
//
//   - X-Content-Type-Options: nosniff, so that a browser never reads a
//     JSON answer (which may hold text a client sent) as another type;
//   - Connection: close on the answer to a request sent with a
//     Transfer-Encoding. net/http reads such a request by its chunks and
//     drops a Content-Length sent with them, without a trace; RFC 9112
//     (6.1) asks a server to close the connection after answering a
//     message that had both, since a proxy in front that framed it by its
//     Content-Length would read what follows differently (request
//     smuggling). Clients send a Content-Length; the few chunked requests
//     cost a new connection each.
func withResponseHardening(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// errHealthOnlyPanic answers a request whose handler panicked.
var errHealthOnlyPanic = errors.New("handler panicked")

// HealthOnly is the handler of a process without an API: the health
// endpoints and /metrics. Any other path gets the API's problem+json 404
// (or 405), not net/http's plain text. Around it is the API's telemetry
// middleware, so that every answer, a 404 or 405 too, carries the
// X-Request-Id its problem names, and is logged to log and counted in
// httpMetrics (either may be nil) as the API's requests are.
// adoptRequestID is telemetry.MiddlewareDeps.AdoptRequestID: the
// product's API's choice.
func HealthOnly(checker *health.Checker, metrics http.Handler, log *slog.Logger, httpMetrics *telemetry.HTTPMetrics, adoptRequestID bool) http.Handler {
	mux := httpx.NewMux()
	mux.Handle("GET /livez", checker.LivezHandler())
	mux.Handle("GET /readyz", checker.ReadyzHandler())
	mux.Handle("GET /health", checker.HealthHandler())
	mux.Handle("GET /metrics", metrics)
	// The query is judged as the API judges it (a value that is not URL
	// encoding or not text is a 400 naming it): the worker's probes
	// answer as the API's do (QA: livez?x=%00 was 400 there, 200 here).
	return telemetry.Middleware(httpx.OneValueEach(mux, "/v1/"), telemetry.MiddlewareDeps{
		Logger:         log,
		Metrics:        httpMetrics,
		AdoptRequestID: adoptRequestID,
		OnPanic: func(w http.ResponseWriter, r *http.Request) {
			httpx.WriteError(w, r, nil, telemetry.RequestID(r.Context()), errHealthOnlyPanic)
		},
	})
}

// StartCutShort returns what a process returns for err, the error of a
// step of its start (opening the database, migrating, …): nil, logging a
// warning, when ctx has ended meanwhile — a shutdown was asked (SIGTERM
// at a deployment that replaced the task as it started) and the step ran
// on ctx, so it failed of that, not of anything wrong: each migration
// applies whole or not at all, and the next start applies those left
// (QA: exit 1 with "partial migration error … context canceled", which
// read like damage). Otherwise it returns err.
func StartCutShort(ctx context.Context, log *slog.Logger, command string, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	log.WarnContext(context.WithoutCancel(ctx), "stopped while starting: a shutdown was asked; the next start completes what was cut short (migrations included)",
		"command", command, "error", err.Error())
	return nil
}

// Run serves until ctx ends, then shuts down gracefully. It returns an
// error when the listener cannot be opened or the server fails.
func Run(ctx context.Context, c Config) error {
	log := c.Logger
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (--addr or LISTEN_ADDR): %w", c.Addr, err)
	}
	requestTimeout := c.RequestTimeout
	if requestTimeout <= 0 {
		requestTimeout = DefaultRequestTimeout
	}
	shutdownTimeout := c.ShutdownTimeout
	if shutdownTimeout <= 0 {
		shutdownTimeout = DefaultShutdownTimeout
	}
	// Request contexts derive from base: cancelling it ends the requests
	// shutdown gave up waiting for (srv.Shutdown itself cancels nothing).
	base, cancelRequests := context.WithCancel(context.Background())
	defer cancelRequests()
	srv := &http.Server{
		Handler:           withResponseHardening(WithRequestTimeout(c.Handler, requestTimeout)),
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Long enough for the 503 of a request that hit its deadline.
		WriteTimeout: max(60*time.Second, requestTimeout+10*time.Second),
		IdleTimeout:  120 * time.Second,
		// net/http's own messages (a handler writing its header twice,
		// accept errors, …) as JSON warnings, not plain text on stderr.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// `OPTIONS *` goes to Handler like any request, so that its answer
		// is the API's (problem+json, X-Request-Id, Cache-Control), not
		// net/http's empty 200.
		DisableGeneralOptionsHandler: true,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if err := c.Jobs.Start(ctx); err != nil {
		srv.Close()
		return err
	}
	c.Health.SetReady(true)
	log.InfoContext(ctx, "started", append([]any{"addr", ln.Addr().String()}, c.Started...)...)

	select {
	case err := <-serveErr:
		c.Health.StartDraining()
		stopJobs(c.Jobs, log, time.Now().Add(shutdownTimeout))
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: readiness now fails", "drain", c.Drain.String())
	c.Health.StartDraining()
	time.Sleep(c.Drain) // let the load balancer see /readyz fail
	// One deadline for the requests and then the jobs, so that shutdown
	// as a whole stays inside the orchestrator's grace period.
	deadline := time.Now().Add(shutdownTimeout)
	shutdownCtx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Requests still running would keep their database connections
		// (and so the database close) busy: end their contexts, which
		// aborts their queries, and close their connections.
		log.Error("http shutdown: aborting requests still in flight", "error", err.Error())
		cancelRequests()
		_ = srv.Close()
	}
	stopJobs(c.Jobs, log, deadline)
	log.Info("stopped")
	return nil
}

// stopJobs stops the job workers, waiting for running jobs until deadline;
// the jobs still running then are cancelled (jobs.Client.Stop).
func stopJobs(j Jobs, log *slog.Logger, deadline time.Time) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := j.Stop(ctx); err != nil {
		log.Error("stop workers", "error", err.Error())
	}
}
