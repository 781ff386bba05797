package main

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/jobs"
	"github.com/medplatform/medplatform/internal/platform/server"
)

// TestShutdownFitsECSStopTimeout: the steps of a shutdown with the
// database stalled, each at its bound (the default SHUTDOWN_DRAIN, the
// request and job budget, the jobs' cancellation, the group committers'
// drain, the database's close), end within 28 s: 2 s short of the 30 s
// ECS gives a task between SIGTERM and SIGKILL (deploy/terraform's
// stopTimeout). The drain of the committers, added at 1 s, took the sum to
// 30 s, and QA measured 30.05 s.
func TestShutdownFitsECSStopTimeout(t *testing.T) {
	s, err := loadSettings(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	total := s.ShutdownDrain + server.DefaultShutdownTimeout + jobs.CancelWait + ingestDrain + db.DefaultCloseTimeout
	if total > 28*time.Second {
		t.Fatalf("shutdown may take %s (drain %s + requests and jobs %s + job cancellation %s + committers %s + database close %s), over 28 s",
			total, s.ShutdownDrain, server.DefaultShutdownTimeout, jobs.CancelWait, ingestDrain, db.DefaultCloseTimeout)
	}
}
