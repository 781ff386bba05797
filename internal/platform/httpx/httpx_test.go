package httpx_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/httpx"
)

type payload struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Ratio float64  `json:"ratio"`
	Tags  []string `json:"tags"`
	Inner struct {
		Flag bool `json:"flag"`
	} `json:"inner"`
	At    time.Time `json:"at"`
	Items []struct {
		When *time.Time `json:"when"`
		N    int        `json:"n"`
	} `json:"items"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, body, ctype string
		wantCode          errs.Code
		wantField         string
		wantDetail        string
	}{
		{"ok", `{"name":"a","count":1}`, "application/json", "", "", ""},
		{"ok fhir+json", `{"name":"a"}`, "application/fhir+json; charset=utf-8", "", "", ""},
		{"unknown field", `{"name":"a","nope":1}`, "", errs.CodeInvalid, "nope", "unknown field"},
		{"nested unknown field", `{"name":"a","inner":{"flag":true,"nope":1}}`, "", errs.CodeInvalid, "inner.nope", "unknown field"},
		{"unknown field in a list", `{"items":[{"when":null},{"nope":1}]}`, "", errs.CodeInvalid, "items[1].nope", "unknown field"},
		{"wrong type", `{"count":"x"}`, "", errs.CodeInvalid, "count", "wrong type"},
		{"nested wrong type", `{"inner":{"flag":3}}`, "", errs.CodeInvalid, "inner.flag", "want boolean"},
		// encoding/json says items.n: the element is found.
		{"wrong type in a list", `{"items":[{"n":1},{"n":1.5}]}`, "", errs.CodeInvalid, "items[1].n", "want integer"},
		{"wrong type in a list of strings", `{"tags":["a",2]}`, "", errs.CodeInvalid, "tags[1]", "want string"},
		{"fraction for an integer", `{"count":1.5}`, "", errs.CodeInvalid, "count", "got JSON number 1.5, want integer"},
		{"integer out of range", `{"count":99999999999999999999}`, "", errs.CodeInvalid, "count", "JSON number 99999999999999999999 is out of range"},
		{"number out of range", `{"ratio":1e400}`, "", errs.CodeInvalid, "ratio", "JSON number 1e400 is out of range"},
		{"bad timestamp", `{"name":"a","at":"yesterday"}`, "", errs.CodeInvalid, "at", "RFC 3339"},
		{"timestamp not a string", `{"at":12345}`, "", errs.CodeInvalid, "at", "RFC 3339"},
		{"bad timestamp in a list", `{"items":[{"when":"2026-01-02T03:04:05Z"},{"when":null},{"when":"soon"}]}`, "", errs.CodeInvalid, "items[2].when", "RFC 3339"},
		{"syntax error line/col", "{\n  \"name\": \"a\",\n  ]\n}", "", errs.CodeInvalid, "", "line 3, column 3"},
		{"truncated", `{"name":`, "", errs.CodeInvalid, "", "unexpected end"},
		{"truncated, position", "{\n  \"name\": \"a\",", "", errs.CodeInvalid, "", "line 2, column 15: unexpected end of input"},
		{"empty", ``, "", errs.CodeInvalid, "", "empty"},
		{"null", " null\n", "", errs.CodeInvalid, "(body)", "got JSON null, want object"},
		{"array", `[]`, "", errs.CodeInvalid, "(body)", "want object"},
		{"two values", `{} {}`, "", errs.CodeInvalid, "", "single JSON value: more follows at line 1, column 4"},
		{"trailing garbage", "{\"name\":\"Bo\"}\n  xyz", "", errs.CodeInvalid, "", "single JSON value: more follows at line 2, column 3"},
		{"trailing comment", "{}\n// x", "", errs.CodeInvalid, "", "more follows at line 2, column 1"},
		{"trailing white space", "{\"name\":\"a\"}\n\t \r\n", "", "", "", ""},
		{"repeated key", `{"name":"a","count":1,"name":"b"}`, "", errs.CodeInvalid, "name", "appears twice"},
		{"repeated key in another case", `{"count":1,"Count":2}`, "", errs.CodeInvalid, "Count", "appears twice"},
		{"repeated key, escaped", `{"name":"a","na\u006de":"b"}`, "", errs.CodeInvalid, "name", "appears twice"},
		{"repeated nested key", `{"inner":{"flag":true,"FLAG":false}}`, "", errs.CodeInvalid, "inner.FLAG", "appears twice"},
		{"repeated key in a list", `{"items":[{"when":null},{"when":null,"when":null}]}`, "", errs.CodeInvalid, "items[1].when", "appears twice"},
		{"same key in sibling objects", `{"items":[{"when":null},{"when":null}],"inner":{"flag":true}}`, "", "", "", ""},
		{"braces and quotes inside strings", `{"name":"{\"name\":[1,{\"x\":2}]}","tags":["name","name"],"count":1}`, "", "", "", ""},
		// encoding/json would read these as U+FFFD: the value used would
		// not be the one sent.
		{"invalid UTF-8 in a string", "{\"name\":\"/x/\xff.csv\"}", "", errs.CodeInvalid, "", "not valid UTF-8 at byte offset 12 (line 1, column 13)"},
		{"invalid UTF-8 on a later line", "{\n  \"count\": 1,\n  \"name\": \"ab\xc3(\"\n}", "", errs.CodeInvalid, "", "not valid UTF-8 at byte offset 29 (line 3, column 14)"},
		{"truncated UTF-8 sequence", "{\"name\":\"\xe2\x82\"}", "", errs.CodeInvalid, "", "byte offset 9 "},
		{"UTF-8 encoded surrogate", "{\"name\":\"\xed\xa0\x80\"}", "", errs.CodeInvalid, "", "byte offset 9 "},
		{"invalid UTF-8 in a key", "{\"na\xffme\":\"a\"}", "", errs.CodeInvalid, "", "byte offset 4 "},
		{"invalid UTF-8 in a list", "{\"tags\":[\"a\",\"\x80\"]}", "", errs.CodeInvalid, "", "byte offset 14 "},
		{"multibyte UTF-8", `{"name":"José ✓ 😀","tags":["日本"]}`, "", "", "", ""},
		// So would a UTF-16 surrogate escaped without its other half.
		{"lone high surrogate", `{"name":"/x/\ud800.csv"}`, "", errs.CodeInvalid, "", "the escape at byte offset 12 (line 1, column 13) is half of a UTF-16 surrogate pair"},
		{"high surrogate before another escape", `{"name":"\uD800\u0041"}`, "", errs.CodeInvalid, "", "byte offset 9 "},
		{"lone low surrogate", `{"tags":["a","\udc00"]}`, "", errs.CodeInvalid, "", "byte offset 14 "},
		{"surrogate pair", `{"name":"\ud83d\ude00 \uD83D\uDE00","tags":["\\ud800","\u00e9"]}`, "", "", "", ""},
		{"not json media type", `{}`, "text/plain", "unsupported_media", "", "application/json"},
		{"charset other than UTF-8", `{"name":"a"}`, "application/json; charset=latin1", "unsupported_media", "", `charset "latin1" is not supported`},
		{"charset UTF-8, quoted", `{"name":"a"}`, `application/json; charset="UTF-8"`, "", "", ""},
		{"byte order mark", "\xef\xbb\xbf{\"name\":\"a\"}", "", errs.CodeInvalid, "", "byte order mark (U+FEFF)"},
		{"too large", `{"name":"` + strings.Repeat("x", httpx.MaxBodyBytes) + `"}`, "", errs.CodeTooLarge, "", "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			var p payload
			err := httpx.Decode(httptest.NewRecorder(), r, &p)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			var e *errs.Error
			if !errors.As(err, &e) {
				t.Fatalf("Decode = %v, want *errs.Error", err)
			}
			if strings.Contains(e.Message, "yesterday") || strings.Contains(e.Message, "soon") {
				t.Errorf("message %q repeats the client's value", e.Message)
			}
			if e.Code != tt.wantCode || e.Field != tt.wantField || !strings.Contains(e.Message, tt.wantDetail) {
				t.Fatalf("Decode = code %q field %q msg %q; want code %q field %q msg containing %q",
					e.Code, e.Field, e.Message, tt.wantCode, tt.wantField, tt.wantDetail)
			}
		})
	}
}

// DecodeEnvelope refuses a repeated key of the top-level object only: the
// items inside are the caller's to decode, and refuse, one by one.
func TestDecodeEnvelope(t *testing.T) {
	type envelope struct {
		Events []json.RawMessage `json:"events"`
	}
	for _, tt := range []struct {
		body, wantField string
	}{
		{`{"events":[{"a":1,"A":2}]}`, ""},
		{`{"events":[],"Events":[]}`, "Events"},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
		var env envelope
		err := httpx.DecodeEnvelope(httptest.NewRecorder(), r, &env)
		var e *errs.Error
		switch {
		case tt.wantField == "" && err != nil:
			t.Errorf("%s: %v", tt.body, err)
		case tt.wantField != "" && (!errors.As(err, &e) || e.Field != tt.wantField):
			t.Errorf("%s: %v, want a problem naming %s", tt.body, err, tt.wantField)
		}
	}
	// An item that is not valid UTF-8 is refused by itself, when it is
	// decoded, at its own offset.
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{\"events\":[{\"a\":1},{\"a\":\"\xff\"}]}"))
	var env envelope
	if err := httpx.DecodeEnvelope(httptest.NewRecorder(), r, &env); err != nil || len(env.Events) != 2 {
		t.Fatalf("DecodeEnvelope = %v, %d items; want nil, 2 items", err, len(env.Events))
	}
	if err := httpx.DecodeBytes(env.Events[0], &map[string]any{}); err != nil {
		t.Errorf("DecodeBytes(item 0) = %v", err)
	}
	var bad *errs.Error
	if err := httpx.DecodeBytes(env.Events[1], &map[string]any{}); !errors.As(err, &bad) || bad.Code != errs.CodeInvalid || !strings.Contains(bad.Message, "not valid UTF-8 at byte offset 6 ") {
		t.Errorf("DecodeBytes(item 1) = %v, want invalid, not valid UTF-8 at byte offset 6", err)
	}
	// A key that is not an identifier is not echoed.
	err := httpx.DecodeBytes([]byte(`{"name":"a","x y":1,"X Y":2}`), &map[string]any{})
	var e *errs.Error
	if !errors.As(err, &e) || strings.Contains(e.Field+e.Message, "x y") || strings.Contains(e.Field+e.Message, "X Y") {
		t.Errorf("DecodeBytes = %v, want a problem that does not repeat the key", err)
	}
}

// A compressed body is refused as an unsupported media type, not reported
// as malformed JSON at its first byte; identity is no coding at all.
func TestDecodeContentEncoding(t *testing.T) {
	for _, tt := range []struct {
		encoding string
		wantCode errs.Code
	}{
		{"gzip", "unsupported_media"},
		{"br", "unsupported_media"},
		{"identity", ""},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("\x1f\x8b\x08\x00"))
		if tt.wantCode == "" {
			r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"name":"a"}`))
		}
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Content-Encoding", tt.encoding)
		var p payload
		err := httpx.Decode(httptest.NewRecorder(), r, &p)
		if got := errs.CodeOf(err); got != tt.wantCode {
			t.Errorf("Content-Encoding %s: Decode = %v (code %q), want code %q", tt.encoding, err, got, tt.wantCode)
		}
	}
}

