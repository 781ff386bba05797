package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestIngestionStatus: the jobId POST /v1/ingestions answers leads
// somewhere: GET /v1/ingestions/{id} (same token) answers River's state
// of the job and the history entry its load recorded (which carries the
// job id in GET /v1/datasets too); a load refused as bad input shows as
// cancelled with its error. An unknown id, one that is no number, or
// another kind of job is a 404; without the token, a 401.
func TestIngestionStatus(t *testing.T) {
	dbtest.Each(t, []migrate.Set{store.Migrations}, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		dir := t.TempDir()
		srv, jc := newWorkingIngestionServer(t, d, filepath.Join(dir, "rejects"), dir+"/")
		b, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", "nucc_taxonomy_sample.csv"))
		if err != nil {
			t.Fatal(err)
		}
		// The header and four good rows (the sample's later rows are
		// rejects on purpose).
		lines := strings.SplitAfter(string(b), "\n")[:5]
		good := filepath.Join(dir, "nucc_taxonomy_251.csv")
		if err := os.WriteFile(good, []byte(strings.Join(lines, "")), 0o600); err != nil {
			t.Fatal(err)
		}
		wrong := filepath.Join(dir, "nucc_taxonomy_252.csv")
		if err := os.WriteFile(wrong, []byte("a,b,c\n1,2,3\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		post := func(source string) int64 {
			t.Helper()
			status, b := postIngestion(t, srv.URL, `{"dataset":"nucc","source":"`+source+`"}`)
			var out struct {
				JobID int64 `json:"jobId"`
			}
			if status != http.StatusAccepted || json.Unmarshal(b, &out) != nil {
				t.Fatalf("POST /v1/ingestions: %d %s", status, b)
			}
			return out.JobID
		}
		get := func(path, token string) (int, []byte) {
			t.Helper()
			req, _ := http.NewRequest("GET", srv.URL+path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			return res.StatusCode, body
		}
		type view struct {
			JobID   int64  `json:"jobId"`
			Dataset string `json:"dataset"`
			Source  string `json:"source"`
			State   string `json:"state"`
			Errors  []struct {
				Error string `json:"error"`
			} `json:"errors"`
			Loads []struct {
				ID         int64  `json:"id"`
				Status     string `json:"status"`
				JobID      int64  `json:"jobId"`
				RowsLoaded int64  `json:"rowsLoaded"`
			} `json:"loads"`
		}
		// finished polls the job until River has finished it.
		finished := func(id int64) view {
			t.Helper()
			deadline := time.Now().Add(30 * time.Second)
			for {
				status, b := get(fmt.Sprintf("/v1/ingestions/%d", id), "tok")
				var v view
				if status != 200 || json.Unmarshal(b, &v) != nil {
					t.Fatalf("GET /v1/ingestions/%d: %d %s", id, status, b)
				}
				switch v.State {
				case "completed", "cancelled", "discarded":
					return v
				}
				if time.Now().After(deadline) {
					t.Fatalf("job %d still %s after 30 s: %s", id, v.State, b)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}

		id := post(good)
		v := finished(id)
		if v.JobID != id || v.Dataset != "nucc" || v.Source != good || v.State != "completed" || len(v.Errors) != 0 ||
			len(v.Loads) != 1 || v.Loads[0].Status != "succeeded" || v.Loads[0].JobID != id || v.Loads[0].RowsLoaded == 0 {
			t.Errorf("the good load's job = %+v, want completed with one succeeded load of job %d", v, id)
		}
		_, hist := get("/v1/datasets?dataset=nucc", "")
		if !strings.Contains(string(hist), fmt.Sprintf(`"jobId":%d`, id)) {
			t.Errorf("GET /v1/datasets history %s does not name job %d", hist, id)
		}

		bad := post(wrong)
		v = finished(bad)
		if v.State != "cancelled" || len(v.Errors) != 1 || !strings.HasPrefix(v.Errors[0].Error, "nucc_taxonomy_252.csv: ") ||
			len(v.Loads) != 1 || v.Loads[0].Status != "failed" || v.Loads[0].JobID != bad {
			t.Errorf("the wrong file's job = %+v, want cancelled, its error naming the file first (not River's JobCancelError), one failed load", v)
		}

		// Another kind of job: the workers' own periodic ones, say.
		var other int64
		if err := d.SQL.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) + 1000 FROM river_job`).Scan(&other); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{fmt.Sprintf("/v1/ingestions/%d", other), "/v1/ingestions/abc", "/v1/ingestions/0", "/v1/ingestions/-1"} {
			if status, b := get(path, "tok"); status != 404 {
				t.Errorf("GET %s = %d %s, want 404", path, status, b)
			}
		}
		if status, _ := get(fmt.Sprintf("/v1/ingestions/%d", id), ""); status != 401 {
			t.Errorf("GET /v1/ingestions/%d without the token = %d, want 401", id, status)
		}
		_ = jc
	})
}
