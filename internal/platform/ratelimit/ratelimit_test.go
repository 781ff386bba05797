package ratelimit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/medplatform/medplatform/internal/platform/ratelimit"
	"github.com/medplatform/medplatform/internal/platform/ratelimit/ratelimittest"
	"github.com/medplatform/medplatform/internal/platform/redistest"
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

// impl builds a fresh limiter for one test. keyPrefix makes keys unique to
// the test (the real Redis is shared); advance moves the limiter's clock
// forward and is nil when time cannot be controlled.
type impl struct {
	name string
	new  func(t *testing.T) (l ratelimit.Limiter, keyPrefix string, advance func(time.Duration))
}

func implementations() []impl {
	return []impl{
		{"memory", func(t *testing.T) (ratelimit.Limiter, string, func(time.Duration)) {
			c := newClock()
			return ratelimit.NewMemory(c.Now), "", c.Advance
		}},
		{"redis", func(t *testing.T) (ratelimit.Limiter, string, func(time.Duration)) {
			client := redistest.Client(t)
			return ratelimit.NewRedis(client), uniquePrefix(t, client), nil
		}},
		{"miniredis", func(t *testing.T) (ratelimit.Limiter, string, func(time.Duration)) {
			m := miniredis.RunT(t)
			client := redis.NewClient(&redis.Options{Addr: m.Addr()})
			t.Cleanup(func() { client.Close() })
			return ratelimit.NewRedis(client), "", m.FastForward
		}},
	}
}

// uniquePrefix returns a key prefix no other test uses and deletes every
// key under it when the test ends.
func uniquePrefix(t *testing.T, client *redis.Client) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	prefix := "test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, ratelimit.RedisKeyPrefix+prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("clean up Redis keys: %v", err)
		}
	})
	return prefix
}

// step is one operation on a limiter and its expected outcome.
type step struct {
	op        string // "hit", "exceeded" or "advance"
	key       string
	window    time.Duration // hit
	limit     int           // exceeded
	d         time.Duration // advance
	wantCount int           // hit
	wantOver  bool          // exceeded
	wantErr   error
}

func hit(key string, window time.Duration, want int) step {
	return step{op: "hit", key: key, window: window, wantCount: want}
}

func exceeded(key string, limit int, want bool) step {
	return step{op: "exceeded", key: key, limit: limit, wantOver: want}
}

func advance(d time.Duration) step { return step{op: "advance", d: d} }

func TestLimiter(t *testing.T) {
	const w = time.Minute
	tests := []struct {
		name      string
		needsTime bool
		steps     []step
	}{
		{
			name:  "unknown key is not exceeded",
			steps: []step{exceeded("a", 1, false)},
		},
		{
			name: "hits count up to the limit",
			steps: []step{
				hit("a", w, 1), exceeded("a", 3, false),
				hit("a", w, 2), exceeded("a", 3, false),
				hit("a", w, 3), exceeded("a", 3, true), exceeded("a", 4, false),
				hit("a", w, 4), exceeded("a", 3, true),
			},
		},
		{
			name: "keys are independent",
			steps: []step{
				hit("a", w, 1), hit("a", w, 2),
				exceeded("a", 2, true), exceeded("b", 2, false),
				hit("b", w, 1),
			},
		},
		{
			name: "zero window is rejected",
			steps: []step{
				{op: "hit", key: "a", window: 0, wantErr: ratelimit.ErrInvalidWindow},
				exceeded("a", 1, false),
			},
		},
		{
			name:      "counter resets when the window passes",
			needsTime: true,
			steps: []step{
				hit("a", w, 1), hit("a", w, 2), exceeded("a", 2, true),
				advance(w - time.Second), exceeded("a", 2, true),
				advance(time.Second), exceeded("a", 2, false),
				hit("a", w, 1),
			},
		},
		{
			name:      "later hits do not extend the window",
			needsTime: true,
			steps: []step{
				hit("a", w, 1),
				advance(w / 2), hit("a", w, 2),
				advance(w / 2), exceeded("a", 1, false),
				hit("a", w, 1),
			},
		},
	}
	for _, im := range implementations() {
		t.Run(im.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					l, prefix, adv := im.new(t)
					if tt.needsTime && adv == nil {
						t.Skip("time cannot be advanced for this implementation; see TestRedisSetsExpiry")
					}
					ctx := t.Context()
					for i, s := range tt.steps {
						switch s.op {
						case "hit":
							n, err := l.Hit(ctx, prefix+s.key, s.window)
							if !errors.Is(err, s.wantErr) {
								t.Fatalf("step %d: Hit(%q) error = %v, want %v", i, s.key, err, s.wantErr)
							}
							if err == nil && n != s.wantCount {
								t.Fatalf("step %d: Hit(%q) = %d, want %d", i, s.key, n, s.wantCount)
							}
						case "exceeded":
							over, err := l.Exceeded(ctx, prefix+s.key, s.limit)
							if err != nil {
								t.Fatalf("step %d: Exceeded(%q): %v", i, s.key, err)
							}
							if over != s.wantOver {
								t.Fatalf("step %d: Exceeded(%q, %d) = %v, want %v", i, s.key, s.limit, over, s.wantOver)
							}
						case "advance":
							adv(s.d)
						default:
							t.Fatalf("step %d: unknown op %q", i, s.op)
						}
					}
				})
			}
		})
	}
}

