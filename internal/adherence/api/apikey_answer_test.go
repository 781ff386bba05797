package api_test

import (
	"testing"
	"time"
)

// TestAPIKeyCreateAnswersTheStoredKey: the answer to POST /v1/api-keys
// states the key as it is stored and then listed: createdAt and expiresAt
// in UTC to the microsecond. It gave the clock's nanoseconds and the
// expiry as sent (its offset, its nanoseconds), so the same key had two
// creation and expiry times, and a client keeping the answer matched
// nothing in GET /v1/api-keys.
func TestAPIKeyCreateAnswersTheStoredKey(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Key Answer Org")
		e.now = e.now.Add(123456789 * time.Nanosecond)
		created := e.mustDo("POST", "/v1/api-keys", admin,
			`{"role":"integration","name":"gw","expiresAt":"2027-06-01T10:00:00.123456789+02:00"}`, 201)
		if created["createdAt"] != "2026-03-06T15:00:00.123456Z" || created["expiresAt"] != "2027-06-01T08:00:00.123456Z" {
			t.Errorf("create answered createdAt %v, expiresAt %v; want 2026-03-06T15:00:00.123456Z, 2027-06-01T08:00:00.123456Z",
				created["createdAt"], created["expiresAt"])
		}
		list := e.mustDo("GET", "/v1/api-keys", admin, nil, 200)
		for _, k := range list["keys"].([]any) {
			k := k.(map[string]any)
			if k["id"] != created["id"] {
				continue
			}
			if k["createdAt"] != created["createdAt"] || k["expiresAt"] != created["expiresAt"] {
				t.Errorf("listed createdAt %v, expiresAt %v; the create answer said %v, %v",
					k["createdAt"], k["expiresAt"], created["createdAt"], created["expiresAt"])
			}
			return
		}
		t.Errorf("key %v not listed: %v", created["id"], list)
	})
}
