package servertest

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

// Run is a product's command line (its main package's run).
type Run func(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error

// HealthcheckReadsListenAddrFile checks that `PRODUCT healthcheck` probes
// the address serve listens on when it is given as LISTEN_ADDR_FILE
// (LISTEN_ADDR set to another address is an error, as for serve), and
// fails on an unreadable file.
func HealthcheckReadsListenAddrFile(t *testing.T, run Run) {
	t.Helper()
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
	err = run(context.Background(), []string{"healthcheck"}, getenv(map[string]string{"LISTEN_ADDR_FILE": file}), nil, io.Discard, io.Discard)
	if err != nil {
		t.Errorf("healthcheck with LISTEN_ADDR_FILE naming a ready server: %v", err)
	}
	// With LISTEN_ADDR naming another address, neither is probed: which
	// one the server listens on is not known.
	err = run(context.Background(), []string{"healthcheck"}, getenv(map[string]string{"LISTEN_ADDR_FILE": file, "LISTEN_ADDR": closed}), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "LISTEN_ADDR and LISTEN_ADDR_FILE are both set") {
		t.Errorf("healthcheck with LISTEN_ADDR and LISTEN_ADDR_FILE naming different addresses: %v, want an error naming both", err)
	}
	missing := filepath.Join(dir, "nope")
	err = run(context.Background(), []string{"healthcheck"}, getenv(map[string]string{"LISTEN_ADDR_FILE": missing}), nil, io.Discard, io.Discard)
	if want := "read LISTEN_ADDR_FILE: open " + missing; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("healthcheck with an unreadable LISTEN_ADDR_FILE: err = %v, want it to contain %q", err, want)
	}
}

// HealthcheckRefusesABadURL checks that `PRODUCT healthcheck --url V`
// with a V that is no absolute http(s) URL with a host fails naming
// --url, with the command's usage on stderr and nothing on stdout, and
// that a LISTEN_ADDR the default URL cannot be built from is named. Both
// were probed and reported as "unhealthy: probe: …", as if the server
// were down, so a misconfigured HEALTHCHECK looked like a failing server.
func HealthcheckRefusesABadURL(t *testing.T, run Run, product string) {
	t.Helper()
	for _, v := range []string{"bogus", "127.0.0.1:8080/readyz", "ftp://127.0.0.1/readyz", "http:///readyz", "http://127.0.0.1:bogus/readyz", "http://[::1/readyz"} {
		var stdout, stderr strings.Builder
		err := run(context.Background(), []string{"healthcheck", "--url", v}, func(string) string { return "" }, nil, &stdout, &stderr)
		if err == nil || !strings.HasPrefix(err.Error(), "--url: ") {
			t.Errorf("healthcheck --url %q: err = %v, want --url refused", v, err)
		}
		if !strings.HasPrefix(stderr.String(), "Usage: "+product+" healthcheck") || stdout.Len() != 0 {
			t.Errorf("healthcheck --url %q: stdout %q, stderr %q, want the usage on stderr only", v, stdout.String(), stderr.String())
		}
	}
	var stdout, stderr strings.Builder
	err := run(context.Background(), []string{"healthcheck"}, func(k string) string {
		if k == "LISTEN_ADDR" {
			return "127.0.0.1:bogus"
		}
		return ""
	}, nil, &stdout, &stderr)
	if err == nil || !strings.HasPrefix(err.Error(), "LISTEN_ADDR:") {
		t.Errorf("healthcheck with LISTEN_ADDR=127.0.0.1:bogus: err = %v, want an error naming LISTEN_ADDR", err)
	}
	if stdout.Len() != 0 || strings.Contains(stderr.String(), "unhealthy") {
		t.Errorf("healthcheck with LISTEN_ADDR=127.0.0.1:bogus: stdout %q, stderr %q, want no probe", stdout.String(), stderr.String())
	}
}
