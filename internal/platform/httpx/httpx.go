// Package httpx holds the HTTP plumbing both products share: strict JSON
// request decoding, JSON responses, RFC 9457 problem details with the one
// table mapping error codes to statuses, and a ServeMux wrapper that answers
// unknown routes and wrong methods with problem+json too.
package httpx

import (
	"bytes"
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// fieldName is what a field name we echo back must look like.
var fieldName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// MaxBodyBytes is the largest request body accepted (1 MiB).
const MaxBodyBytes = 1 << 20

// MaxURLBytes is the longest request target (path and query) served
// (8 KiB); a longer one is a 414 problem. No route takes anything near it.
const MaxURLBytes = 8 << 10

// MaxHeaderBytes is the most bytes of header fields (names and values,
// the host included) served (64 KiB, what a load balancer forwards); more
// is a 431 problem. http.Server's own limit (its MaxHeaderBytes, 1 MiB by
// default) is above it: past that one net/http answers 431 in plain text
// before any handler runs.
const MaxHeaderBytes = 64 << 10

// ProblemTypeBase prefixes every problem "type"; the suffix is the error
// code, so the type is stable and documented in docs/api.md.
const ProblemTypeBase = "https://medplatform.dev/problems/"

// statusOf is the one table from error code to HTTP status.
var statusOf = map[errs.Code]int{
	errs.CodeInvalid:      http.StatusBadRequest,
	errs.CodeNotFound:     http.StatusNotFound,
	errs.CodeConflict:     http.StatusConflict,
	errs.CodeUnauthorized: http.StatusUnauthorized,
	errs.CodeForbidden:    http.StatusForbidden,
	errs.CodeTooLarge:     http.StatusRequestEntityTooLarge,
	errs.CodeRateLimited:  http.StatusTooManyRequests,
	errs.CodeUnavailable:  http.StatusServiceUnavailable,
	errs.CodeInternal:     http.StatusInternalServerError,
	"method_not_allowed":  http.StatusMethodNotAllowed,
	"unsupported_media":   http.StatusUnsupportedMediaType,
	"uri_too_long":        http.StatusRequestURITooLong,
	"header_too_large":    http.StatusRequestHeaderFieldsTooLarge,
	"request_timeout":     http.StatusRequestTimeout,
}

// StatusOf returns the HTTP status for an error code.
func StatusOf(code errs.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Field    string `json:"field,omitempty"`
	Instance string `json:"instance,omitempty"`
	// RequestID lets support find the log lines of a failed request.
	RequestID string `json:"requestId,omitempty"`
}

// WriteError writes err as problem+json. Errors that are not *errs.Error
// (or have code internal) are logged with their text and answered with a
// generic 500 that reveals nothing. requestID may be empty.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, requestID string, err error) {
	p, internal := ProblemFor(err, requestID)
	if p.Status == http.StatusInternalServerError && errors.Is(r.Context().Err(), context.DeadlineExceeded) {
		// The request's deadline passed (server.WithRequestTimeout): the
		// error is what a database call failing on the expired context
		// became, whether or not the driver wrapped the context's error
		// (SQLite's "interrupted" does not). The client should retry.
		p = timedOut(requestID)
	}
	if internal && log != nil {
		log.ErrorContext(r.Context(), "request failed", "route", r.Pattern, "error", err.Error())
	}
	switch p.Status {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "60")
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
	}
	WriteProblem(w, p)
}

// ProblemFor is the problem body of err, for answers that carry several
// problems (one per item of a batch). internal reports an error whose text
// must not reach the client; the caller logs it.
func ProblemFor(err error, requestID string) (p Problem, internal bool) {
	var e *errs.Error
	if !errors.As(err, &e) && errors.Is(err, context.DeadlineExceeded) {
		// A deadline ran out (the request's, or a database wait's): the
		// service is overloaded or a dependency stalls, not broken — the
		// client may retry, which a 500 would not tell it.
		return timedOut(requestID), true
	}
	if (e == nil || e.Code == errs.CodeInternal) && db.Unavailable(err) {
		// The database cannot be reached (refused, cut, restarting) or is
		// out of space: an outage the client may retry, as a commit that
		// could not be confirmed is.
		return Problem{Type: ProblemTypeBase + string(errs.CodeUnavailable), Title: http.StatusText(http.StatusServiceUnavailable),
			Status: http.StatusServiceUnavailable, Detail: "the database is unavailable at the moment; try again later",
			RequestID: requestID}, true
	}
	code := errs.CodeOf(err)
	status := StatusOf(code)
	p = Problem{
		Type:      ProblemTypeBase + string(code),
		Title:     http.StatusText(status),
		Status:    status,
		RequestID: requestID,
	}
	if code != errs.CodeInternal && e != nil {
		p.Detail = e.Message
		p.Field = e.Field
		return p, false
	}
	p.Detail = "an internal error occurred; quote the request id when reporting it"
	return p, true
}