// countingReader counts the reads of a request body.
type countingReader struct {
	r     *strings.Reader
	reads int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

// TestDecodeDeclaredLength: a body whose Content-Length is over
// MaxBodyBytes is refused with 413 before any of it is read, so that a
// client waiting for 100 Continue is not asked for it; it was read up to
// the limit first (and a shorter body than declared was taken).
func TestDecodeDeclaredLength(t *testing.T) {
	for _, c := range []struct {
		length   int64
		wantCode errs.Code
	}{
		{httpx.MaxBodyBytes + 1, errs.CodeTooLarge},
		{1 << 40, errs.CodeTooLarge},
		{httpx.MaxBodyBytes, ""},
		{-1, ""}, // unknown (chunked): read up to the limit
	} {
		body := &countingReader{r: strings.NewReader(`{"name":"a"}`)}
		r := httptest.NewRequest(http.MethodPost, "/", body)
		r.ContentLength = c.length
		r.Header.Set("Content-Type", "application/json")
		var p payload
		err := httpx.Decode(httptest.NewRecorder(), r, &p)
		if got := errs.CodeOf(err); got != c.wantCode {
			t.Errorf("Content-Length %d: Decode = %v (code %q), want code %q", c.length, err, got, c.wantCode)
		}
		if c.wantCode != "" && body.reads != 0 {
			t.Errorf("Content-Length %d: the body was read (%d reads) before it was refused", c.length, body.reads)
		}
	}
}

func TestMuxProblems(t *testing.T) {
	m := httpx.NewMux()
	m.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, 200, map[string]string{"id": r.PathValue("id")})
	})
	tests := []struct {
		method, path string
		status       int
		problemType  string
		allow        string
	}{
		{"GET", "/v1/things/1", 200, "", ""},
		{"GET", "/v1/nothing", 404, httpx.ProblemTypeBase + "not_found", ""},
		{"DELETE", "/v1/things/1", 405, httpx.ProblemTypeBase + "method_not_allowed", "GET, HEAD"},
		{"HEAD", "/v1/things/1", 200, "", ""},
		// A path the ServeMux would clean and redirect to (307 with an
		// HTML body) is a 404 problem: the API never redirects.
		{"GET", "/v1//things/1", 404, httpx.ProblemTypeBase + "not_found", ""},
		{"GET", "//v1/things/1", 404, httpx.ProblemTypeBase + "not_found", ""},
		{"GET", "/v1/./things/1", 404, httpx.ProblemTypeBase + "not_found", ""},
		{"GET", "/v1/other/../things/1", 404, httpx.ProblemTypeBase + "not_found", ""},
		{"GET", "/v1/things/1/.", 404, httpx.ProblemTypeBase + "not_found", ""},
		{"GET", "/v1/things/1/..", 404, httpx.ProblemTypeBase + "not_found", ""},
		{"POST", "/v1//things/1", 404, httpx.ProblemTypeBase + "not_found", ""},
		{"GET", "/v1//nothing", 404, httpx.ProblemTypeBase + "not_found", ""},
		{"GET", "/v1/things/1/", 404, httpx.ProblemTypeBase + "not_found", ""},
		// Escaped dots and slashes are no segments of their own.
		{"GET", "/v1/things/%2e%2e", 200, "", ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		rec.Header().Set("X-Request-Id", "req-1") // as the telemetry middleware does
		m.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.status {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, rec.Code, tt.status)
			continue
		}
		if tt.problemType == "" {
			continue
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s %s Content-Type = %q", tt.method, tt.path, ct)
		}
		var p httpx.Problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatalf("decode problem: %v", err)
		}
		if p.RequestID != "req-1" {
			t.Errorf("%s %s problem requestId = %q, want the response's X-Request-Id", tt.method, tt.path, p.RequestID)
		}
		if p.Type != tt.problemType || p.Status != tt.status {
			t.Errorf("%s %s problem = %+v", tt.method, tt.path, p)
		}
		if got := rec.Header().Get("Allow"); got != tt.allow {
			t.Errorf("%s %s Allow = %q, want %q", tt.method, tt.path, got, tt.allow)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			t.Errorf("%s %s Location = %q, want no redirect", tt.method, tt.path, loc)
		}
		unclean := strings.Contains(tt.path, "/.") || strings.Contains(tt.path, "//")
		if unclean && !strings.Contains(p.Detail, "segment") {
			t.Errorf("%s %s detail = %q, want it to say which segment is wrong", tt.method, tt.path, p.Detail)
		}
	}
}

