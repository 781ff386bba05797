package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/platform/errs"
)

// API keys have the form
//
//	mpk_<key id>_<secret>
//
// The key id is 12 characters of lowercase base32 (60 random bits). It is
// not secret: the store looks the key up by it and logs and audit records
// may name it. The secret is 32 random bytes from crypto/rand encoded as
// unpadded base64url (43 characters, which may themselves contain "_" and
// "-"; the parser splits by position, not by separator).
//
// Only SHA-256 of the secret is stored. A slow password hash (argon2,
// bcrypt) exists to make guessing low-entropy human passwords expensive
// after a database leak; a secret of 256 uniformly random bits cannot be
// guessed however fast the hash is, so a slow hash would only add latency
// and CPU load to every API call. Human passwords use HashPassword.
const (
	// APIKeyPrefix starts every API key, so they are recognisable in an
	// Authorization header and in secret scanners.
	APIKeyPrefix = "mpk_"

	keyIDLen        = 12
	secretBytes     = 32
	secretLen       = 43 // base64.RawURLEncoding.EncodedLen(secretBytes)
	apiKeyLen       = len(APIKeyPrefix) + keyIDLen + 1 + secretLen
	keyIDAlphabet   = "abcdefghijklmnopqrstuvwxyz234567"
	errMalformedKey = "malformed API key"
)

// NewAPIKey generates an API key. plaintext is shown to its owner once and
// never stored; keyID and hash are what the store keeps.
func NewAPIKey() (plaintext, keyID string, hash []byte, err error) {
	// 256 divides evenly by the 32-letter alphabet, so b&31 is unbiased.
	idBytes := make([]byte, keyIDLen)
	if _, err := rand.Read(idBytes); err != nil {
		return "", "", nil, err
	}
	for i, b := range idBytes {
		idBytes[i] = keyIDAlphabet[b&31]
	}
	raw := make([]byte, secretBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", "", nil, err
	}
	keyID = string(idBytes)
	secret := base64.RawURLEncoding.EncodeToString(raw)
	return APIKeyPrefix + keyID + "_" + secret, keyID, HashAPIKeySecret(secret), nil
}

// IsAPIKeyID reports whether id has the form of an API key id (what
// NewAPIKey makes); anything else names no key.
func IsAPIKeyID(id string) bool {
	if len(id) != keyIDLen {
		return false
	}
	for i := range len(id) {
		if strings.IndexByte(keyIDAlphabet, id[i]) < 0 {
			return false
		}
	}
	return true
}

// ParseAPIKey splits an API key into its key id and secret. It checks the
// format only; VerifyAPIKey checks the secret. Errors are errs.Unauthorized
// and do not repeat the token.
func ParseAPIKey(token string) (keyID, secret string, err error) {
	if len(token) != apiKeyLen || !strings.HasPrefix(token, APIKeyPrefix) {
		return "", "", errs.Unauthorized(errMalformedKey)
	}
	rest := token[len(APIKeyPrefix):]
	keyID, sep, secret := rest[:keyIDLen], rest[keyIDLen], rest[keyIDLen+1:]
	if sep != '_' {
		return "", "", errs.Unauthorized(errMalformedKey)
	}
	if !IsAPIKeyID(keyID) {
		return "", "", errs.Unauthorized(errMalformedKey)
	}
	// Strict decoding rejects non-zero trailing bits, so each secret has
	// exactly one accepted spelling.
	raw, err := base64.RawURLEncoding.Strict().DecodeString(secret)
	if err != nil || len(raw) != secretBytes {
		return "", "", errs.Unauthorized(errMalformedKey)
	}
	return keyID, secret, nil
}

// HashAPIKeySecret returns the stored form of an API key secret: its
// SHA-256 digest.
func HashAPIKeySecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// VerifyAPIKey reports whether secret matches the stored hash. The
// comparison takes the same time wherever the digests differ.
func VerifyAPIKey(secret string, hash []byte) bool {
	return subtle.ConstantTimeCompare(HashAPIKeySecret(secret), hash) == 1
}

// StoredKey is an API key as the product store keeps it.
type StoredKey struct {
	// ID is the key id (the lookup key, not secret).
	ID string
	// OrgID is the organization the key acts for.
	OrgID string
	// Role is the role the key acts in, usually RoleIntegration.
	Role Role
	// Subject becomes Principal.Subject; see there.
	Subject string
	// Hash is HashAPIKeySecret of the secret.
	Hash []byte
	// ExpiresAt, when set, is the instant from which the key is refused.
	ExpiresAt *time.Time
	// RevokedAt, when set, marks the key revoked; it is refused from then on
	// whatever the instant.
	RevokedAt *time.Time
	// Disabled, when set, says why the key's holder may not use it for
	// now (a deactivated patient): the key is refused with code
	// errs.CodeForbidden and this text, after its secret has been
	// verified, and works again once the holder is enabled.
	Disabled string
}

// KeyLookup finds stored API keys. The product store implements it.
type KeyLookup interface {
	// LookupAPIKey returns the key with the given id, or an error with
	// code errs.CodeNotFound when there is none.
	LookupAPIKey(ctx context.Context, keyID string) (StoredKey, error)
}

// KeyUseRecorder is implemented by a KeyLookup that keeps when each key
// was last used: the Authenticator calls it after a key authenticated a
// request, at most once per KeyUseInterval per key.
type KeyUseRecorder interface {
	RecordAPIKeyUse(ctx context.Context, keyID string, at time.Time) error
}

// KeyForgetter is implemented by a KeyLookup that remembers keys (a
// KeyCache): ForgetAPIKey drops what it remembers of keyID, so that its
// next use is looked up again. Authenticator.ForgetAPIKey calls it.
type KeyForgetter interface {
	ForgetAPIKey(keyID string)
}

// KeyUseInterval is how often, at most, the Authenticator records the use
// of one key: last use is for finding idle keys, and a write per request
// would cost more than it tells.
const KeyUseInterval = time.Minute
