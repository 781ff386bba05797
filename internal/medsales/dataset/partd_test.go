package dataset_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/dataset"
)

// rowReader is what every claims reader offers for iteration.
type rowReader interface {
	Next() bool
	Line() int
	Err() error
}

// reject is a record a reader refused: its line and the reason.
type reject struct {
	Line   int
	Reason string
}

// readRows parses every record of r with parse, returning the accepted
// values and the rejected records.
func readRows[T any](t *testing.T, r rowReader, parse func(*T) error) ([]T, []reject) {
	t.Helper()
	var got []T
	var rejects []reject
	for r.Next() {
		var v T
		if err := parse(&v); err != nil {
			rejects = append(rejects, reject{Line: r.Line(), Reason: err.Error()})
			continue
		}
		got = append(got, v)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("Err: %v", err)
	}
	return got, rejects
}

// checkRejects compares rejects with want, where each wanted reason is a
// substring of the actual one.
func checkRejects(t *testing.T, got, want []reject) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("rejects = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Line != want[i].Line || !strings.Contains(got[i].Reason, want[i].Reason) {
			t.Errorf("reject %d = %+v, want line %d with reason containing %q", i, got[i], want[i].Line, want[i].Reason)
		}
	}
}

func openTestdata(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func i64(n int64) *int64   { return &n }
func str(s string) *string { return &s }

// partDSample is what testdata/MUP_DPR_RY26_P04_V10_DY24_NPIBN_sample.csv
// holds, read with data year 2024.
var partDSample = []medsales.DrugLine{
	{
		NPI: "1234567893", BrandName: "Lipitor", GenericName: "Atorvastatin Calcium",
		TotalClaims: 120, Total30DayFills: "150.5", TotalDaySupply: 4500, TotalDrugCost: "1234.50",
		TotalBeneficiaries: i64(25), GE65TotalClaims: i64(100), GE65Total30DayFills: str("120"),
		GE65TotalDrugCost: str("1000.26"), GE65TotalDaySupply: i64(3600), GE65BeneSuppressionFlag: "*",
		DataYear: 2024,
	},
	{
		NPI: "1234567893", BrandName: "Eliquis", GenericName: "Apixaban",
		TotalClaims: 45, Total30DayFills: "60", TotalDaySupply: 1800, TotalDrugCost: "25000.99",
		GE65SuppressionFlag: "#", GE65TotalBeneficiaries: i64(14), DataYear: 2024,
	},
	{
		NPI: "1000000004", BrandName: "Metformin Hcl", GenericName: "Metformin Hcl",
		TotalClaims: 11, Total30DayFills: "11.3", TotalDaySupply: 330, TotalDrugCost: "45.67",
		TotalBeneficiaries: i64(11), GE65SuppressionFlag: "*", GE65BeneSuppressionFlag: "*", DataYear: 2024,
	},
	{
		NPI: "1000000020", BrandName: "Lisinopril", GenericName: "Lisinopril",
		TotalClaims: 30, Total30DayFills: "30", TotalDaySupply: 900, TotalDrugCost: "20.00",
		TotalBeneficiaries: i64(12), GE65TotalClaims: i64(30), GE65Total30DayFills: str("30"),
		GE65TotalDrugCost: str("20.00"), GE65TotalDaySupply: i64(900), DataYear: 2024,
	},
}

func TestPartDReader(t *testing.T) {
	tests := []struct {
		file    string
		want    []medsales.DrugLine
		rejects []reject
	}{
		{
			file:    "MUP_DPR_RY26_P04_V10_DY24_NPIBN_sample.csv",
			want:    partDSample,
			rejects: []reject{{Line: 6, Reason: `Tot_Clms: integer "many"`}},
		},
		{
			// GE65_Tot_Benes and GE65_Bene_Sprsn_Flag swapped: same values.
			file: "MUP_DPR_RY25_P04_V10_DY23_NPIBN_swapped.csv",
			want: partDSample[:2],
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r, err := dataset.NewPartDReader(openTestdata(t, tt.file), tt.file, 2024)
			if err != nil {
				t.Fatal(err)
			}
			got, rejects := readRows(t, r, r.Drug)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			checkRejects(t, rejects, tt.rejects)
		})
	}
}

