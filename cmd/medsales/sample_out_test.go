package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSampleOutNotADirectory checks that `sample --out FILE` names the
// flag: it said "create afile: mkdir afile: not a directory".
func TestSampleOutNotADirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "afile")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"sample", "--out", file, "--providers", "1"}, func(string) string { return "" }, nil, io.Discard, io.Discard)
	if err == nil || !strings.HasPrefix(err.Error(), "--out: ") || !strings.Contains(err.Error(), file) {
		t.Errorf("sample --out %s (a file): err = %v, want it to name --out and the path", file, err)
	}
}
