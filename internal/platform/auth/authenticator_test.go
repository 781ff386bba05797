package auth_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/ratelimit"
)

func TestAuthenticateAPIKey(t *testing.T) {
	c := newClock()
	now := c.Now()
	past, future := now.Add(-time.Hour), now.Add(time.Second)
	store := keyStore{}
	valid, validID := newKey(t, store, auth.StoredKey{OrgID: "org-1", Role: auth.RoleIntegration})
	patient, patientID := newKey(t, store, auth.StoredKey{OrgID: "org-1", Role: auth.RolePatient, Subject: "pat-7"})
	revoked, _ := newKey(t, store, auth.StoredKey{OrgID: "org-1", Role: auth.RoleIntegration, RevokedAt: &past})
	revokedLater, _ := newKey(t, store, auth.StoredKey{OrgID: "org-1", Role: auth.RoleIntegration, RevokedAt: &future})
	expired, _ := newKey(t, store, auth.StoredKey{OrgID: "org-1", Role: auth.RoleIntegration, ExpiresAt: &now})
	notYetExpired, notYetExpiredID := newKey(t, store, auth.StoredKey{OrgID: "org-1", Role: auth.RoleAdmin, ExpiresAt: &future})
	badRole, _ := newKey(t, store, auth.StoredKey{OrgID: "org-1", Role: "superuser"})
	noOrg, _ := newKey(t, store, auth.StoredKey{Role: auth.RoleIntegration})
	unlinked, _ := newKey(t, store, auth.StoredKey{OrgID: "org-1", Role: auth.RoleCaregiver})

	unknown, _, _, err := auth.NewAPIKey() // well-formed, never stored
	if err != nil {
		t.Fatalf("NewAPIKey: %v", err)
	}
	other, _, _, err := auth.NewAPIKey()
	if err != nil {
		t.Fatalf("NewAPIKey: %v", err)
	}
	wrongSecret := valid[:len("mpk_")+12+1] + other[len("mpk_")+12+1:]

	tests := []struct {
		name     string
		header   string
		want     auth.Principal
		wantCode errs.Code // "" for success
	}{
		{"valid key", "Bearer " + valid, auth.Principal{ID: validID, OrgID: "org-1", Role: auth.RoleIntegration, Method: auth.MethodAPIKey}, ""},
		{"scheme is case-insensitive", "bearer " + valid, auth.Principal{ID: validID, OrgID: "org-1", Role: auth.RoleIntegration, Method: auth.MethodAPIKey}, ""},
		{"patient key carries its link", "Bearer " + patient, auth.Principal{ID: patientID, OrgID: "org-1", Role: auth.RolePatient, Subject: "pat-7", Method: auth.MethodAPIKey}, ""},
		{"key before its expiry", "Bearer " + notYetExpired, auth.Principal{ID: notYetExpiredID, OrgID: "org-1", Role: auth.RoleAdmin, Method: auth.MethodAPIKey}, ""},
		{"unknown key", "Bearer " + unknown, auth.Principal{}, errs.CodeUnauthorized},
		{"wrong secret", "Bearer " + wrongSecret, auth.Principal{}, errs.CodeUnauthorized},
		{"revoked key", "Bearer " + revoked, auth.Principal{}, errs.CodeUnauthorized},
		{"key revoked with a future date", "Bearer " + revokedLater, auth.Principal{}, errs.CodeUnauthorized},
		{"expired key (at its expiry instant)", "Bearer " + expired, auth.Principal{}, errs.CodeUnauthorized},
		{"malformed key", "Bearer mpk_abc", auth.Principal{}, errs.CodeUnauthorized},
		{"missing header", "", auth.Principal{}, errs.CodeUnauthorized},
		{"basic scheme", "Basic " + valid, auth.Principal{}, errs.CodeUnauthorized},
		{"no scheme", valid, auth.Principal{}, errs.CodeUnauthorized},
		{"empty bearer token", "Bearer ", auth.Principal{}, errs.CodeUnauthorized},
		{"token too long", "Bearer " + valid + strings.Repeat("A", 9000), auth.Principal{}, errs.CodeUnauthorized},
		{"JWT without OIDC configured", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln", auth.Principal{}, errs.CodeUnauthorized},
		{"stored key with an unknown role", "Bearer " + badRole, auth.Principal{}, errs.CodeInternal},
		{"stored key without an organization", "Bearer " + noOrg, auth.Principal{}, errs.CodeInternal},
		{"stored caregiver key without a link", "Bearer " + unlinked, auth.Principal{}, errs.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := auth.NewAuthenticator(store, nil, ratelimit.NewMemory(c.Now), c.Now)
			if err != nil {
				t.Fatalf("NewAuthenticator: %v", err)
			}
			got, err := a.Authenticate(t.Context(), request("192.0.2.1:4711", tt.header))
			if code := errs.CodeOf(err); code != tt.wantCode {
				t.Fatalf("Authenticate error = %v (code %q), want code %q", err, code, tt.wantCode)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Principal mismatch (-want +got):\n%s", diff)
			}
			if err != nil {
				_, token, _ := strings.Cut(tt.header, " ")
				if len(token) > 16 && strings.Contains(err.Error(), token[16:]) {
					t.Errorf("error %q leaks the token", err)
				}
			}
		})
	}
}

