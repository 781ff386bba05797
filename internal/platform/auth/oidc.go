package auth

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/medplatform/medplatform/internal/platform/errs"
)

// The default claim names of OIDCConfig.
const (
	DefaultOrgClaim  = "org_id"
	DefaultRoleClaim = "role"
	DefaultLinkClaim = "subject_id"
)

// OIDCConfig configures the verification of OIDC bearer tokens (ID tokens,
// or access tokens in the JWT profile of RFC 9068) issued by one identity
// provider. Keys come from the configured JWKS URL; provider discovery is not
// used.
//
// Claim mapping:
//
//   - "sub" (required) becomes Principal.ID, prefixed with "oidc:".
//   - OrgClaim (required, a non-empty string) becomes Principal.OrgID.
//   - RoleClaim (required, a string naming a Role) becomes Principal.Role.
//   - LinkClaim (a string) becomes Principal.Subject: the patient id of a
//     patient, the caregiver id of a caregiver, the clinician id of a
//     clinician. It is required for patients and caregivers, optional for
//     clinicians, and ignored for admins and integrations, which have
//     none. The default is the role-neutral "subject_id" rather than
//     "patient_id" because one claim serves every role.
//
// Identity providers that namespace custom claims (Amazon Cognito uses
// "custom:org_id") are accommodated by setting the claim names. Claims must
// be top-level strings; arrays and nested objects are not read.
type OIDCConfig struct {
	// Issuer must equal the token's "iss" claim exactly.
	Issuer string
	// Audience must be one of the token's "aud" values.
	Audience string
	// JWKSURL is where the provider publishes its signing keys. It must be
	// https, except on a loopback address (for tests and local providers).
	JWKSURL string

	// OrgClaim names the organization claim; empty means DefaultOrgClaim.
	OrgClaim string
	// RoleClaim names the role claim; empty means DefaultRoleClaim.
	RoleClaim string
	// LinkClaim names the linked-record claim; empty means
	// DefaultLinkClaim.
	LinkClaim string

	// SigningAlgs lists the accepted JWS algorithms; empty means RS256.
	SigningAlgs []string
	// HTTPClient fetches the key set; nil means a client with a 10-second
	// timeout.
	HTTPClient *http.Client
}

// oidcVerifier checks tokens against one OIDCConfig.
type oidcVerifier struct {
	verifier  *oidc.IDTokenVerifier
	keys      *jwksKeySet
	orgClaim  string
	roleClaim string
	linkClaim string
}

func newOIDCVerifier(cfg OIDCConfig, now func() time.Time) (*oidcVerifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" || cfg.JWKSURL == "" {
		return nil, errors.New("auth: OIDC needs an issuer, an audience and a JWKS URL")
	}
	if err := checkJWKSURL(cfg.JWKSURL); err != nil {
		return nil, err
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	// Not go-oidc's RemoteKeySet: see jwksKeySet.
	keys := newJWKSKeySet(cfg.JWKSURL, client, now)
	v := &oidcVerifier{
		verifier: oidc.NewVerifier(cfg.Issuer, observedKeySet{keys}, &oidc.Config{
			ClientID:             cfg.Audience,
			SupportedSigningAlgs: cfg.SigningAlgs,
			Now:                  now,
		}),
		keys:      keys,
		orgClaim:  cmp.Or(cfg.OrgClaim, DefaultOrgClaim),
		roleClaim: cmp.Or(cfg.RoleClaim, DefaultRoleClaim),
		linkClaim: cmp.Or(cfg.LinkClaim, DefaultLinkClaim),
	}
	return v, nil
}

// checkJWKSURL refuses key sets fetched over plain HTTP from anywhere but
// the local machine: whoever can alter the key set can mint tokens.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("auth: OIDC JWKS URL is not an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
	}
	return errors.New("auth: OIDC JWKS URL must use https")
}

