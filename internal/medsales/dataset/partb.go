package dataset

import (
	"fmt"
	"io"
	"strings"

	"github.com/medplatform/medplatform/internal/medsales"
)

// Part B columns, in the order of partBColumns.
const (
	pbNPI = iota
	pbHCPCS
	pbHCPCSDesc
	pbDrugInd
	pbPlace
	pbBenes
	pbServices
	pbBeneDayServices
	pbAvgSubmitted
	pbAvgAllowed
	pbAvgPayment
	pbAvgStandardized
)

// partBColumns are the columns read from a CMS Medicare Physician & Other
// Practitioners by Provider and Service file. Every column the store keeps
// is required, so a file of another dataset is refused on its header.
// Columns the loader does not keep are ignored wherever they sit, which is
// how older releases, with Rndrng_Prvdr_Gndr after Rndrng_Prvdr_Crdntls,
// load the same as current ones.
var partBColumns = []Column{
	pbNPI:             {Name: "Rndrng_NPI", Required: true},
	pbHCPCS:           {Name: "HCPCS_Cd", Required: true},
	pbHCPCSDesc:       {Name: "HCPCS_Desc", Required: true},
	pbDrugInd:         {Name: "HCPCS_Drug_Ind", Required: true},
	pbPlace:           {Name: "Place_Of_Srvc", Required: true},
	pbBenes:           {Name: "Tot_Benes", Required: true},
	pbServices:        {Name: "Tot_Srvcs", Required: true},
	pbBeneDayServices: {Name: "Tot_Bene_Day_Srvcs", Required: true},
	pbAvgSubmitted:    {Name: "Avg_Sbmtd_Chrg", Required: true},
	pbAvgAllowed:      {Name: "Avg_Mdcr_Alowd_Amt", Required: true},
	pbAvgPayment:      {Name: "Avg_Mdcr_Pymt_Amt", Required: true},
	pbAvgStandardized: {Name: "Avg_Mdcr_Stdzd_Amt", Required: true},
}

// PartBReader reads a CMS Medicare Physician & Other Practitioners by
// Provider and Service file (e.g. MUP_PHY_R26_P05_V10_D24_Prov_Svc.csv) one
// service line at a time, like PartDReader. Rows need a valid rendering
// NPI, a HCPCS code, a place of service F or O and a number of services;
// a blank (suppressed) beneficiary count is nil; averages keep their
// published digits.
type PartBReader struct {
	claimsReader
	year int
}

// NewPartBReader reads the header of a Part B file and returns a reader
// that stamps every line with dataYear. It fails, before reading any row,
// when a required column is missing (the error names the columns and the
// file and wraps ErrWrongFile).
func NewPartBReader(r io.Reader, file string, dataYear int) (*PartBReader, error) {
	cr, err := newClaimsReader(r, file, partBColumns, medsales.PartB, "a Part B file")
	if err != nil {
		return nil, err
	}
	return &PartBReader{claimsReader: cr, year: dataYear}, nil
}

// Service parses the current record into dst. A non-nil error is the
// reason to reject the record (it names the column).
func (p *PartBReader) Service(dst *medsales.ServiceLine) error {
	r := p.r
	if err := r.RowErr(); err != nil {
		return err
	}
	var err error
	if dst.NPI, err = p.npi(pbNPI, true); err != nil {
		return err
	}
	if dst.HCPCSCode = p.intern.get(r.Field(pbHCPCS)); dst.HCPCSCode == "" {
		return fmt.Errorf("%s is empty", p.name(pbHCPCS))
	}
	dst.HCPCSDescription = p.intern.get(r.Field(pbHCPCSDesc))
	switch b := p.field(pbDrugInd); string(b) {
	case "Y":
		dst.DrugIndicator = true
	case "N":
		dst.DrugIndicator = false
	default:
		return fmt.Errorf("%s: %q is not Y or N", p.name(pbDrugInd), b)
	}
	switch b := p.field(pbPlace); string(b) {
	case "F":
		dst.PlaceOfService = "F"
	case "O":
		dst.PlaceOfService = "O"
	default:
		return fmt.Errorf("%s: %q is not F (facility) or O (office)", p.name(pbPlace), b)
	}
	if dst.TotalBeneficiaries, err = p.optCount(pbBenes); err != nil {
		return err
	}
	if dst.Services, err = p.decimal(pbServices, true); err != nil {
		return err
	}
	// A count of services, fractional for drug units but never below
	// zero, as Part D's counts are (QA: -1 was loaded, and ranked).
	if err := p.notNegative(pbServices, dst.Services); err != nil {
		return err
	}
	if dst.BeneficiaryDayServices, err = p.count(pbBeneDayServices); err != nil {
		return err
	}
	if dst.AvgSubmittedCharge, err = p.decimal(pbAvgSubmitted, false); err != nil {
		return err
	}
	if dst.AvgAllowedAmount, err = p.decimal(pbAvgAllowed, false); err != nil {
		return err
	}
	if dst.AvgPaymentAmount, err = p.decimal(pbAvgPayment, false); err != nil {
		return err
	}
	if dst.AvgStandardizedAmount, err = p.decimal(pbAvgStandardized, false); err != nil {
		return err
	}
	dst.DataYear = p.year
	return nil
}

// DataYearFromName returns the data year a CMS Part B or Part D file name
// carries: a "_D24_" (Part B) or "_DY24_" (Part D) part means 2024; four
// digits ("_DY2024_") are accepted too. ok is false when the name carries
// no data year, or two different ones.
func DataYearFromName(file string) (year int, ok bool) {
	for _, part := range nameParts(file) {
		p := strings.ToUpper(part)
		var digits string
		switch {
		case strings.HasPrefix(p, "DY"):
			digits = p[2:]
		case strings.HasPrefix(p, "D"):
			digits = p[1:]
		default:
			continue
		}
		y, yok := yearDigits(digits)
		if !yok {
			continue
		}
		if ok && y != year {
			return 0, false
		}
		year, ok = y, true
	}
	return year, ok
}

// nameParts splits the base name of a path (either separator) without its
// extension at underscores.
func nameParts(file string) []string {
	base := file[strings.LastIndexAny(file, `/\`)+1:]
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	return strings.Split(base, "_")
}

// yearDigits reads "24" as 2024 and "2024" as 2024.
func yearDigits(s string) (int, bool) {
	if len(s) != 2 && len(s) != 4 {
		return 0, false
	}
	n, ok := digits([]byte(s))
	if !ok {
		return 0, false
	}
	if len(s) == 2 {
		n += 2000
	}
	return n, true
}
