//go:build unix

package source_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

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