// timedOut is the problem of a request that ran out of time.
func timedOut(requestID string) Problem {
	return Problem{
		Type:      ProblemTypeBase + string(errs.CodeUnavailable),
		Title:     http.StatusText(http.StatusServiceUnavailable),
		Status:    http.StatusServiceUnavailable,
		Detail:    "the request did not complete in time; retry it later",
		RequestID: requestID,
	}
}

// WriteProblem writes a problem body with its status.
func WriteProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// WriteJSON writes v as JSON with the given status. Responses that may hold
// PHI must not be cached by intermediaries, so every JSON answer is no-store.
//
// v is encoded before anything is written (json.Encoder buffers the whole
// value anyway): a value encoding/json refuses (a NaN float, say) is a 500
// problem, not the status with an empty body.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	WriteJSONAs(w, status, "application/json", v)
}

// WriteJSONAs is WriteJSON with another JSON media type (FHIR's
// application/fhir+json, say).
func WriteJSONAs(w http.ResponseWriter, status int, contentType string, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		p, _ := ProblemFor(fmt.Errorf("encode response: %w", err), w.Header().Get("X-Request-Id"))
		WriteProblem(w, p)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// ReadBody reads a request body as Decode does before decoding it: JSON by
// its Content-Type, not compressed, at most MaxBodyBytes. DecodeBytes then
// decodes it, for a handler that reads something of the body first.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if err := checkBodyHeaders(r); err != nil {
		return nil, err
	}
	return readLimited(w, r)
}

// checkBodyHeaders returns the error of a request body that is not JSON
// by its Content-Type, or is compressed.
func checkBodyHeaders(r *http.Request) error {
	if len(r.Header.Values("Content-Type")) > 1 {
		// Which one the body is in cannot be told: refused, not read as
		// the first (QA: application/json then text/plain was accepted).
		return &errs.Error{Code: "unsupported_media", Message: "request has more than one Content-Type header"}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		parts := strings.Split(ct, ";")
		mt := strings.TrimSpace(strings.ToLower(parts[0]))
		if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			return &errs.Error{Code: "unsupported_media", Message: "request body must be application/json"}
		}
		// JSON is UTF-8 (RFC 8259): a body declared in another charset
		// would be read as UTF-8 all the same, another text than the one
		// meant.
		for _, p := range parts[1:] {
			name, value, _ := strings.Cut(p, "=")
			value = strings.Trim(strings.TrimSpace(value), `"`)
			if strings.EqualFold(strings.TrimSpace(name), "charset") && !strings.EqualFold(value, "utf-8") && !strings.EqualFold(value, "utf8") {
				return &errs.Error{Code: "unsupported_media", Message: fmt.Sprintf("request body must be UTF-8 JSON; charset %q is not supported", value)}
			}
		}
	}
	// No content coding is decoded: a gzip body would otherwise be
	// reported as malformed JSON at its first byte.
	// Every coding of every Content-Encoding line counts: "identity" on
	// one line and "gzip" on the next is a gzip body (QA: only the first
	// line was read, and the body was refused as malformed JSON).
	for _, line := range r.Header.Values("Content-Encoding") {
		for _, ce := range strings.Split(line, ",") {
			if ce = strings.TrimSpace(ce); ce != "" && !strings.EqualFold(ce, "identity") {
				return &errs.Error{Code: "unsupported_media", Message: "request body must not be compressed (Content-Encoding is not supported)"}
			}
		}
	}
	return nil
}

// readLimited reads r's body, at most MaxBodyBytes.
func readLimited(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		// Refused before reading: a client that sent Expect: 100-continue
		// is not asked for the body, and no other uploads a megabyte
		// only to be refused.
		return nil, errs.E(errs.CodeTooLarge, "request body exceeds %d bytes (its Content-Length is %d)", MaxBodyBytes, r.ContentLength)
	}
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	data, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errs.E(errs.CodeTooLarge, "request body exceeds %d bytes", MaxBodyBytes)
		}
		// A body that stopped arriving (the server's read timeout) is the
		// connection's fault, not the request's: 408, which clients retry,
		// where a 400 tells them the request itself is wrong and an event
		// client would drop the event.
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, &errs.Error{Code: "request_timeout", Message: "the request body did not arrive in time; send the request again"}
		}
		return nil, errs.E(errs.CodeInvalid, "could not read request body")
	}
	return data, nil
}

