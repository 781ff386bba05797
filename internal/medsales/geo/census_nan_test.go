package geo_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/geo"
)

// TestCensusRefusesNaNCoordinates: "NaN" parses as a float and passes
// every range comparison, so an answer "NaN,NaN" was taken as a match: on
// PostgreSQL the provider then held NaN coordinates and GET
// /v1/providers/{npi} answered 200 with an empty body (encoding/json
// refuses NaN). Such a line is refused like any other malformed coordinate.
func TestCensusRefusesNaNCoordinates(t *testing.T) {
	for _, coords := range []string{"NaN,NaN", "-70.5,NaN", "NaN,41.2", "+Inf,41.2"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`"1","1 MAIN ST, BOSTON, MA, 02108","Match","Exact","1 MAIN ST, BOSTON, MA, 02108","` + coords + `","1","L"` + "\n"))
		}))
		c, err := geo.NewCensus(geo.CensusOptions{BaseURL: srv.URL, MaxAttempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Geocode(context.Background(), []geo.Address{{ID: "1", Street: "1 MAIN ST", City: "BOSTON", State: "MA", ZIP: "02108"}})
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), "are not lon,lat") {
			t.Errorf("coordinates %q: results %+v, error %v; want the line refused", coords, res, err)
		}
	}
}
