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

	jose "github.com/go-jose/go-jose/v4"
)

// maxJWKSBytes bounds the key set read from the provider. Real key sets
// hold a few keys in a few kilobytes.
const maxJWKSBytes = 1 << 20

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
type jwksKeySet struct {
	url    string
	client *http.Client

	// fetching holds a token while a fetch runs.
	fetching chan struct{}

	mu sync.Mutex
	// keys are those of the last successful fetch.
	keys []jose.JSONWebKey
	// started counts the fetches started; recorded is the number of the
	// fetch whose outcome keys and err hold (0: none yet).
	started, recorded uint64
	// err is the failure of fetch number recorded, nil if it succeeded.
	err error
}

func newJWKSKeySet(url string, client *http.Client) *jwksKeySet {
	return &jwksKeySet{url: url, client: client, fetching: make(chan struct{}, 1)}
}

// VerifySignature returns the payload of the JWT raw when one of the
// provider's keys verifies its signature. A key that the JWT names by its
// "kid" header must also carry that key id.
func (s *jwksKeySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, jwsAlgs)
	if err != nil {
		return nil, fmt.Errorf("auth: malformed JWT: %w", err)
	}
	s.mu.Lock()
	keys, seen := s.keys, s.started
	s.mu.Unlock()
	if payload, ok := verifyJWS(jws, keys); ok {
		return payload, nil
	}
	keys, err = s.fetchAfter(ctx, seen)
	if err != nil {
		return nil, err
	}
	if payload, ok := verifyJWS(jws, keys); ok {
		return payload, nil
	}
	return nil, errors.New("auth: no signing key of the provider verifies the token")
}

// verifyJWS returns the payload of jws and true when one of keys
// verifies it; when jws names a key id, only keys of that id are tried.
func verifyJWS(jws *jose.JSONWebSignature, keys []jose.JSONWebKey) ([]byte, bool) {
	kid := ""
	if len(jws.Signatures) > 0 {
		kid = jws.Signatures[0].Header.KeyID
	}
	for _, key := range keys {
		if kid != "" && key.KeyID != kid {
			continue
		}
		if payload, err := jws.Verify(&key); err == nil {
			return payload, true
		}
	}
	return nil, false
}

// fetchAfter returns the keys of a fetch started after seen fetches had
// been: it waits for one that is running or queued, or fetches itself.
// Only the fetching request's context aborts a fetch, and an aborted fetch
// is not recorded, so it never answers another request.
func (s *jwksKeySet) fetchAfter(ctx context.Context, seen uint64) ([]jose.JSONWebKey, error) {
	select {
	case s.fetching <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.fetching }()

	s.mu.Lock()
	if s.recorded > seen {
		keys, err := s.keys, s.err
		s.mu.Unlock()
		return keys, err
	}
	s.started++
	n := s.started
	s.mu.Unlock()

	keys, err := s.fetch(ctx)
	if err != nil && ctx.Err() != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recorded, s.err = n, err
	if err != nil {
		return nil, err
	}
	s.keys = keys
	return keys, nil
}

// fetch reads the key set. Transport errors are wrapped, so that
// isTransportError recognises them; an error status is not a transport
// error. Keys of an algorithm or type that cannot verify a token here, and
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
		return nil, fmt.Errorf("auth: get OIDC key set: the provider answered %s", resp.Status)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("auth: OIDC key set is larger than %d bytes", maxJWKSBytes)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("auth: OIDC key set is not a JWK set: %w", err)
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, raw := range set.Keys {
		var meta struct {
			Alg    string          `json:"alg"`
			Use    string          `json:"use"`
			KeyOps json.RawMessage `json:"key_ops"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("auth: OIDC key set holds a key that is not an object: %w", err)
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
			return nil, fmt.Errorf("auth: OIDC key set holds a key that cannot be read: %w", err)
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
