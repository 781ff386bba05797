package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

type countingKeys struct {
	calls int
	keys  map[string]auth.StoredKey
}

func (c *countingKeys) LookupAPIKey(_ context.Context, id string) (auth.StoredKey, error) {
	c.calls++
	k, ok := c.keys[id]
	if !ok {
		return auth.StoredKey{}, errs.E(errs.CodeNotFound, "no key")
	}
	return k, nil
}

// TestKeyCache serves repeated lookups from memory for the TTL, then asks
// again (so a revocation shows within the TTL); unknown keys always ask.
func TestKeyCache(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	inner := &countingKeys{keys: map[string]auth.StoredKey{"k1": {ID: "k1", OrgID: "o1"}}}
	c := auth.NewKeyCache(inner, 5*time.Second, func() time.Time { return now })
	ctx := context.Background()
	for range 3 {
		if k, err := c.LookupAPIKey(ctx, "k1"); err != nil || k.OrgID != "o1" {
			t.Fatalf("lookup = %+v, %v", k, err)
		}
	}
	if inner.calls != 1 {
		t.Fatalf("%d inner lookups for 3 within the TTL, want 1", inner.calls)
	}
	revoked := now
	inner.keys["k1"] = auth.StoredKey{ID: "k1", OrgID: "o1", RevokedAt: &revoked}
	now = now.Add(5 * time.Second)
	k, err := c.LookupAPIKey(ctx, "k1")
	if err != nil || k.RevokedAt == nil {
		t.Fatalf("after the TTL the revocation must show: %+v, %v", k, err)
	}
	for range 2 {
		if _, err := c.LookupAPIKey(ctx, "nope"); errs.CodeOf(err) != errs.CodeNotFound {
			t.Fatalf("unknown key = %v", err)
		}
	}
	if inner.calls != 4 {
		t.Fatalf("%d inner lookups, want 4 (unknown keys are not cached)", inner.calls)
	}
	if got := auth.NewKeyCache(inner, 0, nil); got != auth.KeyLookup(inner) {
		t.Fatalf("a zero TTL must disable the cache")
	}
}
