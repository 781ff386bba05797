package source

import (
	"errors"
	"hash"
	"io"
	"sync"
	"time"
)

// Read-ahead sizes: readAheadChunks buffers of readAheadChunk bytes, so at
// most 1 MiB of the source is held ahead of the loader (less when the
// source returns less at a time, as a zip member's inflating reader may).
const (
	readAheadChunk  = 256 << 10
	readAheadChunks = 4
)

// readAhead reads its source on a goroutine of its own, a few chunks ahead
// of the loader, and feeds every chunk into the digest there. The loader's
// goroutine (CSV parsing and row building, the slowest stage of a load)
// then spends nothing on read system calls, on decompressing a zip member
// or on SHA-256, which together took about a tenth of its time on a
// 1M-row NPPES file. The goroutine starts at the first Read, and stops
// at the source's end, at its first error or at close.
type readAhead struct {
	r io.Reader
	h hash.Hash

	start   sync.Once
	started bool
	full    chan chunk  // chunks read, in order; the last one carries the end or error
	free    chan []byte // buffers handed back for reuse
	stop    chan struct{}
	done    chan struct{}
	stopped sync.Once

	cur chunk
	off int
	err error // the end or error, once the loader has consumed every byte before it
}

type chunk struct {
	b   []byte
	err error
}

func newReadAhead(r io.Reader, h hash.Hash) *readAhead {
	return &readAhead{
		r:    r,
		h:    h,
		full: make(chan chunk, readAheadChunks),
		free: make(chan []byte, readAheadChunks),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
}

// run fills chunks until the source ends, fails or stop is closed.
func (ra *readAhead) run() {
	defer close(ra.done)
	for range readAheadChunks {
		ra.free <- make([]byte, readAheadChunk)
	}
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		case <-ra.stop:
			return
		}
		// One read per chunk, whatever it returns: a source that
		// trickles (a slow server) must reach the loader as it comes, not
		// once a chunk is full.
		n, err := 0, error(nil)
		for n == 0 && err == nil {
			n, err = ra.r.Read(buf)
		}
		ra.h.Write(buf[:n])
		select {
		case ra.full <- chunk{buf[:n], err}:
		case <-ra.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	ra.start.Do(func() {
		ra.started = true
		go ra.run()
	})
	for ra.off == len(ra.cur.b) {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.cur.b != nil {
			ra.free <- ra.cur.b[:cap(ra.cur.b)]
			ra.cur.b, ra.off = nil, 0
		}
		if ra.cur.err != nil {
			ra.err = ra.cur.err
			return 0, ra.err
		}
		if len(p) == 0 {
			return 0, nil
		}
		select {
		case ra.cur = <-ra.full:
			ra.off = 0
		case <-ra.stop:
			ra.err = errReadAfterClose
			return 0, ra.err
		}
	}
	n := copy(p, ra.cur.b[ra.off:])
	ra.off += n
	return n, nil
}

var errReadAfterClose = errors.New("read after close")

// ended reports whether Read has returned io.EOF: the digest then covers
// the whole source, and the goroutine that wrote it has finished with it.
func (ra *readAhead) ended() bool { return ra.err == io.EOF }

// halt tells the goroutine to stop; it does at its next step, or once the
// read it is in returns.
func (ra *readAhead) halt() { ra.stopped.Do(func() { close(ra.stop) }) }

// wait returns once the goroutine, if a Read started it, has stopped, or
// after at most grace when grace > 0.
func (ra *readAhead) wait(grace time.Duration) {
	ra.start.Do(func() {}) // no Read can start it any more
	if !ra.started {
		return
	}
	if grace <= 0 {
		<-ra.done
		return
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-ra.done:
	case <-t.C:
	}
}
