package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCommandsRefuseStrayArguments: a command that takes flags only
// refuses an argument that is not a flag. The flag parser stops at the
// first such argument, so `medsales geocode extra --limit 100` ignored the
// limit and geocoded every address, and `serve extra --addr :9000`
// listened on the default port; now nothing is done and the argument is
// named.
func TestCommandsRefuseStrayArguments(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "extra", "--addr", "127.0.0.1:0"},
		{"worker", "extra", "--addr", "127.0.0.1:0"},
		{"migrate", "extra"},
		{"healthcheck", "extra", "--url", "http://127.0.0.1:1/readyz"},
		{"datasets", "extra", "--json"},
		{"sample", "--out", "OUT", "extra", "--providers", "3"},
		{"geocode", "extra", "--limit", "100", "--url", "http://127.0.0.1:1"},
	} {
		t.Run(args[0], func(t *testing.T) {
			dir := t.TempDir()
			for i, a := range args {
				if a == "OUT" {
					args[i] = filepath.Join(dir, "sample")
				}
			}
			env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(dir, "medsales.db"), "LOG_LEVEL": "error", "REJECTS_DIR": filepath.Join(dir, "rejects")}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := run(ctx, args, func(k string) string { return env[k] }, nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), `"extra"`) {
				t.Errorf("run(%q) = %v, want an error naming the argument \"extra\"", args, err)
			}
		})
	}
}
