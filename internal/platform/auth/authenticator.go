package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/ratelimit"
)

// Defaults for the failure budget of an Authenticator.
const (
	// DefaultMaxFailures is how many failed attempts a client address may
	// make per window before every attempt from it is refused.
	DefaultMaxFailures = 10
	// DefaultFailureWindow is the window of the failure budget.
	DefaultFailureWindow = time.Minute
)

// maxTokenLen bounds the bearer token. Real API keys are 60 bytes and
// provider tokens a few kilobytes; anything longer is refused before any
// parsing.
const maxTokenLen = 8 << 10

// Authenticator turns the bearer token of a request into a Principal. Tokens
// starting with APIKeyPrefix are API keys; any other token is an OIDC token
// when OIDC is configured.
//
// Failed attempts are counted per client address in the limiter; once an
// address reaches MaxFailures within FailureWindow, every further attempt
// from it, valid or not, is refused with code errs.CodeRateLimited until the
// window passes (see package ratelimit for the window semantics). Only
// presented-but-wrong credentials count: a request without an Authorization
// header guesses nothing, and an outage of the key store or the identity
// provider is not the caller's fault. Successful attempts consume nothing.
//
// The client address is the host of http.Request.RemoteAddr. Behind the
// load balancer that is the balancer's address unless whoever builds the
// request (a trusted-proxy middleware in the HTTP layer) has already replaced
// RemoteAddr with the client address from X-Forwarded-For; this package never
// reads forwarding headers itself, since clients can forge them. IPv6
// clients are counted per /64 network, the smallest block a single
// subscriber is usually assigned, so one client cannot escape the budget by
// rotating through its addresses.
//
// When the limiter fails, authentication proceeds (fail open) and the error
// is logged: an unreachable Redis must not lock everyone out.
type Authenticator struct {
	// MaxFailures is the failure budget per client address and window.
	// NewAuthenticator sets DefaultMaxFailures; change it before use.
	MaxFailures int
	// FailureWindow is the window of the failure budget. NewAuthenticator
	// sets DefaultFailureWindow; change it before use.
	FailureWindow time.Duration
	// Logger receives limiter failures. NewAuthenticator sets a logger that
	// discards; replace it before use. Log records never contain
	// credentials or client addresses.
	Logger *slog.Logger

	// CheckOIDCSubject, when set, is called with every principal an OIDC
	// token yields, once its signature and claims are good: the product
	// checks there that the organization and the subject the token names
	// exist and that the subject is of the role's kind (an API key's are
	// checked when the key is made). An error of code errs.CodeUnauthorized
	// refuses the token, and counts against the client's failure budget;
	// any other error fails the request (errs.CodeForbidden: a subject
	// that may not sign in for now, such as a deactivated patient).
	CheckOIDCSubject func(ctx context.Context, p Principal) error

	keys    KeyLookup
	oidc    *oidcVerifier
	limiter ratelimit.Limiter
	now     func() time.Time

	// usedMu guards used: when this process last recorded each key's use
	// (KeyUseRecorder).
	usedMu sync.Mutex
	used   map[string]time.Time

	// logMu guards unavailableLogged: when logUnavailable last logged.
	logMu             sync.Mutex
	unavailableLogged time.Time
}

// NewAuthenticator returns an Authenticator that looks API keys up in keys
// (nil refuses API keys), verifies OIDC tokens per oidcCfg (nil refuses
// them), counts failures in limiter and reads the time from now (time.Now
// when nil). At least one of keys and oidcCfg is required, and so is
// limiter. With OIDC configured, the provider's key set is fetched on first
// use, not here.
func NewAuthenticator(keys KeyLookup, oidcCfg *OIDCConfig, limiter ratelimit.Limiter, now func() time.Time) (*Authenticator, error) {
	if keys == nil && oidcCfg == nil {
		return nil, errors.New("auth: neither API keys nor OIDC are configured")
	}
	if limiter == nil {
		return nil, errors.New("auth: a rate limiter is required")
	}
	if now == nil {
		now = time.Now
	}
	a := &Authenticator{
		MaxFailures:   DefaultMaxFailures,
		FailureWindow: DefaultFailureWindow,
		Logger:        slog.New(slog.DiscardHandler),
		keys:          keys,
		limiter:       limiter,
		now:           now,
	}
	if oidcCfg != nil {
		v, err := newOIDCVerifier(*oidcCfg, now)
		if err != nil {
			return nil, err
		}
		a.oidc = v
		v.keys.onFetchError = func(err error) {
			a.logUnavailable(context.Background(), "auth: the identity provider's signing keys cannot be fetched", err)
		}
	}
	return a, nil
}

