package servertest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// ProblemsCarryRequestID checks a running service at base: a path no
// route serves (404) and a method the health endpoints do not answer
// (405) get a problem whose requestId is the X-Request-Id header the
// answer carries; an X-Request-Id sent by the client comes back when
// adopted is true (telemetry.MiddlewareDeps.AdoptRequestID), and is
// replaced by the server's own otherwise.
func ProblemsCarryRequestID(t *testing.T, base string, adopted bool) {
	t.Helper()
	for _, c := range []struct {
		method, path string
		status       int
		sentID       string
	}{
		{"GET", "/no-such-route", http.StatusNotFound, ""},
		{"POST", "/livez", http.StatusMethodNotAllowed, ""},
		{"DELETE", "/metrics", http.StatusMethodNotAllowed, "client-id-1"},
		{"GET", "/v1/no-such-route", http.StatusNotFound, "client-id-2"},
	} {
		req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		if c.sentID != "" {
			req.Header.Set("X-Request-Id", c.sentID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var p map[string]any
		_ = json.Unmarshal(body, &p)
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s = %d %q %s, want a %d problem", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, c.status)
		}
		id := resp.Header.Get("X-Request-Id")
		if id == "" || p["requestId"] != id {
			t.Errorf("%s %s: X-Request-Id %q, requestId %v, want the same id in both", c.method, c.path, id, p["requestId"])
		}
		if c.sentID != "" && adopted && id != c.sentID {
			t.Errorf("%s %s: X-Request-Id %q, want the client's %q", c.method, c.path, id, c.sentID)
		}
		if c.sentID != "" && !adopted && id == c.sentID {
			t.Errorf("%s %s: X-Request-Id %q is the client's, want the server's own", c.method, c.path, id)
		}
	}
}