// Decode reads one JSON value from the request body into dst, strictly:
// the body must be JSON (Content-Type application/json or a +json type, or
// absent), at most MaxBodyBytes long, valid UTF-8, a single value with no
// unknown fields, no key twice in an object (see duplicateKey), no string
// holding half a UTF-16 surrogate pair (see loneSurrogate) or U+0000 (see
// nulString) and the right types.
// Errors are *errs.Error naming the field, or the line and column of a
// syntax error (and the byte offset of a byte that is not UTF-8).
func Decode(w http.ResponseWriter, r *http.Request, dst any) error {
	data, err := ReadBody(w, r)
	if err != nil {
		return err
	}
	return decodeBytes(data, dst, false)
}

// DecodeOptional is Decode for a request that may have no body, such as
// an action (POST …/pause): a body left out (Content-Length 0), of white
// space only or the JSON null decodes nothing and is no error, whatever
// its Content-Type; any other is decoded as Decode does, so that a
// malformed body or an unknown field is refused, not ignored while the
// action is carried out.
func DecodeOptional(w http.ResponseWriter, r *http.Request, dst any) error {
	if r.ContentLength == 0 {
		return nil
	}
	// Read before the headers are checked: a body of white space sent as
	// text/plain (curl -d ' ') carries nothing to refuse (QA: 415).
	data, err := readLimited(w, r)
	if err != nil {
		return err
	}
	// JSON's white space only (RFC 8259): bytes.TrimSpace also trims
	// Unicode spaces (U+00A0, U+3000, …), which are no JSON (QA: a
	// no-break space sent as image/png was taken for no body).
	if t := bytes.Trim(data, " \t\r\n"); len(t) == 0 || string(t) == "null" {
		return nil
	}
	if err := checkBodyHeaders(r); err != nil {
		return err
	}
	return decodeBytes(data, dst, false)
}

// DecodeEnvelope is Decode for a body whose items the caller decodes one by
// one with DecodeBytes (json.RawMessage fields, such as a batch's events):
// repeated keys are refused in the top-level object only, so that an item
// with a repeated key is refused as that item, not as the whole body.
func DecodeEnvelope(w http.ResponseWriter, r *http.Request, dst any) error {
	data, err := ReadBody(w, r)
	if err != nil {
		return err
	}
	return decodeBytes(data, dst, true)
}

// DecodeBatch reads a body whose items the caller would otherwise decode
// one by one (see DecodeEnvelope), decoding it in one pass where it can.
// It first decodes the whole body as Decode does into whole, the envelope
// with its items of their own type; when that succeeds and complete
// (called after it) agrees that every item is there (a null item decodes
// to nothing), it returns true: each item then passed the checks
// DecodeBytes would have made of it by itself, since every one of them
// holds of a part of a body it holds of. Otherwise, a bad item anywhere,
// it decodes the body as DecodeEnvelope into envelope (items as
// json.RawMessage), for the caller to decode each with DecodeBytes and
// refuse the bad ones as themselves, and returns false. One pass instead
// of one for the envelope and one per item: JSON decoding was 38% of the
// API's CPU on batches of 500 in bench/events.
func DecodeBatch(w http.ResponseWriter, r *http.Request, whole any, complete func() bool, envelope any) (bool, error) {
	data, err := ReadBody(w, r)
	if err != nil {
		return false, err
	}
	if decodeBytes(data, whole, false) == nil && complete() {
		return true, nil
	}
	return false, decodeBytes(data, envelope, true)
}

// extraValue reports whether dec, having decoded one value, has anything
// but white space after it.
func extraValue(dec *json.Decoder) bool {
	if dec.More() {
		return true
	}
	var extra json.RawMessage
	return dec.Decode(&extra) != io.EOF
}

// trailingData is the error of a body holding more than one JSON value:
// it names the line and column where the value ends and the rest begins
// (the first byte that is not white space after offset).
func trailingData(data []byte, offset int64) error {
	for offset < int64(len(data)) && strings.ContainsRune(" \t\r\n", rune(data[offset])) {
		offset++
	}
	line, col := position(data, offset)
	return errs.Invalid("", "request body must hold a single JSON value: more follows at line %d, column %d", line, col)
}

