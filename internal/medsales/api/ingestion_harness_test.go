package api_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/medsales/api"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/jobs"
)

// newIngestionServer serves the medsales API on d with a real job client
// (POST /v1/ingestions queues into d's river_job table), the ingestion
// token "tok" and allowed as INGEST_ALLOWED_SOURCES. queued counts the
// jobs in the table. The server is closed when the test ends.
func newIngestionServer(t *testing.T, d *db.DB, allowed ...string) (srv *httptest.Server, queued func() int) {
	t.Helper()
	srv, _ = buildIngestionServer(t, d, "", allowed)
	queued = func() int {
		t.Helper()
		var n int
		if err := d.SQL.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM river_job`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	return srv, queued
}

// newWorkingIngestionServer is newIngestionServer with the job client's
// workers running (one at a time), so queued loads run, writing their
// rejects under rejectsDir; the workers stop when the test ends.
func newWorkingIngestionServer(t *testing.T, d *db.DB, rejectsDir string, allowed ...string) (*httptest.Server, *jobs.Client) {
	t.Helper()
	return buildIngestionServer(t, d, rejectsDir, allowed)
}

// buildIngestionServer builds both: workers run when rejectsDir is set.
func buildIngestionServer(t *testing.T, d *db.DB, rejectsDir string, allowed []string) (*httptest.Server, *jobs.Client) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	st := store.New(d)
	workers := river.NewWorkers()
	river.AddWorker(workers, &ingest.Worker{Service: &ingest.Service{Store: st, Logger: log, Now: time.Now, RejectsDir: rejectsDir}, DB: d, Logger: log})
	run := rejectsDir != ""
	jc, err := jobs.New(d, jobs.Config{Workers: workers, RunWorkers: run, MaxWorkers: 1, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if run {
		if err := jc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := jc.Stop(stop); err != nil {
				t.Error(err)
			}
		})
	}
	srv := httptest.NewServer(api.NewServer(api.Deps{
		Store: st, Health: health.New(nil, time.Second, time.Now, log), Registry: prometheus.NewRegistry(),
		Logger: log, Jobs: jc, IngestToken: "tok", AllowedSources: allowed,
	}))
	t.Cleanup(srv.Close)
	return srv, jc
}
