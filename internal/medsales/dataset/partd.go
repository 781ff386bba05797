package dataset

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/medplatform/medplatform/internal/medsales"
)

// Part D columns, in the order of partDColumns.
const (
	pdNPI = iota
	pdBrand
	pdGeneric
	pdClaims
	pdFills
	pdDaySupply
	pdCost
	pdBenes
	pdGE65Flag
	pdGE65Claims
	pdGE65Fills
	pdGE65Cost
	pdGE65DaySupply
	pdGE65BeneFlag
	pdGE65Benes
)

// partDColumns are the columns read from a CMS Medicare Part D Prescribers
// by Provider and Drug file. Every column the store keeps is required, so a
// file of another dataset (or a truncated header) is refused on its header.
// Columns are found by name: the copies that swap the last two columns
// (GE65_Bene_Sprsn_Flag, GE65_Tot_Benes) load the same.
var partDColumns = []Column{
	pdNPI:           {Name: "Prscrbr_NPI", Required: true},
	pdBrand:         {Name: "Brnd_Name", Required: true},
	pdGeneric:       {Name: "Gnrc_Name", Required: true},
	pdClaims:        {Name: "Tot_Clms", Required: true},
	pdFills:         {Name: "Tot_30day_Fills", Required: true},
	pdDaySupply:     {Name: "Tot_Day_Suply", Required: true},
	pdCost:          {Name: "Tot_Drug_Cst", Required: true},
	pdBenes:         {Name: "Tot_Benes", Required: true},
	pdGE65Flag:      {Name: "GE65_Sprsn_Flag", Required: true},
	pdGE65Claims:    {Name: "GE65_Tot_Clms", Required: true},
	pdGE65Fills:     {Name: "GE65_Tot_30day_Fills", Required: true},
	pdGE65Cost:      {Name: "GE65_Tot_Drug_Cst", Required: true},
	pdGE65DaySupply: {Name: "GE65_Tot_Day_Suply", Required: true},
	pdGE65BeneFlag:  {Name: "GE65_Bene_Sprsn_Flag", Required: true},
	pdGE65Benes:     {Name: "GE65_Tot_Benes", Required: true},
}

// PartDReader reads a CMS Medicare Part D Prescribers by Provider and Drug
// file (e.g. MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv) one drug line at a time:
//
//	for r.Next() {
//		if err := r.Drug(&line); err != nil {
//			// reject line r.Line() with reason err
//			continue
//		}
//		…
//	}
//	if err := r.Err(); err != nil { … }
//
// Rows need a valid prescriber NPI. Blank counts (suppressed by CMS) are
// nil; money is rounded to cents. Decimals the store's NUMERIC columns
// cannot hold reject the row (see Numeric).
type PartDReader struct {
	claimsReader
	year int
}

// NewPartDReader reads the header of a Part D file and returns a reader
// that stamps every line with dataYear. It fails, before reading any row,
// when a required column is missing (the error names the columns and the
// file and wraps ErrWrongFile).
func NewPartDReader(r io.Reader, file string, dataYear int) (*PartDReader, error) {
	cr, err := newClaimsReader(r, file, partDColumns, medsales.PartD, "a Part D file")
	if err != nil {
		return nil, err
	}
	return &PartDReader{claimsReader: cr, year: dataYear}, nil
}