// Authenticate returns the Principal that r's "Authorization: Bearer" token
// identifies. Errors have code errs.CodeUnauthorized for missing or bad
// credentials, errs.CodeRateLimited when the client address has used up its
// failure budget, and otherwise come from the key store or the identity
// provider (errs.CodeUnavailable when its keys cannot be fetched).
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (Principal, error) {
	token, err := BearerToken(r)
	if err != nil {
		return Principal{}, err
	}
	limitKey := "authfail:" + ClientAddr(r.RemoteAddr)
	over, err := a.limiter.Exceeded(ctx, limitKey, a.MaxFailures)
	// ErrPaused: a failure moments ago, logged then, left Redis alone.
	if err != nil && !errors.Is(err, ratelimit.ErrPaused) {
		a.Logger.WarnContext(ctx, "auth: rate limiter failed; letting the attempt through", "error", err)
	}
	if over {
		return Principal{}, errs.E(errs.CodeRateLimited, "too many failed authentication attempts; try again later")
	}

	p, err := a.verify(ctx, token)
	if err != nil {
		if errs.Is(err, errs.CodeUnavailable) {
			a.logUnavailable(ctx, "auth: credentials cannot be checked", err)
		}
		if errs.Is(err, errs.CodeUnauthorized) {
			// Counted even when the client has gone: on the request's
			// cancelled context the count failed, and a Redis limiter took
			// that for Redis failing and let everyone through (QA).
			if _, herr := a.limiter.Hit(context.WithoutCancel(ctx), limitKey, a.FailureWindow); herr != nil && !errors.Is(herr, ratelimit.ErrPaused) {
				a.Logger.WarnContext(ctx, "auth: rate limiter failed to count a failed attempt", "error", herr)
			}
		}
		return Principal{}, err
	}
	return p, nil
}

// unavailableLogEvery is how often, at most, logUnavailable logs.
const unavailableLogEvery = 10 * time.Second

// logUnavailable logs msg and err, at WARN and at most once every
// unavailableLogEvery: why credentials could not be checked (the identity
// provider's key set cannot be fetched, the key store is down), and a
// failed fetch of the key set that the keys held ride out. The 503 a
// client gets says only "try again later", and a wrong OIDC_JWKS_URL
// locked every OIDC user out with nothing in the logs (QA). The error
// names no credential.
func (a *Authenticator) logUnavailable(ctx context.Context, msg string, err error) {
	now := a.now()
	a.logMu.Lock()
	due := now.Sub(a.unavailableLogged) >= unavailableLogEvery
	if due {
		a.unavailableLogged = now
	}
	a.logMu.Unlock()
	if due {
		a.Logger.WarnContext(ctx, msg, "error", err)
	}
}

