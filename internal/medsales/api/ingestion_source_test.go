package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/medsales/api"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/platform/auth"
)

// countingQueue counts the jobs it is asked to insert.
type countingQueue struct{ inserted int }

func (q *countingQueue) Insert(context.Context, river.JobArgs, *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	q.inserted++
	return &rivertype.JobInsertResult{Job: &rivertype.JobRow{ID: int64(q.inserted)}}, nil
}

func (q *countingQueue) Job(context.Context, int64) (*rivertype.JobRow, error) {
	return nil, rivertype.ErrNotFound
}

// TestIngestionRefusesMalformedSource: a source that names no object to
// read (an s3:// URL without bucket or key, an http(s) URL without a host)
// is refused with 400 naming the field, before a job is queued; the
// worker could only fail it later, recording "/" or "bucket" as the file.
// The request is refused before the store is read, so the server needs
// none.
func TestIngestionRefusesMalformedSource(t *testing.T) {
	q := &countingQueue{}
	srv := httptest.NewServer(api.NewServer(api.Deps{Jobs: q, IngestToken: "tok", AllowedSources: []string{"s3://", "https://", "http://"}}))
	defer srv.Close()
	for _, src := range []string{`s3://medsales-raw/nucc\u0000.csv`, `s3://medsales-raw/nucc\n.csv`, "s3://", "s3://medsales-raw", "s3://medsales-raw/", "s3:///nucc_taxonomy_251.csv", "s3://medsales-raw/nucc/", "https://", "https:///nucc_taxonomy_251.csv", "http://"} {
		status, b := postIngestion(t, srv.URL, `{"dataset":"nucc","source":"`+src+`"}`)
		var p struct {
			Field  string `json:"field"`
			Detail string `json:"detail"`
		}
		if status != http.StatusBadRequest || json.Unmarshal(b, &p) != nil || p.Field != "source" {
			t.Errorf("source %q: %d %s, want 400 with field source", src, status, b)
		}
	}
	if q.inserted != 0 {
		t.Errorf("%d jobs queued for malformed sources, want none", q.inserted)
	}
}

// TestIngestionRefusesInvalidUTF8: a source holding a byte that is not
// UTF-8 is refused with 400 saying where, and nothing is queued; the JSON
// decoder read the byte as U+FFFD and queued a source other than the one
// sent.
func TestIngestionRefusesInvalidUTF8(t *testing.T) {
	q := &recordingQueue{}
	srv := httptest.NewServer(api.NewServer(api.Deps{Jobs: q, IngestToken: "tok", AllowedSources: []string{"/x/"}}))
	defer srv.Close()
	status, b := postIngestion(t, srv.URL, "{\"dataset\":\"nucc\",\"source\":\"/x/\xff.csv\"}")
	var p struct {
		Type   string `json:"type"`
		Detail string `json:"detail"`
	}
	if status != http.StatusBadRequest || json.Unmarshal(b, &p) != nil || !strings.HasSuffix(p.Type, "/invalid") ||
		!strings.Contains(p.Detail, "not valid UTF-8 at byte offset 31") {
		t.Errorf("source with byte 0xff: %d %s, want 400 saying it is not valid UTF-8 at byte offset 31", status, b)
	}
	if len(q.args) != 0 {
		t.Errorf("queued %+v, want nothing", q.args)
	}
}

