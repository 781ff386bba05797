package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHealthcheckReadsListenAddrFile checks that healthcheck probes the
// address serve listens on when it is given as LISTEN_ADDR_FILE (which
// wins over LISTEN_ADDR, as for serve), and fails on an unreadable file.
func TestHealthcheckReadsListenAddrFile(t *testing.T) {
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
		}
	}))
	defer ready.Close()
	// An address nothing listens on: probing it fails.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	dir := t.TempDir()
	file := filepath.Join(dir, "la")
	if err := os.WriteFile(file, []byte(ready.Listener.Addr().String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}

	err = run(context.Background(), []string{"healthcheck"}, getenv(map[string]string{"LISTEN_ADDR_FILE": file, "LISTEN_ADDR": closed}), nil, io.Discard, io.Discard)
	if err != nil {
		t.Errorf("healthcheck with LISTEN_ADDR_FILE naming a ready server: %v", err)
	}

	missing := filepath.Join(dir, "nope")
	err = run(context.Background(), []string{"healthcheck"}, getenv(map[string]string{"LISTEN_ADDR_FILE": missing}), nil, io.Discard, io.Discard)
	if want := "read LISTEN_ADDR_FILE: open " + missing; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("healthcheck with an unreadable LISTEN_ADDR_FILE: err = %v, want it to contain %q", err, want)
	}
}

// TestHealthcheckRefusesBadURL: `healthcheck --url` with a value that is
// no http(s) URL naming a host fails naming --url, with the command's
// usage on stderr; it was probed and reported as an unhealthy server
// ("unhealthy: probe: Get \"bogus\": unsupported protocol scheme").
func TestHealthcheckRefusesBadURL(t *testing.T) {
	for _, v := range []string{"bogus", "127.0.0.1:8081/readyz", "ftp://127.0.0.1/readyz", "http:///readyz", "http://[::1/readyz"} {
		var stdout, stderr strings.Builder
		err := run(context.Background(), []string{"healthcheck", "--url", v}, func(string) string { return "" }, nil, &stdout, &stderr)
		if err == nil || !strings.HasPrefix(err.Error(), "--url: ") {
			t.Errorf("healthcheck --url %q: err = %v, want --url refused", v, err)
		}
		if !strings.HasPrefix(stderr.String(), "Usage: medsales healthcheck") || stdout.Len() != 0 {
			t.Errorf("healthcheck --url %q: stdout %q, stderr %q, want the usage on stderr only", v, stdout.String(), stderr.String())
		}
	}
}
