package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rangeServer serves data by range with http.ServeContent. misbehave, when
// not nil, may take over the n-th request (from 0) and returns whether it
// did.
func rangeServer(t *testing.T, data []byte, misbehave func(n int64, w http.ResponseWriter, r *http.Request) bool) (*httpSource, *atomic.Int64) {
	h, n, _ := rangeServerConns(t, data, misbehave)
	return h, n
}

// rangeServerConns is rangeServer that also counts the connections made.
func rangeServerConns(t *testing.T, data []byte, misbehave func(n int64, w http.ResponseWriter, r *http.Request) bool) (*httpSource, *atomic.Int64, *atomic.Int64) {
	t.Helper()
	var n, conns atomic.Int64
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1) - 1
		if misbehave != nil && misbehave(i, w, r) {
			return
		}
		http.ServeContent(w, r, "x", time.Time{}, bytes.NewReader(data))
	}))
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return &httpSource{client: ts.Client(), url: ts.URL + "/x", display: ts.URL + "/x", size: int64(len(data))}, &n, &conns
}

func testData(n int) []byte {
	r := rand.New(rand.NewPCG(7, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestRemoteReaderWindows checks that sequential reads in small pieces cost
// a few growing ranged requests, and that random access still reads the
// right bytes.
func TestRemoteReaderWindows(t *testing.T) {
	data := testData(10<<20 + 17)
	tests := []struct {
		name    string
		offsets func() []int64 // where each 4 KiB ReadAt starts
		maxReqs int64
		conns   int64 // connections the reads may open; 0 = any number
	}{
		{name: "sequential", offsets: func() []int64 {
			var o []int64
			for off := int64(0); off < int64(len(data)); off += 4096 {
				o = append(o, off)
			}
			return o
		}, maxReqs: 5, conns: 1}, // 1 + 2 + 4 + 8 MiB windows cover 10 MiB in 4 requests, on one connection
		{name: "end, then start, then small forward gaps", offsets: func() []int64 {
			return []int64{int64(len(data)) - 4096, 0, 30, 5000, 100 << 10, 3 << 20, 2 << 20}
		}, maxReqs: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, reqs, conns := rangeServerConns(t, data, nil)
			rr := newRemoteReader(context.Background(), h.size, h.fetch)
			defer rr.Close()
			buf := make([]byte, 4096)
			for _, off := range tt.offsets() {
				n, err := rr.ReadAt(buf, off)
				want := data[off:min(off+4096, int64(len(data)))]
				if n != len(want) || !bytes.Equal(buf[:n], want) {
					t.Fatalf("ReadAt(%d) = %d bytes, %v; want %d bytes of the object", off, n, err, len(want))
				}
				if wantErr := len(want) < len(buf); (err == io.EOF) != wantErr || (err != nil && err != io.EOF) {
					t.Fatalf("ReadAt(%d) error %v; want io.EOF only at the end", off, err)
				}
			}
			if got := reqs.Load(); got > tt.maxReqs {
				t.Errorf("%d requests, want at most %d", got, tt.maxReqs)
			}
			if got := reqs.Load(); got != int64(rr.requests) {
				t.Errorf("server saw %d requests, reader counted %d", got, rr.requests)
			}
			if got := conns.Load(); tt.conns != 0 && got != tt.conns {
				t.Errorf("%d connections, want %d: windows read to their end must leave the connection reusable", got, tt.conns)
			}
			if n, err := rr.ReadAt(buf, int64(len(data))); n != 0 || err != io.EOF {
				t.Errorf("ReadAt at the end = %d, %v; want 0, io.EOF", n, err)
			}
		})
	}
}

// TestRemoteReaderFailures checks retries: a body that breaks off or hangs
// is requested again, and a source that keeps failing gives a clear error
// after maxAttempts instead of looping or returning short data.
func TestRemoteReaderFailures(t *testing.T) {
	data := testData(256 << 10)
	breakOff := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(data)-1, len(data)))
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(data[:10]) // then the handler returns: the connection closes short
	}
	hang := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(data)-1, len(data)))
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusPartialContent)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // sends nothing until the client gives up
	}
	tests := []struct {
		name      string
		misbehave func(n int64, w http.ResponseWriter, r *http.Request) bool
		wantErr   error  // nil = the read must succeed
		says      string // in the error
		reqs      int64
	}{
		{name: "breaks once", misbehave: func(n int64, w http.ResponseWriter, r *http.Request) bool {
			if n == 0 {
				breakOff(w, r)
				return true
			}
			return false
		}, reqs: 2},
		{name: "hangs once", misbehave: func(n int64, w http.ResponseWriter, r *http.Request) bool {
			if n == 0 {
				hang(w, r)
				return true
			}
			return false
		}, reqs: 2},
		{name: "always hangs", misbehave: func(n int64, w http.ResponseWriter, r *http.Request) bool {
			hang(w, r)
			return true
		}, wantErr: errStalled, says: "after 4 attempts", reqs: maxAttempts},
		{name: "always breaks at the same byte", misbehave: func(n int64, w http.ResponseWriter, r *http.Request) bool {
			if n == 0 {
				breakOff(w, r)
			} else {
				// Resumed at byte 10, it breaks again before
				// sending anything.
				w.Header().Set("Content-Range", fmt.Sprintf("bytes 10-%d/%d", len(data)-1, len(data)))
				w.Header().Set("Content-Length", fmt.Sprint(len(data)-10))
				w.WriteHeader(http.StatusPartialContent)
			}
			return true
			// The first break, at byte 10, is the first of the
			// attempts that end there.
		}, wantErr: io.ErrUnexpectedEOF, says: "at byte 10, after 4 attempts", reqs: maxAttempts},
		{name: "server error", misbehave: func(n int64, w http.ResponseWriter, r *http.Request) bool {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return true
		}, says: "at byte 0, after 4 attempts", reqs: maxAttempts}, // a 5xx may pass when tried again
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, reqs := rangeServer(t, data, tt.misbehave)
			rr := newRemoteReader(context.Background(), h.size, h.fetch)
			rr.stall = 50 * time.Millisecond
			rr.backoff = func(int) time.Duration { return 0 }
			defer rr.Close()
			got, err := io.ReadAll(rr.stream())
			if tt.wantErr == nil && tt.says == "" {
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read %d bytes, %v; want the %d bytes", len(got), err, len(data))
				}
			} else {
				if err == nil {
					t.Fatalf("read %d bytes without an error", len(got))
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %q is not %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.says) {
					t.Errorf("error %q does not contain %q", err, tt.says)
				}
				if !bytes.Equal(got, data[:len(got)]) {
					t.Errorf("the %d bytes read before the error are not the object's", len(got))
				}
			}
			if n := reqs.Load(); n != tt.reqs {
				t.Errorf("%d requests, want %d", n, tt.reqs)
			}
		})
	}
}

