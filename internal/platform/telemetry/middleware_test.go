package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medplatform/medplatform/internal/platform/syncbuf"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// server is a product-like handler: a ServeMux with a patient route wrapped
// in Middleware, with its log and metrics.
type server struct {
	handler http.Handler
	logs    *syncbuf.Buffer
	reg     *prometheus.Registry
}

func newServer(t *testing.T, wrap func(mux *http.ServeMux) http.Handler, onPanic func(http.ResponseWriter, *http.Request)) *server {
	t.Helper()
	return newServerAdopting(t, wrap, onPanic, false)
}

// newServerAdopting is newServer with MiddlewareDeps.AdoptRequestID set to
// adopt.
func newServerAdopting(t *testing.T, wrap func(mux *http.ServeMux) http.Handler, onPanic func(http.ResponseWriter, *http.Request), adopt bool) *server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/patients/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"id":"`+r.PathValue("id")+`"}`)
	})
	mux.HandleFunc("POST /v1/boom", func(http.ResponseWriter, *http.Request) {
		panic("boom")
	})
	mux.HandleFunc("GET /v1/late-boom", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "partial")
		panic("late boom")
	})
	mux.HandleFunc("GET /v1/abort", func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	})
	mux.HandleFunc("GET /v1/request-id", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, telemetry.RequestID(r.Context()))
	})
	var inner http.Handler = mux
	if wrap != nil {
		inner = wrap(mux)
	}
	logs := &syncbuf.Buffer{}
	reg := telemetry.NewRegistry()
	metrics, err := telemetry.NewHTTPMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	clock := &stepClock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), step: 30 * time.Millisecond}
	h := telemetry.Middleware(inner, telemetry.MiddlewareDeps{
		AdoptRequestID: adopt,
		Logger:         telemetry.NewLogger(logs, slog.LevelDebug),
		Metrics:        metrics,
		OnPanic:        onPanic,
		Now:            clock.Now,
	})
	return &server{handler: h, logs: logs, reg: reg}
}

// metricsText returns what /metrics serves for the server's registry.
func (s *server) metricsText(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	telemetry.MetricsHandler(s.reg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics status = %d", rec.Code)
	}
	return rec.Body.String()
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestMiddlewareRequestID(t *testing.T) {
	tests := []struct {
		name     string
		incoming string
		wantKept bool
	}{
		{name: "none", incoming: ""},
		{name: "valid", incoming: "abc-123_DEF.xyz", wantKept: true},
		{name: "valid 64 chars", incoming: strings.Repeat("a", 64), wantKept: true},
		{name: "too long", incoming: strings.Repeat("a", 65)},
		{name: "space", incoming: "abc 123"},
		{name: "log injection", incoming: `abc","level":"ERROR`},
		{name: "slash", incoming: "../etc"},
	}
	for _, adopt := range []bool{true, false} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("adopt=%v/%s", adopt, tt.name), func(t *testing.T) {
				testRequestID(t, newServerAdopting(t, nil, nil, adopt), tt.incoming, adopt && tt.wantKept)
			})
		}
	}
}

// testRequestID sends incoming as X-Request-Id (none when empty) to s
// and checks the request's id is incoming when wantKept, generated
// otherwise, and the same in the handler, the response and the log.
func testRequestID(t *testing.T, s *server, incoming string, wantKept bool) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/v1/request-id", nil)
	if incoming != "" {
		req.Header.Set("X-Request-Id", incoming)
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)

	got := rec.Header().Get("X-Request-Id")
	if wantKept && got != incoming {
		t.Errorf("X-Request-Id = %q, want the incoming %q", got, incoming)
	}
	if !wantKept && !generatedID.MatchString(got) {
		t.Errorf("X-Request-Id = %q, want 32 generated hex digits", got)
	}
	if body := rec.Body.String(); body != got {
		t.Errorf("handler saw request id %q, response header says %q", body, got)
	}
	access := findLine(t, logLines(t, s.logs.String()), "http request")
	if access["request_id"] != got {
		t.Errorf("access log request_id = %v, want %q", access["request_id"], got)
	}
}

func TestMiddlewareGeneratesDistinctIDs(t *testing.T) {
	s := newServer(t, nil, nil)
	seen := map[string]bool{}
	for range 20 {
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/request-id", nil))
		id := rec.Header().Get("X-Request-Id")
		if seen[id] {
			t.Fatalf("request id %q generated twice", id)
		}
		seen[id] = true
	}
}

func TestMiddlewarePanic(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		path        string
		wantAbort   bool
		wantLogged  bool
		wantOnPanic bool
		wantStatus  int
	}{
		{name: "before response", method: http.MethodPost, path: "/v1/boom", wantLogged: true, wantOnPanic: true, wantStatus: 500},
		{name: "after response started", method: http.MethodGet, path: "/v1/late-boom", wantAbort: true, wantLogged: true, wantStatus: 200},
		{name: "ErrAbortHandler", method: http.MethodGet, path: "/v1/abort", wantAbort: true, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var onPanicCalls int
			onPanic := func(w http.ResponseWriter, r *http.Request) {
				onPanicCalls++
				if telemetry.RequestID(r.Context()) == "" {
					t.Error("OnPanic got a request without request id")
				}
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, `{"status":500}`)
			}
			s := newServer(t, nil, onPanic)
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(`{"name":"Alice Secret"}`))
			rec := httptest.NewRecorder()

			var recovered any
			func() {
				defer func() { recovered = recover() }()
				s.handler.ServeHTTP(rec, req)
			}()

			if tt.wantAbort {
				if err, _ := recovered.(error); !errors.Is(err, http.ErrAbortHandler) {
					t.Fatalf("recovered %v, want http.ErrAbortHandler", recovered)
				}
			} else if recovered != nil {
				t.Fatalf("Middleware let a panic through: %v", recovered)
			}
			if tt.wantOnPanic {
				if onPanicCalls != 1 {
					t.Errorf("OnPanic called %d times, want 1", onPanicCalls)
				}
				if got := rec.Header().Get("Content-Type"); got != "application/problem+json" {
					t.Errorf("Content-Type = %q, want the OnPanic one", got)
				}
			} else if onPanicCalls != 0 {
				t.Errorf("OnPanic called %d times, want 0", onPanicCalls)
			}
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}

			out := s.logs.String()
			if strings.Contains(out, "Alice") {
				t.Errorf("logs contain the request body:\n%s", out)
			}
			lines := logLines(t, out)
			if tt.wantLogged {
				p := findLine(t, lines, "panic serving request")
				if p["level"] != "ERROR" || !strings.Contains(p["panic"].(string), "boom") {
					t.Errorf("panic line = %v", p)
				}
				if stack, _ := p["stack"].(string); !strings.Contains(stack, "goroutine") {
					t.Errorf("panic line has no stack: %v", p)
				}
				if p["request_id"] == "" || p["route"] == "" {
					t.Errorf("panic line lacks request_id or route: %v", p)
				}
			}
			access := findLine(t, lines, "http request")
			if got := int(access["status"].(float64)); got != tt.wantStatus {
				t.Errorf("access log status = %d, want %d", got, tt.wantStatus)
			}
		})
	}
}

func TestMiddlewareDefaultOnPanic(t *testing.T) {
	s := newServer(t, nil, nil)
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/boom", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", rec.Code)
	}
	if strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("500 body reveals the panic: %q", rec.Body.String())
	}
}

// rewrap stands for a middleware between Middleware and the mux that
// replaces the request.
func rewrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), struct{}{}, 1)))
	})
}

func TestMiddlewareLogsRouteNotPath(t *testing.T) {
	recordRoutes := func(mux *http.ServeMux) http.Handler {
		// Per-route registration with RecordRoute behind a request-replacing
		// middleware.
		outer := http.NewServeMux()
		outer.Handle("GET /v1/patients/{id}", telemetry.RecordRoute(mux))
		outer.Handle("/", mux)
		return rewrap(outer)
	}
	tests := []struct {
		name       string
		wrap       func(*http.ServeMux) http.Handler
		target     string
		wantStatus int
		wantRoute  string
	}{
		{name: "mux directly", target: "/v1/patients/secret-123?name=Alice", wantStatus: 200, wantRoute: "/v1/patients/{id}"},
		{name: "RecordRoute behind a rewrapping middleware", wrap: recordRoutes, target: "/v1/patients/secret-123?name=Alice", wantStatus: 200, wantRoute: "/v1/patients/{id}"},
		{name: "rewrapping middleware without RecordRoute", wrap: func(mux *http.ServeMux) http.Handler { return rewrap(mux) }, target: "/v1/patients/secret-123?name=Alice", wantStatus: 200, wantRoute: "unmatched"},
		{name: "no route", target: "/v2/secret-123?name=Alice", wantStatus: 404, wantRoute: "unmatched"},
		{name: "wrong method", target: "/v1/boom?name=Alice&id=secret-123", wantStatus: 405, wantRoute: "unmatched"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.wrap, nil)
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, tt.target, nil)
			req.RemoteAddr = "10.0.0.7:5555"
			s.handler.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantStatus)
			}

			out := s.logs.String()
			access := findLine(t, logLines(t, out), "http request")
			want := map[string]any{
				"level":       "INFO",
				"method":      "GET",
				"route":       tt.wantRoute,
				"status":      float64(tt.wantStatus),
				"bytes":       float64(rec.Body.Len()),
				"duration_ms": float64(30),
				"remote_addr": "10.0.0.7:5555",
				"request_id":  rec.Header().Get("X-Request-Id"),
			}
			for k, v := range want {
				if access[k] != v {
					t.Errorf("access log %s = %v, want %v", k, access[k], v)
				}
			}

			metrics := s.metricsText(t)
			for _, leak := range []string{"secret-123", "Alice"} {
				if strings.Contains(out, leak) {
					t.Errorf("logs contain %q:\n%s", leak, out)
				}
				if strings.Contains(metrics, leak) {
					t.Errorf("metrics contain %q", leak)
				}
			}
			wantCounter := `http_requests_total{method="GET",route="` + tt.wantRoute + `",status="` + strconv.Itoa(tt.wantStatus) + `"} 1`
			if !strings.Contains(metrics, wantCounter) {
				t.Errorf("metrics lack %s", wantCounter)
			}
			// 30ms falls in the 0.05 bucket, not in the 0.025 one.
			for line, want := range map[string]bool{
				`http_request_duration_seconds_bucket{method="GET",route="` + tt.wantRoute + `",le="0.025"} 0`: true,
				`http_request_duration_seconds_bucket{method="GET",route="` + tt.wantRoute + `",le="0.05"} 1`:  true,
			} {
				if strings.Contains(metrics, line) != want {
					t.Errorf("metrics contain %s: %v, want %v", line, !want, want)
				}
			}
		})
	}
}

func TestMiddlewareUnknownMethodIsOther(t *testing.T) {
	s := newServer(t, nil, nil)
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, httptest.NewRequest("BREW", "/v1/patients/1", nil))
	metrics := s.metricsText(t)
	if !strings.Contains(metrics, `http_requests_total{method="OTHER",route="unmatched",status="405"} 1`) {
		t.Errorf("unknown method not reported as OTHER:\n%s", grepLines(metrics, "http_requests_total"))
	}
}

func TestMetricsHandlerAndRegistry(t *testing.T) {
	s := newServer(t, nil, nil)
	s.handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/patients/7", nil))
	metrics := s.metricsText(t)
	for _, want := range []string{
		"# TYPE http_requests_total counter",
		"# TYPE http_request_duration_seconds histogram",
		`le="0.005"`, `le="0.01"`, `le="0.1"`, `le="0.25"`, `le="0.5"`, `le="1"`, `le="2.5"`, `le="5"`,
		"go_goroutines",
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if _, err := telemetry.NewHTTPMetrics(s.reg); err == nil {
		t.Error("registering the HTTP metrics twice on one registry succeeded")
	}
	// Served alone too (a worker's health port), a scrape is never cached.
	rec := httptest.NewRecorder()
	telemetry.MetricsHandler(s.reg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if got := rec.Header().Get("Cache-Control"); rec.Code != 200 || got != "no-store" {
		t.Errorf("MetricsHandler: %d, Cache-Control %q, want 200 and no-store", rec.Code, got)
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
