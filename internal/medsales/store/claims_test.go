package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/dataset"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// claimsSets are the migrations the claims tests apply.
var claimsSets = []migrate.Set{store.Migrations}

// claimsEach runs fn on a fresh store on each engine.
func claimsEach(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) { fn(t, store.New(d)) })
}

// loader is one of the Store's Load methods.
type loader func(*store.Store, context.Context, store.LoadInput) (store.LoadResult, error)

// sampleFile returns a sample file of the dataset package's testdata.
func sampleFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadRun is the outcome of one load: its result and error, the rejects
// file it wrote and whether Finalize ran.
type loadRun struct {
	res       store.LoadResult
	err       error
	rejects   string
	finalized *store.LoadResult
	progress  []int64
}

// run loads content as file with in's other settings.
func run(t *testing.T, s *store.Store, load loader, file string, content []byte, in store.LoadInput) loadRun {
	t.Helper()
	var rejects bytes.Buffer
	var out loadRun
	in.File, in.Reader, in.Rejects = file, bytes.NewReader(content), &rejects
	in.Progress = func(n int64) { out.progress = append(out.progress, n) }
	in.Finalize = func(tx *db.Tx, res store.LoadResult) error {
		out.finalized = &res
		return nil
	}
	out.res, out.err = load(s, context.Background(), in)
	out.rejects = rejects.String()
	return out
}

// mustLoad loads content and fails the test on an error.
func mustLoad(t *testing.T, s *store.Store, load loader, file string, content []byte, in store.LoadInput) loadRun {
	t.Helper()
	r := run(t, s, load, file, content, in)
	if r.err != nil {
		t.Fatalf("load %s: %v", file, r.err)
	}
	if r.finalized == nil || *r.finalized != r.res {
		t.Errorf("load %s: Finalize got %+v, want the result %+v", file, r.finalized, r.res)
	}
	return r
}

// dump returns every row of table as sorted text lines, to compare the
// live data before and after a load.
func dump(t *testing.T, s *store.Store, table string) []string {
	t.Helper()
	rows, err := s.DB().SQL.Query("SELECT * FROM " + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, v := range vals {
			if v.Valid {
				fmt.Fprintf(&b, "%q|", v.String)
			} else {
				b.WriteString("NULL|")
			}
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// count runs a COUNT(*) query.
func count(t *testing.T, s *store.Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.DB().SQL.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func i64(n int64) *int64   { return &n }
func str(s string) *string { return &s }

const (
	partBSample   = "MUP_PHY_R26_P05_V10_D24_Prov_Svc_sample.csv"
	partBGender   = "MUP_PHY_R24_P05_V10_D22_Prov_Svc_gender.csv"
	partDSample   = "MUP_DPR_RY26_P04_V10_DY24_NPIBN_sample.csv"
	partDSwapped  = "MUP_DPR_RY25_P04_V10_DY23_NPIBN_swapped.csv"
	nuccSample    = "nucc_taxonomy_sample.csv"
	paymentSample = "OP_DTL_GNRL_PGYR2024_P01302026_sample.csv"
	npiA          = "1234567893"
	npiB          = "1000000004"
)

// lenient lets the samples, which hold deliberately bad rows, load.
var lenient = store.LoadInput{MaxRejectRatio: 0.5}

func TestLoadNUCC(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		r := mustLoad(t, s, (*store.Store).LoadNUCC, nuccSample, sampleFile(t, nuccSample), lenient)
		if want := (store.LoadResult{Loaded: 3, Rejected: 2}); r.res != want {
			t.Errorf("result = %+v, want %+v", r.res, want)
		}
		wantRejects := "6,\"Code \"\"207Q\"\" does not have 10 characters\"\n" +
			"7,\"Code \"\"207Q00000X\"\" repeats the code on line 2\"\n"
		if r.rejects != wantRejects {
			t.Errorf("rejects = %q, want %q", r.rejects, wantRejects)
		}
		got, err := s.Taxonomies(ctx, []string{"207RC0000X", "282N00000X", "207RC0000X", "999999999X", ""})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]medsales.Taxonomy{
			"207RC0000X": {Code: "207RC0000X", Grouping: "Allopathic & Osteopathic Physicians",
				Classification: "Internal Medicine", Specialization: "Cardiovascular Disease",
				Definition:  "A physician who specializes in diseases of the heart\nand blood vessels.",
				DisplayName: "Cardiovascular Disease Physician", Section: "Individual"},
			"282N00000X": {Code: "282N00000X", Grouping: "Hospitals", Classification: "General Acute Care Hospital",
				Definition: "An acute general hospital.", DisplayName: "General Acute Care Hospital", Section: "Non-Individual"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Taxonomies (-want +got):\n%s", diff)
		}

		// A new release replaces the whole table, here with an older
		// layout (no Display Name, no Section).
		mustLoad(t, s, (*store.Store).LoadNUCC, "nucc_taxonomy_old.csv",
			[]byte("Code,Grouping,Classification,Specialization,Definition,Notes\n101Y00000X,Behavioral,Counselor,,,\n"), store.LoadInput{})
		got, err = s.Taxonomies(ctx, []string{"207RC0000X", "101Y00000X"})
		if err != nil {
			t.Fatal(err)
		}
		want = map[string]medsales.Taxonomy{"101Y00000X": {Code: "101Y00000X", Grouping: "Behavioral", Classification: "Counselor"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Taxonomies after reload (-want +got):\n%s", diff)
		}
		if got, err := s.Taxonomies(ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("Taxonomies(nil) = %v, %v; want empty", got, err)
		}
	})
}

// Taxonomies asks in chunks: more codes than one chunk all come back.
func TestTaxonomiesManyCodes(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		var file strings.Builder
		file.WriteString("Code,Grouping,Classification,Specialization,Definition,Notes,Display Name,Section\n")
		var codes []string
		for i := 0; i < 1200; i++ {
			code := fmt.Sprintf("%09dX", i)
			codes = append(codes, code)
			fmt.Fprintf(&file, "%s,G,C%d,,,,,\n", code, i)
		}
		mustLoad(t, s, (*store.Store).LoadNUCC, "nucc.csv", []byte(file.String()), store.LoadInput{})
		got, err := s.Taxonomies(context.Background(), append(codes, "nope"))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(codes) || got["000001199X"].Classification != "C1199" {
			t.Errorf("got %d taxonomies, [000001199X] = %+v; want %d", len(got), got["000001199X"], len(codes))
		}
	})
}

// partBTop is what TopServices returns for npiA after the Part B sample
// loads: data year 2024, by number of services.
var partBTop = []medsales.ServiceLine{
	{NPI: npiA, HCPCSCode: "J1100", HCPCSDescription: "Injection, dexamethasone sodium phosphate, 1 mg",
		DrugIndicator: true, PlaceOfService: "F", TotalBeneficiaries: i64(15), Services: "1234.5",
		BeneficiaryDayServices: 30, AvgSubmittedCharge: "0.5", AvgAllowedAmount: "0.12",
		AvgPaymentAmount: "0.1", AvgStandardizedAmount: "0.1", DataYear: 2024},
	{NPI: npiA, HCPCSCode: "99213", HCPCSDescription: "Established patient office or other outpatient visit, 20-29 minutes",
		PlaceOfService: "O", TotalBeneficiaries: i64(120), Services: "250", BeneficiaryDayServices: 250,
		AvgSubmittedCharge: "150.895522388", AvgAllowedAmount: "89.56", AvgPaymentAmount: "70.2",
		AvgStandardizedAmount: "71.112233", DataYear: 2024},
	{NPI: npiA, HCPCSCode: "99214", HCPCSDescription: "Established patient office or other outpatient visit, 30-39 minutes",
		PlaceOfService: "O", Services: "14", BeneficiaryDayServices: 14, AvgSubmittedCharge: "200",
		AvgAllowedAmount: "130.1", AvgPaymentAmount: "100.5", AvgStandardizedAmount: "101", DataYear: 2024},
}

func TestLoadPartB(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		r := mustLoad(t, s, (*store.Store).LoadPartB, partBSample, sampleFile(t, partBSample), lenient)
		if want := (store.LoadResult{Loaded: 4, Rejected: 2, DataYear: 2024}); r.res != want {
			t.Errorf("result = %+v, want %+v", r.res, want)
		}
		wantRejects := "6,\"Rndrng_NPI: NPI \"\"1234567890\"\" fails the check digit (want 3)\"\n" +
			"7,\"Place_Of_Srvc: \"\"X\"\" is not F (facility) or O (office)\"\n"
		if r.rejects != wantRejects {
			t.Errorf("rejects = %q, want %q", r.rejects, wantRejects)
		}
		if len(r.progress) == 0 || r.progress[len(r.progress)-1] != 6 {
			t.Errorf("progress = %v, want it to end with the 6 rows read", r.progress)
		}

		// An older release (Rndrng_Prvdr_Gndr after the credentials) of
		// another data year, taken from the file name.
		r = mustLoad(t, s, (*store.Store).LoadPartB, partBGender, sampleFile(t, partBGender), store.LoadInput{})
		if want := (store.LoadResult{Loaded: 2, DataYear: 2022}); r.res != want {
			t.Errorf("old layout result = %+v, want %+v", r.res, want)
		}

		got, err := s.TopServices(ctx, npiA, 0)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(partBTop, got); diff != "" {
			t.Errorf("TopServices (-want +got):\n%s", diff)
		}
		got, err = s.TopServices(ctx, npiA, 2)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(partBTop[:2], got); diff != "" {
			t.Errorf("TopServices limit 2 (-want +got):\n%s", diff)
		}
		// npiB's latest year is 2024 too: one line there, the 2022 one
		// stays out.
		got, err = s.TopServices(ctx, npiB, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].DataYear != 2024 || got[0].AvgSubmittedCharge != "100.00" {
			t.Errorf("TopServices(npiB) = %+v, want the one 2024 line", got)
		}
		if n := count(t, s, "SELECT COUNT(*) FROM partb_services WHERE data_year = 2022"); n != 2 {
			t.Errorf("2022 lines = %d, want 2", n)
		}
		got, err = s.TopServices(ctx, "1999999999", 10)
		if err != nil || len(got) != 0 {
			t.Errorf("TopServices(unknown) = %v, %v; want none", got, err)
		}
		if _, err := s.TopServices(ctx, npiA, -1); !errs.Is(err, errs.CodeInvalid) {
			t.Errorf("TopServices(limit -1) error = %v, want invalid", err)
		}
	})
}

