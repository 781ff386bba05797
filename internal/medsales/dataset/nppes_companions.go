package dataset

import (
	"fmt"
	"io"

	"github.com/medplatform/medplatform/internal/medsales"
)

// The NPPES companion files of the monthly (and weekly) dissemination:
// pl_pfile (secondary practice locations), othername_pfile (other names of
// organizations) and endpoint_pfile (electronic endpoints). Each row names
// an NPI; a row whose NPI is invalid is rejected.

// companionReader is what the companion readers share.
type companionReader struct {
	r      *Reader
	cols   []Column
	reject func(line int, reason string)
}

// The NPPES files share their NPI column: a file given for another
// NPPES dataset is told by a column of its own, so that the error says
// which file it is (a pl_pfile given as the othername_pfile lacks only
// the other name, which read as a layout the publisher changed).
var (
	nppesMainColumn      = []string{"Entity Type Code"}
	nppesLocationColumn  = []string{"Provider Secondary Practice Location Address- Address Line 1", "Provider Secondary Practice Location Address - Address Line 1"}
	nppesOtherNameColumn = []string{"Provider Other Organization Name"}
	nppesEndpointColumn  = []string{"Endpoint Type"}
)

const nppesMainFile = "the main NPPES file (npidata_pfile)"

func newCompanionReader(r io.Reader, file string, cols []Column, others []OtherFile, reject func(int, string)) (companionReader, error) {
	rd, err := NewReader(r, file, cols, Options{Others: others})
	if err != nil {
		return companionReader{}, err
	}
	if reject == nil {
		reject = func(int, string) {}
	}
	return companionReader{r: rd, cols: cols, reject: reject}, nil
}

// next advances to the next row that parse accepts.
func (c *companionReader) next(parse func() error) bool {
	for c.r.Next() {
		err := c.r.RowErr()
		if err == nil {
			err = CheckNPI(c.field(0))
		}
		if err == nil {
			err = parse()
		}
		if err != nil {
			c.reject(c.r.Line(), err.Error())
			continue
		}
		return true
	}
	return false
}

// field returns wanted column i of the current record trimmed of
// surrounding spaces and tabs, nil when it is empty or blank: the
// companion files are NPPES files, whose values are trimmed like the
// npidata ones (an other name or endpoint of spaces only is empty, and
// rejects its row).
func (c *companionReader) field(i int) []byte {
	if v := trimSpace(c.r.Field(i)); len(v) > 0 {
		return v
	}
	return nil
}

// Err returns the fatal error that stopped Next (I/O error, truncated
// input), naming the file and line; nil at a clean end of input.
func (c *companionReader) Err() error { return c.r.Err() }

// Line returns the line where the current row starts (the header is 1).
func (c *companionReader) Line() int { return c.r.Line() }

// Skipped returns how many rows of empty fields (and blank lines) Next has
// passed over (see Reader.Skipped).
func (c *companionReader) Skipped() int64 { return c.r.Skipped() }

// File returns the file name the reader was opened with.
func (c *companionReader) File() string { return c.r.File() }

// name names wanted column i in a reject reason as the file's header
// writes it (the pl_pfile spells its address columns two ways).
func (c *companionReader) name(i int) string {
	if n := c.r.Name(i); n != "" {
		return n
	}
	return c.cols[i].Name
}

// ColumnName returns how the file's header writes the column the loader
// calls name, for the store's reject reasons; name itself when the file
// lacks the column.
func (c *companionReader) ColumnName(name string) string { return columnName(c.r, c.cols, name) }

// pl_pfile columns. The published header writes the first two address
// columns "Address- Address Line 1" and "Address-  Address Line 2" (double
// space) and the others "Address - City Name": both spellings are accepted
// for every column.
var plColumns = []Column{
	{Name: "NPI", Required: true},
	{Name: "Provider Secondary Practice Location Address- Address Line 1", Aliases: []string{"Provider Secondary Practice Location Address - Address Line 1"}, Required: true},
	{Name: "Provider Secondary Practice Location Address-  Address Line 2", Aliases: []string{"Provider Secondary Practice Location Address - Address Line 2"}},
	{Name: "Provider Secondary Practice Location Address - City Name", Aliases: []string{"Provider Secondary Practice Location Address- City Name"}, Required: true},
	{Name: "Provider Secondary Practice Location Address - State Name", Aliases: []string{"Provider Secondary Practice Location Address- State Name"}, Required: true},
	{Name: "Provider Secondary Practice Location Address - Postal Code", Aliases: []string{"Provider Secondary Practice Location Address- Postal Code"}, Required: true},
	{Name: "Provider Secondary Practice Location Address - Country Code (If outside U.S.)", Aliases: []string{"Provider Secondary Practice Location Address- Country Code (If outside U.S.)"}},
	{Name: "Provider Secondary Practice Location Address - Telephone Number", Aliases: []string{"Provider Secondary Practice Location Address- Telephone Number"}},
	{Name: "Provider Secondary Practice Location Address - Telephone Extension", Aliases: []string{"Provider Secondary Practice Location Address- Telephone Extension"}},
	{Name: "Provider Practice Location Address - Fax Number", Aliases: []string{"Provider Practice Location Address- Fax Number", "Provider Secondary Practice Location Address - Fax Number"}},
}

