package source

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

// The bytes come out in order, whatever sizes the source returns, followed
// by the source's error; the digest covers them all only at io.EOF.
func TestReadAheadOrderAndError(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), readAheadChunk*3/16+123)
	boom := errors.New("disk on fire")
	src := io.MultiReader(iotest.HalfReader(bytes.NewReader(data)), iotest.ErrReader(boom))
	ra := newReadAhead(src, sha256.New())
	got, err := io.ReadAll(iotest.OneByteReader(io.LimitReader(ra, 1000)))
	if err != nil || !bytes.Equal(got, data[:1000]) {
		t.Fatalf("first 1000 bytes: %v, equal %v", err, bytes.Equal(got, data[:1000]))
	}
	rest, err := io.ReadAll(ra)
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want the source's", err)
	}
	if !bytes.Equal(rest, data[1000:]) {
		t.Fatalf("read %d bytes after the first 1000, want %d, in order", len(rest), len(data)-1000)
	}
	if ra.ended() {
		t.Error("ended after an error, want only after io.EOF")
	}
	if _, err := ra.Read(make([]byte, 10)); !errors.Is(err, boom) {
		t.Errorf("Read after the error: %v, want the error again", err)
	}
	ra.halt()
	ra.wait(0)
}

func TestReadAheadDigestAtEOF(t *testing.T) {
	data := bytes.Repeat([]byte("x"), readAheadChunk*readAheadChunks*2+7)
	h := sha256.New()
	f := &File{hash: h}
	f.ahead = newReadAhead(bytes.NewReader(data), h)
	f.Reader = &labelReader{r: f.ahead, label: "test"}
	if _, err := io.CopyN(io.Discard, f, 10); err != nil {
		t.Fatal(err)
	}
	if f.SHA256() != "" {
		t.Error("digest before io.EOF")
	}
	if _, err := io.Copy(io.Discard, f); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if got := f.SHA256(); got != hex.EncodeToString(sum[:]) {
		t.Errorf("digest %s, want %s", got, hex.EncodeToString(sum[:]))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// blockingReader blocks in Read until it is closed, as a network read of a
// stalled server does until its connection is closed.
type blockingReader struct{ closed chan struct{} }

func (b *blockingReader) Read([]byte) (int, error) {
	<-b.closed
	return 0, errors.New("use of closed connection")
}

// Close stops the read-ahead goroutine even while it is blocked in the
// source, after the source's closers have run, and a later Read fails
// instead of waiting for ever.
func TestReadAheadCloseWhileBlocked(t *testing.T) {
	br := &blockingReader{closed: make(chan struct{})}
	f := newFile("x.csv", "", -1, br, "test", func() error { close(br.closed); return nil })
	readDone := make(chan error, 1)
	go func() {
		_, err := f.Read(make([]byte, 10))
		readDone <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the goroutine block in the source
	closed := make(chan error, 1)
	go func() { closed <- f.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	select {
	case <-f.ahead.done:
	default:
		t.Fatal("Close returned before the read-ahead goroutine stopped")
	}
	select {
	case err := <-readDone:
		if err == nil {
			t.Fatal("Read of a closed source succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read blocked after Close")
	}
}

// Closing a source nobody read starts and waits for nothing.
func TestReadAheadCloseUnread(t *testing.T) {
	f := newFile("x.csv", "", -1, bytes.NewReader([]byte("a,b\n")), "test")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Read(make([]byte, 4)); err == nil {
		t.Fatal("Read after Close succeeded")
	}
}

// What a slow source has sent reaches Read at once: the read-ahead does not
// wait for a chunk to fill (a load would otherwise stall on a server that
// trickles, or hold its first rows back).
func TestReadAheadTrickle(t *testing.T) {
	pr, pw := io.Pipe()
	ra := newReadAhead(pr, sha256.New())
	go func() { _, _ = pw.Write([]byte("first line\n")) }()
	got := make(chan string, 1)
	go func() {
		p := make([]byte, 100)
		n, _ := ra.Read(p)
		got <- string(p[:n])
	}()
	select {
	case s := <-got:
		if s != "first line\n" {
			t.Errorf("read %q, want the bytes sent", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read waited for more than the source had sent")
	}
	ra.halt()
	pw.Close()
	ra.wait(0)
}

// slowReader takes a while for each read, as inflating a zip member's
// chunk does, and records whether it was closed while a read was going on.
type slowReader struct {
	mu      sync.Mutex
	reading bool
	overlap bool
}

func (s *slowReader) Read(p []byte) (int, error) {
	s.mu.Lock()
	s.reading = true
	s.mu.Unlock()
	time.Sleep(50 * time.Millisecond)
	s.mu.Lock()
	s.reading = false
	s.mu.Unlock()
	return len(p), nil
}

func (s *slowReader) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.overlap = s.overlap || s.reading
	return nil
}

// Close lets the read-ahead goroutine finish the read it is in before it
// closes the source: a zip member's reader is not safe to close while it
// reads.
func TestReadAheadCloseWaitsForRead(t *testing.T) {
	for range 5 {
		sr := &slowReader{}
		f := newFile("x.csv", "", -1, sr, "test", sr.Close)
		if _, err := f.Read(make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
		// The goroutine is now in its next read.
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if sr.overlap {
			t.Fatal("the source was closed while a read of it was going on")
		}
	}
}
