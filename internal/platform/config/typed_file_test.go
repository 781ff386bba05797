package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/config"
)

// TestTypedFile checks that every typed reader honours NAME_FILE like
// String does: the file is read (NAME unset or the same value), and an
// unreadable file is an error naming NAME_FILE rather than the default.
func TestTypedFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := filepath.Join(dir, "nope")
	vars := map[string]string{
		"DRAIN_FILE": write("drain", "250ms\n"),
		"COUNT":      "12", "COUNT_FILE": write("count", " 12\n"),
		"FLAG_FILE":       write("flag", "true\n"),
		"GONE_DRAIN_FILE": missing, "GONE_COUNT_FILE": missing, "GONE_FLAG_FILE": missing,
	}
	env := config.Env{Getenv: func(k string) string { return vars[k] }}

	if d, err := env.Duration("DRAIN", time.Minute); d != 250*time.Millisecond || err != nil {
		t.Errorf("Duration(DRAIN) = %v, %v; want 250ms from DRAIN_FILE", d, err)
	}
	if n, err := env.Int("COUNT", 3); n != 12 || err != nil {
		t.Errorf("Int(COUNT) = %d, %v; want 12 from COUNT_FILE", n, err)
	}
	if b, err := env.Bool("FLAG", false); !b || err != nil {
		t.Errorf("Bool(FLAG) = %v, %v; want true from FLAG_FILE", b, err)
	}
	wantErr := func(what string, err error, name string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "read "+name+"_FILE: ") {
			t.Errorf("%s: error %v, want one naming %s_FILE", what, err, name)
		}
	}
	_, err := env.Duration("GONE_DRAIN", time.Minute)
	wantErr("Duration", err, "GONE_DRAIN")
	_, err = env.Int("GONE_COUNT", 3)
	wantErr("Int", err, "GONE_COUNT")
	_, err = env.Bool("GONE_FLAG", true)
	wantErr("Bool", err, "GONE_FLAG")
}

// TestBool checks the accepted spellings and that anything else is
// refused with the variable's name, not read as false.
func TestBool(t *testing.T) {
	tests := []struct {
		value   string
		def     bool
		want    bool
		wantErr bool
	}{
		{"", true, true, false},
		{"", false, false, false},
		{"true", false, true, false},
		{"TRUE", false, true, false},
		{"false", true, false, false},
		{"maybe", false, false, true},
		{"1", false, false, true},
	}
	for _, tt := range tests {
		env := config.Env{Getenv: func(k string) string {
			if k == "SHOW" {
				return tt.value
			}
			return ""
		}}
		got, err := env.Bool("SHOW", tt.def)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("Bool(SHOW=%q, def %v) = %v, %v; want %v, err=%v", tt.value, tt.def, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "SHOW") {
			t.Errorf("Bool(SHOW=%q): error %q does not name SHOW", tt.value, err)
		}
	}
}