// partDTop is what TopDrugs returns for npiA after the Part D sample
// loads: by number of claims.
var partDTop = []medsales.DrugLine{
	{NPI: npiA, BrandName: "Lipitor", GenericName: "Atorvastatin Calcium", TotalClaims: 120,
		Total30DayFills: "150.5", TotalDaySupply: 4500, TotalDrugCost: "1234.50", TotalBeneficiaries: i64(25),
		GE65TotalClaims: i64(100), GE65Total30DayFills: str("120"), GE65TotalDrugCost: str("1000.26"),
		GE65TotalDaySupply: i64(3600), GE65BeneSuppressionFlag: "*", DataYear: 2024},
	{NPI: npiA, BrandName: "Eliquis", GenericName: "Apixaban", TotalClaims: 45, Total30DayFills: "60",
		TotalDaySupply: 1800, TotalDrugCost: "25000.99", GE65SuppressionFlag: "#",
		GE65TotalBeneficiaries: i64(14), DataYear: 2024},
}

// withYear returns a copy of lines stamped with another data year.
func withYear(lines []medsales.DrugLine, year int) []medsales.DrugLine {
	out := slices.Clone(lines)
	for i := range out {
		out[i].DataYear = year
	}
	return out
}

func TestLoadPartD(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		// The copy with the last two columns swapped, data year 2023.
		r := mustLoad(t, s, (*store.Store).LoadPartD, partDSwapped, sampleFile(t, partDSwapped), store.LoadInput{})
		if want := (store.LoadResult{Loaded: 2, DataYear: 2023}); r.res != want {
			t.Errorf("swapped result = %+v, want %+v", r.res, want)
		}
		got, err := s.TopDrugs(ctx, npiA, 10)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(withYear(partDTop, 2023), got); diff != "" {
			t.Errorf("TopDrugs after the swapped file (-want +got):\n%s", diff)
		}

		r = mustLoad(t, s, (*store.Store).LoadPartD, partDSample, sampleFile(t, partDSample), lenient)
		if want := (store.LoadResult{Loaded: 4, Rejected: 1, DataYear: 2024}); r.res != want {
			t.Errorf("result = %+v, want %+v", r.res, want)
		}
		if want := "6,\"Tot_Clms: integer \"\"many\"\" has an unexpected character 'm'\"\n"; r.rejects != want {
			t.Errorf("rejects = %q, want %q", r.rejects, want)
		}
		got, err = s.TopDrugs(ctx, npiA, 10)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(partDTop, got); diff != "" {
			t.Errorf("TopDrugs (-want +got):\n%s", diff)
		}
		got, err = s.TopDrugs(ctx, npiB, 1)
		if err != nil {
			t.Fatal(err)
		}
		want := []medsales.DrugLine{{NPI: npiB, BrandName: "Metformin Hcl", GenericName: "Metformin Hcl",
			TotalClaims: 11, Total30DayFills: "11.3", TotalDaySupply: 330, TotalDrugCost: "45.67",
			TotalBeneficiaries: i64(11), GE65SuppressionFlag: "*", GE65BeneSuppressionFlag: "*", DataYear: 2024}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("TopDrugs(npiB) (-want +got):\n%s", diff)
		}
		if n := count(t, s, "SELECT COUNT(*) FROM partd_drugs WHERE data_year = 2023"); n != 2 {
			t.Errorf("2023 lines = %d, want 2 (kept by the 2024 load)", n)
		}
	})
}

