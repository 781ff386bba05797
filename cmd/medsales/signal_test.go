package main

import (
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSecondSignalEndsTheProcess: a first SIGINT starts the graceful stop
// (here a 60-second drain); a second one ends the process at once, as the
// default handling of the signal does. The second signal was swallowed
// and the operator had to wait for the drain or kill -9.
func TestSecondSignalEndsTheProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "medsales")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "--addr", addr)
	cmd.Env = []string{"DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "a.db"), "SHUTDOWN_DRAIN=60s", "LOG_LEVEL=warn"}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready within 60s")
		}
		time.Sleep(25 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// The drain has begun: /readyz fails while requests are still served.
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				break
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("the server ended on the first signal, before its 60s drain: %v", err)
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("after the second signal: %v, want the process ended by it", err)
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
			t.Fatalf("after the second signal: %v, want the process ended by SIGINT", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the second SIGINT did not end the process (still draining 20s later)")
	}
}
