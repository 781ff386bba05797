package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fetchFunc opens the byte range [off, end) of a remote object. The body
// yields exactly end-off bytes unless the transfer fails.
type fetchFunc func(ctx context.Context, off, end int64) (io.ReadCloser, error)

// Defaults of a remoteReader. A window is the length of one ranged request:
// it starts small, because reading a zip's directory and a member's local
// header jumps around, and doubles while the reads stay sequential, so that
// a multi-gigabyte member costs a few dozen requests, not one per 4 KiB read.
// Nothing is buffered: the response body is read as it arrives.
const (
	minWindow    = 1 << 20
	maxWindow    = 64 << 20
	maxSkip      = 256 << 10 // forward gaps up to this are read and dropped instead of a new request
	maxAttempts  = 4         // reads of the same offset before giving up
	stallTimeout = 2 * time.Minute
)

var errStalled = errors.New("transfer stalled")

// remoteReader reads a remote object of known size through ranged requests.
// It is an io.ReaderAt for archive/zip and, through stream, the sequential
// reader of a plain object. A body that breaks, ends early or stalls is
// reopened at the offset reached, so a long transfer survives a dropped
// connection.
type remoteReader struct {
	ctx     context.Context
	size    int64
	fetch   fetchFunc
	stall   time.Duration
	backoff func(attempt int) time.Duration

	mu       sync.Mutex
	body     io.ReadCloser // open range [pos, end), or nil
	pos, end int64
	window   int64
	requests int // ranged requests made, for tests
	closed   bool
}

func newRemoteReader(ctx context.Context, size int64, fetch fetchFunc) *remoteReader {
	return &remoteReader{
		ctx:     ctx,
		size:    size,
		fetch:   fetch,
		stall:   stallTimeout,
		backoff: func(attempt int) time.Duration { return time.Duration(attempt*attempt) * 250 * time.Millisecond },
		window:  minWindow,
	}
}

// adopt makes body, which yields the object's bytes from 0 to its end, the
// open range, so that a plain stream reuses the request that detected it.
func (r *remoteReader) adopt(body io.ReadCloser) {
	r.body, r.pos, r.end = body, 0, r.size
}

// ReadAt implements io.ReaderAt.
func (r *remoteReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d", off)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errors.New("read after close")
	}
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := int64(len(p))
	if rest := r.size - off; want > rest {
		want = rest
	}
	var n int64
	failures := 0
	// retry counts a failed attempt at offset off+n and waits before the
	// next one; it returns the error to give up with, or nil to go on.
	retry := func(err error) error {
		if cerr := r.ctx.Err(); cerr != nil {
			return cerr
		}
		failures++
		if failures >= maxAttempts {
			return fmt.Errorf("at byte %d, after %d attempts: %w", off+n, failures, err)
		}
		t := time.NewTimer(r.backoff(failures))
		select {
		case <-r.ctx.Done():
			t.Stop()
			return r.ctx.Err()
		case <-t.C:
		}
		return nil
	}
	for n < want {
		cur := off + n
		if r.body != nil && (cur < r.pos || cur > r.pos+maxSkip || cur >= r.end) {
			r.drop()
		}
		if r.body == nil {
			if err := r.open(cur, want-n, failures > 0); err != nil {
				// A reopen refused for a while (a 5xx, throttling, a
				// connection refused or reset) is tried again like a
				// body that broke; a permanent answer (404, 403, an
				// object changed since the first request) ends the read.
				if r.ctx.Err() != nil || !transient(err) {
					return int(n), err
				}
				if err := retry(err); err != nil {
					return int(n), err
				}
				continue
			}
		}
		before := n
		err := r.readBody(p[n:want], cur, &n)
		if err == nil {
			failures = 0
			continue
		}
		r.drop()
		if n > before {
			failures = 0
		}
		if err := retry(err); err != nil {
			return int(n), err
		}
	}
	if want < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// open requests a window starting at off that covers at least need bytes.
func (r *remoteReader) open(off, need int64, retry bool) error {
	switch {
	case retry:
	case off == r.pos && off > 0:
		r.window = min(2*r.window, maxWindow)
	default:
		r.window = minWindow
	}
	end := min(r.size, off+max(r.window, need))
	w := newWatchdog(r.ctx, r.stall)
	body, err := r.fetch(w.ctx, off, end)
	if err != nil {
		w.stop()
		if w.stalled.Load() && r.ctx.Err() == nil {
			return fmt.Errorf("%w: no response for %s: %w", errStalled, r.stall, err)
		}
		return err
	}
	r.requests++
	r.body, r.pos, r.end = w.wrap(body), off, end
	w.timer.Stop()
	return nil
}

