package ratelimit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// DefaultMaxKeys is the number of live keys a Memory limiter holds at most.
// Each key costs well under 200 bytes, so the default bounds the map at
// roughly 200 MB even under a flood of distinct keys.
const DefaultMaxKeys = 1 << 20

// minPruneSize is the map size below which expired entries are not swept.
const minPruneSize = 1024

// ErrTooManyKeys is returned by Memory.Hit when the limiter already holds
// its maximum number of live keys. The event is not recorded: like the Redis
// limiter on failure, Memory then fails open and tells the caller why.
var ErrTooManyKeys = errors.New("ratelimit: too many keys in the in-memory limiter")

// Memory is a Limiter for a single process. It keeps one counter per key in
// a map guarded by a mutex. Expired counters are swept whenever the map has
// doubled since the last sweep, so memory stays proportional to the keys
// active in the last window (amortised O(1) per Hit), and never exceeds
// MaxKeys entries.
type Memory struct {
	now     func() time.Time
	maxKeys int

	mu       sync.Mutex
	counters map[string]counter
	pruneAt  int // sweep expired counters when the map reaches this size
}

type counter struct {
	count   int
	resetAt time.Time // the counter is void from this instant on
}

// NewMemory returns an in-process limiter that reads the time from now
// (time.Now when nil) and holds at most DefaultMaxKeys keys.
func NewMemory(now func() time.Time) *Memory {
	return NewMemoryWithMaxKeys(now, DefaultMaxKeys)
}

// NewMemoryWithMaxKeys is NewMemory with a different bound on the number of
// live keys. A maxKeys below one means DefaultMaxKeys.
func NewMemoryWithMaxKeys(now func() time.Time, maxKeys int) *Memory {
	if now == nil {
		now = time.Now
	}
	if maxKeys < 1 {
		maxKeys = DefaultMaxKeys
	}
	return &Memory{
		now:      now,
		maxKeys:  maxKeys,
		counters: make(map[string]counter),
		pruneAt:  minPruneSize,
	}
}

// Hit records one event for key. See Limiter.
func (m *Memory) Hit(_ context.Context, key string, window time.Duration) (int, error) {
	if window < time.Millisecond {
		return 0, ErrInvalidWindow
	}
	m.mu.Lock()
	defer m.mu.Unlock()

	t := m.now()
	c, ok := m.counters[key]
	if ok && !t.Before(c.resetAt) {
		ok = false
		c = counter{}
	}
	if !ok {
		if len(m.counters) >= m.pruneAt || len(m.counters) >= m.maxKeys {
			m.prune(t)
		}
		if _, present := m.counters[key]; !present && len(m.counters) >= m.maxKeys {
			return 0, ErrTooManyKeys
		}
		c = counter{resetAt: t.Add(window)}
	}
	c.count++
	m.counters[key] = c
	return c.count, nil
}

// Exceeded reports whether key has limit or more events in its current
// window. See Limiter.
func (m *Memory) Exceeded(_ context.Context, key string, limit int) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()

	c, ok := m.counters[key]
	if !ok {
		return false, nil
	}
	if !m.now().Before(c.resetAt) {
		delete(m.counters, key)
		return false, nil
	}
	return c.count >= limit, nil
}

// Len returns the number of keys currently held, expired or not. It exists
// so tests and metrics can observe that memory stays bounded.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.counters)
}

// prune deletes every counter that has expired at t and schedules the next
// sweep for when the map has doubled. The caller holds m.mu.
func (m *Memory) prune(t time.Time) {
	for k, c := range m.counters {
		if !t.Before(c.resetAt) {
			delete(m.counters, k)
		}
	}
	m.pruneAt = max(2*len(m.counters), minPruneSize)
}
