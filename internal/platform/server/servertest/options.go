package servertest

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// OptionsAsteriskIsAProblem checks a running service at base: `OPTIONS *`
// gets the answer OPTIONS on route gets, a 405 problem with X-Request-Id,
// Cache-Control: no-store and an (empty) Allow header, where net/http's
// own handler answered an empty 200 without them.
func OptionsAsteriskIsAProblem(t *testing.T, base, route string) {
	t.Helper()
	for _, target := range []string{"*", route} {
		req, err := http.NewRequest("OPTIONS", base, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = target // sent as the request target as it is
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var p map[string]any
		_ = json.Unmarshal(body, &p)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Content-Type") != "application/problem+json" ||
			p["type"] != "https://medplatform.dev/problems/method_not_allowed" {
			t.Errorf("OPTIONS %s = %d %q %s, want a 405 method_not_allowed problem", target, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if id := resp.Header.Get("X-Request-Id"); id == "" || p["requestId"] != id {
			t.Errorf("OPTIONS %s: X-Request-Id %q, requestId %v", target, id, p["requestId"])
		}
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("OPTIONS %s: Cache-Control %q, want no-store", target, got)
		}
		if _, ok := resp.Header["Allow"]; !ok {
			t.Errorf("OPTIONS %s: no Allow header", target)
		}
	}
}