// DecodeBytes strictly decodes one JSON value; see Decode.
func DecodeBytes(data []byte, dst any) error { return decodeBytes(data, dst, false) }

func decodeBytes(data []byte, dst any, topOnly bool) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errs.Invalid("", "request body is empty; a JSON object is required")
	}
	// Checked first: encoding/json reads a byte that is not UTF-8 inside
	// a string as U+FFFD, so the request would act on another value than
	// the one sent (a file name, a search term). An envelope's items are
	// checked when they are decoded, so that a bad item is refused as that
	// item.
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		// encoding/json names its first byte, 'ï', which was never sent.
		return errs.Invalid("", "malformed JSON at line 1, column 1: the body begins with a byte order mark (U+FEFF), which JSON does not allow; send the JSON without it")
	}
	if !topOnly {
		if off := invalidUTF8(data); off >= 0 {
			line, col := position(data, int64(off))
			return errs.Invalid("", "malformed JSON: not valid UTF-8 at byte offset %d (line %d, column %d)", off, line, col)
		}
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		// encoding/json leaves dst untouched for null: the value would be
		// judged as an object with no fields, and refused for a missing
		// field the client never sent.
		return errs.Invalid("(body)", "wrong type: got JSON null, want object") // as for [] or 1 (see decodeError)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(data, dst, err)
	}
	if end := dec.InputOffset(); extraValue(dec) {
		return trailingData(data, end)
	}
	if path, dup := duplicateKey(data, topOnly); dup {
		return errs.Invalid(path, "appears twice in its object (names are compared without regard to case)")
	}
	// An envelope's items are checked when they are decoded, each by
	// itself (DecodeBytes).
	if !topOnly {
		if off := loneSurrogate(data); off >= 0 {
			line, col := position(data, int64(off))
			return errs.Invalid("", "malformed JSON: the escape at byte offset %d (line %d, column %d) is half of a UTF-16 surrogate pair, which names no character", off, line, col)
		}
		if path, nul := nulString(data); nul {
			if path == "" {
				path = "(body)"
			}
			return errs.Invalid(path, "must not contain the character U+0000 (NUL)")
		}
	}
	return nil
}

// invalidUTF8 returns the offset of the first byte of data that does not
// begin a valid UTF-8 sequence (a stray byte, a truncated sequence, an
// encoded surrogate), or -1 when data is valid UTF-8.
func invalidUTF8(data []byte) int {
	if utf8.Valid(data) {
		return -1
	}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// loneSurrogate returns the offset in data, valid JSON, of the first
// \u escape of a UTF-16 surrogate that is not part of a pair (a high
// surrogate \uD800–\uDBFF not followed by the escape of a low one
// \uDC00–\uDFFF, or a low one by itself), or -1. Such an escape names no
// character, and encoding/json reads it as U+FFFD, as it does a byte
// that is not UTF-8. In valid JSON a backslash occurs in strings only.
func loneSurrogate(data []byte) int {
	if !bytes.Contains(data, []byte(`\u`)) {
		return -1
	}
	for i := 0; i+1 < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		if data[i+1] != 'u' {
			i++ // the escaped character, which may be a backslash
			continue
		}
		r := hex4(data[i+2:])
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			if j := i + 6; j+1 < len(data) && data[j] == '\\' && data[j+1] == 'u' {
				if lo := hex4(data[j+2:]); lo >= 0xDC00 && lo <= 0xDFFF {
					i = j + 5
					continue
				}
			}
			return i
		case r >= 0xDC00 && r <= 0xDFFF:
			return i
		}
		i += 5
	}
	return -1
}

// hex4 returns the value of the four hex digits b starts with (valid
// JSON has them after \u), or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 32)
	if err != nil {
		return -1
	}
	return rune(n)
}