// partDHeader is the current Part D header.
const partDHeader = "Prscrbr_NPI,Prscrbr_Last_Org_Name,Prscrbr_First_Name,Prscrbr_City,Prscrbr_State_Abrvtn,Prscrbr_State_FIPS,Prscrbr_Type,Prscrbr_Type_Src,Brnd_Name,Gnrc_Name,Tot_Clms,Tot_30day_Fills,Tot_Day_Suply,Tot_Drug_Cst,Tot_Benes,GE65_Sprsn_Flag,GE65_Tot_Clms,GE65_Tot_30day_Fills,GE65_Tot_Drug_Cst,GE65_Tot_Day_Suply,GE65_Bene_Sprsn_Flag,GE65_Tot_Benes\n"

// partDRow is a Part D row for npi and drug with claims claims.
func partDRow(npi, drug string, claims int) string {
	return fmt.Sprintf("%s,Last,First,City,IL,17,Internal Medicine,S,%s,%s,%d,%d,%d,%d.25,,*,,,,,*,\n",
		npi, drug, drug, claims, claims, claims*30, claims*10)
}

// Drug lines with as many claims are ordered by generic then brand name
// the same way on both engines, a line without one of the names included.
func TestTopDrugsTieOrder(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		row := func(brand, generic string) string {
			return fmt.Sprintf("%s,Last,First,City,IL,17,Internal Medicine,S,%s,%s,100,100,3000,1000.25,,*,,,,,*,\n", npiA, brand, generic)
		}
		file := partDHeader + row("Zocor", "") + row("Lipitor", "Atorvastatin") + row("", "Simvastatin") + row("Crestor", "Rosuvastatin")
		mustLoad(t, s, (*store.Store).LoadPartD, "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", []byte(file), store.LoadInput{})
		got, err := s.TopDrugs(context.Background(), npiA, 10)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, l := range got {
			names = append(names, l.BrandName+"/"+l.GenericName)
		}
		if want := []string{"Lipitor/Atorvastatin", "Crestor/Rosuvastatin", "/Simvastatin", "Zocor/"}; !slices.Equal(names, want) {
			t.Errorf("TopDrugs = %q, want %q", names, want)
		}
	})
}

// Reloading a data year replaces that year only, whatever it held.
func TestLoadPartDReplacesOneYear(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustLoad(t, s, (*store.Store).LoadPartD, partDSample, sampleFile(t, partDSample), lenient)
		mustLoad(t, s, (*store.Store).LoadPartD, partDSwapped, sampleFile(t, partDSwapped), store.LoadInput{})
		before2023 := dump(t, s, "partd_drugs WHERE data_year = 2023")

		// A corrected 2024 release, year given by the caller.
		file := partDHeader + partDRow(npiA, "Zestril", 500) + partDRow(npiA, "Norvasc", 20)
		r := mustLoad(t, s, (*store.Store).LoadPartD, "partd_corrected.csv", []byte(file), store.LoadInput{DataYear: 2024})
		if want := (store.LoadResult{Loaded: 2, DataYear: 2024}); r.res != want {
			t.Errorf("result = %+v, want %+v", r.res, want)
		}
		got, err := s.TopDrugs(ctx, npiA, 10)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, l := range got {
			names = append(names, fmt.Sprintf("%s %d %s %d", l.BrandName, l.TotalClaims, l.TotalDrugCost, l.DataYear))
		}
		if want := []string{"Zestril 500 5000.25 2024", "Norvasc 20 200.25 2024"}; !slices.Equal(names, want) {
			t.Errorf("TopDrugs = %q, want %q", names, want)
		}
		if n := count(t, s, "SELECT COUNT(*) FROM partd_drugs WHERE data_year = 2024"); n != 2 {
			t.Errorf("2024 lines = %d, want 2", n)
		}
		if diff := cmp.Diff(before2023, dump(t, s, "partd_drugs WHERE data_year = 2023")); diff != "" {
			t.Errorf("2023 lines changed (-before +after):\n%s", diff)
		}
	})
}

// opHeader is an Open Payments header with only the columns the loader
// needs, in another order than the publisher's.
const opHeader = "Record_ID,Program_Year,Covered_Recipient_NPI,Covered_Recipient_Profile_ID,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_ID,Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Name,Total_Amount_of_Payment_USDollars,Date_of_Payment,Number_of_Payments_Included_in_Total_Amount,Form_of_Payment_or_Transfer_of_Value,Nature_of_Payment_or_Transfer_of_Value,Change_Type,Name_of_Drug_or_Biological_or_Device_or_Medical_Supply_1\n"

// opRow is an Open Payments row.
func opRow(id string, year int, npi, mfr, amount, date string, n int) string {
	return fmt.Sprintf("%s,%d,%s,77,M-%s,%s,%s,%s,%d,Cash or cash equivalent,Consulting Fee,NEW,Drug %s\n",
		id, year, npi, mfr, mfr, amount, date, n, id)
}

