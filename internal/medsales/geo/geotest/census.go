// Package geotest runs a local HTTP server that speaks the Census batch
// geocoder's protocol (multipart addressFile upload, CSV answer in the
// service's format), for tests of code that geocodes. It is not a mock: the
// client under test sends real requests and parses real answers, and the
// server checks the request the way the service does.
package geotest

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/geo"
)

// Locate decides the answer for one address: the returned Result's Status,
// Exact, MatchedAddress, Lat, Lon, TigerLineID and Side are written back
// (its ID is ignored).
type Locate func(a geo.Address) geo.Result

// CensusServer is a local batch geocoder.
type CensusServer struct {
	// URL is the base URL to give geo.CensusOptions.BaseURL.
	URL string

	locate Locate
	mu     sync.Mutex
	reqs   int
	got    []geo.Address
	fail   []int // statuses to answer the next requests with
}

// NewCensusServer starts a server answering with locate; it stops when the
// test ends.
func NewCensusServer(t testing.TB, locate Locate) *CensusServer {
	t.Helper()
	s := &CensusServer{locate: locate}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// FailNext makes the next len(statuses) requests fail with those HTTP
// statuses, one each, before the server answers normally again.
func (s *CensusServer) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, statuses...)
}

// Requests returns how many batch requests arrived (failed ones included).
func (s *CensusServer) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs
}

// Received returns every address answered so far, in arrival order.
func (s *CensusServer) Received() []geo.Address {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]geo.Address(nil), s.got...)
}

func (s *CensusServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs++
	var status int
	if len(s.fail) > 0 {
		status, s.fail = s.fail[0], s.fail[1:]
	}
	s.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/geocoder/locations/addressbatch" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	if b := r.FormValue("benchmark"); b != geo.DefaultBenchmark {
		http.Error(w, "unknown benchmark "+b, http.StatusBadRequest)
		return
	}
	f, _, err := r.FormFile("addressFile")
	if err != nil {
		http.Error(w, "no addressFile", http.StatusBadRequest)
		return
	}
	defer f.Close()
	addrs, err := readAddressFile(f)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(addrs) > geo.MaxBatch {
		http.Error(w, fmt.Sprintf("%d addresses: more than %d", len(addrs), geo.MaxBatch), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.got = append(s.got, addrs...)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/csv")
	bw := bufio.NewWriter(w)
	// The service answers in its own order: answer last line first.
	for i := len(addrs) - 1; i >= 0; i-- {
		a := addrs[i]
		res := s.locate(a)
		input := strings.Join([]string{a.Street, a.City, a.State, a.ZIP}, ", ")
		bw.WriteString(quote(a.ID) + "," + quote(input) + "," + quote(string(res.Status)))
		if res.Status == geo.Match {
			exact := "Non_Exact"
			if res.Exact {
				exact = "Exact"
			}
			coords := strconv.FormatFloat(res.Lon, 'f', -1, 64) + "," + strconv.FormatFloat(res.Lat, 'f', -1, 64)
			for _, v := range []string{exact, res.MatchedAddress, coords, res.TigerLineID, res.Side} {
				bw.WriteString("," + quote(v))
			}
		}
		bw.WriteString("\n")
	}
	bw.Flush()
}

// quote writes a CSV field in double quotes, as the service does.
func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// readAddressFile splits the upload the way the service does: one address
// per line, exactly five comma-separated fields, no quoting.
func readAddressFile(r io.Reader) ([]geo.Address, error) {
	var out []geo.Address
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) != 5 {
			return nil, fmt.Errorf("line %d has %d fields, want 5", n, len(f))
		}
		out = append(out, geo.Address{ID: f[0], Street: f[1], City: f[2], State: f[3], ZIP: f[4]})
	}
	return out, sc.Err()
}
