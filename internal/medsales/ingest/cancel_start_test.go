package ingest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
)

// TestRunCancelledWhileRecordingStart: a load whose context ends while it
// records its start (Ctrl-C at that moment) is recorded as interrupted,
// like one stopped at any later step. Its start was recorded on the load's
// context: cancelled before the commit it recorded nothing and returned
// "record start of partd load: … context canceled"; cancelled during the
// commit, which PostgreSQL had applied, it left the row running until the
// next load of the dataset.
func TestRunCancelledWhileRecordingStart(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		file := sample(t, e.dir, partDFile, 0)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Run reads the clock once it holds the dataset's lock, just
		// before it records the start: the interrupt arrives there.
		e.svc.Now = func() time.Time { cancel(); return time.Now() }
		_, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.PartD, Source: file}, nil)
		const reason = "interrupted: the load was cancelled before it finished"
		if err == nil || !strings.HasPrefix(err.Error(), reason) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want an error beginning %q that wraps context.Canceled", err, reason)
		}
		if n := count(t, e.d, `SELECT COUNT(*) FROM dataset_versions WHERE status = 'failed' AND error = $1`, reason); n != 1 {
			t.Errorf("%d loads recorded as %q, want 1", n, reason)
		}
		if n := count(t, e.d, `SELECT COUNT(*) FROM dataset_versions WHERE status <> 'failed'`); n != 0 {
			t.Errorf("%d loads recorded as other than failed, want 0", n)
		}
	})
}
