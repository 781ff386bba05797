package ingest_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/medsales/store"
)

// secrets are the parts of the test URLs that must appear nowhere: user
// name, password, presigned-query signature and token.
var secrets = []string{"loader", "s3cr3t", "sig123", "tok123", "AKIA"}

func leaks(s string) string {
	for _, x := range secrets {
		if strings.Contains(s, x) {
			return x
		}
	}
	return ""
}

// TestRunUnopenedURLRecordedWithoutCredentials: a URL source that cannot
// be opened (404, nothing listening) is recorded in the history as its
// scheme, host and path only: no user info, no query (a presigned URL's
// signature), neither in source_file, nor in the reason, nor in the log.
// A URL without a path had its user info and query recorded whole, and
// one whose path ends in a slash was recorded as "/". A load that opens
// the URL records, and logs, the file's name only.
func TestRunUnopenedURLRecordedWithoutCredentials(t *testing.T) {
	nucc, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", "nucc_taxonomy_sample.csv"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/drop/nucc_taxonomy_251.csv" {
			w.Write(nucc)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String() // nothing listens there once closed
	ln.Close()
	const presigned = "?X-Amz-Credential=AKIA%2F20260801%2Fus-east-1&X-Amz-Signature=sig123"

	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		for _, c := range []struct{ src, want string }{
			{"http://loader:s3cr3t@" + host + "/drop/missing.csv" + presigned, "http://" + host + "/drop/missing.csv"},
			{"http://loader:s3cr3t@" + closed + "/drop/nucc_taxonomy_251.csv?token=tok123", "http://" + closed + "/drop/nucc_taxonomy_251.csv"},
			{"http://loader:s3cr3t@" + host + "?token=tok123", "http://" + host},
			{"HTTP://loader@" + host + "/drop/?token=tok123#sig123", "http://" + host + "/drop/"},
		} {
			if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NUCC, Source: c.src}, nil); err == nil {
				t.Fatalf("load of %s succeeded", c.want)
			} else if x := leaks(err.Error()); x != "" {
				t.Errorf("error of %s holds %q: %v", c.want, x, err)
			}
			hist, err := e.st.Versions(ctx, medsales.NUCC, 1)
			if err != nil || len(hist) != 1 || hist[0].Status != store.StatusFailed {
				t.Fatalf("history %+v (%v): want one failed load", hist, err)
			}
			if hist[0].SourceFile != c.want {
				t.Errorf("source file recorded %q, want %q", hist[0].SourceFile, c.want)
			}
			if x := leaks(hist[0].Error); x != "" {
				t.Errorf("reason recorded for %s holds %q: %s", c.want, x, hist[0].Error)
			}
		}

		ok := "http://loader:s3cr3t@" + host + "/drop/nucc_taxonomy_251.csv" + presigned
		// (The sample holds two malformed rows among five.)
		if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NUCC, Source: ok, MaxRejectRatio: 0.5}, nil); err != nil {
			t.Fatal(err)
		}
		hist, err := e.st.Versions(ctx, medsales.NUCC, 1)
		if err != nil || len(hist) != 1 || hist[0].SourceFile != "nucc_taxonomy_251.csv" {
			t.Errorf("loaded from a URL: history %+v (%v), want source file nucc_taxonomy_251.csv", hist, err)
		}
		if x := leaks(e.log.String()); x != "" {
			t.Errorf("log holds %q:\n%s", x, e.log.String())
		}
	})
}
