package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales/sample"
	"github.com/medplatform/medplatform/internal/platform/db"
)

// TestKilledLoadKeepsPreviousVersion loads a small NPPES release with the
// real binary, then starts loading a large one and kills the process with
// SIGKILL partway, twice, on each engine. After every kill the previous
// release must still be complete and served; the next load must succeed,
// and readers polling during it must only ever see the old release or the
// new one, never a mix.
func TestKilledLoadKeepsPreviousVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it; skipped with -short")
	}
	bin := medsalesBinary(t)
	dir := t.TempDir()
	small, err := sample.Write(filepath.Join(dir, "small"), sample.Options{Providers: 500, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	const bigN = 150_000
	big, err := sample.Write(filepath.Join(dir, "big"), sample.Options{Providers: bigN, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			url := eng.url(t)
			ingest := func(file string) *exec.Cmd {
				c := exec.Command(bin, "ingest", "--progress", "none", "nppes", file)
				c.Env = []string{"DATABASE_URL=" + url, "LOG_LEVEL=warn", "REJECTS_DIR=" + filepath.Join(dir, "rejects")}
				return c
			}
			if out, err := ingest(small.NPPES).CombinedOutput(); err != nil {
				t.Fatalf("first load: %v\n%s", err, out)
			}
			d, err := db.Open(context.Background(), url, db.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			count := func() int {
				var n int
				if err := d.SQL.QueryRow(`SELECT COUNT(*) FROM providers`).Scan(&n); err != nil {
					t.Fatalf("count providers: %v", err)
				}
				return n
			}
			want := small.Counts.NPPES
			if n := count(); n != want {
				t.Fatalf("after the first load: %d providers, want %d", n, want)
			}
			fingerprint := providersFingerprint(t, d)

			versions := func() int {
				var n int
				if err := d.SQL.QueryRow(`SELECT COUNT(*) FROM dataset_versions WHERE dataset = 'nppes'`).Scan(&n); err != nil {
					t.Fatalf("count versions: %v", err)
				}
				return n
			}
			for round := 1; round <= 2; round++ {
				before := versions()
				c := ingest(big.NPPES)
				var out bytes.Buffer
				c.Stdout, c.Stderr = &out, &out
				if err := c.Start(); err != nil {
					t.Fatal(err)
				}
				// Killed at a random moment once the load has recorded its
				// start (its history row, which the kill must leave to be
				// marked failed): a fixed delay from the process start
				// killed it before that on a busy machine.
				started := time.Now()
				for versions() == before {
					if time.Since(started) > time.Minute {
						t.Fatalf("round %d: the load recorded no start within a minute\n%s", round, out.String())
					}
					time.Sleep(10 * time.Millisecond)
				}
				time.Sleep(time.Duration(rand.IntN(900)) * time.Millisecond)
				delay := time.Since(started).Round(time.Millisecond)
				if err := c.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatalf("round %d: kill: %v", round, err)
				}
				err := c.Wait()
				ws, _ := c.ProcessState.Sys().(syscall.WaitStatus)
				if err == nil || !ws.Signaled() {
					t.Fatalf("round %d: the load finished before the kill at %s (make the file bigger): %v\n%s", round, delay, err, out.String())
				}
				if n := count(); n != want {
					t.Fatalf("round %d: after SIGKILL at %s: %d providers served, want the previous %d", round, delay, n, want)
				}
				if fp := providersFingerprint(t, d); fp != fingerprint {
					t.Fatalf("round %d: previous release changed after the kill", round)
				}
				t.Logf("round %d: killed %s into the load; previous release intact (%d providers)", round, delay, want)
			}

			// The re-run succeeds; concurrent readers see old or new, never a mix.
			stop := make(chan struct{})
			var seen sync.Map
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					var n int
					if err := d.SQL.QueryRow(`SELECT COUNT(*) FROM providers`).Scan(&n); err == nil {
						seen.Store(n, true)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()
			out, err := ingest(big.NPPES).CombinedOutput()
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatalf("re-run after the kills: %v\n%s", err, out)
			}
			if n := count(); n != big.Counts.NPPES {
				t.Fatalf("after the re-run: %d providers, want %d", n, big.Counts.NPPES)
			}
			var counts []string
			seen.Range(func(k, _ any) bool {
				n := k.(int)
				counts = append(counts, fmt.Sprint(n))
				if n != want && n != big.Counts.NPPES {
					t.Errorf("a reader saw %d providers during the load: neither the old %d nor the new %d", n, want, big.Counts.NPPES)
				}
				return true
			})
			t.Logf("counts seen by readers during the re-run: %s", strings.Join(counts, ", "))

			// The killed loads are in the history as failed, the re-run as
			// succeeded.
			var failed, ok int
			if err := d.SQL.QueryRow(`SELECT
				COUNT(CASE WHEN status = 'failed' THEN 1 END), COUNT(CASE WHEN status = 'succeeded' THEN 1 END)
				FROM dataset_versions WHERE dataset = 'nppes'`).Scan(&failed, &ok); err != nil {
				t.Fatal(err)
			}
			if failed != 2 || ok != 2 {
				t.Errorf("history: %d failed, %d succeeded loads; want 2 and 2", failed, ok)
			}
		})
	}
}

// providersFingerprint summarises the served provider data so a test can
// tell whether it changed.
func providersFingerprint(t *testing.T, d *db.DB) string {
	t.Helper()
	var n, taxes int
	var minNPI, maxNPI, lastName string
	if err := d.SQL.QueryRow(`SELECT COUNT(*), MIN(npi), MAX(npi), COALESCE(MAX(last_name), '') FROM providers`).Scan(&n, &minNPI, &maxNPI, &lastName); err != nil {
		t.Fatal(err)
	}
	if err := d.SQL.QueryRow(`SELECT COUNT(*) FROM provider_taxonomies`).Scan(&taxes); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(n, minNPI, maxNPI, lastName, taxes)
}
