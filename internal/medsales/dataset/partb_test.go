package dataset_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/dataset"
)

const visit20 = "Established patient office or other outpatient visit, 20-29 minutes"

func TestPartBReader(t *testing.T) {
	tests := []struct {
		file    string
		year    int
		want    []medsales.ServiceLine
		rejects []reject
	}{
		{
			file: "MUP_PHY_R26_P05_V10_D24_Prov_Svc_sample.csv",
			year: 2024,
			want: []medsales.ServiceLine{
				{NPI: "1234567893", HCPCSCode: "99213", HCPCSDescription: visit20, PlaceOfService: "O",
					TotalBeneficiaries: i64(120), Services: "250", BeneficiaryDayServices: 250,
					AvgSubmittedCharge: "150.895522388", AvgAllowedAmount: "89.56", AvgPaymentAmount: "70.2",
					AvgStandardizedAmount: "71.112233", DataYear: 2024},
				{NPI: "1234567893", HCPCSCode: "99214", HCPCSDescription: "Established patient office or other outpatient visit, 30-39 minutes",
					PlaceOfService: "O", Services: "14", BeneficiaryDayServices: 14,
					AvgSubmittedCharge: "200", AvgAllowedAmount: "130.1", AvgPaymentAmount: "100.5",
					AvgStandardizedAmount: "101", DataYear: 2024},
				{NPI: "1234567893", HCPCSCode: "J1100", HCPCSDescription: "Injection, dexamethasone sodium phosphate, 1 mg",
					DrugIndicator: true, PlaceOfService: "F", TotalBeneficiaries: i64(15), Services: "1234.5",
					BeneficiaryDayServices: 30, AvgSubmittedCharge: "0.5", AvgAllowedAmount: "0.12",
					AvgPaymentAmount: "0.1", AvgStandardizedAmount: "0.1", DataYear: 2024},
				{NPI: "1000000004", HCPCSCode: "99213", HCPCSDescription: visit20, PlaceOfService: "F",
					TotalBeneficiaries: i64(11), Services: "11", BeneficiaryDayServices: 11,
					AvgSubmittedCharge: "100.00", AvgAllowedAmount: "60", AvgPaymentAmount: "48",
					AvgStandardizedAmount: "49.5", DataYear: 2024},
			},
			rejects: []reject{
				{Line: 6, Reason: `Rndrng_NPI: NPI "1234567890" fails the check digit`},
				{Line: 7, Reason: `Place_Of_Srvc: "X" is not F (facility) or O (office)`},
			},
		},
		{
			// An older release with Rndrng_Prvdr_Gndr after the credentials.
			file: "MUP_PHY_R24_P05_V10_D22_Prov_Svc_gender.csv",
			year: 2022,
			want: []medsales.ServiceLine{
				{NPI: "1234567893", HCPCSCode: "99213", HCPCSDescription: visit20, PlaceOfService: "O",
					TotalBeneficiaries: i64(90), Services: "180", BeneficiaryDayServices: 180,
					AvgSubmittedCharge: "140.5", AvgAllowedAmount: "80", AvgPaymentAmount: "64",
					AvgStandardizedAmount: "65", DataYear: 2022},
				{NPI: "1000000004", HCPCSCode: "G0439",
					HCPCSDescription: "Annual wellness visit, includes a personalized prevention plan of service (pps), subsequent visit",
					PlaceOfService:   "O", Services: "20", BeneficiaryDayServices: 20,
					AvgSubmittedCharge: "250", AvgAllowedAmount: "120", AvgPaymentAmount: "95.5",
					AvgStandardizedAmount: "96", DataYear: 2022},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r, err := dataset.NewPartBReader(openTestdata(t, tt.file), tt.file, tt.year)
			if err != nil {
				t.Fatal(err)
			}
			got, rejects := readRows(t, r, r.Service)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			checkRejects(t, rejects, tt.rejects)
		})
	}
}