// Drug parses the current record into dst. A non-nil error is the reason to
// reject the record (it names the column); dst is then partly written.
func (p *PartDReader) Drug(dst *medsales.DrugLine) error {
	r := p.r
	if err := r.RowErr(); err != nil {
		return err
	}
	var err error
	if dst.NPI, err = p.npi(pdNPI, true); err != nil {
		return err
	}
	dst.BrandName = p.intern.get(r.Field(pdBrand))
	dst.GenericName = p.intern.get(r.Field(pdGeneric))
	if dst.BrandName == "" && dst.GenericName == "" {
		return fmt.Errorf("%s and %s are both empty", p.name(pdBrand), p.name(pdGeneric))
	}
	if dst.TotalClaims, err = p.count(pdClaims); err != nil {
		return err
	}
	if dst.Total30DayFills, err = p.decimal(pdFills, true); err != nil {
		return err
	}
	// Fills and costs are sums, never below zero, as the claims and days
	// are: a negative one was loaded, and summed on profiles (QA).
	if err := p.notNegative(pdFills, dst.Total30DayFills); err != nil {
		return err
	}
	if dst.TotalDaySupply, err = p.count(pdDaySupply); err != nil {
		return err
	}
	if dst.TotalDrugCost, err = p.money(pdCost, true); err != nil {
		return err
	}
	if err := p.notNegative(pdCost, dst.TotalDrugCost); err != nil {
		return err
	}
	if dst.TotalBeneficiaries, err = p.optCount(pdBenes); err != nil {
		return err
	}
	if dst.GE65SuppressionFlag, err = p.flag(pdGE65Flag); err != nil {
		return err
	}
	if dst.GE65TotalClaims, err = p.optCount(pdGE65Claims); err != nil {
		return err
	}
	if dst.GE65Total30DayFills, err = p.optDecimal(pdGE65Fills); err != nil {
		return err
	}
	if dst.GE65Total30DayFills != nil {
		if err := p.notNegative(pdGE65Fills, *dst.GE65Total30DayFills); err != nil {
			return err
		}
	}
	if dst.GE65TotalDrugCost, err = p.optMoney(pdGE65Cost); err != nil {
		return err
	}
	if dst.GE65TotalDrugCost != nil {
		if err := p.notNegative(pdGE65Cost, *dst.GE65TotalDrugCost); err != nil {
			return err
		}
	}
	if dst.GE65TotalDaySupply, err = p.optCount(pdGE65DaySupply); err != nil {
		return err
	}
	if dst.GE65BeneSuppressionFlag, err = p.flag(pdGE65BeneFlag); err != nil {
		return err
	}
	if dst.GE65TotalBeneficiaries, err = p.optCount(pdGE65Benes); err != nil {
		return err
	}
	dst.DataYear = p.year
	return nil
}

// claimsReader is what the claims and payments readers share: the CSV
// reader, their column table (for names in messages) and caches that spare
// an allocation per row on repeated values.
type claimsReader struct {
	r      *Reader
	cols   []Column
	intern interner
	// lastNPI is the previous row's NPI: the CMS files are sorted by NPI,
	// so consecutive rows mostly repeat it.
	lastNPI string
}

// newClaimsReader reads the header of a file of dataset own; this says
// what that file is, for the error naming another dataset's file given
// for it.
func newClaimsReader(r io.Reader, file string, cols []Column, own medsales.Dataset, this string) (claimsReader, error) {
	rd, err := NewReader(r, file, cols, Options{Others: othersThan(own, this)})
	if err != nil {
		return claimsReader{}, err
	}
	return claimsReader{r: rd, cols: cols, intern: interner{max: maxInterned}}, nil
}

// Next advances to the next record; false at the end of the input or on a
// fatal error (see Err).
func (c *claimsReader) Next() bool { return c.r.Next() }

// Err returns the fatal error that stopped Next, naming the file and line,
// or nil at a clean end of input.
func (c *claimsReader) Err() error { return c.r.Err() }

// Line returns the line number where the current record starts (the
// header is line 1).
func (c *claimsReader) Line() int { return c.r.Line() }

// Skipped returns how many rows of empty fields (and blank lines) Next has
// passed over (see Reader.Skipped).
func (c *claimsReader) Skipped() int64 { return c.r.Skipped() }

// File returns the file name the reader was opened with.
func (c *claimsReader) File() string { return c.r.File() }

// name names wanted column i in a reject reason as the file's header
// writes it, which may be an alias of the column's Name.
func (c *claimsReader) name(i int) string {
	if n := c.r.Name(i); n != "" {
		return n
	}
	return c.cols[i].Name
}

// ColumnName returns how the file's header writes the column the loader
// calls name (its current name, such as "Gnrc_Name"), for the store's
// reject reasons; name itself when the file lacks the column.
func (c *claimsReader) ColumnName(name string) string { return columnName(c.r, c.cols, name) }

// field returns wanted column i of the current record trimmed of spaces
// and tabs, as NPPES values and the interned texts are: "  1234567893 " is
// that NPI, " Y " is Y, and a value of spaces is empty.
func (c *claimsReader) field(i int) []byte { return trimSpace(c.r.Field(i)) }

// npi returns column i as a validated NPI; "" when empty and not required.
func (c *claimsReader) npi(i int, required bool) (string, error) {
	b := c.field(i)
	if len(b) == 0 {
		if required {
			return "", fmt.Errorf("%s is empty", c.name(i))
		}
		return "", nil
	}
	if c.lastNPI != "" && string(b) == c.lastNPI {
		return c.lastNPI, nil
	}
	if err := CheckNPI(b); err != nil {
		return "", fmt.Errorf("%s: %w", c.name(i), err)
	}
	c.lastNPI = string(b)
	return c.lastNPI, nil
}

