// Package health answers the three health endpoints both products serve.
//
// /livez says the process is alive and consults no dependency. /readyz says
// the instance may take traffic: startup finished (SetReady), it is not
// draining (StartDraining, on SIGTERM) and every critical check passes; load
// balancers and the healthcheck subcommand use it. /health is the detailed
// view of the deployment document, every component with its status and
// response time:
//
//	{"status":"UP","components":{
//	  "database":{"status":"UP","responseTimeMs":3},
//	  "redis":{"status":"UP","responseTimeMs":1},
//	  "diskSpace":{"status":"UP","responseTimeMs":0,"details":{"free":…,"threshold":…,"total":…}}}}
//
// Bodies never carry error text, which could contain hostnames or
// credentials: failures are logged, and the bodies only name components and
// their status.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Status values of components and of the whole.
const (
	StatusUp   = "UP"
	StatusDown = "DOWN"
)

// DefaultTimeout bounds each check when New is given no positive timeout.
const DefaultTimeout = 2 * time.Second

// Check is one component of the health report.
type Check struct {
	// Name is the component name in the reports ("database", "redis",
	// "diskSpace").
	Name string
	// Critical checks decide readiness and the overall status; a failing
	// non-critical check shows DOWN in /health without failing anything.
	Critical bool
	// Run checks the component. It returns details safe to publish (sizes,
	// counts, ages — never error text, hosts or credentials) and an error
	// when the component is unhealthy. Run must honour ctx cancellation.
	Run func(ctx context.Context) (details map[string]any, err error)
}

// Checker runs the checks and serves the health endpoints. It is safe for
// concurrent use.
type Checker struct {
	checks   []Check
	timeout  time.Duration
	now      func() time.Time
	logger   *slog.Logger
	ready    atomic.Bool
	draining atomic.Bool
}

// New returns a Checker over checks. Each check runs with timeout (at most;
// DefaultTimeout when timeout is not positive); now is the clock that
// measures response times (nil means time.Now); logger receives the errors
// of failing checks (nil discards them). The Checker starts not ready.
//
// New panics when two checks share a name or a check has no name or no Run
// function: these are programming errors, as with http.ServeMux.Handle.
func New(checks []Check, timeout time.Duration, now func() time.Time, logger *slog.Logger) *Checker {
	seen := map[string]bool{}
	for _, c := range checks {
		if c.Name == "" || c.Run == nil {
			panic("health: check without name or Run function")
		}
		if seen[c.Name] {
			panic(fmt.Sprintf("health: duplicate check %q", c.Name))
		}
		seen[c.Name] = true
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Checker{
		checks:  append([]Check(nil), checks...),
		timeout: timeout,
		now:     now,
		logger:  logger,
	}
}

// SetReady records whether startup has finished (configuration loaded,
// migrations applied). Until SetReady(true), the Checker is not ready.
func (c *Checker) SetReady(ready bool) { c.ready.Store(ready) }

// StartDraining makes readiness fail from now on, so the load balancer
// stops sending requests while in-flight ones finish. Call it on SIGTERM.
func (c *Checker) StartDraining() { c.draining.Store(true) }

// Ready reports whether the instance may take traffic: startup finished,
// not draining, and every critical check passes.
func (c *Checker) Ready(ctx context.Context) bool {
	return c.readiness(ctx).Status == StatusUp
}

// Component is the status of one component in a report.
type Component struct {
	Status         string         `json:"status"`
	ResponseTimeMs int64          `json:"responseTimeMs"`
	Details        map[string]any `json:"details,omitempty"`
}

// Report is the body of /health and /readyz.
type Report struct {
	Status string `json:"status"`
	// Reason says why /readyz is DOWN: "starting", "draining" or
	// "dependency". It is empty in /health and when UP.
	Reason string `json:"reason,omitempty"`
	// Components maps component names to their status: every check in
	// /health, the critical ones in /readyz (absent when /readyz ran no
	// check because the instance is starting or draining).
	Components map[string]Component `json:"components,omitzero"`
}

// Reasons for a DOWN readiness.
const (
	ReasonStarting   = "starting"
	ReasonDraining   = "draining"
	ReasonDependency = "dependency"
)

// Health runs every check concurrently and returns the detailed report. The
// overall status is DOWN when a critical component is DOWN.
func (c *Checker) Health(ctx context.Context) Report {
	return c.run(ctx, c.checks)
}

// readiness returns the /readyz report: only critical checks run, and none
// when the instance is starting or draining.
func (c *Checker) readiness(ctx context.Context) Report {
	if c.draining.Load() {
		return Report{Status: StatusDown, Reason: ReasonDraining}
	}
	if !c.ready.Load() {
		return Report{Status: StatusDown, Reason: ReasonStarting}
	}
	var critical []Check
	for _, ch := range c.checks {
		if ch.Critical {
			critical = append(critical, ch)
		}
	}
	rep := c.run(ctx, critical)
	if rep.Status != StatusUp {
		rep.Reason = ReasonDependency
	}
	return rep
}

// run runs checks concurrently, each bounded by the timeout.
func (c *Checker) run(ctx context.Context, checks []Check) Report {
	results := make([]Component, len(checks))
	var wg sync.WaitGroup
	for i, ch := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.runOne(ctx, ch)
		}()
	}
	wg.Wait()

	rep := Report{Status: StatusUp, Components: make(map[string]Component, len(checks))}
	for i, ch := range checks {
		rep.Components[ch.Name] = results[i]
		if ch.Critical && results[i].Status != StatusUp {
			rep.Status = StatusDown
		}
	}
	return rep
}

