package source_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/source"
	"github.com/medplatform/medplatform/internal/platform/blob"
)

// s3Request is one request the S3 server answered.
type s3Request struct {
	method, path, rng string
	accessKey         string // from the SigV4 Authorization header
}

// s3Server is gofakes3, in process, behind a recorder. Requests for the
// bucket "private" are refused with S3's AccessDenied, which gofakes3 does
// not produce by itself.
type s3Server struct {
	ts      *httptest.Server
	backend *s3mem.Backend
	fake    http.Handler // gofakes3

	mu   sync.Mutex
	reqs []s3Request
	// misbehave, when set, may take over the n-th request (from 0) and
	// returns whether it did.
	misbehave func(n int, w http.ResponseWriter, r *http.Request) bool
}

func newS3Server(t *testing.T) *s3Server {
	t.Helper()
	s := &s3Server{backend: s3mem.New()}
	s.fake = gofakes3.New(s.backend).Server()
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := s3Request{method: r.Method, path: r.URL.Path, rng: r.Header.Get("Range")}
		if _, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
			req.accessKey, _, _ = strings.Cut(cred, "/")
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, req)
		n, misbehave := len(s.reqs)-1, s.misbehave
		s.mu.Unlock()
		if misbehave != nil && misbehave(n, w, r) {
			return
		}
		if strings.HasPrefix(r.URL.Path, "/private/") {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` +
				`<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>R1</RequestId><HostId>H1</HostId></Error>`))
			return
		}
		s.fake.ServeHTTP(w, r)
	}))
	// gofakes3 complains through the server's log when a client drops a
	// body early, as Open does once the first bytes show a zip.
	s.ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.ts.Start()
	t.Cleanup(s.ts.Close)
	return s
}

func (s *s3Server) put(t *testing.T, bucket, key string, data []byte) {
	t.Helper()
	if err := s.backend.CreateBucket(bucket); err != nil && !gofakes3.HasErrorCode(err, gofakes3.ErrBucketAlreadyExists) {
		t.Fatal(err)
	}
	if _, err := s.backend.PutObject(bucket, key, map[string]string{}, bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
}

func (s *s3Server) requests() []s3Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]s3Request(nil), s.reqs...)
}

// isolateAWS clears the AWS configuration this process may have, so that
// only what a test sets is used and nothing reaches for instance metadata.
func isolateAWS(t *testing.T) {
	dir := t.TempDir()
	for _, k := range []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
		"AWS_DEFAULT_REGION", "AWS_MAX_ATTEMPTS", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
	} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_REGION", "us-east-1")
}

func TestOpenS3(t *testing.T) {
	csv := csvRows(2000)
	nppes := buildZip(t, readme, fileheader, pfile, plpfile)
	bigMember := member{name: "MUP_PHY_R26_P05_V10_D24_Prov_Svc.csv", data: randomBytes(5<<20+123, 3), store: true}
	big := buildZip(t, bigMember)
	tests := []struct {
		name   string
		scheme string // "" means s3://
		// setup sets the environment and returns the options, given the
		// server's URL.
		setup     func(t *testing.T, endpoint string) source.Options
		key       string
		want      member
		archive   string
		accessKey string
		minRanged int // at least this many Range requests
	}{
		{
			name: "plain object, S3:// in capitals, client with static credentials in Options", scheme: "S3://",
			setup: func(t *testing.T, endpoint string) source.Options {
				c, err := blob.NewS3Client(context.Background(), endpoint,
					config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDOPTIONS", "secret-options", "")))
				if err != nil {
					t.Fatal(err)
				}
				return source.Options{S3: c}
			},
			key: "cms/MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", want: member{name: "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", data: csv},
			accessKey: "AKIDOPTIONS",
		},
		{
			name: "zip object, endpoint in Options, credentials from the environment",
			setup: func(t *testing.T, endpoint string) source.Options {
				t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
				t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-env")
				return source.Options{S3Endpoint: endpoint, Dataset: medsales.NPPES}
			},
			key: "nppes/NPPES_Data_Dissemination_August_2026_V2.zip", want: pfile,
			archive: "NPPES_Data_Dissemination_August_2026_V2.zip", accessKey: "AKIDENV", minRanged: 2,
		},
		{
			name: "zip object, endpoint from AWS_ENDPOINT_URL_S3",
			setup: func(t *testing.T, endpoint string) source.Options {
				t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV2")
				t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-env")
				t.Setenv("AWS_ENDPOINT_URL_S3", endpoint)
				return source.Options{Member: plpfile.name}
			},
			key: "nppes/NPPES_Data_Dissemination_August_2026_V2.zip", want: plpfile,
			archive: "NPPES_Data_Dissemination_August_2026_V2.zip", accessKey: "AKIDENV2", minRanged: 2,
		},
		{
			name: "zip object larger than one window",
			setup: func(t *testing.T, endpoint string) source.Options {
				t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
				t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-env")
				return source.Options{S3Endpoint: endpoint}
			},
			key: "cms/MUP_PHY_R26_P05_V10_D24_Prov_Svc.zip", want: bigMember,
			archive: "MUP_PHY_R26_P05_V10_D24_Prov_Svc.zip", accessKey: "AKIDENV", minRanged: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateAWS(t)
			srv := newS3Server(t)
			srv.put(t, "medsales-raw", "cms/MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", csv)
			srv.put(t, "medsales-raw", "nppes/NPPES_Data_Dissemination_August_2026_V2.zip", nppes)
			srv.put(t, "medsales-raw", "cms/MUP_PHY_R26_P05_V10_D24_Prov_Svc.zip", big)
			opts := tt.setup(t, srv.ts.URL)

			scheme := "s3://"
			if tt.scheme != "" {
				scheme = tt.scheme
			}
			f, err := source.Open(context.Background(), scheme+"medsales-raw/"+tt.key, opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer f.Close()
			checkFile(t, f, tt.want.name, tt.archive, int64(len(tt.want.data)), tt.want.data)
			if err := f.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}

			reqs := srv.requests()
			ranged := 0
			for i, r := range reqs {
				if r.method != http.MethodGet || r.path != "/medsales-raw/"+tt.key {
					t.Errorf("request %d: %s %s; want a path-style GET of /medsales-raw/%s", i, r.method, r.path, tt.key)
				}
				if r.accessKey != tt.accessKey {
					t.Errorf("request %d signed with access key %q, want %q", i, r.accessKey, tt.accessKey)
				}
				if r.rng != "" {
					ranged++
				}
			}
			if ranged < tt.minRanged {
				t.Errorf("%d Range requests, want at least %d: %+v", ranged, tt.minRanged, reqs)
			}
		})
	}
}

func TestOpenS3Errors(t *testing.T) {
	nppes := buildZip(t, pfile)
	tests := []struct {
		name  string
		src   string
		noKey bool   // no credentials anywhere
		env   string // extra "K=V"
		is    error
		says  []string
		input bool // matches ErrInput: another attempt would fail alike
	}{
		{name: "no such key", src: "s3://medsales-raw/missing.csv", is: fs.ErrNotExist, says: []string{"HTTP 404", "NoSuchKey"}, input: true},
		{name: "no such bucket", src: "s3://nobucket/x.csv", is: fs.ErrNotExist, says: []string{"HTTP 404", "NoSuchBucket"}, input: true},
		{name: "access denied", src: "s3://private/x.csv", is: fs.ErrPermission, says: []string{"HTTP 403", "AccessDenied"}, input: true},
		{name: "truncated zip", src: "s3://medsales-raw/cut.zip", says: []string{"not a valid zip file"}, input: true},
		{name: "no credentials", src: "s3://medsales-raw/x.csv", noKey: true, says: []string{"credentials"}},
		{name: "no key in URL", src: "s3://medsales-raw", says: []string{"want s3://bucket/key"}, input: true},
		{name: "unreachable endpoint", src: "s3://medsales-raw/x.csv", env: "closed", says: []string{"connect"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateAWS(t)
			srv := newS3Server(t)
			srv.put(t, "medsales-raw", "cut.zip", nppes[:len(nppes)-5])
			srv.put(t, "medsales-raw", "x.csv", []byte("a\n"))
			if !tt.noKey {
				t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
				t.Setenv("AWS_SECRET_ACCESS_KEY", "s3cret-key")
			}
			if tt.env == "closed" {
				t.Setenv("AWS_MAX_ATTEMPTS", "1")
				srv.ts.Close()
			}
			f, err := source.Open(context.Background(), tt.src, source.Options{S3Endpoint: srv.ts.URL})
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded, want an error")
			}
			msg := err.Error()
			t.Log(msg)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", msg, tt.is)
			}
			if errors.Is(err, source.ErrInput) != tt.input {
				t.Errorf("error %q matches ErrInput: %v, want %v", msg, !tt.input, tt.input)
			}
			for _, s := range append([]string{tt.src}, tt.says...) {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
			if strings.Contains(msg, "s3cret") || strings.Contains(msg, "\n") {
				t.Errorf("error %q leaks the secret or spans lines", msg)
			}
		})
	}
}

// TestOpenS3URLWithCredentialsRefused: an s3:// URL carries no user info,
// and a query or fragment is not part of a key: such a URL is refused
// before anything is fetched, named by bucket and key only. The user info
// was read as part of the bucket and the query as part of the key, and
// errors (NoSuchBucket, NoSuchKey) showed both, password and presigned
// signature included.
func TestOpenS3URLWithCredentialsRefused(t *testing.T) {
	isolateAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s3cret-key")
	srv := newS3Server(t)
	srv.put(t, "medsales-raw", "nucc/nucc_taxonomy_251.csv", []byte("a\n"))
	for _, c := range []struct{ src, shown string }{
		{"s3://loader:hunter2@medsales-raw/nucc/nucc_taxonomy_251.csv", "source s3://medsales-raw/nucc/nucc_taxonomy_251.csv: "},
		{"s3://AKIAEXAMPLE@medsales-raw/nucc/nucc_taxonomy_251.csv", "source s3://medsales-raw/nucc/nucc_taxonomy_251.csv: "},
		{"s3://medsales-raw/nucc/nucc_taxonomy_251.csv?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=sig123", "source s3://medsales-raw/nucc/nucc_taxonomy_251.csv: "},
		{"S3://loader:hunter2@medsales-raw/nucc/nucc_taxonomy_251.csv?token=tok123#sig123", "source s3://medsales-raw/nucc/nucc_taxonomy_251.csv: "},
		{"s3://medsales-raw/nucc/nucc_taxonomy_251.csv#sig123", "source s3://medsales-raw/nucc/nucc_taxonomy_251.csv: "},
		{"s3://loader:hunter2@medsales-raw/nucc/%zz.csv?token=tok123", "source s3://medsales-raw/nucc/%zz.csv: "},
	} {
		for name, err := range map[string]error{
			"CheckForm": source.CheckForm(c.src),
			"Open": func() error {
				f, err := source.Open(context.Background(), c.src, source.Options{S3Endpoint: srv.ts.URL})
				if err == nil {
					f.Close()
				}
				return err
			}(),
		} {
			if err == nil {
				t.Errorf("%s(%q) = nil, want an error", name, c.src)
				continue
			}
			msg := err.Error()
			for _, s := range []string{"loader", "hunter2", "AKIAEXAMPLE", "sig123", "tok123", "?", "#"} {
				if strings.Contains(msg, s) {
					t.Errorf("%s(%q) error %q holds %q", name, c.src, msg, s)
				}
			}
			if !strings.Contains(msg, c.shown) || !strings.Contains(msg, "want s3://bucket/key without user info, query or fragment") {
				t.Errorf("%s(%q) error = %q, want it to name %q and say why", name, c.src, msg, c.shown)
			}
		}
	}
	if reqs := srv.requests(); len(reqs) != 0 {
		t.Errorf("S3 was asked %+v, want nothing fetched", reqs)
	}
	// A key may hold an "@": only the authority is user info.
	f, err := source.Open(context.Background(), "s3://medsales-raw/nucc/nucc_taxonomy_251.csv", source.Options{S3Endpoint: srv.ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := source.CheckForm("s3://medsales-raw/drop/loader@example.org.csv"); err != nil {
		t.Errorf("CheckForm of a key holding an @: %v", err)
	}
}

// cutWriter passes a response through up to limit bytes of its body, then
// aborts the connection: a transfer that breaks off mid-stream.
type cutWriter struct {
	http.ResponseWriter
	limit int
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if len(p) > c.limit {
		c.ResponseWriter.Write(p[:c.limit])
		c.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	c.limit -= len(p)
	return c.ResponseWriter.Write(p)
}

// s3Error answers a request as S3 refuses it.
func s3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + code + `</Code><Message>` + code +
		`</Message><RequestId>R1</RequestId><HostId>H1</HostId></Error>`))
}

// TestOpenS3ReopenRetries: an object whose transfer breaks off is
// reopened at the offset reached; a reopen S3 refuses for a while
// (SlowDown, InternalError) is tried again after a pause, while a
// permanent refusal (AccessDenied, an object changed) ends the read at
// once. The first failed reopen ended the load. The SDK's own retries are
// turned off (AWS_MAX_ATTEMPTS=1), so that only the reader retries.
func TestOpenS3ReopenRetries(t *testing.T) {
	csv := csvRows(20000)
	const key = "cms/MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv"
	tests := []struct {
		name    string
		answers []string // after the first GET breaks off: "SlowDown", "InternalError", "AccessDenied", "PreconditionFailed"
		says    string   // in the error; "" = the read succeeds
		gets    int
	}{
		{name: "reopen slowed down once", answers: []string{"SlowDown"}, gets: 3},
		{name: "reopen internal error once", answers: []string{"InternalError"}, gets: 3},
		{name: "reopen access denied", answers: []string{"AccessDenied"}, says: "HTTP 403 AccessDenied", gets: 2},
		{name: "reopen object changed", answers: []string{"PreconditionFailed"}, says: "changed in S3 while being read", gets: 2},
	}
	status := map[string]int{"SlowDown": 503, "InternalError": 500, "AccessDenied": 403, "PreconditionFailed": 412}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateAWS(t)
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-env")
			t.Setenv("AWS_MAX_ATTEMPTS", "1")
			srv := newS3Server(t)
			srv.put(t, "medsales-raw", key, csv)
			srv.misbehave = func(n int, w http.ResponseWriter, r *http.Request) bool {
				switch {
				case n == 0:
					// The first 100 KiB arrive, then the connection drops.
					srv.fake.ServeHTTP(&cutWriter{ResponseWriter: w, limit: 100 << 10}, r)
					return true
				case n-1 < len(tt.answers):
					s3Error(w, status[tt.answers[n-1]], tt.answers[n-1])
					return true
				}
				return false
			}
			f, err := source.Open(context.Background(), "s3://medsales-raw/"+key, source.Options{S3Endpoint: srv.ts.URL})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer f.Close()
			got, err := io.ReadAll(f)
			switch {
			case tt.says == "" && (err != nil || !bytes.Equal(got, csv)):
				t.Fatalf("read %d bytes, %v; want the %d bytes of the object", len(got), err, len(csv))
			case tt.says != "" && (err == nil || !strings.Contains(err.Error(), tt.says)):
				t.Fatalf("read %d bytes, error %v; want an error containing %q", len(got), err, tt.says)
			}
			gets := 0
			for _, r := range srv.requests() {
				if r.method == http.MethodGet {
					gets++
				}
			}
			if gets != tt.gets {
				t.Errorf("%d GETs, want %d", gets, tt.gets)
			}
		})
	}
}

// TestOpenS3ZipFromAnEndpointIgnoringRange: an S3-compatible endpoint (a
// gateway, a proxy) that answers ranged GETs with the whole object. A zip
// is downloaded whole into a temporary file and read there, as from an
// https server without ranges; the load failed with "got N bytes in reply
// to bytes=…". The object changing between the two downloads is refused.
func TestOpenS3ZipFromAnEndpointIgnoringRange(t *testing.T) {
	const key = "nppes/NPPES_Data_Dissemination_August_2026_V2.zip"
	nppes := buildZip(t, readme, fileheader, pfile, plpfile)
	for _, changed := range []bool{false, true} {
		t.Run(fmt.Sprintf("changed=%v", changed), func(t *testing.T) {
			isolateAWS(t)
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-env")
			t.Setenv("AWS_MAX_ATTEMPTS", "1")
			srv := newS3Server(t)
			srv.put(t, "medsales-raw", key, nppes)
			srv.misbehave = func(n int, w http.ResponseWriter, r *http.Request) bool {
				if changed && n > 0 && r.Header.Get("Range") == "" {
					// gofakes3 does not check If-Match: S3 would answer so.
					if r.Header.Get("If-Match") == "" {
						t.Errorf("request %d: the download of the copy does not ask for the version read first", n)
					}
					s3Error(w, http.StatusPreconditionFailed, "PreconditionFailed")
					return true
				}
				r.Header.Del("Range")
				return false
			}
			f, err := source.Open(context.Background(), "s3://medsales-raw/"+key, source.Options{S3Endpoint: srv.ts.URL, Dataset: medsales.NPPES})
			if changed {
				if err == nil || !strings.Contains(err.Error(), "changed in S3") {
					t.Fatalf("Open of an object replaced between its downloads: %v, want an error saying it changed", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer f.Close()
			checkFile(t, f, pfile.name, "NPPES_Data_Dissemination_August_2026_V2.zip", int64(len(pfile.data)), pfile.data)
			if err := f.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			// The first GET, ranged ones until one is answered whole, and
			// the download of the copy.
			reqs := srv.requests()
			if n := len(reqs); n < 3 || reqs[n-2].rng == "" || reqs[n-1].rng != "" {
				t.Errorf("requests %+v, want a GET, ranged GETs, then a whole GET", reqs)
			}
		})
	}
}

// TestOpenS3ResumeRefusesAnotherVersion: the object is replaced (same
// size, another ETag) while a download is broken off, and the endpoint
// ignores If-Match, as gofakes3 does and some S3-compatible stores do:
// the resumed range's ETag tells, and the read fails rather than mix the
// two versions.
func TestOpenS3ResumeRefusesAnotherVersion(t *testing.T) {
	csv := csvRows(20000)
	other := bytes.ReplaceAll(csv, []byte("\n"), []byte("\r")) // same size, other bytes
	const key = "cms/MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv"
	isolateAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-env")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	srv := newS3Server(t)
	srv.put(t, "medsales-raw", key, csv)
	srv.misbehave = func(n int, w http.ResponseWriter, r *http.Request) bool {
		switch n {
		case 0:
			srv.fake.ServeHTTP(&cutWriter{ResponseWriter: w, limit: 100 << 10}, r)
			return true
		case 1:
			// Replaced before the resumed range is served (the
			// first read's body has been let go by now); not srv.put,
			// whose t.Fatal must not run in the server's goroutine.
			if _, err := srv.backend.PutObject("medsales-raw", key, map[string]string{}, bytes.NewReader(other), int64(len(other)), nil); err != nil {
				t.Error(err)
			}
		}
		return false
	}
	f, err := source.Open(context.Background(), "s3://medsales-raw/"+key, source.Options{S3Endpoint: srv.ts.URL})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	if err == nil || !strings.Contains(err.Error(), "changed in S3 while being read") {
		t.Fatalf("read %d bytes, error %v; want the read to fail saying the object changed", len(got), err)
	}
}
