package notify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Attempt outcomes, as Attempt.Outcome reports them.
const (
	OutcomeAccepted    = "accepted"             // the provider accepted the message
	OutcomeFailed      = "failed"               // a retryable failure: the next provider is tried
	OutcomeRejected    = "rejected"             // a permanent failure: no other provider is tried
	OutcomeExpired     = "expired"              // the message was past its ValidUntil: dropped
	OutcomeSkippedOpen = "skipped_open_circuit" // the provider's breaker is open: skipped
	OutcomeRateLimited = "rate_limited"         // the provider's rate limit would have made us wait too long: skipped
	OutcomeUnknown     = "unknown"              // the provider accepted the message but its answer could not be read: no other provider is tried
)

// AttemptOutcomes lists every Attempt.Outcome, for metrics that start
// each series at zero.
func AttemptOutcomes() []string {
	return []string{OutcomeAccepted, OutcomeFailed, OutcomeRejected, OutcomeExpired, OutcomeSkippedOpen, OutcomeRateLimited, OutcomeUnknown}
}

// Errors of the Router itself (each wrapped in an *Error).
var (
	// ErrNoRoute: the Router has no provider for the message's channel.
	ErrNoRoute = errors.New("no provider for this channel")
	// ErrCircuitOpen: the provider was skipped because its breaker is open.
	ErrCircuitOpen = errors.New("circuit breaker open")
	// ErrRateLimited: the provider was skipped because its rate limit
	// would have made the send wait longer than allowed.
	ErrRateLimited = errors.New("rate limit wait too long")
)

// routerName is the Provider name on errors the Router makes itself.
const routerName = "router"

// defaultAttemptTimeout bounds one provider call when
// RouterConfig.AttemptTimeout is zero.
const defaultAttemptTimeout = 10 * time.Second

// Route is one provider of a channel with its rate limit and breaker.
type Route struct {
	Provider Provider
	// RatePerSecond is the most sends per second handed to the provider;
	// 0 means unlimited.
	RatePerSecond float64
	// Burst is how many sends may go at once above the rate (the bucket
	// size); 0 means 1. Ignored when RatePerSecond is 0.
	Burst   int
	Breaker BreakerConfig
}

// Attempt describes one provider considered for one message, for metrics
// and logs. It carries no recipient and no body.
type Attempt struct {
	Channel  Channel
	Provider string
	// Outcome is one of the Outcome constants.
	Outcome  string
	Duration time.Duration
	Err      error
}

// RouterConfig configures a Router.
type RouterConfig struct {
	// Routes lists each channel's providers in fallback order.
	Routes map[Channel][]Route
	// Now is the clock for rate limits, breakers and validity; nil means
	// time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx is done, returning ctx's error then; the
	// Router calls it to wait for a rate-limit token. Nil means a real
	// timer. Tests inject one that advances their fake clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// Observe, when set, is called synchronously for every Attempt.
	Observe func(Attempt)
	// AttemptTimeout bounds each provider call, and the longest a send
	// waits for a provider's rate limit before moving on to the next
	// provider. Zero means 10s.
	AttemptTimeout time.Duration
}

// Router sends each message through the providers of its channel in order,
// with a token-bucket rate limit and a circuit breaker per provider. A
// retryable failure moves on to the next provider; a permanent one stops
// (another provider would refuse the message the same way). A Router is
// safe for concurrent use.
type Router struct {
	routes  map[Channel][]*route
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
	observe func(Attempt)
	timeout time.Duration
}

// route is a Route with its live limiter and breaker.
type route struct {
	provider Provider
	limiter  *bucket // nil: unlimited
	breaker  *breaker
}

