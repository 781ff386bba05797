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

// forgetDuring is a lookup during which the key is forgotten (revoked and
// forgotten while the lookup read the key as it was before).
type forgetDuring struct {
	countingKeys
	cache auth.KeyLookup
}

func (f *forgetDuring) LookupAPIKey(ctx context.Context, id string) (auth.StoredKey, error) {
	k, err := f.countingKeys.LookupAPIKey(ctx, id)
	if f.calls == 1 {
		f.cache.(auth.KeyForgetter).ForgetAPIKey(id)
	}
	return k, err
}

// TestKeyCacheForget: a key forgotten (ForgetAPIKey, after its revocation)
// is looked up again at its next use, within the TTL; and a lookup that
// was under way when the key was forgotten answers but is not remembered,
// since what it read may predate the revocation.
func TestKeyCacheForget(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ctx := context.Background()
	inner := &countingKeys{keys: map[string]auth.StoredKey{"k1": {ID: "k1"}, "k2": {ID: "k2"}}}
	c := auth.NewKeyCache(inner, time.Hour, clock)
	for _, id := range []string{"k1", "k1", "k2"} {
		if _, err := c.LookupAPIKey(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	revoked := now
	inner.keys["k1"] = auth.StoredKey{ID: "k1", RevokedAt: &revoked}
	c.(auth.KeyForgetter).ForgetAPIKey("k1")
	if k, err := c.LookupAPIKey(ctx, "k1"); err != nil || k.RevokedAt == nil {
		t.Fatalf("k1 after ForgetAPIKey = %+v, %v; want it looked up again, revoked", k, err)
	}
	if _, err := c.LookupAPIKey(ctx, "k2"); err != nil || inner.calls != 3 {
		t.Fatalf("%d inner lookups (%v), want 3: k2 is still remembered", inner.calls, err)
	}

	racing := &forgetDuring{countingKeys: countingKeys{keys: map[string]auth.StoredKey{"k1": {ID: "k1"}}}}
	racing.cache = auth.NewKeyCache(racing, time.Hour, clock)
	for range 2 {
		if _, err := racing.cache.LookupAPIKey(ctx, "k1"); err != nil {
			t.Fatal(err)
		}
	}
	if racing.calls != 2 {
		t.Fatalf("%d inner lookups, want 2: the lookup the key was forgotten during must not be remembered", racing.calls)
	}
}
