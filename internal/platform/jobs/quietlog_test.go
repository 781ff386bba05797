package jobs_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/jobs"
)

// TestQuietLogger checks what of River's own logging reaches the product's
// log: warnings and errors, but not info lines, and not the errors that are
// only River's maintenance services cut short by Stop ("context
// canceled"), which River logs at ERROR at every shutdown.
func TestQuietLogger(t *testing.T) {
	var buf bytes.Buffer
	log := jobs.QuietLogger(slog.New(slog.NewJSONHandler(&buf, nil))).With("svc", "river")
	ctx := context.Background()
	log.InfoContext(ctx, "job completed")
	log.ErrorContext(ctx, "maintenance.PeriodicJobEnqueuer: Error starting transaction", "error", context.Canceled.Error())
	log.ErrorContext(ctx, "producer: Error fetching jobs", slog.String("err", context.Canceled.Error()))
	log.ErrorContext(ctx, "elector: Error keeping leadership", "client_id", "c1", "err", context.Canceled)
	log.ErrorContext(ctx, "JobScheduler: Error scheduling jobs", "error", "connection refused")
	log.ErrorContext(ctx, "producer: Error updating queue metadata", slog.String("err", "connection reset"))
	log.WarnContext(ctx, "producer: slow fetch")
	log.ErrorContext(ctx, "leadership.Elector: Error attempting to resign", "err", "leadership.Elector.attemptResign timed out after 1s: context deadline exceeded")

	got := buf.String()
	for _, want := range []string{"Error scheduling jobs", "Error updating queue metadata", "slow fetch"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"job completed", "Error starting transaction", "Error fetching jobs", "Error keeping leadership"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("log holds %q:\n%s", unwanted, got)
		}
	}
	// A leader that could not resign at a stop: kept, as a warning.
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		if strings.Contains(line, "attempting to resign") && !strings.Contains(line, `"level":"WARN"`) {
			t.Errorf("the failed resignation is logged as %s, want a warning", line)
		}
	}
	if !strings.Contains(got, "attempting to resign") {
		t.Errorf("log lacks the failed resignation:\n%s", got)
	}
}
