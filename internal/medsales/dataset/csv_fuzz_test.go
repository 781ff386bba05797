package dataset_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/dataset"
)

// FuzzReader: whatever follows a valid header, the reader ends: it returns
// records on ever later lines, never past the input's last line (a record
// whose quoted field ran on and was rejected gives back the lines after
// its first, which must not be read twice as the same record or lost
// past the end), and a fatal error names its line.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"1,F\n2,M\n",
		"\"1\",\"F\n\"2\",\"M\"\n3,F\n",
		"1,\"F\n2,M\n3,F\n",
		"1,\"F\n2\",M\n4,F\n",
		"\"a \"\"b\"\"\",\"x\r\ny\"\n",
		"1,F\n\"2\",\"M\nmore",
		",,\n\n\"\",\"\"\n",
	} {
		f.Add([]byte(s))
	}
	cols := []dataset.Column{{Name: "NPI", Required: true}, {Name: "Sex"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		lines := bytes.Count(body, []byte("\n")) + 2 // the header's, and a last line without a break
		r, err := dataset.NewReader(bytes.NewReader(append([]byte("NPI,Sex\n"), body...)), "f.csv", cols, dataset.Options{})
		if err != nil {
			t.Fatalf("header refused: %v", err)
		}
		last := 1
		for r.Next() {
			if r.Line() <= last || r.Line() > lines {
				t.Fatalf("record on line %d after line %d, in an input of %d lines", r.Line(), last, lines)
			}
			last = r.Line()
		}
		if err := r.Err(); err != nil && !strings.HasPrefix(err.Error(), "f.csv: line ") {
			t.Fatalf("error without its line: %v", err)
		}
	})
}