func TestWriteErrorHidesInternals(t *testing.T) {
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	httpx.WriteError(rec, r, nil, "req-1", errors.New("pq: password authentication failed for host db.internal"))
	if rec.Code != 500 {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	if strings.Contains(rec.Body.String(), "password") || strings.Contains(rec.Body.String(), "db.internal") {
		t.Fatalf("500 body reveals internals: %s", rec.Body.String())
	}
	rec = httptest.NewRecorder()
	httpx.WriteError(rec, r, nil, "req-2", errs.Invalid("repeat.offset", "offset requires when"))
	var p httpx.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 400 || p.Field != "repeat.offset" || p.Type != httpx.ProblemTypeBase+"invalid" || p.RequestID != "req-2" {
		t.Fatalf("got %d %+v", rec.Code, p)
	}
}

// A deadline that ran out (a stalled database) is a 503 the client may
// retry, not a 500; every 503 says when to retry.
func TestWriteErrorDeadlineIsUnavailable(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	for _, err := range []error{
		fmt.Errorf("read patient: %w", context.DeadlineExceeded),
		errs.E(errs.CodeUnavailable, "the batch could not be recorded; retry it unchanged"),
		// The database cannot be reached: an outage, answered 500
		// internal while event commits were 503 (QA).
		fmt.Errorf("read patient: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}),
		fmt.Errorf("read patient: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}),
	} {
		rec := httptest.NewRecorder()
		httpx.WriteError(rec, r, nil, "req-1", err)
		var p httpx.Problem
		if jerr := json.Unmarshal(rec.Body.Bytes(), &p); jerr != nil {
			t.Fatal(jerr)
		}
		if rec.Code != 503 || p.Type != httpx.ProblemTypeBase+"unavailable" || rec.Header().Get("Retry-After") == "" {
			t.Errorf("%v: %d %+v Retry-After %q, want 503 unavailable with Retry-After", err, rec.Code, p, rec.Header().Get("Retry-After"))
		}
		if strings.Contains(p.Detail, "read patient") {
			t.Errorf("detail reveals the internal error: %q", p.Detail)
		}
	}
}

// TestOneValueEach: under the prefix, a query parameter given twice is a
// 400 naming it, and the handler does not run; one value each, and routes
// outside the prefix (FHIR, where repeats AND), pass. A query that is not
// URL encoding is a 400 naming the parameter on every route.
func TestOneValueEach(t *testing.T) {
	ran := 0
	h := httpx.OneValueEach(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ran++ }), "/v1/")
	for _, c := range []struct {
		target string
		status int
		field  string
	}{
		{"/v1/datasets?dataset=partb&dataset=nucc", 400, "dataset"},
		{"/v1/patients/x/adherence?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z&from=2026-01-15T00:00:00Z", 400, "from"},
		{"/v1/datasets?dataset=partb&limit=5", 200, ""},
		{"/v1/datasets", 200, ""},
		{"/fhir/MedicationAdministration?date=ge2026-01-01&date=lt2026-02-01", 200, ""},
		// Not URL encoding: url.Values drops the pair, and the request
		// ran unfiltered (audit?patient=%ZZ, the whole trail).
		{"/v1/audit?patient=%ZZ&limit=3", 400, "patient"},
		{"/v1/audit?patient=p1;&limit=3", 400, "patient"},
		{"/v1/patients?limit=1&limit=%ZZ", 400, "limit"},
		{"/v1/datasets?%ZZ=1", 400, "query"},
		{"/fhir/MedicationAdministration?patient=p1&date=ge%Z1", 400, "date"},
		{"/v1/audit?patient=p%2F1&q=a+b%20c", 200, ""},
		// A NUL byte or bytes that are not UTF-8: PostgreSQL refused them
		// with an error answered 500 (audit?patient=%00).
		{"/v1/audit?patient=%00", 400, "patient"},
		{"/v1/audit?actor=%FF&limit=3", 400, "actor"},
		{"/v1/audit?actor=%C0%80", 400, "actor"},
		{"/fhir/MedicationAdministration?patient=%ED%A0%80", 400, "patient"},
		{"/v1/audit?actor=%E2%80%AE%C3%A9", 200, ""},
	} {
		before := ran
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", c.target, nil))
		if rec.Code != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.target, rec.Code, c.status, rec.Body)
			continue
		}
		if c.status == 400 {
			var p struct{ Field string }
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Field != c.field {
				t.Errorf("%s: problem %s, want field %s", c.target, rec.Body, c.field)
			}
			if ran != before {
				t.Errorf("%s: the handler ran", c.target)
			}
		} else if ran != before+1 {
			t.Errorf("%s: the handler did not run", c.target)
		}
	}
}

