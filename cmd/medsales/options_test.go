package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/server/servertest"
)

// TestOptionsAsterisk: `OPTIONS *` gets the API's answer to OPTIONS on a
// route (servertest.OptionsAsteriskIsAProblem).
func TestOptionsAsterisk(t *testing.T) {
	addr := freeAddr(t)
	base := "http://" + addr
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "medsales.db"), "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr}, func(k string) string { return env[k] }, nil, io.Discard, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	waitReady(t, base+"/readyz", done)

	servertest.OptionsAsteriskIsAProblem(t, base, "/v1/datasets")
}