func TestRemoteReaderCancel(t *testing.T) {
	data := testData(64 << 10)
	h, _ := rangeServer(t, data, nil)
	ctx, cancel := context.WithCancel(context.Background())
	rr := newRemoteReader(ctx, h.size, h.fetch)
	defer rr.Close()
	buf := make([]byte, 1024)
	if _, err := rr.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := rr.ReadAt(buf, 32<<10); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadAt after cancel: %v, want context.Canceled", err)
	}
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in                 string
		first, last, total int64
		ok                 bool
	}{
		{"bytes 0-99/1000", 0, 99, 1000, true},
		{"bytes 5-5/6", 5, 5, 6, true},
		{"bytes 0-99/*", 0, 99, -1, true},
		{"bytes 0-99/99", 0, 0, 0, false},
		{"bytes 10-5/100", 0, 0, 0, false},
		{"bytes */100", 0, 0, 0, false},
		{"items 0-1/2", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	}
	for _, tt := range tests {
		first, last, total, ok := parseContentRange(tt.in)
		if first != tt.first || last != tt.last || total != tt.total || ok != tt.ok {
			t.Errorf("parseContentRange(%q) = %d, %d, %d, %v; want %d, %d, %d, %v",
				tt.in, first, last, total, ok, tt.first, tt.last, tt.total, tt.ok)
		}
	}
}

