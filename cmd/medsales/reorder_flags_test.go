package main

import (
	"flag"
	"io"
	"slices"
	"testing"
)

// TestReorderFlagsBooleanTakesNoValue: a boolean flag before the
// positional arguments (`ingest --if-changed nucc FILE`) is set and takes
// nothing after it; reorderFlags took the next argument as its value
// whenever that did not start with "-", so DATASET became a third
// argument after "--" and the command refused it. A flag that takes a
// value still takes the next argument, whatever it looks like.
func TestReorderFlagsBooleanTakesNoValue(t *testing.T) {
	for _, c := range []struct {
		args     []string
		changed  bool
		mode     string
		wantArgs []string
	}{
		{args: []string{"--if-changed", "nucc", "FILE"}, changed: true, wantArgs: []string{"nucc", "FILE"}},
		{args: []string{"-if-changed", "nucc", "FILE", "--mode", "full"}, changed: true, mode: "full", wantArgs: []string{"nucc", "FILE"}},
		{args: []string{"nucc", "--if-changed", "FILE"}, changed: true, wantArgs: []string{"nucc", "FILE"}},
		{args: []string{"nucc", "FILE", "--if-changed"}, changed: true, wantArgs: []string{"nucc", "FILE"}},
		{args: []string{"--if-changed=false", "nucc", "FILE"}, changed: false, wantArgs: []string{"nucc", "FILE"}},
		{args: []string{"--mode", "-x", "nucc", "FILE"}, mode: "-x", wantArgs: []string{"nucc", "FILE"}},
		{args: []string{"--if-changed", "--mode", "increment", "nppes", "FILE"}, changed: true, mode: "increment", wantArgs: []string{"nppes", "FILE"}},
	} {
		fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		changed := fs.Bool("if-changed", false, "")
		mode := fs.String("mode", "", "")
		if err := reorderFlags(fs, c.args); err != nil {
			t.Errorf("reorderFlags(%q) = %v", c.args, err)
			continue
		}
		if *changed != c.changed || *mode != c.mode || !slices.Equal(fs.Args(), c.wantArgs) {
			t.Errorf("reorderFlags(%q): if-changed %v, mode %q, args %q; want %v, %q, %q",
				c.args, *changed, *mode, fs.Args(), c.changed, c.mode, c.wantArgs)
		}
	}
}