func TestLoadOpenPayments(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		r := mustLoad(t, s, (*store.Store).LoadOpenPayments, paymentSample, sampleFile(t, paymentSample), lenient)
		if want := (store.LoadResult{Loaded: 4, Rejected: 2, DataYear: 2024}); r.res != want {
			t.Errorf("result = %+v, want %+v", r.res, want)
		}
		wantRejects := "6,\"Covered_Recipient_NPI: NPI \"\"1234567890\"\" fails the check digit (want 3)\"\n" +
			"7,\"Date_of_Payment: date \"\"02/30/2024\"\" does not exist (day 30 of month 2)\"\n"
		if r.rejects != wantRejects {
			t.Errorf("rejects = %q, want %q", r.rejects, wantRejects)
		}
		got, err := s.PaymentTotals(ctx, npiA)
		if err != nil {
			t.Fatal(err)
		}
		want := []medsales.PaymentTotal{
			{Year: 2024, Manufacturer: "Pfizer Inc.", Amount: "1515.50", Count: 3},
			{Year: 2024, Manufacturer: "Medtronic, Inc.", Amount: "0.13", Count: 1},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("PaymentTotals (-want +got):\n%s", diff)
		}
		// The teaching hospital's payment is kept, without NPI.
		if n := count(t, s, "SELECT COUNT(*) FROM open_payments WHERE npi IS NULL AND record_id = '900000004' AND CAST(amount AS DOUBLE PRECISION) = 250000"); n != 1 {
			t.Errorf("teaching hospital payments = %d, want 1", n)
		}
		var products sql.NullString
		if err := s.DB().SQL.QueryRow("SELECT products FROM open_payments WHERE record_id = '900000002'").Scan(&products); err != nil {
			t.Fatal(err)
		}
		if want := `["Eliquis","Prevnar 20"]`; products.String != want {
			t.Errorf("products = %q, want %q", products.String, want)
		}
		if n := count(t, s, "SELECT COUNT(*) FROM open_payments WHERE record_id = '900000003' AND products IS NULL"); n != 1 {
			t.Errorf("payment without products: %d rows with NULL products, want 1", n)
		}

		// Another program year, the year taken from the first row.
		r = mustLoad(t, s, (*store.Store).LoadOpenPayments, "payments.csv",
			[]byte(opHeader+opRow("800000001", 2023, npiA, "Pfizer Inc.", "100", "05/01/2023", 1)), store.LoadInput{})
		if r.res.DataYear != 2023 || r.res.Loaded != 1 {
			t.Errorf("2023 result = %+v, want 1 row of 2023", r.res)
		}

		// The January refresh re-publishes 2024: it replaces 2024 whole
		// (the teaching hospital's payment is gone) and keeps 2023. A row
		// of another year in it is rejected.
		refresh := opHeader +
			opRow("900000002", 2024, npiA, "Pfizer Inc.", "1499.99", "06/12/2024", 2) +
			opRow("900000010", 2024, npiA, "AbbVie Inc.", "2000", "09/09/2024", 1) +
			opRow("900000011", 2022, npiA, "AbbVie Inc.", "10", "09/09/2022", 1)
		r = mustLoad(t, s, (*store.Store).LoadOpenPayments, "OP_DTL_GNRL_PGYR2024_P06302026.csv", []byte(refresh), lenient)
		if want := (store.LoadResult{Loaded: 2, Rejected: 1, DataYear: 2024}); r.res != want {
			t.Errorf("refresh result = %+v, want %+v", r.res, want)
		}
		if want := "4,Program_Year 2022 is not the program year 2024 being loaded\n"; r.rejects != want {
			t.Errorf("refresh rejects = %q, want %q", r.rejects, want)
		}
		got, err = s.PaymentTotals(ctx, npiA)
		if err != nil {
			t.Fatal(err)
		}
		want = []medsales.PaymentTotal{
			{Year: 2024, Manufacturer: "AbbVie Inc.", Amount: "2000.00", Count: 1},
			{Year: 2024, Manufacturer: "Pfizer Inc.", Amount: "1499.99", Count: 2},
			{Year: 2023, Manufacturer: "Pfizer Inc.", Amount: "100.00", Count: 1},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("PaymentTotals after the refresh (-want +got):\n%s", diff)
		}
		if n := count(t, s, "SELECT COUNT(*) FROM open_payments WHERE npi IS NULL"); n != 0 {
			t.Errorf("payments without NPI after the refresh = %d, want 0", n)
		}
		if got, err := s.PaymentTotals(ctx, npiB); err != nil || len(got) != 0 {
			t.Errorf("PaymentTotals(npiB) = %v, %v; want none", got, err)
		}
	})
}

// A Record_ID repeated within the program year fails the load with one
// line naming the file and the ID; the live year stays as it was. The
// same ID in another program year is fine.
func TestLoadOpenPaymentsDuplicateRecordID(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		const file = "OP_DTL_GNRL_PGYR2024_P01302026.csv"
		mustLoad(t, s, (*store.Store).LoadOpenPayments, file,
			[]byte(opHeader+opRow("700000001", 2024, npiA, "Pfizer Inc.", "10", "01/02/2024", 1)), store.LoadInput{})
		mustLoad(t, s, (*store.Store).LoadOpenPayments, "OP_DTL_GNRL_PGYR2023_P01302026.csv",
			[]byte(opHeader+opRow("700000001", 2023, npiA, "Pfizer Inc.", "5", "01/02/2023", 1)), store.LoadInput{})
		dup := opHeader +
			opRow("700000002", 2024, npiA, "Pfizer Inc.", "1", "01/02/2024", 1) +
			opRow("700000003", 2024, npiA, "Pfizer Inc.", "2", "01/02/2024", 1) +
			opRow("700000002", 2024, npiA, "Pfizer Inc.", "3", "01/03/2024", 1)
		r := run(t, s, (*store.Store).LoadOpenPayments, file, []byte(dup), store.LoadInput{})
		want := file + ": Record_ID 700000002 occurs more than once: nothing loaded"
		if r.err == nil || r.err.Error() != want || !errs.Is(r.err, errs.CodeInvalid) {
			t.Errorf("duplicate Record_ID: %v, want %q", r.err, want)
		}
		if r.finalized != nil {
			t.Error("Finalize ran for a failed load")
		}
		if n := count(t, s, "SELECT COUNT(*) FROM open_payments WHERE program_year = 2024 AND record_id = '700000001'"); n != 1 {
			t.Errorf("the live 2024 payments changed: %d rows of 700000001, want 1", n)
		}
		if n := count(t, s, "SELECT COUNT(*) FROM open_payments"); n != 2 {
			t.Errorf("%d payments, want the 2 loaded before", n)
		}
	})
}

// A Change_Type other than NEW, ADD, CHANGED or UNCHANGED rejects its row,
// with its line and the column, and the load goes on.
func TestLoadOpenPaymentsChangeType(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		file := opHeader +
			opRow("600000001", 2024, npiA, "Pfizer Inc.", "10", "01/02/2024", 1) +
			strings.Replace(opRow("600000002", 2024, npiA, "Pfizer Inc.", "20", "01/02/2024", 1), ",NEW,", ",BOGUS,", 1) +
			strings.Replace(opRow("600000003", 2024, npiA, "Pfizer Inc.", "30", "01/02/2024", 1), ",NEW,", ",UNCHANGED,", 1)
		r := mustLoad(t, s, (*store.Store).LoadOpenPayments, "OP_DTL_GNRL_PGYR2024_P01302026.csv", []byte(file), lenient)
		if want := (store.LoadResult{Loaded: 2, Rejected: 1, DataYear: 2024}); r.res != want {
			t.Errorf("result = %+v, want %+v", r.res, want)
		}
		if want := "3,\"Change_Type: \"\"BOGUS\"\" is not NEW, ADD, CHANGED or UNCHANGED\"\n"; r.rejects != want {
			t.Errorf("rejects = %q, want %q", r.rejects, want)
		}
		want := []string{`"600000001"|NEW`, `"600000003"|UNCHANGED`}
		var got []string
		rows, err := s.DB().SQL.Query("SELECT record_id, change_type FROM open_payments ORDER BY record_id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, ct string
			if err := rows.Scan(&id, &ct); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%q|%s", id, ct))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("stored payments (-want +got):\n%s", diff)
		}
	})
}