func TestPartDReaderRejects(t *testing.T) {
	const header = "Prscrbr_NPI,Brnd_Name,Gnrc_Name,Tot_Clms,Tot_30day_Fills,Tot_Day_Suply,Tot_Drug_Cst,Tot_Benes,GE65_Sprsn_Flag,GE65_Tot_Clms,GE65_Tot_30day_Fills,GE65_Tot_Drug_Cst,GE65_Tot_Day_Suply,GE65_Bene_Sprsn_Flag,GE65_Tot_Benes\n"
	tests := []struct {
		name, row, reason string
	}{
		{"npi check digit", "1234567890,A,a,11,11,330,1,,,,,,,,", `Prscrbr_NPI: NPI "1234567890" fails the check digit`},
		{"npi empty", ",A,a,11,11,330,1,,,,,,,,", "Prscrbr_NPI is empty"},
		{"no drug name", "1234567893,,,11,11,330,1,,,,,,,,", "both empty"},
		{"claims empty", "1234567893,A,a,,11,330,1,,,,,,,,", "Tot_Clms is empty"},
		{"claims negative", "1234567893,A,a,-11,11,330,1,,,,,,,,", "Tot_Clms: -11 is negative"},
		{"cost not decimal", "1234567893,A,a,11,11,330,1.2.3,,,,,,,,", "Tot_Drug_Cst"},
		// Sums, never below zero, as the claims (QA: loaded, and summed).
		{"fills negative", "1234567893,A,a,11,-30,330,1,,,,,,,,", "Tot_30day_Fills: -30 is negative"},
		{"cost negative", "1234567893,A,a,11,11,330,-1234.56,,,,,,,,", "Tot_Drug_Cst: -1234.56 is negative"},
		{"ge65 fills negative", "1234567893,A,a,11,11,330,1,,,,-0.5,,,,", "GE65_Tot_30day_Fills: -0.5 is negative"},
		{"ge65 cost negative", "1234567893,A,a,11,11,330,1,,,,,-2,,,", "GE65_Tot_Drug_Cst: -2.00 is negative"},
		{"fills empty", "1234567893,A,a,11,,330,1,,,,,,,,", "Tot_30day_Fills is empty"},
		{"bad flag", "1234567893,A,a,11,11,330,1,,X,,,,,,", `GE65_Sprsn_Flag: "X" is not a suppression flag`},
		{"bad ge65 count", "1234567893,A,a,11,11,330,1,,,1x,,,,,", "GE65_Tot_Clms"},
		{"too few fields", "1234567893,A,a,11,11,330", "fields"},
		{"bad quoting", `1234567893,"A"x,a,11,11,330,1,,,,,,,,`, "quot"},
		{"claims over INTEGER", "1234567893,A,a,2147483648,11,330,1,,,,,,,,", "Tot_Clms: 2147483648 is out of range: INTEGER holds at most 2147483647"},
		{"ge65 beneficiaries over INTEGER", "1234567893,A,a,11,11,330,1,,,,,,,,9999999999", "GE65_Tot_Benes: 9999999999 is out of range"},
		{"cost over NUMERIC(14,2) after rounding", "1234567893,A,a,11,11,330,99999999999999.995,,,,,,,,",
			"Tot_Drug_Cst: 99999999999999.995 is out of range: rounded to 2 decimals it must be between -999999999999.99 and 999999999999.99"},
		{"ge65 cost under NUMERIC(14,2)", "1234567893,A,a,11,11,330,1,,,,,-1000000000000,,,",
			"GE65_Tot_Drug_Cst: -1000000000000 is out of range"},
		{"fills over NUMERIC", "1234567893,A,a,11,1" + strings.Repeat("0", 131072) + ",330,1,,,,,,,,",
			"Tot_30day_Fills: 100000000000000000000000…000000000000000000000000 (131073 characters) is out of range"},
		{"ge65 fills over NUMERIC", "1234567893,A,a,11,11,330,1,,,,0." + strings.Repeat("5", 16384) + ",,,,",
			"GE65_Tot_30day_Fills: 0.5555555555555555555555…555555555555555555555555 (16386 characters) is out of range: 16384 digits after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := dataset.NewPartDReader(strings.NewReader(header+tt.row+"\n"), "x.csv", 2024)
			if err != nil {
				t.Fatal(err)
			}
			got, rejects := readRows(t, r, r.Drug)
			if len(got) != 0 {
				t.Errorf("accepted %+v", got)
			}
			checkRejects(t, rejects, []reject{{Line: 2, Reason: tt.reason}})
		})
	}
}

