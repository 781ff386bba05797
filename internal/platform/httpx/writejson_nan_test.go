package httpx_test

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/httpx"
)

// TestWriteJSONUnencodableIsA500: a value encoding/json refuses (a NaN
// coordinate read from the database) was answered with the caller's
// status and an empty body — GET /v1/providers/{npi} said 200 with
// Content-Length 0. It is a 500 problem.
func TestWriteJSONUnencodableIsA500(t *testing.T) {
	w := httptest.NewRecorder()
	w.Header().Set("X-Request-Id", "req-1")
	httpx.WriteJSON(w, http.StatusOK, map[string]float64{"lat": math.NaN()})
	var p httpx.Problem
	if w.Code != http.StatusInternalServerError || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Status != 500 || p.RequestID != "req-1" {
		t.Fatalf("got %d %q, want a 500 problem with the request id", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	httpx.WriteJSON(w, http.StatusCreated, map[string]string{"a": "<b>"})
	if w.Code != http.StatusCreated || w.Body.String() != "{\"a\":\"<b>\"}\n" || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q %q", w.Code, w.Body.String(), w.Header().Get("Content-Type"))
	}
}

// TestWriteJSONAsUnencodableIsA500: the FHIR writer (WriteJSONAs with
// application/fhir+json) wrote its status before encoding, so a plan whose
// dose read as NaN answered 200 with an empty body.
func TestWriteJSONAsUnencodableIsA500(t *testing.T) {
	w := httptest.NewRecorder()
	httpx.WriteJSONAs(w, http.StatusOK, "application/fhir+json", map[string]float64{"value": math.Inf(1)})
	if w.Code != http.StatusInternalServerError || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %q %q, want a 500 problem", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	w = httptest.NewRecorder()
	httpx.WriteJSONAs(w, http.StatusOK, "application/fhir+json", map[string]string{"resourceType": "Bundle"})
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/fhir+json" || w.Header().Get("Cache-Control") != "no-store" ||
		w.Body.String() != "{\"resourceType\":\"Bundle\"}\n" {
		t.Fatalf("got %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
}
