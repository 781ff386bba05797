// Package servertest holds checks of a service binary's process behaviour
// that the commands built on package server share in their tests.
package servertest

import (
	"errors"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// SecondSignalEndsTheProcess starts `bin serve --addr addr` with env (which
// must set a long SHUTDOWN_DRAIN, say 60s), waits for /readyz, sends SIGINT
// and waits for the drain to begin (/readyz 503), then sends SIGINT again:
// the second signal must end the process at once, as the default handling
// of the signal does, not after the drain.
func SecondSignalEndsTheProcess(t *testing.T, bin, addr string, env []string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", addr)
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	ready := "http://" + addr + "/readyz"
	waitStatus := func(want int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			if resp, err := http.Get(ready); err == nil {
				resp.Body.Close()
				if resp.StatusCode == want {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz did not answer %d within 60s", want)
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	waitStatus(http.StatusOK)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// The drain has begun: /readyz fails while requests are still served.
	waitStatus(http.StatusServiceUnavailable)
	select {
	case err := <-done:
		t.Fatalf("the server ended on the first signal, before its drain: %v", err)
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		ws, ok := syscall.WaitStatus(0), false
		if errors.As(err, &ee) {
			ws, ok = ee.Sys().(syscall.WaitStatus)
		}
		if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
			t.Fatalf("after the second signal: %v, want the process ended by SIGINT", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the second SIGINT did not end the process (still draining 20s later)")
	}
}