func TestLimiterConcurrentHitsAreCountedExactly(t *testing.T) {
	const workers, each = 8, 25
	for _, im := range implementations() {
		t.Run(im.name, func(t *testing.T) {
			l, prefix, _ := im.new(t)
			ctx := t.Context()
			var wg sync.WaitGroup
			errc := make(chan error, workers)
			for range workers {
				wg.Go(func() {
					for range each {
						if _, err := l.Hit(ctx, prefix+"shared", time.Minute); err != nil {
							errc <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatalf("Hit: %v", err)
			}
			n, err := l.Hit(ctx, prefix+"shared", time.Minute)
			if err != nil {
				t.Fatalf("Hit: %v", err)
			}
			if want := workers*each + 1; n != want {
				t.Errorf("count = %d, want %d", n, want)
			}
		})
	}
}

// TestRedisSetsExpiry checks on the real Redis, where time cannot be
// advanced, that a counter carries the window as its time to live and that
// later hits do not extend it.
func TestRedisSetsExpiry(t *testing.T) {
	client := redistest.Client(t)
	prefix := uniquePrefix(t, client)
	l := ratelimit.NewRedis(client)
	ctx := t.Context()
	key := ratelimit.RedisKeyPrefix + prefix + "a"

	if _, err := l.Hit(ctx, prefix+"a", time.Minute); err != nil {
		t.Fatalf("Hit: %v", err)
	}
	first, err := client.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatalf("PTTL: %v", err)
	}
	if first <= 0 || first > time.Minute {
		t.Fatalf("PTTL after first hit = %v, want in (0, 1m]", first)
	}
	// A key that lost its expiry (written by hand here) gets one back.
	if err := client.Persist(ctx, key).Err(); err != nil {
		t.Fatalf("PERSIST: %v", err)
	}
	if _, err := l.Hit(ctx, prefix+"a", time.Hour); err != nil {
		t.Fatalf("Hit: %v", err)
	}
	restored, err := client.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatalf("PTTL: %v", err)
	}
	if restored <= time.Minute || restored > time.Hour {
		t.Errorf("PTTL after a hit on a persistent counter = %v, want in (1m, 1h]", restored)
	}
	if _, err := l.Hit(ctx, prefix+"a", 24*time.Hour); err != nil {
		t.Fatalf("Hit: %v", err)
	}
	later, err := client.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatalf("PTTL: %v", err)
	}
	if later > restored {
		t.Errorf("PTTL grew from %v to %v: a later hit extended the window", restored, later)
	}
}

// TestRedisFailsOpen uses miniredis because a closed server is the one
// failure a shared real Redis cannot be made to produce safely.
func TestRedisFailsOpen(t *testing.T) {
	m := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { client.Close() })
	l := ratelimit.NewRedis(client)
	ctx := t.Context()
	for range 3 {
		if _, err := l.Hit(ctx, "a", time.Minute); err != nil {
			t.Fatalf("Hit: %v", err)
		}
	}
	m.Close()

	n, err := l.Hit(ctx, "a", time.Minute)
	if err == nil || n != 0 {
		t.Errorf("Hit on a closed server = (%d, %v), want (0, error)", n, err)
	}
	over, err := l.Exceeded(ctx, "a", 1)
	if err == nil || over {
		t.Errorf("Exceeded on a closed server = (%v, %v), want (false, error)", over, err)
	}
}

// TestRedisUnansweredFailsOpenQuickly checks that a Redis that accepts
// connections but never answers (a node failing over, a stalled proxy)
// costs each call at most the limiter's Timeout: with go-redis's own read
// timeout and retries every call waited seconds, and so did every
// authenticated request.
func TestRedisUnansweredFailsOpenQuickly(t *testing.T) {
	addr := ratelimittest.SilentRedis(t)
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	l := ratelimit.NewRedis(client)
	ctx := t.Context()

	start := time.Now()
	if n, err := l.Hit(ctx, "a", time.Minute); err == nil || n != 0 {
		t.Errorf("Hit on an unanswering server = (%d, %v), want (0, error)", n, err)
	}
	if over, err := l.Exceeded(ctx, "a", 1); err == nil || over {
		t.Errorf("Exceeded on an unanswering server = (%v, %v), want (false, error)", over, err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Hit and Exceeded on an unanswering server took %v, want both failed open within 1s", took)
	}
}

// TestRedisPausesAfterAFailure: after a failure the limiter leaves Redis
// alone for its Pause, failing open at once with ErrPaused, then asks it
// again, and counts again once Redis is back. Without the pause every
// authenticated request waited the limiter's Timeout while Redis was down,
// and logged a warning of its own (QA).
func TestRedisPausesAfterAFailure(t *testing.T) {
	m := miniredis.RunT(t)
	addr := m.Addr()
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { client.Close() })
	l := ratelimit.NewRedis(client)
	l.Pause = 300 * time.Millisecond
	ctx := t.Context()
	m.Close()

	if _, err := l.Hit(ctx, "a", time.Minute); err == nil || errors.Is(err, ratelimit.ErrPaused) {
		t.Fatalf("Hit on a closed server: %v, want the server's error", err)
	}
	if _, err := l.Hit(ctx, "a", time.Minute); !errors.Is(err, ratelimit.ErrPaused) {
		t.Errorf("Hit right after a failure: %v, want ErrPaused", err)
	}
	if over, err := l.Exceeded(ctx, "a", 1); over || !errors.Is(err, ratelimit.ErrPaused) {
		t.Errorf("Exceeded right after a failure = (%v, %v), want (false, ErrPaused)", over, err)
	}
	// Redis is back; the pause ends.
	if err := m.StartAddr(addr); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if n, err := l.Hit(ctx, "a", time.Minute); err != nil || n != 1 {
		t.Errorf("Hit after the pause, Redis back = (%d, %v), want (1, nil)", n, err)
	}
}