func decodeError(data []byte, dst any, err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		tpe *time.ParseError
		e   *errs.Error
	)
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset-1) // Offset counts the bad byte
		return errs.Invalid("", "malformed JSON at line %d, column %d: %s", line, col, syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		// The body ends inside a value: the position is its end.
		line, col := position(data, int64(len(data)))
		return errs.Invalid("", "malformed JSON at line %d, column %d: unexpected end of input", line, col)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		// encoding/json names a field inside an array without its index
		// ("levels.afterMinutes"): find which element it is.
		if p := badValuePath(data, dst); p != "" && arrayIndex.ReplaceAllString(p, "") == typ.Field {
			field = p
		}
		want := jsonKind(typ.Type.Kind())
		// A number refused by a numeric field is one it cannot hold: too
		// large (1e400 for a float64, 2^63 for an int64), or a fraction
		// or exponent for an integer, which stays a wrong type.
		if num, ok := strings.CutPrefix(typ.Value, "number "); ok && (want == "number" || !strings.ContainsAny(num, ".eE")) {
			return errs.Invalid(field, "JSON number %s is out of range", num)
		}
		return errs.Invalid(field, "wrong type: got JSON %s, want %s", typ.Value, want)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if !fieldName.MatchString(name) {
			// A key that is not an identifier could be anything the client
			// typed, PHI included: do not echo it.
			return errs.Invalid("", "unknown field (its name is not a valid identifier)")
		}
		if p := unknownFieldPath(data, dst, name); p != "" {
			name = p
		}
		return errs.Invalid(name, "unknown field")
	case errors.As(err, &e):
		if e.Field == "" {
			e.Field = badValuePath(data, dst)
		}
		return e
	case errors.As(err, &tpe), strings.HasPrefix(err.Error(), "Time.UnmarshalJSON"):
		// time.Time's own errors repeat the client's text: say what is
		// expected instead.
		return errs.Invalid(badValuePath(data, dst), "must be an RFC 3339 timestamp with a time zone, such as 2026-01-02T15:04:05Z")
	default:
		// Other UnmarshalJSON/UnmarshalText methods (clock values, …) are
		// ours: their messages carry no PHI.
		return errs.Invalid(badValuePath(data, dst), "invalid value: %s", err.Error())
	}
}

// arrayIndex matches the array indexes of a JSON path ("[0]").
var arrayIndex = regexp.MustCompile(`\[[0-9]+\]`)

// badValuePath returns the JSON path ("occurredAt", "timing.repeat[0]") of
// the first value in data that its Go type in dst refuses, through its own
// UnmarshalJSON or UnmarshalText method (encoding/json returns such errors
// without saying where they happened), or as a value of the wrong type. It returns "" when it cannot tell.
func badValuePath(data []byte, dst any) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // re-encoded numbers keep their exact text
	var v any
	if dec.Decode(&v) != nil || dst == nil {
		return ""
	}
	path, _ := findBadValue(v, reflect.TypeOf(dst), "")
	return path
}

// unknownFieldPath returns the JSON path ("windows.early") of the first
// key named name that no field of its object's Go type in dst takes:
// encoding/json names an unknown field without saying in which object it
// is. It returns "" when it cannot tell.
func unknownFieldPath(data []byte, dst any, name string) string {
	var v any
	if json.Unmarshal(data, &v) != nil || dst == nil {
		return ""
	}
	path, _ := findUnknown(v, reflect.TypeOf(dst), name, "")
	return path
}

func findUnknown(v any, t reflect.Type, name, path string) (string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if pt := reflect.PointerTo(t); pt.Implements(jsonUnmarshaler) || pt.Implements(textUnmarshaler) {
		return "", false // decoded by its own method, which names its fields
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		// Keys in a fixed order, so that the answer does not depend on
		// map iteration.
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			ft, ok := fieldType(t, k)
			if !ok {
				if k == name {
					return p, true
				}
				continue
			}
			if got, ok := findUnknown(obj[k], ft, name, p); ok {
				return got, true
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			return "", false
		}
		for i, elem := range arr {
			if p, ok := findUnknown(elem, t.Elem(), name, fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, true
			}
		}
	}
	return "", false
}

// CaseVariantPath returns the JSON path of the first key in data (keys
// sorted within an object) that encoding/json takes for a field of its
// object's Go type in dst only because it matches names without regard to
// case ("Status" for status), with that field's name; "" when there is
// none, or data is not JSON. For formats whose names are case-sensitive
// (FHIR JSON), where such a key is no element at all.
func CaseVariantPath(data []byte, dst any) (path, field string) {
	var v any
	if json.Unmarshal(data, &v) != nil || dst == nil {
		return "", ""
	}
	path, field, _ = findCaseVariant(v, reflect.TypeOf(dst), "")
	return path, field
}

