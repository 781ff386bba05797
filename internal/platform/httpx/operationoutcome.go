package httpx

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
)

// FHIRErrors answers the errors of requests under prefix ("/fhir/") as FHIR
// R4 OperationOutcome resources (application/fhir+json), which FHIR
// clients expect of a failed interaction, instead of problem+json. Every
// problem written below it is converted, whoever wrote it: a handler, the
// authentication middleware, the mux (404, 405), a size limit. The status
// and headers (X-Request-Id, Retry-After, WWW-Authenticate) stay.
func FHIRErrors(next http.Handler, prefix string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, prefix) {
			next.ServeHTTP(w, r)
			return
		}
		fw := &fhirErrorWriter{ResponseWriter: w}
		next.ServeHTTP(fw, r)
		fw.finish()
	})
}

// fhirErrorWriter holds back a problem body to write it as an
// OperationOutcome once the handler is done.
type fhirErrorWriter struct {
	http.ResponseWriter
	status  int // of the problem held back; 0 when none
	wrote   bool
	problem bytes.Buffer
}

func (w *fhirErrorWriter) WriteHeader(code int) {
	if w.wrote || w.status != 0 {
		return
	}
	if strings.HasPrefix(w.Header().Get("Content-Type"), "application/problem+json") {
		w.status = code
		return
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *fhirErrorWriter) Write(b []byte) (int, error) {
	if !w.wrote && w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.status != 0 {
		return w.problem.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes through once the answer is not a problem held back.
func (w *fhirErrorWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && w.status == 0 {
		f.Flush()
	}
}

func (w *fhirErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *fhirErrorWriter) finish() {
	if w.status == 0 {
		return
	}
	var p Problem
	_ = json.Unmarshal(w.problem.Bytes(), &p) // written by WriteProblem: a Problem
	WriteJSONAs(w.ResponseWriter, w.status, "application/fhir+json", OperationOutcomeOf(w.status, p))
}

// OperationOutcome is FHIR R4's OperationOutcome resource, as much of it as
// an error needs.
type OperationOutcome struct {
	ResourceType string                  `json:"resourceType"`
	Issue        []OperationOutcomeIssue `json:"issue"`
}

// OperationOutcomeIssue is one issue of an OperationOutcome.
type OperationOutcomeIssue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"`
}

// OperationOutcomeOf is the OperationOutcome of problem p answered with
// status: one error issue whose code (from FHIR's IssueType value set)
// follows the status, whose diagnostics is the problem's detail (or its
// title), and whose expression is the field the problem names.
func OperationOutcomeOf(status int, p Problem) OperationOutcome {
	issue := OperationOutcomeIssue{Severity: "error", Code: issueType(status), Diagnostics: p.Detail}
	if issue.Diagnostics == "" {
		issue.Diagnostics = p.Title
	}
	if issue.Diagnostics == "" {
		issue.Diagnostics = http.StatusText(status)
	}
	if p.Field != "" {
		issue.Expression = []string{p.Field}
	}
	if status >= 500 {
		issue.Severity = "fatal"
	}
	return OperationOutcome{ResourceType: "OperationOutcome", Issue: []OperationOutcomeIssue{issue}}
}

// issueType is the IssueType code of an HTTP error status.
func issueType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "login"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not-found"
	case http.StatusMethodNotAllowed, http.StatusNotAcceptable, http.StatusUnsupportedMediaType:
		return "not-supported"
	case http.StatusConflict, http.StatusPreconditionFailed:
		return "conflict"
	case http.StatusRequestEntityTooLarge, http.StatusRequestURITooLong, http.StatusRequestHeaderFieldsTooLarge:
		return "too-long"
	case http.StatusTooManyRequests:
		return "throttled"
	case http.StatusServiceUnavailable:
		return "transient"
	case http.StatusGatewayTimeout:
		return "timeout"
	case http.StatusUnprocessableEntity:
		return "processing"
	}
	if status >= 500 {
		return "exception"
	}
	return "invalid"
}
