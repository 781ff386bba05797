package api_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medplatform/medplatform/internal/medsales/api"
	"github.com/medplatform/medplatform/internal/platform/health"
)

// TestDatasetsLimitIsPlainDecimal: limit is digits only; strconv took "+5"
// as 5. The parameter is refused before the store is read (none here).
func TestDatasetsLimitIsPlainDecimal(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	srv := httptest.NewServer(api.NewServer(api.Deps{
		Health: health.New(nil, time.Second, time.Now, log), Registry: prometheus.NewRegistry(), Logger: log,
	}))
	defer srv.Close()
	for _, limit := range []string{"+5", " 5", "0x5", "5.0", "0", "1001"} {
		res, err := http.Get(srv.URL + "/v1/datasets?limit=" + url.QueryEscape(limit))
		if err != nil {
			t.Fatal(err)
		}
		var p struct{ Field string }
		err = json.NewDecoder(res.Body).Decode(&p)
		res.Body.Close()
		if res.StatusCode != 400 || err != nil || p.Field != "limit" {
			t.Errorf("limit=%q: %d (field %q, %v), want 400 naming limit", limit, res.StatusCode, p.Field, err)
		}
	}
}

// TestRepeatedParameterRefused: dataset=partb&dataset=nucc is a 400 naming
// dataset; it answered for partb alone. (The store is never read.)
func TestRepeatedParameterRefused(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	srv := httptest.NewServer(api.NewServer(api.Deps{
		Health: health.New(nil, time.Second, time.Now, log), Registry: prometheus.NewRegistry(), Logger: log,
	}))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/v1/datasets?dataset=partb&dataset=nucc")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var p struct{ Field string }
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil || res.StatusCode != 400 || p.Field != "dataset" {
		t.Errorf("dataset given twice: %d (field %q, %v), want 400 naming dataset", res.StatusCode, p.Field, err)
	}
}

// TestUnknownParameterRefused: a parameter no route takes (a misspelt
// filter, datasets?datset=partb) is a 400 naming it; it answered every
// dataset's history as if unfiltered. The store is never read.
func TestUnknownParameterRefused(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	srv := httptest.NewServer(api.NewServer(api.Deps{
		Health: health.New(nil, time.Second, time.Now, log), Registry: prometheus.NewRegistry(), Logger: log,
	}))
	defer srv.Close()
	for target, field := range map[string]string{
		"/v1/datasets?datset=partb":       "datset",
		"/v1/providers/1234567893?full=1": "full",
	} {
		res, err := http.Get(srv.URL + target)
		if err != nil {
			t.Fatal(err)
		}
		var p struct{ Field string }
		err = json.NewDecoder(res.Body).Decode(&p)
		res.Body.Close()
		if res.StatusCode != 400 || err != nil || p.Field != field {
			t.Errorf("GET %s: %d (field %q, %v), want 400 naming %s", target, res.StatusCode, p.Field, err, field)
		}
	}
}
