package httpx_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/ratelimit"
)

func TestTrustedProxiesClientAddr(t *testing.T) {
	trusted, err := httpx.ParseTrustedProxies(" 10.0.0.0/16, 192.0.2.7 ,2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	h := httpx.TrustedProxies(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }), trusted)
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"client behind the balancer", "10.0.3.4:5555", []string{"203.0.113.9"}, "203.0.113.9:0"},
		{"forged entries left of the balancer's", "10.0.3.4:5555", []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9:0"},
		{"two trusted hops", "192.0.2.7:1", []string{"203.0.113.9", "10.0.9.9"}, "203.0.113.9:0"},
		{"IPv6 balancer", "[2001:db8::1]:443", []string{"2001:db9::5"}, "[2001:db9::5]:0"},
		{"untrusted peer keeps its address", "203.0.113.50:7", []string{"1.2.3.4"}, "203.0.113.50:7"},
		{"no header", "10.0.3.4:5555", nil, "10.0.3.4:5555"},
		{"malformed entry", "10.0.3.4:5555", []string{"not-an-ip"}, "10.0.3.4:5555"},
		{"only trusted hops", "10.0.3.4:5555", []string{"10.0.0.1"}, "10.0.3.4:5555"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/v1/me", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got != tt.want {
			t.Errorf("%s: RemoteAddr = %q, want %q", tt.name, got, tt.want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.org", "10.0.0"} {
		if _, err := httpx.ParseTrustedProxies(bad); err == nil {
			t.Errorf("ParseTrustedProxies(%q) accepted it", bad)
		}
	}
}

// X-Forwarded-Proto is believed from a trusted proxy only, and from no
// one when no proxy is trusted; an answer to HTTPS through the balancer
// carries Strict-Transport-Security.
func TestTrustedProxiesForwardedProto(t *testing.T) {
	trusted, err := httpx.ParseTrustedProxies("10.0.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Get("X-Forwarded-Proto") })
	tests := []struct {
		name    string
		trusted bool
		remote  string
		proto   string
		want    string
		hsts    bool // the answer carries Strict-Transport-Security
	}{
		{"from the balancer", true, "10.0.3.4:5555", "https", "https", true},
		{"plain HTTP through the balancer", true, "10.0.3.4:5555", "http", "http", false},
		{"from anyone else", true, "203.0.113.50:7", "https", "", false},
		{"no proxy trusted", false, "10.0.3.4:5555", "https", "", false},
	}
	for _, tt := range tests {
		h := httpx.TrustedProxies(next, nil)
		if tt.trusted {
			h = httpx.TrustedProxies(next, trusted)
		}
		r := httptest.NewRequest("GET", "/fhir/MedicationAdministration", nil)
		r.RemoteAddr = tt.remote
		r.Header.Set("X-Forwarded-Proto", tt.proto)
		got = "unset"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got != tt.want {
			t.Errorf("%s: X-Forwarded-Proto = %q, want %q", tt.name, got, tt.want)
		}
		if hsts := w.Header().Get("Strict-Transport-Security"); (hsts != "") != tt.hsts || (tt.hsts && hsts != "max-age=31536000") {
			t.Errorf("%s: Strict-Transport-Security = %q, want it set: %t", tt.name, hsts, tt.hsts)
		}
	}
}

type noKeys struct{}

func (noKeys) LookupAPIKey(context.Context, string) (auth.StoredKey, error) {
	return auth.StoredKey{}, errs.NotFound("key")
}

// TestTrustedProxiesFailureBudgetPerClient checks that behind the load
// balancer one client's failed authentications use up its own budget, not
// every client's: without the proxy handler all requests come from the
// balancer's address, and ten bad tokens from anyone lock everyone out.
func TestTrustedProxiesFailureBudgetPerClient(t *testing.T) {
	a, err := auth.NewAuthenticator(noKeys{}, nil, ratelimit.NewMemory(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := httpx.ParseTrustedProxies("10.0.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	h := httpx.TrustedProxies(a.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
		func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(httpx.StatusOf(errs.CodeOf(err)))
		}), trusted)
	try := func(client string) int {
		r := httptest.NewRequest("GET", "/v1/me", nil)
		r.RemoteAddr = "10.0.1.1:40000" // the balancer
		r.Header.Set("X-Forwarded-For", client)
		r.Header.Set("Authorization", "Bearer mpk_aaaaaaaaaaaa_ySvNAvpmIOz8Y0YNaXDW2OC_DLxny2sMZsvfkL3IsXo")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for range auth.DefaultMaxFailures {
		try("203.0.113.66")
	}
	if got := try("203.0.113.66"); got != http.StatusTooManyRequests {
		t.Fatalf("the guessing client after %d failures: %d, want 429", auth.DefaultMaxFailures, got)
	}
	if got := try("198.51.100.20"); got != http.StatusUnauthorized {
		t.Fatalf("another client behind the same balancer: %d, want 401 (its own budget)", got)
	}
}