func TestRoundCents(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0.00"},
		{"12", "12.00"},
		{"12.5", "12.50"},
		{"12.34", "12.34"},
		{"12.344", "12.34"},
		{"12.345", "12.35"},
		{"0.125", "0.13"},
		{"0.005", "0.01"},
		{"0.004999", "0.00"},
		{"9.995", "10.00"},
		{"999.999", "1000.00"},
		{"-1.005", "-1.01"},
		{"-0.001", "0.00"},
		{"-12.5", "-12.50"},
		{"123456789012.34", "123456789012.34"},
	}
	for _, tt := range tests {
		if got := dataset.RoundCents(tt.in); got != tt.want {
			t.Errorf("RoundCents(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// BenchmarkPartDReader parses a generated 100,000-row Part D file in the
// current layout (sorted by NPI, 20 lines each, 2,000 distinct drugs) and
// reports rows/s: the parsing share of a Part D load.
func BenchmarkPartDReader(b *testing.B) {
	const rows = 100_000
	var sb strings.Builder
	sb.WriteString("Prscrbr_NPI,Prscrbr_Last_Org_Name,Prscrbr_First_Name,Prscrbr_City,Prscrbr_State_Abrvtn,Prscrbr_State_FIPS,Prscrbr_Type,Prscrbr_Type_Src,Brnd_Name,Gnrc_Name,Tot_Clms,Tot_30day_Fills,Tot_Day_Suply,Tot_Drug_Cst,Tot_Benes,GE65_Sprsn_Flag,GE65_Tot_Clms,GE65_Tot_30day_Fills,GE65_Tot_Drug_Cst,GE65_Tot_Day_Suply,GE65_Bene_Sprsn_Flag,GE65_Tot_Benes\n")
	for i := 0; i < rows; i++ {
		base := strconv.Itoa(100_000_000 + i/20)
		drug := (i*7919 + i/20) % 2000
		claims := 11 + i%500
		fmt.Fprintf(&sb, "%s%c,Smith-Jones,Alexandra,Springfield,IL,17,Internal Medicine,S,Brand %d,Generic Name %d,%d,%d.5,%d,%d.56,",
			base, dataset.NPICheckDigit(base), drug, drug, claims, claims, claims*30, claims*1234)
		if i%3 == 0 {
			sb.WriteString(",*,,,,,*,\n")
			continue
		}
		fmt.Fprintf(&sb, "%d,,%d,%d.25,%d.78,%d,,%d\n", 11+claims/4, claims/2, claims/2, claims*617, claims*15, 11+claims/8)
	}
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := dataset.NewPartDReader(bytes.NewReader(data), "bench.csv", 2024)
		if err != nil {
			b.Fatal(err)
		}
		var l medsales.DrugLine
		n := 0
		for r.Next() {
			if err := r.Drug(&l); err != nil {
				b.Fatalf("line %d: %v", r.Line(), err)
			}
			n++
		}
		if err := r.Err(); err != nil || n != rows {
			b.Fatalf("read %d rows, err %v", n, err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// TestRejectReasonsNameColumnsAsTheFileDoes: a reject reason names a
// column as the file's header writes it, which may be another case or an
// alias of the loader's current name (Physician_NPI of the Open Payments
// years before 2021, Provider Gender Code of the older NPPES layout); the
// reasons named the loader's current name, a column the file does not have.
func TestRejectReasonsNameColumnsAsTheFileDoes(t *testing.T) {
	t.Run("part d in lower case", func(t *testing.T) {
		const header = "prscrbr_npi,brnd_name,gnrc_name,tot_clms,tot_30day_fills,tot_day_suply,tot_drug_cst,tot_benes,ge65_sprsn_flag,ge65_tot_clms,ge65_tot_30day_fills,ge65_tot_drug_cst,ge65_tot_day_suply,ge65_bene_sprsn_flag,ge65_tot_benes\n"
		in := header +
			"1234567890,A,a,11,11,330,1,,,,,,,,\n" +
			"1234567893,,,11,11,330,1,,,,,,,,\n" +
			"1234567893,A,a,-11,11,330,1,,,,,,,,\n" +
			"1234567893,A,a,11,11,330,1,,X,,,,,,\n"
		r, err := dataset.NewPartDReader(strings.NewReader(in), "x.csv", 2024)
		if err != nil {
			t.Fatal(err)
		}
		_, rejects := readRows(t, r, r.Drug)
		checkRejects(t, rejects, []reject{
			{2, `prscrbr_npi: NPI "1234567890" fails the check digit`},
			{3, "brnd_name and gnrc_name are both empty"},
			{4, "tot_clms: -11 is negative"},
			{5, `ge65_sprsn_flag: "X" is not a suppression flag`},
		})
	})
	t.Run("open payments before 2021", func(t *testing.T) {
		const header = "Record_ID,Program_Year,Physician_Profile_ID,Physician_NPI,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_ID,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Name,Total_Amount_of_Payment_USDollars,Date_of_Payment,Number_of_Payments_Included_in_Total_Amount,Form_of_Payment_or_Transfer_of_Value,Nature_of_Payment_or_Transfer_of_Value,Change_Type\n"
		r, err := dataset.NewOpenPaymentsReader(strings.NewReader(header+"7,2019,55,1234567890,9,Acme,5,01/02/2019,1,Cash,Gift,ADD\n"), "op.csv")
		if err != nil {
			t.Fatal(err)
		}
		_, rejects := readRows(t, r, r.Payment)
		checkRejects(t, rejects, []reject{{2, `Physician_NPI: NPI "1234567890" fails the check digit`}})
	})
	t.Run("nucc in lower case", func(t *testing.T) {
		const header = "code,grouping,classification,specialization,definition,notes\n"
		r, err := dataset.NewNUCCReader(strings.NewReader(header+"BAD,G,C,,,\n207Q00000!,G,C,,,\n207Q00000X,G,C,,,\n207Q00000X,G,C,,,\n"), "nucc_taxonomy_251.csv")
		if err != nil {
			t.Fatal(err)
		}
		_, rejects := readRows(t, r, r.Taxonomy)
		checkRejects(t, rejects, []reject{
			{2, `code "BAD" does not have 10 characters`},
			{3, `code "207Q00000!" is not letters and digits`},
			{5, `code "207Q00000X" repeats the code on line 4`},
		})
	})
	t.Run("zcta with the 2020 names", func(t *testing.T) {
		const header = "ZCTA5CE20\tINTPTLAT20\tINTPTLON20\n"
		r, err := dataset.NewZCTAReader(strings.NewReader(header+"6010\t18.1\t-66.7\n00601\tx\t-66.7\n00601\t18.1\t-266.7\n00602\t18.1\t-66.7\n00602\t18.1\t-66.7\n"), "2020_Gaz_zcta_national.txt")
		if err != nil {
			t.Fatal(err)
		}
		_, rejects := readRows(t, r, r.Centroid)
		checkRejects(t, rejects, []reject{
			{2, `ZCTA5CE20 "6010" is not a five-digit ZIP code`},
			{3, `INTPTLAT20 "x" is not a number`},
			{4, `INTPTLON20 -266.7 is out of range`},
			{6, `ZCTA5CE20 00602 repeats the ZCTA on line 5`},
		})
	})
	t.Run("nppes with Provider Gender Code", func(t *testing.T) {
		cols := nppesHeader(t)
		row := map[string]string{"NPI": "1234567893", "Entity Type Code": "1", "Provider Last Name (Legal Name)": "A",
			"Provider Enumeration Date": "01/02/2003", "Provider Sex Code": "Q"}
		in := quotedHeader(cols) + nppesLine(t, cols, row)
		in = strings.Replace(in, `"Provider Sex Code"`, `"Provider Gender Code"`, 1)
		_, rejects, _, err := readNPPES(t, "npidata_pfile_old.csv", []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]nppesReject{{2, `Provider Gender Code "Q" is not M, F or X`}}, rejects); diff != "" {
			t.Errorf("rejects (-want +got):\n%s", diff)
		}
	})
}
