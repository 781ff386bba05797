//go:build unix

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/syncbuf"
)

// TestSampleLoadSIGTERM stops `medsales serve --sample N` (the real
// binary) with SIGTERM, as ECS and Ctrl-C do, while it loads the sample's
// NPPES file. An interrupted quick start is a shutdown that was asked
// for, not an error: the process exits 0 as a SIGTERM during serve does,
// logs the interruption at WARN naming the datasets it loaded and those
// it left, logs nothing at ERROR, and leaves the database as it was
// before the interrupted load (the load recorded as failed, what was
// served before still served).
func TestSampleLoadSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and signals it; skipped with -short")
	}
	bin := medsalesBinary(t)
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{"DATABASE_URL": eng.url(t), "REJECTS_DIR": filepath.Join(dir, "rejects")}
			getenv := func(k string) string { return env[k] }
			c := exec.Command(bin, "serve", "--sample", "150000", "--addr", freeAddr(t))
			c.Dir = dir // PostgreSQL: the sample files go to data/sample here
			c.Env = []string{"DATABASE_URL=" + env["DATABASE_URL"], "REJECTS_DIR=" + env["REJECTS_DIR"], "SHUTDOWN_DRAIN=0s"}
			// Read while the process writes them: locked.
			var stdout, stderr syncbuf.Buffer
			c.Stdout, c.Stderr = &stdout, &stderr
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if c.ProcessState == nil {
					_ = c.Process.Kill()
					_ = c.Wait()
				}
			})

			// Signalled once the NPPES load has recorded its start.
			var before map[string]any
			deadline := time.Now().Add(2 * time.Minute)
			for before == nil {
				if time.Now().After(deadline) {
					t.Fatalf("the sample's NPPES load did not start within 2 minutes\n%s%s", stdout.String(), stderr.String())
				}
				time.Sleep(20 * time.Millisecond)
				if !strings.Contains(stdout.String(), "loaded nucc") {
					continue
				}
				v := datasetsJSON(t, getenv)
				for _, h := range historyOf(v) {
					if h["dataset"] == "nppes" && h["status"] == "running" {
						before = v
					}
				}
			}
			if err := c.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := c.Wait(); err != nil {
				t.Errorf("serve --sample after SIGTERM during the load: %v, want exit status 0 as a SIGTERM during serve gives\n%s", err, stderr.String())
			}

			warned := interruptedWarning(t, stderr.String())
			if loaded := stringsOf(warned["loaded"]); !slices.Contains(loaded, "zcta") || !slices.Contains(loaded, "nucc") || slices.Contains(loaded, "nppes") {
				t.Errorf("interruption line: loaded %v, want zcta and nucc, not nppes", loaded)
			}
			if left := stringsOf(warned["not_loaded"]); !slices.Contains(left, "nppes") || !slices.Contains(left, "openpayments") {
				t.Errorf("interruption line: not_loaded %v, want nppes and the datasets after it", left)
			}

			after := datasetsJSON(t, getenv)
			if !sameCurrent(before, after) {
				t.Errorf("what is served changed:\nbefore %v\nafter  %v", before["current"], after["current"])
			}
			var nppes map[string]any
			for _, h := range historyOf(after) {
				if h["status"] == "running" {
					t.Errorf("a load is left running: %v", h)
				}
				if h["dataset"] == "nppes" && nppes == nil {
					nppes = h
				}
			}
			const reason = "interrupted: the load was cancelled before it finished"
			if nppes == nil || nppes["status"] != "failed" || nppes["error"] != reason {
				t.Errorf("the interrupted NPPES load's history: %v, want failed with %q", nppes, reason)
			}
		})
	}
}

