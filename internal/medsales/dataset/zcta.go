package dataset

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/geo"
)

// Gazetteer columns, in the order of zctaColumns.
const (
	zcGEOID = iota
	zcLat
	zcLon
	zcUSPS
	zcName
)

// zctaColumns are the columns a Census ZCTA gazetteer file
// (20xx_Gaz_zcta_national.txt, tab-separated: GEOID ALAND AWATER
// ALAND_SQMI AWATER_SQMI INTPTLAT INTPTLONG) must have. The areas are not
// used. The last header name often carries trailing spaces; the Reader
// trims them.
var zctaColumns = []Column{
	zcGEOID: {Name: "GEOID", Aliases: []string{"ZCTA5", "ZCTA5CE20", "ZCTA5CE10"}, Required: true},
	zcLat:   {Name: "INTPTLAT", Aliases: []string{"INTPTLAT20", "INTPTLAT10"}, Required: true},
	zcLon:   {Name: "INTPTLONG", Aliases: []string{"INTPTLON", "INTPTLON20", "INTPTLON10"}, Required: true},
	// USPS (a state code) is in the county and place gazetteers, never in
	// the ZCTA one: its presence means the wrong file.
	zcUSPS: {Name: "USPS"},
	// NAME is in every gazetteer that names its areas, never in the ZCTA
	// one (GEOID, ALAND, AWATER, ALAND_SQMI, AWATER_SQMI, INTPTLAT,
	// INTPTLONG): the urban area and CBSA gazetteers have no USPS column
	// and five-digit GEOIDs, which would load as ZIP codes.
	zcName: {Name: "NAME"},
}

// ZCTAReader reads a Census gazetteer ZCTA file one ZIP code tabulation
// area at a time:
//
//	for r.Next() {
//		if err := r.Centroid(&c); err != nil { reject r.Line() with err; continue }
//		…
//	}
//	if err := r.Err(); err != nil { … }
type ZCTAReader struct {
	r    *Reader
	seen map[string]int // ZIP → line of its first occurrence (~34k ZCTAs)
}

// NewZCTAReader reads the header of a gazetteer file. It fails, before
// reading any row, when GEOID, INTPTLAT or INTPTLONG is missing (the error
// names the columns and the file and wraps ErrWrongFile) — a comma-
// separated file, for one, has none of them — and when it is the county or
// place gazetteer (a USPS column) or another gazetteer of named areas (a
// NAME column).
func NewZCTAReader(r io.Reader, file string) (*ZCTAReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	rd, err := NewReader(br, file, zctaColumns, Options{Comma: gazetteerSeparator(br), Others: othersThan(medsales.ZCTA, "the ZCTA gazetteer")})
	if err != nil {
		return nil, err
	}
	if rd.Present(zcUSPS) {
		return nil, fmt.Errorf("%s: has a USPS column: a county or place gazetteer, not the ZCTA one: %w", file, ErrWrongFile)
	}
	if rd.Present(zcName) {
		return nil, fmt.Errorf("%s: has a NAME column: a gazetteer of named areas (urban areas, CBSAs …), not the ZCTA one: %w", file, ErrWrongFile)
	}
	return &ZCTAReader{r: rd, seen: make(map[string]int, 34000)}, nil
}

// gazetteerSeparator returns the field separator of the gazetteer file
// read by br, from its header line: a tab, as the files have been, or a
// vertical bar, as one description of the 2025 files has them (with a
// GEOIDFQ column, which is ignored), or, without either, a comma (the file
// saved as CSV from a spreadsheet). A header with none of them is read as
// tab-separated, and refused for its missing columns.
func gazetteerSeparator(br *bufio.Reader) rune {
	head, _ := br.Peek(br.Size())
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	switch {
	case bytes.ContainsRune(head, '\t'):
		return '\t'
	case bytes.ContainsRune(head, '|'):
		return '|'
	case bytes.ContainsRune(head, ','):
		return ','
	}
	return '\t'
}

// Next advances to the next record; false at the end of the input or on a
// fatal error (see Err).
func (z *ZCTAReader) Next() bool { return z.r.Next() }

// Err returns the fatal error that stopped Next, naming the file and line,
// or nil at a clean end of input.
func (z *ZCTAReader) Err() error { return z.r.Err() }

// Line returns the line number where the current record starts (the header
// is line 1).
func (z *ZCTAReader) Line() int { return z.r.Line() }

// Skipped returns how many rows of empty fields (and blank lines) Next has
// passed over (see Reader.Skipped).
func (z *ZCTAReader) Skipped() int64 { return z.r.Skipped() }

// File returns the file name the reader was opened with.
func (z *ZCTAReader) File() string { return z.r.File() }

// Centroid parses the current record into dst. A non-nil error is the
// reason to reject the record: GEOID not five digits or repeated, a
// coordinate that is not a number or out of range.
func (z *ZCTAReader) Centroid(dst *geo.Centroid) error {
	r := z.r
	if err := r.RowErr(); err != nil {
		return err
	}
	// Reasons name the columns as the header writes them (ZCTA5CE20,
	// INTPTLON …), for the operator looking for them in the file.
	zip := bytes.TrimSpace(r.Field(zcGEOID))
	if len(zip) != 5 {
		return fmt.Errorf("%s %q is not a five-digit ZIP code", r.Name(zcGEOID), zip)
	}
	for _, c := range zip {
		if c < '0' || c > '9' {
			return fmt.Errorf("%s %q is not a five-digit ZIP code", r.Name(zcGEOID), zip)
		}
	}
	lat, err := coordinate(r.Field(zcLat), r.Name(zcLat), 90)
	if err != nil {
		return err
	}
	lon, err := coordinate(r.Field(zcLon), r.Name(zcLon), 180)
	if err != nil {
		return err
	}
	if first, dup := z.seen[string(zip)]; dup {
		return fmt.Errorf("%s %s repeats the ZCTA on line %d", r.Name(zcGEOID), zip, first)
	}
	*dst = geo.Centroid{ZIP: string(zip), Lat: lat, Lon: lon}
	z.seen[dst.ZIP] = r.Line()
	return nil
}

func coordinate(b []byte, name string, limit float64) (float64, error) {
	s := bytes.TrimSpace(b)
	if len(s) == 0 {
		return 0, fmt.Errorf("%s is empty", name)
	}
	v, err := strconv.ParseFloat(string(s), 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a number", name, s)
	}
	if !(v >= -limit && v <= limit) {
		return 0, fmt.Errorf("%s %s is out of range", name, s)
	}
	return v, nil
}
