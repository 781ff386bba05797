package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/ratelimit"
)

const (
	testIssuer   = "https://idp.example.test/realms/medplatform"
	testAudience = "medplatform-api"
)

// identityProvider publishes one RSA signing key as a JWKS over HTTP.
type identityProvider struct {
	key *rsa.PrivateKey
	kid string
	srv *httptest.Server
}

func newIdentityProvider(t *testing.T) *identityProvider {
	t.Helper()
	idp := &identityProvider{key: newRSAKey(t), kid: "key-1"}
	jwks, err := json.Marshal(map[string]any{"keys": []any{map[string]string{
		"kty": "RSA",
		"use": "sig",
		"alg": "RS256",
		"kid": idp.kid,
		"n":   base64.RawURLEncoding.EncodeToString(idp.key.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(idp.key.E)).Bytes()),
	}}})
	if err != nil {
		t.Fatalf("marshal JWKS: %v", err)
	}
	idp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks)
	}))
	t.Cleanup(idp.srv.Close)
	return idp
}

func newRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generate RSA key: %v", err)
	}
	return k
}

func (idp *identityProvider) config() *auth.OIDCConfig {
	return &auth.OIDCConfig{Issuer: testIssuer, Audience: testAudience, JWKSURL: idp.srv.URL + "/jwks"}
}

// sign returns a JWT with the claims, signed by key with the kid header.
func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign JWT: %v", err)
	}
	return s
}

