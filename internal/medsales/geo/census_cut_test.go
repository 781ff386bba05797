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

// TestCensusMalformedLineKeepsOthers: one malformed answer line (a match
// without usable coordinates) leaves only its own address unanswered; the
// other answers of the batch count. Failing the whole batch failed every
// later run at the same batch, since the addresses are sent in key order.
func TestCensusMalformedLineKeepsOthers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`"1","1 MAIN ST, X, TN, 37201","Match","Exact","1 MAIN ST, X, TN, 37201","","1","L"` + "\n" +
			`"2","9 NOWHERE LN, X, KS, 67000","No_Match"` + "\n" +
			`"3","4600 SILVER HILL RD, WASHINGTON, DC, 20233","Match","Non_Exact","4600 SILVER HILL RD, WASHINGTON, DC, 20233","-76.92744,38.845985","76355984","L"` + "\n"))
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, geo.CensusOptions{})
	got, err := c.Geocode(context.Background(), []geo.Address{{ID: "1", Street: "1 MAIN ST"}, {ID: "2", Street: "9 NOWHERE LN"}, {ID: "3", Street: "4600 SILVER HILL RD"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []geo.Result{
		{ID: "2", Status: geo.NoMatch},
		{ID: "3", Status: geo.Match, MatchedAddress: "4600 SILVER HILL RD, WASHINGTON, DC, 20233", Lat: 38.845985, Lon: -76.92744, TigerLineID: "76355984", Side: "L"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

// TestCensusLastLineWithoutBreak: a whole last line without its line break
// is an answer like any other.
func TestCensusLastLineWithoutBreak(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`"2","9 NOWHERE LN, X, KS, 67000","No_Match"` + "\n" +
			`"1","1 MAIN ST, X, TN, 37201","Match","Exact","1 MAIN ST, X, TN, 37201","-86.78,36.16","7","R"`))
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, geo.CensusOptions{})
	got, err := c.Geocode(context.Background(), []geo.Address{{ID: "1", Street: "1 MAIN ST"}, {ID: "2", Street: "9 NOWHERE LN"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []geo.Result{
		{ID: "1", Status: geo.Match, Exact: true, MatchedAddress: "1 MAIN ST, X, TN, 37201", Lat: 36.16, Lon: -86.78, TigerLineID: "7", Side: "R"},
		{ID: "2", Status: geo.NoMatch},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}
