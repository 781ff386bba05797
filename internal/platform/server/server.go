// Package server runs a product process's lifecycle: the HTTP listener,
// the job workers, readiness, and the graceful shutdown both products
// share. On SIGTERM (ctx cancelled) readiness fails at once, the listener
// keeps serving for Drain so the load balancer stops routing, then
// in-flight requests finish, then the workers stop.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/medplatform/medplatform/internal/platform/health"
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
	Drain  time.Duration
	Logger *slog.Logger
	// Started is logged once the process is ready, with these attributes.
	Started []any
}

// HealthOnly is the handler of a process without an API: the health
// endpoints and /metrics.
func HealthOnly(checker *health.Checker, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /livez", checker.LivezHandler())
	mux.Handle("GET /readyz", checker.ReadyzHandler())
	mux.Handle("GET /health", checker.HealthHandler())
	mux.Handle("GET /metrics", metrics)
	return mux
}

// Run serves until ctx ends, then shuts down gracefully. It returns an
// error when the listener cannot be opened or the server fails.
func Run(ctx context.Context, c Config) error {
	log := c.Logger
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	srv := &http.Server{
		Handler:           c.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
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
		stopJobs(c.Jobs, log)
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: readiness now fails", "drain", c.Drain.String())
	c.Health.StartDraining()
	time.Sleep(c.Drain) // let the load balancer see /readyz fail
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Error("http shutdown", "error", err.Error())
	}
	stopJobs(c.Jobs, log)
	log.Info("stopped")
	return nil
}

func stopJobs(j Jobs, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := j.Stop(ctx); err != nil {
		log.Error("stop workers", "error", err.Error())
	}
}
