package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/medsales/api"
)

// countingQueue counts the jobs it is asked to insert.
type countingQueue struct{ inserted int }

func (q *countingQueue) Insert(context.Context, river.JobArgs, *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	q.inserted++
	return &rivertype.JobInsertResult{Job: &rivertype.JobRow{ID: int64(q.inserted)}}, nil
}

// TestIngestionRefusesMalformedSource: a source that names no object to
// read (an s3:// URL without bucket or key, an http(s) URL without a host)
// is refused with 400 naming the field, before a job is queued; the
// worker could only fail it later, recording "/" or "bucket" as the file.
// The request is refused before the store is read, so the server needs
// none.
func TestIngestionRefusesMalformedSource(t *testing.T) {
	q := &countingQueue{}
	srv := httptest.NewServer(api.NewServer(api.Deps{Jobs: q, IngestToken: "tok", AllowedSources: []string{"s3://", "https://", "http://"}}))
	defer srv.Close()
	for _, src := range []string{"s3://", "s3://medsales-raw", "s3://medsales-raw/", "s3:///nucc_taxonomy_251.csv", "s3://medsales-raw/nucc/", "https://", "https:///nucc_taxonomy_251.csv", "http://"} {
		status, b := postIngestion(t, srv.URL, `{"dataset":"nucc","source":"`+src+`"}`)
		var p struct {
			Field  string `json:"field"`
			Detail string `json:"detail"`
		}
		if status != http.StatusBadRequest || json.Unmarshal(b, &p) != nil || p.Field != "source" {
			t.Errorf("source %q: %d %s, want 400 with field source", src, status, b)
		}
	}
	if q.inserted != 0 {
		t.Errorf("%d jobs queued for malformed sources, want none", q.inserted)
	}
}