func TestAuthenticateStoreFailure(t *testing.T) {
	c := newClock()
	plaintext, _, _, err := auth.NewAPIKey()
	if err != nil {
		t.Fatalf("NewAPIKey: %v", err)
	}
	// A store that says it is unavailable, and one whose database
	// connection fails with a plain error: both are unavailable (503),
	// not internal.
	for _, store := range []auth.KeyLookup{failingStore{}, brokenStore{}} {
		limiter := ratelimit.NewMemory(c.Now)
		a, err := auth.NewAuthenticator(store, nil, limiter, c.Now)
		if err != nil {
			t.Fatalf("NewAuthenticator: %v", err)
		}
		for range auth.DefaultMaxFailures + 2 {
			_, err := a.Authenticate(t.Context(), request("192.0.2.1:4711", "Bearer "+plaintext))
			if !errs.Is(err, errs.CodeUnavailable) {
				t.Fatalf("%T: Authenticate error = %v (code %q), want unavailable", store, err, errs.CodeOf(err))
			}
		}
		// A store outage is not the caller's fault: nothing was counted.
		if over, _ := limiter.Exceeded(t.Context(), "authfail:192.0.2.1", 1); over {
			t.Errorf("%T: store failures were counted against the client", store)
		}
	}
}

type brokenStore struct{}

func (brokenStore) LookupAPIKey(context.Context, string) (auth.StoredKey, error) {
	return auth.StoredKey{}, errors.New("read API key: failed to connect to host=127.0.0.1: connection refused")
}

type failingStore struct{}

func (failingStore) LookupAPIKey(context.Context, string) (auth.StoredKey, error) {
	return auth.StoredKey{}, &errs.Error{Code: errs.CodeUnavailable, Message: "store unavailable"}
}

