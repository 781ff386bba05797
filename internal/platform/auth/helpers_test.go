package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// clock is a manually advanced time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 3, 8, 9, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// keyStore stands in for the product store's API key table.
type keyStore map[string]auth.StoredKey

func (s keyStore) LookupAPIKey(_ context.Context, keyID string) (auth.StoredKey, error) {
	k, ok := s[keyID]
	if !ok {
		return auth.StoredKey{}, errs.NotFound("API key")
	}
	return k, nil
}

// newKey generates an API key, stores it under its id with the given
// attributes, and returns its plaintext and id.
func newKey(t *testing.T, store keyStore, k auth.StoredKey) (plaintext, keyID string) {
	t.Helper()
	plaintext, keyID, hash, err := auth.NewAPIKey()
	if err != nil {
		t.Fatalf("NewAPIKey: %v", err)
	}
	k.ID, k.Hash = keyID, hash
	store[keyID] = k
	return plaintext, keyID
}

// request builds a request from addr ("host:port") with the given
// Authorization header; an empty header is left out.
func request(addr, authorization string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/things", nil)
	r.RemoteAddr = addr
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return r
}