func TestAuthenticateOIDC(t *testing.T) {
	c := newClock()
	idp := newIdentityProvider(t)
	otherKey := newRSAKey(t)
	now := c.Now()

	// claims returns valid clinician claims changed by edit.
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		m := jwt.MapClaims{
			"iss":        testIssuer,
			"aud":        testAudience,
			"sub":        "user-123",
			"iat":        now.Add(-time.Minute).Unix(),
			"exp":        now.Add(5 * time.Minute).Unix(),
			"org_id":     "org-1",
			"role":       "clinician",
			"subject_id": "clin-9",
		}
		if edit != nil {
			edit(m)
		}
		return m
	}
	rs256 := func(edit func(jwt.MapClaims)) string {
		return sign(t, jwt.SigningMethodRS256, idp.key, idp.kid, claims(edit))
	}
	clinician := auth.Principal{ID: "oidc:user-123", OrgID: "org-1", Role: auth.RoleClinician, Subject: "clin-9", Method: auth.MethodOIDC}

	tests := []struct {
		name     string
		token    string
		want     auth.Principal
		wantCode errs.Code
		wantMsg  string // substring of the message, when checked
	}{
		{name: "valid token", token: rs256(nil), want: clinician},
		{name: "audience among several", token: rs256(func(m jwt.MapClaims) { m["aud"] = []string{"other", testAudience} }), want: clinician},
		{
			name:  "patient linked to its record",
			token: rs256(func(m jwt.MapClaims) { m["role"] = "patient"; m["subject_id"] = "pat-42" }),
			want:  auth.Principal{ID: "oidc:user-123", OrgID: "org-1", Role: auth.RolePatient, Subject: "pat-42", Method: auth.MethodOIDC},
		},
		{
			name:  "admin without link",
			token: rs256(func(m jwt.MapClaims) { m["role"] = "admin"; delete(m, "subject_id") }),
			want:  auth.Principal{ID: "oidc:user-123", OrgID: "org-1", Role: auth.RoleAdmin, Method: auth.MethodOIDC},
		},
		// Admins and integrations have no subject, as their API keys have
		// none: one sent anyway is not kept (QA: another organization's
		// patient id was, and an acknowledgement recorded it as who acknowledged).
		{
			name:  "admin with a link claim",
			token: rs256(func(m jwt.MapClaims) { m["role"] = "admin"; m["subject_id"] = "pat-of-another-org" }),
			want:  auth.Principal{ID: "oidc:user-123", OrgID: "org-1", Role: auth.RoleAdmin, Method: auth.MethodOIDC},
		},
		{
			name:  "integration with a link claim",
			token: rs256(func(m jwt.MapClaims) { m["role"] = "integration"; m["subject_id"] = "pat-42" }),
			want:  auth.Principal{ID: "oidc:user-123", OrgID: "org-1", Role: auth.RoleIntegration, Method: auth.MethodOIDC},
		},
		{name: "wrong issuer", token: rs256(func(m jwt.MapClaims) { m["iss"] = "https://evil.example.test/" }), wantCode: errs.CodeUnauthorized, wantMsg: "token is not valid"},
		{name: "wrong audience", token: rs256(func(m jwt.MapClaims) { m["aud"] = "another-client" }), wantCode: errs.CodeUnauthorized, wantMsg: "token is not valid"},
		{name: "expired", token: rs256(func(m jwt.MapClaims) { m["exp"] = now.Add(-time.Second).Unix() }), wantCode: errs.CodeUnauthorized, wantMsg: "expired"},
		{name: "missing exp", token: rs256(func(m jwt.MapClaims) { delete(m, "exp") }), wantCode: errs.CodeUnauthorized},
		{name: "exp not a number", token: rs256(func(m jwt.MapClaims) { m["exp"] = "tomorrow" }), wantCode: errs.CodeUnauthorized},
		// NumericDates are JSON numbers, fractions allowed (RFC 7519 §2);
		// go-oidc reads a string of digits too.
		{name: "exp with a fraction", token: rs256(func(m jwt.MapClaims) { m["exp"] = float64(now.Add(5*time.Minute).Unix()) + 0.5 }), want: clinician},
		{name: "exp a string of digits", token: rs256(func(m jwt.MapClaims) { m["exp"] = fmt.Sprint(now.Add(5 * time.Minute).Unix()) }), wantCode: errs.CodeUnauthorized, wantMsg: `"exp" claim is a string, not a number`},
		{name: "nbf a string of digits", token: rs256(func(m jwt.MapClaims) { m["nbf"] = fmt.Sprint(now.Add(-time.Minute).Unix()) }), wantCode: errs.CodeUnauthorized, wantMsg: `"nbf" claim is a string, not a number`},
		// go-oidc matches registered claim names whatever their case.
		{name: "EXP instead of exp", token: rs256(func(m jwt.MapClaims) { m["EXP"] = m["exp"]; delete(m, "exp") }), wantCode: errs.CodeUnauthorized, wantMsg: `claim named "exp" in another case`},
		{name: "an expired Exp beside exp", token: rs256(func(m jwt.MapClaims) { m["Exp"] = now.Add(-time.Hour).Unix() }), wantCode: errs.CodeUnauthorized, wantMsg: `claim named "exp" in another case`},
		{name: "IAT a string", token: rs256(func(m jwt.MapClaims) { m["IAT"] = fmt.Sprint(now.Unix()) }), wantCode: errs.CodeUnauthorized, wantMsg: `claim named "iat" in another case`},
		{name: "Sub beside sub", token: rs256(func(m jwt.MapClaims) { m["Sub"] = "admin" }), wantCode: errs.CodeUnauthorized, wantMsg: `claim named "sub" in another case`},
		{name: "iat a string of digits", token: rs256(func(m jwt.MapClaims) { m["iat"] = fmt.Sprint(now.Add(-time.Minute).Unix()) }), wantCode: errs.CodeUnauthorized, wantMsg: `"iat" claim is a string, not a number`},
		{name: "HS256 signed with the provider's public key", token: sign(t, jwt.SigningMethodHS256, x509.MarshalPKCS1PublicKey(&idp.key.PublicKey), idp.kid, claims(nil)), wantCode: errs.CodeUnauthorized},
		{name: "not yet valid", token: rs256(func(m jwt.MapClaims) { m["nbf"] = now.Add(time.Hour).Unix() }), wantCode: errs.CodeUnauthorized},
		{name: "signed by another key", token: sign(t, jwt.SigningMethodRS256, otherKey, idp.kid, claims(nil)), wantCode: errs.CodeUnauthorized, wantMsg: "token is not valid"},
		{name: "unknown key id", token: sign(t, jwt.SigningMethodRS256, otherKey, "key-2", claims(nil)), wantCode: errs.CodeUnauthorized},
		{name: "HS256 is not accepted", token: sign(t, jwt.SigningMethodHS256, []byte("shared secret"), idp.kid, claims(nil)), wantCode: errs.CodeUnauthorized},
		{name: "alg none", token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, idp.kid, claims(nil)), wantCode: errs.CodeUnauthorized},
		{name: "unknown role", token: rs256(func(m jwt.MapClaims) { m["role"] = "superuser" }), wantCode: errs.CodeUnauthorized, wantMsg: "role is not recognised"},
		{name: "missing org claim", token: rs256(func(m jwt.MapClaims) { delete(m, "org_id") }), wantCode: errs.CodeUnauthorized, wantMsg: `"org_id"`},
		// A claim of another type is named as such: it was reported
		// missing, which sent the operator looking for a claim that was there.
		{name: "org claim not a string", token: rs256(func(m jwt.MapClaims) { m["org_id"] = 17 }), wantCode: errs.CodeUnauthorized, wantMsg: `"org_id" claim is a number, not a string`},
		{name: "role claim not a string", token: rs256(func(m jwt.MapClaims) { m["role"] = 3 }), wantCode: errs.CodeUnauthorized, wantMsg: `"role" claim is a number, not a string`},
		{name: "role claim a list", token: rs256(func(m jwt.MapClaims) { m["role"] = []string{"clinician"} }), wantCode: errs.CodeUnauthorized, wantMsg: `"role" claim is an array, not a string`},
		{name: "link claim not a string", token: rs256(func(m jwt.MapClaims) { m["role"] = "patient"; m["subject_id"] = 42 }), wantCode: errs.CodeUnauthorized, wantMsg: `"subject_id" claim is a number, not a string`},
		{name: "link claim of an admin not a string", token: rs256(func(m jwt.MapClaims) { m["role"] = "admin"; m["subject_id"] = true }), wantCode: errs.CodeUnauthorized, wantMsg: `"subject_id" claim is a boolean, not a string`},
		// The registered claims too (go-oidc refuses them unparsed): named
		// with their type once the signature is good, never before.
		{name: "subject not a string", token: rs256(func(m jwt.MapClaims) { m["sub"] = 123 }), wantCode: errs.CodeUnauthorized, wantMsg: `"sub" claim is a number, not a string`},
		{name: "subject an object", token: rs256(func(m jwt.MapClaims) { m["sub"] = map[string]any{"id": "user-123"} }), wantCode: errs.CodeUnauthorized, wantMsg: `"sub" claim is an object, not a string`},
		{name: "issuer not a string", token: rs256(func(m jwt.MapClaims) { m["iss"] = 7 }), wantCode: errs.CodeUnauthorized, wantMsg: `"iss" claim is a number, not a string`},
		{name: "audience a number", token: rs256(func(m jwt.MapClaims) { m["aud"] = 5 }), wantCode: errs.CodeUnauthorized, wantMsg: `"aud" claim is a number, not a string or an array of strings`},
		{name: "audience an object", token: rs256(func(m jwt.MapClaims) { m["aud"] = map[string]any{"client": testAudience} }), wantCode: errs.CodeUnauthorized, wantMsg: `"aud" claim is an object, not a string or an array of strings`},
		{name: "audience holding a number", token: rs256(func(m jwt.MapClaims) { m["aud"] = []any{testAudience, 5} }), wantCode: errs.CodeUnauthorized, wantMsg: `"aud" claim holds a number, not only strings`},
		{name: "subject not a string, signed by another key", token: sign(t, jwt.SigningMethodRS256, otherKey, idp.kid, claims(func(m jwt.MapClaims) { m["sub"] = 123 })), wantCode: errs.CodeUnauthorized, wantMsg: "token is not valid"},
		{name: "missing role claim", token: rs256(func(m jwt.MapClaims) { delete(m, "role") }), wantCode: errs.CodeUnauthorized, wantMsg: `"role"`},
		{name: "missing subject", token: rs256(func(m jwt.MapClaims) { delete(m, "sub") }), wantCode: errs.CodeUnauthorized, wantMsg: `"sub"`},
		{name: "patient without link", token: rs256(func(m jwt.MapClaims) { m["role"] = "patient"; delete(m, "subject_id") }), wantCode: errs.CodeUnauthorized, wantMsg: `"subject_id"`},
		{name: "caregiver with empty link", token: rs256(func(m jwt.MapClaims) { m["role"] = "caregiver"; m["subject_id"] = "" }), wantCode: errs.CodeUnauthorized},
		{name: "garbage", token: "not.a.jwt", wantCode: errs.CodeUnauthorized},
	}
	a, err := auth.NewAuthenticator(nil, idp.config(), ratelimit.NewMemory(c.Now), c.Now)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	a.MaxFailures = 1000 // this test is about verification, not the budget
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+tt.token))
			if code := errs.CodeOf(err); code != tt.wantCode {
				t.Fatalf("Authenticate error = %v (code %q), want code %q", err, code, tt.wantCode)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Principal mismatch (-want +got):\n%s", diff)
			}
			if err == nil {
				return
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
			// Neither the token nor claim values may appear in the error.
			for _, leak := range []string{tt.token, "user-123", "org-1", "clin-9", "superuser", "evil", "another-client"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q leaks %q", err, leak)
				}
			}
		})
	}
}

