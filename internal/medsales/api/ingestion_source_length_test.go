package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestIngestionRefusesOverlongSource: a source longer than
// ingest.MaxSourceBytes is a 400 on source that does not repeat it, and
// nothing is queued; a megabyte-long source was queued (202), kept in the
// jobs table, and a URL's whole in every history entry GET /v1/datasets
// lists. A source of exactly MaxSourceBytes is queued.
func TestIngestionRefusesOverlongSource(t *testing.T) {
	dbtest.Each(t, []migrate.Set{store.Migrations}, func(t *testing.T, d *db.DB) {
		srv, queued := newIngestionServer(t, d, "s3://medsales-raw/", "https://download.cms.gov/")
		// sized returns prefix followed by a name padded to n bytes.
		sized := func(prefix string, n int) string {
			return prefix + strings.Repeat("a", n-len(prefix)-len(".csv")) + ".csv"
		}

		for _, src := range []string{
			sized("s3://medsales-raw/", ingest.MaxSourceBytes+1),
			sized("https://download.cms.gov/", 1000_000),
		} {
			status, b := postIngestion(t, srv.URL, `{"dataset":"nucc","source":"`+src+`"}`)
			var p struct{ Field, Detail string }
			if err := json.Unmarshal(b, &p); err != nil || status != http.StatusBadRequest || p.Field != "source" ||
				!strings.Contains(p.Detail, "bytes long") || strings.Contains(p.Detail, "aaaa") {
				t.Errorf("a source of %d bytes: %d %.300s; want 400 on source saying it is too long, without repeating it", len(src), status, b)
			}
		}
		if n := queued(); n != 0 {
			t.Errorf("%d jobs queued for over-long sources, want none", n)
		}
		if status, b := postIngestion(t, srv.URL, `{"dataset":"nucc","source":"`+sized("s3://medsales-raw/", ingest.MaxSourceBytes)+`"}`); status != http.StatusAccepted {
			t.Errorf("a source of %d bytes: %d %.300s, want 202", ingest.MaxSourceBytes, status, b)
		}
	})
}
