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