func TestAuthenticateOIDCCustomClaims(t *testing.T) {
	c := newClock()
	idp := newIdentityProvider(t)
	cfg := idp.config()
	cfg.OrgClaim, cfg.RoleClaim, cfg.LinkClaim = "custom:org_id", "custom:role", "custom:patient_id"
	a, err := auth.NewAuthenticator(nil, cfg, ratelimit.NewMemory(c.Now), c.Now)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	token := sign(t, jwt.SigningMethodRS256, idp.key, idp.kid, jwt.MapClaims{
		"iss":               testIssuer,
		"aud":               testAudience,
		"sub":               "abc",
		"exp":               c.Now().Add(time.Minute).Unix(),
		"custom:org_id":     "org-2",
		"custom:role":       "patient",
		"custom:patient_id": "pat-1",
		"org_id":            "ignored",
	})
	got, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+token))
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	want := auth.Principal{ID: "oidc:abc", OrgID: "org-2", Role: auth.RolePatient, Subject: "pat-1", Method: auth.MethodOIDC}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Principal mismatch (-want +got):\n%s", diff)
	}
}

func TestAuthenticateOIDCAndAPIKeysTogether(t *testing.T) {
	c := newClock()
	idp := newIdentityProvider(t)
	store := keyStore{}
	key, keyID := newKey(t, store, auth.StoredKey{OrgID: "org-1", Role: auth.RoleIntegration})
	a, err := auth.NewAuthenticator(store, idp.config(), ratelimit.NewMemory(c.Now), c.Now)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	jwtToken := sign(t, jwt.SigningMethodRS256, idp.key, idp.kid, jwt.MapClaims{
		"iss": testIssuer, "aud": testAudience, "sub": "u", "exp": c.Now().Add(time.Minute).Unix(),
		"org_id": "org-1", "role": "admin",
	})
	for _, tc := range []struct {
		token, wantID string
	}{{key, keyID}, {jwtToken, "oidc:u"}} {
		p, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+tc.token))
		if err != nil || p.ID != tc.wantID {
			t.Errorf("Authenticate = %+v, %v; want ID %q", p, err, tc.wantID)
		}
	}
}

