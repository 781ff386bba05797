package servertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Binary is a command's binary that the tests of its main package which
// run the real process share: built once per test run (each test building
// its own cost a link of the whole binary apiece). Keep one in a package
// variable and call Remove from TestMain.
type Binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Path returns the path of the binary named name, built from the package in
// the current directory (a test's working directory is its package's) the
// first time it is asked for.
func (b *Binary) Path(t testing.TB, name string) string {
	t.Helper()
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", name+"-test-bin-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, name)
		if out, err := exec.Command("go", "build", "-o", b.path, ".").CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Remove deletes the binary, if it was built.
func (b *Binary) Remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}
