package auth_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/ratelimit"
)

// keyServer publishes a JWKS that a test can change, and counts fetches.
type keyServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	keys    []any
	status  int
	fetches atomic.Int64
}

func newKeyServer(t *testing.T, keys ...any) *keyServer {
	t.Helper()
	ks := &keyServer{keys: keys, status: http.StatusOK}
	ks.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.fetches.Add(1)
		ks.mu.Lock()
		body, _ := json.Marshal(map[string]any{"keys": ks.keys})
		status := ks.status
		ks.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(ks.srv.Close)
	return ks
}

func (ks *keyServer) publish(status int, keys ...any) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.status, ks.keys = status, keys
}

func rsaJWK(k *rsa.PrivateKey, kid, alg string) map[string]string {
	m := map[string]string{"kty": "RSA", "use": "sig", "kid": kid,
		"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
	if alg != "" {
		m["alg"] = alg
	}
	return m
}

func adminToken(t *testing.T, c *clock, k *rsa.PrivateKey, kid string, extra jwt.MapClaims) string {
	t.Helper()
	claims := jwt.MapClaims{"iss": testIssuer, "aud": testAudience, "sub": "u", "exp": c.Now().Add(time.Hour).Unix(),
		"org_id": "org-1", "role": "admin"}
	for k, v := range extra {
		if v == nil {
			delete(claims, k)
			continue
		}
		claims[k] = v
	}
	return sign(t, jwt.SigningMethodRS256, k, kid, claims)
}

func newOIDCAuth(t *testing.T, c *clock, url string) *auth.Authenticator {
	t.Helper()
	a, err := auth.NewAuthenticator(nil, &auth.OIDCConfig{Issuer: testIssuer, Audience: testAudience, JWKSURL: url}, ratelimit.NewMemory(c.Now), c.Now)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	a.MaxFailures = 1 << 30
	return a
}

// TestOIDCRemovedKeyStopsVerifying: a key the provider removes from its
// set after publishing its successor stops verifying tokens once the held
// keys are maxKeyAge (10 min) old, although no token forced a fetch: it
// was trusted until the process restarted (QA). While the provider cannot
// be fetched, keys too old stay in use for a day, so an outage of the
// provider locks no one out.
func TestOIDCRemovedKeyStopsVerifying(t *testing.T) {
	c := newClock()
	k1, k2 := newRSAKey(t), newRSAKey(t)
	ks := newKeyServer(t, rsaJWK(k1, "k1", "RS256"), rsaJWK(k2, "k2", "RS256"))
	a := newOIDCAuth(t, c, ks.srv.URL+"/jwks")
	check := func(what, tok string, want errs.Code) {
		t.Helper()
		_, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+tok))
		if got := errs.CodeOf(err); got != want {
			t.Errorf("%s: error %v (code %q), want code %q", what, err, got, want)
		}
	}
	check("k1 while published", adminToken(t, c, k1, "k1", nil), "")
	ks.publish(http.StatusOK, rsaJWK(k2, "k2", "RS256"))
	c.Advance(9 * time.Minute)
	check("k1 removed, keys 9 min old", adminToken(t, c, k1, "k1", nil), "")
	c.Advance(2 * time.Minute)
	check("k1 removed, keys 11 min old", adminToken(t, c, k1, "k1", nil), errs.CodeUnauthorized)
	check("k2", adminToken(t, c, k2, "k2", nil), "")

	// The provider down: keys 11 min old still verify, not a day later.
	ks.publish(http.StatusServiceUnavailable)
	c.Advance(11 * time.Minute)
	check("k2 while the provider fails", adminToken(t, c, k2, "k2", nil), "")
	c.Advance(24 * time.Hour)
	check("k2 a day into the provider's outage", adminToken(t, c, k2, "k2", nil), errs.CodeUnavailable)
}

