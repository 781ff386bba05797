package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

func TestAPIKeyRoundTrip(t *testing.T) {
	seen := make(map[string]bool)
	for range 20 {
		plaintext, keyID, hash, err := auth.NewAPIKey()
		if err != nil {
			t.Fatalf("NewAPIKey: %v", err)
		}
		if !strings.HasPrefix(plaintext, auth.APIKeyPrefix+keyID+"_") {
			t.Fatalf("key %q does not start with %q", plaintext, auth.APIKeyPrefix+keyID+"_")
		}
		if len(keyID) != 12 || len(hash) != 32 {
			t.Fatalf("keyID length %d, hash length %d; want 12 and 32", len(keyID), len(hash))
		}
		if seen[keyID] {
			t.Fatalf("key id %q generated twice", keyID)
		}
		seen[keyID] = true

		gotID, secret, err := auth.ParseAPIKey(plaintext)
		if err != nil {
			t.Fatalf("ParseAPIKey(%q): %v", plaintext, err)
		}
		if gotID != keyID {
			t.Errorf("ParseAPIKey key id = %q, want %q", gotID, keyID)
		}
		if plaintext != auth.APIKeyPrefix+keyID+"_"+secret {
			t.Errorf("parts %q, %q do not reassemble %q", gotID, secret, plaintext)
		}
		if !auth.VerifyAPIKey(secret, hash) {
			t.Errorf("VerifyAPIKey rejects the generated secret")
		}
		if strings.Contains(string(hash), secret) {
			t.Errorf("hash contains the secret")
		}
	}
}

func TestVerifyAPIKeyRejectsTampering(t *testing.T) {
	plaintext, _, hash, err := auth.NewAPIKey()
	if err != nil {
		t.Fatalf("NewAPIKey: %v", err)
	}
	_, secret, err := auth.ParseAPIKey(plaintext)
	if err != nil {
		t.Fatalf("ParseAPIKey: %v", err)
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	otherHash := append([]byte(nil), hash...)
	otherHash[0] ^= 1
	tests := []struct {
		name   string
		secret string
		hash   []byte
	}{
		{"first character changed", flip(secret, 0), hash},
		{"middle character changed", flip(secret, 20), hash},
		{"truncated", secret[:len(secret)-1], hash},
		{"extended", secret + "A", hash},
		{"empty secret", "", hash},
		{"hash changed", secret, otherHash},
		{"no stored hash", secret, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if auth.VerifyAPIKey(tt.secret, tt.hash) {
				t.Errorf("VerifyAPIKey accepted a tampered key")
			}
		})
	}
}

func TestParseAPIKeyRejectsMalformedTokens(t *testing.T) {
	plaintext, keyID, _, err := auth.NewAPIKey()
	if err != nil {
		t.Fatalf("NewAPIKey: %v", err)
	}
	_, secret, err := auth.ParseAPIKey(plaintext)
	if err != nil {
		t.Fatalf("ParseAPIKey: %v", err)
	}
	tests := []struct {
		name  string
		token string
	}{
		{"empty", ""},
		{"prefix only", "mpk_"},
		{"wrong prefix", "mpx_" + keyID + "_" + secret},
		{"upper-case prefix", "MPK_" + keyID + "_" + secret},
		{"missing separator", "mpk_" + keyID + secret},
		{"wrong separator", "mpk_" + keyID + "-" + secret},
		{"short key id", "mpk_" + keyID[:11] + "_" + secret + "A"},
		{"upper-case key id", "mpk_" + strings.ToUpper(keyID) + "_" + secret},
		{"key id outside base32", "mpk_" + "0189" + keyID[4:] + "_" + secret},
		{"short secret", "mpk_" + keyID + "_" + secret[:42]},
		{"long secret", "mpk_" + keyID + "_" + secret + "A"},
		{"secret not base64url", "mpk_" + keyID + "_" + "+/" + secret[2:]},
		// 43 characters carry 258 bits for 256: the last character's two
		// low bits must be zero, which "B" (value 1) violates.
		{"secret with non-zero padding bits", "mpk_" + keyID + "_" + secret[:42] + "B"},
		{"whitespace", " " + plaintext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, s, err := auth.ParseAPIKey(tt.token)
			if err == nil {
				t.Fatalf("ParseAPIKey(%q) = (%q, %q, nil), want an error", tt.token, id, s)
			}
			if !errs.Is(err, errs.CodeUnauthorized) {
				t.Errorf("error code = %q, want unauthorized", errs.CodeOf(err))
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Errorf("error %q repeats the token", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

func TestPasswordHash(t *testing.T) {
	encoded, err := auth.HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	if !strings.HasPrefix(encoded, "$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Errorf("hash %q does not carry the argon2id parameters", encoded)
	}
	again, err := auth.HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	if again == encoded {
		t.Errorf("two hashes of one password are equal: the salt is not random")
	}

	tests := []struct {
		name     string
		password string
		encoded  string
		want     bool
		wantErr  error
	}{
		{"right password", "correct horse battery staple", encoded, true, nil},
		{"wrong password", "correct horse battery stapler", encoded, false, nil},
		{"empty password", "", encoded, false, nil},
		{"empty hash", "x", "", false, auth.ErrBadPasswordHash},
		{"other algorithm", "x", strings.Replace(encoded, "argon2id", "argon2i", 1), false, auth.ErrBadPasswordHash},
		{"other version", "x", strings.Replace(encoded, "v=19", "v=16", 1), false, auth.ErrBadPasswordHash},
		{"absurd memory", "x", strings.Replace(encoded, "m=65536", "m=4294967295", 1), false, auth.ErrBadPasswordHash},
		{"zero passes", "x", strings.Replace(encoded, "t=3", "t=0", 1), false, auth.ErrBadPasswordHash},
		{"key missing", "x", encoded[:strings.LastIndex(encoded, "$")], false, auth.ErrBadPasswordHash},
		{"key too short", "x", encoded[:strings.LastIndex(encoded, "$")+1] + "AAAA", false, auth.ErrBadPasswordHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth.VerifyPassword(tt.password, tt.encoded)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("VerifyPassword error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("VerifyPassword = %v, want %v", got, tt.want)
			}
		})
	}
}
