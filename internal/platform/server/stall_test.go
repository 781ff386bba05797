package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/server"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// readHandler is a product read in miniature: the telemetry middleware
// around a route that reads the database and answers errors as problems.
// queried, when not nil, receives the result of each read.
func readHandler(d *db.DB, queried chan<- error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		var n int
		err := d.Read.QueryRowContext(r.Context(), "SELECT 1").Scan(&n)
		if queried != nil && r.PathValue("id") != "warmup" {
			queried <- err
		}
		if err != nil {
			httpx.WriteError(w, r, nil, telemetry.RequestID(r.Context()), fmt.Errorf("read thing: %w", err))
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]int{"n": n})
	})
	return telemetry.Middleware(mux, telemetry.MiddlewareDeps{})
}

type noJobs struct{}

func (noJobs) Start(context.Context) error { return nil }
func (noJobs) Stop(context.Context) error  { return nil }

// runServer runs server.Run on a free local port. stop ends it and
// returns Run's result; it may be called more than once.
func runServer(t *testing.T, c server.Config) (base string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.Addr = ln.Addr().String()
	ln.Close()
	log := slog.New(slog.DiscardHandler)
	c.Logger = log
	c.Health = health.New(nil, time.Second, time.Now, log)
	if c.Jobs == nil {
		c.Jobs = noJobs{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- server.Run(ctx, c) }()
	stop = sync.OnceValue(func() error {
		cancel()
		return <-errc
	})
	t.Cleanup(func() { _ = stop() })
	base = "http://" + c.Addr
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(base + "/v1/things/warmup")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("server did not start: %v", err)
		}
	}
	return base, stop
}

// TestStalledDatabaseRead: a read whose database stops answering is
// answered 503 with Retry-After once the request deadline passes, instead
// of hanging for as long as the stall lasts.
func TestStalledDatabaseRead(t *testing.T) {
	d, proxy := dbtest.StallablePostgres(t, db.Options{CloseTimeout: 500 * time.Millisecond})
	base, _ := runServer(t, server.Config{Handler: readHandler(d, nil), RequestTimeout: time.Second})

	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Get(base + "/v1/things/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("before the stall: status %d, want 200", resp.StatusCode)
	}

	proxy.Stall()
	start := time.Now()
	resp, err = client.Get(base + "/v1/things/1")
	if err != nil {
		t.Fatalf("during the stall: %v (the request has no deadline)", err)
	}
	defer resp.Body.Close()
	elapsed := time.Since(start)
	var p httpx.Problem
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatalf("decode problem: %v", err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || p.Type != httpx.ProblemTypeBase+"unavailable" {
		t.Errorf("during the stall: status %d, problem %+v; want 503 unavailable", resp.StatusCode, p)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if elapsed > 5*time.Second {
		t.Errorf("answered after %s, want about the 1s request timeout", elapsed)
	}
}

// TestShutdownAbortsStalledRequests: once shutdown stops waiting for a
// request stuck on a stalled database, the request's context ends, so its
// query fails and its connection is given back (a pool close waits for
// every connection given out), and the client's connection is closed.
func TestShutdownAbortsStalledRequests(t *testing.T) {
	d, proxy := dbtest.StallablePostgres(t, db.Options{CloseTimeout: 500 * time.Millisecond})
	queried := make(chan error, 1)
	base, stop := runServer(t, server.Config{
		Handler:         readHandler(d, queried),
		RequestTimeout:  time.Hour, // only shutdown ends the request
		ShutdownTimeout: 500 * time.Millisecond,
	})

	proxy.Stall()
	answered := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(base + "/v1/things/1")
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	waitFor(t, "the request to hold a connection", func() bool { return d.Pool.Stat().AcquiredConns() > 0 })

	returned := make(chan error, 1)
	go func() { returned <- stop() }()
	select {
	case err := <-returned:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return 10s after shutdown began")
	}
	select {
	case <-answered:
	case <-time.After(5 * time.Second):
		t.Error("the client's connection was left open after shutdown gave up")
	}
	select {
	case err := <-queried:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the stalled query ended with %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the stalled query still runs after shutdown gave up: its connection is never given back")
	}
}

// TestCloseAbandonsStalledConnections: a query without any deadline stuck
// on a stalled database does not keep Close from returning.
func TestCloseAbandonsStalledConnections(t *testing.T) {
	d, proxy := dbtest.StallablePostgres(t, db.Options{CloseTimeout: 500 * time.Millisecond})
	proxy.Stall()
	go func() {
		var n int
		_ = d.SQL.QueryRowContext(context.Background(), "SELECT 1").Scan(&n)
	}()
	waitFor(t, "the query to hold a connection", func() bool { return d.Pool.Stat().AcquiredConns() > 0 })

	closed := make(chan error, 1)
	start := time.Now()
	go func() { closed <- d.Close() }()
	select {
	case err := <-closed:
		if err == nil {
			t.Error("Close returned nil, want an error saying a connection was abandoned")
		}
		if elapsed := time.Since(start); elapsed > 3*time.Second {
			t.Errorf("Close took %s, want about its 500ms timeout", elapsed)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close blocked 10s on a connection stuck in a query")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