// LocationRecord is one valid pl_pfile row; nil fields are empty. The
// slices are valid until the next call to Next.
type LocationRecord struct {
	NPI            []byte
	Address        NPPESAddress // Fax is the location's fax number
	PhoneExtension []byte
	// ZIP5 is the first five digits of a U.S. postal code, or nil.
	ZIP5 []byte
}

// LocationReader reads a pl_pfile.
type LocationReader struct {
	companionReader
	rec LocationRecord
}

// NewLocationReader reads the header of a pl_pfile; see NewNPPESReader for
// the header checks and reject.
func NewLocationReader(r io.Reader, file string, reject func(line int, reason string)) (*LocationReader, error) {
	c, err := newCompanionReader(r, file, plColumns, othersThan(medsales.NPPESLocations, "a pl_pfile"), reject)
	if err != nil {
		return nil, err
	}
	return &LocationReader{companionReader: c}, nil
}

// Next advances to the next valid row, rejecting malformed ones; false at
// the end of the input or on a fatal error (see Err).
func (l *LocationReader) Next() bool {
	return l.next(func() error {
		f := l.field
		l.rec = LocationRecord{
			NPI:            f(0),
			Address:        NPPESAddress{Line1: f(1), Line2: f(2), City: f(3), State: f(4), PostalCode: f(5), Country: f(6), Phone: f(7), Fax: f(9)},
			PhoneExtension: f(8),
		}
		l.rec.ZIP5 = ZIP5(l.rec.Address.PostalCode, l.rec.Address.Country)
		return nil
	})
}

// Record returns the current row, valid until the next call to Next.
func (l *LocationReader) Record() *LocationRecord { return &l.rec }

// Location converts the record into the domain type; seq orders it among
// the NPI's locations.
func (rec *LocationRecord) Location(seq int64) medsales.PracticeLocation {
	a := rec.Address
	return medsales.PracticeLocation{
		Seq: seq,
		Address: medsales.Address{Line1: string(a.Line1), Line2: string(a.Line2), City: string(a.City), State: string(a.State),
			PostalCode: string(a.PostalCode), Country: string(a.Country), Phone: string(a.Phone), Fax: string(a.Fax)},
		PhoneExtension: string(rec.PhoneExtension),
	}
}

var otherNameColumns = []Column{
	{Name: "NPI", Required: true},
	{Name: "Provider Other Organization Name", Required: true},
	{Name: "Provider Other Organization Name Type Code"},
	// Entity Type Code is in the main npidata_pfile, never in the
	// othername_pfile: the main file has the three columns above too, so
	// its presence is what tells the wrong file.
	otherNameEntityType: {Name: "Entity Type Code"},
}

const otherNameEntityType = 3

// OtherNameRecord is one valid othername_pfile row.
type OtherNameRecord struct {
	NPI, Name, TypeCode []byte
}

// OtherNameReader reads an othername_pfile.
type OtherNameReader struct {
	companionReader
	rec OtherNameRecord
}

// NewOtherNameReader reads the header of an othername_pfile; see
// NewNPPESReader for the header checks and reject.
func NewOtherNameReader(r io.Reader, file string, reject func(line int, reason string)) (*OtherNameReader, error) {
	c, err := newCompanionReader(r, file, otherNameColumns, othersThan(medsales.NPPESOtherNames, "an othername_pfile"), reject)
	if err != nil {
		return nil, err
	}
	if c.r.Present(otherNameEntityType) {
		return nil, fmt.Errorf("%s: has an Entity Type Code column: the main NPPES file (npidata_pfile), not an othername_pfile: %w", file, ErrWrongFile)
	}
	return &OtherNameReader{companionReader: c}, nil
}

