package api_test

import (
	"testing"
)

// TestAPIKeyExpiryOutsideYears1To9999: an expiresAt whose UTC instant is
// in the year 10000 (9999-12-31T23:00:00-05:00) is a 400 naming expiresAt.
// The key was issued, and GET /v1/api-keys, which cannot write that instant
// in JSON, answered 500 from then on: the organization's admins could no
// longer list their keys to revoke them.
func TestAPIKeyExpiryOutsideYears1To9999(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Key Expiry Org")
		r := e.do("POST", "/v1/api-keys", admin, `{"role":"integration","expiresAt":"9999-12-31T23:00:00-05:00"}`)
		if r.status != 400 || r.json(t)["field"] != "expiresAt" {
			t.Errorf("expiresAt in the year 10000 = %d %s, want 400 naming expiresAt", r.status, r.body)
		}
		e.mustDo("GET", "/v1/api-keys", admin, nil, 200)
		e.mustDo("POST", "/v1/api-keys", admin, `{"role":"integration","expiresAt":"9999-12-31T23:59:59Z"}`, 201)
		e.mustDo("GET", "/v1/api-keys", admin, nil, 200)
	})
}
