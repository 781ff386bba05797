package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxJWKSBytes bounds the key set read from the provider. Real key sets
// hold a few keys in a few kilobytes.
const maxJWKSBytes = 1 << 20

const (
	// maxKeyAge is how long the keys of a fetch are used before they are
	// fetched again, on the next token: a key the provider removed (rotated
	// out, or compromised) stops verifying tokens within that time. Before,
	// only a token the held keys did not verify caused a fetch, and a key
	// removed after a rotation that published its successor first was
	// trusted until the process restarted (QA).
	maxKeyAge = 10 * time.Minute
	// maxStaleKeyAge is how long keys older than maxKeyAge still verify
	// tokens while the provider cannot be fetched (unreachable, or
	// answering with an error): an outage of the provider does not lock
	// every user out at once.
	maxStaleKeyAge = 24 * time.Hour
	// failedFetchPause is how long after a failed fetch a token the held
	// keys do not verify gets that failure without another fetch: a
	// provider in trouble is not asked again for every request (QA: one
	// fetch per token while it answered 500).
	failedFetchPause = 5 * time.Second
)

// errKeySetUnusable marks a key set the provider served but that cannot be
// used (an error status, a body that is not a JWK set, too large): the
// provider's fault, reported as unavailable like a transport error, not
// as the caller's bad token.
var errKeySetUnusable = errors.New("the provider's key set cannot be used")

// jwsAlgs are the algorithms a token may be parsed with here. The
// verifier has already checked the token's algorithm against the accepted
// ones (OIDCConfig.SigningAlgs) before it asks the key set.
var jwsAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.EdDSA,
}

// jwksKeySet is the provider's signing keys, fetched from its JWKS URL: an
// oidc.KeySet that keeps the keys and fetches them again when a token is
// not verified by the keys it holds (a rotated key, OpenID Connect Core
// 1.0, section 10.1).
//
// It stands in for go-oidc's RemoteKeySet, which tells the requests
// waiting on a fetch its result before it stores the keys and lets the
// next request join a fetch that has already ended or that started before
// the request looked: right after a rotation, a token signed with the new
// key was checked against the keys from before it and refused, and the
// retired key was still trusted after a fetch that no longer held it.
// Here a token the held keys do not verify is checked against keys
// fetched after it was found unverified, and fetched keys are stored
// before any request is answered with them. One fetch runs at a time; the
// requests waiting for it share its result.
//
// Held keys are fetched again once they are maxKeyAge old. A token whose
// "kid" names a held key that does not verify it causes no fetch (a forged
// token; a key replaced under its id is read at the next refresh), nor
// does a token arriving within failedFetchPause of a failed fetch.
type jwksKeySet struct {
	url    string
	client *http.Client
	now    func() time.Time
	// onFetchError, when set, is told of every failed fetch (to log it),
	// including those a token the held keys verify rides out.
	onFetchError func(error)

	mu sync.Mutex
	// running is closed when the fetch under way ends; nil when none runs.
	running chan struct{}
	// keys are those of the last successful fetch, made at fetchedAt.
	keys      []jose.JSONWebKey
	fetchedAt time.Time
	// started counts the fetches started; recorded is the number of the
	// fetch whose outcome keys and err hold (0: none yet).
	started, recorded uint64
	// err is the failure of fetch number recorded, nil if it succeeded;
	// failedAt is when it failed.
	err      error
	failedAt time.Time
}

// newJWKSKeySet returns the key set at url, fetched with a copy of client
// that follows a redirect only to a URL checkJWKSURL accepts and never
// from https to plain http: whoever can alter the key set can mint tokens,
// and a redirect from the configured host went anywhere (QA).
func newJWKSKeySet(url string, client *http.Client, now func() time.Time) *jwksKeySet {
	c := *client
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirected from https to %s", req.URL.Scheme)
		}
		if err := checkJWKSURL(req.URL.String()); err != nil {
			return fmt.Errorf("redirected to a URL not allowed: %w", err)
		}
		return nil
	}
	return &jwksKeySet{url: url, client: &c, now: now}
}

// VerifySignature returns the payload of the JWT raw when one of the
// provider's keys verifies its signature. A key that the JWT names by its
// "kid" header must also carry that key id.
func (s *jwksKeySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, jwsAlgs)
	if err != nil {
		return nil, fmt.Errorf("auth: malformed JWT: %w", err)
	}
	now := s.now()
	s.mu.Lock()
	keys, seen, fetchedAt, refreshing := s.keys, s.started, s.fetchedAt, s.running != nil
	s.mu.Unlock()
	fresh := !fetchedAt.IsZero() && now.Sub(fetchedAt) < maxKeyAge
	usable := !fetchedAt.IsZero() && now.Sub(fetchedAt) < maxStaleKeyAge
	payload, verified := verifyJWS(jws, keys)
	switch {
	case fresh && verified:
		return payload, nil
	case fresh:
		if kid := keyID(jws); kid != "" && slices.ContainsFunc(keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid }) {
			return nil, errors.New("auth: the provider's key the token names does not verify it")
		}
	case usable && verified && refreshing:
		// Keys due for a refresh that is under way: the requests that
		// come meanwhile do not wait for it (a provider that hangs would
		// hold each for the client's timeout).
		return payload, nil
	}
	fetched, err := s.fetchAfter(ctx, seen)
	if err != nil {
		// Keys too old to be used while the provider answers still are
		// while it cannot: an outage does not lock every user out.
		if usable && verified && ctx.Err() == nil {
			return payload, nil
		}
		return nil, err
	}
	if payload, ok := verifyJWS(jws, fetched); ok {
		return payload, nil
	}
	return nil, errors.New("auth: no signing key of the provider verifies the token")
}

