package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"testing"
)

// TestOptionsAsterisk: `OPTIONS *` gets the API's answer to OPTIONS on a
// route, a 405 problem with X-Request-Id and Cache-Control: no-store (and
// an empty Allow); net/http answered it itself with an empty 200 without
// those headers.
func TestOptionsAsterisk(t *testing.T) {
	addr := freeAddr(t)
	base := "http://" + addr
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "adherence.db"), "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--addr", addr}, envOf(env), nil, io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	waitReady(t, base+"/readyz", done)

	for _, target := range []string{"*", "/v1/patients"} {
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