func findCaseVariant(v any, t reflect.Type, path string) (string, string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if pt := reflect.PointerTo(t); pt.Implements(jsonUnmarshaler) || pt.Implements(textUnmarshaler) {
		return "", "", false // decoded by its own method, by its own rules
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return "", "", false
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fields := jsonFields(t)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			var exact, folded *jsonField
			for i := range fields {
				switch {
				case fields[i].name == k:
					exact = &fields[i]
				case folded == nil && strings.EqualFold(fields[i].name, k):
					folded = &fields[i]
				}
			}
			switch {
			case exact != nil:
				if got, name, ok := findCaseVariant(obj[k], exact.typ, p); ok {
					return got, name, true
				}
			case folded != nil:
				return p, folded.name, true
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			return "", "", false
		}
		for i, elem := range arr {
			if p, name, ok := findCaseVariant(elem, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, name, true
			}
		}
	}
	return "", "", false
}

// fieldType returns the type of the field of struct type t that
// encoding/json decodes key into (see jsonFields).
func fieldType(t reflect.Type, key string) (reflect.Type, bool) {
	for _, f := range jsonFields(t) {
		if strings.EqualFold(key, f.name) {
			return f.typ, true
		}
	}
	return nil, false
}

// jsonField is a field of a struct as encoding/json names it.
type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields lists the fields of struct type t as encoding/json names
// them: the tag name, else the Go name (keys match them without regard to
// case); embedded structs without a tag are flattened, unexported and
// "-" fields left out.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonFields(ft)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, typ: f.Type})
	}
	return out
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func findBadValue(v any, t reflect.Type, path string) (string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return "", false // null leaves the value alone
	}
	if pt := reflect.PointerTo(t); pt.Implements(jsonUnmarshaler) || pt.Implements(textUnmarshaler) {
		if refuses(t, v) {
			return path, true
		}
		return "", false
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		// A value of the wrong type, or a number the type cannot hold.
		if refuses(t, v) {
			return path, true
		}
		return "", false
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		return findBadField(obj, t, path)
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			return "", false
		}
		for i, elem := range arr {
			if p, ok := findBadValue(elem, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, true
			}
		}
	}
	return "", false
}

// refuses reports whether a value of type t cannot be decoded from v (a
// decoded JSON value, numbers as json.Number).
func refuses(t reflect.Type, v any) bool {
	b, err := json.Marshal(v)
	return err == nil && json.Unmarshal(b, reflect.New(t).Interface()) != nil
}

// findBadField looks through the fields of struct type t (see
// jsonFields) in their order.
func findBadField(obj map[string]any, t reflect.Type, path string) (string, bool) {
	for _, f := range jsonFields(t) {
		for key, val := range obj {
			if !strings.EqualFold(key, f.name) {
				continue
			}
			p := f.name
			if path != "" {
				p = path + "." + f.name
			}
			if got, ok := findBadValue(val, f.typ, p); ok {
				return got, true
			}
		}
	}
	return "", false
}

func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	default:
		return "number"
	}
}

// position converts a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < offset && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

// Mux wraps an *http.ServeMux so that requests matching no route get a 404
// problem and requests with the wrong method get a 405 problem (with the
// Allow header the ServeMux computed), instead of the mux's plain text.
//
// A path that is not canonical (an empty segment, "//", or a "." or ".."
// segment) is a 404 problem too: the ServeMux would answer it with a
// redirect to the cleaned path and an HTML body, which an API client
// would follow to another resource than the one it named (or not at all,
// for a POST). Mux never redirects.
//
// `OPTIONS *` (which server.Run passes on instead of net/http's empty 200)
// is a 405 problem, as OPTIONS is on every route.
//
// Under QueryPrefix, a query parameter the matched route does not take
// (HandleQuery declares those it takes; a route registered with Handle
// takes none) is a 400 naming it: request bodies refuse unknown fields,
// and a misspelt filter was as silently ignored (QA: audit?patientId=…
// answered the whole organization's trail).
type Mux struct {
	*http.ServeMux
	// QueryPrefix is the path prefix of the routes whose query is checked
	// (the API's, not FHIR's, where unknown parameters are ignored by the
	// standard's rules); empty checks none.
	QueryPrefix string
	params      map[string][]string // route pattern → the query parameters it takes
}

// AnyQuery, given to HandleQuery, declares a route whose query is not the
// API's to judge: a URL another party (a provider's callback) calls.
const AnyQuery = "*"

// HandleQuery registers h for pattern, as Handle does, and declares the
// query parameters the route takes.
func (m *Mux) HandleQuery(pattern string, h http.Handler, params ...string) {
	m.Handle(pattern, h)
	if m.params == nil {
		m.params = map[string][]string{}
	}
	m.params[pattern] = params
}