// Middleware authenticates every request before next sees it and stores the
// Principal in the request context (read it with FromContext). On failure it
// calls onError instead of next, after setting "WWW-Authenticate: Bearer"
// on unauthorized responses. It panics when next or onError is nil.
func (a *Authenticator) Middleware(next http.Handler, onError func(w http.ResponseWriter, r *http.Request, err error)) http.Handler {
	if next == nil || onError == nil {
		panic("auth: Middleware needs a handler and an error writer")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Authenticate(r.Context(), r)
		if err != nil {
			if errs.Is(err, errs.CodeUnauthorized) {
				w.Header().Set("WWW-Authenticate", "Bearer")
			}
			onError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// verify checks one bearer token.
func (a *Authenticator) verify(ctx context.Context, token string) (Principal, error) {
	if len(token) > maxTokenLen {
		return Principal{}, errs.Unauthorized("bearer token is too long")
	}
	if strings.HasPrefix(token, APIKeyPrefix) {
		return a.verifyAPIKey(ctx, token)
	}
	if a.oidc == nil {
		return Principal{}, errs.Unauthorized("bearer token is not an API key")
	}
	p, err := a.oidc.verify(ctx, token)
	if err != nil {
		return Principal{}, err
	}
	if a.CheckOIDCSubject != nil {
		if err := a.CheckOIDCSubject(ctx, p); err != nil {
			return Principal{}, err
		}
	}
	return p, nil
}

// ForgetAPIKey makes this process look keyID up again at its next use
// when its key lookup remembers keys (KeyForgetter): call it after
// revoking the key, so that the revocation holds at once here, and when
// another process tells of a revocation (keyrevoke). A process that hears
// nothing refuses the key when its cache entry expires (KeyCache).
func (a *Authenticator) ForgetAPIKey(keyID string) {
	if f, ok := a.keys.(KeyForgetter); ok {
		f.ForgetAPIKey(keyID)
	}
}

// verifyAPIKey checks an API key. The secret is verified before revocation
// and expiry, so only the key's holder learns its state.
func (a *Authenticator) verifyAPIKey(ctx context.Context, token string) (Principal, error) {
	if a.keys == nil {
		return Principal{}, errs.Unauthorized("API keys are not accepted")
	}
	keyID, secret, err := ParseAPIKey(token)
	if err != nil {
		return Principal{}, err
	}
	k, err := a.keys.LookupAPIKey(ctx, keyID)
	if errs.Is(err, errs.CodeNotFound) {
		return Principal{}, errs.Unauthorized("invalid API key")
	}
	if err != nil {
		// The store cannot answer (its database is down): the platform's
		// fault, not the caller's, and worth a retry. Said so (503 with
		// Retry-After), rather than left a 500 whose answer says nothing
		// (QA: every request of a database outage got 500 once the key
		// cache's entries expired).
		return Principal{}, &errs.Error{Code: errs.CodeUnavailable, Message: "API keys cannot be checked at the moment; try again later",
			Err: fmt.Errorf("auth: look up API key: %w", err)}
	}
	if !VerifyAPIKey(secret, k.Hash) {
		return Principal{}, errs.Unauthorized("invalid API key")
	}
	if k.RevokedAt != nil {
		return Principal{}, errs.Unauthorized("API key has been revoked")
	}
	if k.ExpiresAt != nil && !a.now().Before(*k.ExpiresAt) {
		return Principal{}, errs.Unauthorized("API key has expired")
	}
	if k.Disabled != "" {
		// Not a wrong credential: it does not count against the client's
		// failure budget.
		return Principal{}, errs.Forbidden("%s", k.Disabled)
	}
	// A stored key that cannot form a valid Principal is a data fault, not
	// the caller's: report it as internal so it is logged and alerted on.
	role, err := ParseRole(string(k.Role))
	if err != nil {
		return Principal{}, fmt.Errorf("auth: stored API key %s has an unknown role", keyID)
	}
	if k.OrgID == "" {
		return Principal{}, fmt.Errorf("auth: stored API key %s has no organization", keyID)
	}
	if needsLink(role) && k.Subject == "" {
		return Principal{}, fmt.Errorf("auth: stored API key %s has role %s but no linked record", keyID, role)
	}
	a.recordUse(ctx, keyID)
	return Principal{
		ID:      keyID,
		OrgID:   k.OrgID,
		Role:    role,
		Subject: k.Subject,
		Method:  MethodAPIKey,
	}, nil
}

// recordUse records that keyID authenticated a request, when the key store
// keeps last use (KeyUseRecorder) and this process has not recorded it in
// the last KeyUseInterval. A failure is logged, not returned: the request
// is authenticated all the same.
func (a *Authenticator) recordUse(ctx context.Context, keyID string) {
	rec, ok := a.keys.(KeyUseRecorder)
	if !ok {
		return
	}
	now := a.now()
	a.usedMu.Lock()
	if a.used == nil {
		a.used = map[string]time.Time{}
	}
	if last, seen := a.used[keyID]; seen && now.Sub(last) < KeyUseInterval {
		a.usedMu.Unlock()
		return
	}
	if len(a.used) >= maxUsedKeys {
		// Forget entries older than the interval; they would be recorded
		// again anyway.
		for id, t := range a.used {
			if now.Sub(t) >= KeyUseInterval {
				delete(a.used, id)
			}
		}
	}
	a.used[keyID] = now
	a.usedMu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := rec.RecordAPIKeyUse(ctx, keyID, now); err != nil {
		a.Logger.WarnContext(ctx, "auth: could not record the use of an API key", "key_id", keyID, "error", err)
	}
}

// maxUsedKeys bounds the keys whose last recording the Authenticator
// remembers before it forgets the stale ones.
const maxUsedKeys = 10000

// BearerToken extracts the token of an "Authorization: Bearer" header. The
// scheme name is case-insensitive (RFC 9110, section 11.1).
func BearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", errs.Unauthorized("missing Authorization header")
	case 1:
	default:
		return "", errs.Unauthorized("more than one Authorization header")
	}
	scheme, token, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", errs.Unauthorized("Authorization header must use the Bearer scheme")
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", errs.Unauthorized("missing bearer token")
	}
	return token, nil
}

// ClientAddr returns the rate-limiting identity of a RemoteAddr: the IPv4
// address, the /64 network of an IPv6 address, or the raw host when it is
// not an IP address.
func ClientAddr(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		prefix, err := addr.Prefix(64)
		if err == nil {
			return prefix.String()
		}
	}
	return addr.String()
}
