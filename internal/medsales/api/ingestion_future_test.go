package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/medsales/api"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/jobs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestIngestionRefusesFutureReleaseDate: a source whose name carries a
// release date after the day after the server's clock is refused with 400
// on source, in the words of source.CheckDates, as a name whose dates
// cannot be is, and nothing is queued or recorded; it was accepted (202)
// and queued, and only its worker refused it. The same name is queued
// once the clock has passed its date.
func TestIngestionRefusesFutureReleaseDate(t *testing.T) {
	dbtest.Each(t, []migrate.Set{store.Migrations}, func(t *testing.T, d *db.DB) {
		now := time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC)
		log := slog.New(slog.DiscardHandler)
		st := store.New(d)
		workers := river.NewWorkers()
		river.AddWorker(workers, &ingest.Worker{Service: &ingest.Service{Store: st, Logger: log, Now: time.Now}, DB: d, Logger: log})
		jc, err := jobs.New(d, jobs.Config{Workers: workers, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(api.NewServer(api.Deps{
			Store: st, Health: health.New(nil, time.Second, time.Now, log), Registry: prometheus.NewRegistry(),
			Logger: log, Jobs: jc, IngestToken: "tok", AllowedSources: []string{"s3://drop"},
			Now: func() time.Time { return now },
		}))
		t.Cleanup(srv.Close)
		count := func(query string) int {
			t.Helper()
			var n int
			if err := d.SQL.QueryRowContext(context.Background(), query).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}

		for _, c := range []struct{ dataset, src, says string }{
			{"nppes", "s3://drop/npidata_pfile_20270101-20270107.csv", "npidata_pfile_20270101-20270107.csv: its release date, 2027-01-07, is in the future"},
			{"openpayments", "s3://drop/OP_DTL_GNRL_PGYR2024_P01232027.csv", "OP_DTL_GNRL_PGYR2024_P01232027.csv: its release date, 2027-01-23, is in the future"},
			{"nppes", "s3://drop/NPPES_Data_Dissemination_123126_010627_Weekly_V2.zip", "NPPES_Data_Dissemination_123126_010627_Weekly_V2.zip: its release date, 2027-01-06, is in the future"},
		} {
			resp, b := postIngestionResp(t, srv.URL, `{"dataset":"`+c.dataset+`","source":"`+c.src+`"}`)
			var p struct {
				Field  string `json:"field"`
				Detail string `json:"detail"`
			}
			if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(b, &p) != nil || p.Field != "source" || !strings.Contains(p.Detail, c.says) {
				t.Errorf("%s %s: %d %s; want 400 on source saying %q", c.dataset, c.src, resp.StatusCode, b, c.says)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Errorf("%s: Content-Type %q, want application/problem+json", c.src, ct)
			}
		}
		if n := count(`SELECT COUNT(*) FROM river_job`); n != 0 {
			t.Errorf("%d jobs queued for future release dates, want none", n)
		}
		if n := count(`SELECT COUNT(*) FROM dataset_versions`); n != 0 {
			t.Errorf("%d loads recorded for future release dates, want none", n)
		}

		// Released tomorrow in UTC may be today in US time: queued.
		if resp, b := postIngestionResp(t, srv.URL, `{"dataset":"nppes","source":"s3://drop/npidata_pfile_20261130-20261206.csv"}`); resp.StatusCode != http.StatusAccepted {
			t.Errorf("release date tomorrow: %d %s, want 202", resp.StatusCode, b)
		}
		now = time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)
		if resp, b := postIngestionResp(t, srv.URL, `{"dataset":"nppes","source":"s3://drop/npidata_pfile_20270101-20270107.csv"}`); resp.StatusCode != http.StatusAccepted {
			t.Errorf("release date passed: %d %s, want 202", resp.StatusCode, b)
		}
		if n := count(`SELECT COUNT(*) FROM river_job`); n != 2 {
			t.Errorf("%d jobs queued, want 2", n)
		}
	})
}
