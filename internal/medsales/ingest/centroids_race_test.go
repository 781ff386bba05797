package ingest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/platform/db"
)

// TestGazetteerLoadedDuringNPPESLoad: a ZCTA gazetteer load that commits
// while an NPPES (or pl_pfile) load is reading its file — loads of two
// datasets run side by side, and INGEST_SCHEDULE starts them all at once —
// is not undone by that load's swap: the addresses end at the new
// gazetteer's centroids (or without coordinates when it lacks their ZIP),
// not at the centroids read when the load started.
func TestGazetteerLoadedDuringNPPESLoad(t *testing.T) {
	for _, c := range []struct {
		dataset    medsales.Dataset
		file       string
		table, zip string // the table and ZIP column of the addresses
		lat, lon   string
	}{
		{medsales.NPPES, npiFile, "providers", "practice_zip5", "practice_lat", "practice_lon"},
		{medsales.NPPESLocations, plFile, "practice_locations", "zip5", "lat", "lon"},
	} {
		t.Run(string(c.dataset), func(t *testing.T) {
			each(t, func(t *testing.T, e env) {
				ctx := context.Background()
				gaz := func(name string, lines ...string) string {
					return write(t, e.dir, name, []byte(gazetteerTS+strings.Join(lines, "")))
				}
				old := gaz("2023_Gaz_zcta_national.txt",
					"32204\t1\t0\t0\t0\t30.000000\t-81.000000\n", "32202\t1\t0\t0\t0\t30.000000\t-81.000000\n",
					"10016\t1\t0\t0\t0\t40.000000\t-73.000000\n", "32073\t1\t0\t0\t0\t30.100000\t-81.100000\n")
				if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.ZCTA, Source: old}, nil); err != nil {
					t.Fatal(err)
				}

				// The file is served in two parts: the load reads the first
				// with the 2023 centroids, then waits for the second.
				b, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", c.file))
				if err != nil {
					t.Fatal(err)
				}
				cut := strings.Index(string(b), "\n") + 1
				cut += strings.Index(string(b[cut:]), "\n") + 1
				rest := make(chan struct{})
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = w.Write(b[:cut])
					w.(http.Flusher).Flush()
					select {
					case <-rest:
					case <-r.Context().Done():
						return
					}
					_, _ = w.Write(b[cut:])
				}))
				defer srv.Close()
				defer func() {
					select {
					case <-rest:
					default:
						close(rest) // the test failed before the gazetteer load
					}
				}()
				done := make(chan error, 1)
				go func() {
					_, err := e.svc.Run(ctx, ingest.Request{Dataset: c.dataset, Source: srv.URL + "/" + c.file}, nil)
					done <- err
				}()
				// The load has read its centroids once it writes to its
				// staging table (on PostgreSQL created in the COPY's own
				// transaction, so seen through the COPY statement).
				staging := `SELECT COUNT(*) FROM sqlite_master WHERE name LIKE '` + c.table + `\_\_stg\_%' ESCAPE '\'`
				if e.d.Dialect == db.Postgres {
					staging = `SELECT COUNT(*) FROM pg_stat_activity
						WHERE datname = current_database() AND query LIKE 'COPY ` + c.table + `\_\_stg\_%'`
				}
				waitFor(t, 10*time.Second, func() bool { return count(t, e.d, staging) > 0 })

				// 32204 and 32202 move, 10016 and 32073 are dropped.
				newer := gaz("2024_Gaz_zcta_national.txt",
					"32204\t1\t0\t0\t0\t31.000000\t-82.000000\n", "32202\t1\t0\t0\t0\t31.000000\t-82.000000\n",
					"78701\t1\t0\t0\t0\t30.200000\t-97.700000\n")
				if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.ZCTA, Source: newer}, nil); err != nil {
					t.Fatal(err)
				}
				close(rest)
				if err := <-done; err != nil {
					t.Fatal(err)
				}

				placed := `SELECT COUNT(*) FROM ` + c.table + ` WHERE ` + c.zip + ` = $1 AND ` + c.lat + ` = 31 AND ` + c.lon + ` = -82 AND coord_source = 'zcta'`
				moved := map[medsales.Dataset]string{medsales.NPPES: "32204", medsales.NPPESLocations: "32202"}[c.dataset]
				if n := count(t, e.d, placed, moved); n != 1 {
					t.Errorf("%s: %d addresses in %s at the new centroid, want 1", c.table, n, moved)
				}
				gone := `SELECT COUNT(*) FROM ` + c.table + ` WHERE ` + c.zip + ` IN ('10016', '32073') AND (` + c.lat + ` IS NOT NULL OR coord_source IS NOT NULL)`
				if n := count(t, e.d, gone); n != 0 {
					t.Errorf("%s: %d addresses keep the centroid of a ZIP the new gazetteer dropped", c.table, n)
				}
			})
		})
	}
}
