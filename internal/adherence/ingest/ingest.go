// Package ingest is the durable front door for adherence events: it
// commits the events of concurrent requests together (group commit) and
// answers each request only after its events are committed.
//
// Durability: a request is answered after the database commit of the
// transaction holding its events returns. On PostgreSQL that is a normal
// commit (synchronous_commit on, which every connection of package db
// ensures: the WAL is flushed to disk, and to a
// synchronous standby where one is configured). On SQLite the database
// runs in WAL mode with synchronous=FULL, so the commit fsyncs the WAL
// before returning. Group commit keeps that guarantee and shares one flush
// among every request of the group, which is what makes thousands of
// durable events per second possible on one disk.
//
// Nothing is acknowledged from memory: a process killed with requests
// queued has answered none of them, and clients retry with the same
// (source, client event id), which the store makes idempotent.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// Recorder records a group of events in one transaction
// (store.Store.RecordEvents).
type Recorder interface {
	RecordEvents(ctx context.Context, in []store.EventInput) ([]store.EventOutcome, error)
}

// DefaultMaxGroup caps the events of one group transaction: two full
// 1,000-event batches, or many single events.
const DefaultMaxGroup = 2000

// Ingester commits events in groups. Create it with New, start the
// committer with Start, and call Submit from any number of goroutines.
type Ingester struct {
	rec      Recorder
	metrics  *Metrics
	maxGroup int

	// reqs holds requests of smallRequest events or more, which every
	// committer takes; small holds the smaller ones (single events), which
	// only the first committer takes (see Start).
	reqs  chan *request
	small chan *request
	// mu guards started and closed. Submit holds it for reading while it
	// queues a request, and stop takes it for writing before it tells the
	// committer to drain: so no request can be queued after the final
	// drain and be left unanswered.
	mu      sync.RWMutex
	started bool
	closed  bool
	// closing is closed when stop begins: a Submit waiting for room in a
	// queue gives up, releasing mu for stop.
	closing chan struct{}
	stopped chan struct{}
	// base is the parent of every group's commit context; stop cancels
	// it when its own context ends before the drain does.
	base       context.Context
	cancelBase context.CancelFunc
}

type request struct {
	ctx      context.Context
	items    []store.EventInput
	received time.Time
	done     chan result
}

type result struct {
	out []store.EventOutcome
	err error
}

// ErrStopped answers a Submit after Stop.
var ErrStopped = errors.New("ingester stopped")

// New returns an Ingester over rec; metrics may be nil. maxGroup caps the
// events of one group transaction (DefaultMaxGroup when 0 or less).
func New(rec Recorder, metrics *Metrics, maxGroup int) *Ingester {
	if maxGroup <= 0 {
		maxGroup = DefaultMaxGroup
	}
	return &Ingester{rec: rec, metrics: metrics, maxGroup: maxGroup, reqs: make(chan *request, 1024), small: make(chan *request, 1024),
		closing: make(chan struct{})}
}

// Start runs the committers until the returned stop is called; stop
// commits what is already queued, then returns. Without Start, Submit
// records each request in a transaction of its own.
//
// stop's context bounds that drain: when it ends first, the commits in
// flight are cancelled, what is still queued is answered with an error
// (none of it acknowledged: clients retry with the same client event ids),
// and stop returns the context's error. With the database stalled, each
// queued group waited for its own 30 s timeout, one after the other: a
// process asked to stop took 56 to 148 s, long past the 30 s ECS gives it
// before SIGKILL (QA).
//
// committers is how many groups may be in flight at once. On SQLite use 1:
// it has one writer. On PostgreSQL a few let one group's reads and inserts
// overlap another's commit; they still append to the audit chain one after
// the other (the chain head is locked until commit), and candidate dose
// instances are locked in (plan, id) order, so concurrent groups cannot deadlock.
//
// Requests of fewer than smallRequest events (single events) go to the
// first committer only. A group of them is small, reads the chain head
// first and holds it to its commit, so a second committer's group of them
// only waited for the first's: bench/events on PostgreSQL recorded single
// events 5-10% faster with one committer, and batches 30% slower.
func (g *Ingester) Start(committers int) (stop func(context.Context) error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started {
		panic("ingest: Start called twice")
	}
	g.started = true
	g.stopped = make(chan struct{})
	g.base, g.cancelBase = context.WithCancel(context.Background())
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for i := range max(committers, 1) {
		small := g.small
		if i > 0 {
			small = nil // a nil channel is never ready: never taken
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.loop(quit, small)
		}()
	}
	go func() {
		wg.Wait()
		close(g.stopped)
	}()
	var once sync.Once
	return func(ctx context.Context) error {
		var err error
		once.Do(func() {
			close(g.closing)
			g.mu.Lock()
			g.closed = true
			g.mu.Unlock()
			close(quit)
			select {
			case <-g.stopped:
			case <-ctx.Done():
				err = ctx.Err()
				g.cancelBase()
				<-g.stopped
			}
			g.cancelBase()
		})
		return err
	}
}

