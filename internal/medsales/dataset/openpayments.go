package dataset

import (
	"fmt"
	"io"
	"strings"

	"github.com/medplatform/medplatform/internal/medsales"
)

// Open Payments columns, in the order of openPaymentsColumns.
const (
	opRecordID = iota
	opNPI
	opProfileID
	opMfrID
	opMfrName
	opAmount
	opDate
	opNumber
	opForm
	opNature
	opProgramYear
	opChangeType
	opProduct1 // … opProduct1+4
)

// openPaymentsColumns are the columns read from a CMS Open Payments General
// Payment Data file (OP_DTL_GNRL_PGYR<YYYY>_P<MMDDYYYY>.csv, 91 columns).
// Only what the store keeps is read: the recipient's name, address,
// specialties and license states (the oddly spelled
// Covered_Recipient_License_State_code1..5) are not, so their spelling does
// not matter. Program years before 2021 covered physicians only and named
// the recipient columns Physician_…, hence the aliases. The product name
// columns are optional.
var openPaymentsColumns = func() []Column {
	cols := []Column{
		opRecordID: {Name: "Record_ID", Required: true},
		// Optional: the files of program years before 2021 have no NPI
		// column at all (a recipient is named by its profile id), and
		// their payments load linked to no provider.
		opNPI:         {Name: "Covered_Recipient_NPI", Aliases: []string{"Physician_NPI"}},
		opProfileID:   {Name: "Covered_Recipient_Profile_ID", Aliases: []string{"Physician_Profile_ID"}, Required: true},
		opMfrID:       {Name: "Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_ID", Required: true},
		opMfrName:     {Name: "Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Name", Required: true},
		opAmount:      {Name: "Total_Amount_of_Payment_USDollars", Required: true},
		opDate:        {Name: "Date_of_Payment", Required: true},
		opNumber:      {Name: "Number_of_Payments_Included_in_Total_Amount", Required: true},
		opForm:        {Name: "Form_of_Payment_or_Transfer_of_Value", Required: true},
		opNature:      {Name: "Nature_of_Payment_or_Transfer_of_Value", Required: true},
		opProgramYear: {Name: "Program_Year", Required: true},
		opChangeType:  {Name: "Change_Type", Required: true},
	}
	for n := 1; n <= 5; n++ {
		cols = append(cols, Column{Name: fmt.Sprintf("Name_of_Drug_or_Biological_or_Device_or_Medical_Supply_%d", n)})
	}
	return cols
}()

// OpenPaymentsReader reads a CMS Open Payments General Payment Data file
// one payment at a time, like PartDReader. Rows need a Record_ID, an
// amount, a payment date, a program year and a Change_Type of NEW, ADD,
// CHANGED or UNCHANGED; the recipient NPI is optional (teaching hospitals
// have none) but must be valid when present.
type OpenPaymentsReader struct {
	claimsReader
}

// NewOpenPaymentsReader reads the header of an Open Payments general
// payments file. It fails, before reading any row, when a required column
// is missing (the error names the columns and the file and wraps
// ErrWrongFile).
func NewOpenPaymentsReader(r io.Reader, file string) (*OpenPaymentsReader, error) {
	cr, err := newClaimsReader(r, file, openPaymentsColumns, medsales.OpenPayments, "an Open Payments file")
	if err != nil {
		return nil, err
	}
	return &OpenPaymentsReader{claimsReader: cr}, nil
}

// Payment parses the current record into dst. The program year comes from
// the row's Program_Year. A non-nil error is the reason to reject the
// record (it names the column).
func (p *OpenPaymentsReader) Payment(dst *medsales.Payment) error {
	r := p.r
	if err := r.RowErr(); err != nil {
		return err
	}
	id := p.field(opRecordID)
	if len(id) == 0 {
		return fmt.Errorf("%s is empty", p.name(opRecordID))
	}
	var err error
	dst.RecordID = string(id)
	if dst.NPI, err = p.npi(opNPI, false); err != nil {
		return err
	}
	dst.RecipientProfileID = string(p.field(opProfileID))
	dst.ManufacturerID = p.intern.get(r.Field(opMfrID))
	dst.ManufacturerName = p.intern.get(r.Field(opMfrName))
	if dst.Amount, err = p.money(opAmount, true); err != nil {
		return err
	}
	date := p.field(opDate)
	if len(date) == 0 {
		return fmt.Errorf("%s is empty", p.name(opDate))
	}
	if dst.Date.Time, err = ParseDate(date); err != nil {
		return fmt.Errorf("%s: %w", p.name(opDate), err)
	}
	if dst.NumberOfPayments, err = p.count(opNumber); err != nil {
		return err
	}
	dst.Form = p.intern.get(r.Field(opForm))
	dst.Nature = p.intern.get(r.Field(opNature))
	year, err := p.count(opProgramYear)
	if err != nil {
		return err
	}
	if year < 2013 || year > 9999 {
		return fmt.Errorf("%s: %d is not a program year", p.name(opProgramYear), year)
	}
	dst.ProgramYear = int(year)
	if dst.ChangeType, err = p.changeType(); err != nil {
		return err
	}
	dst.Products = nil
	for n := 0; n < 5; n++ {
		if name := p.intern.get(r.Field(opProduct1 + n)); name != "" {
			dst.Products = append(dst.Products, name)
		}
	}
	return nil
}

// changeType returns the row's Change_Type, which must be one of the values
// CMS publishes (docs/data-model.md): NEW, ADD, CHANGED or UNCHANGED, as
// written. Anything else, blank included, means the row is not what CMS
// publishes, so it is rejected rather than stored.
func (p *OpenPaymentsReader) changeType() (string, error) {
	switch v := p.intern.get(p.r.Field(opChangeType)); v {
	case "NEW", "ADD", "CHANGED", "UNCHANGED":
		return v, nil
	case "":
		return "", fmt.Errorf("%s is empty (want NEW, ADD, CHANGED or UNCHANGED)", p.name(opChangeType))
	default:
		return "", fmt.Errorf("%s: %q is not NEW, ADD, CHANGED or UNCHANGED", p.name(opChangeType), v)
	}
}

// ProgramYearFromName returns the program year an Open Payments file name
// carries ("OP_DTL_GNRL_PGYR2024_P01302026.csv" → 2024); ok is false when
// it carries none.
func ProgramYearFromName(file string) (year int, ok bool) {
	for _, part := range nameParts(file) {
		p := strings.ToUpper(part)
		if !strings.HasPrefix(p, "PGYR") || len(p) != 8 {
			continue
		}
		if y, yok := yearDigits(p[4:]); yok {
			return y, true
		}
	}
	return 0, false
}