// TestMuxLimits: a request target over MaxURLBytes is a 414 problem and
// header fields over MaxHeaderBytes a 431 problem, before any route runs
// (and before OneValueEach judges the query); up to the limits the route
// answers. They reached the routes, whatever their size.
func TestMuxLimits(t *testing.T) {
	m := httpx.NewMux()
	ran := 0
	m.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) { ran++ })
	h := httpx.OneValueEach(m, "/v1/")
	pad := func(prefix string, n int) string { return prefix + strings.Repeat("a", n-len(prefix)) }
	for _, c := range []struct {
		name, target string
		header       int // bytes of one extra header field's value
		status       int
		problemType  string
	}{
		{"target at the limit", pad("/v1/things/", httpx.MaxURLBytes), 0, 200, ""},
		{"target over the limit", pad("/v1/things/", httpx.MaxURLBytes+1), 0, 414, "uri_too_long"},
		{"query over the limit", pad("/v1/things/1?q=", httpx.MaxURLBytes+1), 0, 414, "uri_too_long"},
		{"repeated parameter over the limit", pad("/v1/things/1?q=1&q=", httpx.MaxURLBytes+1), 0, 414, "uri_too_long"},
		{"unknown route over the limit", pad("/v1/nothing/", httpx.MaxURLBytes+1), 0, 414, "uri_too_long"},
		{"header fields at the limit", "/v1/things/1", httpx.MaxHeaderBytes - len("example.com") - len("X-Big"), 200, ""},
		{"header fields over the limit", "/v1/things/1", httpx.MaxHeaderBytes - len("example.com") - len("X-Big") + 1, 431, "header_too_large"},
	} {
		before := ran
		r := httptest.NewRequest("GET", c.target, nil)
		if c.header > 0 {
			r.Header.Set("X-Big", strings.Repeat("b", c.header))
		}
		rec := httptest.NewRecorder()
		rec.Header().Set("X-Request-Id", "req-1")
		h.ServeHTTP(rec, r)
		if rec.Code != c.status {
			t.Errorf("%s: status %d, want %d: %.200s", c.name, rec.Code, c.status, rec.Body)
			continue
		}
		if c.problemType == "" {
			if ran != before+1 {
				t.Errorf("%s: the route did not run", c.name)
			}
			continue
		}
		if ran != before {
			t.Errorf("%s: the route ran", c.name)
		}
		var p httpx.Problem
		if rec.Header().Get("Content-Type") != "application/problem+json" || json.Unmarshal(rec.Body.Bytes(), &p) != nil {
			t.Errorf("%s: %q %.200s, want a problem", c.name, rec.Header().Get("Content-Type"), rec.Body)
			continue
		}
		if p.Type != httpx.ProblemTypeBase+c.problemType || p.Status != c.status || p.Title != http.StatusText(c.status) || p.RequestID != "req-1" || p.Detail == "" {
			t.Errorf("%s: problem %+v", c.name, p)
		}
		if strings.Contains(p.Detail, "aaaa") || strings.Contains(p.Detail, "bbbb") {
			t.Errorf("%s: detail repeats the request: %.200s", c.name, p.Detail)
		}
	}
}