// Sums of many cents come out exact on both engines.
func TestPaymentTotalsSums(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		var file strings.Builder
		file.WriteString(opHeader)
		for i := 0; i < 1000; i++ {
			fmt.Fprint(&file, opRow(fmt.Sprint(i), 2024, npiA, "Pfizer Inc.", "0.1", "01/02/2024", 1))
		}
		fmt.Fprint(&file, opRow("x", 2024, npiA, "Pfizer Inc.", "0.015", "01/02/2024", 1)) // 0.02
		mustLoad(t, s, (*store.Store).LoadOpenPayments, "OP_DTL_GNRL_PGYR2024_P01302026.csv", []byte(file.String()), store.LoadInput{})
		got, err := s.PaymentTotals(context.Background(), npiA)
		if err != nil {
			t.Fatal(err)
		}
		want := []medsales.PaymentTotal{{Year: 2024, Manufacturer: "Pfizer Inc.", Amount: "100.02", Count: 1001}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("PaymentTotals (-want +got):\n%s", diff)
		}
	})
}

// Amounts that cancel out (a negative correction) total 0.00 on both
// engines, never -0.00, and tie with another zero total, which the
// manufacturer name then orders.
func TestPaymentTotalsCancelOut(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		file := opHeader +
			opRow("1", 2024, npiA, "A", "0.30", "01/02/2024", 1) +
			opRow("2", 2024, npiA, "A", "-0.10", "01/02/2024", 1) +
			opRow("3", 2024, npiA, "A", "-0.20", "01/02/2024", 1) +
			opRow("4", 2024, npiA, "B", "0.00", "01/02/2024", 1)
		mustLoad(t, s, (*store.Store).LoadOpenPayments, "OP_DTL_GNRL_PGYR2024_P01302026.csv", []byte(file), store.LoadInput{})
		got, err := s.PaymentTotals(context.Background(), npiA)
		if err != nil {
			t.Fatal(err)
		}
		want := []medsales.PaymentTotal{
			{Year: 2024, Manufacturer: "A", Amount: "0.00", Count: 3},
			{Year: 2024, Manufacturer: "B", Amount: "0.00", Count: 1},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("PaymentTotals (-want +got):\n%s", diff)
		}
	})
}

// setField returns a CSV row (without quoted commas) of a file with header
// with column set to value.
func setField(t testing.TB, header, row, column, value string) string {
	t.Helper()
	k := slices.Index(strings.Split(strings.TrimSuffix(header, "\n"), ","), column)
	if k < 0 {
		t.Fatalf("no column %s", column)
	}
	f := strings.Split(strings.TrimSuffix(row, "\n"), ",")
	f[k] = value
	return strings.Join(f, ",") + "\n"
}