func TestAuthenticateOIDCRateLimited(t *testing.T) {
	c := newClock()
	idp := newIdentityProvider(t)
	a, err := auth.NewAuthenticator(nil, idp.config(), ratelimit.NewMemory(c.Now), c.Now)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	valid := sign(t, jwt.SigningMethodRS256, idp.key, idp.kid, jwt.MapClaims{
		"iss": testIssuer, "aud": testAudience, "sub": "u", "exp": c.Now().Add(time.Hour).Unix(),
		"org_id": "org-1", "role": "admin",
	})
	expired := sign(t, jwt.SigningMethodRS256, idp.key, idp.kid, jwt.MapClaims{
		"iss": testIssuer, "aud": testAudience, "sub": "u", "exp": c.Now().Add(-time.Hour).Unix(),
		"org_id": "org-1", "role": "admin",
	})
	for range auth.DefaultMaxFailures {
		if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+expired)); !errs.Is(err, errs.CodeUnauthorized) {
			t.Fatalf("expired token: error = %v, want unauthorized", err)
		}
	}
	if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+valid)); !errs.Is(err, errs.CodeRateLimited) {
		t.Fatalf("valid token after the budget: error = %v, want rate_limited", err)
	}
	c.Advance(auth.DefaultFailureWindow)
	if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+valid)); err != nil {
		t.Fatalf("valid token after the window: %v", err)
	}
}

