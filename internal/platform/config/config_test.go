package config_test

import (
	"os"
	"path/filepath"
	"strings"
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
		"SECRET_FILE":  secret,
		"SAME":         "postgres://from-file",
		"SAME_FILE":    secret,
		"OTHER":        "sqlite:data/adherence.db",
		"OTHER_FILE":   secret,
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
		{"file", "SECRET", "d", "postgres://from-file", false},
		{"file and the same plain value", "SAME", "d", "postgres://from-file", false},
		{"file and another plain value", "OTHER", "d", "", true},
		{"missing file", "MISSING", "d", "", true},
	}
	if _, err := env.String("OTHER", "d"); err == nil || !strings.Contains(err.Error(), "OTHER and OTHER_FILE are both set") || strings.Contains(err.Error(), "sqlite:") {
		t.Errorf("String(OTHER) error %v, want one naming both variables and neither value", err)
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

// TestEmptyFile checks that NAME_FILE naming an empty file (or one of only
// whitespace) fails, naming NAME_FILE, in every reader: read as unset it
// brought the default back, so DATABASE_URL_FILE pointing at a secret
// never filled in started the server on the embedded SQLite file.
func TestEmptyFile(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := config.Env{Getenv: func(k string) string {
		if strings.HasSuffix(k, "_FILE") {
			return empty
		}
		return ""
	}}
	check := func(reader string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "SETTING_FILE") || !strings.Contains(err.Error(), "empty") {
			t.Errorf("%s(SETTING) with SETTING_FILE empty: err = %v, want an error naming SETTING_FILE as empty", reader, err)
		}
	}
	_, err := env.String("SETTING", "sqlite:data/x.db")
	check("String", err)
	_, err = env.Int("SETTING", 1)
	check("Int", err)
	_, err = env.Duration("SETTING", time.Second)
	check("Duration", err)
	_, err = env.Bool("SETTING", true)
	check("Bool", err)
}