// verify checks raw and maps its claims to a Principal. Bad tokens yield
// errs.Unauthorized; a key set that cannot be fetched yields
// errs.CodeUnavailable, because that is the platform's fault, not the
// caller's, and must not count against the caller's failure budget.
func (v *oidcVerifier) verify(ctx context.Context, raw string) (Principal, error) {
	var fetch fetchFailure
	tok, err := v.verifier.Verify(context.WithValue(ctx, fetchFailureKey{}, &fetch), raw)
	if err != nil {
		if fetch.err != nil {
			return Principal{}, &errs.Error{
				Code:    errs.CodeUnavailable,
				Message: "the identity provider's signing keys cannot be fetched; try again later",
				Err:     fetch.err,
			}
		}
		if _, ok := errors.AsType[*oidc.TokenExpiredError](err); ok {
			// go-oidc reads a token without "exp" as expired long ago.
			if fetch.payload != nil && !hasClaim(fetch.payload, "exp") {
				return Principal{}, errs.Unauthorized("token lacks the %q claim", "exp")
			}
			return Principal{}, errs.Unauthorized("token has expired")
		}
		if fetch.payload != nil {
			// The signature is good: a registered claim go-oidc could
			// not parse is named with its type, as the mapped claims
			// are (see stringClaim).
			if err := registeredClaimTypes(fetch.payload); err != nil {
				return Principal{}, err
			}
		}
		// The verifier's message may quote claims; keep it out of the
		// response and the error chain.
		return Principal{}, errs.Unauthorized("token is not valid")
	}

	// JSON is UTF-8 (RFC 8259): decoded, bytes that are not would become
	// U+FFFD, and two different subjects one actor in the audit trail.
	if !utf8.Valid(fetch.payload) {
		return Principal{}, errs.Unauthorized("token's claims are not UTF-8")
	}
	var claims map[string]json.RawMessage
	if err := tok.Claims(&claims); err != nil {
		return Principal{}, errs.Unauthorized("token is not valid")
	}
	if tok.Subject == "" {
		return Principal{}, errs.Unauthorized("token lacks the %q claim", "sub")
	}
	// go-oidc decodes the registered claims with encoding/json, which
	// matches a name whatever its case, the last one winning: an "EXP"
	// stood in for a missing exp, and an "Exp" after an expired exp let
	// the token in (QA). No provider spells them so.
	for name := range claims {
		for _, reg := range oidcRegisteredClaims {
			if name != reg && strings.EqualFold(name, reg) {
				return Principal{}, errs.Unauthorized("token holds a claim named %q in another case", reg)
			}
		}
	}
	// The times are NumericDates, JSON numbers (RFC 7519 §2); go-oidc
	// also reads a string holding digits, which no conforming provider
	// sends: a token carrying one was not minted as the provider mints.
	for _, name := range []string{"exp", "nbf", "iat"} {
		if raw, ok := claims[name]; ok && !isJSONNumber(raw) {
			return Principal{}, errs.Unauthorized("token's %q claim is %s, not a number", name, jsonType(raw))
		}
	}
	// The subject is the actor of the audit trail, one line as the API's
	// names are: a line break or a bidirectional override there would
	// forge or hide what a record says. U+FFFD is refused too: an escaped
	// lone surrogate ("\ud800") decodes to it, so two subjects would be
	// one actor.
	if strings.ContainsFunc(tok.Subject, func(r rune) bool {
		return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) || r == utf8.RuneError
	}) {
		return Principal{}, errs.Unauthorized("token's %q claim holds a control, format or separator character", "sub")
	}
	if strings.TrimSpace(tok.Subject) == "" {
		return Principal{}, errs.Unauthorized("token's %q claim is blank", "sub")
	}
	org, err := stringClaim(claims, v.orgClaim)
	if err != nil {
		return Principal{}, err
	}
	if org == "" {
		return Principal{}, errs.Unauthorized("token lacks the %q claim", v.orgClaim)
	}
	roleName, err := stringClaim(claims, v.roleClaim)
	if err != nil {
		return Principal{}, err
	}
	if roleName == "" {
		return Principal{}, errs.Unauthorized("token lacks the %q claim", v.roleClaim)
	}
	role, err := ParseRole(roleName)
	if err != nil {
		return Principal{}, errs.Unauthorized("token role is not recognised")
	}
	// Checked for every role: a link claim of another type is a provider
	// mapping gone wrong, whoever the token is for.
	link, err := stringClaim(claims, v.linkClaim)
	if err != nil {
		return Principal{}, err
	}
	if link == "" && needsLink(role) {
		return Principal{}, errs.Unauthorized("token lacks the %q claim its role requires", v.linkClaim)
	}
	if role == RoleAdmin || role == RoleIntegration {
		// They have no subject, as their API keys have none: one a
		// provider sends them anyway (its mapping gives every user the
		// claim) is not kept. Nothing checked it, so another
		// organization's patient id was kept, and an acknowledgement
		// recorded it as who acknowledged (QA).
		link = ""
	}
	return Principal{
		ID:      "oidc:" + tok.Subject,
		OrgID:   org,
		Role:    role,
		Subject: link,
		Method:  MethodOIDC,
	}, nil
}

