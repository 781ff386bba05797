package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
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

// TestIngestionRedirectOutOfAllowedSources: a load queued through POST
// /v1/ingestions from an allowed host that redirects to a host
// INGEST_ALLOWED_SOURCES does not allow fails without the other host
// being asked: the job is cancelled as bad input and the history says
// which host it was redirected to (scheme and host only) and to add it
// to INGEST_ALLOWED_SOURCES. The worker followed the redirect and loaded
// the other host's file. A redirect within the allowed prefixes is
// followed, and so is, for a load queued otherwise (INGEST_SCHEDULE), one
// to another host.
func TestIngestionRedirectOutOfAllowedSources(t *testing.T) {
	nucc, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", "nucc_taxonomy_sample.csv"))
	if err != nil {
		t.Fatal(err)
	}
	// The sample's good rows: it ends with two it rejects.
	nucc = []byte(strings.Join(strings.SplitAfter(string(nucc), "\n")[:5], ""))
	var otherHits atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		http.ServeContent(w, r, "nucc_taxonomy_251.csv", time.Time{}, strings.NewReader(string(nucc)))
	}))
	t.Cleanup(other.Close)
	allowed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away/nucc_taxonomy_251.csv":
			http.Redirect(w, r, other.URL+"/private/nucc_taxonomy_251.csv?token=tok123", http.StatusFound)
		case "/moved/nucc_taxonomy_251.csv":
			http.Redirect(w, r, "/files/nucc_taxonomy_251.csv", http.StatusFound)
		default:
			http.ServeContent(w, r, "nucc_taxonomy_251.csv", time.Time{}, strings.NewReader(string(nucc)))
		}
	}))
	t.Cleanup(allowed.Close)

	dbtest.Each(t, []migrate.Set{store.Migrations}, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		log := slog.New(slog.DiscardHandler)
		st := store.New(d)
		worker := &ingest.Worker{Service: &ingest.Service{Store: st, Logger: log, Now: time.Now, RejectsDir: t.TempDir()}, Logger: log}
		workers := river.NewWorkers()
		river.AddWorker(workers, worker)
		jc, err := jobs.New(d, jobs.Config{Workers: workers, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(api.NewServer(api.Deps{
			Store: st, Health: health.New(nil, time.Second, time.Now, log), Registry: prometheus.NewRegistry(),
			Logger: log, Jobs: jc, IngestToken: "tok", AllowedSources: []string{allowed.URL + "/"},
		}))
		defer srv.Close()
		// work runs job id as a worker would.
		work := func(id int64) error {
			t.Helper()
			row, err := jc.Job(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			var args ingest.JobArgs
			if err := json.Unmarshal(row.EncodedArgs, &args); err != nil {
				t.Fatal(err)
			}
			return worker.Work(ctx, &river.Job[ingest.JobArgs]{JobRow: row, Args: args})
		}
		queue := func(src string) int64 {
			t.Helper()
			status, b := postIngestion(t, srv.URL, `{"dataset":"nucc","source":"`+src+`"}`)
			var out struct {
				JobID int64 `json:"jobId"`
			}
			if status != http.StatusAccepted || json.Unmarshal(b, &out) != nil {
				t.Fatalf("POST /v1/ingestions: %d %s", status, b)
			}
			return out.JobID
		}
		latest := func() store.Version {
			t.Helper()
			hist, err := st.Versions(ctx, medsales.NUCC, 1)
			if err != nil || len(hist) != 1 {
				t.Fatalf("history: %+v, %v", hist, err)
			}
			return hist[0]
		}

		otherHits.Store(0)
		werr := work(queue(allowed.URL + "/away/nucc_taxonomy_251.csv"))
		if werr == nil {
			t.Fatal("the load redirected out of INGEST_ALLOWED_SOURCES ran")
		}
		var cancel *river.JobCancelError
		if !errors.As(werr, &cancel) {
			t.Errorf("Work: %v; want the job cancelled (bad input)", werr)
		}
		v := latest()
		for _, want := range []string{"redirected to " + other.URL + ":", "add it to INGEST_ALLOWED_SOURCES"} {
			if v.Status != store.StatusFailed || !strings.Contains(v.Error, want) {
				t.Errorf("history: %s %q; want failed, saying %q", v.Status, v.Error, want)
			}
		}
		if strings.Contains(v.Error, "tok123") || strings.Contains(v.Error, "private") {
			t.Errorf("history error %q repeats the target's path or query", v.Error)
		}
		if n := otherHits.Load(); n != 0 {
			t.Errorf("the host not allowed was asked %d times, want never", n)
		}

		if err := work(queue(allowed.URL + "/moved/nucc_taxonomy_251.csv")); err != nil {
			t.Fatalf("a redirect within the allowed prefixes: %v", err)
		}
		if v := latest(); v.Status != store.StatusSucceeded {
			t.Errorf("history: %s %q; want succeeded", v.Status, v.Error)
		}

		// A scheduled load (no prefixes in its job) follows it.
		res, err := jc.Insert(ctx, ingest.JobArgs{Request: ingest.Request{Dataset: medsales.NUCC, Source: allowed.URL + "/away/nucc_taxonomy_251.csv", Mode: "full"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := work(res.Job.ID); err != nil {
			t.Fatalf("a scheduled load redirected to another host: %v", err)
		}
		if v := latest(); v.Status != store.StatusSucceeded || otherHits.Load() == 0 {
			t.Errorf("history: %s %q, other host asked %d times; want succeeded from it", v.Status, v.Error, otherHits.Load())
		}
	})
}
