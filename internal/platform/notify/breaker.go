package notify

import (
	"sync"
	"time"
)

// Circuit breaker states, as BreakerState reports them.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half_open"
)

// BreakerConfig configures the circuit breaker in front of one provider.
type BreakerConfig struct {
	// Failures is the number of consecutive retryable failures that open
	// the breaker. Zero means 5.
	Failures int
	// Cooldown is how long an open breaker turns traffic away before it
	// lets one probe through. Zero means 10s.
	Cooldown time.Duration
}

// Breaker defaults.
const (
	defaultBreakerFailures = 5
	defaultBreakerCooldown = 10 * time.Second
)

// breakerState is the state machine's state.
type breakerState int

const (
	stateClosed breakerState = iota
	stateOpen
	stateHalfOpen
)

// result is what a call through the breaker came to.
type result int

const (
	// resultSuccess: the provider answered (accepted, or rejected the
	// message for its own reasons): the service is up.
	resultSuccess result = iota
	// resultFailure: a retryable failure (timeout, 5xx, network).
	resultFailure
	// resultNeutral: the call says nothing about the provider (it was not
	// made, or the caller gave up).
	resultNeutral
)

// breaker is a consecutive-failure circuit breaker. Closed, it lets every
// call through and counts consecutive failures; at the threshold it opens
// and turns calls away. After the cooldown the next call is let through as
// a probe (half-open) while others are still turned away: the probe's
// success closes the breaker, its failure re-opens it for another cooldown.
//
// Every state change starts a new generation; a call reports its result
// with the generation it was admitted in, and results from an older
// generation (calls that started before the breaker changed state) are
// ignored, so a slow call cannot undo a newer decision.
type breaker struct {
	mu        sync.Mutex
	threshold int
	cooldown  time.Duration
	state     breakerState
	failures  int
	openedAt  time.Time
	probing   bool
	gen       uint64
	// heldUntil turns every call away until then, whatever the state:
	// the provider asked for a pause (Retry-After, see hold).
	heldUntil time.Time
}

func newBreaker(cfg BreakerConfig) *breaker {
	b := &breaker{threshold: cfg.Failures, cooldown: cfg.Cooldown}
	if b.threshold <= 0 {
		b.threshold = defaultBreakerFailures
	}
	if b.cooldown <= 0 {
		b.cooldown = defaultBreakerCooldown
	}
	return b
}

// allow reports whether a call may go through at now, and the generation
// to report its result with.
func (b *breaker) allow(now time.Time) (uint64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Before(b.heldUntil) {
		return 0, false
	}
	switch b.state {
	case stateOpen:
		if now.Sub(b.openedAt) < b.cooldown {
			return 0, false
		}
		b.setState(stateHalfOpen)
		b.probing = true
		return b.gen, true
	case stateHalfOpen:
		if b.probing {
			return 0, false
		}
		b.probing = true
		return b.gen, true
	default:
		return b.gen, true
	}
}

// done records the result of a call admitted in generation gen.
func (b *breaker) done(gen uint64, r result, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if gen != b.gen {
		return
	}
	switch b.state {
	case stateClosed:
		switch r {
		case resultSuccess:
			b.failures = 0
		case resultFailure:
			b.failures++
			if b.failures >= b.threshold {
				b.setState(stateOpen)
				b.openedAt = now
			}
		}
	case stateHalfOpen:
		switch r {
		case resultSuccess:
			b.setState(stateClosed)
		case resultFailure:
			b.setState(stateOpen)
			b.openedAt = now
		default:
			// The probe was not made: let the next call probe.
			b.probing = false
		}
	}
}

// hold turns every call away until until (a provider's Retry-After), the
// later of it and any hold already set. It does not change the state: a
// call after the hold is counted as any other.
func (b *breaker) hold(until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if until.After(b.heldUntil) {
		b.heldUntil = until
	}
}

// setState moves to s and starts a new generation. Callers hold mu.
func (b *breaker) setState(s breakerState) {
	b.state = s
	b.failures = 0
	b.probing = false
	b.gen++
}

// stateAt names the state at now. An open breaker whose cooldown has
// passed reports half_open: the next call will probe.
func (b *breaker) stateAt(now time.Time) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Before(b.heldUntil) {
		return BreakerOpen
	}
	switch b.state {
	case stateOpen:
		if now.Sub(b.openedAt) >= b.cooldown {
			return BreakerHalfOpen
		}
		return BreakerOpen
	case stateHalfOpen:
		return BreakerHalfOpen
	default:
		return BreakerClosed
	}
}
