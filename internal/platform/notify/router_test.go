package notify_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/medplatform/medplatform/internal/platform/notify"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeProvider answers Send from a settable function and counts calls.
type fakeProvider struct {
	name string
	ch   notify.Channel

	mu    sync.Mutex
	calls int
	fn    func(ctx context.Context, m notify.Message) (notify.Receipt, error)
}

func newFake(name string, ch notify.Channel) *fakeProvider {
	return &fakeProvider{name: name, ch: ch}
}

func (f *fakeProvider) Name() string            { return f.name }
func (f *fakeProvider) Channel() notify.Channel { return f.ch }

func (f *fakeProvider) Send(ctx context.Context, m notify.Message) (notify.Receipt, error) {
	f.mu.Lock()
	f.calls++
	fn := f.fn
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, m)
	}
	return notify.Receipt{Provider: f.name, ProviderID: f.name + "-" + m.ID, Status: "queued"}, nil
}

func (f *fakeProvider) set(fn func(ctx context.Context, m notify.Message) (notify.Receipt, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fn = fn
}

func (f *fakeProvider) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// fail makes the provider fail every send with err.
func (f *fakeProvider) fail(err error) {
	f.set(func(context.Context, notify.Message) (notify.Receipt, error) { return notify.Receipt{}, err })
}

// ok makes the provider accept every send.
func (f *fakeProvider) ok() { f.set(nil) }

func serverError(name string) error {
	return &notify.Error{Provider: name, Retryable: true, Status: 500, Err: errors.New("internal server error")}
}

func badNumber(name string) error {
	return &notify.Error{Provider: name, Status: 400, Code: "21211", Err: errors.New("invalid To number")}
}

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)} }

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

// recorder collects attempts.
type recorder struct {
	mu       sync.Mutex
	attempts []notify.Attempt
}

func (r *recorder) Observe(a notify.Attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = append(r.attempts, a)
}

// outcomes returns "provider:outcome" for each attempt since the last call.
func (r *recorder) outcomes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, a := range r.attempts {
		out = append(out, a.Provider+":"+a.Outcome)
	}
	r.attempts = nil
	return out
}

func sms(id string) notify.Message {
	return notify.Message{ID: id, Channel: notify.SMS, To: "+15005550006", Body: "Time for your 8am dose"}
}

