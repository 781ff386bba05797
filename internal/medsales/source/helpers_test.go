package source_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/source"
)

// member is a file to put in a test zip.
type member struct {
	name   string
	data   []byte
	store  bool   // zip.Store instead of zip.Deflate
	method uint16 // another method, when not 0
	// encrypted sets the header's encryption flag (bit 0), as zip -P
	// does; the data stays as written.
	encrypted bool
}

// buildZip returns a zip archive holding members, in order.
func buildZip(t testing.TB, members ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	// Method 99 stands for a method archive/zip cannot read (as Deflate64).
	zw.RegisterCompressor(99, func(w io.Writer) (io.WriteCloser, error) { return nopCloser{w}, nil })
	for _, m := range members {
		method := zip.Deflate
		if m.store {
			method = zip.Store
		}
		if m.method != 0 {
			method = m.method
		}
		fh := &zip.FileHeader{Name: m.name, Method: method}
		if m.encrypted {
			fh.Flags |= 0x1
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeFile writes data to dir/name and returns the path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// randomBytes returns n bytes that do not compress, from a fixed seed.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// csvRows returns a CSV of n rows in the NPPES style.
func csvRows(n int) []byte {
	var b bytes.Buffer
	b.WriteString("\"NPI\",\"Entity Type Code\",\"Provider Last Name (Legal Name)\"\n")
	for i := 0; i < n; i++ {
		b.WriteString("\"")
		b.WriteString(string(rune('1' + i%9)))
		b.WriteString("234567893\",\"1\",\"SMITH\"\n")
	}
	return b.Bytes()
}

// checkFile reads f to the end and checks what it yields and reports.
func checkFile(t *testing.T, f *source.File, name, archive string, size int64, data []byte) {
	t.Helper()
	got, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, want %d (contents differ)", len(got), len(data))
	}
	if f.Name != name || f.Archive != archive || f.Size != size {
		t.Errorf("Name, Archive, Size = %q, %q, %d; want %q, %q, %d", f.Name, f.Archive, f.Size, name, archive, size)
	}
	if got, want := f.SHA256(), sha(data); got != want {
		t.Errorf("SHA256() = %s, want %s", got, want)
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// writeTemp creates an empty file in a test directory.
func writeTemp(t testing.TB) (*os.File, error) {
	return os.CreateTemp(t.TempDir(), "big-*.zip")
}