func TestAuthenticateRateLimitsFailures(t *testing.T) {
	c := newClock()
	store := keyStore{}
	valid, _ := newKey(t, store, auth.StoredKey{OrgID: "org-1", Role: auth.RoleIntegration})
	wrong := valid[:len(valid)-4] + "AAAA"
	if wrong == valid {
		wrong = valid[:len(valid)-4] + "BBBA"
	}
	a, err := auth.NewAuthenticator(store, nil, ratelimit.NewMemory(c.Now), c.Now)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}

	type attempt struct {
		addr     string
		header   string
		wantCode errs.Code
	}
	try := func(t *testing.T, steps ...attempt) {
		t.Helper()
		for i, s := range steps {
			_, err := a.Authenticate(t.Context(), request(s.addr, s.header))
			if code := errs.CodeOf(err); code != s.wantCode {
				t.Fatalf("attempt %d from %s: error %v (code %q), want code %q", i, s.addr, err, code, s.wantCode)
			}
		}
	}
	repeat := func(n int, s attempt) []attempt {
		out := make([]attempt, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	const addr = "198.51.100.7:50000"
	ok := attempt{addr, "Bearer " + valid, ""}
	bad := attempt{addr, "Bearer " + wrong, errs.CodeUnauthorized}

	// Successes consume nothing.
	try(t, repeat(50, ok)...)
	// The full budget of failures is answered normally…
	try(t, repeat(auth.DefaultMaxFailures-1, bad)...)
	try(t, ok)
	try(t, bad)
	// …after which even a valid key is refused, from that address only.
	try(t,
		attempt{addr, "Bearer " + valid, errs.CodeRateLimited},
		attempt{"198.51.100.7:50001", "Bearer " + wrong, errs.CodeRateLimited},
		attempt{"198.51.100.8:50000", "Bearer " + valid, ""},
		// A request without credentials guesses nothing and says so.
		attempt{addr, "", errs.CodeUnauthorized},
	)
	// Refused attempts do not extend the block: it ends one window after
	// the first failure.
	c.Advance(auth.DefaultFailureWindow - time.Second)
	try(t, attempt{addr, "Bearer " + valid, errs.CodeRateLimited})
	c.Advance(time.Second)
	try(t, ok, bad, ok)

	// IPv6 clients share a budget per /64.
	try(t, repeat(auth.DefaultMaxFailures, attempt{"[2001:db8:1:2::1]:443", "Bearer " + wrong, errs.CodeUnauthorized})...)
	try(t,
		attempt{"[2001:db8:1:2:ffff::9]:443", "Bearer " + valid, errs.CodeRateLimited},
		attempt{"[2001:db8:1:3::1]:443", "Bearer " + valid, ""},
	)
	// IPv4-mapped IPv6 addresses count as the IPv4 address.
	try(t, repeat(auth.DefaultMaxFailures, attempt{"203.0.113.5:1", "Bearer " + wrong, errs.CodeUnauthorized})...)
	try(t, attempt{"[::ffff:203.0.113.5]:2", "Bearer " + valid, errs.CodeRateLimited})
}

func TestAuthenticateCustomBudget(t *testing.T) {
	c := newClock()
	store := keyStore{}
	valid, _ := newKey(t, store, auth.StoredKey{OrgID: "org-1", Role: auth.RoleIntegration})
	a, err := auth.NewAuthenticator(store, nil, ratelimit.NewMemory(c.Now), c.Now)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	a.MaxFailures, a.FailureWindow = 2, 10*time.Second
	for range 2 {
		if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer mpk_nonsense")); !errs.Is(err, errs.CodeUnauthorized) {
			t.Fatalf("error = %v, want unauthorized", err)
		}
	}
	if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+valid)); !errs.Is(err, errs.CodeRateLimited) {
		t.Fatalf("error = %v, want rate_limited", err)
	}
	c.Advance(10 * time.Second)
	if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+valid)); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// brokenLimiter fails every call, as Redis does when unreachable.
type brokenLimiter struct{}

func (brokenLimiter) Hit(context.Context, string, time.Duration) (int, error) {
	return 0, errors.New("limiter down")
}

func (brokenLimiter) Exceeded(context.Context, string, int) (bool, error) {
	return false, errors.New("limiter down")
}

func TestAuthenticateFailsOpenWhenLimiterFails(t *testing.T) {
	c := newClock()
	store := keyStore{}
	valid, _ := newKey(t, store, auth.StoredKey{OrgID: "org-1", Role: auth.RoleIntegration})
	a, err := auth.NewAuthenticator(store, nil, brokenLimiter{}, c.Now)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	var logs bytes.Buffer
	a.Logger = slog.New(slog.NewTextHandler(&logs, nil))

	for range auth.DefaultMaxFailures + 2 {
		if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer mpk_nonsense")); !errs.Is(err, errs.CodeUnauthorized) {
			t.Fatalf("bad key: error = %v, want unauthorized", err)
		}
	}
	if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+valid)); err != nil {
		t.Fatalf("valid key with a broken limiter: %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, "limiter down") {
		t.Errorf("limiter failure not logged; log:\n%s", out)
	}
	for _, leak := range []string{"192.0.2.1", "mpk_"} {
		if strings.Contains(out, leak) {
			t.Errorf("log contains %q:\n%s", leak, out)
		}
	}
}