// DecodeBatch decodes a batch whose every item is well-formed in one pass
// (true, whole filled), and any other as DecodeEnvelope does (false,
// envelope filled), so that the caller refuses each bad item by itself.
func TestDecodeBatch(t *testing.T) {
	type item struct {
		A int    `json:"a"`
		S string `json:"s"`
	}
	for _, tt := range []struct {
		name, body string
		whole      bool
		items      int
	}{
		{"well-formed", `{"events":[{"a":1},{"a":2,"s":"x"}]}`, true, 2},
		{"no events", `{}`, true, 0},
		{"a null item", `{"events":[{"a":1},null]}`, false, 2},
		{"an unknown field", `{"events":[{"a":1},{"b":2}]}`, false, 2},
		{"a repeated field", `{"events":[{"a":1,"A":2}]}`, false, 1},
		{"a wrong type", `{"events":[{"a":"one"}]}`, false, 1},
		{"a NUL character", `{"events":[{"s":"\u0000"}]}`, false, 1},
		{"a lone surrogate", `{"events":[{"s":"\ud800"}]}`, false, 1},
		{"invalid UTF-8", "{\"events\":[{\"s\":\"\xff\"}]}", false, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var whole struct {
				Events []*item `json:"events"`
			}
			var env struct {
				Events []json.RawMessage `json:"events"`
			}
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			complete := func() bool { return !slices.Contains(whole.Events, nil) }
			got, err := httpx.DecodeBatch(httptest.NewRecorder(), r, &whole, complete, &env)
			if err != nil {
				t.Fatalf("DecodeBatch = %v", err)
			}
			if got != tt.whole {
				t.Fatalf("decoded whole = %v, want %v", got, tt.whole)
			}
			n := len(env.Events)
			if got {
				n = len(whole.Events)
			}
			if n != tt.items {
				t.Fatalf("%d items, want %d", n, tt.items)
			}
		})
	}
	// A body that is not a batch at all is refused as DecodeEnvelope
	// refuses it.
	for _, body := range []string{`{"events":[`, `{"events":[],"Events":[]}`, `[]`} {
		var whole, env struct {
			Events []json.RawMessage `json:"events"`
		}
		_, err := httpx.DecodeBatch(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)), &whole, func() bool { return true }, &env)
		want := httpx.DecodeEnvelope(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)), &env)
		if err == nil || want == nil || err.Error() != want.Error() {
			t.Errorf("%s: DecodeBatch = %v, DecodeEnvelope = %v", body, err, want)
		}
	}
}

