// Package config reads settings from the environment through an injected
// getenv, so tests and run() never touch the process environment. Secrets
// may be given as NAME_FILE pointing at a file (ECS injects Secrets Manager
// values either way); the file wins over the plain variable.
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

// String returns NAME_FILE's contents (trimmed) when set, else NAME, else def.
func (e Env) String(name, def string) (string, error) {
	if path := e.Getenv(name + "_FILE"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read %s_FILE: %w", name, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if v := e.Getenv(name); v != "" {
		return v, nil
	}
	return def, nil
}

// Int returns NAME as an integer, or def when unset.
func (e Env) Int(name string, def int) (int, error) {
	v := e.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not an integer", name, v)
	}
	return n, nil
}

// Duration returns NAME as a Go duration (e.g. 30s, 5m), or def when unset.
func (e Env) Duration(name string, def time.Duration) (time.Duration, error) {
	v := e.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration", name, v)
	}
	return d, nil
}