// TestRedisProbesOnceAfterAPause: when a pause ends with Redis still
// down, one call asks it again while the calls made meanwhile fail open
// at once with ErrPaused. Every concurrent request asked, waited its
// Timeout and logged its own warning, eight a window at eight clients (QA).
func TestRedisProbesOnceAfterAPause(t *testing.T) {
	addr := ratelimittest.SilentRedis(t)
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	l := ratelimit.NewRedis(client)
	l.Timeout, l.Pause = 200*time.Millisecond, 100*time.Millisecond
	ctx := t.Context()
	if _, err := l.Hit(ctx, "a", time.Minute); err == nil || errors.Is(err, ratelimit.ErrPaused) {
		t.Fatalf("Hit on an unanswering server: %v, want its error", err)
	}
	time.Sleep(150 * time.Millisecond) // the pause is over
	const callers = 40
	var asked atomic.Int32
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if i%2 == 0 {
				_, err = l.Hit(ctx, "a", time.Minute)
			} else {
				_, err = l.Exceeded(ctx, "a", 1)
			}
			if err == nil {
				t.Error("a call on an unanswering server succeeded")
			} else if !errors.Is(err, ratelimit.ErrPaused) {
				asked.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := asked.Load(); n != 1 {
		t.Errorf("%d of %d concurrent calls asked Redis after the pause, want 1", n, callers)
	}
}

func TestMemoryStaysBounded(t *testing.T) {
	c := newClock()
	l := ratelimit.NewMemory(c.Now)
	ctx := t.Context()
	for round := range 5 {
		for i := range 3000 {
			if _, err := l.Hit(ctx, fmt.Sprintf("r%d-k%d", round, i), time.Minute); err != nil {
				t.Fatalf("Hit: %v", err)
			}
		}
		c.Advance(time.Minute)
	}
	// Only the last round's keys are live; earlier rounds must have been
	// swept rather than accumulating to 15000.
	if n := l.Len(); n > 2*3000+1024 {
		t.Errorf("Len = %d after 5 rounds of 3000 short-lived keys, want at most %d", n, 2*3000+1024)
	}
}

func TestMemoryMaxKeys(t *testing.T) {
	c := newClock()
	l := ratelimit.NewMemoryWithMaxKeys(c.Now, 2)
	ctx := t.Context()
	for _, k := range []string{"a", "b"} {
		if _, err := l.Hit(ctx, k, time.Minute); err != nil {
			t.Fatalf("Hit(%q): %v", k, err)
		}
	}
	if _, err := l.Hit(ctx, "c", time.Minute); !errors.Is(err, ratelimit.ErrTooManyKeys) {
		t.Fatalf("Hit on a full limiter: error = %v, want ErrTooManyKeys", err)
	}
	if n, err := l.Hit(ctx, "a", time.Minute); err != nil || n != 2 {
		t.Fatalf("Hit on an existing key of a full limiter = (%d, %v), want (2, nil)", n, err)
	}
	c.Advance(time.Minute)
	if n, err := l.Hit(ctx, "c", time.Minute); err != nil || n != 1 {
		t.Fatalf("Hit after the window passed = (%d, %v), want (1, nil)", n, err)
	}
}

// TestRedisCallerGoneIsNoFailure: a call whose own context has ended (a
// request its client abandoned) fails, but is no sign of Redis failing:
// it paused the limiter, and every client was let through unlimited for
// the pause (QA, security).
func TestRedisCallerGoneIsNoFailure(t *testing.T) {
	client := redistest.Client(t)
	prefix := uniquePrefix(t, client)
	l := ratelimit.NewRedis(client)
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.Hit(gone, prefix+"a", time.Minute); err == nil {
		t.Fatal("Hit on an ended context succeeded")
	}
	if _, err := l.Exceeded(gone, prefix+"a", 1); err == nil {
		t.Fatal("Exceeded on an ended context succeeded")
	}
	if n, err := l.Hit(t.Context(), prefix+"a", time.Minute); err != nil || n != 1 {
		t.Errorf("Hit after a caller gone = %d, %v; want counted by Redis, not paused", n, err)
	}
}
