// Package benchkit holds what the medsales benchmarks (bench/ingest,
// bench/profile) share to build the binary under test, say which code it
// is, and set up their databases and report the machine's load.
package benchkit

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ModuleRoot returns the directory of this module's go.mod.
func ModuleRoot(ctx context.Context) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	return filepath.Dir(strings.TrimSpace(string(gomod))), nil
}

// BuildMedsales builds ./cmd/medsales of the module at root into bin.
func BuildMedsales(ctx context.Context, root, bin string, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/medsales")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/medsales: %w", err)
	}
	return nil
}

// Provenance names the commit the working tree is at and the files under
// cmd/ and internal/ changed since: a shared checkout may hold someone's
// work in progress, which the built binary includes.
func Provenance(ctx context.Context, root string) string {
	git := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = root
		return cmd.Output()
	}
	head, err := git("rev-parse", "--short", "HEAD")
	if err != nil {
		return "an unknown commit (git rev-parse failed)"
	}
	s := "commit " + strings.TrimSpace(string(head))
	st, err := git("status", "--porcelain", "--", "cmd", "internal", "go.mod", "go.sum")
	if err != nil {
		return s
	}
	var changed []string
	for line := range strings.SplitSeq(strings.TrimRight(string(st), "\n"), "\n") {
		if len(line) > 3 {
			changed = append(changed, line[3:])
		}
	}
	if len(changed) == 0 {
		return s + " (clean)"
	}
	return s + " plus uncommitted changes to " + strings.Join(changed, ", ")
}

func ExecSQL(ctx context.Context, dbURL string, stmts ...string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%.60s…: %w", s, err)
		}
	}
	return nil
}

func RecreateDB(ctx context.Context, adminURL, name string) error {
	return ExecSQL(ctx, adminURL,
		"DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)",
		"CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
}

func DropDB(ctx context.Context, adminURL, name string) error {
	return ExecSQL(ctx, adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

func FileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// LoadAverage returns the 1, 5 and 15 minute load averages.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
