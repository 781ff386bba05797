package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// TestKeyLifecycle issues a key, uses it, revokes it and checks it stops
// working; the plaintext is returned once and never listed.
func TestKeyLifecycle(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Keys Org")
		k := e.mustDo("POST", "/v1/api-keys", admin, map[string]any{"role": "integration", "name": "sms gateway"}, 201)
		token, id := k["key"].(string), k["id"].(string)
		if token == "" {
			t.Fatal("creation response has no key")
		}
		me := e.mustDo("GET", "/v1/me", token, nil, 200)
		if me["role"] != "integration" {
			t.Fatalf("me = %v", me)
		}
		list := e.mustDo("GET", "/v1/api-keys", admin, nil, 200)["keys"].([]any)
		for _, item := range list {
			if _, ok := item.(map[string]any)["key"]; ok {
				t.Fatal("key listing exposes a secret")
			}
		}
		e.mustDo("DELETE", "/v1/api-keys/"+id, admin, nil, 204)
		if r := e.do("GET", "/v1/me", token, nil); r.status != 401 {
			t.Fatalf("revoked key: GET /v1/me = %d, want 401", r.status)
		}
		// Bad role or subject are refused with the field named.
		r := e.do("POST", "/v1/api-keys", admin, map[string]any{"role": "patient", "subject": "no-such-patient"})
		if r.status != 400 || r.json(t)["field"] != "subject" {
			t.Fatalf("patient key for unknown patient = %d %s", r.status, r.body)
		}
	})
}

// TestRevokedKeyRefusedAtOnce: with API keys cached (API_KEY_CACHE_TTL, as
// `adherence serve` runs), a key revoked through DELETE /v1/api-keys/{id}
// is refused by the process that revoked it at once, not when the cached
// entry expires: the embedded default is that one process. The cache used
// to serve the key until its entry expired (5 s by default; an hour here,
// and the test clock does not move).
func TestRevokedKeyRefusedAtOnce(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		e := newEnvKeyCache(t, d, time.Hour)
		_, admin := e.org("Revoke Org")
		k := e.mustDo("POST", "/v1/api-keys", admin, map[string]any{"role": "integration", "name": "gateway"}, 201)
		token, id := k["key"].(string), k["id"].(string)
		for range 2 { // the second answered from the cache
			e.mustDo("GET", "/v1/me", token, nil, 200)
		}
		e.mustDo("DELETE", "/v1/api-keys/"+id, admin, nil, 204)
		if r := e.do("GET", "/v1/me", token, nil); r.status != 401 || !strings.Contains(string(r.body), "revoked") {
			t.Fatalf("revoked key: GET /v1/me = %d %s, want 401 saying it is revoked", r.status, r.body)
		}
		// The admin key, cached too, still works.
		e.mustDo("GET", "/v1/me", admin, nil, 200)
	})
}

// TestDeactivation keeps the patient's history, excludes future doses and
// hides the patient from the default listing.
func TestDeactivation(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Deactivation Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "D", "timeZone": "America/Phoenix"}, 201)["id"].(string)
		planID := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "1", "display": "x"},
			"timing":     map[string]any{"repeat": map[string]any{"timeOfDay": []string{"09:00:00"}}},
		}, 201)["id"].(string)
		p := e.mustDo("POST", "/v1/patients/"+pid+"/deactivate", admin, nil, 200)
		if p["active"] != false || p["deactivatedAt"] == nil {
			t.Fatalf("deactivated patient = %v", p)
		}
		// Still readable, with its plan and doses, which are now excluded.
		e.mustDo("GET", "/v1/patients/"+pid, admin, nil, 200)
		doses := e.mustDo("GET", "/v1/plans/"+planID+"/doses", admin, nil, 200)["doses"].([]any)
		if len(doses) == 0 {
			t.Fatal("deactivation deleted the doses")
		}
		for _, d := range doses {
			if st := d.(map[string]any)["status"]; st != "excluded" {
				t.Fatalf("dose status after deactivation = %v, want excluded", st)
			}
		}
		if n := len(e.mustDo("GET", "/v1/patients", admin, nil, 200)["patients"].([]any)); n != 0 {
			t.Fatalf("default listing shows %d deactivated patient(s)", n)
		}
		if n := len(e.mustDo("GET", "/v1/patients?inactive=true", admin, nil, 200)["patients"].([]any)); n != 1 {
			t.Fatalf("inactive=true lists %d patient(s), want 1", n)
		}
		// New plans cannot be added to an inactive patient.
		r := e.do("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "1", "display": "x"},
			"timing":     map[string]any{"repeat": map[string]any{"timeOfDay": []string{"10:00:00"}}},
		})
		if r.status < 400 || r.status >= 500 {
			t.Fatalf("plan for inactive patient = %d, want a 4xx", r.status)
		}
		e.mustDo("POST", "/v1/patients/"+pid+"/reactivate", admin, nil, 200)
		doses = e.mustDo("GET", "/v1/plans/"+planID+"/doses", admin, nil, 200)["doses"].([]any)
		if len(doses) == 0 || doses[0].(map[string]any)["status"] != "scheduled" {
			t.Fatalf("after reactivation doses = %v", doses)
		}
	})
}

// TestOptimisticConcurrency refuses an update based on a stale version.
func TestOptimisticConcurrency(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Versions Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "V", "timeZone": "UTC"}, 201)
		pid := p["id"].(string)
		e.mustDo("PATCH", "/v1/patients/"+pid, admin, map[string]any{"language": "es", "version": 1}, 200)
		r := e.do("PATCH", "/v1/patients/"+pid, admin, map[string]any{"language": "fr", "version": 1})
		if r.status != 409 {
			t.Fatalf("stale update = %d, want 409: %s", r.status, r.body)
		}
		if got := e.mustDo("GET", "/v1/patients/"+pid, admin, nil, 200)["language"]; got != "es" {
			t.Fatalf("language = %v after a refused update, want es", got)
		}
	})
}