func TestPartBReaderRejects(t *testing.T) {
	const header = "Rndrng_NPI,HCPCS_Cd,HCPCS_Desc,HCPCS_Drug_Ind,Place_Of_Srvc,Tot_Benes,Tot_Srvcs,Tot_Bene_Day_Srvcs,Avg_Sbmtd_Chrg,Avg_Mdcr_Alowd_Amt,Avg_Mdcr_Pymt_Amt,Avg_Mdcr_Stdzd_Amt\n"
	tests := []struct {
		name, row, reason string
	}{
		{"npi not digits", "12345678A3,99213,d,N,O,,11,11,1,1,1,1", "not all digits"},
		{"no hcpcs", "1234567893,,d,N,O,,11,11,1,1,1,1", "HCPCS_Cd is empty"},
		{"drug indicator", "1234567893,99213,d,X,O,,11,11,1,1,1,1", `HCPCS_Drug_Ind: "X" is not Y or N`},
		{"no place", "1234567893,99213,d,N,,,11,11,1,1,1,1", "Place_Of_Srvc"},
		{"services empty", "1234567893,99213,d,N,O,,,11,1,1,1,1", "Tot_Srvcs is empty"},
		{"services negative", "1234567893,99213,d,N,O,,-1.5,11,1,1,1,1", "Tot_Srvcs: -1.5 is negative"},
		{"benes fraction", "1234567893,99213,d,N,O,1.5,11,11,1,1,1,1", "Tot_Benes"},
		{"average not decimal", "1234567893,99213,d,N,O,,11,11,$1,1,1,1", "Avg_Sbmtd_Chrg"},
		{"beneficiary days over INTEGER", "1234567893,99213,d,N,O,,11,2147483648,1,1,1,1", "Tot_Bene_Day_Srvcs: 2147483648 is out of range: INTEGER holds at most 2147483647"},
		{"services over NUMERIC", "1234567893,99213,d,N,O,,1" + strings.Repeat("0", 131072) + ",11,1,1,1,1", "Tot_Srvcs: 1000"},
		{"submitted charge over NUMERIC", "1234567893,99213,d,N,O,,11,11,0." + strings.Repeat("1", 16384) + ",1,1,1", "Avg_Sbmtd_Chrg: 0.111"},
		{"allowed amount over NUMERIC", "1234567893,99213,d,N,O,,11,11,1,-1" + strings.Repeat("0", 131072) + ",1,1", "Avg_Mdcr_Alowd_Amt: -1000"},
		{"payment amount over NUMERIC", "1234567893,99213,d,N,O,,11,11,1,1,0." + strings.Repeat("1", 16384) + ",1", "Avg_Mdcr_Pymt_Amt: 0.111"},
		{"standardized amount over NUMERIC", "1234567893,99213,d,N,O,,11,11,1,1,1,1" + strings.Repeat("0", 131072) + "",
			"Avg_Mdcr_Stdzd_Amt: 100000000000000000000000…000000000000000000000000 (131073 characters) is out of range: 131073 digits before the decimal point, NUMERIC holds at most 131072"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := dataset.NewPartBReader(strings.NewReader(header+tt.row+"\n"), "x.csv", 2024)
			if err != nil {
				t.Fatal(err)
			}
			got, rejects := readRows(t, r, r.Service)
			if len(got) != 0 {
				t.Errorf("accepted %+v", got)
			}
			checkRejects(t, rejects, []reject{{Line: 2, Reason: tt.reason}})
		})
	}
}

// Values are trimmed of spaces, every column alike: a padded row is the
// row.
func TestPartBReaderTrims(t *testing.T) {
	const header = "Rndrng_NPI,HCPCS_Cd,HCPCS_Desc,HCPCS_Drug_Ind,Place_Of_Srvc,Tot_Benes,Tot_Srvcs,Tot_Bene_Day_Srvcs,Avg_Sbmtd_Chrg,Avg_Mdcr_Alowd_Amt,Avg_Mdcr_Pymt_Amt,Avg_Mdcr_Stdzd_Amt\n"
	const row = " 1234567893 , 99213 , d , Y , F ,  , 11 , 11 , 1.5 , 1 , 1 , 1 \n"
	r, err := dataset.NewPartBReader(strings.NewReader(header+row), "x.csv", 2024)
	if err != nil {
		t.Fatal(err)
	}
	got, rejects := readRows(t, r, r.Service)
	checkRejects(t, rejects, nil)
	want := []medsales.ServiceLine{{NPI: "1234567893", HCPCSCode: "99213", HCPCSDescription: "d", DrugIndicator: true,
		PlaceOfService: "F", Services: "11", BeneficiaryDayServices: 11, AvgSubmittedCharge: "1.5", AvgAllowedAmount: "1",
		AvgPaymentAmount: "1", AvgStandardizedAmount: "1", DataYear: 2024}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestDataYearFromName(t *testing.T) {
	tests := []struct {
		name string
		year int
		ok   bool
	}{
		{"MUP_PHY_R26_P05_V10_D24_Prov_Svc.csv", 2024, true},
		{"MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", 2024, true},
		{"/data/raw/MUP_DPR_RY25_P04_V10_DY23_NPIBN.csv", 2023, true},
		{`C:\raw\mup_phy_r26_p05_v10_d24_prov_svc.csv`, 2024, true},
		{"s3://bucket/partd/MUP_DPR_RY26_P04_V10_DY2024_NPIBN.csv.gz", 2024, true},
		{"partd.csv", 0, false},
		{"MUP_DPR_RY26_P04_V10_NPIBN.csv", 0, false},
		{"MUP_X_D23_DY24.csv", 0, false}, // two different years
		{"D24", 2024, true},
		{"MUP_D2X_RY26.csv", 0, false},
	}
	for _, tt := range tests {
		year, ok := dataset.DataYearFromName(tt.name)
		if year != tt.year || ok != tt.ok {
			t.Errorf("DataYearFromName(%q) = %d, %v; want %d, %v", tt.name, year, ok, tt.year, tt.ok)
		}
	}
}