// TestInstantReadsJSONEscapes: a timestamp is checked as the string its
// JSON text stands for, escapes read ("\u005a" is "Z"); it was checked as
// raw bytes, and the valid value refused with no field named.
func TestInstantReadsJSONEscapes(t *testing.T) {
	type body struct {
		At httpx.Instant `json:"at"`
	}
	for _, tt := range []struct {
		json string
		want string // the instant, or "" for a refusal naming "at"
	}{
		{`{"at":"2026-12-07T02:00:00\u005a"}`, "2026-12-07T02:00:00Z"},
		{`{"at":"2026-12-07T02:00:00\u002b01:00"}`, "2026-12-07T01:00:00Z"},
		{`{"at":"2026-12-07T02:00:00Z"}`, "2026-12-07T02:00:00Z"},
		{`{"at":"2026-12-07T02:00:00\u0020Z"}`, ""},
		{`{"at":"2026-02-30T02:00:00Z"}`, ""},
		{`{"at":"2026-12-07T02:00:00+24:00"}`, ""},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.json))
		r.Header.Set("Content-Type", "application/json")
		var b body
		err := httpx.Decode(httptest.NewRecorder(), r, &b)
		if tt.want == "" {
			var e *errs.Error
			if !errors.As(err, &e) || e.Field != "at" {
				t.Errorf("%s: error %v, want a refusal naming at", tt.json, err)
			}
			continue
		}
		if err != nil || b.At.UTC().Format(time.RFC3339) != tt.want {
			t.Errorf("%s: %v, %v; want %s", tt.json, b.At, err, tt.want)
		}
	}
}