// Submit records items and returns their outcomes once they are committed.
// received is when the request arrived, for the ingest-duration metric.
func (g *Ingester) Submit(ctx context.Context, items []store.EventInput, received time.Time) ([]store.EventOutcome, error) {
	req := &request{ctx: ctx, items: items, received: received, done: make(chan result, 1)}
	g.mu.RLock()
	switch {
	case g.closed:
		g.mu.RUnlock()
		return nil, ErrStopped
	case !g.started:
		g.mu.RUnlock()
		out, err := g.rec.RecordEvents(ctx, items)
		g.observe(items, out, err, received)
		return out, err
	}
	queue := g.reqs
	if len(items) < smallRequest {
		queue = g.small
	}
	select {
	case queue <- req:
		g.mu.RUnlock()
	case <-ctx.Done():
		g.mu.RUnlock()
		return nil, ctx.Err()
	case <-g.closing:
		g.mu.RUnlock()
		return nil, ErrStopped
	}
	// Once queued, the request is committed even if the caller goes away:
	// the client's retry then replays it.
	select {
	case r := <-req.done:
		return r.out, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// smallRequest is the size (in events) from which a request may go to any
// committer; smaller ones go to the first (see Start).
const smallRequest = 100

// loop commits groups until quit; small is the queue of small requests
// this committer takes too, or nil.
func (g *Ingester) loop(quit chan struct{}, small chan *request) {
	for {
		select {
		case first := <-small:
			g.commit(g.collect(first, small))
		case first := <-g.reqs:
			g.commit(g.collect(first, small))
		case <-quit:
			// Drain what was queued before stopping.
			for {
				select {
				case r := <-small:
					g.commit(g.collect(r, small))
				case r := <-g.reqs:
					g.commit(g.collect(r, small))
				default:
					return
				}
			}
		}
	}
}

// collect takes first and whatever else is already queued (on small, when
// not nil, and on reqs), up to maxGroup events. It never waits for more:
// under load the queues fill while the previous group commits, so groups
// grow with the load by themselves.
func (g *Ingester) collect(first *request, small chan *request) []*request {
	group := []*request{first}
	n := len(first.items)
	for n < g.maxGroup {
		select {
		case r := <-small:
			group = append(group, r)
			n += len(r.items)
		case r := <-g.reqs:
			group = append(group, r)
			n += len(r.items)
		default:
			return group
		}
	}
	return group
}

func (g *Ingester) commit(group []*request) {
	var all []store.EventInput
	for _, r := range group {
		all = append(all, r.items...)
	}
	// The group is committed on its own context: one caller giving up
	// must not abort the others' events.
	ctx, cancel := context.WithTimeout(g.base, 30*time.Second)
	defer cancel()
	out, err := g.rec.RecordEvents(ctx, all)
	if g.metrics != nil {
		g.metrics.GroupSize.Observe(float64(len(all)))
	}
	off := 0
	for _, r := range group {
		var res result
		if err != nil {
			res.err = fmt.Errorf("record events: %w", err)
		} else {
			res.out = out[off : off+len(r.items)]
		}
		g.observe(r.items, res.out, res.err, r.received)
		off += len(r.items)
		r.done <- res
	}
}

// observe updates the metrics of one answered request.
func (g *Ingester) observe(items []store.EventInput, out []store.EventOutcome, err error, received time.Time) {
	if g.metrics == nil {
		return
	}
	if err != nil {
		g.metrics.Failures.Add(float64(len(items)))
		return
	}
	elapsed := time.Since(received).Seconds()
	for i, o := range out {
		switch {
		case errs.CodeOf(o.Err) == errs.CodeUnavailable:
			g.metrics.Failures.Inc()
		case o.Err != nil:
			g.metrics.Rejected.Inc()
		case o.Replayed:
			g.metrics.Replayed.Inc()
		default:
			e := items[i].Event
			g.metrics.Ingested.WithLabelValues(string(e.Kind), string(e.Source)).Inc()
			g.metrics.Results.WithLabelValues(string(o.Event.Result)).Inc()
		}
	}
	g.metrics.Duration.Observe(elapsed)
}

// Metrics are the ingestion metrics. Labels are kinds, sources and
// results only, never ids.
type Metrics struct {
	Ingested  *prometheus.CounterVec
	Results   *prometheus.CounterVec
	Replayed  prometheus.Counter
	Rejected  prometheus.Counter
	Failures  prometheus.Counter
	Duration  prometheus.Histogram
	GroupSize prometheus.Histogram
}

// NewMetrics registers the ingestion metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	kinds := []adherence.EventKind{adherence.EventTaken, adherence.EventSkipped, adherence.EventSnoozed, adherence.EventOpened}
	sources := []adherence.EventSource{adherence.SourceApp, adherence.SourceSMS, adherence.SourceDevice, adherence.SourceClinician}
	m := &Metrics{
		Ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adherence_events_ingested_total",
			Help: "Adherence events durably recorded (new, not replays), by kind and source.",
		}, []string{"kind", "source"}),
		Results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adherence_event_match_results_total",
			Help: "Recorded events by matching result (scored, duplicate, recorded, orphan, as_needed).",
		}, []string{"result"}),
		Replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adherence_events_replayed_total",
			Help: "Retried events answered with the original (idempotent replays).",
		}),
		Rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adherence_events_rejected_total",
			Help: "Events refused with a 4xx answer: validation, unknown plan or dose, key conflict, a patient the caller may not reach.",
		}),
		Failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adherence_event_ingest_failures_total",
			Help: "Events that could not be committed (database failure); the client was answered 5xx.",
		}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "adherence_event_ingest_duration_seconds",
			Help:    "Time from request received to its events committed.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
		}),
		GroupSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "adherence_event_commit_group_size",
			Help:    "Events per group-commit transaction.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048},
		}),
	}
	for _, c := range []prometheus.Collector{m.Ingested, m.Results, m.Replayed, m.Rejected, m.Failures, m.Duration, m.GroupSize} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register ingest metrics: %w", err)
		}
	}
	// Initialise every series so dashboards see zeros, not gaps.
	for _, k := range kinds {
		for _, s := range sources {
			m.Ingested.WithLabelValues(string(k), string(s))
		}
	}
	return m, nil
}
