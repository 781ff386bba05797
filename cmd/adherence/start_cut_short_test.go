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
// migrations running, at a deployment that replaced the task as it
// started) is the stop asked: exit 0 with a warning, where it was exit 1
// with "apply migrations: partial migration error … context canceled".
// The next start applies the migrations.
func TestShutdownWhileStarting(t *testing.T) {
	urls := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "adherence.db")}
	if os.Getenv("TEST_DATABASE_URL") != "" {
		urls["postgres"] = dbtest.PostgresURL(t)
	}
	for engine, url := range urls {
		t.Run(engine, func(t *testing.T) {
			env := map[string]string{"DATABASE_URL": url, "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn",
				"SMS_PROVIDERS": "console", "PUSH_PROVIDERS": "none", "EMAIL_PROVIDERS": "none"}
			for _, cmd := range []string{"serve", "worker"} {
				ctx, cancel := context.WithCancel(context.Background())
				cancel() // the signal came before the first migration
				log := &syncbuf.Buffer{}
				if err := run(ctx, []string{cmd, "--addr", freeAddr(t)}, envOf(env), nil, nil, log); err != nil {
					t.Errorf("%s stopped while starting: %v, want no error (exit 0)", cmd, err)
				}
				if !strings.Contains(log.String(), "stopped while starting") {
					t.Errorf("%s stopped while starting logged %q, want a warning saying so", cmd, log.String())
				}
			}
			// The signal during the migrations (a fresh database takes
			// longer than 50 ms to migrate): the step cut short is one
			// of them, and its error is not a failure either.
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			if err := run(ctx, []string{"serve", "--addr", freeAddr(t)}, envOf(env), nil, nil, &syncbuf.Buffer{}); err != nil {
				t.Errorf("serve stopped during its migrations: %v, want no error (exit 0)", err)
			}
			ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := run(ctx, []string{"migrate"}, envOf(env), nil, &syncbuf.Buffer{}, &syncbuf.Buffer{}); err != nil {
				t.Errorf("migrate after the interrupted starts: %v", err)
			}
		})
	}
}
