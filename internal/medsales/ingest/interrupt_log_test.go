package ingest_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
)

// TestRunInterruptedLogLevel: a load stopped because its context ended
// for a stop that was asked for (SIGTERM or Ctrl-C, a worker shutting
// down, a job cancelled) is logged at WARN as "ingest interrupted", not
// at ERROR: `medsales serve --sample` stopped by ECS logged an error. A
// load past its time limit is a failure and stays at ERROR.
func TestRunInterruptedLogLevel(t *testing.T) {
	for _, tt := range []struct {
		name      string
		cause     error // of the context's end; nil: a plain cancel
		wantLevel string
		wantMsg   string
	}{
		{"cancelled", nil, "WARN", "ingest interrupted"},
		{"worker stopping", ingest.WorkerStopping, "WARN", "ingest interrupted"},
		{"job cancelled", ingest.JobCancelled, "WARN", "ingest interrupted"},
		{"job timed out", ingest.JobTimedOut, "ERROR", "ingest failed"},
		{"deadline", context.DeadlineExceeded, "ERROR", "ingest failed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			each(t, func(t *testing.T, e env) {
				// The context ends while the load runs: at its last
				// progress report, once every row is read.
				ctx, stop := context.WithCancelCause(context.Background())
				defer stop(nil)
				progress := stopAtProgress(func() { stop(tt.cause) })
				if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NPPES, Source: sample(t, e.dir, npiFile, 0)}, progress); err == nil {
					t.Fatal("a load on an ended context succeeded")
				}
				var last map[string]any
				for _, l := range strings.Split(strings.TrimSpace(e.log.String()), "\n") {
					var rec map[string]any
					if json.Unmarshal([]byte(l), &rec) == nil && strings.HasPrefix(rec["msg"].(string), "ingest ") {
						last = rec
					}
				}
				if last == nil {
					t.Fatalf("no line logs the load's end:\n%s", e.log.String())
				}
				if last["level"] != tt.wantLevel || last["msg"] != tt.wantMsg {
					t.Errorf("the load's end is logged %v %q, want %s %q", last["level"], last["msg"], tt.wantLevel, tt.wantMsg)
				}
			})
		})
	}
}

// stopAtProgress is a Progress that calls stop at each report.
type stopAtProgress func()

func (p stopAtProgress) Update(rows, bytes, total int64) { p() }
func (p stopAtProgress) Done(error)                      {}
