package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/server/servertest"
)

// TestWorkerProblemsCarryRequestID: the worker's listener (health and
// metrics only) answers an unknown route or a wrong method with the
// X-Request-Id the API servers set on every answer
// (servertest.ProblemsCarryRequestID), and `OPTIONS *` as the API does.
func TestWorkerProblemsCarryRequestID(t *testing.T) {
	addr := freeAddr(t)
	base := "http://" + addr
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "adherence.db"), "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"worker", "--addr", addr}, envOf(env), nil, io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	waitReady(t, base+"/readyz", done)

	servertest.ProblemsCarryRequestID(t, base, false)
	servertest.OptionsAsteriskIsAProblem(t, base, "/livez")
}