// TestOIDCFetchesAreBounded: a token whose kid names a held key that does
// not verify it (forged) causes no fetch, and after a failed fetch tokens
// the held keys do not verify get that failure without another fetch for
// 5 s: one fetch per forged token, or per request while the provider
// failed, let anyone make the server hammer the provider (QA). A token of
// a key not yet held still causes one fetch (a rotation).
func TestOIDCFetchesAreBounded(t *testing.T) {
	c := newClock()
	good, forger, next := newRSAKey(t), newRSAKey(t), newRSAKey(t)
	ks := newKeyServer(t, rsaJWK(good, "good", "RS256"))
	a := newOIDCAuth(t, c, ks.srv.URL+"/jwks")
	auth1 := func(tok string) error {
		_, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+tok))
		return err
	}
	if err := auth1(adminToken(t, c, good, "good", nil)); err != nil {
		t.Fatal(err)
	}
	before := ks.fetches.Load()
	for range 20 {
		if err := auth1(adminToken(t, c, forger, "good", nil)); !errs.Is(err, errs.CodeUnauthorized) {
			t.Fatalf("forged token under a held kid: %v", err)
		}
	}
	if n := ks.fetches.Load() - before; n != 0 {
		t.Errorf("%d fetches for 20 forged tokens naming a held key, want 0", n)
	}

	ks.publish(http.StatusInternalServerError)
	before = ks.fetches.Load()
	for i := range 20 {
		if err := auth1(adminToken(t, c, forger, "unknown", nil)); !errs.Is(err, errs.CodeUnavailable) {
			t.Fatalf("token %d of an unknown key while the provider fails: %v, want unavailable", i, err)
		}
	}
	if n := ks.fetches.Load() - before; n != 1 {
		t.Errorf("%d fetches for 20 tokens of an unknown key while the provider fails, want 1", n)
	}
	if err := auth1(adminToken(t, c, good, "good", nil)); err != nil {
		t.Errorf("a token of a held key while the provider fails: %v", err)
	}

	ks.publish(http.StatusOK, rsaJWK(good, "good", "RS256"), rsaJWK(next, "next", "RS256"))
	c.Advance(6 * time.Second)
	before = ks.fetches.Load()
	if err := auth1(adminToken(t, c, next, "next", nil)); err != nil {
		t.Errorf("a token of the key just published: %v", err)
	}
	if n := ks.fetches.Load() - before; n != 1 {
		t.Errorf("%d fetches for a token of a new key, want 1", n)
	}
}

// TestOIDCKeySetRedirects: the key set is not fetched through a redirect
// to plain http, nor to a host checkJWKSURL refuses: an allowed URL could
// hand the server an attacker's keys (QA). A redirect between allowed
// URLs is followed.
func TestOIDCKeySetRedirects(t *testing.T) {
	c := newClock()
	key := newRSAKey(t)
	ks := newKeyServer(t, rsaJWK(key, "k", "RS256"))
	for _, tc := range []struct {
		name, target string
		want         errs.Code
	}{
		{"to an allowed URL", ks.srv.URL + "/jwks", ""},
		{"to plain http on another host", "http://192.0.2.7/jwks", errs.CodeUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, tc.target, http.StatusFound)
			}))
			defer redirect.Close()
			a := newOIDCAuth(t, c, redirect.URL+"/jwks")
			_, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+adminToken(t, c, key, "k", nil)))
			if got := errs.CodeOf(err); got != tc.want {
				t.Fatalf("error %v (code %q), want code %q", err, got, tc.want)
			}
			if tc.want != "" && !strings.Contains(err.Error(), "redirected to a URL not allowed") {
				t.Errorf("error %v does not say the redirect was refused", err)
			}
		})
	}
}

// TestOIDCKeyAlgorithmEnforced: a key that names its algorithm verifies
// tokens of that algorithm only (RFC 8725, 3.1): a key published for
// RS512 verified an RS256 token (QA).
func TestOIDCKeyAlgorithmEnforced(t *testing.T) {
	c := newClock()
	key := newRSAKey(t)
	ks := newKeyServer(t, rsaJWK(key, "k", "RS512"))
	a := newOIDCAuth(t, c, ks.srv.URL+"/jwks")
	if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+adminToken(t, c, key, "k", nil))); !errs.Is(err, errs.CodeUnauthorized) {
		t.Errorf("RS256 token and an RS512 key: %v, want unauthorized", err)
	}
	ks.publish(http.StatusOK, rsaJWK(key, "k", ""))
	c.Advance(11 * time.Minute)
	if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+adminToken(t, c, key, "k", nil))); err != nil {
		t.Errorf("RS256 token and a key naming no algorithm: %v", err)
	}
}