// Next advances to the next valid row; a row without a name is rejected.
func (o *OtherNameReader) Next() bool {
	return o.next(func() error {
		f := o.field
		o.rec = OtherNameRecord{NPI: f(0), Name: f(1), TypeCode: f(2)}
		if o.rec.Name == nil {
			return errEmpty(o.name(1))
		}
		return nil
	})
}

// Record returns the current row, valid until the next call to Next.
func (o *OtherNameReader) Record() *OtherNameRecord { return &o.rec }

// OtherName converts the record into the domain type.
func (rec *OtherNameRecord) OtherName(seq int64) medsales.OtherName {
	return medsales.OtherName{Seq: seq, Name: string(rec.Name), TypeCode: string(rec.TypeCode)}
}

// endpoint_pfile columns, in the order of EndpointRecord.Fields.
var endpointColumns = []Column{
	{Name: "NPI", Required: true},
	{Name: "Endpoint Type", Required: true},
	{Name: "Endpoint Type Description"},
	{Name: "Endpoint", Required: true},
	{Name: "Affiliation"},
	{Name: "Endpoint Description"},
	{Name: "Affiliation Legal Business Name"},
	{Name: "Use Code"},
	{Name: "Use Description"},
	{Name: "Other Use Description"},
	{Name: "Content Type"},
	{Name: "Content Description"},
	{Name: "Other Content Description"},
	{Name: "Affiliation Address Line One", Aliases: []string{"Affiliation Address Line 1"}},
	{Name: "Affiliation Address Line Two", Aliases: []string{"Affiliation Address Line 2"}},
	{Name: "Affiliation Address City"},
	{Name: "Affiliation Address State"},
	{Name: "Affiliation Address Country"},
	{Name: "Affiliation Address Postal Code"},
}

// EndpointFields is the number of values in EndpointRecord.Fields.
const EndpointFields = 19

// EndpointRecord is one valid endpoint_pfile row: Fields holds the 19
// columns in the published order (NPI, Endpoint Type, Endpoint Type
// Description, Endpoint, Affiliation, Endpoint Description, Affiliation
// Legal Business Name, Use Code, Use Description, Other Use Description,
// Content Type, Content Description, Other Content Description,
// Affiliation Address Line One, Line Two, City, State, Country, Postal
// Code), nil when empty, valid until the next call to Next.
type EndpointRecord struct {
	Fields [EndpointFields][]byte
}

// EndpointReader reads an endpoint_pfile.
type EndpointReader struct {
	companionReader
	rec EndpointRecord
}

// NewEndpointReader reads the header of an endpoint_pfile; see
// NewNPPESReader for the header checks and reject.
func NewEndpointReader(r io.Reader, file string, reject func(line int, reason string)) (*EndpointReader, error) {
	c, err := newCompanionReader(r, file, endpointColumns, othersThan(medsales.NPPESEndpoints, "an endpoint_pfile"), reject)
	if err != nil {
		return nil, err
	}
	return &EndpointReader{companionReader: c}, nil
}

// Next advances to the next valid row; a row without an endpoint is
// rejected.
func (e *EndpointReader) Next() bool {
	return e.next(func() error {
		for i := range e.rec.Fields {
			e.rec.Fields[i] = e.field(i)
		}
		if e.rec.Fields[3] == nil {
			return errEmpty(e.name(3))
		}
		return nil
	})
}

// Record returns the current row, valid until the next call to Next.
func (e *EndpointReader) Record() *EndpointRecord { return &e.rec }

// Endpoint converts the record into the domain type.
func (rec *EndpointRecord) Endpoint(seq int64) medsales.Endpoint {
	f := func(i int) string { return string(rec.Fields[i]) }
	return medsales.Endpoint{
		Seq: seq, Type: f(1), TypeDescription: f(2), Endpoint: f(3), Affiliation: f(4), Description: f(5),
		AffiliationLegalName: f(6), UseCode: f(7), UseDescription: f(8), OtherUseDescription: f(9),
		ContentType: f(10), ContentDescription: f(11), OtherContentDescription: f(12),
		AffiliationAddress: medsales.Address{Line1: f(13), Line2: f(14), City: f(15), State: f(16), Country: f(17), PostalCode: f(18)},
	}
}

type emptyError string

func (e emptyError) Error() string { return string(e) + " is empty" }

func errEmpty(column string) error { return emptyError(column) }
