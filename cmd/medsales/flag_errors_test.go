package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
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

// TestBadFlagValueShowsUsage checks that a flag value that parses but is
// not accepted fails as an argument mistake does: the usage on stderr,
// and an error that names the flag and quotes the value. These failed
// without the usage, and --progress fancy did not quote the value.
func TestBadFlagValueShowsUsage(t *testing.T) {
	src := filepath.Join(t.TempDir(), "nucc_taxonomy_251.csv")
	if err := os.WriteFile(src, []byte("Code,Grouping\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ingest", "--mode", "bogus", "nucc", src}, `--mode: must be "full" or "increment"; got "bogus"`},
		{[]string{"ingest", "--progress", "fancy", "nucc", src}, `--progress: must be auto, bar, log or none; got "fancy"`},
		{[]string{"ingest", "--data-year", "1999", "nucc", src}, `--data-year: must be a year between 2000 and 2100; got "1999"`},
		{[]string{"ingest", "--max-reject-ratio", "2", "nucc", src}, `--max-reject-ratio: must be between 0 and 1; got "2"`},
		{[]string{"datasets", "--history", "-1"}, `--history: must be between 0 and 1000; got "-1"`},
		{[]string{"sample", "--out", t.TempDir(), "--providers", "0"}, `--providers: must be at least 1; got "0"`},
		{[]string{"geocode", "--limit", "-1"}, `--limit: must be a number of addresses, or 0 for all; got "-1"`},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tc.args, func(string) string { return "" }, nil, &stdout, &stderr)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: err = %v, want %s", tc.args, err, tc.want)
		}
		if !strings.Contains(stderr.String(), "Usage: medsales "+tc.args[0]) || stdout.Len() != 0 {
			t.Errorf("%q: stdout %.60q, stderr %.60q, want the usage on stderr only", tc.args, stdout.String(), stderr.String())
		}
	}
}

// TestBadSourceNameWithoutUsage: what is wrong with the source's file name
// (its dates cannot be) is said alone: the usage, which the operator did
// not get wrong, is not printed before it.
func TestBadSourceNameWithoutUsage(t *testing.T) {
	src := filepath.Join(t.TempDir(), "npidata_pfile_20260810-20260804.csv")
	if err := os.WriteFile(src, []byte("NPI\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"ingest", "nppes", src}, func(string) string { return "" }, nil, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "its dates run backwards (20260810, then 20260804)") {
		t.Errorf("err = %v, want the dates refused", err)
	}
	if strings.Contains(stderr.String(), "Usage:") || stdout.Len() != 0 {
		t.Errorf("stdout %.60q, stderr %.60q, want neither the usage nor anything on stdout", stdout.String(), stderr.String())
	}
}

// TestUnknownDatasetIsOneLine: an unknown dataset name is one line, the
// error, which lists the known ones (the bad-input rule); the
// usage block came before it.
func TestUnknownDatasetIsOneLine(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"ingest", "nppes-foo", "nucc_taxonomy_251.csv"}, func(string) string { return "" }, nil, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), `unknown dataset "nppes-foo" (known: `) {
		t.Errorf("err = %v, want the dataset refused with the known ones", err)
	}
	if stderr.Len() != 0 || stdout.Len() != 0 {
		t.Errorf("stdout %.60q, stderr %.60q, want nothing but the error main prints", stdout.String(), stderr.String())
	}
	// A dataset alone, known or not, is one line too.
	for _, args := range [][]string{{"ingest", "nppes-foo"}, {"ingest", "nppes"}} {
		stdout.Reset()
		stderr.Reset()
		if err := run(context.Background(), args, func(string) string { return "" }, nil, &stdout, &stderr); err == nil {
			t.Errorf("%v: no error", args)
		}
		if stderr.Len() != 0 || stdout.Len() != 0 {
			t.Errorf("%v: stdout %.60q, stderr %.60q, want nothing but the error main prints", args, stdout.String(), stderr.String())
		}
	}
}
