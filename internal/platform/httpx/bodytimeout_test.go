package httpx_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/httpx"
)

// TestDecodeBodyTimeout: a body that stops arriving before the server's
// read timeout is a 408 request_timeout, which clients retry; it was a 400
// "could not read request body", which tells an event client the request
// itself is wrong, and it drops the event.
func TestDecodeBodyTimeout(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := httpx.Decode(w, r, &v); err != nil {
			httpx.WriteError(w, r, nil, "req-1", err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// 100 bytes announced, one sent, then nothing.
	fmt.Fprintf(conn, "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct {
		Type   string
		Status int
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestTimeout || p.Status != http.StatusRequestTimeout || p.Type != httpx.ProblemTypeBase+"request_timeout" {
		t.Fatalf("answer %d %+v, want 408 request_timeout", resp.StatusCode, p)
	}
}
