//go:build unix

package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales/sample"
	"github.com/medplatform/medplatform/internal/platform/syncbuf"
)

// TestIngestCtrlCOnSilentPipe: Ctrl-C on `medsales ingest` reading a
// named pipe whose writer sent the header and a row and then nothing more
// (its context cancelled) ends the command within seconds, records the
// load failed as cancelled and leaves what is served as it was. The
// command waited for the writer for ever: the pipe's reads did not heed
// the context. (The source and ingest packages' tests also cover a pipe
// that no writer opens.)
func TestIngestCtrlCOnSilentPipe(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{"DATABASE_URL": eng.url(t), "LOG_LEVEL": "error", "REJECTS_DIR": filepath.Join(dir, "rejects")}
			getenv := func(k string) string { return env[k] }
			files, err := sample.Write(filepath.Join(dir, "sample"), sample.Options{Providers: 20, Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			if err := run(context.Background(), []string{"ingest", "--progress", "none", "nucc", files.NUCC}, getenv, nil, io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
			before := datasetsJSON(t, getenv)

			data, err := os.ReadFile(files.NUCC)
			if err != nil {
				t.Fatal(err)
			}
			head := strings.Join(strings.SplitAfter(string(data), "\n")[:2], "")
			pipe := filepath.Join(dir, filepath.Base(files.NUCC))
			if err := syscall.Mkfifo(pipe, 0o600); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			quit := make(chan struct{})
			written := make(chan struct{})
			go func() {
				defer close(written)
				w, err := os.OpenFile(pipe, os.O_WRONLY, 0)
				if err != nil {
					return
				}
				defer w.Close()
				w.WriteString(head)
				<-quit
			}()
			t.Cleanup(func() {
				close(quit)
				// Releases the writer's open if the command never opened the pipe.
				if f, err := os.OpenFile(pipe, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
				<-written
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			var stderr syncbuf.Buffer
			go func() {
				done <- run(ctx, []string{"ingest", "--progress", "none", "nucc", pipe}, getenv, nil, io.Discard, &stderr)
			}()
			// The load has started and waits for the rest of the file.
			deadline := time.Now().Add(30 * time.Second)
			for {
				hist, _ := datasetsJSON(t, getenv)["history"].([]any)
				if len(hist) == 2 && hist[0].(map[string]any)["status"] == "running" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the load from the pipe did not start: history %v", hist)
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond)
			cancel() // Ctrl-C
			select {
			case err = <-done:
			case <-time.After(15 * time.Second):
				t.Fatal("medsales ingest still waits for the pipe 15 s after Ctrl-C")
			}
			const reason = "interrupted: the load was cancelled before it finished"
			if err == nil || !strings.Contains(err.Error(), reason) {
				t.Errorf("ingest = %v, want an error saying %q", err, reason)
			}
			// The operator is told that the live data did not change,
			// and which it is (QA: only "interrupted" was said).
			if note := "nothing changed: the nucc data served before this load still is (its last successful load: " + filepath.Base(files.NUCC); !strings.Contains(stderr.String(), note) {
				t.Errorf("stderr = %q, want it to say %q", stderr.String(), note)
			}
			after := datasetsJSON(t, getenv)
			if !sameCurrent(before, after) {
				t.Errorf("what is served changed:\nbefore %v\nafter  %v", before, after)
			}
			hist, _ := after["history"].([]any)
			if len(hist) != 2 || hist[0].(map[string]any)["status"] != "failed" || hist[0].(map[string]any)["error"] != reason {
				t.Errorf("history = %v, want the cancelled load first, failed with %q", hist, reason)
			}
		})
	}
}
