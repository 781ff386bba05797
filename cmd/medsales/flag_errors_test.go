package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestFlagParseErrorPrintedOnce checks that a flag the parser refuses is
// reported once: package flag printed the error before the usage, and
// main printed the returned error again. The usage still goes to stderr;
// the error is returned, for main to print.
func TestFlagParseErrorPrintedOnce(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--bogus"},
		{"worker", "--bogus"},
		{"migrate", "--bogus"},
		{"healthcheck", "--bogus"},
		{"ingest", "--bogus", "nucc", "x.csv"},
		{"ingest", "--data-year", "abc", "nucc", "x.csv"},
		{"datasets", "--history", "many"},
		{"sample", "--bogus"},
		{"geocode", "--limit", "x"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, nil, &stdout, &stderr)
		if err == nil {
			t.Errorf("%q: succeeded, want a flag error", args)
			continue
		}
		if !strings.Contains(stderr.String(), "Usage: medsales "+args[0]) {
			t.Errorf("%q: stderr %.80q, want the usage", args, stderr.String())
		}
		if strings.Contains(stderr.String(), err.Error()) {
			t.Errorf("%q: stderr already holds the error %q that main prints", args, err)
		}
	}
}