// A value its NUMERIC column cannot hold — over NUMERIC(14,2) once rounded
// to cents, or more digits than unconstrained NUMERIC has — rejects its
// row with its line, the column and the allowed range, and the load goes
// on, on both engines. PostgreSQL used to fail the whole load ("numeric
// field overflow", no line, no column) while SQLite stored the value. The
// values at the limits load, and read back as written.
func TestLoadRejectsOutOfRangeAmounts(t *testing.T) {
	const (
		moneyRange = "must be between -999999999999.99 and 999999999999.99 (NUMERIC(14,2))"
		partBFile  = "MUP_PHY_R26_P05_V10_D24_Prov_Svc.csv"
		partBHead  = "Rndrng_NPI,HCPCS_Cd,HCPCS_Desc,HCPCS_Drug_Ind,Place_Of_Srvc,Tot_Benes,Tot_Srvcs,Tot_Bene_Day_Srvcs,Avg_Sbmtd_Chrg,Avg_Mdcr_Alowd_Amt,Avg_Mdcr_Pymt_Amt,Avg_Mdcr_Stdzd_Amt\n"
	)
	mostDigits := "9" + strings.Repeat("0", 131071) // 131,072 digits before the point: the most NUMERIC holds
	mostDecimals := "0." + strings.Repeat("3", 16383)
	tooManyDigits, tooManyDecimals := mostDigits+"0", mostDecimals+"3"
	type value struct{ column, value, says string }
	type stored struct{ column, value string }
	tests := []struct {
		name, file, header, row, table string
		load                           loader
		bad                            []value  // each rejects its row
		edge                           []stored // each loads: column, value as stored
	}{
		{
			name: "part d", file: partDSample, header: partDHeader, row: partDRow(npiA, "Zestril", 500), table: "partd_drugs",
			load: (*store.Store).LoadPartD,
			bad: []value{
				{"Tot_Drug_Cst", "99999999999999.995", "Tot_Drug_Cst: 99999999999999.995 is out of range: rounded to 2 decimals it " + moneyRange},
				{"Tot_Drug_Cst", "999999999999.995", "Tot_Drug_Cst: 999999999999.995 is out of range: rounded to 2 decimals it " + moneyRange},
				{"GE65_Tot_Drug_Cst", "-1000000000000", "GE65_Tot_Drug_Cst: -1000000000000 is out of range: rounded to 2 decimals it " + moneyRange},
				{"Tot_30day_Fills", tooManyDigits, "Tot_30day_Fills: 900000000000000000000000…000000000000000000000000 (131073 characters) is out of range: 131073 digits before the decimal point, NUMERIC holds at most 131072"},
				{"GE65_Tot_30day_Fills", tooManyDecimals, "GE65_Tot_30day_Fills: 0.3333333333333333333333…333333333333333333333333 (16386 characters) is out of range: 16384 digits after the decimal point, NUMERIC holds at most 16383"},
			},
			edge: []stored{
				{"tot_drug_cst", "999999999999.99"}, {"ge65_tot_drug_cst", "999999999999.99"},
				{"tot_30day_fills", mostDigits}, {"ge65_tot_30day_fills", mostDecimals},
			},
		},
		{
			name: "part b", file: partBFile, header: partBHead, row: "1234567893,99213,Visit,N,O,20,250,250,150.5,89.56,70.2,71.1\n",
			table: "partb_services", load: (*store.Store).LoadPartB,
			bad: []value{
				{"Tot_Srvcs", tooManyDigits, "Tot_Srvcs: 900000000000000000000000…000000000000000000000000 (131073 characters) is out of range: 131073 digits before"},
				{"Avg_Sbmtd_Chrg", tooManyDecimals, "Avg_Sbmtd_Chrg: 0.3333333333333333333333…333333333333333333333333 (16386 characters) is out of range: 16384 digits after"},
				{"Avg_Mdcr_Alowd_Amt", "-" + tooManyDigits, "Avg_Mdcr_Alowd_Amt: -90000000000000000000000…000000000000000000000000 (131074 characters) is out of range"},
				{"Avg_Mdcr_Pymt_Amt", tooManyDecimals, "Avg_Mdcr_Pymt_Amt: 0.3333333333333333333333…333333333333333333333333 (16386 characters) is out of range"},
				{"Avg_Mdcr_Stdzd_Amt", tooManyDigits, "Avg_Mdcr_Stdzd_Amt: 900000000000000000000000…000000000000000000000000 (131073 characters) is out of range"},
			},
			edge: []stored{
				{"tot_srvcs", mostDecimals}, {"avg_sbmtd_chrg", mostDigits}, {"avg_mdcr_alowd_amt", mostDecimals},
				{"avg_mdcr_pymt_amt", "-" + mostDigits}, {"avg_mdcr_stdzd_amt", mostDigits + "." + mostDecimals[2:]},
			},
		},
		{
			name: "open payments", file: paymentSample, header: opHeader, table: "open_payments",
			row:  opRow("1", 2024, npiA, "Pfizer Inc.", "10", "01/02/2024", 1),
			load: (*store.Store).LoadOpenPayments,
			bad: []value{
				{"Total_Amount_of_Payment_USDollars", "1000000000000", "Total_Amount_of_Payment_USDollars: 1000000000000 is out of range: rounded to 2 decimals it " + moneyRange},
				{"Total_Amount_of_Payment_USDollars", "-999999999999.995", "Total_Amount_of_Payment_USDollars: -999999999999.995 is out of range: rounded to 2 decimals it " + moneyRange},
			},
			edge: []stored{{"amount", "999999999999.99"}, {"amount", "-999999999999.99"}},
		},
	}
	// The source column of each edge's store column.
	source := map[string]string{
		"tot_drug_cst": "Tot_Drug_Cst", "ge65_tot_drug_cst": "GE65_Tot_Drug_Cst",
		"tot_30day_fills": "Tot_30day_Fills", "ge65_tot_30day_fills": "GE65_Tot_30day_Fills",
		"tot_srvcs": "Tot_Srvcs", "avg_sbmtd_chrg": "Avg_Sbmtd_Chrg", "avg_mdcr_alowd_amt": "Avg_Mdcr_Alowd_Amt",
		"avg_mdcr_pymt_amt": "Avg_Mdcr_Pymt_Amt", "avg_mdcr_stdzd_amt": "Avg_Mdcr_Stdzd_Amt",
		"amount": "Total_Amount_of_Payment_USDollars",
	}
	// What the file holds at the limits, rounding included.
	written := map[string]string{"999999999999.99": "999999999999.994", "-999999999999.99": "-999999999999.994"}
	claimsEach(t, func(t *testing.T, s *store.Store) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// Open Payments rows need distinct Record_IDs.
				n := 0
				row := func(column, value string) string {
					n++
					r := setField(t, tt.header, tt.row, column, value)
					if strings.Contains(tt.header, "Record_ID") {
						r = setField(t, tt.header, r, "Record_ID", fmt.Sprint(n))
					}
					return r
				}
				var file strings.Builder
				file.WriteString(tt.header)
				for _, b := range tt.bad { // lines 2, 3, …
					file.WriteString(row(b.column, b.value))
				}
				for _, e := range tt.edge {
					v := e.value
					if w, ok := written[v]; ok {
						v = w
					}
					file.WriteString(row(source[e.column], v))
				}
				r := mustLoad(t, s, tt.load, tt.file, []byte(file.String()), store.LoadInput{MaxRejectRatio: 0.9})
				if r.res.Loaded != int64(len(tt.edge)) || r.res.Rejected != int64(len(tt.bad)) {
					t.Errorf("result = %+v, want %d loaded and %d rejected", r.res, len(tt.edge), len(tt.bad))
				}
				rejects, err := csv.NewReader(strings.NewReader(r.rejects)).ReadAll()
				if err != nil {
					t.Fatalf("rejects file %q: %v", r.rejects, err)
				}
				if len(rejects) != len(tt.bad) {
					t.Fatalf("rejects = %q, want %d", rejects, len(tt.bad))
				}
				for i, b := range tt.bad {
					if line := fmt.Sprint(i + 2); rejects[i][0] != line || !strings.Contains(rejects[i][1], b.says) {
						t.Errorf("reject %d = %q, want line %s with a reason containing %q", i, rejects[i], line, b.says)
					}
				}
				for _, e := range tt.edge {
					q := fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE CAST(%s AS TEXT) = $1", tt.table, e.column)
					if got := count(t, s, q, e.value); got != 1 {
						t.Errorf("%s rows holding %.40s = %d, want 1", e.column, e.value, got)
					}
				}
			})
		}
	})
}

// A count over the INTEGER columns' 2147483647 rejects its row with its
// line and the column on both engines; PostgreSQL used to fail the whole
// load ("value … is out of range for type integer") while SQLite stored it.
func TestLoadRejectsOutOfRangeCounts(t *testing.T) {
	const partBHead = "Rndrng_NPI,HCPCS_Cd,HCPCS_Desc,HCPCS_Drug_Ind,Place_Of_Srvc,Tot_Benes,Tot_Srvcs,Tot_Bene_Day_Srvcs,Avg_Sbmtd_Chrg,Avg_Mdcr_Alowd_Amt,Avg_Mdcr_Pymt_Amt,Avg_Mdcr_Stdzd_Amt\n"
	tests := []struct {
		name, file, header, row, table string
		load                           loader
		column, stored                 string // the count's source and store columns
	}{
		{name: "part d", file: partDSample, header: partDHeader, row: partDRow(npiA, "Zestril", 500),
			table: "partd_drugs", load: (*store.Store).LoadPartD, column: "Tot_Clms", stored: "tot_clms"},
		{name: "part d, suppressible count", file: partDSample, header: partDHeader, row: partDRow(npiA, "Zestril", 500),
			table: "partd_drugs", load: (*store.Store).LoadPartD, column: "GE65_Tot_Benes", stored: "ge65_tot_benes"},
		{name: "part b", file: "MUP_PHY_R26_P05_V10_D24_Prov_Svc.csv", header: partBHead,
			row:   "1234567893,99213,Visit,N,O,20,250,250,150.5,89.56,70.2,71.1\n",
			table: "partb_services", load: (*store.Store).LoadPartB, column: "Tot_Benes", stored: "tot_benes"},
		{name: "open payments", file: paymentSample, header: opHeader, row: opRow("1", 2024, npiA, "Pfizer Inc.", "10", "01/02/2024", 1),
			table: "open_payments", load: (*store.Store).LoadOpenPayments,
			column: "Number_of_Payments_Included_in_Total_Amount", stored: "n_payments"},
	}
	claimsEach(t, func(t *testing.T, s *store.Store) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				bad := setField(t, tt.header, tt.row, tt.column, "2147483648")
				edge := setField(t, tt.header, tt.row, tt.column, "2147483647")
				if strings.Contains(tt.header, "Record_ID") {
					edge = setField(t, tt.header, edge, "Record_ID", "2")
				}
				r := mustLoad(t, s, tt.load, tt.file, []byte(tt.header+bad+edge), store.LoadInput{MaxRejectRatio: 0.5})
				if r.res.Loaded != 1 || r.res.Rejected != 1 {
					t.Errorf("result = %+v, want 1 loaded and 1 rejected", r.res)
				}
				want := "2," + tt.column + ": 2147483648 is out of range: INTEGER holds at most 2147483647\n"
				if r.rejects != want {
					t.Errorf("rejects = %q, want %q", r.rejects, want)
				}
				q := fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s = 2147483647", tt.table, tt.stored)
				if got := count(t, s, q); got != 1 {
					t.Errorf("rows with %s 2147483647 = %d, want 1", tt.stored, got)
				}
			})
		}
	})
}

