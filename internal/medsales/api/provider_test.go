package api_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/api"
	"github.com/medplatform/medplatform/internal/medsales/geo"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// loadSamples loads the dataset package's sample files: NPPES and its
// companion files, Part B, Part D and Open Payments.
func loadSamples(t *testing.T, st *store.Store) {
	t.Helper()
	centroids, err := geo.EmbeddedCentroids()
	if err != nil {
		t.Fatal(err)
	}
	loads := []struct {
		load func(*store.Store, context.Context, store.LoadInput) (store.LoadResult, error)
		file string
	}{
		{(*store.Store).LoadNPPES, "npidata_pfile_20050523-20260810_sample.csv"},
		{(*store.Store).LoadNPPESLocations, "pl_pfile_20050523-20260810_sample.csv"},
		{(*store.Store).LoadNPPESOtherNames, "othername_pfile_20050523-20260810_sample.csv"},
		{(*store.Store).LoadNPPESEndpoints, "endpoint_pfile_20050523-20260810_sample.csv"},
		{(*store.Store).LoadPartB, "MUP_PHY_R26_P05_V10_D24_Prov_Svc_sample.csv"},
		{(*store.Store).LoadPartD, "MUP_DPR_RY26_P04_V10_DY24_NPIBN_sample.csv"},
		{(*store.Store).LoadOpenPayments, "OP_DTL_GNRL_PGYR2024_P01302026_sample.csv"},
	}
	for _, l := range loads {
		b, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", l.file))
		if err != nil {
			t.Fatal(err)
		}
		in := store.LoadInput{File: l.file, Reader: bytes.NewReader(b), Rejects: io.Discard, MaxRejectRatio: 0.5, Centroids: centroids}
		if _, err := l.load(st, context.Background(), in); err != nil {
			t.Fatalf("load %s: %v", l.file, err)
		}
	}
}

// GET /v1/providers/{npi} answers, byte for byte, what it answered when
// it read Provider, TopServices, TopDrugs and PaymentTotals in a
// Snapshot; a malformed NPI is 400 and one not loaded 404, as before.
func TestProviderProfileJSON(t *testing.T) {
	dbtest.Each(t, []migrate.Set{store.Migrations}, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		st := store.New(d)
		loadSamples(t, st)
		log := slog.New(slog.DiscardHandler)
		srv := httptest.NewServer(api.NewServer(api.Deps{
			Store: st, Health: health.New(nil, time.Second, time.Now, log), Registry: prometheus.NewRegistry(), Logger: log,
		}))
		defer srv.Close()
		get := func(path string) (int, []byte) {
			t.Helper()
			res, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			return res.StatusCode, b
		}
		for _, npi := range []string{"1234567893", "1245319599", "1003000126", "1987654328"} {
			// The answer as the handler wrote it before Store.Profile.
			var old struct {
				*medsales.ProviderDetail
				TopServices   []medsales.ServiceLine  `json:"topServices"`
				TopDrugs      []medsales.DrugLine     `json:"topDrugs"`
				PaymentTotals []medsales.PaymentTotal `json:"paymentTotals"`
			}
			err := st.Snapshot(ctx, func(s *store.Store) error {
				var err error
				if old.ProviderDetail, err = s.Provider(ctx, npi); err != nil {
					return err
				}
				if old.TopServices, err = s.TopServices(ctx, npi, 10); err != nil {
					return err
				}
				if old.TopDrugs, err = s.TopDrugs(ctx, npi, 10); err != nil {
					return err
				}
				old.PaymentTotals, err = s.PaymentTotals(ctx, npi)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			httpx.WriteJSON(rec, http.StatusOK, old)
			status, body := get("/v1/providers/" + npi)
			if status != http.StatusOK || !bytes.Equal(body, rec.Body.Bytes()) {
				t.Errorf("GET /v1/providers/%s: %d\n%s\nwant 200\n%s", npi, status, body, rec.Body.Bytes())
			}
		}
		if status, body := get("/v1/providers/1234567890"); status != http.StatusBadRequest || !strings.Contains(string(body), "npi") {
			t.Errorf("bad check digit: %d %s, want 400 naming npi", status, body)
		}
		if status, body := get("/v1/providers/1000000004"); status != http.StatusNotFound || !strings.Contains(string(body), "provider") {
			t.Errorf("NPI not loaded: %d %s, want 404", status, body)
		}
	})
}