// TestAuthenticateOIDCProviderUnreachable checks that a key set that cannot
// be fetched is reported as unavailable and not held against the client.
func TestAuthenticateOIDCProviderUnreachable(t *testing.T) {
	c := newClock()
	idp := newIdentityProvider(t)
	cfg := idp.config()
	token := sign(t, jwt.SigningMethodRS256, idp.key, idp.kid, jwt.MapClaims{
		"iss": testIssuer, "aud": testAudience, "sub": "u", "exp": c.Now().Add(time.Hour).Unix(),
		"org_id": "org-1", "role": "admin",
	})
	idp.srv.Close()
	a, err := auth.NewAuthenticator(nil, cfg, ratelimit.NewMemory(c.Now), c.Now)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	for range auth.DefaultMaxFailures + 2 {
		_, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+token))
		if !errs.Is(err, errs.CodeUnavailable) {
			t.Fatalf("error = %v (code %q), want unavailable", err, errs.CodeOf(err))
		}
	}
}

// TestAuthenticateOIDCKeyRotation: when the provider rotates its signing
// key, a token signed with the new key (an unknown kid) is accepted after
// the key set is fetched again, and the retired key is no longer trusted.
func TestAuthenticateOIDCKeyRotation(t *testing.T) {
	c := newClock()
	oldKey, newKey := newRSAKey(t), newRSAKey(t)
	jwk := func(k *rsa.PrivateKey, kid string) map[string]string {
		return map[string]string{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
			"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
	}
	var mu sync.Mutex
	published := []any{jwk(oldKey, "old")}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"keys": published})
	}))
	t.Cleanup(srv.Close)
	cfg := &auth.OIDCConfig{Issuer: testIssuer, Audience: testAudience, JWKSURL: srv.URL + "/jwks"}
	a, err := auth.NewAuthenticator(nil, cfg, ratelimit.NewMemory(c.Now), c.Now)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	a.MaxFailures = 1000
	token := func(k *rsa.PrivateKey, kid string) string {
		return sign(t, jwt.SigningMethodRS256, k, kid, jwt.MapClaims{
			"iss": testIssuer, "aud": testAudience, "sub": "u", "exp": c.Now().Add(time.Minute).Unix(),
			"org_id": "org-1", "role": "admin",
		})
	}
	check := func(what, tok string, wantOK bool) {
		t.Helper()
		_, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+tok))
		if (err == nil) != wantOK {
			t.Errorf("%s: Authenticate error = %v, want ok = %v", what, err, wantOK)
		}
	}
	check("old key before rotation", token(oldKey, "old"), true)
	check("new key before it is published", token(newKey, "new"), false)

	mu.Lock()
	published = []any{jwk(newKey, "new")}
	mu.Unlock()
	check("new key after rotation", token(newKey, "new"), true)
	check("old key after rotation", token(oldKey, "old"), false)
	check("new key under the old kid", token(newKey, "old"), false)
}

