package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestIngestionRefusesC1ControlCharacters: a source holding a C1 control
// character (U+0080–U+009F: NEL, the 8-bit CSI that starts a terminal
// escape sequence) is a 400 on source, as one holding a C0 control is;
// it was queued (202) and kept in the jobs table, the history and the
// logs. A source of other non-ASCII letters is still queued.
func TestIngestionRefusesC1ControlCharacters(t *testing.T) {
	dbtest.Each(t, []migrate.Set{store.Migrations}, func(t *testing.T, d *db.DB) {
		srv, queued := newIngestionServer(t, d, "s3://medsales-raw/", "/data/drop/")

		for _, src := range []string{
			`s3://medsales-raw/nucc\u0085.csv`,
			`s3://medsales-raw/\u009b31mnucc.csv`,
			`/data/drop/nucc\u009f.csv`,
			`s3://medsales-raw/nucc\u0009.csv`, // C0, refused before too
		} {
			status, b := postIngestion(t, srv.URL, `{"dataset":"nucc","source":"`+src+`"}`)
			var p struct{ Field, Detail string }
			if err := json.Unmarshal(b, &p); err != nil || status != http.StatusBadRequest || p.Field != "source" ||
				!strings.Contains(p.Detail, "control character") {
				t.Errorf("source %s: %d %s; want 400 on source naming the control character", src, status, b)
			}
		}
		if n := queued(); n != 0 {
			t.Errorf("%d jobs queued for sources with control characters, want none", n)
		}
		if status, b := postIngestion(t, srv.URL, `{"dataset":"nucc","source":"s3://medsales-raw/taxonomie-\u00e9t\u00e9.csv"}`); status != http.StatusAccepted {
			t.Errorf("a source with accented letters: %d %s, want 202", status, b)
		}
	})
}
