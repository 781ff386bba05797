package notify

import (
	"math"
	"sync"
	"time"
)

// bucket is a token bucket: it holds up to burst tokens, refills at rate
// tokens per second, and every send takes one. A send that finds the
// bucket empty reserves a future token and waits for it, so concurrent
// senders are spread evenly over time instead of all retrying at once.
// Time comes from the caller, so tests drive it with a fake clock.
type bucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second, > 0
	burst  float64 // capacity, >= 1
	tokens float64 // may go negative: reservations not yet due
	last   time.Time
}

// newBucket returns a full bucket. A burst below 1 is taken as 1.
func newBucket(rate float64, burst int, now time.Time) *bucket {
	b := float64(burst)
	if b < 1 {
		b = 1
	}
	return &bucket{rate: rate, burst: b, tokens: b, last: now}
}

// refill adds the tokens earned since the last call. A clock that went
// backwards earns nothing.
func (b *bucket) refill(now time.Time) {
	if now.After(b.last) {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
}

// reserve takes a token at now. It returns how long the caller must wait
// before using it, and true; or, when that wait would exceed maxWait, false
// without taking anything.
func (b *bucket) reserve(now time.Time, maxWait time.Duration) (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	wait := time.Duration(math.Ceil((1 - b.tokens) / b.rate * float64(time.Second)))
	if wait > maxWait {
		return 0, false
	}
	b.tokens--
	return wait, true
}

// cancel gives back a token taken by reserve and not used.
func (b *bucket) cancel(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	b.tokens = math.Min(b.burst, b.tokens+1)
}