func TestMiddleware(t *testing.T) {
	c := newClock()
	store := keyStore{}
	valid, validID := newKey(t, store, auth.StoredKey{OrgID: "org-1", Role: auth.RoleClinician, Subject: "clin-3"})
	a, err := auth.NewAuthenticator(store, nil, ratelimit.NewMemory(c.Now), c.Now)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok {
			t.Errorf("no Principal in the context")
		}
		w.Write([]byte(p.ID + " " + p.Subject))
	})
	onError := func(w http.ResponseWriter, r *http.Request, err error) {
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte(errs.CodeOf(err)))
	}
	h := a.Middleware(next, onError)

	tests := []struct {
		name          string
		header        string
		wantStatus    int
		wantBody      string
		wantChallenge string
	}{
		{"valid key", "Bearer " + valid, http.StatusOK, validID + " clin-3", ""},
		{"missing header", "", http.StatusTeapot, "unauthorized", "Bearer"},
		{"bad key", "Bearer mpk_x", http.StatusTeapot, "unauthorized", "Bearer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, request("192.0.2.1:1", tt.header))
			if w.Code != tt.wantStatus || w.Body.String() != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body.String(), tt.wantStatus, tt.wantBody)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChallenge)
			}
		})
	}
}

func TestPrincipalContext(t *testing.T) {
	if _, ok := auth.FromContext(context.Background()); ok {
		t.Errorf("FromContext found a Principal in an empty context")
	}
	p := auth.Principal{ID: "k", OrgID: "o", Role: auth.RoleAdmin, Method: auth.MethodAPIKey}
	got, ok := auth.FromContext(auth.WithPrincipal(context.Background(), p))
	if !ok || got != p {
		t.Errorf("FromContext = %+v, %v; want %+v, true", got, ok, p)
	}
}

func TestRequire(t *testing.T) {
	tests := []struct {
		name     string
		role     auth.Role
		allowed  []auth.Role
		wantCode errs.Code
	}{
		{"allowed role", auth.RoleClinician, []auth.Role{auth.RoleAdmin, auth.RoleClinician}, ""},
		{"other role", auth.RolePatient, []auth.Role{auth.RoleAdmin, auth.RoleClinician}, errs.CodeForbidden},
		{"no roles allowed", auth.RoleAdmin, nil, errs.CodeForbidden},
		{"nobody authenticated", "", []auth.Role{auth.RoleAdmin}, errs.CodeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := auth.Require(auth.Principal{Role: tt.role}, tt.allowed...)
			if code := errs.CodeOf(err); code != tt.wantCode {
				t.Errorf("Require error = %v (code %q), want code %q", err, code, tt.wantCode)
			}
		})
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		in      string
		want    auth.Role
		wantErr bool
	}{
		{"admin", auth.RoleAdmin, false},
		{"clinician", auth.RoleClinician, false},
		{"caregiver", auth.RoleCaregiver, false},
		{"patient", auth.RolePatient, false},
		{"integration", auth.RoleIntegration, false},
		{"Admin", "", true},
		{"", "", true},
		{"root", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := auth.ParseRole(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseRole(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errs.Is(err, errs.CodeInvalid) {
				t.Errorf("error code = %q, want invalid", errs.CodeOf(err))
			}
		})
	}
}

func TestNewAuthenticatorValidates(t *testing.T) {
	limiter := ratelimit.NewMemory(nil)
	tests := []struct {
		name    string
		keys    auth.KeyLookup
		oidc    *auth.OIDCConfig
		limiter ratelimit.Limiter
	}{
		{"no method", nil, nil, limiter},
		{"no limiter", keyStore{}, nil, nil},
		{"OIDC without issuer", nil, &auth.OIDCConfig{Audience: "a", JWKSURL: "https://idp.example/jwks"}, limiter},
		{"OIDC without audience", nil, &auth.OIDCConfig{Issuer: "https://idp.example/", JWKSURL: "https://idp.example/jwks"}, limiter},
		{"OIDC without JWKS URL", nil, &auth.OIDCConfig{Issuer: "https://idp.example/", Audience: "a"}, limiter},
		{"JWKS over plain HTTP", nil, &auth.OIDCConfig{Issuer: "https://idp.example/", Audience: "a", JWKSURL: "http://idp.example/jwks"}, limiter},
		{"relative JWKS URL", nil, &auth.OIDCConfig{Issuer: "https://idp.example/", Audience: "a", JWKSURL: "/jwks"}, limiter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := auth.NewAuthenticator(tt.keys, tt.oidc, tt.limiter, nil); err == nil {
				t.Errorf("NewAuthenticator succeeded, want an error")
			}
		})
	}
}