// TestOIDCClaimsChecked: a token without "exp" says so (it read "token has
// expired"); claims that are not UTF-8, or a subject holding a line break
// or a bidirectional override, are refused: the subject is the audit
// trail's actor (QA).
func TestOIDCClaimsChecked(t *testing.T) {
	c := newClock()
	key := newRSAKey(t)
	ks := newKeyServer(t, rsaJWK(key, "k", "RS256"))
	a := newOIDCAuth(t, c, ks.srv.URL+"/jwks")
	for _, tc := range []struct {
		name  string
		extra jwt.MapClaims
		want  string
	}{
		{"no exp", jwt.MapClaims{"exp": nil}, `token lacks the "exp" claim`},
		{"line break in sub", jwt.MapClaims{"sub": "u\nadmin"}, `token's "sub" claim holds a control, format or separator character`},
		{"bidi override in sub", jwt.MapClaims{"sub": "u\u202egnp.exe"}, `token's "sub" claim holds a control, format or separator character`},
		{"line separator in sub", jwt.MapClaims{"sub": "u\u2028x"}, `token's "sub" claim holds a control, format or separator character`},
		{"replacement character in sub", jwt.MapClaims{"sub": "u\ufffdx"}, `token's "sub" claim holds a control, format or separator character`},
		{"blank sub", jwt.MapClaims{"sub": "   "}, `token's "sub" claim is blank`},
	} {
		_, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+adminToken(t, c, key, "k", tc.extra)))
		if !errs.Is(err, errs.CodeUnauthorized) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want unauthorized: %s", tc.name, err, tc.want)
		}
	}
	// Claims that are not UTF-8: signed by hand, as a JWT library would
	// refuse to write them. The same token with a UTF-8 subject passes.
	handSigned := func(sub string) string {
		header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"k","typ":"JWT"}`))
		payload := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"` + testIssuer + `","aud":"` + testAudience + `","sub":"` + sub + `","exp":` +
			big.NewInt(c.Now().Add(time.Hour).Unix()).String() + `,"org_id":"org-1","role":"admin"}`))
		sig, err := jwt.SigningMethodRS256.Sign(header+"."+payload, key)
		if err != nil {
			t.Fatal(err)
		}
		return header + "." + payload + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+handSigned("u"))); err != nil {
		t.Fatalf("hand-signed token: %v", err)
	}
	if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+handSigned("u\xff"))); !errs.Is(err, errs.CodeUnauthorized) {
		t.Errorf("claims not UTF-8: %v, want unauthorized", err)
	}
}

// TestOIDCProviderFailureLogged: a key set that cannot be fetched is
// logged at WARN, at most once every 10 s: a wrong OIDC_JWKS_URL locked
// every OIDC user out with nothing in the logs (QA).
func TestOIDCProviderFailureLogged(t *testing.T) {
	c := newClock()
	key := newRSAKey(t)
	ks := newKeyServer(t)
	ks.publish(http.StatusNotFound)
	a := newOIDCAuth(t, c, ks.srv.URL+"/wrong-path")
	var buf bytes.Buffer
	var mu sync.Mutex
	a.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	for range 5 {
		if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+adminToken(t, c, key, "k", nil))); !errs.Is(err, errs.CodeUnavailable) {
			t.Fatalf("want unavailable, got %v", err)
		}
		c.Advance(time.Second)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if n := strings.Count(out, "level=WARN"); n != 1 || !strings.Contains(out, "404 Not Found") {
		t.Errorf("log after 5 failures in 5 s (want one WARN naming the 404):\n%s", out)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestOIDCAbandonedRequestCounts: a request its client abandons while the
// key set is fetched counts against the client's failure budget; reported
// as an outage, it let one address start fetch after fetch with requests
// it cut short, never limited (QA).
func TestOIDCAbandonedRequestCounts(t *testing.T) {
	c := newClock()
	key := newRSAKey(t)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{rsaJWK(key, "k", "RS256")}})
	}))
	defer slow.Close()
	a := newOIDCAuth(t, c, slow.URL+"/jwks")
	a.MaxFailures = 2
	for i := range 2 {
		// The client hangs up: net/http cancels the request's context.
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := a.Authenticate(ctx, request("192.0.2.1:1", "Bearer "+adminToken(t, c, key, "unknown", nil)))
		cancel()
		if err == nil {
			t.Fatalf("abandoned request %d authenticated", i)
		}
	}
	if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+adminToken(t, c, key, "unknown", nil))); !errs.Is(err, errs.CodeRateLimited) {
		t.Errorf("after two abandoned requests with a budget of 2: %v, want rate limited", err)
	}
}

