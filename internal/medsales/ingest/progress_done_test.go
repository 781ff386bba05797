package ingest_test

import (
	"context"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
)

// doneProgress records what Done was told.
type doneProgress struct {
	done bool
	err  error
}

func (p *doneProgress) Update(rows, bytes, total int64) {}

func (p *doneProgress) Done(err error) { p.done, p.err = true, err }

// TestRunTellsProgressHowTheLoadEnded: Run tells the progress whether
// the load failed, so that the terminal bar stops where the load did
// instead of filling to 100% for a load that loaded nothing.
func TestRunTellsProgressHowTheLoadEnded(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		// The sample holds two malformed rows among five: more than the
		// default 1% fails the load, half is allowed.
		src := sample(t, e.dir, "nucc_taxonomy_sample.csv", 0)

		var failed doneProgress
		_, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NUCC, Source: src}, &failed)
		if err == nil {
			t.Fatal("set-up: the load succeeded, want it to fail on its rejected rows")
		}
		if !failed.done || failed.err == nil {
			t.Errorf("failed load: progress Done called %v with %v, want called with the load's error", failed.done, failed.err)
		}

		var ok doneProgress
		if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NUCC, Source: src, MaxRejectRatio: 0.5}, &ok); err != nil {
			t.Fatal(err)
		}
		if !ok.done || ok.err != nil {
			t.Errorf("load that succeeded: progress Done called %v with %v, want called with nil", ok.done, ok.err)
		}
	})
}
