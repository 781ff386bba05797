package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/sample"
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

// TestSampleProvidersAtMostCapacity checks that --providers above the
// number of distinct NPIs the generator makes is refused, naming the
// flag, before anything is written: the NPIs repeated. serve --sample
// refuses the same count before anything else. (The output directory and
// REJECTS_DIR lie under a file, so that a count that is not refused fails
// at once instead of writing gigabytes.)
func TestSampleProvidersAtMostCapacity(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "afile")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tooMany := strconv.Itoa(sample.MaxProviders + 1)
	err := run(context.Background(), []string{"sample", "--out", filepath.Join(file, "out"), "--providers", tooMany}, func(string) string { return "" }, nil, io.Discard, io.Discard)
	if err == nil || !strings.HasPrefix(err.Error(), "--providers: must be at most") || !strings.Contains(err.Error(), strconv.Quote(tooMany)) {
		t.Errorf("sample --providers %s: err = %v, want --providers refused", tooMany, err)
	}

	dbFile := filepath.Join(dir, "m.db")
	env := map[string]string{"DATABASE_URL": "sqlite:" + dbFile, "LOG_LEVEL": "error", "REJECTS_DIR": filepath.Join(file, "rejects")}
	err = run(context.Background(), []string{"serve", "--addr", freeAddr(t), "--sample", tooMany}, func(k string) string { return env[k] }, nil, io.Discard, io.Discard)
	if err == nil || !strings.HasPrefix(err.Error(), "--sample: must be at most") || !strings.Contains(err.Error(), strconv.Quote(tooMany)) {
		t.Errorf("serve --sample %s: err = %v, want --sample refused", tooMany, err)
	}
	if _, err := os.Stat(dbFile); !os.IsNotExist(err) {
		t.Errorf("serve --sample %s created the database (stat: %v)", tooMany, err)
	}
}
