package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// built is the adherence binary the tests that run the real process share:
// built once per test run (each test building its own cost a link of the
// whole binary apiece), removed by TestMain.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// adherenceBinary returns the path of the binary built from this package.
func adherenceBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "adherence-test-bin-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "adherence")
		if out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}
