package api_test

import (
	"context"
	"encoding/json"
	"io"
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

// TestIngestionAfterKilledWorker: POST /v1/ingestions of a request whose
// job is still queued answers it as a duplicate; once that job's worker
// was killed mid-load (the job left running, its attempt begun long ago,
// its dataset's lock free), the same POST queues a new job at once.
func TestIngestionAfterKilledWorker(t *testing.T) {
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
		srv := httptest.NewServer(api.NewServer(api.Deps{
			Store: st, Health: health.New(nil, time.Second, time.Now, log), Registry: prometheus.NewRegistry(),
			Logger: log, Jobs: jc, IngestToken: "tok", AllowedSources: []string{dir + "/"},
		}))
		defer srv.Close()
		post := func() (id int64, duplicate bool) {
			t.Helper()
			status, b := postIngestion(t, srv.URL, `{"dataset":"nppes","source":"`+filepath.Join(dir, "npidata_pfile_20050523-20260810.csv")+`"}`)
			var out struct {
				JobID     int64 `json:"jobId"`
				Duplicate bool  `json:"duplicate"`
			}
			if status != http.StatusAccepted || json.Unmarshal(b, &out) != nil {
				t.Fatalf("POST /v1/ingestions: %d %s", status, b)
			}
			return out.JobID, out.Duplicate
		}

		first, dup := post()
		if dup {
			t.Fatal("the first request was answered as a duplicate")
		}
		if again, dup := post(); !dup || again != first {
			t.Fatalf("the same request while the first is queued: job %d, duplicate %v; want a duplicate of %d", again, dup, first)
		}
		// The worker took the job two hours ago, recorded the load and
		// was killed.
		ago := "now() - interval '2 hours'"
		if d.Dialect == db.SQLite {
			ago = "datetime('now', '-2 hours')"
		}
		if _, err := d.SQL.ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = `+ago+` WHERE id = $1`, first); err != nil {
			t.Fatal(err)
		}
		if _, err := st.StartVersion(ctx, store.Version{Dataset: medsales.NPPES, Mode: store.ModeFull, SourceFile: "npidata_pfile_20050523-20260810.csv",
			StartedAt: time.Now().Add(-2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}

		next, dup := post()
		if dup || next == first {
			t.Fatalf("the same request after the worker was killed: job %d, duplicate %v; want a new job", next, dup)
		}
		j, err := jc.Job(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != "discarded" || len(j.Errors) != 1 || j.Errors[0].Error != ingest.DeadJobError {
			t.Errorf("the dead job: %s, errors %+v; want discarded with %q", j.State, j.Errors, ingest.DeadJobError)
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

// postIngestion posts body to POST /v1/ingestions of the server at base
// with the bearer token "tok", and returns the status and body.
func postIngestion(t *testing.T, base, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/v1/ingestions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}
