package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"regexp"
	"strings"
	"testing"
)

// TestUsageNamesEveryFlag checks that each command's usage line names
// every flag the command takes: `ingest --help` left --progress out.
func TestUsageNamesEveryFlag(t *testing.T) {
	flagLine := regexp.MustCompile(`(?m)^  -([a-z-]+)`)
	for _, cmd := range []string{"serve", "worker", "migrate", "healthcheck", "ingest", "datasets", "sample", "geocode"} {
		var stderr bytes.Buffer
		err := run(context.Background(), []string{cmd, "--help"}, func(string) string { return "" }, nil, &stderr, &stderr)
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s --help: err = %v, want flag.ErrHelp", cmd, err)
			continue
		}
		out := stderr.String()
		usage, _, _ := strings.Cut(out, "\n")
		if !strings.HasPrefix(usage, "Usage: medsales "+cmd) {
			t.Errorf("%s --help: first line %q is not its usage line", cmd, usage)
			continue
		}
		for _, m := range flagLine.FindAllStringSubmatch(out, -1) {
			if !strings.Contains(usage, "--"+m[1]) {
				t.Errorf("%s: usage line %q does not name --%s", cmd, usage, m[1])
			}
		}
	}
}

// TestUsageOnMistakesGoesToStderr: run without a command, or with one it
// does not know, fails with the usage on stderr and nothing on stdout;
// without a command the usage went to stdout. `medsales help` still
// prints it on stdout and succeeds.
func TestUsageOnMistakesGoesToStderr(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, nil, &stdout, &stderr)
		if err == nil {
			t.Errorf("run(%q) succeeded, want an error", args)
		}
		if stdout.Len() != 0 || !strings.Contains(stderr.String(), "Usage: medsales <command>") {
			t.Errorf("run(%q): stdout %.60q, stderr %.60q, want the usage on stderr only", args, stdout.String(), stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"help"}, func(string) string { return "" }, nil, &stdout, &stderr); err != nil {
		t.Fatalf("help: %v", err)
	}
	if !strings.Contains(stdout.String(), "Usage: medsales <command>") || stderr.Len() != 0 {
		t.Errorf("help: stdout %.60q, stderr %.60q, want the usage on stdout", stdout.String(), stderr.String())
	}
}
