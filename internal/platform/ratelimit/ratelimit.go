// Package ratelimit counts events per key in fixed time windows, so callers
// can refuse work once a key has produced too many of them (for example
// failed sign-ins per client address).
//
// Two implementations share the Limiter interface: Memory, for the embedded
// single-process shape, and Redis, for several API processes behind a load
// balancer that must share one count.
//
// # Window semantics
//
// Both implementations use a fixed window that starts at the first Hit of a
// key: the first Hit creates a counter that expires window later, further
// Hits increment it without extending it, and once it expires the next Hit
// starts a fresh window. A key therefore records at most limit events in any
// one window, and a blocked key is released at the latest window after the
// first event that blocked it. A client that times its attempts can get up to
// 2×limit events into a short span straddling two windows; that is accepted
// in exchange for one counter per key (no per-event timestamps to store).
//
// Concurrent callers may briefly overshoot a limit, because checking
// (Exceeded) and counting (Hit) are separate calls. The count itself is exact.
package ratelimit

import (
	"context"
	"errors"
	"time"
)

// Limiter counts events per key in fixed windows. Keys are opaque to the
// limiter; callers namespace them (for example "authfail:" + address).
type Limiter interface {
	// Hit records one event for key and returns the number of events
	// recorded in the key's current window, including this one. If the key
	// has no current window, one of length window starts now.
	Hit(ctx context.Context, key string, window time.Duration) (count int, err error)

	// Exceeded reports whether key has recorded limit or more events in its
	// current window, that is whether a further event should be refused.
	Exceeded(ctx context.Context, key string, limit int) (bool, error)
}

// ErrInvalidWindow is returned by Hit when the window is shorter than one
// millisecond (the resolution of both implementations).
var ErrInvalidWindow = errors.New("ratelimit: window must be at least one millisecond")
