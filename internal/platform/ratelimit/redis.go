package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisKeyPrefix prefixes every key the Redis limiter writes.
const RedisKeyPrefix = "rl:"

// hitLua increments the counter and, when it has just been created (or
// somehow lost its expiry), sets the window as its time to live. Running
// both commands in one script makes them atomic: a counter can never be
// left without an expiry, which would block its key for good.
const hitLua = `
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`

// Redis is a Limiter whose counters live in Redis, so every process behind
// the load balancer shares them. A counter is the integer at
// RedisKeyPrefix+key, with a time to live of one window.
//
// Redis failures fail open: Hit reports a count of zero and Exceeded
// reports false, together with the error. Rate limiting protects against
// abuse; refusing every request while Redis is unreachable would turn a cache
// outage into a full outage. Callers should log the error (and may alert on
// it), then carry on.
//
// Failing open must also be quick: each call waits at most Timeout. A Redis
// that accepts connections but does not answer (a node failing over, a
// stalled proxy) otherwise held every authenticated request for go-redis's
// read timeout and retries, 5 s, and a failed one for 10 s.
//
// After a failure the limiter does not ask Redis again for Pause: calls
// fail open at once with ErrPaused. While Redis was down, every
// authenticated request waited for its Timeout (250 ms more each, QA) and
// logged a warning of its own.
type Redis struct {
	client redis.UniversalClient
	hit    *redis.Script
	// Timeout bounds each call (NewRedis sets DefaultRedisTimeout). The
	// client must be built with ContextTimeoutEnabled: go-redis ignores
	// context deadlines otherwise.
	Timeout time.Duration
	// Pause is how long after a failure calls fail open without asking
	// Redis (NewRedis sets DefaultRedisPause; 0 asks every time).
	Pause time.Duration
	// pausedUntil is when Redis is asked again, in Unix nanoseconds.
	pausedUntil atomic.Int64
}

// ErrPaused is the error of a call made within Pause of a failure: Redis
// was not asked, and the call failed open. The failure itself was
// returned, and can be logged, once.
var ErrPaused = errors.New("ratelimit: redis failed moments ago; not asked again yet (failing open)")

// DefaultRedisPause is how long NewRedis's limiter leaves Redis alone
// after a failure.
const DefaultRedisPause = 5 * time.Second

// DefaultRedisTimeout is how long a Redis limiter call waits before
// failing open: far above a counter round trip within a region, far below
// what a client notices.
const DefaultRedisTimeout = 250 * time.Millisecond

// NewRedis returns a limiter backed by client. A *redis.Client, a
// *redis.ClusterClient or a failover client all satisfy
// redis.UniversalClient; build it with ContextTimeoutEnabled so that
// Timeout applies.
func NewRedis(client redis.UniversalClient) *Redis {
	return &Redis{client: client, hit: redis.NewScript(hitLua), Timeout: DefaultRedisTimeout, Pause: DefaultRedisPause}
}

// paused reports whether this call must leave Redis alone: within Pause
// of a failure, and once it has passed, while one call (the first to see
// it pass) asks Redis again. Otherwise every request in flight when the
// pause ended asked, waited up to Timeout and logged a warning of its own
// (QA: eight a window at eight clients). pausedUntil is 0 while Redis
// answers.
func (r *Redis) paused() bool {
	until := r.pausedUntil.Load()
	if until == 0 {
		return false
	}
	now := time.Now().UnixNano()
	if now < until {
		return true
	}
	// Whoever moves the pause on asks; a failure then starts a new pause
	// and an answer ends it (answered).
	return !r.pausedUntil.CompareAndSwap(until, now+int64(r.Pause))
}

// failed starts a pause after a failure, unless the caller's own context
// (ctx) ended: a request its client abandoned is no sign of Redis failing,
// and pausing for it let every client through unlimited (QA).
func (r *Redis) failed(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	if r.Pause > 0 {
		r.pausedUntil.Store(time.Now().Add(r.Pause).UnixNano())
	}
}

// answered ends a pause once Redis answers again.
func (r *Redis) answered() {
	if r.pausedUntil.Load() != 0 {
		r.pausedUntil.Store(0)
	}
}

// bound returns ctx limited to r.Timeout.
func (r *Redis) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.Timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, r.Timeout)
}

// Hit records one event for key. See Limiter. On a Redis error it returns 0
// and the error (fail open).
func (r *Redis) Hit(ctx context.Context, key string, window time.Duration) (int, error) {
	if window < time.Millisecond {
		return 0, ErrInvalidWindow
	}
	if r.paused() {
		return 0, ErrPaused
	}
	bctx, cancel := r.bound(ctx)
	defer cancel()
	n, err := r.hit.Run(bctx, r.client, []string{RedisKeyPrefix + key}, window.Milliseconds()).Int()
	if err != nil {
		r.failed(ctx)
		return 0, fmt.Errorf("ratelimit: redis hit: %w", err)
	}
	r.answered()
	return n, nil
}

// Exceeded reports whether key has limit or more events in its current
// window. See Limiter. On a Redis error it returns false and the error
// (fail open).
func (r *Redis) Exceeded(ctx context.Context, key string, limit int) (bool, error) {
	if r.paused() {
		return false, ErrPaused
	}
	bctx, cancel := r.bound(ctx)
	defer cancel()
	s, err := r.client.Get(bctx, RedisKeyPrefix+key).Result()
	if errors.Is(err, redis.Nil) {
		r.answered()
		return false, nil
	}
	if err != nil {
		r.failed(ctx)
		return false, fmt.Errorf("ratelimit: redis exceeded: %w", err)
	}
	r.answered()
	n, err := strconv.Atoi(s)
	if err != nil {
		return false, fmt.Errorf("ratelimit: redis counter is not an integer: %w", err)
	}
	return n >= limit, nil
}