// TestOIDCServerDeadlineIsAnOutage: the server's own deadline
// (REQUEST_TIMEOUT) ending a request while a slow provider is fetched is
// the provider's slowness, a 503 not counted against the client (it was a
// counted 401, QA); the fetch goes on and answers the requests after it.
func TestOIDCServerDeadlineIsAnOutage(t *testing.T) {
	c := newClock()
	key := newRSAKey(t)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{rsaJWK(key, "k", "RS256")}})
	}))
	defer slow.Close()
	a := newOIDCAuth(t, c, slow.URL+"/jwks")
	a.MaxFailures = 1
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := a.Authenticate(ctx, request("192.0.2.1:1", "Bearer "+adminToken(t, c, key, "k", nil))); !errs.Is(err, errs.CodeUnavailable) {
		t.Fatalf("a request whose deadline ends during the fetch: %v, want unavailable", err)
	}
	// Not counted, and the fetch went on: the next request is answered.
	if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+adminToken(t, c, key, "k", nil))); err != nil {
		t.Errorf("the next request: %v", err)
	}
}

// TestOIDCNoKeysMemberIsAnOutage: a 200 whose body has no "keys" array
// ({}, null, an error object) is no key set: the keys held stay, and a
// token they do not verify gets a 503. It replaced the held keys with none
// and every valid token got a counted 401 (QA).
func TestOIDCNoKeysMemberIsAnOutage(t *testing.T) {
	c := newClock()
	k1, k2 := newRSAKey(t), newRSAKey(t)
	var body atomic.Value
	body.Store(`{"keys":[` + mustJSON(t, rsaJWK(k1, "k1", "RS256")) + `]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body.Load().(string)))
	}))
	defer srv.Close()
	a := newOIDCAuth(t, c, srv.URL+"/jwks")
	if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+adminToken(t, c, k1, "k1", nil))); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{`{}`, `null`, `{"error":"rate_limited"}`, `{"keys":null}`} {
		body.Store(b)
		c.Advance(6 * time.Second) // past the pause after the last failure
		if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+adminToken(t, c, k2, "k2", nil))); !errs.Is(err, errs.CodeUnavailable) {
			t.Errorf("body %s, a token of a key not held: %v, want unavailable", b, err)
		}
		if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+adminToken(t, c, k1, "k1", nil))); err != nil {
			t.Errorf("body %s, a token of the key held: %v", b, err)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOIDCFailingProviderFetchedOncePerPause: requests queued behind a
// fetch that fails get its failure; they started a fetch each at once,
// back to back (QA). And a failed refresh that the held keys ride out is
// logged: nothing said the provider was failing until the keys aged out.
func TestOIDCFailingProviderFetchedOncePerPause(t *testing.T) {
	c := newClock()
	good, other := newRSAKey(t), newRSAKey(t)
	ks := newKeyServer(t, rsaJWK(good, "good", "RS256"))
	a := newOIDCAuth(t, c, ks.srv.URL+"/jwks")
	var buf bytes.Buffer
	var mu sync.Mutex
	a.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+adminToken(t, c, good, "good", nil))); err != nil {
		t.Fatal(err)
	}
	ks.publish(http.StatusInternalServerError)
	c.Advance(11 * time.Minute) // the held keys are due for a refresh
	before := ks.fetches.Load()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			tok := adminToken(t, c, other, "unknown", nil)
			if i%2 == 0 {
				tok = adminToken(t, c, good, "good", nil)
			}
			a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+tok))
		})
	}
	wg.Wait()
	if n := ks.fetches.Load() - before; n != 1 {
		t.Errorf("%d fetches for 20 concurrent requests while the provider fails, want 1", n)
	}
	if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+adminToken(t, c, good, "good", nil))); err != nil {
		t.Errorf("a token of the held key while the provider fails: %v", err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "signing keys cannot be fetched") || !strings.Contains(out, "500") {
		t.Errorf("the failed refresh was not logged:\n%s", out)
	}
}
