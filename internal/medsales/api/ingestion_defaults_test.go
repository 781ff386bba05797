package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestIngestionDefaultsSpelledOutIsDuplicate: a load written with its
// defaults spelled out ("mode":"full", "maxRejectRatio":0.01, the data
// year the file name carries) is the same request as one leaving them
// out, and is answered as its duplicate instead of being queued (and
// loaded) a second time. An NPPES archive not named as a weekly file
// keeps its mode as given: its member may be a weekly file, which a full
// load refuses and a load without mode reads as an increment.
func TestIngestionDefaultsSpelledOutIsDuplicate(t *testing.T) {
	dbtest.Each(t, []migrate.Set{store.Migrations}, func(t *testing.T, d *db.DB) {
		srv, _ := newIngestionServer(t, d, "s3://drop/")
		post := func(body string) (int64, bool) {
			t.Helper()
			status, b := postIngestion(t, srv.URL, body)
			var out struct {
				JobID     int64 `json:"jobId"`
				Duplicate bool  `json:"duplicate"`
			}
			if status != http.StatusAccepted || json.Unmarshal(b, &out) != nil {
				t.Fatalf("POST /v1/ingestions %s: %d %s", body, status, b)
			}
			return out.JobID, out.Duplicate
		}

		for _, c := range []struct {
			name, bare, spelled string
			same                bool
		}{
			{"nppes monthly file",
				`{"dataset":"nppes","source":"s3://drop/npidata_pfile_20050523-20260810.csv"}`,
				`{"dataset":"nppes","source":"s3://drop/npidata_pfile_20050523-20260810.csv","mode":"full","maxRejectRatio":0.01}`, true},
			{"nppes weekly file",
				`{"dataset":"nppes","source":"s3://drop/npidata_pfile_20260804-20260810.csv"}`,
				`{"dataset":"nppes","source":"s3://drop/npidata_pfile_20260804-20260810.csv","mode":"increment"}`, true},
			{"nppes weekly archive",
				`{"dataset":"nppes","source":"s3://drop/NPPES_Data_Dissemination_080326_080926_Weekly.zip","maxRejectRatio":0.01}`,
				`{"dataset":"nppes","source":"s3://drop/NPPES_Data_Dissemination_080326_080926_Weekly.zip","mode":"increment"}`, true},
			{"partd file",
				`{"dataset":"partd","source":"s3://drop/MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv"}`,
				`{"dataset":"partd","source":"s3://drop/MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv","mode":"full","dataYear":2024,"maxRejectRatio":0.01}`, true},
			{"nucc archive",
				`{"dataset":"nucc","source":"s3://drop/nucc.zip"}`,
				`{"dataset":"nucc","source":"s3://drop/nucc.zip","mode":"full"}`, true},
			{"nppes archive not named weekly",
				`{"dataset":"nppes","source":"s3://drop/weekly.zip"}`,
				`{"dataset":"nppes","source":"s3://drop/weekly.zip","mode":"full"}`, false},
			{"another reject ratio",
				`{"dataset":"nucc","source":"s3://drop/nucc_taxonomy_251.csv"}`,
				`{"dataset":"nucc","source":"s3://drop/nucc_taxonomy_251.csv","maxRejectRatio":0.02}`, false},
		} {
			first, dup := post(c.bare)
			if dup {
				t.Fatalf("%s: the first request was answered as a duplicate", c.name)
			}
			again, dup := post(c.spelled)
			if c.same && (!dup || again != first) {
				t.Errorf("%s: with its defaults spelled out: job %d, duplicate %v; want a duplicate of job %d", c.name, again, dup, first)
			}
			if !c.same && (dup || again == first) {
				t.Errorf("%s: job %d, duplicate %v; want a job of its own", c.name, again, dup)
			}
			// And the other way round.
			if again, dup := post(c.bare); !dup || again != first {
				t.Errorf("%s: the same request again: job %d, duplicate %v; want a duplicate of job %d", c.name, again, dup, first)
			}
		}
	})
}
