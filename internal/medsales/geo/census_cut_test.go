package geo_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/medsales/geo"
)

// TestCensusAnswerCutAtFieldEnd: an answer cut short right after a closing
// quote (its quotes pair up) leaves an incomplete last line, a match
// without coordinates; that address has no result and the complete lines
// before it count, as for an answer cut inside a field.
func TestCensusAnswerCutAtFieldEnd(t *testing.T) {
	first := `"2","9 NOWHERE LN, X, KS, 67000","No_Match"` + "\n"
	for _, tail := range []string{
		`"1","1 MAIN ST, X, TN, 37201","Match"`,
		`"1","1 MAIN ST, X, TN, 37201","Match","Exact"`,
		`"1","1 MAIN ST, X, TN, 37201","Match","Exact","1 MAIN ST, X, TN, 37201"`,
		`"1","1 MAIN ST, X, TN, 37201",`,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(first + tail))
		}))
		c := newClient(t, srv.URL, geo.CensusOptions{})
		got, err := c.Geocode(context.Background(), []geo.Address{{ID: "1", Street: "1 MAIN ST"}, {ID: "2", Street: "9 NOWHERE LN"}})
		srv.Close()
		if err != nil {
			t.Errorf("cut at %q: %v", tail, err)
			continue
		}
		if diff := cmp.Diff([]geo.Result{{ID: "2", Status: geo.NoMatch}}, got); diff != "" {
			t.Errorf("cut at %q: results (-want +got):\n%s", tail, diff)
		}
	}
}
