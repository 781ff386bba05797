package ingest_test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/medsales/source"
	"github.com/medplatform/medplatform/internal/medsales/store"
)

// noAWS empties the AWS configuration of the process: no keys, no shared
// files, no instance metadata, no region.
func noAWS(t *testing.T) {
	dir := t.TempDir()
	for _, k := range []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_MAX_ATTEMPTS",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
	} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "missing-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "missing-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// TestS3WithoutAWSConfigurationCancelsTheJob: an s3:// source the
// worker's AWS configuration cannot read (no credentials anywhere, an
// instance without a role, a profile the configuration does not define)
// fails at once as source.ErrConfig: the River job is cancelled, the
// error keeps its cause and names the source, and the history records the
// failed load. It was an unclassified error, as a network failure is, so
// the job was discarded as a failure of the worker, and an instance
// metadata service answering 404 for the role read as S3's own 404 (no
// such key). An S3 endpoint that cannot be reached stays unclassified.
func TestS3WithoutAWSConfigurationCancelsTheJob(t *testing.T) {
	s3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("S3 asked %s %s without credentials", r.Method, r.URL.Path)
		http.Error(w, "unexpected", http.StatusInternalServerError)
	}))
	defer s3.Close()
	imds := httptest.NewServer(http.NotFoundHandler()) // an instance without a role
	defer imds.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() // nothing listens there once closed
	ln.Close()

	each(t, func(t *testing.T, e env) {
		for _, c := range []struct {
			name     string
			env      map[string]string
			endpoint string
			config   bool   // source.ErrConfig, the job cancelled
			says     string // in the error and the history
		}{
			{name: "no credentials", endpoint: s3.URL, config: true, says: "credentials"},
			{name: "instance without a role", endpoint: s3.URL, config: true, says: "credentials",
				env: map[string]string{"AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.URL}},
			{name: "unknown profile", endpoint: s3.URL, config: true, says: "nosuchprofile",
				env: map[string]string{"AWS_PROFILE": "nosuchprofile"}},
			{name: "S3 unreachable", endpoint: closed, says: "connect",
				env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s3cret-key", "AWS_MAX_ATTEMPTS": "1"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				noAWS(t)
				for k, v := range c.env {
					t.Setenv(k, v)
				}
				svc := *e.svc
				svc.Source.S3Endpoint = c.endpoint
				const src = "s3://medsales-raw/nucc/nucc_taxonomy_251.csv"
				req := ingest.Request{Dataset: medsales.NUCC, Source: src}
				w := &ingest.Worker{Service: &svc, Logger: svc.Logger}
				werr := w.Work(context.Background(), &river.Job[ingest.JobArgs]{
					JobRow: &rivertype.JobRow{ID: 1, Kind: ingest.JobArgs{}.Kind()},
					Args:   ingest.JobArgs{Request: req},
				})
				if werr == nil {
					t.Fatal("Work succeeded, want an error")
				}
				var cancelled *river.JobCancelError
				if got := errors.As(werr, &cancelled); got != c.config {
					t.Errorf("Work = %v: job cancelled %v, want %v", werr, got, c.config)
				}
				if got := errors.Is(werr, source.ErrConfig); got != c.config {
					t.Errorf("Work = %v: errors.Is source.ErrConfig %v, want %v", werr, got, c.config)
				}
				if errors.Is(werr, fs.ErrNotExist) || errors.Is(werr, source.ErrInput) {
					t.Errorf("Work = %v: reads as the source's fault (no such object, bad input)", werr)
				}
				msg := werr.Error()
				t.Log(msg)
				for _, s := range []string{src, c.says} {
					if !strings.Contains(msg, s) {
						t.Errorf("Work = %q, does not say %q", msg, s)
					}
				}
				if strings.Contains(msg, "s3cret") {
					t.Errorf("Work = %q shows the secret key", msg)
				}
				hist, err := e.st.Versions(context.Background(), medsales.NUCC, 1)
				if err != nil || len(hist) != 1 {
					t.Fatalf("history %+v (%v)", hist, err)
				}
				if h := hist[0]; h.Status != store.StatusFailed || !strings.Contains(h.Error, c.says) || h.SourceFile != src {
					t.Errorf("history: %s %q from %q, want failed saying %q from %s", h.Status, h.Error, h.SourceFile, c.says, src)
				}
			})
		}
	})
}
