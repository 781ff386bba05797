package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Password hashing parameters: argon2id with 64 MiB of memory, 3 passes and
// 4 lanes, the second recommended option of RFC 9106 (section 4), a 16-byte
// salt and a 32-byte key. The parameters are written into every hash, so
// they can be raised later without invalidating stored hashes.
const (
	argonMemoryKiB = 64 * 1024
	argonTime      = 3
	argonThreads   = 4
	argonSaltLen   = 16
	argonKeyLen    = 32

	// Bounds accepted when verifying, so a corrupted or hostile stored hash
	// cannot make one verification exhaust the machine.
	maxArgonMemoryKiB = 1024 * 1024
	maxArgonTime      = 16
)

// ErrBadPasswordHash is returned by VerifyPassword when the stored hash is
// not one HashPassword could have produced.
var ErrBadPasswordHash = errors.New("auth: malformed password hash")

// HashPassword returns an argon2id hash of a human-chosen password in the
// PHC string format:
//
//	$argon2id$v=19$m=65536,t=3,p=4$<salt>$<key>
//
// with salt and key in unpadded standard base64. Only human passwords need
// this; API keys use a fast hash (see NewAPIKey).
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt),
		base64.RawStdEncoding.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches encoded, a hash from
// HashPassword (with any parameters). It returns ErrBadPasswordHash when
// encoded cannot be parsed.
func VerifyPassword(password, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, ErrBadPasswordHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrBadPasswordHash
	}
	var memory, passes uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &passes, &threads); err != nil {
		return false, ErrBadPasswordHash
	}
	if memory == 0 || memory > maxArgonMemoryKiB || passes == 0 || passes > maxArgonTime || threads == 0 {
		return false, ErrBadPasswordHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, ErrBadPasswordHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, ErrBadPasswordHash
	}
	got := argon2.IDKey([]byte(password), salt, passes, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