// TestAuthenticateOIDCKeyRotationWhileFetching rotates the signing key
// again and again while other requests keep the key set being fetched (as
// tokens of an unknown key do). Each time, a token signed with the key
// just published must be accepted and one signed with the retired key
// refused: a request must be checked against keys fetched after it found
// its key missing, never against a fetch that started before (go-oidc's
// RemoteKeySet let it join one, and answered before storing the keys).
func TestAuthenticateOIDCKeyRotationWhileFetching(t *testing.T) {
	c := newClock()
	keys := [2]*rsa.PrivateKey{newRSAKey(t), newRSAKey(t)}
	jwk := func(k *rsa.PrivateKey, kid string) map[string]string {
		return map[string]string{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
			"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
	}
	var mu sync.Mutex
	published := []any{jwk(keys[0], "k0")}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		body, err := json.Marshal(map[string]any{"keys": published})
		mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	cfg := &auth.OIDCConfig{Issuer: testIssuer, Audience: testAudience, JWKSURL: srv.URL + "/jwks"}
	a, err := auth.NewAuthenticator(nil, cfg, ratelimit.NewMemory(c.Now), c.Now)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	a.MaxFailures = 1 << 30 // this test is about verification, not the budget
	token := func(k *rsa.PrivateKey, kid string) string {
		return sign(t, jwt.SigningMethodRS256, k, kid, jwt.MapClaims{
			"iss": testIssuer, "aud": testAudience, "sub": "u", "exp": c.Now().Add(time.Minute).Unix(),
			"org_id": "org-1", "role": "admin",
		})
	}

	unknown := "Bearer " + token(keys[0], "never-published")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := a.Authenticate(t.Context(), request("192.0.2.9:1", unknown)); err == nil {
					t.Error("a token of a key never published was accepted")
					return
				}
			}
		})
	}
	defer wg.Wait()
	defer close(stop)

	const rotations = 300
	for i := 1; i <= rotations && !t.Failed(); i++ {
		kid, key := fmt.Sprintf("k%d", i), keys[i%2]
		mu.Lock()
		published = []any{jwk(key, kid)}
		mu.Unlock()
		if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+token(key, kid))); err != nil {
			t.Errorf("rotation %d: the new key refused: %v", i, err)
		}
		retired := token(keys[(i-1)%2], fmt.Sprintf("k%d", i-1))
		if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+retired)); err == nil {
			t.Errorf("rotation %d: the retired key accepted", i)
		}
	}
}

