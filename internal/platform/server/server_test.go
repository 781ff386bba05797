package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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
	h := server.HealthOnly(health.New(nil, time.Second, time.Now, nil), metrics, nil, nil, false)
	for _, c := range []struct {
		method, path string
		status       int
		problem      bool
	}{
		{"GET", "/livez", 200, false},
		{"GET", "/metrics", 200, false},
		{"GET", "/nope", 404, true},
		{"POST", "/livez", 405, true},
		// The query is judged as the API judges it (QA: 200 here, 400
		// on the API).
		{"GET", "/livez?x=%00", 400, true},
		{"GET", "/health?a=%C0%80", 400, true},
		{"GET", "/metrics?a=%ZZ", 400, true},
		{"GET", "/livez?x=1&x=2", 200, false},
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

// TestChunkedRequestClosesTheConnection: a request sent with both
// Content-Length and Transfer-Encoding (the shape of request smuggling
// through a proxy that frames by Content-Length) is answered, then the
// connection is closed, as RFC 9112 6.1 asks: a request pipelined after it
// is not read on that connection. Every answer carries
// X-Content-Type-Options: nosniff.
func TestChunkedRequestClosesTheConnection(t *testing.T) {
	base, _ := runServer(t, server.Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})})
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	req := "POST /v1/things HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n" +
		"GET /v1/things/2 HTTP/1.1\r\nHost: x\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || !resp.Close || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("answer %d, Connection close %v, nosniff %q; want 204, closed, nosniff", resp.StatusCode, resp.Close, resp.Header.Get("X-Content-Type-Options"))
	}
	if second, err := http.ReadResponse(br, nil); err == nil {
		second.Body.Close()
		t.Fatalf("the request pipelined after the chunked one was answered (%d) on the same connection", second.StatusCode)
	}

	// A request with a Content-Length only keeps its connection.
	resp, err = http.Post(base+"/v1/things", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Close || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("a plain request: Connection close %v, nosniff %q; want kept open, nosniff", resp.Close, resp.Header.Get("X-Content-Type-Options"))
	}
}
