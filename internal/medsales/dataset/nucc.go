package dataset

import (
	"bytes"
	"fmt"
	"io"

	"github.com/medplatform/medplatform/internal/medsales"
)

// NUCC columns, in the order of nuccColumns.
const (
	nuCode = iota
	nuGrouping
	nuClassification
	nuSpecialization
	nuDefinition
	nuNotes
	nuDisplayName
	nuSection
)

// nuccColumns are the columns of a NUCC taxonomy file (nucc_taxonomy_<ver>
// .csv). Older releases have neither Display Name nor Section, so those two
// are optional.
var nuccColumns = []Column{
	nuCode:           {Name: "Code", Required: true},
	nuGrouping:       {Name: "Grouping", Required: true},
	nuClassification: {Name: "Classification", Required: true},
	nuSpecialization: {Name: "Specialization", Required: true},
	nuDefinition:     {Name: "Definition", Required: true},
	nuNotes:          {Name: "Notes", Required: true},
	nuDisplayName:    {Name: "Display Name", Aliases: []string{"Display_Name", "DisplayName"}},
	nuSection:        {Name: "Section"},
}

// NUCCReader reads a NUCC Health Care Provider Taxonomy file one code at a
// time, like PartDReader. A code must be ten letters and digits and appear
// once in the file.
type NUCCReader struct {
	claimsReader
	seen map[string]int // code → line of its first occurrence (~900 codes)
}

// NewNUCCReader reads the header of a NUCC taxonomy file. It fails, before
// reading any row, when a required column is missing (the error names the
// columns and the file and wraps ErrWrongFile).
func NewNUCCReader(r io.Reader, file string) (*NUCCReader, error) {
	cr, err := newClaimsReader(r, file, nuccColumns, medsales.NUCC, "the NUCC taxonomy file")
	if err != nil {
		return nil, err
	}
	return &NUCCReader{claimsReader: cr, seen: make(map[string]int)}, nil
}

// Taxonomy parses the current record into dst. A non-nil error is the
// reason to reject the record.
func (n *NUCCReader) Taxonomy(dst *medsales.Taxonomy) error {
	r := n.r
	if err := r.RowErr(); err != nil {
		return err
	}
	// Trimmed as every value is, and in upper case as NPPES writes the
	// codes it joins to: "207q00000x" was stored beside 207Q00000X and
	// matched no provider (QA).
	code := bytes.ToUpper(trimSpace(r.Field(nuCode)))
	if len(code) != 10 {
		return fmt.Errorf("%s %q does not have 10 characters", n.name(nuCode), code)
	}
	for _, c := range code {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return fmt.Errorf("%s %q is not letters and digits", n.name(nuCode), code)
		}
	}
	if first, dup := n.seen[string(code)]; dup {
		return fmt.Errorf("%s %q repeats the code on line %d", n.name(nuCode), code, first)
	}
	*dst = medsales.Taxonomy{
		Code:           string(code),
		Grouping:       text(r, nuGrouping),
		Classification: text(r, nuClassification),
		Specialization: text(r, nuSpecialization),
		Definition:     text(r, nuDefinition),
		Notes:          text(r, nuNotes),
		DisplayName:    text(r, nuDisplayName),
		Section:        text(r, nuSection),
	}
	n.seen[dst.Code] = r.Line()
	return nil
}

// text returns column i without surrounding white space ("" when absent).
func text(r *Reader, i int) string { return string(bytes.TrimSpace(r.Field(i))) }
