package source_test

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/source"
)

// A URL of a scheme Open does not read is refused with one line naming the
// source (without credentials) and the supported forms; it used to be
// opened as a local path and fail with "no such file or directory".
func TestOpenUnsupportedScheme(t *testing.T) {
	tests := []struct {
		src    string
		says   []string // beside the supported forms
		hidden []string // must not appear
	}{
		{src: "ftp://ftp.cms.gov/pub/nucc_taxonomy_251.csv",
			says: []string{"ftp://ftp.cms.gov/pub/nucc_taxonomy_251.csv", `unsupported scheme "ftp"`}},
		{src: "gs://medsales-raw/cms/MUP_DPR_RY26_P04_V10_DY24_NPIBN.zip",
			says: []string{"gs://medsales-raw/cms/MUP_DPR_RY26_P04_V10_DY24_NPIBN.zip", `unsupported scheme "gs"`}},
		{src: "FTP://host/x.csv", says: []string{"host/x.csv", `unsupported scheme "FTP"`}},
		{src: "file:///tmp/x.csv", says: []string{"file:///tmp/x.csv", `unsupported scheme "file"`}},
		{src: "sftp://loader:hunter2@host/drop/x.zip?token=abc",
			says: []string{"sftp://host/drop/x.zip?…", `unsupported scheme "sftp"`}, hidden: []string{"hunter2", "loader", "abc"}},
		{src: "ftp://bad host/%zz", says: []string{"source ftp://…:", `unsupported scheme "ftp"`}, hidden: []string{"bad host"}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			f, err := source.Open(context.Background(), tt.src, source.Options{})
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded, want an error")
			}
			msg := err.Error()
			t.Log(msg)
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %q is fs.ErrNotExist: the URL was read as a local path", msg)
			}
			for _, s := range append(tt.says, "local path", "s3://bucket/key", "https://", "http://") {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
			for _, s := range tt.hidden {
				if strings.Contains(msg, s) {
					t.Errorf("error %q reveals %q", msg, s)
				}
			}
		})
	}
}

// Paths that only look like URLs are still local paths: a one-letter
// "scheme" is a Windows drive, and a colon elsewhere is part of a name.
func TestOpenLocalPathsWithColons(t *testing.T) {
	for _, src := range []string{"C://data/x.csv", "c:/data/x.csv", "data/x://y.csv"} {
		_, err := source.Open(context.Background(), src, source.Options{})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q) error = %v, want fs.ErrNotExist (opened as a local path)", src, err)
		}
	}
	dir := t.TempDir()
	p := writeFile(t, dir, "ab:c.csv", []byte("a\n1\n"))
	f, err := source.Open(context.Background(), p, source.Options{})
	if err != nil {
		t.Fatalf("Open(%q): %v", p, err)
	}
	f.Close()
}
