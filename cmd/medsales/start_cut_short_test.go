package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/syncbuf"
)

// TestShutdownWhileStarting: a SIGTERM while serve or worker starts (its
// migrations running) is the stop asked: exit 0 with a warning, not exit 1
// with the cancelled migration's error. The next start migrates.
func TestShutdownWhileStarting(t *testing.T) {
	urls := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "medsales.db")}
	if os.Getenv("TEST_DATABASE_URL") != "" {
		urls["postgres"] = dbtest.PostgresURL(t)
	}
	for engine, url := range urls {
		t.Run(engine, func(t *testing.T) {
			getenv := func(k string) string {
				return map[string]string{"DATABASE_URL": url, "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"}[k]
			}
			for _, cmd := range []string{"serve", "worker"} {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				log := &syncbuf.Buffer{}
				if err := run(ctx, []string{cmd, "--addr", freeAddr(t)}, getenv, nil, &syncbuf.Buffer{}, log); err != nil {
					t.Errorf("%s stopped while starting: %v, want no error (exit 0)", cmd, err)
				}
				if !strings.Contains(log.String(), "stopped while starting") {
					t.Errorf("%s stopped while starting logged %q, want a warning saying so", cmd, log.String())
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			if err := run(ctx, []string{"serve", "--addr", freeAddr(t)}, getenv, nil, &syncbuf.Buffer{}, &syncbuf.Buffer{}); err != nil {
				t.Errorf("serve stopped during its migrations: %v, want no error (exit 0)", err)
			}
			ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := run(ctx, []string{"migrate"}, getenv, nil, &syncbuf.Buffer{}, &syncbuf.Buffer{}); err != nil {
				t.Errorf("migrate after the interrupted starts: %v", err)
			}
		})
	}
}