// keyID is the "kid" header of jws, "" when it has none.
func keyID(jws *jose.JSONWebSignature) string {
	if len(jws.Signatures) == 0 {
		return ""
	}
	return jws.Signatures[0].Header.KeyID
}

// verifyJWS returns the payload of jws and true when one of keys
// verifies it; when jws names a key id, only keys of that id are tried,
// and a key that names its algorithm ("alg") verifies tokens of that
// algorithm only (RFC 8725, section 3.1).
func verifyJWS(jws *jose.JSONWebSignature, keys []jose.JSONWebKey) ([]byte, bool) {
	kid, alg := keyID(jws), ""
	if len(jws.Signatures) > 0 {
		alg = jws.Signatures[0].Header.Algorithm
	}
	for _, key := range keys {
		if kid != "" && key.KeyID != kid {
			continue
		}
		if key.Algorithm != "" && key.Algorithm != alg {
			continue
		}
		if payload, err := jws.Verify(&key); err == nil {
			return payload, true
		}
	}
	return nil, false
}

// fetchAfter returns the keys of a fetch started after seen fetches had
// been: it waits for one running that started after, or starts one, or
// returns the failure of the last fetch while it is less than
// failedFetchPause old (the requests queued behind a fetch that failed
// started one each at once, QA). The fetch runs on a context of its own,
// bounded by the HTTP client's timeout: a request that ends (its client
// gone, the server's REQUEST_TIMEOUT) stops waiting for it, and the fetch
// is still recorded for the requests after it.
func (s *jwksKeySet) fetchAfter(ctx context.Context, seen uint64) ([]jose.JSONWebKey, error) {
	for {
		s.mu.Lock()
		if s.recorded > seen {
			keys, err := s.keys, s.err
			s.mu.Unlock()
			return keys, err
		}
		if s.err != nil && s.now().Sub(s.failedAt) < failedFetchPause {
			err := s.err
			s.mu.Unlock()
			return nil, err
		}
		if s.running == nil {
			s.started++
			s.running = make(chan struct{})
			go s.run(s.started, s.running)
		}
		running := s.running
		s.mu.Unlock()
		select {
		case <-running:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// run fetches the key set as fetch number n and records the outcome, then
// closes done.
func (s *jwksKeySet) run(n uint64, done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	keys, err := s.fetch(ctx)
	now := s.now()
	s.mu.Lock()
	s.recorded, s.err, s.running = n, err, nil
	if err != nil {
		s.failedAt = now
	} else {
		s.keys, s.fetchedAt = keys, now
	}
	s.mu.Unlock()
	close(done)
	if err != nil && s.onFetchError != nil {
		s.onFetchError(err)
	}
}

// fetchTimeout bounds a fetch beside the HTTP client's own timeout.
const fetchTimeout = 30 * time.Second

// fetch reads the key set. Transport errors are wrapped, so that
// isFetchFailure recognises them; an error status, a body that is not a
// JWK set and one too large are errKeySetUnusable. Keys of an algorithm or type that cannot verify a token here, and
// keys not meant for verifying signatures (see forVerification), are left
// out rather than failing the set (RFC 7517, section 5).
func (s *jwksKeySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("auth: OIDC key set request: %w", err)
	}
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("auth: get OIDC key set: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("auth: read OIDC key set: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("auth: get OIDC key set: the provider answered %s: %w", resp.Status, errKeySetUnusable)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("auth: OIDC key set is larger than %d bytes: %w", maxJWKSBytes, errKeySetUnusable)
	}
	var set struct {
		Keys *[]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("auth: OIDC key set is not a JWK set (%w): %w", errKeySetUnusable, err)
	}
	// "keys" is required (RFC 7517, section 5): a 200 of {}, null or an
	// error object is no key set, and replaced the keys held with none (QA).
	if set.Keys == nil {
		return nil, fmt.Errorf("auth: OIDC key set has no \"keys\" array (%w)", errKeySetUnusable)
	}
	keys := make([]jose.JSONWebKey, 0, len(*set.Keys))
	for _, raw := range *set.Keys {
		var meta struct {
			Alg    string          `json:"alg"`
			Use    string          `json:"use"`
			KeyOps json.RawMessage `json:"key_ops"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("auth: OIDC key set holds a key that is not an object (%w): %w", errKeySetUnusable, err)
		}
		if meta.Alg != "" && !knownAlg(meta.Alg) {
			continue
		}
		if !forVerification(meta.Use, meta.KeyOps) {
			continue
		}
		var key jose.JSONWebKey
		if err := json.Unmarshal(raw, &key); err != nil {
			if errors.Is(err, jose.ErrUnsupportedKeyType) {
				continue
			}
			return nil, fmt.Errorf("auth: OIDC key set holds a key that cannot be read (%w): %w", errKeySetUnusable, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// forVerification reports whether a key whose "use" and "key_ops" members
// are use and keyOps may verify a signature. A key published for
// encryption ("use" other than "sig", RFC 7517 section 4.2) or whose
// operations leave out "verify" (section 4.3) may not: trusting it would
// let a token be signed with a key the provider hands out for another
// purpose. Absent members restrict nothing; "key_ops" that is not an
// array of strings cannot be shown to allow verification.
func forVerification(use string, keyOps json.RawMessage) bool {
	if use != "" && use != "sig" {
		return false
	}
	if len(keyOps) == 0 || string(keyOps) == "null" {
		return true
	}
	var ops []string
	if err := json.Unmarshal(keyOps, &ops); err != nil {
		return false
	}
	return slices.Contains(ops, "verify")
}

// knownAlg reports whether alg is one of jwsAlgs.
func knownAlg(alg string) bool {
	for _, a := range jwsAlgs {
		if string(a) == alg {
			return true
		}
	}
	return false
}