// usingKeys is a keyStore that keeps the uses recorded of each key.
type usingKeys struct {
	keyStore
	mu   sync.Mutex
	uses map[string][]time.Time
}

func (s *usingKeys) RecordAPIKeyUse(_ context.Context, keyID string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uses[keyID] = append(s.uses[keyID], at)
	return nil
}

// The use of a key is recorded, through the key cache, at most once per
// KeyUseInterval per key; failed attempts record nothing.
func TestAuthenticateRecordsKeyUse(t *testing.T) {
	c := newClock()
	store := &usingKeys{keyStore: keyStore{}, uses: map[string][]time.Time{}}
	valid, validID := newKey(t, store.keyStore, auth.StoredKey{OrgID: "org-1", Role: auth.RoleIntegration})
	other, otherID := newKey(t, store.keyStore, auth.StoredKey{OrgID: "org-1", Role: auth.RoleIntegration})
	revoked, revokedID := newKey(t, store.keyStore, auth.StoredKey{OrgID: "org-1", Role: auth.RoleIntegration, RevokedAt: ptr(c.Now().Add(-time.Hour))})
	a, err := auth.NewAuthenticator(auth.NewKeyCache(store, time.Minute, c.Now), nil, ratelimit.NewMemory(c.Now), c.Now)
	if err != nil {
		t.Fatal(err)
	}
	use := func(token string) {
		t.Helper()
		_, _ = a.Authenticate(t.Context(), request("192.0.2.1:4711", "Bearer "+token))
	}
	start := c.Now()
	for range 5 {
		use(valid)
		c.Advance(10 * time.Second)
	}
	use(other)
	use(revoked)
	c.Advance(auth.KeyUseInterval)
	use(valid)
	store.mu.Lock()
	defer store.mu.Unlock()
	if got := store.uses[validID]; len(got) != 2 || !got[0].Equal(start) || !got[1].Equal(start.Add(50*time.Second+auth.KeyUseInterval)) {
		t.Errorf("uses of the busy key = %v, want two, a minute and more apart", got)
	}
	if got := store.uses[otherID]; len(got) != 1 {
		t.Errorf("uses of the other key = %v, want one", got)
	}
	if got := store.uses[revokedID]; len(got) != 0 {
		t.Errorf("a refused key's use was recorded: %v", got)
	}
}

func ptr[T any](v T) *T { return &v }

// TestAuthenticateDisabledKey: a key whose holder is disabled is refused as
// forbidden, with the store's reason, once its secret is verified, and
// however often it is presented it never uses up the client's failure
// budget: it is not a guess.
func TestAuthenticateDisabledKey(t *testing.T) {
	c := newClock()
	store := keyStore{}
	disabled, _ := newKey(t, store, auth.StoredKey{OrgID: "org-1", Role: auth.RolePatient, Subject: "p-1", Disabled: "the patient is deactivated"})
	valid, _ := newKey(t, store, auth.StoredKey{OrgID: "org-1", Role: auth.RoleIntegration})
	a, err := auth.NewAuthenticator(store, nil, ratelimit.NewMemory(c.Now), c.Now)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	const addr = "198.51.100.9:1"
	for range 2 * auth.DefaultMaxFailures {
		_, err := a.Authenticate(t.Context(), request(addr, "Bearer "+disabled))
		if !errs.Is(err, errs.CodeForbidden) || !strings.Contains(err.Error(), "the patient is deactivated") {
			t.Fatalf("disabled key: %v, want forbidden with the store's reason", err)
		}
	}
	if _, err := a.Authenticate(t.Context(), request(addr, "Bearer "+valid)); err != nil {
		t.Fatalf("valid key after the disabled one: %v, want accepted (no failure counted)", err)
	}
	// A wrong secret for the disabled key is a guess, answered as one.
	wrong := disabled[:len(disabled)-4] + "AAAA"
	if wrong == disabled {
		wrong = disabled[:len(disabled)-4] + "BBBA"
	}
	if _, err := a.Authenticate(t.Context(), request(addr, "Bearer "+wrong)); !errs.Is(err, errs.CodeUnauthorized) {
		t.Fatalf("wrong secret of a disabled key: %v, want unauthorized", err)
	}
}
