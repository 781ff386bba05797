package ingest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// TestRunNamesTheLinesOfARepeatedKey: a file that repeats a key (an NPI, a
// Record_ID) fails naming the key and the two lines
// that hold it, read again from the local file once the load has failed:
// the error named the key only, leaving the operator to search a file of
// millions of lines for it.
func TestRunNamesTheLinesOfARepeatedKey(t *testing.T) {
	cases := []struct {
		dataset medsales.Dataset
		file    string
		label   string
	}{
		{medsales.NPPES, npiFile, "NPI"},
		{medsales.OpenPayments, "OP_DTL_GNRL_PGYR2024_P01302026_sample.csv", "Record_ID"},
	}
	for _, c := range cases {
		t.Run(string(c.dataset), func(t *testing.T) {
			each(t, func(t *testing.T, e env) {
				b, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", c.file))
				if err != nil {
					t.Fatal(err)
				}
				lines := strings.SplitAfter(string(b), "\n")
				if lines[len(lines)-1] == "" {
					lines = lines[:len(lines)-1]
				}
				// The first record again, as the file's last line.
				repeated := append(append([]string{}, lines...), lines[1])
				src := write(t, t.TempDir(), c.file, []byte(strings.Join(repeated, "")))
				_, err = e.svc.Run(context.Background(), ingest.Request{Dataset: c.dataset, Source: src, MaxRejectRatio: 0.9}, nil)
				want := fmt.Sprintf("occurs more than once (lines 2 and %d): nothing loaded", len(repeated))
				if errs.CodeOf(err) != errs.CodeInvalid || !strings.Contains(err.Error(), c.label+" ") || !strings.HasSuffix(err.Error(), want) {
					t.Fatalf("load = %v, want an invalid-input error naming the %s and ending %q", err, c.label, want)
				}
			})
		})
	}
}
