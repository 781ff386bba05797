package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestIngestionIfChanged: POST /v1/ingestions with "ifChanged": true
// queues a conditional load: the worker loads the file the first time;
// the same request once that job completed is run and skipped, since the
// file has not changed, and its job completes too with no new version.
// The same load without ifChanged is a job of its own, not a duplicate,
// and loads. An ifChanged that is not a boolean is 400.
func TestIngestionIfChanged(t *testing.T) {
	dbtest.Each(t, []migrate.Set{store.Migrations}, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		st := store.New(d)
		dir := t.TempDir()
		srv, jc := newWorkingIngestionServer(t, d, filepath.Join(dir, "rejects"), dir+"/")

		b, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", "nucc_taxonomy_sample.csv"))
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, "nucc_taxonomy_251.csv")
		// The header and four good rows.
		lines, n := string(b), 0
		for i := range lines {
			if lines[i] == '\n' {
				if n++; n == 5 {
					lines = lines[:i+1]
					break
				}
			}
		}
		if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
			t.Fatal(err)
		}
		post := func(body string) int64 {
			t.Helper()
			status, b := postIngestion(t, srv.URL, body)
			var out struct {
				JobID     int64 `json:"jobId"`
				Duplicate bool  `json:"duplicate"`
			}
			if status != http.StatusAccepted || json.Unmarshal(b, &out) != nil || out.Duplicate {
				t.Fatalf("POST /v1/ingestions %s: %d %s, want a new job", body, status, b)
			}
			return out.JobID
		}
		completed := func(id int64) {
			t.Helper()
			deadline := time.Now().Add(30 * time.Second)
			for {
				j, err := jc.Job(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if j.State == "completed" {
					return
				}
				if j.State == "discarded" || j.State == "cancelled" || time.Now().After(deadline) {
					t.Fatalf("job %d: %s %+v, want completed", id, j.State, j.Errors)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		loads := func() int {
			t.Helper()
			hist, err := st.Versions(ctx, medsales.NUCC, 100)
			if err != nil {
				t.Fatal(err)
			}
			return len(hist)
		}

		conditional := `{"dataset":"nucc","source":"` + file + `","ifChanged":true}`
		completed(post(conditional))
		if n := loads(); n != 1 {
			t.Fatalf("%d loads after the first conditional job, want 1", n)
		}
		completed(post(conditional))
		if n := loads(); n != 1 {
			t.Errorf("%d loads after the second conditional job of an unchanged file, want 1", n)
		}
		completed(post(`{"dataset":"nucc","source":"` + file + `"}`))
		if n := loads(); n != 2 {
			t.Errorf("%d loads after an unconditional job, want 2", n)
		}
		if status, b := postIngestion(t, srv.URL, `{"dataset":"nucc","source":"`+file+`","ifChanged":"yes"}`); status != http.StatusBadRequest {
			t.Errorf("ifChanged \"yes\": %d %s, want 400", status, b)
		}
	})
}