// TestRepeatedContentHeaders: a body whose Content-Encoding is spread over
// two header lines (identity, then gzip) is refused as compressed (415),
// not read as malformed JSON; two Content-Type lines are refused too.
func TestRepeatedContentHeaders(t *testing.T) {
	for name, h := range map[string]http.Header{
		"two encodings": {"Content-Type": {"application/json"}, "Content-Encoding": {"identity", "gzip"}},
		"two types":     {"Content-Type": {"application/json", "text/plain"}},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
		r.Header = h
		var v struct{}
		err := httpx.Decode(httptest.NewRecorder(), r, &v)
		if errs.CodeOf(err) != "unsupported_media" {
			t.Errorf("%s: error %v, want unsupported_media", name, err)
		}
	}
}

// TestDecodeOptional: an action's body may be left out; one of white space
// or the JSON null is none too, whatever its Content-Type (a white-space
// body sent as text/plain was 415); any other body is read as Decode reads
// it, its Content-Type included.
func TestDecodeOptional(t *testing.T) {
	tests := []struct {
		name, body, ctype string
		wantCode          errs.Code
		wantName          string
	}{
		{"absent", "", "", "", ""},
		{"white space as text", "  \n", "text/plain", "", ""},
		{"null as text", " null ", "text/plain", "", ""},
		{"white space as JSON", "\t", "application/json", "", ""},
		{"object", `{"name":"a"}`, "application/json", "", "a"},
		{"object as text", `{"name":"a"}`, "text/plain", "unsupported_media", ""},
		{"unknown field", `{"nom":"a"}`, "", errs.CodeInvalid, ""},
		// Only JSON's white space is none: other spaces are a body.
		{"no-break space as image", "\u00a0", "image/png", "unsupported_media", ""},
		{"ideographic space as JSON", "\u3000", "application/json", errs.CodeInvalid, ""},
		{"vertical tab", "\v", "", errs.CodeInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/x", strings.NewReader(tt.body))
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			var p payload
			err := httpx.DecodeOptional(httptest.NewRecorder(), r, &p)
			var e *errs.Error
			switch {
			case tt.wantCode == "" && err != nil:
				t.Fatalf("DecodeOptional(%q, %q) = %v, want no error", tt.body, tt.ctype, err)
			case tt.wantCode != "" && (!errors.As(err, &e) || e.Code != tt.wantCode):
				t.Fatalf("DecodeOptional(%q, %q) = %v, want code %s", tt.body, tt.ctype, err, tt.wantCode)
			}
			if p.Name != tt.wantName {
				t.Errorf("decoded name %q, want %q", p.Name, tt.wantName)
			}
		})
	}
}