func TestRouterFallback(t *testing.T) {
	tests := []struct {
		name         string
		primaryErr   error
		wantProvider string
		wantErr      bool
		wantRetry    bool
		wantOutcomes []string
	}{
		{
			name:         "primary accepts",
			wantProvider: "primary",
			wantOutcomes: []string{"primary:accepted"},
		},
		{
			name:         "retryable error falls back",
			primaryErr:   serverError("primary"),
			wantProvider: "secondary",
			wantOutcomes: []string{"primary:failed", "secondary:accepted"},
		},
		{
			name:         "plain error counts as retryable",
			primaryErr:   errors.New("connection reset"),
			wantProvider: "secondary",
			wantOutcomes: []string{"primary:failed", "secondary:accepted"},
		},
		{
			name:         "permanent error does not fall back",
			primaryErr:   badNumber("primary"),
			wantErr:      true,
			wantOutcomes: []string{"primary:rejected"},
		},
		{
			// The provider accepted the message but its answer could
			// not be read: the message may be on its way.
			name:         "unknown outcome does not fall back",
			primaryErr:   &notify.Error{Provider: "primary", Status: 201, Err: fmt.Errorf("read response: %w", notify.ErrOutcomeUnknown)},
			wantErr:      true,
			wantOutcomes: []string{"primary:unknown"},
		},
		{
			name:         "expired from the provider does not fall back",
			primaryErr:   &notify.Error{Provider: "primary", Err: notify.ErrExpired},
			wantErr:      true,
			wantOutcomes: []string{"primary:expired"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			primary, secondary := newFake("primary", notify.SMS), newFake("secondary", notify.SMS)
			if tt.primaryErr != nil {
				primary.fail(tt.primaryErr)
			}
			rec := &recorder{}
			r, err := notify.NewRouter(notify.RouterConfig{
				Routes:  map[notify.Channel][]notify.Route{notify.SMS: {{Provider: primary}, {Provider: secondary}}},
				Observe: rec.Observe,
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Send(context.Background(), sms("m1"))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Send error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, tt.primaryErr) {
					t.Errorf("error %v does not wrap the provider's error", err)
				}
				if secondary.Calls() != 0 {
					t.Errorf("secondary called %d times after a permanent error", secondary.Calls())
				}
			} else if got.Provider != tt.wantProvider {
				t.Errorf("receipt provider = %q, want %q", got.Provider, tt.wantProvider)
			}
			if diff := cmp.Diff(tt.wantOutcomes, rec.outcomes()); diff != "" {
				t.Errorf("attempts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRouterEveryProviderFails(t *testing.T) {
	primary, secondary := newFake("primary", notify.SMS), newFake("secondary", notify.SMS)
	primary.fail(serverError("primary"))
	secondary.fail(serverError("secondary"))
	r, err := notify.NewRouter(notify.RouterConfig{
		Routes: map[notify.Channel][]notify.Route{notify.SMS: {{Provider: primary}, {Provider: secondary}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Send(context.Background(), sms("m1"))
	if err == nil {
		t.Fatal("Send succeeded, want an error")
	}
	var ne *notify.Error
	if !errors.As(err, &ne) || ne.Provider != "secondary" {
		t.Errorf("error %v does not wrap the last provider's error", err)
	}
	if !notify.IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = false, want true", err)
	}
	if want := "every sms provider failed"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	// The first provider's error is told too, not only the last one's.
	if want := serverError("primary").Error(); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not give the first provider's error %q", err, want)
	}
}

func TestRouterNoRoute(t *testing.T) {
	r, err := notify.NewRouter(notify.RouterConfig{
		Routes: map[notify.Channel][]notify.Route{notify.SMS: {{Provider: newFake("p", notify.SMS)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Send(context.Background(), notify.Message{ID: "m1", Channel: notify.Push, To: "tok", Body: "b"})
	if !errors.Is(err, notify.ErrNoRoute) || notify.IsRetryable(err) {
		t.Errorf("Send on an unrouted channel = %v, want permanent ErrNoRoute", err)
	}
	if !r.Has(notify.SMS) || r.Has(notify.Push) {
		t.Errorf("Has: sms %v push %v, want true false", r.Has(notify.SMS), r.Has(notify.Push))
	}
	if diff := cmp.Diff([]notify.Channel{notify.SMS}, r.Channels()); diff != "" {
		t.Errorf("Channels (-want +got):\n%s", diff)
	}
}

func TestNewRouterRejectsBadConfig(t *testing.T) {
	p := newFake("p", notify.SMS)
	tests := []struct {
		name string
		cfg  notify.RouterConfig
	}{
		{"nil provider", notify.RouterConfig{Routes: map[notify.Channel][]notify.Route{notify.SMS: {{}}}}},
		{"empty list", notify.RouterConfig{Routes: map[notify.Channel][]notify.Route{notify.SMS: {}}}},
		{"wrong channel", notify.RouterConfig{Routes: map[notify.Channel][]notify.Route{notify.Email: {{Provider: p}}}}},
		{"duplicate", notify.RouterConfig{Routes: map[notify.Channel][]notify.Route{notify.SMS: {{Provider: p}, {Provider: p}}}}},
		{"negative rate", notify.RouterConfig{Routes: map[notify.Channel][]notify.Route{notify.SMS: {{Provider: p, RatePerSecond: -1}}}}},
		{"negative timeout", notify.RouterConfig{AttemptTimeout: -time.Second, Routes: map[notify.Channel][]notify.Route{notify.SMS: {{Provider: p}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := notify.NewRouter(tt.cfg); err == nil {
				t.Error("NewRouter accepted a bad config")
			}
		})
	}
}

func TestRouterBreaker(t *testing.T) {
	clk := newClock()
	primary, secondary := newFake("primary", notify.SMS), newFake("secondary", notify.SMS)
	rec := &recorder{}
	r, err := notify.NewRouter(notify.RouterConfig{
		Routes: map[notify.Channel][]notify.Route{notify.SMS: {
			{Provider: primary, Breaker: notify.BreakerConfig{Failures: 3, Cooldown: 30 * time.Second}},
			{Provider: secondary},
		}},
		Now:     clk.Now,
		Observe: rec.Observe,
	})
	if err != nil {
		t.Fatal(err)
	}
	send := func(id string) string {
		t.Helper()
		got, err := r.Send(context.Background(), sms(id))
		if err != nil {
			t.Fatalf("Send %s: %v", id, err)
		}
		return got.Provider
	}

	// Outage: three consecutive failures open the primary's breaker.
	primary.fail(serverError("primary"))
	for i := range 3 {
		if got := send(fmt.Sprint("out", i)); got != "secondary" {
			t.Fatalf("during outage sent through %s", got)
		}
	}
	if got := r.BreakerState("primary"); got != notify.BreakerOpen {
		t.Fatalf("breaker after 3 failures = %q, want open", got)
	}
	rec.outcomes()

	// Open: the primary is skipped without being called.
	calls := primary.Calls()
	send("skip")
	if primary.Calls() != calls {
		t.Error("primary called while its breaker is open")
	}
	if diff := cmp.Diff([]string{"primary:skipped_open_circuit", "secondary:accepted"}, rec.outcomes()); diff != "" {
		t.Errorf("attempts while open (-want +got):\n%s", diff)
	}

	// After the cooldown one probe goes through; it fails and re-opens.
	clk.Advance(30 * time.Second)
	if got := r.BreakerState("primary"); got != notify.BreakerHalfOpen {
		t.Errorf("breaker after cooldown = %q, want half_open", got)
	}
	send("probe1")
	if diff := cmp.Diff([]string{"primary:failed", "secondary:accepted"}, rec.outcomes()); diff != "" {
		t.Errorf("failed probe (-want +got):\n%s", diff)
	}
	if got := r.BreakerState("primary"); got != notify.BreakerOpen {
		t.Errorf("breaker after failed probe = %q, want open", got)
	}
	send("still-open")
	if diff := cmp.Diff([]string{"primary:skipped_open_circuit", "secondary:accepted"}, rec.outcomes()); diff != "" {
		t.Errorf("after failed probe (-want +got):\n%s", diff)
	}

	// Recovery: the next probe succeeds, the breaker closes and traffic
	// returns to the primary.
	primary.ok()
	clk.Advance(30 * time.Second)
	if got := send("probe2"); got != "primary" {
		t.Errorf("probe went through %s, want primary", got)
	}
	if got := r.BreakerState("primary"); got != notify.BreakerClosed {
		t.Errorf("breaker after good probe = %q, want closed", got)
	}
	for i := range 3 {
		if got := send(fmt.Sprint("after", i)); got != "primary" {
			t.Errorf("after recovery sent through %s", got)
		}
	}
	if got := r.BreakerState("unknown"); got != "" {
		t.Errorf("BreakerState(unknown) = %q, want empty", got)
	}
}

func TestRouterBreakerIgnoresPermanentErrors(t *testing.T) {
	primary := newFake("primary", notify.SMS)
	primary.fail(badNumber("primary"))
	r, err := notify.NewRouter(notify.RouterConfig{
		Routes: map[notify.Channel][]notify.Route{notify.SMS: {{Provider: primary, Breaker: notify.BreakerConfig{Failures: 2}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := r.Send(context.Background(), sms(fmt.Sprint(i))); err == nil {
			t.Fatal("Send succeeded, want a permanent error")
		}
	}
	if got := r.BreakerState("primary"); got != notify.BreakerClosed {
		t.Errorf("breaker after permanent errors = %q, want closed", got)
	}
}

func TestRouterHalfOpenAdmitsOneProbe(t *testing.T) {
	clk := newClock()
	primary, secondary := newFake("primary", notify.SMS), newFake("secondary", notify.SMS)
	r, err := notify.NewRouter(notify.RouterConfig{
		Routes: map[notify.Channel][]notify.Route{notify.SMS: {
			{Provider: primary, Breaker: notify.BreakerConfig{Failures: 1, Cooldown: time.Second}},
			{Provider: secondary},
		}},
		Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	primary.fail(serverError("primary"))
	if _, err := r.Send(context.Background(), sms("a")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)

	// The probe blocks inside the primary; a concurrent send meanwhile
	// must skip the primary rather than probe it too.
	entered, release := make(chan struct{}), make(chan struct{})
	primary.set(func(ctx context.Context, m notify.Message) (notify.Receipt, error) {
		close(entered)
		<-release
		return notify.Receipt{Provider: "primary", ProviderID: "p-" + m.ID}, nil
	})
	done := make(chan notify.Receipt)
	go func() {
		got, _ := r.Send(context.Background(), sms("probe"))
		done <- got
	}()
	<-entered
	got, err := r.Send(context.Background(), sms("concurrent"))
	if err != nil || got.Provider != "secondary" {
		t.Errorf("send during probe = %v, %v; want secondary", got.Provider, err)
	}
	close(release)
	if got := <-done; got.Provider != "primary" {
		t.Errorf("probe went through %q", got.Provider)
	}
	if got := r.BreakerState("primary"); got != notify.BreakerClosed {
		t.Errorf("breaker after good probe = %q, want closed", got)
	}
}

func TestRouterRateLimit(t *testing.T) {
	clk := newClock()
	var (
		mu    sync.Mutex
		waits []time.Duration
	)
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		clk.Advance(d)
		return nil
	}
	primary := newFake("primary", notify.SMS)
	r, err := notify.NewRouter(notify.RouterConfig{
		Routes: map[notify.Channel][]notify.Route{notify.SMS: {{Provider: primary, RatePerSecond: 10, Burst: 2}}},
		Now:    clk.Now,
		Sleep:  sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := r.Send(context.Background(), sms(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	// A burst of two goes at once, then one every 100ms.
	want := []time.Duration{100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}
	if diff := cmp.Diff(want, waits); diff != "" {
		t.Errorf("rate-limit waits (-want +got):\n%s", diff)
	}
	if primary.Calls() != 5 {
		t.Errorf("primary got %d sends, want 5", primary.Calls())
	}
}

func TestRouterRateLimitMovesOn(t *testing.T) {
	clk := newClock()
	primary, secondary := newFake("primary", notify.SMS), newFake("secondary", notify.SMS)
	rec := &recorder{}
	r, err := notify.NewRouter(notify.RouterConfig{
		Routes: map[notify.Channel][]notify.Route{notify.SMS: {
			{Provider: primary, RatePerSecond: 1, Burst: 1},
			{Provider: secondary},
		}},
		Now:            clk.Now,
		Observe:        rec.Observe,
		AttemptTimeout: 100 * time.Millisecond,
		Sleep: func(context.Context, time.Duration) error {
			t.Error("the router waited although the wait exceeds the attempt timeout")
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := r.Send(context.Background(), sms(id)); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"primary:accepted", "primary:rate_limited", "secondary:accepted"}
	if diff := cmp.Diff(want, rec.outcomes()); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
	// A second later the bucket has a token again.
	clk.Advance(time.Second)
	if got, err := r.Send(context.Background(), sms("c")); err != nil || got.Provider != "primary" {
		t.Errorf("Send after refill = %v, %v; want primary", got.Provider, err)
	}
}

// HandOver is called after the wait for a provider's rate limit and before
// the provider is given the message, once per provider tried; its error
// stops the send with no provider given the message, and gives the
// rate-limit token back.
func TestRouterHandOver(t *testing.T) {
	clk := newClock()
	var events []string
	sleep := func(ctx context.Context, d time.Duration) error {
		events = append(events, "wait")
		clk.Advance(d)
		return nil
	}
	primary, secondary := newFake("primary", notify.SMS), newFake("secondary", notify.SMS)
	primary.set(func(context.Context, notify.Message) (notify.Receipt, error) {
		events = append(events, "primary")
		return notify.Receipt{}, serverError("primary")
	})
	secondary.set(func(_ context.Context, m notify.Message) (notify.Receipt, error) {
		events = append(events, "secondary")
		return notify.Receipt{Provider: "secondary", ProviderID: "s-" + m.ID}, nil
	})
	r, err := notify.NewRouter(notify.RouterConfig{
		Routes: map[notify.Channel][]notify.Route{notify.SMS: {
			{Provider: primary, RatePerSecond: 10, Burst: 1},
			{Provider: secondary},
		}},
		Now:   clk.Now,
		Sleep: sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first send takes the bucket's only token.
	if _, err := r.Send(context.Background(), sms("first")); err != nil {
		t.Fatal(err)
	}
	events = nil
	m := sms("second")
	m.HandOver = func() error {
		events = append(events, "handover")
		return nil
	}
	if _, err := r.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	want := []string{"wait", "handover", "primary", "handover", "secondary"}
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("order of events (-want +got):\n%s", diff)
	}

	events = nil
	stop := errors.New("not ours any more")
	m = sms("third")
	m.HandOver = func() error {
		events = append(events, "handover")
		return stop
	}
	if _, err := r.Send(context.Background(), m); err != stop {
		t.Errorf("Send = %v, want HandOver's error as it is", err)
	}
	if diff := cmp.Diff([]string{"wait", "handover"}, events); diff != "" {
		t.Errorf("a refused hand-over reached a provider (-want +got):\n%s", diff)
	}
	// The token the refused hand-over waited for was given back: the next
	// send has it at once.
	events = nil
	if _, err := r.Send(context.Background(), sms("fourth")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"primary", "secondary"}, events); diff != "" {
		t.Errorf("after the refusal (-want +got):\n%s", diff)
	}
}

func TestRouterExpired(t *testing.T) {
	clk := newClock()
	primary := newFake("primary", notify.SMS)
	rec := &recorder{}
	r, err := notify.NewRouter(notify.RouterConfig{
		Routes:  map[notify.Channel][]notify.Route{notify.SMS: {{Provider: primary}}},
		Now:     clk.Now,
		Observe: rec.Observe,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := sms("late")
	m.ValidUntil = clk.Now()
	_, err = r.Send(context.Background(), m)
	if !errors.Is(err, notify.ErrExpired) || notify.IsRetryable(err) {
		t.Errorf("Send of an expired message = %v, want permanent ErrExpired", err)
	}
	if primary.Calls() != 0 {
		t.Error("expired message handed to the provider")
	}
	if diff := cmp.Diff([]string{"primary:expired"}, rec.outcomes()); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
}

func TestRouterAttemptTimeout(t *testing.T) {
	primary, secondary := newFake("primary", notify.SMS), newFake("secondary", notify.SMS)
	primary.set(func(ctx context.Context, m notify.Message) (notify.Receipt, error) {
		<-ctx.Done()
		return notify.Receipt{}, &notify.Error{Provider: "primary", Retryable: true, Err: ctx.Err()}
	})
	r, err := notify.NewRouter(notify.RouterConfig{
		Routes:         map[notify.Channel][]notify.Route{notify.SMS: {{Provider: primary}, {Provider: secondary}}},
		AttemptTimeout: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Send(context.Background(), sms("hang"))
	if err != nil || got.Provider != "secondary" {
		t.Errorf("Send with a hanging primary = %v, %v; want secondary", got.Provider, err)
	}
}

func TestRouterCallerCancels(t *testing.T) {
	primary, secondary := newFake("primary", notify.SMS), newFake("secondary", notify.SMS)
	ctx, cancel := context.WithCancel(context.Background())
	primary.set(func(ctx context.Context, m notify.Message) (notify.Receipt, error) {
		cancel()
		return notify.Receipt{}, &notify.Error{Provider: "primary", Retryable: true, Err: context.Canceled}
	})
	r, err := notify.NewRouter(notify.RouterConfig{
		Routes: map[notify.Channel][]notify.Route{notify.SMS: {{Provider: primary, Breaker: notify.BreakerConfig{Failures: 1}}, {Provider: secondary}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Send(ctx, sms("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Send = %v, want context.Canceled", err)
	}
	if secondary.Calls() != 0 {
		t.Error("fallback tried after the caller gave up")
	}
	if got := r.BreakerState("primary"); got != notify.BreakerClosed {
		t.Errorf("the caller's cancellation opened the breaker: %q", got)
	}
}

func TestRouterConcurrent(t *testing.T) {
	primary, secondary := newFake("primary", notify.SMS), newFake("secondary", notify.SMS)
	var n int
	var mu sync.Mutex
	primary.set(func(ctx context.Context, m notify.Message) (notify.Receipt, error) {
		mu.Lock()
		n++
		fail := n%3 == 0
		mu.Unlock()
		if fail {
			return notify.Receipt{}, serverError("primary")
		}
		return notify.Receipt{Provider: "primary", ProviderID: m.ID}, nil
	})
	rec := &recorder{}
	r, err := notify.NewRouter(notify.RouterConfig{
		Routes: map[notify.Channel][]notify.Route{notify.SMS: {
			{Provider: primary, RatePerSecond: 100000, Burst: 50, Breaker: notify.BreakerConfig{Failures: 3, Cooldown: time.Millisecond}},
			{Provider: secondary, RatePerSecond: 100000, Burst: 50},
		}},
		Observe: rec.Observe,
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if _, err := r.Send(context.Background(), sms(fmt.Sprint(w, "-", i))); err != nil {
					errs <- err
				}
				_ = r.BreakerState("primary")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Send: %v", err)
	}
}

// TestRouterHonoursRetryAfter: a provider that answers a throttle with
// Retry-After is sent nothing until then — the next provider takes the
// messages — even though one failure does not open its breaker; then it
// is tried again. It was called for every message.
func TestRouterHonoursRetryAfter(t *testing.T) {
	clk := newClock()
	primary, secondary := newFake("primary", notify.SMS), newFake("secondary", notify.SMS)
	r, err := notify.NewRouter(notify.RouterConfig{
		Routes: map[notify.Channel][]notify.Route{notify.SMS: {
			{Provider: primary, Breaker: notify.BreakerConfig{Failures: 5, Cooldown: time.Second}},
			{Provider: secondary},
		}},
		Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	primary.fail(&notify.Error{Provider: "primary", Retryable: true, Status: 429, RetryAfter: 30 * time.Second, Err: errors.New("too many requests")})
	for i := range 3 {
		got, err := r.Send(context.Background(), sms(fmt.Sprint("m", i)))
		if err != nil || got.Provider != "secondary" {
			t.Fatalf("Send %d = %+v, %v; want it sent by the secondary", i, got, err)
		}
	}
	if n := primary.Calls(); n != 1 {
		t.Errorf("the throttled provider was called %d times within its Retry-After, want 1", n)
	}
	if got := r.BreakerState("primary"); got != notify.BreakerOpen {
		t.Errorf("breaker state while held = %q, want open", got)
	}
	clk.Advance(30 * time.Second)
	primary.ok()
	if got, err := r.Send(context.Background(), sms("after")); err != nil || got.Provider != "primary" {
		t.Fatalf("Send after the Retry-After = %+v, %v; want the primary again", got, err)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"30", 30 * time.Second},
		{" 5 ", 5 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{"99999999999999", notify.MaxRetryAfter},
		{"Sun, 01 Mar 2026 08:01:00 GMT", time.Minute},
		{"Sun, 01 Mar 2026 07:59:00 GMT", 0},
		{"Mon, 02 Mar 2026 08:00:00 GMT", notify.MaxRetryAfter},
	} {
		if got := notify.RetryAfter(tt.header, now); got != tt.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}
