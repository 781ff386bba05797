package config_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/config"
)

func TestEnv(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "db_url")
	if err := os.WriteFile(secret, []byte("postgres://from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"PLAIN":        "value",
		"SECRET":       "ignored",
		"SECRET_FILE":  secret,
		"MISSING_FILE": filepath.Join(t.TempDir(), "nope"),
		"COUNT":        "42",
		"BAD_COUNT":    "4x",
		"TIMEOUT":      "90s",
		"BAD_TIMEOUT":  "soon",
	}
	env := config.Env{Getenv: func(k string) string { return vars[k] }}
	tests := []struct {
		name, key, def, want string
		wantErr              bool
	}{
		{"plain", "PLAIN", "d", "value", false},
		{"default", "UNSET", "d", "d", false},
		{"file wins", "SECRET", "d", "postgres://from-file", false},
		{"missing file", "MISSING", "d", "", true},
	}
	for _, tt := range tests {
		got, err := env.String(tt.key, tt.def)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: String(%s) = %q, %v; want %q, err=%v", tt.name, tt.key, got, err, tt.want, tt.wantErr)
		}
	}
	if n, err := env.Int("COUNT", 1); n != 42 || err != nil {
		t.Errorf("Int(COUNT) = %d, %v", n, err)
	}
	if n, err := env.Int("UNSET", 7); n != 7 || err != nil {
		t.Errorf("Int(UNSET) = %d, %v", n, err)
	}
	if _, err := env.Int("BAD_COUNT", 1); err == nil {
		t.Error("Int(BAD_COUNT) succeeded, want an error")
	}
	if d, err := env.Duration("TIMEOUT", time.Second); d != 90*time.Second || err != nil {
		t.Errorf("Duration(TIMEOUT) = %v, %v", d, err)
	}
	if _, err := env.Duration("BAD_TIMEOUT", time.Second); err == nil {
		t.Error("Duration(BAD_TIMEOUT) succeeded, want an error")
	}
}
