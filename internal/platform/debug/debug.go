// Package debug serves Go's runtime profiles (net/http/pprof) on a
// separate listener, for operators chasing CPU or memory use in a running
// service. It is off unless PPROF_ADDR is set; bind it to localhost: the
// profiles reveal internals and must never face the internet.
package debug

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// CheckAddr reports whether Serve can listen on addr, by its form (a
// host and a port in range), so that a bad PPROF_ADDR fails startup with
// the other settings, before a database is opened or migrated. An empty
// addr (off) passes.
func CheckAddr(addr string) error {
	if addr == "" {
		return nil
	}
	if _, err := net.ResolveTCPAddr("tcp", addr); err != nil {
		return fmt.Errorf("listen for profiles on %s (PPROF_ADDR): %w", addr, err)
	}
	return nil
}

// Serve starts the profile server on addr until ctx ends. An empty addr
// does nothing.
func Serve(ctx context.Context, addr string, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for profiles on %s (PPROF_ADDR): %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Error("profile server", "error", err.Error())
		}
	}()
	log.Info("serving profiles", "addr", ln.Addr().String())
	return nil
}
