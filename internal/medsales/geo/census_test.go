package geo_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/medsales/geo"
	"github.com/medplatform/medplatform/internal/medsales/geo/geotest"
)

// locate answers like the service for a few known streets: a match (exact
// or not), a tie, and no match for everything else.
func locate(a geo.Address) geo.Result {
	switch {
	case strings.HasPrefix(a.Street, "4600 SILVER HILL RD"):
		return geo.Result{Status: geo.Match, Exact: true, MatchedAddress: "4600 SILVER HILL RD, WASHINGTON, DC, 20233", Lat: 38.845985, Lon: -76.92744, TigerLineID: "76355984", Side: "L"}
	case strings.HasPrefix(a.Street, "1 MAIN ST"):
		return geo.Result{Status: geo.Match, Exact: false, MatchedAddress: "1 MAIN ST, JACKSONVILLE, FL, 32204", Lat: 30.3170, Lon: -81.6808, TigerLineID: "12345", Side: "R"}
	case strings.HasPrefix(a.Street, "TIE"):
		return geo.Result{Status: geo.Tie}
	}
	return geo.Result{Status: geo.NoMatch}
}

func newClient(t *testing.T, base string, opts geo.CensusOptions) *geo.Census {
	t.Helper()
	opts.BaseURL = base
	if opts.Backoff == 0 {
		opts.Backoff = time.Millisecond
	}
	c, err := geo.NewCensus(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCensusGeocode(t *testing.T) {
	srv := geotest.NewCensusServer(t, locate)
	c := newClient(t, srv.URL, geo.CensusOptions{})
	addrs := []geo.Address{
		{ID: "1", Street: "4600 SILVER HILL RD", City: "WASHINGTON", State: "DC", ZIP: "20233"},
		{ID: "2", Street: "9 NOWHERE LN", City: "NOWHERE", State: "KS", ZIP: "67000"},
		{ID: "3", Street: "TIE ST", City: "SPRINGFIELD", State: "IL", ZIP: "62701"},
		// Commas and quotes in a value would shift the service's fields.
		{ID: "4", Street: `1 MAIN ST, "STE 2"`, City: "JACKSONVILLE", State: "FL", ZIP: "32204"},
	}
	got, err := c.Geocode(context.Background(), addrs)
	if err != nil {
		t.Fatal(err)
	}
	want := []geo.Result{
		{ID: "1", Status: geo.Match, Exact: true, MatchedAddress: "4600 SILVER HILL RD, WASHINGTON, DC, 20233", Lat: 38.845985, Lon: -76.92744, TigerLineID: "76355984", Side: "L"},
		{ID: "2", Status: geo.NoMatch},
		{ID: "3", Status: geo.Tie},
		{ID: "4", Status: geo.Match, Exact: false, MatchedAddress: "1 MAIN ST, JACKSONVILLE, FL, 32204", Lat: 30.3170, Lon: -81.6808, TigerLineID: "12345", Side: "R"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if rec := srv.Received(); len(rec) != 4 || rec[3].Street != `1 MAIN ST   STE 2 ` {
		t.Errorf("server received %+v", rec)
	}
}

func TestCensusSplitsBatches(t *testing.T) {
	tests := []struct {
		name      string
		batchSize int
		n         int
		requests  int
	}{
		{"small batches", 3, 10, 4},
		{"exact multiple", 5, 10, 2},
		{"default is the service maximum", 0, geo.MaxBatch + 1, 2},
		{"larger than maximum is capped", 50000, geo.MaxBatch * 2, 2},
		{"nothing", 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := geotest.NewCensusServer(t, locate)
			c := newClient(t, srv.URL, geo.CensusOptions{BatchSize: tt.batchSize})
			addrs := make([]geo.Address, tt.n)
			for i := range addrs {
				addrs[i] = geo.Address{ID: fmt.Sprint(i), Street: fmt.Sprintf("%d MAIN ST", i), City: "X", State: "FL", ZIP: "32204"}
			}
			got, err := c.Geocode(context.Background(), addrs)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.n {
				t.Fatalf("%d results, want %d", len(got), tt.n)
			}
			for i, r := range got {
				if r.ID != addrs[i].ID {
					t.Fatalf("result %d has ID %s: not in input order", i, r.ID)
				}
			}
			if n := srv.Requests(); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
		})
	}
}

func TestCensusRetries(t *testing.T) {
	addrs := []geo.Address{{ID: "a", Street: "4600 SILVER HILL RD", City: "WASHINGTON", State: "DC", ZIP: "20233"}}
	tests := []struct {
		name     string
		fail     []int
		attempts int
		wantErr  string
		requests int
	}{
		{"5xx then success", []int{503, 502}, 4, "", 3},
		{"429 then success", []int{429}, 4, "", 2},
		{"gives up", []int{500, 500, 500}, 3, "gave up after 3 attempts", 3},
		{"4xx is not retried", []int{400}, 4, "400 Bad Request", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := geotest.NewCensusServer(t, locate)
			srv.FailNext(tt.fail...)
			c := newClient(t, srv.URL, geo.CensusOptions{MaxAttempts: tt.attempts})
			got, err := c.Geocode(context.Background(), addrs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil || len(got) != 1 || got[0].Status != geo.Match {
				t.Fatalf("Geocode = %+v, %v", got, err)
			}
			if n := srv.Requests(); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
		})
	}
}

func TestCensusTimeoutIsRetried(t *testing.T) {
	real := geotest.NewCensusServer(t, locate)
	var calls atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			io.Copy(io.Discard, r.Body) // the server notices the client leaving only after the body
			select {                    // hang until the client gives up
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		proxy, _ := http.NewRequest(r.Method, real.URL+r.URL.Path, r.Body)
		proxy.Header = r.Header
		resp, err := http.DefaultClient.Do(proxy)
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		buf := make([]byte, 1<<16)
		for {
			n, err := resp.Body.Read(buf)
			w.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(slow.Close)
	c := newClient(t, slow.URL, geo.CensusOptions{RequestTimeout: 200 * time.Millisecond})
	got, err := c.Geocode(context.Background(), []geo.Address{{ID: "a", Street: "4600 SILVER HILL RD", City: "WASHINGTON", State: "DC", ZIP: "20233"}})
	if err != nil || len(got) != 1 || got[0].Status != geo.Match {
		t.Fatalf("Geocode = %+v, %v", got, err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d calls, want 2 (one timed out)", n)
	}
}

func TestCensusContextCancelled(t *testing.T) {
	srv := geotest.NewCensusServer(t, locate)
	srv.FailNext(503, 503, 503)
	c := newClient(t, srv.URL, geo.CensusOptions{Backoff: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Geocode(ctx, []geo.Address{{ID: "a", Street: "1 MAIN ST"}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %v: the backoff ignored the context", d)
	}
}

func TestCensusBadInput(t *testing.T) {
	srv := geotest.NewCensusServer(t, locate)
	c := newClient(t, srv.URL, geo.CensusOptions{})
	for name, addrs := range map[string][]geo.Address{
		"duplicate ID": {{ID: "1", Street: "A"}, {ID: "1", Street: "B"}},
		"missing ID":   {{Street: "A"}},
	} {
		if _, err := c.Geocode(context.Background(), addrs); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if srv.Requests() != 0 {
		t.Errorf("bad input reached the service")
	}
	if _, err := geo.NewCensus(geo.CensusOptions{BaseURL: "ftp://example"}); err == nil {
		t.Error("NewCensus accepted a non-HTTP base URL")
	}
}

func TestCensusBadAnswer(t *testing.T) {
	tests := []struct {
		name, body, wantErr string
	}{
		{"html page", "<html><body>Service unavailable</body></html>\n", "no line for any address"},
		{"unknown status", `"1","1 MAIN ST, X, FL, 32204","Maybe"` + "\n", "unknown match status"},
		{"bad coordinates", `"1","1 MAIN ST, X, FL, 32204","Match","Exact","1 MAIN ST","abc","1","L"` + "\n", "not lon,lat"},
		{"header and missing row", "\"ID\",\"Input\",\"Status\"\n", "no line for any address"},
		{"empty answer", "", "empty answer for 1 addresses"},
		{"blank answer", "\r\n", "empty answer for 1 addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			c := newClient(t, srv.URL, geo.CensusOptions{})
			_, err := c.Geocode(context.Background(), []geo.Address{{ID: "1", Street: "1 MAIN ST"}})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestCensusPartialAnswer(t *testing.T) {
	// An address the service leaves out has no result: the caller retries it later.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`"2","9 NOWHERE LN, X, KS, 67000","No_Match"` + "\r\n"))
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, geo.CensusOptions{})
	got, err := c.Geocode(context.Background(), []geo.Address{{ID: "1", Street: "1 MAIN ST"}, {ID: "2", Street: "9 NOWHERE LN"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]geo.Result{{ID: "2", Status: geo.NoMatch}}, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

// TestCensusTruncatedAnswer: an answer cut short inside a quoted field
// (no line break after it) is not read as a match with the cut
// coordinates: that address has no result and is sent again later; the
// complete lines before it count.
func TestCensusTruncatedAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`"2","9 NOWHERE LN, X, KS, 67000","No_Match"` + "\n" +
			`"1","1 MAIN ST, X, TN, 37201","Match","Exact","1 MAIN ST, X, TN, 37201","-86.78,36.0`))
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, geo.CensusOptions{})
	got, err := c.Geocode(context.Background(), []geo.Address{{ID: "1", Street: "1 MAIN ST"}, {ID: "2", Street: "9 NOWHERE LN"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]geo.Result{{ID: "2", Status: geo.NoMatch}}, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}