// The loaders fit decimals to the NUMERIC types in dataset (money
// NUMERIC(dataset.MoneyPrecision, dataset.MoneyScale), other decimals
// unconstrained): the PostgreSQL columns must be those types, or values
// the loaders accept could fail the COPY again.
func TestNumericColumnsMatchLoaders(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		if s.DB().Dialect != db.Postgres {
			t.Skip("SQLite keeps decimals as TEXT")
		}
		money := fmt.Sprintf("%d,%d", dataset.MoneyPrecision, dataset.MoneyScale)
		want := map[string]string{
			"partb_services.tot_srvcs": "", "partb_services.avg_sbmtd_chrg": "", "partb_services.avg_mdcr_alowd_amt": "",
			"partb_services.avg_mdcr_pymt_amt": "", "partb_services.avg_mdcr_stdzd_amt": "",
			"partd_drugs.tot_30day_fills": "", "partd_drugs.ge65_tot_30day_fills": "",
			"partd_drugs.tot_drug_cst": money, "partd_drugs.ge65_tot_drug_cst": money,
			"open_payments.amount": money,
		}
		rows, err := s.DB().SQL.Query(`
			SELECT table_name || '.' || column_name, COALESCE(numeric_precision || ',' || numeric_scale, '')
			FROM information_schema.columns
			WHERE table_schema = current_schema() AND data_type = 'numeric'
			  AND table_name IN ('partb_services', 'partd_drugs', 'open_payments')`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[string]string{}
		for rows.Next() {
			var col, typ string
			if err := rows.Scan(&col, &typ); err != nil {
				t.Fatal(err)
			}
			got[col] = typ
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("NUMERIC columns, precision,scale (-loaders +schema):\n%s", diff)
		}
	})
}