// TestRemoteReaderReopenRetries: a body that breaks off is reopened at the
// offset reached, and a reopen that fails with an answer a later attempt
// may not meet (HTTP 5xx, 429, 408, a network failure) is tried again,
// with backoff, up to maxAttempts in all; a permanent answer (404, 403,
// 412: the object changed) fails at once. The first failed reopen ended
// the load.
func TestRemoteReaderReopenRetries(t *testing.T) {
	data := testData(256 << 10)
	breakOff := func(w http.ResponseWriter) {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(data)-1, len(data)))
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(data[:10]) // then the handler returns: the connection closes short
	}
	// answers makes the first request break off and the next ones answer
	// the given statuses, then serves the object.
	answers := func(statuses ...int) func(n int64, w http.ResponseWriter, r *http.Request) bool {
		return func(n int64, w http.ResponseWriter, r *http.Request) bool {
			switch {
			case n == 0:
				breakOff(w)
				return true
			case n <= int64(len(statuses)):
				http.Error(w, "no", statuses[n-1])
				return true
			}
			return false
		}
	}
	tests := []struct {
		name      string
		misbehave func(n int64, w http.ResponseWriter, r *http.Request) bool
		says      string // in the error; "" = the read must succeed
		reqs      int64
	}{
		{name: "reopen answered 503, then 429", misbehave: answers(503, 429), reqs: 4},
		{name: "reopen answered 500, then 408", misbehave: answers(500, 408), reqs: 4},
		{name: "reopen always answered 503", misbehave: answers(503, 503, 503, 503, 503),
			says: "at byte 10, after 4 attempts: source " + "URL: HTTP 503", reqs: maxAttempts},
		{name: "reopen answered 404", misbehave: answers(404), says: "HTTP 404", reqs: 2},
		{name: "reopen answered 403", misbehave: answers(403), says: "HTTP 403", reqs: 2},
		{name: "reopen answered 412: changed", misbehave: answers(412), says: "changed on the server", reqs: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, reqs := rangeServer(t, data, tt.misbehave)
			rr := newRemoteReader(context.Background(), h.size, h.fetch)
			var waits []int
			rr.backoff = func(attempt int) time.Duration { waits = append(waits, attempt); return 0 }
			defer rr.Close()
			got, err := io.ReadAll(rr.stream())
			says := strings.ReplaceAll(tt.says, "URL", h.display)
			switch {
			case says == "" && (err != nil || !bytes.Equal(got, data)):
				t.Fatalf("read %d bytes, %v; want the %d bytes", len(got), err, len(data))
			case says != "" && (err == nil || !strings.Contains(err.Error(), says)):
				t.Fatalf("read %d bytes, error %v; want an error containing %q", len(got), err, says)
			}
			if !bytes.Equal(got, data[:len(got)]) {
				t.Errorf("the %d bytes read are not the object's", len(got))
			}
			if n := reqs.Load(); n != tt.reqs {
				t.Errorf("%d requests, want %d", n, tt.reqs)
			}
			if len(waits) != int(tt.reqs)-1 && says == "" {
				t.Errorf("waited before attempts %v, want one wait before each of the %d retries", waits, tt.reqs-1)
			}
		})
	}
}

// TestRemoteReaderReopenBackoffCancelled: a load cancelled while the
// reader waits to retry a failed reopen stops at once with the context's
// error, not after the wait.
func TestRemoteReaderReopenBackoffCancelled(t *testing.T) {
	data := testData(64 << 10)
	h, _ := rangeServer(t, data, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if n == 0 {
			return false
		}
		http.Error(w, "slow down", http.StatusServiceUnavailable)
		return true
	})
	ctx, cancel := context.WithCancel(context.Background())
	rr := newRemoteReader(ctx, h.size, h.fetch)
	defer rr.Close()
	buf := make([]byte, 1024)
	if _, err := rr.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	rr.drop() // the body broke: the next read reopens, and is refused
	rr.backoff = func(int) time.Duration { cancel(); return time.Hour }
	start := time.Now()
	_, err := rr.ReadAt(buf, 1024)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ReadAt = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("ReadAt returned after %s, want at once", d)
	}
}

// TestRemoteReaderReopenRefusedConnection: a reopen whose connection is
// refused (the server went away) is tried maxAttempts times before the
// read fails, naming the offset and the network error.
func TestRemoteReaderReopenRefusedConnection(t *testing.T) {
	data := testData(64 << 10)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "x", time.Time{}, bytes.NewReader(data))
	}))
	h := &httpSource{client: ts.Client(), url: ts.URL + "/x", display: ts.URL + "/x", size: int64(len(data))}
	rr := newRemoteReader(context.Background(), h.size, h.fetch)
	defer rr.Close()
	attempts := 0
	rr.backoff = func(int) time.Duration { attempts++; return 0 }
	buf := make([]byte, 1024)
	if _, err := rr.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	rr.drop()
	ts.Close()
	_, err := rr.ReadAt(buf, 1024)
	if err == nil || !strings.Contains(err.Error(), "at byte 1024, after 4 attempts") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("ReadAt = %v, want an error saying the connection was refused after 4 attempts at byte 1024", err)
	}
	if attempts != maxAttempts-1 {
		t.Errorf("waited %d times, want %d (before each retry)", attempts, maxAttempts-1)
	}
}