// stringClaim returns the claim name: "" when it is absent or null, and
// an unauthorized error naming the claim and its JSON type when it is not
// a string (reported as missing, an "org_id": 123 sent the operator
// looking for a claim that was there). The value itself is never quoted.
func stringClaim(claims map[string]json.RawMessage, name string) (string, error) {
	raw, ok := claims[name]
	if !ok {
		return "", nil
	}
	var s *string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errs.Unauthorized("token's %q claim is %s, not a string", name, jsonType(raw))
	}
	if s == nil {
		return "", nil
	}
	return *s, nil
}

// hasClaim reports whether the JSON object payload has the member name.
func hasClaim(payload []byte, name string) bool {
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return false
	}
	_, ok := claims[name]
	return ok
}

// registeredClaimTypes returns an unauthorized error naming the first of
// the claims "sub", "iss" and "aud" whose JSON type go-oidc does not
// accept ("aud": a string or an array of strings), and its type, or nil.
// payload is the token's verified payload. Values are never quoted.
func registeredClaimTypes(payload []byte) error {
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil // not an object: "token is not valid" says enough
	}
	for _, name := range []string{"sub", "iss"} {
		if _, err := stringClaim(claims, name); err != nil {
			return err
		}
	}
	raw, ok := claims["aud"]
	if !ok {
		return nil
	}
	if _, err := stringClaim(claims, "aud"); err == nil {
		return nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return errs.Unauthorized("token's %q claim is %s, not a string or an array of strings", "aud", jsonType(raw))
	}
	for _, item := range list {
		var s *string
		if err := json.Unmarshal(item, &s); err != nil {
			return errs.Unauthorized("token's %q claim holds %s, not only strings", "aud", jsonType(item))
		}
	}
	return nil
}

// oidcRegisteredClaims are the claims go-oidc reads into its token (its
// idToken's JSON field names).
var oidcRegisteredClaims = []string{"iss", "sub", "aud", "exp", "iat", "nbf", "nonce", "at_hash", "_claim_names", "_claim_sources"}

// isJSONNumber reports whether raw, valid JSON, is a number.
func isJSONNumber(raw json.RawMessage) bool {
	c := bytes.TrimSpace(raw)[0]
	return c == '-' || (c >= '0' && c <= '9')
}

// jsonType names the type of the JSON value raw (a claim of a parsed
// token: valid JSON), with its article.
func jsonType(raw json.RawMessage) string {
	switch bytes.TrimSpace(raw)[0] {
	case '"':
		return "a string"
	case 'n':
		return "null"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

// fetchFailure records, for one verification, that the key set could not be
// fetched. go-oidc flattens key set errors into text, so the error is
// captured on its way out of the key set instead. payload is the token's
// payload once its signature is verified: go-oidc's error for a claim it
// cannot parse is text too, and quotes the value.
type fetchFailure struct {
	err     error
	payload []byte
}

type fetchFailureKey struct{}

// observedKeySet wraps the remote key set and records fetch failures (the
// provider unreachable, a timeout, an error status or a body that is not
// a key set) in the fetchFailure carried by the context, and the payload
// of a token whose signature it verified. Every other error, a bad
// signature above all, stays a verification failure: a misclassification
// errs towards refusing the token, never towards excusing it. So does a
// request its client abandoned (its context cancelled): reported as an
// outage, not counted, it let one address cause fetch after fetch with
// requests it cut short (QA). The server's own deadline
// (REQUEST_TIMEOUT) ending the wait is the provider's slowness: an outage.
type observedKeySet struct{ keys oidc.KeySet }

func (k observedKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.keys.VerifySignature(ctx, jwt)
	if f, ok := ctx.Value(fetchFailureKey{}).(*fetchFailure); ok {
		switch {
		case err == nil:
			f.payload = payload
		case isFetchFailure(err) && !errors.Is(ctx.Err(), context.Canceled):
			f.err = fmt.Errorf("auth: fetch OIDC signing keys: %w", err)
		}
	}
	return payload, err
}

func isFetchFailure(err error) bool {
	_, ok := errors.AsType[*url.Error](err)
	return ok || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, errKeySetUnusable)
}
