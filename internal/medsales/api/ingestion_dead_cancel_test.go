package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/api"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/jobs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestIngestionDeadJobCleanupOutlivesClient: the look for dead jobs that
// POST /v1/ingestions makes before queuing runs to its end even when the
// client has gone (its request's context cancelled): the dead job is
// discarded and its history row marked failed together, never the job
// alone with the history left running until the dataset's next load.
func TestIngestionDeadJobCleanupOutlivesClient(t *testing.T) {
	dbtest.Each(t, []migrate.Set{store.Migrations}, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		log := slog.New(slog.DiscardHandler)
		st := store.New(d)
		workers := river.NewWorkers()
		river.AddWorker(workers, &ingest.Worker{Service: &ingest.Service{Store: st, Logger: log, Now: time.Now}, DB: d, Logger: log})
		jc, err := jobs.New(d, jobs.Config{Workers: workers, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		h := api.NewServer(api.Deps{
			Store: st, Health: health.New(nil, time.Second, time.Now, log), Registry: prometheus.NewRegistry(),
			Logger: log, Jobs: jc, IngestToken: "tok", AllowedSources: []string{dir + "/"},
		})
		src := filepath.Join(dir, "npidata_pfile_20050523-20260810.csv")
		res, err := jc.Insert(ctx, ingest.JobArgs{Request: ingest.Request{Dataset: medsales.NPPES, Source: src}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Its worker took it two hours ago, recorded the load and was
		// killed.
		ago := "now() - interval '2 hours'"
		if d.Dialect == db.SQLite {
			ago = "datetime('now', '-2 hours')"
		}
		if _, err := d.SQL.ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = `+ago+` WHERE id = $1`, res.Job.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.StartVersion(ctx, store.Version{Dataset: medsales.NPPES, Mode: store.ModeFull, SourceFile: filepath.Base(src),
			StartedAt: time.Now().Add(-2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}

		// The client is gone by the time the handler looks for dead jobs.
		gone, cancel := context.WithCancel(ctx)
		cancel()
		req := httptest.NewRequest(http.MethodPost, "/v1/ingestions", strings.NewReader(`{"dataset":"nppes","source":"`+src+`"}`)).WithContext(gone)
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(httptest.NewRecorder(), req)

		j, err := jc.Job(ctx, res.Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != "discarded" {
			t.Errorf("the dead job: %s, want discarded", j.State)
		}
		hist, err := st.Versions(ctx, medsales.NPPES, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 1 || hist[0].Status != store.StatusFailed || hist[0].Error != store.InterruptedReason {
			t.Errorf("history = %+v, want the killed load failed as interrupted", hist)
		}
	})
}