// TestSampleGenerationSIGTERM stops `medsales serve --sample N` (the real
// binary) with SIGTERM while it still writes the sample files, for more
// providers than it could write in a stop's grace period: writing stops
// with the first file unfinished and no temporary file left, nothing is
// loaded, the interruption is logged at WARN with every dataset not
// loaded, nothing at ERROR, and the process exits 0. The files were all
// written first, minutes for millions of providers, past the 30 s ECS
// gives before SIGKILL.
func TestSampleGenerationSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and signals it; skipped with -short")
	}
	bin := medsalesBinary(t)
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			dir := t.TempDir()
			url := eng.url(t)
			if strings.HasPrefix(url, "sqlite:") {
				// The sample goes beside the SQLite file: data/sample in dir,
				// as on PostgreSQL.
				url = "sqlite:" + filepath.Join(dir, "data", "medsales.db")
			}
			env := map[string]string{"DATABASE_URL": url}
			getenv := func(k string) string { return env[k] }
			sampleDir := filepath.Join(dir, "data", "sample")
			c := exec.Command(bin, "serve", "--sample", "5000000", "--addr", freeAddr(t))
			c.Dir = dir
			c.Env = []string{"DATABASE_URL=" + url, "REJECTS_DIR=" + filepath.Join(dir, "rejects"), "SHUTDOWN_DRAIN=0s"}
			var stderr syncbuf.Buffer
			c.Stderr = &stderr
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			// exited is closed once the process has exited, with its
			// status in waitErr.
			exited := make(chan struct{})
			var waitErr error
			go func() {
				waitErr = c.Wait()
				close(exited)
			}()
			t.Cleanup(func() {
				select {
				case <-exited:
				default:
					_ = c.Process.Kill()
					<-exited
				}
			})

			// Signalled once the first file is being written (under a
			// temporary name).
			deadline := time.Now().Add(2 * time.Minute)
			for {
				if m, _ := filepath.Glob(filepath.Join(sampleDir, ".npidata_pfile_*")); len(m) > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the sample's NPPES file was not being written within 2 minutes\n%s", stderr.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := c.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case <-exited:
				if waitErr != nil {
					t.Errorf("serve --sample after SIGTERM while writing the sample: %v, want exit status 0\n%s", waitErr, stderr.String())
				}
			case <-time.After(2 * time.Minute):
				t.Fatalf("serve --sample still running 2 minutes after SIGTERM\n%s", stderr.String())
			}

			entries, err := os.ReadDir(sampleDir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				t.Errorf("sample file left after the interrupted write: %s", e.Name())
			}
			warned := interruptedWarning(t, stderr.String())
			if loaded, left := stringsOf(warned["loaded"]), stringsOf(warned["not_loaded"]); len(loaded) != 0 || len(left) != 9 {
				t.Errorf("interruption line: loaded %v, not_loaded %v; want none loaded, all 9 datasets left", loaded, left)
			}
			if hist := historyOf(datasetsJSON(t, getenv)); len(hist) != 0 {
				t.Errorf("history after the interrupted write: %v, want no load", hist)
			}
		})
	}
}

// historyOf returns the load history of a `medsales datasets --json`.
func historyOf(v map[string]any) []map[string]any {
	var hist []map[string]any
	items, _ := v["history"].([]any)
	for _, it := range items {
		if h, ok := it.(map[string]any); ok {
			hist = append(hist, h)
		}
	}
	return hist
}

// stringsOf returns the strings of a JSON array.
func stringsOf(v any) []string {
	var out []string
	items, _ := v.([]any)
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// interruptedWarning checks that every line of a run's stderr is a log
// record, none at ERROR, and returns the WARN record "sample load
// interrupted", failing the test when there is none.
func interruptedWarning(t *testing.T, stderr string) map[string]any {
	t.Helper()
	var warned map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("stderr line is not a log record: %s", line)
			continue
		}
		if rec["level"] == "ERROR" {
			t.Errorf("logged at ERROR: %s", line)
		}
		if rec["msg"] == "sample load interrupted" {
			warned = rec
		}
	}
	if warned == nil || warned["level"] != "WARN" {
		t.Fatalf("no WARN line \"sample load interrupted\" (got %v)\n%s", warned, stderr)
	}
	return warned
}
