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

// TestHealthcheckRefusesABadURL: a --url that is not an absolute http(s)
// URL is a usage error naming the flag (and a bad LISTEN_ADDR, which the
// default URL is built from, names LISTEN_ADDR). It was probed and reported as
// "unhealthy: probe: ... unsupported protocol scheme", as if the server
// were down, so a misconfigured HEALTHCHECK looked like a failing server.
func TestHealthcheckRefusesABadURL(t *testing.T) {
	for _, u := range []string{"notaurl", "127.0.0.1:8080/readyz", "ftp://127.0.0.1/readyz", "http:///readyz", "http://127.0.0.1:bogus/readyz"} {
		var out, errOut strings.Builder
		err := run(context.Background(), []string{"healthcheck", "--url", u}, func(string) string { return "" }, nil, &out, &errOut)
		if err == nil || !strings.HasPrefix(err.Error(), "--url:") {
			t.Errorf("healthcheck --url %s: err = %v (stderr %q), want an error naming --url", u, err, errOut.String())
		}
		if out.Len() > 0 {
			t.Errorf("healthcheck --url %s printed %q", u, out.String())
		}
	}
	// The default URL is built from LISTEN_ADDR: a bad one is named.
	err := run(context.Background(), []string{"healthcheck"}, func(k string) string {
		if k == "LISTEN_ADDR" {
			return "127.0.0.1:bogus"
		}
		return ""
	}, nil, io.Discard, io.Discard)
	if err == nil || !strings.HasPrefix(err.Error(), "LISTEN_ADDR:") {
		t.Errorf("healthcheck with LISTEN_ADDR=127.0.0.1:bogus: err = %v, want an error naming LISTEN_ADDR", err)
	}
}