// NewRouter checks cfg and returns a Router.
func NewRouter(cfg RouterConfig) (*Router, error) {
	r := &Router{
		routes:  make(map[Channel][]*route, len(cfg.Routes)),
		now:     cfg.Now,
		sleep:   cfg.Sleep,
		observe: cfg.Observe,
		timeout: cfg.AttemptTimeout,
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.sleep == nil {
		r.sleep = sleepCtx
	}
	if r.timeout < 0 {
		return nil, fmt.Errorf("notify: router: negative AttemptTimeout %s", cfg.AttemptTimeout)
	}
	if r.timeout == 0 {
		r.timeout = defaultAttemptTimeout
	}
	now := r.now()
	for ch, list := range cfg.Routes {
		if ch == "" {
			return nil, errors.New("notify: router: route for an empty channel")
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("notify: router: channel %s has no providers", ch)
		}
		seen := make(map[string]bool, len(list))
		for i, rt := range list {
			if rt.Provider == nil {
				return nil, fmt.Errorf("notify: router: channel %s route %d has no provider", ch, i)
			}
			name := rt.Provider.Name()
			if name == "" {
				return nil, fmt.Errorf("notify: router: channel %s route %d: provider has no name", ch, i)
			}
			if seen[name] {
				return nil, fmt.Errorf("notify: router: channel %s lists provider %s twice", ch, name)
			}
			seen[name] = true
			if got := rt.Provider.Channel(); got != ch {
				return nil, fmt.Errorf("notify: router: provider %s serves channel %s, not %s", name, got, ch)
			}
			if rt.RatePerSecond < 0 || rt.Burst < 0 {
				return nil, fmt.Errorf("notify: router: provider %s: negative rate or burst", name)
			}
			if rt.Breaker.Failures < 0 || rt.Breaker.Cooldown < 0 {
				return nil, fmt.Errorf("notify: router: provider %s: negative breaker setting", name)
			}
			lr := &route{provider: rt.Provider, breaker: newBreaker(rt.Breaker)}
			if rt.RatePerSecond > 0 {
				lr.limiter = newBucket(rt.RatePerSecond, rt.Burst, now)
			}
			r.routes[ch] = append(r.routes[ch], lr)
		}
	}
	return r, nil
}

// Channels returns the channels the Router has providers for, sorted.
func (r *Router) Channels() []Channel {
	chs := make([]Channel, 0, len(r.routes))
	for ch := range r.routes {
		chs = append(chs, ch)
	}
	sort.Slice(chs, func(i, j int) bool { return chs[i] < chs[j] })
	return chs
}

// Has reports whether the Router has a provider for ch.
func (r *Router) Has(ch Channel) bool {
	return len(r.routes[ch]) > 0
}

// BreakerState returns the state of the named provider's circuit breaker:
// "closed", "open" or "half_open" (an open breaker whose cooldown has
// passed counts as half_open). When the provider serves several channels
// it returns the least healthy of its breakers; for an unknown provider,
// "".
func (r *Router) BreakerState(provider string) string {
	now := r.now()
	state := ""
	for _, list := range r.routes {
		for _, rt := range list {
			if rt.provider.Name() != provider {
				continue
			}
			if s := rt.breaker.stateAt(now); severity(s) > severity(state) {
				state = s
			}
		}
	}
	return state
}

// Providers returns the names of each channel's providers, in fallback
// order.
func (r *Router) Providers() map[Channel][]string {
	out := make(map[Channel][]string, len(r.routes))
	for ch, list := range r.routes {
		for _, rt := range list {
			out[ch] = append(out[ch], rt.provider.Name())
		}
	}
	return out
}

func severity(state string) int {
	switch state {
	case BreakerClosed:
		return 1
	case BreakerHalfOpen:
		return 2
	case BreakerOpen:
		return 3
	default:
		return 0
	}
}

// Send sends m through the providers of m.Channel in order and returns the
// first receipt. It skips a provider whose breaker is open or whose rate
// limit would make it wait longer than the attempt timeout (or ctx's
// deadline); it moves on after a retryable failure and stops at a
// permanent one, and at an acceptance whose answer could not be read
// (ErrOutcomeUnknown). When no provider accepted the message the error wraps the
// last provider's error (so IsRetryable answers for it) and says that
// every provider of the channel failed. Errors are never about the
// recipient or body: they carry none.
func (r *Router) Send(ctx context.Context, m Message) (Receipt, error) {
	routes := r.routes[m.Channel]
	if len(routes) == 0 {
		return Receipt{}, &Error{Provider: routerName, Err: fmt.Errorf("channel %q: %w", m.Channel, ErrNoRoute)}
	}
	var last error
	var failed []string // the providers' errors before the last, for the final error
	for _, rt := range routes {
		if err := ctx.Err(); err != nil {
			return Receipt{}, &Error{Provider: routerName, Retryable: true, Err: fmt.Errorf("send %s message: %w", m.Channel, err)}
		}
		if err := checkValid(routerName, m, r.now()); err != nil {
			r.emit(Attempt{Channel: m.Channel, Provider: rt.provider.Name(), Outcome: OutcomeExpired, Err: err})
			return Receipt{}, err
		}
		rec, final, err := r.try(ctx, rt, m)
		if err == nil {
			return rec, nil
		}
		if final {
			return Receipt{}, err
		}
		if last != nil {
			failed = append(failed, last.Error())
		}
		last = err
	}
	if len(failed) > 0 {
		// Every provider's error, the first ones too: an operator told only
		// of the last would not see that another one refused its
		// credentials.
		return Receipt{}, fmt.Errorf("notify: every %s provider failed: %s; %w", m.Channel, strings.Join(failed, "; "), last)
	}
	return Receipt{}, fmt.Errorf("notify: every %s provider failed: %w", m.Channel, last)
}

// try sends m through one route. It returns the receipt, or the error;
// final reports whether the attempt ends the send (an acceptance, a
// permanent failure, an expired message, or ctx done) rather than moving
// on to the next provider.
func (r *Router) try(ctx context.Context, rt *route, m Message) (Receipt, bool, error) {
	name := rt.provider.Name()
	at := Attempt{Channel: m.Channel, Provider: name}

	gen, ok := rt.breaker.allow(r.now())
	if !ok {
		at.Outcome = OutcomeSkippedOpen
		at.Err = &Error{Provider: name, Retryable: true, Err: ErrCircuitOpen}
		r.emit(at)
		return Receipt{}, false, at.Err
	}

	if rt.limiter != nil {
		maxWait := r.timeout
		if dl, ok := ctx.Deadline(); ok {
			maxWait = min(maxWait, time.Until(dl))
		}
		wait, ok := rt.limiter.reserve(r.now(), maxWait)
		if !ok {
			rt.breaker.done(gen, resultNeutral, r.now())
			at.Outcome = OutcomeRateLimited
			at.Err = &Error{Provider: name, Retryable: true, Err: ErrRateLimited}
			r.emit(at)
			return Receipt{}, false, at.Err
		}
		if wait > 0 {
			if err := r.sleep(ctx, wait); err != nil {
				rt.limiter.cancel(r.now())
				rt.breaker.done(gen, resultNeutral, r.now())
				return Receipt{}, true, &Error{Provider: routerName, Retryable: true, Err: fmt.Errorf("wait for %s rate limit: %w", name, err)}
			}
		}
	}

	if m.HandOver != nil {
		if err := m.HandOver(); err != nil {
			if rt.limiter != nil {
				rt.limiter.cancel(r.now())
			}
			rt.breaker.done(gen, resultNeutral, r.now())
			return Receipt{}, true, err
		}
	}

	actx, cancel := context.WithTimeout(ctx, r.timeout)
	start := r.now()
	rec, err := rt.provider.Send(actx, m)
	cancel()
	at.Duration = r.now().Sub(start)
	at.Err = err

	switch {
	case err == nil:
		rt.breaker.done(gen, resultSuccess, r.now())
		if rec.Provider == "" {
			rec.Provider = name
		}
		at.Outcome = OutcomeAccepted
		r.emit(at)
		return rec, true, nil
	case errors.Is(err, ErrExpired):
		rt.breaker.done(gen, resultNeutral, r.now())
		at.Outcome = OutcomeExpired
		r.emit(at)
		return Receipt{}, true, err
	case errors.Is(err, ErrOutcomeUnknown):
		// The provider took the message: it is up, and the message may be
		// on its way, so no other provider may send it again.
		rt.breaker.done(gen, resultSuccess, r.now())
		at.Outcome = OutcomeUnknown
		r.emit(at)
		return Receipt{}, true, err
	case ctx.Err() != nil:
		// Our caller gave up: that says nothing about the provider, and
		// there is no point trying another one.
		rt.breaker.done(gen, resultNeutral, r.now())
		at.Outcome = OutcomeFailed
		r.emit(at)
		return Receipt{}, true, err
	case IsRetryable(err) && providerUp(err):
		rt.breaker.done(gen, resultSuccess, r.now())
		at.Outcome = OutcomeFailed
		r.emit(at)
		return Receipt{}, false, err
	case IsRetryable(err):
		rt.breaker.done(gen, resultFailure, r.now())
		if e, ok := errors.AsType[*Error](err); ok && e.RetryAfter > 0 {
			// The provider asked for a pause: nothing goes to it until
			// then (the next provider takes the messages meanwhile).
			rt.breaker.hold(r.now().Add(min(e.RetryAfter, MaxRetryAfter)))
		}
		at.Outcome = OutcomeFailed
		r.emit(at)
		return Receipt{}, false, err
	default:
		// The provider answered and refused the message: it is up.
		rt.breaker.done(gen, resultSuccess, r.now())
		at.Outcome = OutcomeRejected
		r.emit(at)
		return Receipt{}, true, err
	}
}

// providerUp reports whether err is a refusal that says the provider is up
// (see Error.ProviderUp).
func providerUp(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.ProviderUp
}

func (r *Router) emit(a Attempt) {
	if r.observe != nil {
		r.observe(a)
	}
}

// sleepCtx waits d, or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
