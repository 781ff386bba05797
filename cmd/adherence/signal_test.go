package main

import (
	"path/filepath"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/server/servertest"
)

// TestSecondSignalEndsTheProcess: a first SIGINT starts the graceful stop
// (here a 60-second drain); a second one ends the process at once. The
// second signal was swallowed and the operator had to wait for the drain
// or kill -9.
func TestSecondSignalEndsTheProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := adherenceBinary(t)
	env := []string{"DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "a.db"), "SHUTDOWN_DRAIN=60s", "LOG_LEVEL=warn"}
	servertest.SecondSignalEndsTheProcess(t, bin, freeAddr(t), env)
}