// TestMuxUnknownParams: under QueryPrefix, a query parameter the route does
// not take is a 400 naming it, before the handler runs (a misspelt filter,
// audit?patientId=, answered the unfiltered list); routes outside the
// prefix, and those declared with AnyQuery, take any.
func TestMuxUnknownParams(t *testing.T) {
	mux := httpx.NewMux()
	mux.QueryPrefix = "/v1/"
	ran := 0
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ran++ })
	mux.HandleQuery("GET /v1/audit", ok, "patient", "limit")
	mux.Handle("GET /v1/me", ok)
	mux.HandleQuery("POST /v1/callback", ok, httpx.AnyQuery)
	mux.Handle("GET /fhir/Thing", ok)
	tests := []struct {
		method, target string
		wantStatus     int
		wantField      string
		wantDetail     string
	}{
		{"GET", "/v1/audit?patient=p&limit=5", 200, "", ""},
		{"HEAD", "/v1/audit?patient=p", 200, "", ""},
		{"GET", "/v1/audit", 200, "", ""},
		{"GET", "/v1/audit?patientId=p", 400, "patientId", "which takes: patient, limit"},
		{"GET", "/v1/audit?patient=p&zzz=", 400, "zzz", "not a parameter"},
		{"GET", "/v1/audit?LIMIT=1", 400, "LIMIT", "not a parameter"},
		{"GET", "/v1/audit?a%20b=1", 400, "query", "not a parameter"},
		{"GET", "/v1/me?x=1", 400, "x", "takes no query parameters"},
		{"POST", "/v1/callback?nid=1&other=2", 200, "", ""},
		{"GET", "/fhir/Thing?anything=1", 200, "", ""},
	}
	for _, tt := range tests {
		before := ran
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))
		if rec.Code != tt.wantStatus {
			t.Errorf("%s %s = %d %s, want %d", tt.method, tt.target, rec.Code, rec.Body, tt.wantStatus)
			continue
		}
		if tt.wantStatus == 200 {
			if ran != before+1 {
				t.Errorf("%s %s: the handler did not run", tt.method, tt.target)
			}
			continue
		}
		if ran != before {
			t.Errorf("%s %s: the handler ran although the request was refused", tt.method, tt.target)
		}
		var p httpx.Problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatalf("%s %s: body %s: %v", tt.method, tt.target, rec.Body, err)
		}
		if p.Field != tt.wantField || !strings.Contains(p.Detail, tt.wantDetail) {
			t.Errorf("%s %s = field %q detail %q, want field %q and a detail holding %q", tt.method, tt.target, p.Field, p.Detail, tt.wantField, tt.wantDetail)
		}
	}
}

// TestRefusePreconditions: a write made conditional (If-Match,
// If-Unmodified-Since, If-None-Match) is refused with a 400 naming the
// header, not carried out as if the condition held; a GET with
// If-None-Match (a cache revalidating) and requests without them pass.
func TestRefusePreconditions(t *testing.T) {
	reached := 0
	h := httpx.RefusePreconditions(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, tt := range []struct {
		method, header, value string
		want                  int
	}{
		{"PATCH", "If-Match", `W/"3"`, 400},
		{"PATCH", "If-Unmodified-Since", "Mon, 07 Dec 2026 10:00:00 GMT", 400},
		{"PUT", "If-None-Match", "*", 400},
		{"GET", "If-Match", `"3"`, 400},
		{"GET", "If-None-Match", `"3"`, 204},
		{"PATCH", "", "", 204},
	} {
		reached = 0
		req := httptest.NewRequest(tt.method, "/v1/things/1", nil)
		if tt.header != "" {
			req.Header.Set(tt.header, tt.value)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tt.want || (tt.want == 400) != (reached == 0) {
			t.Errorf("%s with %s: %d (handler reached %d times), want %d", tt.method, tt.header, w.Code, reached, tt.want)
		}
		if tt.want == 400 && !strings.Contains(w.Body.String(), `"field":"`+tt.header+`"`) {
			t.Errorf("%s with %s: problem %s does not name the header", tt.method, tt.header, w.Body)
		}
	}
}