// TestIngestionTokenGuessingIsLimited: after auth.DefaultMaxFailures wrong
// tokens from one client address, that address is refused (429) even with
// the right token until the window passes; another address is not, and a
// request without a token guesses nothing and counts nothing.
func TestIngestionTokenGuessingIsLimited(t *testing.T) {
	q := &countingQueue{}
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	h := api.NewServer(api.Deps{Jobs: q, IngestToken: "tok", AllowedSources: []string{"s3://"}, Now: func() time.Time { return now }})
	post := func(addr, token string) int {
		r := httptest.NewRequest("POST", "/v1/ingestions", strings.NewReader(`{"dataset":"nucc","source":"s3://b/nucc_taxonomy_251.csv"}`))
		r.RemoteAddr = addr
		r.Header.Set("Content-Type", "application/json")
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for range 20 {
		if got := post("198.51.100.7:1000", ""); got != http.StatusUnauthorized {
			t.Fatalf("no token = %d, want 401", got)
		}
	}
	for i := range auth.DefaultMaxFailures {
		if got := post("198.51.100.7:1000", fmt.Sprintf("guess-%d", i)); got != http.StatusUnauthorized {
			t.Fatalf("wrong token %d = %d, want 401", i, got)
		}
	}
	if got := post("198.51.100.7:1001", "tok"); got != http.StatusTooManyRequests {
		t.Fatalf("right token after %d wrong ones = %d, want 429", auth.DefaultMaxFailures, got)
	}
	if got := post("203.0.113.9:1000", "tok"); got != http.StatusAccepted {
		t.Fatalf("right token from another address = %d, want 202", got)
	}
	now = now.Add(auth.DefaultFailureWindow + time.Second)
	if got := post("198.51.100.7:1000", "tok"); got != http.StatusAccepted {
		t.Fatalf("right token after the window = %d, want 202", got)
	}
}

// TestIngestionSourcePrefixIsAHost: a prefix that names a host or bucket
// (no path) allows that host or bucket only. Before, a plain string prefix
// let "http://download.cms.gov@127.0.0.1:9/x" (user info: the worker
// fetched from 127.0.0.1) and "http://download.cms.gov.evil.example/x"
// through, as "s3://drop" let "s3://dropper/x" through.
func TestIngestionSourcePrefixIsAHost(t *testing.T) {
	q := &countingQueue{}
	srv := httptest.NewServer(api.NewServer(api.Deps{Jobs: q, IngestToken: "tok",
		AllowedSources: []string{"http://download.cms.gov", "s3://drop", "s3://raw/nppes/", "/data/drop"}}))
	defer srv.Close()
	for _, src := range []string{
		"/data/dropbox/nucc_taxonomy_251.csv",
		"http://download.cms.gov@127.0.0.1:9/nucc_taxonomy_251.csv",
		"http://download.cms.gov:80@127.0.0.1:9/nucc_taxonomy_251.csv",
		"http://download.cms.gov.evil.example/nucc_taxonomy_251.csv",
		"s3://dropper/nucc_taxonomy_251.csv",
	} {
		if status, b := postIngestion(t, srv.URL, `{"dataset":"nucc","source":"`+src+`"}`); status != http.StatusForbidden {
			t.Errorf("source %q: %d %s, want 403", src, status, b)
		}
	}
	if q.inserted != 0 {
		t.Fatalf("%d jobs queued for sources outside the allowed hosts, want none", q.inserted)
	}
	for _, src := range []string{
		"http://download.cms.gov/nucc_taxonomy_251.csv",
		"s3://drop/nucc_taxonomy_251.csv",
		"s3://raw/nppes/nucc_taxonomy_251.csv",
		"/data/drop/nucc_taxonomy_251.csv",
	} {
		if status, b := postIngestion(t, srv.URL, `{"dataset":"nucc","source":"`+src+`"}`); status != http.StatusAccepted {
			t.Errorf("source %q: %d %s, want 202", src, status, b)
		}
	}
}

// TestIngestionSourcePrefixEndsAtASegment: a prefix whose path does not
// end in "/" allows that path and what lies below it, never a longer name
// beside it: "s3://bucket/data" allows "s3://bucket/data" and
// "s3://bucket/data/x.csv", not "s3://bucket/database.csv" nor
// "s3://bucket/data-private/x.csv", which it let through as plain string
// prefixes; "https://example.org" still allows no other host.
func TestIngestionSourcePrefixEndsAtASegment(t *testing.T) {
	q := &countingQueue{}
	srv := httptest.NewServer(api.NewServer(api.Deps{Jobs: q, IngestToken: "tok",
		AllowedSources: []string{"s3://bucket/data", "https://example.org", "https://download.cms.gov/pub"}}))
	defer srv.Close()
	for _, src := range []string{
		"s3://bucket/database.csv",
		"s3://bucket/data-private/nucc_taxonomy_251.csv",
		"s3://bucket/data.csv",
		"https://example.org.evil.com/nucc_taxonomy_251.csv",
		"https://download.cms.gov/public/nucc_taxonomy_251.csv",
		"https://download.cms.gov/pub2/nucc_taxonomy_251.csv",
	} {
		if status, b := postIngestion(t, srv.URL, `{"dataset":"nucc","source":"`+src+`"}`); status != http.StatusForbidden {
			t.Errorf("source %q: %d %s, want 403", src, status, b)
		}
	}
	if q.inserted != 0 {
		t.Fatalf("%d jobs queued for sources beside the allowed prefixes, want none", q.inserted)
	}
	for _, src := range []string{
		"s3://bucket/data",
		"s3://bucket/data/nucc_taxonomy_251.csv",
		"s3://bucket/data/2026/nucc_taxonomy_251.csv",
		"https://example.org/nucc_taxonomy_251.csv",
		"https://download.cms.gov/pub/nucc_taxonomy_251.csv",
	} {
		if status, b := postIngestion(t, srv.URL, `{"dataset":"nucc","source":"`+src+`"}`); status != http.StatusAccepted {
			t.Errorf("source %q: %d %s, want 202", src, status, b)
		}
	}
}

// TestIngestionSourceEncodedDotsRefused: a source that climbs out of its
// allowed prefix with "..", its dots percent-encoded (%2e%2e, %2E%2E, .%2e,
// even encoded twice: %252e) as well as plain, is refused with a 403
// problem naming the field and saying why. Only a plain ".." was refused:
// "/data/drop/%2e%2e/…" and "http://download.cms.gov/pub/%2E%2E/…" (which
// the web server decodes to "/private/…") passed as inside the prefix.
func TestIngestionSourceEncodedDotsRefused(t *testing.T) {
	q := &countingQueue{}
	srv := httptest.NewServer(api.NewServer(api.Deps{Jobs: q, IngestToken: "tok",
		AllowedSources: []string{"/data/drop", "http://download.cms.gov/pub/", "s3://raw/nppes/"}}))
	defer srv.Close()
	for _, src := range []string{
		"/data/drop/../secret/nucc_taxonomy_251.csv",
		"/data/drop/%2e%2e/secret/nucc_taxonomy_251.csv",
		"/data/drop/%2E%2E/secret/nucc_taxonomy_251.csv",
		"/data/drop/.%2e/secret/nucc_taxonomy_251.csv",
		"/data/drop/%2e./secret/nucc_taxonomy_251.csv",
		"/data/drop/%252e%252e/secret/nucc_taxonomy_251.csv",
		"http://download.cms.gov/pub/%2E%2E/private/nucc_taxonomy_251.csv",
		"http://download.cms.gov/pub/%2e%2e%2fprivate/nucc_taxonomy_251.csv",
		"s3://raw/nppes/%2e%2e/other/nucc_taxonomy_251.csv",
	} {
		status, b := postIngestion(t, srv.URL, `{"dataset":"nucc","source":"`+src+`"}`)
		var p struct {
			Type   string `json:"type"`
			Field  string `json:"field"`
			Detail string `json:"detail"`
		}
		if status != http.StatusForbidden || json.Unmarshal(b, &p) != nil || p.Field != "source" ||
			!strings.HasSuffix(p.Type, "/forbidden") || !strings.Contains(p.Detail, `".."`) || !strings.Contains(p.Detail, "%2e") {
			t.Errorf("source %q: %d %s, want 403 on source saying that \"..\" (%%2e%%2e) is refused", src, status, b)
		}
	}
	if q.inserted != 0 {
		t.Fatalf("%d jobs queued for sources climbing out of their prefix, want none", q.inserted)
	}
	// Dots that climb nowhere, and other escapes, are allowed.
	for _, src := range []string{
		"/data/drop/nucc.taxonomy.251.csv",
		"/data/drop/.hidden/nucc_taxonomy_251.csv",
		"http://download.cms.gov/pub/nucc%20taxonomy%20251.csv",
		"s3://raw/nppes/%2e/nucc_taxonomy_251.csv",
	} {
		if status, b := postIngestion(t, srv.URL, `{"dataset":"nucc","source":"`+src+`"}`); status != http.StatusAccepted {
			t.Errorf("source %q: %d %s, want 202", src, status, b)
		}
	}
}

// TestIngestionRefusesSourceCredentials: a queued load's source carries no
// user info, query or fragment: the request is kept whole as the River
// job's args, readable by anyone reading the jobs table, and the reply
// repeated it. Such a source is refused with 400 naming the field, the
// source shown by scheme, host and path only, and nothing is queued; it
// was queued and echoed, password, token and presigned signature included.
func TestIngestionRefusesSourceCredentials(t *testing.T) {
	q := &recordingQueue{}
	srv := httptest.NewServer(api.NewServer(api.Deps{Jobs: q, IngestToken: "tok",
		AllowedSources: []string{"https://", "http://download.cms.gov/", "s3://drop/"}}))
	defer srv.Close()
	for _, src := range []string{
		"https://loader:s3cr3t@download.cms.gov/nucc_taxonomy_251.csv",
		"https://download.cms.gov/nucc_taxonomy_251.csv?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=sig123",
		"http://download.cms.gov/nucc_taxonomy_251.csv?token=tok123",
		"https://download.cms.gov/nucc_taxonomy_251.csv#sig123",
		"s3://drop/nucc_taxonomy_251.csv?X-Amz-Signature=sig123",
	} {
		status, b := postIngestion(t, srv.URL, `{"dataset":"nucc","source":"`+src+`"}`)
		var p struct {
			Field  string `json:"field"`
			Detail string `json:"detail"`
		}
		if status != http.StatusBadRequest || json.Unmarshal(b, &p) != nil || p.Field != "source" {
			t.Errorf("source %q: %d %s, want 400 with field source", src, status, b)
		}
		for _, x := range []string{"loader", "s3cr3t", "AKIAEXAMPLE", "sig123", "tok123"} {
			if strings.Contains(string(b), x) {
				t.Errorf("source %q: reply %s holds %q", src, b, x)
			}
		}
		if !strings.Contains(p.Detail, "download.cms.gov/nucc_taxonomy_251.csv") && !strings.Contains(p.Detail, "s3://drop/nucc_taxonomy_251.csv") {
			t.Errorf("source %q: detail %q does not name the source", src, p.Detail)
		}
	}
	if len(q.args) != 0 {
		t.Fatalf("jobs queued with credentials in their args: %+v", q.args)
	}
	const clean = "https://download.cms.gov/nucc_taxonomy_251.csv"
	if status, b := postIngestion(t, srv.URL, `{"dataset":"nucc","source":"`+clean+`"}`); status != http.StatusAccepted || !strings.Contains(string(b), clean) {
		t.Errorf("source %q: %d %s, want 202 naming it", clean, status, b)
	}
	if len(q.args) != 1 || q.args[0].Source != clean {
		t.Errorf("queued %+v, want one job of %s", q.args, clean)
	}
}

// recordingQueue records the args of the jobs it is asked to insert.
type recordingQueue struct{ args []ingest.JobArgs }

func (q *recordingQueue) Insert(_ context.Context, a river.JobArgs, _ *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	q.args = append(q.args, a.(ingest.JobArgs))
	return &rivertype.JobInsertResult{Job: &rivertype.JobRow{ID: int64(len(q.args))}}, nil
}

func (q *recordingQueue) Job(context.Context, int64) (*rivertype.JobRow, error) {
	return nil, rivertype.ErrNotFound
}

// TestIngestionRefusesAForbiddenSourceFirst: a source outside
// INGEST_ALLOWED_SOURCES, or one with "..", is answered 403 even when the
// request is also wrong in another way (a Part B file whose name carries
// no data year): it was 400 on dataYear, and the client that fixed the
// year was then refused for the source (QA).
func TestIngestionRefusesAForbiddenSourceFirst(t *testing.T) {
	q := &countingQueue{}
	srv := httptest.NewServer(api.NewServer(api.Deps{Jobs: q, IngestToken: "tok", AllowedSources: []string{"/data/sample/"}}))
	defer srv.Close()
	for _, src := range []string{"s3://x/y.csv", "/data/sample/../y.csv", "/elsewhere/y.csv"} {
		status, b := postIngestion(t, srv.URL, `{"dataset":"partb","source":"`+src+`"}`)
		var p struct {
			Field string `json:"field"`
		}
		if status != http.StatusForbidden || json.Unmarshal(b, &p) != nil || p.Field != "source" {
			t.Errorf("source %q: %d %s, want 403 with field source", src, status, b)
		}
	}
	// An allowed source still gets the data year named.
	status, b := postIngestion(t, srv.URL, `{"dataset":"partb","source":"/data/sample/y.csv"}`)
	if status != http.StatusBadRequest || !strings.Contains(string(b), `"dataYear"`) {
		t.Errorf("allowed source without a data year: %d %s, want 400 on dataYear", status, b)
	}
	if q.inserted != 0 {
		t.Errorf("%d jobs queued, want none", q.inserted)
	}
}
