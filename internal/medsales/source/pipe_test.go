//go:build unix

package source_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales/source"
)

// writeFIFO makes a named pipe called name in a new directory and writes
// data into it from a goroutine; it returns the pipe's path.
func writeFIFO(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	go func() {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		f.Write(data)
	}()
	return p
}

// TestOpenLocalPipe: a local path that is a pipe (a named pipe,
// /dev/stdin, a shell's <(…)) is read as a stream. Open read its first
// bytes with ReadAt, which a pipe cannot do, and failed with "illegal
// seek".
func TestOpenLocalPipe(t *testing.T) {
	csv := csvRows(30)
	p := writeFIFO(t, "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", csv)
	f, err := source.Open(context.Background(), p, source.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(got) != string(csv) {
		t.Errorf("read %d bytes, want the %d written", len(got), len(csv))
	}
	sum := sha256.Sum256(csv)
	if f.Name != "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv" || f.Size != -1 || f.SHA256() != hex.EncodeToString(sum[:]) {
		t.Errorf("Name %q Size %d SHA256 %s; want the pipe's name, size -1 (unknown), the digest of the bytes", f.Name, f.Size, f.SHA256())
	}
}

// TestOpenLocalPipeZip: a zip archive cannot be read in place from a
// pipe (its directory is at the end): Open says so, naming the source.
func TestOpenLocalPipeZip(t *testing.T) {
	p := writeFIFO(t, "nppes.zip", buildZip(t, pfile))
	_, err := source.Open(context.Background(), p, source.Options{})
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "pipe") {
		t.Fatalf("Open = %v, want an error naming the source and saying a zip cannot be read from a pipe", err)
	}
}

// TestOpenLocalPipeCancelled: the context given to Open governs a named
// pipe too. An Open waiting for the pipe's writer, and a read waiting for
// a writer that sends nothing more, end with the context instead of
// waiting for ever.
func TestOpenLocalPipeCancelled(t *testing.T) {
	t.Run("no writer", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "nucc_taxonomy_251.csv")
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		var err error
		within(t, 15*time.Second, func() {
			var f *source.File
			if f, err = source.Open(ctx, p, source.Options{}); err == nil {
				f.Close()
			}
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Open = %v, want the context's error", err)
		}
	})
	t.Run("writer silent", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "nucc_taxonomy_251.csv")
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		quit := make(chan struct{})
		defer close(quit)
		go func() {
			w, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			defer w.Close()
			w.Write([]byte("Code,Grouping\n"))
			<-quit
		}()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f, err := source.Open(ctx, p, source.Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer f.Close()
		time.AfterFunc(200*time.Millisecond, cancel)
		var got []byte
		within(t, 15*time.Second, func() { got, err = io.ReadAll(f) })
		if err == nil || string(got) != "Code,Grouping\n" {
			t.Errorf("read %q, %v; want what was written, then an error once the context ended", got, err)
		}
	})
}

// within runs fn and fails the test at once when fn has not returned after
// d (fn is left running).
func within(t *testing.T, d time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still waiting after %s", d)
	}
}
