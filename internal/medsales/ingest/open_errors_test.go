package ingest_test

import (
	"archive/zip"
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/medsales/source"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// TestOpenFailuresClassified: a source that names nothing to load (no
// such file, HTTP 404 or 403, a directory) or nothing loadable (a
// truncated archive, one without the dataset's file, one of several data
// years) is refused as invalid input, so its River job is cancelled at
// once; a failure a later attempt may not meet (HTTP 503, nothing
// listening) stays an unclassified error. They were all unclassified,
// internal failures whose jobs were discarded.
func TestOpenFailuresClassified(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/forbidden/nucc_taxonomy_251.csv":
			http.Error(w, "no", http.StatusForbidden)
		case "/busy/nucc_taxonomy_251.csv":
			http.Error(w, "busy", http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String() // nothing listens there once closed
	ln.Close()

	each(t, func(t *testing.T, e env) {
		partD, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", partDFile))
		if err != nil {
			t.Fatal(err)
		}
		years := filepath.Join(e.dir, "partd.zip")
		f, err := os.Create(years)
		if err != nil {
			t.Fatal(err)
		}
		zw := zip.NewWriter(f)
		for _, name := range []string{"MUP_DPR_RY24_P04_V10_DY22_NPIBN.csv", "MUP_DPR_RY25_P04_V10_DY23_NPIBN.csv"} {
			w, err := zw.Create(name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(partD); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		noCSV := zipOf(t, e.dir, "nucc.zip", "readme.md", []byte("see the website\n"))
		cut := write(t, e.dir, "cut.zip", []byte("PK\x03\x04 not the rest of an archive"))

		for _, c := range []struct {
			name    string
			req     ingest.Request
			invalid bool
		}{
			{"missing local file", ingest.Request{Dataset: medsales.NUCC, Source: filepath.Join(e.dir, "missing.csv")}, true},
			{"directory", ingest.Request{Dataset: medsales.NUCC, Source: e.dir}, true},
			{"zip without a csv", ingest.Request{Dataset: medsales.NUCC, Source: noCSV}, true},
			{"truncated zip", ingest.Request{Dataset: medsales.NUCC, Source: cut}, true},
			{"zip of several data years", ingest.Request{Dataset: medsales.PartD, Source: years}, true},
			{"HTTP 404", ingest.Request{Dataset: medsales.NUCC, Source: srv.URL + "/drop/nucc_taxonomy_251.csv"}, true},
			{"HTTP 403", ingest.Request{Dataset: medsales.NUCC, Source: srv.URL + "/forbidden/nucc_taxonomy_251.csv"}, true},
			{"HTTP 503", ingest.Request{Dataset: medsales.NUCC, Source: srv.URL + "/busy/nucc_taxonomy_251.csv"}, false},
			{"nothing listening", ingest.Request{Dataset: medsales.NUCC, Source: "http://" + closed + "/nucc_taxonomy_251.csv"}, false},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, err := e.svc.Run(context.Background(), c.req, nil)
				if err == nil {
					t.Fatal("Run succeeded, want an error")
				}
				if got := errs.CodeOf(err) == errs.CodeInvalid; got != c.invalid {
					t.Errorf("Run error %q has code %s, want invalid: %v", err, errs.CodeOf(err), c.invalid)
				}
				w := &ingest.Worker{Service: e.svc, Logger: e.svc.Logger}
				werr := w.Work(context.Background(), &river.Job[ingest.JobArgs]{
					JobRow: &rivertype.JobRow{ID: 1, Kind: ingest.JobArgs{}.Kind()},
					Args:   ingest.JobArgs{Request: c.req},
				})
				var cancelled *river.JobCancelError
				if got := errors.As(werr, &cancelled); got != c.invalid {
					t.Errorf("Work = %v: job cancelled %v, want %v", werr, got, c.invalid)
				}
			})
		}
	})
}

// TestOpenFailureKeepsItsCause: a source refused as invalid input keeps
// the source's error as its cause, so errors.Is(fs.ErrNotExist) and
// errors.As to the *fs.PathError of a missing local file still hold on
// Run's result, with the code still invalid. The error was rebuilt from
// its message, which lost them.
func TestOpenFailureKeepsItsCause(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		missing := filepath.Join(e.dir, "missing.csv")
		_, err := e.svc.Run(context.Background(), ingest.Request{Dataset: medsales.NUCC, Source: missing}, nil)
		if err == nil {
			t.Fatal("Run succeeded, want an error")
		}
		if errs.CodeOf(err) != errs.CodeInvalid {
			t.Errorf("Run error %q has code %s, want invalid", err, errs.CodeOf(err))
		}
		if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, source.ErrInput) {
			t.Errorf("Run error %q: errors.Is fs.ErrNotExist %v, source.ErrInput %v, want both", err,
				errors.Is(err, fs.ErrNotExist), errors.Is(err, source.ErrInput))
		}
		var pathErr *fs.PathError
		if !errors.As(err, &pathErr) || pathErr.Path != missing {
			t.Errorf("Run error %q: errors.As *fs.PathError = %+v, want the missing file's", err, pathErr)
		}
	})
}