// unknownParam returns the error of r's first query parameter (by name)
// that the route pattern does not take, or nil.
func (m *Mux) unknownParam(r *http.Request, pattern string) error {
	if m.QueryPrefix == "" || r.URL.RawQuery == "" || !strings.HasPrefix(r.URL.Path, m.QueryPrefix) {
		return nil
	}
	takes := m.params[pattern]
	if slices.Contains(takes, AnyQuery) {
		return nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil // malformed: OneValueEach answers it, before the mux
	}
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names) // the same answer for the same request
	for _, k := range names {
		if slices.Contains(takes, k) {
			continue
		}
		field := k
		if !fieldName.MatchString(k) {
			field = "query" // not echoed: it may be anything the client typed
		}
		if len(takes) == 0 {
			return errs.Invalid(field, "is not a parameter of this route, which takes no query parameters")
		}
		return errs.Invalid(field, "is not a parameter of this route, which takes: %s", strings.Join(takes, ", "))
	}
	return nil
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{ServeMux: http.NewServeMux()} }

func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := oversized(r); err != nil {
		p, _ := ProblemFor(err, w.Header().Get("X-Request-Id"))
		WriteProblem(w, p)
		return
	}
	if r.Method == http.MethodOptions && r.RequestURI == "*" {
		// OPTIONS asks about the server as a whole here; no resource
		// answers OPTIONS, so neither does the server: 405 as on every
		// route, with an empty Allow (no method applies to "*").
		w.Header().Set("Allow", "")
		methodNotAllowed(w, r)
		return
	}
	if why := uncleanPath(r.URL.EscapedPath()); why != "" {
		notFound(w, "no such route: the path "+why+"; paths are not cleaned nor redirected")
		return
	}
	if _, pattern := m.Handler(r); pattern != "" {
		if err := m.unknownParam(r, pattern); err != nil {
			p, _ := ProblemFor(err, w.Header().Get("X-Request-Id"))
			WriteProblem(w, p)
			return
		}
		m.ServeMux.ServeHTTP(w, r)
		return
	}
	// No pattern matched: let the mux decide between 404 and 405 on a
	// recorder, then answer in our format.
	rec := &statusRecorder{header: http.Header{}}
	m.ServeMux.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		methodNotAllowed(w, r)
		return
	}
	notFound(w, "no such route")
}

// methodNotAllowed writes the 405 problem of a request whose method the
// resource does not answer; the caller sets Allow.
func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	WriteProblem(w, Problem{
		Type:   ProblemTypeBase + "method_not_allowed",
		Title:  http.StatusText(http.StatusMethodNotAllowed),
		Status: http.StatusMethodNotAllowed,
		Detail: fmt.Sprintf("method %s is not allowed on this resource", r.Method),
		// Set by the telemetry middleware before the mux runs.
		RequestID: w.Header().Get("X-Request-Id"),
	})
}

// oversized returns the problem of a request whose target is longer than
// MaxURLBytes or whose header fields are larger than MaxHeaderBytes, or
// nil.
func oversized(r *http.Request) *errs.Error {
	target := r.RequestURI
	if target == "" {
		target = r.URL.RequestURI()
	}
	if len(target) > MaxURLBytes {
		return &errs.Error{Code: "uri_too_long", Message: fmt.Sprintf("the request target (path and query) is longer than %d bytes", MaxURLBytes)}
	}
	n := len(r.Host)
	for name, values := range r.Header {
		for _, v := range values {
			n += len(name) + len(v)
		}
	}
	if n > MaxHeaderBytes {
		return &errs.Error{Code: "header_too_large", Message: fmt.Sprintf("the request's header fields total more than %d bytes", MaxHeaderBytes)}
	}
	return nil
}

// notFound writes the 404 problem of a request no route answers.
func notFound(w http.ResponseWriter, detail string) {
	WriteProblem(w, Problem{
		Type:   ProblemTypeBase + string(errs.CodeNotFound),
		Title:  http.StatusText(http.StatusNotFound),
		Status: http.StatusNotFound,
		Detail: detail,
		// Set by the telemetry middleware before the mux runs.
		RequestID: w.Header().Get("X-Request-Id"),
	})
}