// readBody reads from the open body into p, which starts at offset cur,
// dropping the bytes between the body's position and cur. It adds the bytes
// it stores to *n.
func (r *remoteReader) readBody(p []byte, cur int64, n *int64) error {
	if gap := cur - r.pos; gap > 0 {
		k, err := io.CopyN(io.Discard, r.body, gap)
		r.pos += k
		if err != nil {
			return unexpectedEOF(err)
		}
	}
	if lim := r.end - r.pos; int64(len(p)) > lim {
		p = p[:lim]
	}
	k, err := r.body.Read(p)
	r.pos += int64(k)
	*n += int64(k)
	if r.pos == r.end {
		// The window is complete. (net/http returns io.EOF with a
		// body's last bytes, so closing now keeps the connection
		// reusable for the next window.)
		r.body.Close()
		r.body = nil
		return nil
	}
	if err != nil {
		return unexpectedEOF(err)
	}
	return nil
}

// transient reports whether a request for a range that failed with err
// may succeed when sent again: the server answered 5xx (S3's InternalError,
// SlowDown), 429 or 408, or there was no answer (a connection refused or
// reset, a response that stalled or broke off). Other answers are
// permanent: 404 or 403 (the object is gone or no longer readable), 412
// (it changed since the first request), a bad Content-Range.
func transient(err error) bool {
	var se *sourceError
	if errors.As(err, &se) && se.status != 0 {
		return se.status == http.StatusRequestTimeout || se.status == http.StatusTooManyRequests || se.status >= 500
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, errStalled) || errors.Is(err, io.ErrUnexpectedEOF)
}

// unexpectedEOF turns an io.EOF before the end of a range into
// io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (r *remoteReader) drop() {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
}

// Close closes the open body, if any.
func (r *remoteReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.drop()
	return nil
}

// stream returns a sequential reader of the whole object.
func (r *remoteReader) stream() io.Reader {
	return &streamReader{r: r}
}

type streamReader struct {
	r   *remoteReader
	off int64
}

func (s *streamReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := s.r.ReadAt(p, s.off)
	s.off += int64(n)
	return n, err
}

// watchdog cancels its context when a request waits for its response, or one
// Read of the body it wraps blocks, longer than its duration, so a connection
// that hangs without closing fails and is reopened instead of blocking the
// load forever. Time the caller spends between reads does not count.
type watchdog struct {
	ctx     context.Context
	cancel  context.CancelFunc
	d       time.Duration
	timer   *time.Timer
	stalled atomic.Bool
}

func newWatchdog(parent context.Context, d time.Duration) *watchdog {
	ctx, cancel := context.WithCancel(parent)
	w := &watchdog{ctx: ctx, cancel: cancel, d: d}
	w.timer = time.AfterFunc(d, func() {
		w.stalled.Store(true)
		cancel()
	})
	return w
}

func (w *watchdog) stop() {
	w.timer.Stop()
	w.cancel()
}

func (w *watchdog) wrap(rc io.ReadCloser) io.ReadCloser {
	return &watchedBody{rc: rc, w: w}
}

type watchedBody struct {
	rc io.ReadCloser
	w  *watchdog
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.w.timer.Reset(b.w.d)
	n, err := b.rc.Read(p)
	b.w.timer.Stop()
	if err != nil && err != io.EOF && b.w.stalled.Load() {
		err = fmt.Errorf("%w: no data for %s", errStalled, b.w.d)
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.w.stop()
	return b.rc.Close()
}

// parseContentRange parses an HTTP Content-Range value "bytes first-last/total";
// total is -1 when the server sent "*".
func parseContentRange(s string) (first, last, total int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(s), "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	span, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	a, b, found := strings.Cut(span, "-")
	if !found {
		return 0, 0, 0, false
	}
	var err error
	if first, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, 0, false
	}
	if last, err = strconv.ParseInt(b, 10, 64); err != nil || last < first {
		return 0, 0, 0, false
	}
	if tot == "*" {
		return first, last, -1, true
	}
	if total, err = strconv.ParseInt(tot, 10, 64); err != nil || total <= last {
		return 0, 0, 0, false
	}
	return first, last, total, true
}
