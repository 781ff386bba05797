//go:build unix

package ingest_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/medsales/store"
)

// TestRunCancelledWhileSourceStalls: Ctrl-C on medsales ingest (the
// load's context cancelled) while the source sends nothing stops the load
// promptly, records it failed as cancelled, and leaves the previous
// version served: a remote that stops sending, a named pipe whose writer
// sends nothing, and a named pipe no writer has opened yet. The local
// pipe was read, and opened, with no regard for the context: the load
// hung until the writer sent something or went away.
func TestRunCancelledWhileSourceStalls(t *testing.T) {
	// The header and first row arrive, then nothing more.
	b, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", partDFile))
	if err != nil {
		t.Fatal(err)
	}
	head := []byte(strings.Join(strings.SplitAfter(string(b), "\n")[:2], ""))
	const name = "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv"
	tests := []struct {
		name string
		// source returns the source to load; it sends head unless
		// silent, then nothing until the test ends.
		source  func(t *testing.T, dir string) string
		started bool // the load gets as far as recording its start
	}{
		{name: "remote stops sending", started: true, source: func(t *testing.T, dir string) string {
			quit := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(head)
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
				case <-quit:
				}
			}))
			t.Cleanup(srv.Close)
			t.Cleanup(func() { close(quit) })
			return srv.URL + "/" + name
		}},
		{name: "named pipe whose writer sends nothing more", started: true, source: func(t *testing.T, dir string) string {
			p := fifo(t, dir, name)
			quit := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				f, err := os.OpenFile(p, os.O_WRONLY, 0)
				if err != nil {
					return
				}
				defer f.Close()
				_, _ = f.Write(head)
				<-quit
			}()
			t.Cleanup(func() { close(quit); <-done })
			return p
		}},
		{name: "named pipe no writer opens", source: func(t *testing.T, dir string) string {
			p := fifo(t, dir, name)
			t.Cleanup(func() {
				// Releases an open that is still waiting for a writer.
				if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
			})
			return p
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			each(t, func(t *testing.T, e env) {
				ctx := context.Background()
				if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.PartD, Source: sample(t, e.dir, partDFile, 5)}, nil); err != nil {
					t.Fatalf("first load: %v", err)
				}
				served := count(t, e.d, "SELECT COUNT(*) FROM partd_drugs")

				src := tt.source(t, t.TempDir())
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				// Run reads the clock once it holds the dataset's lock,
				// just before it opens the source.
				locked := make(chan struct{})
				var once sync.Once
				e.svc.Now = func() time.Time { once.Do(func() { close(locked) }); return time.Now() }
				type result struct{ err error }
				done := make(chan result, 1)
				go func() {
					_, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.PartD, Source: src}, nil)
					done <- result{err}
				}()
				<-locked
				if tt.started {
					waitFor(t, 30*time.Second, func() bool {
						return count(t, e.d, "SELECT COUNT(*) FROM dataset_versions WHERE status = 'running'") == 1
					})
				}
				time.Sleep(200 * time.Millisecond) // the load is waiting for the source
				cancel()
				var res result
				select {
				case res = <-done:
				case <-time.After(15 * time.Second):
					t.Fatal("Run still waits for the source 15 s after its context was cancelled")
				}
				const reason = "interrupted: the load was cancelled before it finished"
				if res.err == nil || !strings.HasPrefix(res.err.Error(), reason) || !errors.Is(res.err, context.Canceled) {
					t.Errorf("Run = %v, want an error beginning %q that wraps context.Canceled", res.err, reason)
				}
				hist, err := e.st.Versions(context.Background(), medsales.PartD, 10)
				if err != nil {
					t.Fatal(err)
				}
				if len(hist) != 2 || hist[0].Status != store.StatusFailed || hist[0].Error != reason || hist[1].Status != store.StatusSucceeded {
					t.Errorf("history = %+v, want the stalled load failed with %q after the first one", hist, reason)
				}
				if n := count(t, e.d, "SELECT COUNT(*) FROM partd_drugs"); n != served {
					t.Errorf("%d Part D rows served after the cancelled load, want the %d of the first", n, served)
				}
			})
		})
	}
}

// fifo makes a named pipe called name in dir and returns its path.
func fifo(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	return p
}
