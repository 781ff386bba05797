package ingest_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/jobs"
)

// TestWorkerStopRequeuesLoad stops the job workers while a load runs, as
// SIGTERM does once the grace period is spent: the load records that the
// worker is shutting down (not the step that saw the context end), leaves
// no staging table behind, and River puts the job back in the queue
// without using up its one attempt, so it runs again.
func TestWorkerStopRequeuesLoad(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		// The file's header and first row arrive, then nothing more until
		// the request is abandoned: the load is mid-file when stopped.
		b, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", npiFile))
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.Join(strings.SplitAfter(string(b), "\n")[:2], ""))
		quit := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(b)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-quit:
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(quit) })

		workers := river.NewWorkers()
		river.AddWorker(workers, &ingest.Worker{Service: e.svc, DB: e.d, Logger: e.svc.Logger})
		c, err := jobs.New(e.d, jobs.Config{Workers: workers, RunWorkers: true, MaxWorkers: 1, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Insert(ctx, ingest.JobArgs{Request: ingest.Request{Dataset: medsales.NPPES, Source: srv.URL + "/" + npiFile}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, func() bool {
			return count(t, e.d, "SELECT COUNT(*) FROM dataset_versions WHERE status = 'running'") == 1
		})
		// The grace period is spent: Stop cancels the running job.
		spent, cancel := context.WithCancel(ctx)
		cancel()
		if err := c.Stop(spent); err != nil {
			t.Fatalf("Stop: %v", err)
		}

		hist, err := e.st.Versions(ctx, medsales.NPPES, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 1 || hist[0].Status != store.StatusFailed || hist[0].Error != string(ingest.WorkerStopping) {
			t.Errorf("history = %+v, want the load failed with %q", hist, ingest.WorkerStopping)
		}
		j, err := c.Job(ctx, res.Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != rivertype.JobStateAvailable || j.Attempt != 0 {
			t.Errorf("job %s, attempt %d; want available again, attempt 0 (it runs again)", j.State, j.Attempt)
		}
		staging := "SELECT COUNT(*) FROM pg_class WHERE relkind = 'r' AND relname LIKE '%\\_\\_stg\\_%'"
		if e.d.Dialect == db.SQLite {
			staging = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name LIKE '%\\_\\_stg\\_%' ESCAPE '\\'"
		}
		if n := count(t, e.d, staging); n != 0 {
			t.Errorf("%d staging tables left behind", n)
		}
		if n := count(t, e.d, "SELECT COUNT(*) FROM providers"); n != 0 {
			t.Errorf("%d providers live after the stopped load, want none", n)
		}
	})
}