// maxCount is the largest value of the store's count columns, INTEGER in
// migration 00003_claims (32 bits on PostgreSQL): a larger count would
// fail the whole PostgreSQL COPY while SQLite stored it, so it rejects its
// row instead.
const maxCount = math.MaxInt32

// count parses a required non-negative integer that fits the store's
// INTEGER columns.
func (c *claimsReader) count(i int) (int64, error) {
	b := c.field(i)
	if len(b) == 0 {
		return 0, fmt.Errorf("%s is empty", c.name(i))
	}
	n, err := ParseInt(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", c.name(i), err)
	}
	if n < 0 {
		return 0, fmt.Errorf("%s: %d is negative", c.name(i), n)
	}
	if n > maxCount {
		return 0, fmt.Errorf("%s: %d is out of range: INTEGER holds at most %d", c.name(i), n, maxCount)
	}
	return n, nil
}

// optCount is count that returns nil for an empty (suppressed) value.
func (c *claimsReader) optCount(i int) (*int64, error) {
	if len(c.field(i)) == 0 {
		return nil, nil
	}
	n, err := c.count(i)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// decimal parses a decimal into its canonical text, checked against the
// store's unconstrained NUMERIC columns; "" when empty and not required.
func (c *claimsReader) decimal(i int, required bool) (string, error) {
	return c.numeric(i, required, Numeric{})
}

// isNegative reports whether d, a decimal as decimal returns it, is below
// zero ("-0.0" is not).
func isNegative(d string) bool {
	return strings.HasPrefix(d, "-") && strings.ContainsAny(d, "123456789")
}

// notNegative returns the reason to reject a row whose column i holds d, a
// decimal as decimal returns it, below zero.
func (c *claimsReader) notNegative(i int, d string) error {
	if isNegative(d) {
		return fmt.Errorf("%s: %s is negative", c.name(i), d)
	}
	return nil
}

// optDecimal is decimal that returns nil for an empty value.
func (c *claimsReader) optDecimal(i int) (*string, error) {
	if len(c.field(i)) == 0 {
		return nil, nil
	}
	d, err := c.decimal(i, true)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// money parses an amount in dollars, rounds it to cents and checks it
// against the store's money columns, NUMERIC(MoneyPrecision, MoneyScale).
func (c *claimsReader) money(i int, required bool) (string, error) {
	return c.numeric(i, required, Numeric{Precision: MoneyPrecision, Scale: MoneyScale})
}

// numeric parses column i as a decimal fitted to a column of type typ (see
// Numeric.Fit); "" when empty and not required. A value the column cannot
// hold is a reason to reject the row, naming the column and the range.
func (c *claimsReader) numeric(i int, required bool, typ Numeric) (string, error) {
	b := c.field(i)
	if len(b) == 0 {
		if required {
			return "", fmt.Errorf("%s is empty", c.name(i))
		}
		return "", nil
	}
	d, err := ParseDecimal(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", c.name(i), err)
	}
	if d, err = typ.Fit(d); err != nil {
		return "", fmt.Errorf("%s: %w", c.name(i), err)
	}
	return d, nil
}

// optMoney is money that returns nil for an empty value.
func (c *claimsReader) optMoney(i int) (*string, error) {
	if len(c.field(i)) == 0 {
		return nil, nil
	}
	d, err := c.money(i, true)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// flag parses a CMS suppression flag: empty, "*" or "#".
func (c *claimsReader) flag(i int) (string, error) {
	b := c.field(i)
	switch {
	case len(b) == 0:
		return "", nil
	case len(b) == 1 && b[0] == '*':
		return "*", nil
	case len(b) == 1 && b[0] == '#':
		return "#", nil
	}
	return "", fmt.Errorf("%s: %q is not a suppression flag (empty, * or #)", c.name(i), b)
}

// maxInterned bounds an interner: a few tens of thousands of distinct drug
// names, HCPCS codes or manufacturers fit; a column with unexpectedly many
// values stops being interned instead of growing memory.
const maxInterned = 1 << 16

// interner returns one shared string, trimmed of surrounding white space,
// per distinct value of columns with few distinct values (drug names, HCPCS
// codes, manufacturers), so that millions of rows do not allocate millions
// of copies of the same text.
type interner struct {
	m   map[string]string
	max int
}

func (in *interner) get(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	if s, ok := in.m[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	if in.m == nil {
		in.m = make(map[string]string)
	}
	if len(in.m) < in.max {
		in.m[s] = s
	}
	return s
}
