package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/server"
)

// TestHealthOnlyAnswersProblems: a worker's port serves its health
// endpoints and metrics, and answers anything else as the API does, with
// problem+json; every answer carries an X-Request-Id.
func TestHealthOnlyAnswersProblems(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("up 1\n")) })
	h := server.HealthOnly(health.New(nil, time.Second, time.Now, nil), metrics, nil, nil)
	for _, c := range []struct {
		method, path string
		status       int
		problem      bool
	}{
		{"GET", "/livez", 200, false},
		{"GET", "/metrics", 200, false},
		{"GET", "/nope", 404, true},
		{"POST", "/livez", 405, true},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.status {
			t.Errorf("%s %s = %d, want %d", c.method, c.path, rec.Code, c.status)
		}
		if rec.Header().Get("X-Request-Id") == "" {
			t.Errorf("%s %s: no X-Request-Id", c.method, c.path)
		}
		if !c.problem {
			continue
		}
		var p map[string]any
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p["status"] != float64(c.status) {
			t.Errorf("%s %s: %s %q, want a problem+json body", c.method, c.path, ct, rec.Body.String())
		}
	}
}

// deadlineJobs records the deadline its Stop was given.
type deadlineJobs struct {
	deadline chan time.Time
}

func (deadlineJobs) Start(context.Context) error { return nil }
func (j deadlineJobs) Stop(ctx context.Context) error {
	d, _ := ctx.Deadline()
	j.deadline <- d
	return nil
}

// TestShutdownSharesOneBudget: the job workers are stopped with what is
// left of the shutdown budget that the in-flight requests started on, not
// a budget of their own after it, so shutdown as a whole stays inside
// ShutdownTimeout (plus the drain).
func TestShutdownSharesOneBudget(t *testing.T) {
	jobs := deadlineJobs{deadline: make(chan time.Time, 1)}
	const budget = 3 * time.Second
	_, stop := runServer(t, server.Config{Handler: http.NotFoundHandler(), Jobs: jobs, ShutdownTimeout: budget})
	stopped := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Run starts the budget a moment after stop was called: a second of
	// slack, far below a budget of the jobs' own.
	d := <-jobs.deadline
	if end := stopped.Add(budget + time.Second); d.IsZero() || d.After(end) {
		t.Fatalf("jobs stop deadline %v, want one within the shutdown budget (before %v)", d, end)
	}
}
