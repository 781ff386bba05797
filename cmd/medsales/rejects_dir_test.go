package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRejectsDirCheckedAtStart checks that the commands that load data
// (serve with its workers, worker, ingest) fail at start, naming
// REJECTS_DIR, when rejected rows could not be written there: the rejects
// file is created at a load's first rejected row, so an unwritable
// directory failed loads hours in ("create rejects file: mkdir data:
// permission denied") while the process looked healthy. A directory that
// can be made is left as it was found. The check comes before the
// database is opened, so a bad REJECTS_DIR creates no database.
func TestRejectsDirCheckedAtStart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The file to load exists: a missing one is refused before anything.
	src := filepath.Join(dir, "nucc_taxonomy_251.csv")
	if err := os.WriteFile(src, []byte("Code,Grouping\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	for _, args := range [][]string{
		{"serve", "--addr", addr},
		{"worker", "--addr", addr},
		{"ingest", "nucc", src},
	} {
		t.Run(args[0], func(t *testing.T) {
			dbFile := filepath.Join(t.TempDir(), "m.db")
			env := map[string]string{
				"DATABASE_URL": "sqlite:" + dbFile, "LOG_LEVEL": "error", "SHUTDOWN_DRAIN": "0s",
				// Under a file: not even root can create it.
				"REJECTS_DIR": filepath.Join(file, "rejects"),
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := run(ctx, args, func(k string) string { return env[k] }, nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "REJECTS_DIR "+env["REJECTS_DIR"]) {
				t.Errorf("%v with REJECTS_DIR under a file: err = %v, want it to name REJECTS_DIR", args, err)
			}
			// Refused before the database is opened: none is created.
			if _, err := os.Stat(dbFile); !os.IsNotExist(err) {
				t.Errorf("%v with REJECTS_DIR under a file created the database %s (stat: %v)", args, dbFile, err)
			}
		})
	}

	// A writable REJECTS_DIR that does not exist yet passes, and the check
	// leaves nothing behind.
	fresh := filepath.Join(dir, "new", "rejects")
	if err := checkRejectsDir(fresh); err != nil {
		t.Fatalf("checkRejectsDir(%s): %v", fresh, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); !os.IsNotExist(err) {
		t.Errorf("checkRejectsDir left %s behind (stat: %v)", filepath.Join(dir, "new"), err)
	}
}

// TestCheckRejectsDirConcurrently: loads started together check the same
// missing REJECTS_DIR; each removes the directory it made when done, which
// may be between another's MkdirAll and its write. None is refused (QA: 2
// starts in 25 said a writable directory was not writable).
func TestCheckRejectsDirConcurrently(t *testing.T) {
	base := t.TempDir()
	for round := 0; round < 200; round++ {
		dir := filepath.Join(base, fmt.Sprintf("r%d", round), "rejects")
		errc := make(chan error, 8)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errc <- checkRejectsDir(dir)
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}