// dropColumn removes the named column from a CSV without quoted commas.
func dropColumn(t testing.TB, csv []byte, name string) []byte {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(string(csv), "\n"), "\n")
	k := slices.Index(strings.Split(lines[0], ","), name)
	if k < 0 {
		t.Fatalf("no column %s", name)
	}
	for i, l := range lines {
		f := strings.Split(l, ",")
		lines[i] = strings.Join(slices.Delete(f, k, k+1), ",")
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

// A load that is refused — a file of another dataset, a missing column,
// too many rejected rows, no data year — leaves the live data as it was
// and does not run Finalize.
func TestLoadRefused(t *testing.T) {
	nucc := "Code,Grouping,Classification,Specialization,Definition,Notes,Display Name,Section\n"
	tests := []struct {
		name    string
		load    loader
		table   string
		file    string
		content func(t testing.TB) []byte
		in      store.LoadInput
		want    []string // the error names these
		header  bool     // refused on the header: no row read
	}{
		{
			name: "part d file as part b", load: (*store.Store).LoadPartB, table: "partb_services",
			file: partDSample, content: func(t testing.TB) []byte { return sampleFile(t, partDSample) },
			want:   []string{partDSample, `has a "Prscrbr_NPI" column`, "(dataset partd), not a Part B file"},
			header: true,
		},
		{
			name: "part b file as part d", load: (*store.Store).LoadPartD, table: "partd_drugs",
			file: partBSample, content: func(t testing.TB) []byte { return sampleFile(t, partBSample) },
			want:   []string{partBSample, `has a "HCPCS_Cd" column`, "(dataset partb), not a Part D file"},
			header: true,
		},
		{
			name: "part d without Tot_Drug_Cst", load: (*store.Store).LoadPartD, table: "partd_drugs",
			file:    "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv",
			content: func(t testing.TB) []byte { return dropColumn(t, sampleFile(t, partDSample), "Tot_Drug_Cst") },
			want:    []string{"MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", `missing required column "Tot_Drug_Cst"`},
			header:  true,
		},
		{
			name: "part d naming Tot_Clms twice", load: (*store.Store).LoadPartD, table: "partd_drugs",
			file: "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv",
			content: func(testing.TB) []byte {
				return []byte(strings.Replace(partDHeader, "\n", ",TOT_CLMS\n", 1) +
					strings.Replace(partDRow(npiB, "Zestril", 20), "\n", ",21\n", 1))
			},
			want:   []string{"MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", `column "Tot_Clms" twice (fields 11 and 23)`},
			header: true,
		},
		{
			name: "part b without Tot_Srvcs and HCPCS_Cd", load: (*store.Store).LoadPartB, table: "partb_services",
			file: partBSample,
			content: func(t testing.TB) []byte {
				return dropColumn(t, dropColumn(t, sampleFile(t, partBSample), "Tot_Srvcs"), "HCPCS_Cd")
			},
			want:   []string{partBSample, `missing required columns "HCPCS_Cd", "Tot_Srvcs"`},
			header: true,
		},
		{
			name: "open payments without Program_Year", load: (*store.Store).LoadOpenPayments, table: "open_payments",
			file: paymentSample,
			content: func(t testing.TB) []byte {
				return []byte(strings.Replace(opHeader, "Program_Year", "Year", 1) + opRow("1", 2024, npiA, "P", "1", "01/01/2024", 1))
			},
			want:   []string{paymentSample, `"Program_Year"`},
			header: true,
		},
		{
			name: "nucc file as open payments", load: (*store.Store).LoadOpenPayments, table: "open_payments",
			file: nuccSample, content: func(t testing.TB) []byte { return sampleFile(t, nuccSample) },
			want:   []string{nuccSample, `has a "Grouping" column`, "(dataset nucc), not an Open Payments file"},
			header: true,
		},
		{
			name: "nucc without Definition", load: (*store.Store).LoadNUCC, table: "nucc_taxonomy",
			file: "nucc_taxonomy_251.csv",
			content: func(t testing.TB) []byte {
				return []byte(strings.Replace(nucc, "Definition,", "", 1) + "101Y00000X,G,C,,,,\n")
			},
			want:   []string{"nucc_taxonomy_251.csv", `"Definition"`},
			header: true,
		},
		{
			name: "part d rejects over the default 1%", load: (*store.Store).LoadPartD, table: "partd_drugs",
			file: "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv",
			content: func(testing.TB) []byte {
				var b strings.Builder
				b.WriteString(partDHeader)
				for i := 0; i < 98; i++ {
					b.WriteString(partDRow(npiB, fmt.Sprint("Drug", i), 20))
				}
				b.WriteString(partDRow("1234567890", "Bad", 20))
				b.WriteString(partDRow(npiB, "Bad", -1))
				return []byte(b.String())
			},
			want: []string{"MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", "2 of 100 rows rejected"},
		},
		{
			name: "part b rejects over the given ratio", load: (*store.Store).LoadPartB, table: "partb_services",
			file: partBSample, content: func(t testing.TB) []byte { return sampleFile(t, partBSample) },
			in:   store.LoadInput{MaxRejectRatio: 0.3},
			want: []string{partBSample, "2 of 6 rows rejected"},
		},
		{
			name: "open payments rejects", load: (*store.Store).LoadOpenPayments, table: "open_payments",
			file: paymentSample, content: func(t testing.TB) []byte { return sampleFile(t, paymentSample) },
			want: []string{paymentSample, "2 of 6 rows rejected"},
		},
		{
			name: "nucc rejects", load: (*store.Store).LoadNUCC, table: "nucc_taxonomy",
			file: nuccSample, content: func(t testing.TB) []byte { return sampleFile(t, nuccSample) },
			want: []string{nuccSample, "2 of 5 rows rejected"},
		},
		{
			name: "part d without data year", load: (*store.Store).LoadPartD, table: "partd_drugs",
			file: "partd.csv", content: func(t testing.TB) []byte { return sampleFile(t, partDSample) },
			want: []string{"partd.csv", "--data-year"}, header: true,
		},
		{
			name: "part b data year contradicting the file name", load: (*store.Store).LoadPartB, table: "partb_services",
			file: partBSample, content: func(t testing.TB) []byte { return sampleFile(t, partBSample) },
			in:   store.LoadInput{DataYear: 2023},
			want: []string{partBSample, "2024", "2023"}, header: true,
		},
		{
			name: "open payments without any valid row or year", load: (*store.Store).LoadOpenPayments, table: "open_payments",
			file: "payments.csv",
			content: func(testing.TB) []byte {
				return []byte(opHeader + opRow("1", 2024, "1234567890", "P", "1", "01/01/2024", 1))
			},
			want: []string{"payments.csv", "--data-year"},
		},
		{
			name: "nucc increment", load: (*store.Store).LoadNUCC, table: "nucc_taxonomy",
			file: nuccSample, content: func(t testing.TB) []byte { return sampleFile(t, nuccSample) },
			in:   store.LoadInput{Mode: store.ModeIncrement},
			want: []string{nuccSample, "only loads whole files"}, header: true,
		},
	}
	// Live data loaded before each refused load.
	seed := []struct {
		load loader
		file string
	}{
		{(*store.Store).LoadNUCC, nuccSample},
		{(*store.Store).LoadPartB, partBSample},
		{(*store.Store).LoadPartD, partDSample},
		{(*store.Store).LoadOpenPayments, paymentSample},
	}
	claimsEach(t, func(t *testing.T, s *store.Store) {
		for _, sd := range seed {
			mustLoad(t, s, sd.load, sd.file, sampleFile(t, sd.file), lenient)
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := dump(t, s, tt.table)
				if len(before) == 0 {
					t.Fatalf("no live data in %s before the load", tt.table)
				}
				r := run(t, s, tt.load, tt.file, tt.content(t), tt.in)
				if r.err == nil {
					t.Fatalf("load succeeded: %+v", r.res)
				}
				if !errs.Is(r.err, errs.CodeInvalid) {
					t.Errorf("error code = %s, want invalid (%v)", errs.CodeOf(r.err), r.err)
				}
				for _, w := range tt.want {
					if !strings.Contains(r.err.Error(), w) {
						t.Errorf("error %q does not name %s", r.err, w)
					}
				}
				if r.finalized != nil {
					t.Errorf("Finalize ran with %+v", *r.finalized)
				}
				if tt.header && (len(r.progress) != 0 || r.rejects != "") {
					t.Errorf("rows were read: progress %v, rejects %q", r.progress, r.rejects)
				}
				if diff := cmp.Diff(before, dump(t, s, tt.table)); diff != "" {
					t.Errorf("live data changed (-before +after):\n%s", diff)
				}
			})
		}
	})
}

// A Finalize error rolls the swap back: the live data stays as it was.
func TestLoadFinalizeFails(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		mustLoad(t, s, (*store.Store).LoadPartD, partDSample, sampleFile(t, partDSample), lenient)
		before := dump(t, s, "partd_drugs")
		boom := errors.New("version row refused")
		_, err := s.LoadPartD(context.Background(), store.LoadInput{
			File: "partd.csv", DataYear: 2024,
			Reader:   strings.NewReader(partDHeader + partDRow(npiA, "Zestril", 500)),
			Finalize: func(tx *db.Tx, res store.LoadResult) error { return boom },
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want the Finalize error", err)
		}
		if diff := cmp.Diff(before, dump(t, s, "partd_drugs")); diff != "" {
			t.Errorf("live data changed (-before +after):\n%s", diff)
		}
	})
}

// Finalize runs in the swap transaction: what it writes commits with the
// data.
func TestLoadFinalizeCommits(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		_, err := s.LoadNUCC(context.Background(), store.LoadInput{
			File:   nuccSample,
			Reader: bytes.NewReader(sampleFile(t, nuccSample)), MaxRejectRatio: 0.5,
			Finalize: func(tx *db.Tx, res store.LoadResult) error {
				_, err := tx.Exec(`INSERT INTO dataset_versions (dataset, source_file, rows_loaded, rows_rejected, started_at, status)
					VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP, 'succeeded')`, string(medsales.NUCC), nuccSample, res.Loaded, res.Rejected)
				return err
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := count(t, s, "SELECT COUNT(*) FROM dataset_versions WHERE dataset = 'nucc' AND rows_loaded = 3 AND rows_rejected = 2"); n != 1 {
			t.Errorf("version rows = %d, want 1", n)
		}
	})
}

// The wrong-file error keeps dataset.ErrWrongFile in its chain.
func TestLoadWrongFileIs(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		_, err := s.LoadNUCC(context.Background(), store.LoadInput{File: partDSample, Reader: bytes.NewReader(sampleFile(t, partDSample))})
		if !errors.Is(err, dataset.ErrWrongFile) {
			t.Errorf("err = %v, want dataset.ErrWrongFile in the chain", err)
		}
		if strings.Count(err.Error(), dataset.ErrWrongFile.Error()) != 1 {
			t.Errorf("err = %q, want %q once", err, dataset.ErrWrongFile)
		}
	})
}