// checkResult is what a check's goroutine hands back.
type checkResult struct {
	details map[string]any
	err     error
}

// runOne runs one check. It returns when the check does or when the timeout
// expires, whichever comes first, so a check that ignores its context cannot
// hold the endpoint.
func (c *Checker) runOne(ctx context.Context, ch Check) Component {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	start := c.now()
	done := make(chan checkResult, 1) // buffered: a late check must not block
	go func() {
		details, err := runSafely(ctx, ch)
		done <- checkResult{details: details, err: err}
	}()
	var res checkResult
	select {
	case res = <-done:
	case <-ctx.Done():
		res = checkResult{err: fmt.Errorf("no answer: %w", ctx.Err())}
	}
	elapsed := c.now().Sub(start)

	comp := Component{Status: StatusUp, ResponseTimeMs: elapsed.Milliseconds(), Details: res.details}
	if res.err != nil {
		comp.Status = StatusDown
		c.logger.LogAttrs(ctx, slog.LevelWarn, "health check failed",
			slog.String("component", ch.Name),
			slog.Bool("critical", ch.Critical),
			slog.Int64("response_time_ms", comp.ResponseTimeMs),
			slog.String("error", res.err.Error()),
		)
	}
	return comp
}

// runSafely runs a check and turns a panic into an error.
func runSafely(ctx context.Context, ch Check) (details map[string]any, err error) {
	defer func() {
		if v := recover(); v != nil {
			details, err = nil, fmt.Errorf("check panicked: %v", v)
		}
	}()
	return ch.Run(ctx)
}

// LivezHandler answers 200 {"status":"UP"} as long as the process serves
// HTTP. It consults no dependency: a database outage must not get healthy
// containers restarted.
func (c *Checker) LivezHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeReport(w, Report{Status: StatusUp})
	})
}

// ReadyzHandler answers 200 when Ready, otherwise 503 with a body naming the
// reason and the critical components with their status.
func (c *Checker) ReadyzHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeReport(w, c.readiness(r.Context()))
	})
}

// HealthHandler answers the detailed report: 200 when UP, 503 when DOWN.
func (c *Checker) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeReport(w, c.Health(r.Context()))
	})
}

// writeReport writes rep as JSON with 200 when UP and 503 otherwise.
func writeReport(w http.ResponseWriter, rep Report) {
	status := http.StatusOK
	if rep.Status != StatusUp {
		status = http.StatusServiceUnavailable
	}
	body, err := json.Marshal(rep)
	if err != nil {
		// Details come from checks; one that cannot be encoded must not
		// hide the status.
		status = http.StatusInternalServerError
		body = []byte(`{"status":"DOWN"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// Probe GETs url (the /readyz of a local server) with a short timeout and
// returns nil when it answers 200. The healthcheck subcommand uses it, so
// that images without a shell can have a Docker HEALTHCHECK.
func Probe(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	// A private transport: no proxy from the environment for a local
	// probe, and no idle connection left behind.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe %s: %w: status %d", url, ErrUnhealthy, resp.StatusCode)
	}
	return nil
}

// RunProbe is the healthcheck command of both products: it probes url,
// prints "ok" on stdout or "unhealthy: <why>" on stderr, and reports
// whether the server is ready.
func RunProbe(ctx context.Context, url string, stdout, stderr io.Writer) bool {
	if err := Probe(ctx, url); err != nil {
		fmt.Fprintln(stderr, "unhealthy:", err)
		return false
	}
	fmt.Fprintln(stdout, "ok")
	return true
}

// ProbeTimeout bounds Probe.
const ProbeTimeout = 3 * time.Second

// ErrUnhealthy is wrapped by Probe when the server answered with a status
// other than 200.
var ErrUnhealthy = errors.New("unhealthy")
