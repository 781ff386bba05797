package dataset_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/dataset"
)

func day(y int, m time.Month, d int) medsales.Date {
	return medsales.Date{Time: time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
}

func TestOpenPaymentsReader(t *testing.T) {
	const file = "OP_DTL_GNRL_PGYR2024_P01302026_sample.csv"
	r, err := dataset.NewOpenPaymentsReader(openTestdata(t, file), file)
	if err != nil {
		t.Fatal(err)
	}
	got, rejects := readRows(t, r, r.Payment)
	want := []medsales.Payment{
		{RecordID: "900000001", NPI: "1234567893", RecipientProfileID: "12345", ManufacturerID: "100000000123",
			ManufacturerName: "Pfizer Inc.", Amount: "15.50", Date: day(2024, 3, 5), NumberOfPayments: 1,
			Form: "In-kind items and services", Nature: "Food and Beverage", Products: []string{"Eliquis"},
			ProgramYear: 2024, ChangeType: "UNCHANGED"},
		{RecordID: "900000002", NPI: "1234567893", RecipientProfileID: "12345", ManufacturerID: "100000000123",
			ManufacturerName: "Pfizer Inc.", Amount: "1500.00", Date: day(2024, 6, 12), NumberOfPayments: 2,
			Form: "Cash or cash equivalent", Nature: "Consulting Fee", Products: []string{"Eliquis", "Prevnar 20"},
			ProgramYear: 2024, ChangeType: "NEW"},
		{RecordID: "900000003", NPI: "1234567893", RecipientProfileID: "12345", ManufacturerID: "100000000456",
			ManufacturerName: "Medtronic, Inc.", Amount: "0.13", Date: day(2024, 12, 31), NumberOfPayments: 1,
			Form: "In-kind items and services", Nature: "Food and Beverage", ProgramYear: 2024, ChangeType: "CHANGED"},
		// A teaching hospital: no NPI, no profile id, kept.
		{RecordID: "900000004", ManufacturerID: "100000000456", ManufacturerName: "Medtronic, Inc.",
			Amount: "250000.00", Date: day(2024, 7, 1), NumberOfPayments: 1, Form: "Cash or cash equivalent",
			Nature: "Grant", Products: []string{"Device X"}, ProgramYear: 2024, ChangeType: "UNCHANGED"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payments (-want +got):\n%s", diff)
	}
	checkRejects(t, rejects, []reject{
		{Line: 6, Reason: `Covered_Recipient_NPI: NPI "1234567890" fails the check digit`},
		{Line: 7, Reason: `Date_of_Payment: date "02/30/2024" does not exist`},
	})
}

// TestOpenPaymentsBefore2021 reads the header of a program year before
// 2021, which has no NPI column (its recipients are physicians named by
// profile id): the file loads, every payment without an NPI. The loader
// required Covered_Recipient_NPI (or Physician_NPI, which no file has) and
// refused every such file (QA).
func TestOpenPaymentsBefore2021(t *testing.T) {
	const header = "Change_Type,Covered_Recipient_Type,Teaching_Hospital_CCN,Teaching_Hospital_ID,Teaching_Hospital_Name,Physician_Profile_ID,Physician_First_Name,Physician_Middle_Name,Physician_Last_Name,Physician_Name_Suffix,Recipient_Primary_Business_Street_Address_Line1,Recipient_Primary_Business_Street_Address_Line2,Recipient_City,Recipient_State,Recipient_Zip_Code,Recipient_Country,Recipient_Province,Recipient_Postal_Code,Physician_Primary_Type,Physician_Specialty,Physician_License_State_code1,Physician_License_State_code2,Physician_License_State_code3,Physician_License_State_code4,Physician_License_State_code5,Submitting_Applicable_Manufacturer_or_Applicable_GPO_Name,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_ID,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Name,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_State,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Country,Total_Amount_of_Payment_USDollars,Date_of_Payment,Number_of_Payments_Included_in_Total_Amount,Form_of_Payment_or_Transfer_of_Value,Nature_of_Payment_or_Transfer_of_Value,City_of_Travel,State_of_Travel,Country_of_Travel,Physician_Ownership_Indicator,Third_Party_Payment_Recipient_Indicator,Name_of_Third_Party_Entity_Receiving_Payment_or_Transfer_of_Value,Charity_Indicator,Third_Party_Equals_Covered_Recipient_Indicator,Contextual_Information,Delay_in_Publication_Indicator,Record_ID,Dispute_Status_for_Publication,Related_Product_Indicator,Program_Year,Payment_Publication_Date\n"
	const row = "NEW,Covered Recipient Physician,,,,55,ANA,,LOPEZ,,1 MAIN ST,,SPRINGFIELD,IL,62701,United States,,,Medical Doctor,Allopathic & Osteopathic Physicians|Family Medicine,IL,,,,,Acme Inc,9,Acme Inc,NJ,United States,12.50,06/01/2018,1,Cash or cash equivalent,Food and Beverage,,,,No,No Third Party Payment,,No,,,No,7,No,No,2018,06/28/2019\n"
	r, err := dataset.NewOpenPaymentsReader(strings.NewReader(header+row), "OP_DTL_GNRL_PGYR2018_P06282019.csv")
	if err != nil {
		t.Fatalf("a program year 2018 header is refused: %v", err)
	}
	got, rejects := readRows(t, r, r.Payment)
	want := []medsales.Payment{{RecordID: "7", RecipientProfileID: "55", ManufacturerID: "9", ManufacturerName: "Acme Inc",
		Amount: "12.50", Date: day(2018, 6, 1), NumberOfPayments: 1, Form: "Cash or cash equivalent",
		Nature: "Food and Beverage", ProgramYear: 2018, ChangeType: "NEW"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payments (-want +got):\n%s", diff)
	}
	checkRejects(t, rejects, nil)
}

func TestOpenPaymentsReaderRows(t *testing.T) {
	// Columns in another order, names of program years before 2021, no
	// product columns.
	const header = "Record_ID,Program_Year,Physician_Profile_ID,Physician_NPI,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_ID,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Name,Total_Amount_of_Payment_USDollars,Date_of_Payment,Number_of_Payments_Included_in_Total_Amount,Form_of_Payment_or_Transfer_of_Value,Nature_of_Payment_or_Transfer_of_Value,Change_Type\n"
	tests := []struct {
		name, row string
		want      *medsales.Payment
		reason    string
	}{
		{name: "accepted", row: "7,2019,55,1234567893,9,Acme,-5.255,1/2/2019,1,Cash,Gift,ADD",
			want: &medsales.Payment{RecordID: "7", NPI: "1234567893", RecipientProfileID: "55", ManufacturerID: "9",
				ManufacturerName: "Acme", Amount: "-5.26", Date: day(2019, 1, 2), NumberOfPayments: 1,
				Form: "Cash", Nature: "Gift", ProgramYear: 2019, ChangeType: "ADD"}},
		// Values are trimmed of spaces, every column alike.
		{name: "padded", row: " 7 , 2019 , 55 , 1234567893 , 9 , Acme , -5.255 , 1/2/2019 , 1 , Cash , Gift , ADD ",
			want: &medsales.Payment{RecordID: "7", NPI: "1234567893", RecipientProfileID: "55", ManufacturerID: "9",
				ManufacturerName: "Acme", Amount: "-5.26", Date: day(2019, 1, 2), NumberOfPayments: 1,
				Form: "Cash", Nature: "Gift", ProgramYear: 2019, ChangeType: "ADD"}},
		{name: "no record id", row: ",2019,55,1234567893,9,Acme,5,01/02/2019,1,Cash,Gift,ADD", reason: "Record_ID is empty"},
		{name: "record id of spaces", row: "   ,2019,55,1234567893,9,Acme,5,01/02/2019,1,Cash,Gift,ADD", reason: "Record_ID is empty"},
		{name: "no amount", row: "7,2019,55,1234567893,9,Acme,,01/02/2019,1,Cash,Gift,ADD", reason: "Total_Amount_of_Payment_USDollars is empty"},
		{name: "bad amount", row: "7,2019,55,1234567893,9,Acme,1e3,01/02/2019,1,Cash,Gift,ADD", reason: "Total_Amount_of_Payment_USDollars"},
		{name: "count over INTEGER", row: "7,2019,55,1234567893,9,Acme,5,01/02/2019,2147483648,Cash,Gift,ADD",
			reason: "Number_of_Payments_Included_in_Total_Amount: 2147483648 is out of range: INTEGER holds at most 2147483647"},
		{name: "amount over NUMERIC(14,2)", row: "7,2019,55,1234567893,9,Acme,1000000000000,01/02/2019,1,Cash,Gift,ADD",
			reason: "Total_Amount_of_Payment_USDollars: 1000000000000 is out of range: rounded to 2 decimals it must be between -999999999999.99 and 999999999999.99"},
		{name: "amount rounding under NUMERIC(14,2)", row: "7,2019,55,1234567893,9,Acme,-999999999999.995,01/02/2019,1,Cash,Gift,ADD",
			reason: "Total_Amount_of_Payment_USDollars: -999999999999.995 is out of range"},
		{name: "no date", row: "7,2019,55,1234567893,9,Acme,5,,1,Cash,Gift,ADD", reason: "Date_of_Payment is empty"},
		{name: "no year", row: "7,,55,1234567893,9,Acme,5,01/02/2019,1,Cash,Gift,ADD", reason: "Program_Year is empty"},
		{name: "bad year", row: "7,19,55,1234567893,9,Acme,5,01/02/2019,1,Cash,Gift,ADD", reason: "Program_Year: 19 is not a program year"},
		{name: "bad count", row: "7,2019,55,1234567893,9,Acme,5,01/02/2019,x,Cash,Gift,ADD", reason: "Number_of_Payments_Included_in_Total_Amount"},
		{name: "unknown change type", row: "7,2019,55,1234567893,9,Acme,5,01/02/2019,1,Cash,Gift,BOGUS",
			reason: `Change_Type: "BOGUS" is not NEW, ADD, CHANGED or UNCHANGED`},
		{name: "change type in lower case", row: "7,2019,55,1234567893,9,Acme,5,01/02/2019,1,Cash,Gift,new",
			reason: `Change_Type: "new" is not NEW, ADD, CHANGED or UNCHANGED`},
		{name: "no change type", row: "7,2019,55,1234567893,9,Acme,5,01/02/2019,1,Cash,Gift,", reason: "Change_Type is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := dataset.NewOpenPaymentsReader(strings.NewReader(header+tt.row+"\n"), "op.csv")
			if err != nil {
				t.Fatal(err)
			}
			got, rejects := readRows(t, r, r.Payment)
			if tt.want != nil {
				if diff := cmp.Diff([]medsales.Payment{*tt.want}, got); diff != "" {
					t.Errorf("payments (-want +got):\n%s", diff)
				}
				checkRejects(t, rejects, nil)
				return
			}
			if len(got) != 0 {
				t.Errorf("accepted %+v", got)
			}
			checkRejects(t, rejects, []reject{{Line: 2, Reason: tt.reason}})
		})
	}
}

func TestProgramYearFromName(t *testing.T) {
	tests := []struct {
		name string
		year int
		ok   bool
	}{
		{"OP_DTL_GNRL_PGYR2024_P01302026.csv", 2024, true},
		{"/raw/op_dtl_gnrl_pgyr2023_p06282024.csv", 2023, true},
		{"OP_DTL_GNRL_P01302026.csv", 0, false},
		{"OP_DTL_GNRL_PGYR24X_P01302026.csv", 0, false},
	}
	for _, tt := range tests {
		year, ok := dataset.ProgramYearFromName(tt.name)
		if year != tt.year || ok != tt.ok {
			t.Errorf("ProgramYearFromName(%q) = %d, %v; want %d, %v", tt.name, year, ok, tt.year, tt.ok)
		}
	}
}
