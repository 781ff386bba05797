// Package config reads settings from the environment through an injected
// getenv, so tests and run() never touch the process environment. Any
// setting may be given as NAME_FILE pointing at a file (ECS injects Secrets
// Manager values either way). NAME and NAME_FILE both set to different
// values is an error naming both, rather than one quietly winning (a
// DATABASE_URL pointing at one database and a DATABASE_URL_FILE at
// another), and a file that cannot be read or is empty is an error rather
// than an unset setting, so a wrong mount fails startup instead of
// quietly turning a feature off.
package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Env reads variables through getenv.
type Env struct {
	Getenv func(string) string
}

// lookup returns NAME_FILE's contents (trimmed) when NAME_FILE is set,
// else NAME; "" means unset. Every typed reader goes through it so that
// NAME_FILE works the same for all of them. An empty file is an error,
// like an unreadable one: a secret that was never filled in (an empty
// Secrets Manager value, a mount of the wrong key) would otherwise read as
// unset and quietly bring the default back, e.g. DATABASE_URL_FILE the
// embedded SQLite file instead of PostgreSQL.
func (e Env) lookup(name string) (string, error) {
	if path := e.Getenv(name + "_FILE"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read %s_FILE: %w", name, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s_FILE: %s is empty (unset %s_FILE for the default)", name, path, name)
		}
		if plain := strings.TrimSpace(e.Getenv(name)); plain != "" && plain != v {
			// The values are not repeated: either may be a secret.
			return "", fmt.Errorf("%s and %s_FILE are both set, to different values: set one of them", name, name)
		}
		return v, nil
	}
	return e.Getenv(name), nil
}

// String returns NAME_FILE's contents (trimmed) when set, else NAME, else def
// (both set to different values is an error).
func (e Env) String(name, def string) (string, error) {
	v, err := e.lookup(name)
	if err != nil {
		return "", err
	}
	if v == "" {
		return def, nil
	}
	return v, nil
}

// Int returns NAME (or NAME_FILE's contents) as an integer, or def when
// unset.
func (e Env) Int(name string, def int) (int, error) {
	v, err := e.lookup(name)
	if err != nil {
		return 0, err
	}
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not an integer", name, v)
	}
	return n, nil
}

// Duration returns NAME (or NAME_FILE's contents) as a Go duration (e.g.
// 30s, 5m), or def when unset.
func (e Env) Duration(name string, def time.Duration) (time.Duration, error) {
	v, err := e.lookup(name)
	if err != nil {
		return 0, err
	}
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration", name, v)
	}
	return d, nil
}

// Bool returns NAME (or NAME_FILE's contents) as true or false, or def
// when unset. Anything else is an error: a typo such as "yes" must not
// quietly mean false.
func (e Env) Bool(name string, def bool) (bool, error) {
	v, err := e.lookup(name)
	if err != nil {
		return false, err
	}
	if v == "" {
		return def, nil
	}
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%s: %q is not true or false", name, v)
}

// CheckGOGC refuses a GOGC the Go runtime cannot parse. The runtime reads
// GOGC itself, at start, and takes such a value (abc, 5%, 1e3) for its
// default 100 without a word, so the setting would be quietly ignored.
// GOGC is a whole percentage (negative turns the collector off, as off
// does); unset or empty leaves the program's default. (GOMEMLIMIT needs no
// check here: the runtime stops the process at start on a malformed one.)
func CheckGOGC(getenv func(string) string) error {
	v := getenv("GOGC")
	if v == "" || v == "off" {
		return nil
	}
	// The runtime's own parser takes an optional minus sign and digits,
	// within 32 bits: no plus sign, no spaces.
	if _, err := strconv.ParseInt(v, 10, 32); err != nil || strings.HasPrefix(v, "+") {
		return fmt.Errorf("GOGC must be a whole percentage (such as 200) or off, got %q", v)
	}
	return nil
}
