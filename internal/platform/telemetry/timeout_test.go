package telemetry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/syncbuf"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// TestMiddlewareDeadline checks what a request whose context deadline
// passed is answered, through the middleware and httpx.WriteError: a
// database call failing on the expired context (wrapping its error or,
// like SQLite's "interrupted", not) becomes a 503 problem with
// Retry-After, logged and counted as 503; other answers pass.
func TestMiddlewareDeadline(t *testing.T) {
	deadlineErr := fmt.Errorf("get patient: %w", context.DeadlineExceeded)
	tests := []struct {
		name       string
		expire     bool // the context's deadline passes before the handler answers
		err        error
		status     int // the handler's answer when err is nil
		wantStatus int
		wantType   string
		wantRetry  bool
	}{
		{name: "500 after the deadline", expire: true, err: deadlineErr, wantStatus: 503, wantType: httpx.ProblemTypeBase + "unavailable", wantRetry: true},
		{name: "unwrapped error after the deadline", expire: true, err: errors.New("interrupted (9)"), wantStatus: 503, wantType: httpx.ProblemTypeBase + "unavailable", wantRetry: true},
		{name: "503 after the deadline", expire: true, err: errs.E(errs.CodeUnavailable, "retry"), wantStatus: 503, wantType: httpx.ProblemTypeBase + "unavailable", wantRetry: true},
		{name: "404 after the deadline", expire: true, err: errs.NotFound("patient"), wantStatus: 404, wantType: httpx.ProblemTypeBase + "not_found"},
		{name: "200 after the deadline", expire: true, status: 200, wantStatus: 200},
		{name: "500 before the deadline", err: errors.New("boom"), wantStatus: 500, wantType: httpx.ProblemTypeBase + "internal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncbuf.Buffer
			log := telemetry.NewLogger(&logs, 0)
			inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.expire {
					<-r.Context().Done()
				}
				if tc.err != nil {
					httpx.WriteError(w, r, nil, telemetry.RequestID(r.Context()), tc.err)
					return
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte("{}\n"))
			})
			mux := http.NewServeMux()
			mux.Handle("GET /v1/patients/{id}", inner)
			h := telemetry.Middleware(mux, telemetry.MiddlewareDeps{Logger: log})

			timeout := time.Minute
			if tc.expire {
				timeout = 20 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			req := httptest.NewRequestWithContext(ctx, "GET", "/v1/patients/p1", nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if got := rec.Header().Get("Retry-After") != ""; got != tc.wantRetry {
				t.Errorf("Retry-After present = %v, want %v", got, tc.wantRetry)
			}
			if tc.wantType != "" {
				var p httpx.Problem
				if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
					t.Fatalf("body is not one problem: %v\n%s", err, rec.Body)
				}
				if p.Type != tc.wantType || p.Status != tc.wantStatus || p.RequestID == "" {
					t.Errorf("problem = %+v, want type %s, status %d and a request id", p, tc.wantType, tc.wantStatus)
				}
			}
			line := findLine(t, logLines(t, logs.String()), "http request")
			if got := line["status"]; got != float64(tc.wantStatus) {
				t.Errorf("access line status = %v, want %d", got, tc.wantStatus)
			}
			if got, want := line["bytes"], float64(rec.Body.Len()); got != want {
				t.Errorf("access line bytes = %v, want %v", got, want)
			}
		})
	}
}
