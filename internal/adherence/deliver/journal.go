package deliver

import (
	"context"
	"fmt"
	"time"

	"github.com/medplatform/medplatform/internal/adherence/store"
)

// journal writes down the progress of a Deliverer's jobs as they go,
// through store.RecordDeliveryProgress: each notification is moved to
// sending just before it is handed to a provider, and each outcome is
// recorded once it is known. One journal serves every job of the
// Deliverer running at once, and one goroutine writes for it: what the
// messages in flight have to write while a write is under way waits for
// the next one, which takes it all. During the 08:00 spike, 50 jobs of 16
// messages in flight write a few hundred transactions a second, not one per
// message and step.
//
// So a process killed mid-batch leaves recorded what it had sent, in
// sending only the messages a provider may have taken (marked unknown by
// the sweep, never sent again), and claimed those it never handed over
// (given back to delivery by store.RequeueClaimed).
type journal struct {
	store *store.Store
	in    chan journalEntry
	done  chan struct{} // closed when in is closed and everything in it written
}

// journalEntry is a message about to be handed to a provider (send) or an
// outcome (result). Its ack gets one answer once it is written: nil, or
// the write's error, or for a send errNotOurs when the notification is no
// longer claimed for its attempt.
type journalEntry struct {
	send   store.Claim
	result *store.DeliveryResult
	ack    chan error
}

// maxJournalWrite bounds the entries of one transaction.
const maxJournalWrite = 500

// journalWriteTimeout bounds one write.
const journalWriteTimeout = 30 * time.Second

// newJournal starts a journal's writer; stop it with close. Writes outlive
// ctx's end: what providers accepted must be written down.
func newJournal(ctx context.Context, st *store.Store) *journal {
	j := &journal{store: st, in: make(chan journalEntry, maxJournalWrite), done: make(chan struct{})}
	go j.run(context.WithoutCancel(ctx))
	return j
}

func (j *journal) run(ctx context.Context) {
	defer close(j.done)
	var batch []journalEntry
	for e := range j.in {
		batch = append(batch[:0], e)
	drain:
		for len(batch) < maxJournalWrite {
			select {
			case e, ok := <-j.in:
				if !ok {
					break drain
				}
				batch = append(batch, e)
			default:
				break drain
			}
		}
		j.write(ctx, batch)
	}
}

// write writes batch in one transaction and answers each entry.
func (j *journal) write(ctx context.Context, batch []journalEntry) {
	var results []store.DeliveryResult
	var sending []store.Claim
	for _, e := range batch {
		if e.result != nil {
			results = append(results, *e.result)
		} else {
			sending = append(sending, e.send)
		}
	}
	// A write that hangs (a stalled database) would hold up every job of
	// the process: it is bounded, and what it held is left to the sweep
	// (claimed: sent again; sending: unknown).
	ctx, cancel := context.WithTimeout(ctx, journalWriteTimeout)
	defer cancel()
	started, closed, err := j.store.RecordDeliveryProgress(ctx, results, sending)
	for _, e := range batch {
		switch {
		case e.result != nil:
			e.ack <- err
		case err != nil:
			e.ack <- fmt.Errorf("%w: %w", errMarkFailed, err)
		case closed[e.send.ID] != "":
			e.ack <- &closedError{reason: closed[e.send.ID]}
		case !started[e.send.ID]:
			e.ack <- errNotOurs
		default:
			e.ack <- nil
		}
	}
}

// markSending moves the notification of c to sending: nil when it may be
// handed to a provider, errNotOurs when it is no longer claimed for c's
// attempt, errMarkFailed (wrapping the cause) when the write failed.
func (j *journal) markSending(c store.Claim) error {
	ack := make(chan error, 1)
	j.in <- journalEntry{send: c, ack: ack}
	return <-ack
}

// record queues r to be written and returns where the write's error will
// be answered; it does not wait for the write.
func (j *journal) record(r store.DeliveryResult) <-chan error {
	ack := make(chan error, 1)
	j.in <- journalEntry{result: &r, ack: ack}
	return ack
}

// close waits until everything queued is written and stops the writer.
func (j *journal) close() {
	close(j.in)
	<-j.done
}

// openJournal returns the journal of d's Deliver calls running now,
// starting one when none is; every call to it must be matched by one to
// closeJournal.
func (d *Deliverer) openJournal(ctx context.Context) *journal {
	d.journalMu.Lock()
	defer d.journalMu.Unlock()
	if d.journal == nil {
		d.journal = newJournal(ctx, d.Store)
	}
	d.journalUsers++
	return d.journal
}

// closeJournal stops the journal when its last Deliver call is done with
// it.
func (d *Deliverer) closeJournal() {
	d.journalMu.Lock()
	d.journalUsers--
	var last *journal
	if d.journalUsers == 0 {
		last, d.journal = d.journal, nil
	}
	d.journalMu.Unlock()
	if last != nil {
		last.close()
	}
}
