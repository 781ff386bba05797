package auth

import (
	"context"
	"sync"
	"time"
)

// maxCachedKeys bounds a KeyCache; when full it starts over, which costs
// one lookup per key and keeps memory flat whatever clients send.
const maxCachedKeys = 10_000

// KeyCache remembers API keys found by another KeyLookup for a short time,
// so a busy integration does not cost a database query per request. A key
// revoked or expired meanwhile is refused at the latest TTL later (expiry
// is checked on every request against the cached ExpiresAt, so only
// revocation waits), or at once after ForgetAPIKey for it (which the
// process that revoked it calls). Keys not found are never cached.
type KeyCache struct {
	inner KeyLookup
	ttl   time.Duration
	now   func() time.Time

	mu      sync.Mutex
	entries map[string]cachedKey
	// forgets counts ForgetAPIKey calls: a lookup that saw another count
	// when it started may have read a key from before the change that
	// made it forgotten, and does not remember it.
	forgets uint64
}

type cachedKey struct {
	key     StoredKey
	expires time.Time
}

// NewKeyCache caches inner's answers for ttl (a ttl of 0 or less disables
// the cache and returns inner itself).
func NewKeyCache(inner KeyLookup, ttl time.Duration, now func() time.Time) KeyLookup {
	if ttl <= 0 {
		return inner
	}
	if now == nil {
		now = time.Now
	}
	return &KeyCache{inner: inner, ttl: ttl, now: now, entries: map[string]cachedKey{}}
}

// LookupAPIKey answers from the cache while the entry is fresh, and from
// the inner lookup otherwise.
func (c *KeyCache) LookupAPIKey(ctx context.Context, keyID string) (StoredKey, error) {
	t := c.now()
	c.mu.Lock()
	e, ok := c.entries[keyID]
	forgets := c.forgets
	c.mu.Unlock()
	if ok && t.Before(e.expires) {
		return e.key, nil
	}
	k, err := c.inner.LookupAPIKey(ctx, keyID)
	if err != nil {
		return k, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgets != forgets {
		return k, nil // answered, not remembered: it may be from before the change
	}
	if len(c.entries) >= maxCachedKeys {
		clear(c.entries)
	}
	c.entries[keyID] = cachedKey{key: k, expires: t.Add(c.ttl)}
	return k, nil
}

// ForgetAPIKey drops keyID from the cache: its next use is looked up
// again. Call it once a change to the key (a revocation) is committed.
func (c *KeyCache) ForgetAPIKey(keyID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, keyID)
	c.forgets++
}

// RecordAPIKeyUse passes the use of a key on to the inner lookup when it
// keeps last use (KeyUseRecorder); the cache itself keeps nothing.
func (c *KeyCache) RecordAPIKeyUse(ctx context.Context, keyID string, at time.Time) error {
	if rec, ok := c.inner.(KeyUseRecorder); ok {
		return rec.RecordAPIKeyUse(ctx, keyID, at)
	}
	return nil
}
