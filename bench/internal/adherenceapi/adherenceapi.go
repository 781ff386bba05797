// Package adherenceapi starts the adherence API in a benchmark's own
// process, wired as `adherence serve` wires it (authentication, audit of
// every read, telemetry middleware), on a loopback listener.
package adherenceapi

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/medplatform/medplatform/internal/adherence/api"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/ratelimit"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// Start serves the API over d, st and al on 127.0.0.1 at a free port and
// returns its base URL ("http://127.0.0.1:port") and a stop function.
func Start(d *db.DB, st *store.Store, al *audit.Log, logger *slog.Logger) (base string, stop func(), err error) {
	authn, err := auth.NewAuthenticator(st, nil, ratelimit.NewMemory(time.Now), time.Now)
	if err != nil {
		return "", nil, err
	}
	checker := health.New([]health.Check{health.DatabaseCheck(d)}, time.Second, time.Now, logger)
	checker.SetReady(true)
	reg := telemetry.NewRegistry()
	metrics, err := telemetry.NewHTTPMetrics(reg)
	if err != nil {
		return "", nil, err
	}
	h := api.NewServer(api.Deps{Store: st, Audit: al, Auth: authn, Health: checker, Registry: reg, HTTPMetrics: metrics, Logger: logger, Now: time.Now})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}
