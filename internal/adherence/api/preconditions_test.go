package api_test

import (
	"bytes"
	"net/http/httptest"
	"testing"
)

// TestConditionalWriteRefused: a PATCH sent with If-Match is refused, and
// the patient is unchanged: it was applied as if the condition held,
// whatever version it named (QA).
func TestConditionalWriteRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Conditional Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)
		path := "/v1/patients/" + p["id"].(string)
		req := httptest.NewRequest("PATCH", path, bytes.NewReader([]byte(`{"givenName":"Bea"}`)))
		req.RemoteAddr = "192.0.2.10:5000"
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("If-Match", `W/"999"`)
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, req)
		if w.Code != 400 {
			t.Fatalf("PATCH with If-Match: %d %s, want 400", w.Code, w.Body)
		}
		if got := e.mustDo("GET", path, admin, nil, 200); got["givenName"] != "Ana" || got["version"] != p["version"] {
			t.Fatalf("patient after a refused conditional PATCH = %v", got)
		}
	})
}
