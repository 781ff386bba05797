package audit

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// groupCommit funnels standalone appends (AppendNow, AppendAll) from many
// goroutines through one writer that appends whatever is waiting in a
// single transaction. Every caller still returns only after its records are
// committed, but N concurrent reads of PHI cost one commit (one fsync, one
// turn of the chain-head lock) instead of N. Without it the chain head is
// a serial point that caps audited reads at roughly one per commit latency.
type groupCommit struct {
	mu       sync.RWMutex // held for reading while sending, for writing to close
	closed   bool
	log      *Log
	maxBatch int
	reqs     chan *groupReq
	// closing is closed when stop begins: an append waiting for room in
	// reqs gives up, releasing mu for stop.
	closing chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	// base is the parent of every batch's commit context; stop cancels
	// it when its own context ends before the drain does.
	base       context.Context
	cancelBase context.CancelFunc
}

type groupReq struct {
	recs []Record
	out  []Record
	done chan error
}

var errGroupClosed = errors.New("append audit record: audit log is shutting down")

// StartGroupCommit makes AppendNow and AppendAll share transactions of up
// to maxBatch records. Call the returned stop function after the last
// append: it waits for pending appends to commit, until its context ends;
// then the commits in flight are cancelled, what is still pending fails
// (its callers report their reads as not audited), and stop returns the
// context's error. With the database stalled, each pending batch waited
// for its own 30 s timeout, one after the other, and a process asked to
// stop outlived the 30 s ECS gives it (QA). Append, inside a caller's
// transaction, is unaffected.
func (l *Log) StartGroupCommit(maxBatch int) (stop func(context.Context) error) {
	if maxBatch <= 0 {
		maxBatch = 256
	}
	g := &groupCommit{
		log: l, maxBatch: maxBatch,
		reqs:    make(chan *groupReq, maxBatch),
		closing: make(chan struct{}),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	g.base, g.cancelBase = context.WithCancel(context.Background())
	l.group = g
	go g.loop()
	var once sync.Once
	return func(ctx context.Context) error {
		var err error
		once.Do(func() {
			close(g.closing)
			g.mu.Lock()
			g.closed = true
			g.mu.Unlock()
			close(g.stop)
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

func (g *groupCommit) append(ctx context.Context, recs []Record) ([]Record, error) {
	// Validate here so one caller's bad record never fails a shared batch.
	for _, r := range recs {
		if err := validate(r); err != nil {
			return nil, err
		}
	}
	req := &groupReq{recs: recs, done: make(chan error, 1)}
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return nil, errGroupClosed
	}
	select {
	case g.reqs <- req:
		g.mu.RUnlock()
	case <-ctx.Done():
		g.mu.RUnlock()
		return nil, ctx.Err()
	case <-g.closing:
		g.mu.RUnlock()
		return nil, errGroupClosed
	}
	// Once queued the records will be written; wait for the outcome even if
	// ctx ends, so the caller never reports a read as unaudited while its
	// record is in fact committed.
	if err := <-req.done; err != nil {
		return nil, err
	}
	return req.out, nil
}

func (g *groupCommit) loop() {
	defer close(g.stopped)
	for {
		select {
		case req := <-g.reqs:
			g.commit(g.collect(req))
		case <-g.stop:
			// Drain what was queued before stop.
			for {
				select {
				case req := <-g.reqs:
					g.commit(g.collect(req))
				default:
					return
				}
			}
		}
	}
}

// collect takes first plus whatever else is already waiting, up to maxBatch
// records.
func (g *groupCommit) collect(first *groupReq) []*groupReq {
	batch := []*groupReq{first}
	n := len(first.recs)
	for n < g.maxBatch {
		select {
		case req := <-g.reqs:
			batch = append(batch, req)
			n += len(req.recs)
		default:
			return batch
		}
	}
	return batch
}

func (g *groupCommit) commit(batch []*groupReq) {
	ctx, cancel := context.WithTimeout(g.base, 30*time.Second)
	defer cancel()
	var all []Record
	for _, req := range batch {
		all = append(all, req.recs...)
	}
	err := g.log.db.InTx(ctx, func(tx *db.Tx) error {
		out, err := g.log.appendBatch(ctx, tx, all)
		if err != nil {
			return err
		}
		for _, req := range batch {
			req.out, out = out[:len(req.recs)], out[len(req.recs):]
		}
		return nil
	})
	for _, req := range batch {
		req.done <- err
	}
}