// TestAuthenticateOIDCKeySetContents: keys the platform cannot use are
// skipped, not a reason to refuse the whole set; a provider answering with
// an error status or with a body that is not a key set is an outage (503,
// not counted against the client), not the client's bad token: a 500 from
// the provider turned valid tokens into counted 401s until the client was
// locked out (QA).
func TestAuthenticateOIDCKeySetContents(t *testing.T) {
	c := newClock()
	key := newRSAKey(t)
	good := map[string]string{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "good",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes())}
	tok := sign(t, jwt.SigningMethodRS256, key, "good", jwt.MapClaims{
		"iss": testIssuer, "aud": testAudience, "sub": "u", "exp": c.Now().Add(time.Minute).Unix(),
		"org_id": "org-1", "role": "admin",
	})
	tests := []struct {
		name     string
		status   int
		body     any
		wantCode errs.Code
	}{
		{name: "only the key", status: http.StatusOK, body: map[string]any{"keys": []any{good}}},
		{name: "beside a key of an unsupported algorithm and one of an unsupported curve", status: http.StatusOK, body: map[string]any{"keys": []any{
			map[string]string{"kty": "EC", "alg": "ES256K", "crv": "secp256k1", "kid": "k1", "x": "AA", "y": "AA"},
			map[string]string{"kty": "OKP", "crv": "Ed448", "kid": "ed448", "x": "AA"},
			good,
		}}},
		{name: "empty set", status: http.StatusOK, body: map[string]any{"keys": []any{}}, wantCode: errs.CodeUnauthorized},
		{name: "not a key set", status: http.StatusOK, body: []int{1}, wantCode: errs.CodeUnavailable},
		{name: "error status", status: http.StatusInternalServerError, body: map[string]any{"keys": []any{good}}, wantCode: errs.CodeUnavailable},
		{name: "not found", status: http.StatusNotFound, body: map[string]any{"keys": []any{good}}, wantCode: errs.CodeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				json.NewEncoder(w).Encode(tt.body)
			}))
			defer srv.Close()
			cfg := &auth.OIDCConfig{Issuer: testIssuer, Audience: testAudience, JWKSURL: srv.URL + "/jwks"}
			a, err := auth.NewAuthenticator(nil, cfg, ratelimit.NewMemory(c.Now), c.Now)
			if err != nil {
				t.Fatalf("NewAuthenticator: %v", err)
			}
			_, err = a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+tok))
			if code := errs.CodeOf(err); code != tt.wantCode {
				t.Fatalf("Authenticate error = %v (code %q), want code %q", err, code, tt.wantCode)
			}
		})
	}
}

// TestAuthenticateOIDCKeyUse: a key the provider publishes for encryption
// ("use": "enc", RFC 7517 section 4.2) or whose "key_ops" leave out
// "verify" (section 4.3) never verifies a token's signature, whether the
// token names it by kid or names no key; the signing keys published beside
// it still verify theirs.
func TestAuthenticateOIDCKeyUse(t *testing.T) {
	c := newClock()
	jwk := func(k *rsa.PrivateKey, kid string, extra map[string]any) map[string]any {
		m := map[string]any{"kty": "RSA", "alg": "RS256", "kid": kid,
			"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
		for name, v := range extra {
			m[name] = v
		}
		return m
	}
	keys := map[string]*rsa.PrivateKey{}
	for _, kid := range []string{"sig", "no-use", "ops-verify", "enc", "ops-encrypt", "ops-sign-only", "ops-empty"} {
		keys[kid] = newRSAKey(t)
	}
	set := map[string]any{"keys": []any{
		jwk(keys["enc"], "enc", map[string]any{"use": "enc"}),
		jwk(keys["ops-encrypt"], "ops-encrypt", map[string]any{"key_ops": []string{"encrypt", "wrapKey"}}),
		jwk(keys["ops-sign-only"], "ops-sign-only", map[string]any{"key_ops": []string{"sign"}}),
		jwk(keys["ops-empty"], "ops-empty", map[string]any{"key_ops": []string{}}),
		jwk(keys["sig"], "sig", map[string]any{"use": "sig"}),
		jwk(keys["no-use"], "no-use", nil),
		jwk(keys["ops-verify"], "ops-verify", map[string]any{"key_ops": []string{"verify"}}),
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	cfg := &auth.OIDCConfig{Issuer: testIssuer, Audience: testAudience, JWKSURL: srv.URL + "/jwks"}
	a, err := auth.NewAuthenticator(nil, cfg, ratelimit.NewMemory(c.Now), c.Now)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	a.MaxFailures = 1000 // this test is about verification, not the budget
	claims := jwt.MapClaims{
		"iss": testIssuer, "aud": testAudience, "sub": "u", "exp": c.Now().Add(time.Minute).Unix(),
		"org_id": "org-1", "role": "admin",
	}
	// noKid signs without a kid header, so that every key is tried.
	noKid := func(k *rsa.PrivateKey) string {
		t.Helper()
		s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(k)
		if err != nil {
			t.Fatalf("sign JWT: %v", err)
		}
		return s
	}
	tests := []struct {
		name     string
		token    string
		wantCode errs.Code
	}{
		{name: `"use": "sig"`, token: sign(t, jwt.SigningMethodRS256, keys["sig"], "sig", claims)},
		{name: `no "use"`, token: sign(t, jwt.SigningMethodRS256, keys["no-use"], "no-use", claims)},
		{name: `"key_ops": ["verify"]`, token: sign(t, jwt.SigningMethodRS256, keys["ops-verify"], "ops-verify", claims)},
		{name: `"use": "sig", no kid`, token: noKid(keys["sig"])},
		{name: `"use": "enc"`, token: sign(t, jwt.SigningMethodRS256, keys["enc"], "enc", claims), wantCode: errs.CodeUnauthorized},
		{name: `"key_ops": ["encrypt", "wrapKey"]`, token: sign(t, jwt.SigningMethodRS256, keys["ops-encrypt"], "ops-encrypt", claims), wantCode: errs.CodeUnauthorized},
		{name: `"key_ops": ["sign"]`, token: sign(t, jwt.SigningMethodRS256, keys["ops-sign-only"], "ops-sign-only", claims), wantCode: errs.CodeUnauthorized},
		{name: `"key_ops": []`, token: sign(t, jwt.SigningMethodRS256, keys["ops-empty"], "ops-empty", claims), wantCode: errs.CodeUnauthorized},
		{name: `"use": "enc", no kid`, token: noKid(keys["enc"]), wantCode: errs.CodeUnauthorized},
		{name: `"key_ops": ["encrypt", "wrapKey"], no kid`, token: noKid(keys["ops-encrypt"]), wantCode: errs.CodeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+tt.token))
			if code := errs.CodeOf(err); code != tt.wantCode {
				t.Fatalf("Authenticate error = %v (code %q), want code %q", err, code, tt.wantCode)
			}
		})
	}
}