// uncleanPath says what makes the escaped path p other than the one the
// ServeMux would match it as (it cleans paths as path.Clean does, keeping
// a trailing slash, and redirects to the result), or returns "" when p is
// canonical. The path's text is not repeated: it may be anything the
// client typed.
func uncleanPath(p string) string {
	if p == "" || p[0] != '/' {
		return "does not start with /"
	}
	// strings.Cut rather than strings.Split: every request passes here,
	// and a clean path should cost no allocation.
	rest := p[1:]
	for {
		seg, after, more := strings.Cut(rest, "/")
		switch {
		case seg == "" && more: // a trailing slash ends in an empty last segment, which is fine
			return "has an empty segment (//)"
		case seg == "." || seg == "..":
			return "has a " + seg + " segment"
		}
		if !more {
			return ""
		}
		rest = after
	}
}

type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return len(b), nil
}
func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}

// OneValueEach answers 400, naming the parameter, a request under prefix
// whose query gives a parameter more than once: the API's parameters take
// one value each, and a handler reading the first would silently ignore
// the others (dataset=partb&dataset=nucc answered for partb alone). Routes
// outside prefix (FHIR, where a repeated parameter is an AND) are passed
// through.
//
// A query that is not valid URL encoding is answered 400 on every route
// (see malformedQuery): the handlers read it with url.Values, which drops
// such a pair without a word, so audit?patient=%ZZ answered the whole
// organization's audit trail, unfiltered.
func OneValueEach(next http.Handler, prefix string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An oversized request is left to Mux, which refuses it whole.
		if r.URL.RawQuery != "" && oversized(r) == nil {
			if err := oneValueEach(r, prefix); err != nil {
				p, _ := ProblemFor(err, w.Header().Get("X-Request-Id"))
				WriteProblem(w, p)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// RefusePreconditions answers 400 to a request that makes itself
// conditional on the state of its resource (If-Match, If-Unmodified-Since,
// or If-None-Match on a method other than GET and HEAD): a server that
// does not evaluate them must not carry out the method as if they held
// (RFC 9110, 13.1.1), and a PATCH with If-Match of a stale version was
// applied over the newer one (QA). The products' resources carry their
// version in their body instead, which a write may send back.
func RefusePreconditions(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := ""
		switch {
		case r.Header.Get("If-Match") != "":
			name = "If-Match"
		case r.Header.Get("If-Unmodified-Since") != "":
			name = "If-Unmodified-Since"
		case r.Header.Get("If-None-Match") != "" && r.Method != http.MethodGet && r.Method != http.MethodHead:
			name = "If-None-Match"
		}
		if name != "" {
			err := errs.Invalid(name, "conditional requests are not supported: where the resource has a \"version\", send the one you read in the body (a stale one is a 409 conflict)")
			p, _ := ProblemFor(err, w.Header().Get("X-Request-Id"))
			WriteProblem(w, p)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// oneValueEach returns the error of r's query (see OneValueEach), or nil.
func oneValueEach(r *http.Request, prefix string) error {
	if err := malformedQuery(r.URL.RawQuery); err != nil {
		return err
	}
	if !strings.HasPrefix(r.URL.Path, prefix) {
		return nil
	}
	q := r.URL.Query() // well formed: malformedQuery found nothing to drop
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same answer for the same request
	for _, k := range keys {
		if len(q[k]) > 1 {
			return errs.Invalid(k, "is given %d times; give it once", len(q[k]))
		}
	}
	return nil
}

// malformedQuery returns an error naming the first pair of the raw query
// that url.ParseQuery would drop: one holding a ';' (no separator here,
// and url.ParseQuery refuses it), or a '%' that starts no escape. The
// parameter is named by its name as far as it decodes.
func malformedQuery(raw string) error {
	for _, pair := range strings.Split(raw, "&") {
		key, value, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(key)
		if err != nil || !fieldName.MatchString(name) {
			name = "query"
		}
		switch {
		case strings.Contains(pair, ";"):
			return errs.Invalid(name, "the query holds a ';': parameters are separated by '&' (a ';' in a value is written %%3B)")
		case err != nil:
			return errs.Invalid(name, "a parameter's name is not valid URL encoding: a '%%' must start an escape such as %%25")
		}
		v, err := url.QueryUnescape(value)
		if err != nil {
			return errs.Invalid(name, "is not valid URL encoding: a '%%' must start an escape such as %%25")
		}
		// Every parameter is text: a NUL byte or bytes that are not UTF-8
		// name nothing, and PostgreSQL refused them with an error the
		// handlers answered 500 (QA: audit?patient=%00).
		if !IsText(v) {
			return errs.Invalid(name, "holds a NUL byte (%%00) or bytes that are not UTF-8")
		}
	}
	return nil
}

// IsText reports whether s is valid UTF-8 without a NUL byte, as every
// text the database stores or compares must be.
func IsText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
