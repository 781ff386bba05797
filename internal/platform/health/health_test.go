package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/syncbuf"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fixedClock always reads the same instant, so every responseTimeMs is 0.
func fixedClock() time.Time { return time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC) }

// stepClock moves by step at every reading.
type stepClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.t
	c.t = c.t.Add(c.step)
	return now
}

// secretErr looks like a driver error that names a host and a password.
var secretErr = errors.New("dial tcp db.internal.example:5432: password authentication failed for hunter2")

func ok(details map[string]any) func(context.Context) (map[string]any, error) {
	return func(context.Context) (map[string]any, error) { return details, nil }
}

func failing(context.Context) (map[string]any, error) { return nil, secretErr }

// serve calls h and returns the status and the decoded body.
func serve(t *testing.T, h http.Handler) (int, string, any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var body any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, rec.Body.String())
	}
	return rec.Code, rec.Body.String(), body
}

// decode parses an expected JSON document.
func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad expected JSON: %v", err)
	}
	return v
}

func TestHealthHandler(t *testing.T) {
	tests := []struct {
		name       string
		checks     []health.Check
		wantStatus int
		wantBody   string
	}{
		{
			name: "all up",
			checks: []health.Check{
				{Name: "database", Critical: true, Run: ok(nil)},
				{Name: "redis", Critical: true, Run: ok(nil)},
				{Name: "diskSpace", Run: ok(map[string]any{"free": 100, "threshold": 10})},
			},
			wantStatus: 200,
			wantBody: `{"status":"UP","components":{
				"database":{"status":"UP","responseTimeMs":0},
				"redis":{"status":"UP","responseTimeMs":0},
				"diskSpace":{"status":"UP","responseTimeMs":0,"details":{"free":100,"threshold":10}}}}`,
		},
		{
			name: "critical down",
			checks: []health.Check{
				{Name: "database", Critical: true, Run: failing},
				{Name: "redis", Critical: true, Run: ok(nil)},
			},
			wantStatus: 503,
			wantBody: `{"status":"DOWN","components":{
				"database":{"status":"DOWN","responseTimeMs":0},
				"redis":{"status":"UP","responseTimeMs":0}}}`,
		},
		{
			name: "non-critical down keeps UP",
			checks: []health.Check{
				{Name: "database", Critical: true, Run: ok(nil)},
				{Name: "diskSpace", Run: func(context.Context) (map[string]any, error) {
					return map[string]any{"free": 1, "threshold": 10}, errors.New("low disk on /var/lib/secret")
				}},
			},
			wantStatus: 200,
			wantBody: `{"status":"UP","components":{
				"database":{"status":"UP","responseTimeMs":0},
				"diskSpace":{"status":"DOWN","responseTimeMs":0,"details":{"free":1,"threshold":10}}}}`,
		},
		{
			name: "panicking check is down",
			checks: []health.Check{
				{Name: "database", Critical: true, Run: func(context.Context) (map[string]any, error) { panic("nil pool") }},
			},
			wantStatus: 503,
			wantBody:   `{"status":"DOWN","components":{"database":{"status":"DOWN","responseTimeMs":0}}}`,
		},
		{
			name:       "no checks",
			wantStatus: 200,
			wantBody:   `{"status":"UP","components":{}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &syncbuf.Buffer{}
			c := health.New(tt.checks, time.Second, fixedClock, slog.New(slog.NewJSONHandler(logs, nil)))
			status, raw, body := serve(t, c.HealthHandler())
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d", status, tt.wantStatus)
			}
			if diff := cmp.Diff(decode(t, tt.wantBody), body); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
			for _, leak := range []string{"hunter2", "db.internal", "secret", "nil pool"} {
				if strings.Contains(raw, leak) {
					t.Errorf("body reveals %q: %s", leak, raw)
				}
			}
			if strings.Contains(raw, "DOWN") && !strings.Contains(logs.String(), "health check failed") {
				t.Errorf("failure not logged: %s", logs.String())
			}
		})
	}
}

func TestHealthLogsErrors(t *testing.T) {
	logs := &syncbuf.Buffer{}
	c := health.New([]health.Check{{Name: "database", Critical: true, Run: failing}}, time.Second, fixedClock, slog.New(slog.NewJSONHandler(logs, nil)))
	c.Health(context.Background())
	var line map[string]any
	if err := json.Unmarshal([]byte(logs.String()), &line); err != nil {
		t.Fatalf("log: %v: %s", err, logs.String())
	}
	if line["component"] != "database" || !strings.Contains(line["error"].(string), "hunter2") {
		t.Errorf("log line = %v, want component and error", line)
	}
}

func TestResponseTimeUsesClock(t *testing.T) {
	clock := &stepClock{t: fixedClock(), step: 3 * time.Millisecond}
	c := health.New([]health.Check{{Name: "database", Critical: true, Run: ok(nil)}}, time.Second, clock.Now, nil)
	rep := c.Health(context.Background())
	if got := rep.Components["database"].ResponseTimeMs; got != 3 {
		t.Errorf("responseTimeMs = %d, want 3", got)
	}
}

func TestCheckTimeout(t *testing.T) {
	release := make(chan struct{})
	tests := []struct {
		name string
		run  func(context.Context) (map[string]any, error)
	}{
		{name: "honours context", run: func(ctx context.Context) (map[string]any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}},
		{name: "ignores context", run: func(context.Context) (map[string]any, error) {
			<-release
			return nil, nil
		}},
	}
	defer close(release)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := health.New([]health.Check{
				{Name: "database", Critical: true, Run: tt.run},
				{Name: "redis", Critical: true, Run: ok(nil)},
			}, 20*time.Millisecond, nil, nil)
			done := make(chan health.Report, 1)
			go func() { done <- c.Health(context.Background()) }()
			select {
			case rep := <-done:
				if rep.Status != health.StatusDown || rep.Components["database"].Status != health.StatusDown || rep.Components["redis"].Status != health.StatusUp {
					t.Errorf("report = %+v, want database DOWN, redis UP, overall DOWN", rep)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Health did not return after the check timeout")
			}
		})
	}
}

func TestChecksRunConcurrently(t *testing.T) {
	// Each check waits for the other: run one after the other, they would
	// both time out.
	var wg sync.WaitGroup
	wg.Add(2)
	meet := func(ctx context.Context) (map[string]any, error) {
		wg.Done()
		met := make(chan struct{})
		go func() { wg.Wait(); close(met) }()
		select {
		case <-met:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c := health.New([]health.Check{
		{Name: "a", Critical: true, Run: meet},
		{Name: "b", Critical: true, Run: meet},
	}, 5*time.Second, nil, nil)
	if rep := c.Health(context.Background()); rep.Status != health.StatusUp {
		t.Errorf("report = %+v, want UP", rep)
	}
}

func TestReadiness(t *testing.T) {
	tests := []struct {
		name       string
		checks     []health.Check
		ready      bool
		draining   bool
		wantStatus int
		wantBody   string
	}{
		{
			name:       "before SetReady",
			checks:     []health.Check{{Name: "database", Critical: true, Run: ok(nil)}},
			wantStatus: 503,
			wantBody:   `{"status":"DOWN","reason":"starting"}`,
		},
		{
			name: "ready",
			checks: []health.Check{
				{Name: "database", Critical: true, Run: ok(nil)},
				{Name: "diskSpace", Run: failing},
			},
			ready:      true,
			wantStatus: 200,
			wantBody:   `{"status":"UP","components":{"database":{"status":"UP","responseTimeMs":0}}}`,
		},
		{
			name: "critical dependency down",
			checks: []health.Check{
				{Name: "database", Critical: true, Run: ok(nil)},
				{Name: "redis", Critical: true, Run: failing},
			},
			ready:      true,
			wantStatus: 503,
			wantBody: `{"status":"DOWN","reason":"dependency","components":{
				"database":{"status":"UP","responseTimeMs":0},
				"redis":{"status":"DOWN","responseTimeMs":0}}}`,
		},
		{
			name:       "draining",
			checks:     []health.Check{{Name: "database", Critical: true, Run: ok(nil)}},
			ready:      true,
			draining:   true,
			wantStatus: 503,
			wantBody:   `{"status":"DOWN","reason":"draining"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := health.New(tt.checks, time.Second, fixedClock, nil)
			c.SetReady(tt.ready)
			if tt.draining {
				c.StartDraining()
			}
			status, raw, body := serve(t, c.ReadyzHandler())
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d", status, tt.wantStatus)
			}
			if diff := cmp.Diff(decode(t, tt.wantBody), body); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
			if strings.Contains(raw, "hunter2") || strings.Contains(raw, "db.internal") {
				t.Errorf("body reveals the error: %s", raw)
			}
			if got, want := c.Ready(context.Background()), tt.wantStatus == 200; got != want {
				t.Errorf("Ready = %v, want %v", got, want)
			}

			// Liveness never depends on readiness nor on checks.
			status, _, body = serve(t, c.LivezHandler())
			if status != 200 || cmp.Diff(decode(t, `{"status":"UP"}`), body) != "" {
				t.Errorf("livez = %d %v, want 200 UP", status, body)
			}
		})
	}
}

func TestReadinessLifecycle(t *testing.T) {
	c := health.New([]health.Check{{Name: "database", Critical: true, Run: ok(nil)}}, time.Second, fixedClock, nil)
	ctx := context.Background()
	steps := []struct {
		do   func()
		want bool
	}{
		{do: func() {}, want: false},
		{do: func() { c.SetReady(true) }, want: true},
		{do: func() { c.StartDraining() }, want: false},
		{do: func() { c.SetReady(true) }, want: false}, // draining is final
	}
	for i, s := range steps {
		s.do()
		if got := c.Ready(ctx); got != s.want {
			t.Errorf("step %d: Ready = %v, want %v", i, got, s.want)
		}
	}
}

func TestNewRejectsBadChecks(t *testing.T) {
	tests := []struct {
		name   string
		checks []health.Check
	}{
		{name: "duplicate", checks: []health.Check{{Name: "db", Run: ok(nil)}, {Name: "db", Run: ok(nil)}}},
		{name: "no name", checks: []health.Check{{Run: ok(nil)}}},
		{name: "no run", checks: []health.Check{{Name: "db"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("New accepted the checks")
				}
			}()
			health.New(tt.checks, time.Second, nil, nil)
		})
	}
}