// TestAuthenticateOIDCSubjectCheck: CheckOIDCSubject sees the principal
// of a good token; its refusal refuses the token and counts against the
// client's failure budget, and its other errors pass through uncounted.
func TestAuthenticateOIDCSubjectCheck(t *testing.T) {
	c := newClock()
	idp := newIdentityProvider(t)
	a, err := auth.NewAuthenticator(nil, idp.config(), ratelimit.NewMemory(c.Now), c.Now)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	token := func(subject string) string {
		return sign(t, jwt.SigningMethodRS256, idp.key, idp.kid, jwt.MapClaims{
			"iss": testIssuer, "aud": testAudience, "sub": "u", "exp": c.Now().Add(time.Hour).Unix(),
			"org_id": "org-1", "role": "caregiver", "subject_id": subject,
		})
	}
	var seen []auth.Principal
	a.CheckOIDCSubject = func(_ context.Context, p auth.Principal) error {
		seen = append(seen, p)
		switch p.Subject {
		case "clinician-member":
			return errs.Unauthorized("token's subject names a clinician, not a caregiver")
		case "store-down":
			return errs.E(errs.CodeUnavailable, "database unavailable")
		}
		return nil
	}
	p, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+token("carer-1")))
	if err != nil || p.Subject != "carer-1" || len(seen) != 1 || seen[0] != p {
		t.Fatalf("accepted subject: principal %+v, error %v, checked %+v", p, err, seen)
	}
	if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+token("store-down"))); !errs.Is(err, errs.CodeUnavailable) {
		t.Fatalf("check failing: error = %v, want unavailable", err)
	}
	for range auth.DefaultMaxFailures {
		_, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+token("clinician-member")))
		if !errs.Is(err, errs.CodeUnauthorized) || !strings.Contains(err.Error(), "not a caregiver") {
			t.Fatalf("refused subject: error = %v, want unauthorized saying why", err)
		}
	}
	// The refusals used up the budget; the outage did not count.
	if _, err := a.Authenticate(t.Context(), request("192.0.2.1:1", "Bearer "+token("carer-1"))); !errs.Is(err, errs.CodeRateLimited) {
		t.Fatalf("after %d refused subjects: error = %v, want rate_limited", auth.DefaultMaxFailures, err)
	}
}
