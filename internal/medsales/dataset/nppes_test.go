package dataset_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/dataset"
)

// nppesHeader returns the exact npidata_pfile header (330 columns).
func nppesHeader(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "nppes_npidata_pfile_header_v2.csv"))
	if err != nil {
		t.Fatal(err)
	}
	cols, err := csv.NewReader(bytes.NewReader(b)).Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != 330 {
		t.Fatalf("header has %d columns", len(cols))
	}
	return cols
}

// nppesLine writes one npidata record with the given values by column
// name, every value quoted as NPPES does.
func nppesLine(t testing.TB, cols []string, vals map[string]string) string {
	t.Helper()
	known := map[string]bool{}
	for _, c := range cols {
		known[c] = true
	}
	for k := range vals {
		if !known[k] {
			t.Fatalf("no column %q", k)
		}
	}
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + strings.ReplaceAll(vals[c], `"`, `""`) + `"`)
	}
	b.WriteByte('\n')
	return b.String()
}

func quotedHeader(cols []string) string {
	return `"` + strings.Join(cols, `","`) + `"` + "\n"
}

type nppesReject struct {
	Line   int
	Reason string
}

type nppesRow struct {
	Line        int
	Provider    medsales.Provider
	Taxonomies  []medsales.ProviderTaxonomy
	Identifiers []medsales.OtherIdentifier
	ZIP5        string
}

func readNPPES(t *testing.T, name string, in []byte) ([]nppesRow, []nppesReject, int, error) {
	t.Helper()
	var rejects []nppesReject
	r, err := dataset.NewNPPESReader(bytes.NewReader(in), name, func(line int, reason string) {
		rejects = append(rejects, nppesReject{line, reason})
	})
	if err != nil {
		return nil, nil, 0, err
	}
	var rows []nppesRow
	for r.Next() {
		rec := r.Record()
		rows = append(rows, nppesRow{Line: r.Line(), Provider: rec.Provider(), Taxonomies: rec.ProviderTaxonomies(),
			Identifiers: rec.OtherIdentifiers(), ZIP5: string(rec.PracticeZIP5)})
	}
	return rows, rejects, r.Columns(), r.Err()
}

func testdataFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func datep(y int, m time.Month, d int) *medsales.Date {
	return medsales.DatePtr(time.Date(y, m, d, 0, 0, 0, 0, time.UTC))
}

// The four providers of npidata_pfile_20050523-20260810_sample.csv.
var (
	sampleJane = nppesRow{
		Line: 2,
		Provider: medsales.Provider{
			NPI: "1234567893", EntityType: 1, LastName: "SMITH", FirstName: "JANE", MiddleName: "Q", NamePrefix: "DR.", Credential: "M.D.",
			Sex:             "F",
			MailingAddress:  medsales.Address{Line1: "PO BOX 1000", City: "JACKSONVILLE", State: "FL", PostalCode: "322010000", Country: "US", Phone: "9045550100", Fax: "9045550101"},
			PracticeAddress: medsales.Address{Line1: "123 North Main Street", Line2: "Suite #200", City: "Jacksonville", State: "FL", PostalCode: "322044736", Country: "US", Phone: "9045550199"},
			EnumerationDate: datep(2005, 5, 23), LastUpdateDate: datep(2020, 7, 8), CertificationDate: datep(2024, 1, 15),
			SoleProprietor: "N", PrimaryTaxonomy: "207R00000X",
		},
		Taxonomies: []medsales.ProviderTaxonomy{
			{Slot: 1, Code: "207Q00000X", License: "ME12345", LicenseState: "FL"},
			{Slot: 2, Code: "207R00000X", License: "ME99999", LicenseState: "GA", Primary: true},
		},
		Identifiers: []medsales.OtherIdentifier{{Slot: 1, Identifier: "0123456", TypeCode: "05", State: "FL", Issuer: "MEDICAID"}},
		ZIP5:        "32204",
	}
	sampleOrg = nppesRow{
		Line: 3,
		Provider: medsales.Provider{
			NPI: "1245319599", EntityType: 2, OrganizationName: "ACME HEALTH, LLC",
			OtherOrganizationName: "ACME CLINIC", OtherOrganizationNameType: "3",
			MailingAddress:      medsales.Address{Line1: "1 PARK AVE", City: "NEW YORK", State: "NY", PostalCode: "10016", Country: "US", Phone: "2125550100"},
			PracticeAddress:     medsales.Address{Line1: "1 Park Avenue", Line2: "Floor 3", City: "New York", State: "NY", PostalCode: "100165802", Country: "US", Phone: "2125550100"},
			EnumerationDate:     datep(2006, 11, 2),
			LastUpdateDate:      datep(2025, 3, 4),
			AuthorizedOfficial:  &medsales.AuthorizedOfficial{LastName: "DOE", FirstName: "JOHN", Title: "CEO", Phone: "2125550123", Credential: "MBA"},
			OrganizationSubpart: "N", PrimaryTaxonomy: "261QM0801X",
		},
		Taxonomies: []medsales.ProviderTaxonomy{{Slot: 1, Code: "261QM0801X", Primary: true, Group: "193200000X SINGLE SPECIALTY GROUP"}},
		ZIP5:       "10016",
	}
	sampleDeactivated = nppesRow{
		Line:     4,
		Provider: medsales.Provider{NPI: "1003000126", DeactivationDate: datep(2019, 6, 1)},
	}
	sampleBob = nppesRow{
		Line: 5,
		Provider: medsales.Provider{
			NPI: "1987654328", EntityType: 1, LastName: "O'BRIEN", FirstName: "ROBERT", Credential: "NP", Sex: "M",
			MailingAddress:  medsales.Address{Line1: "55 ELM ST", City: "AUSTIN", State: "TX", PostalCode: "78701", Country: "US", Phone: "5125550100"},
			PracticeAddress: medsales.Address{Line1: "55 ELM ST", City: "AUSTIN", State: "TX", PostalCode: "78701", Country: "US", Phone: "5125550100"},
			EnumerationDate: datep(2010, 1, 2), LastUpdateDate: datep(2010, 1, 2), SoleProprietor: "Y", PrimaryTaxonomy: "363LF0000X",
		},
		Taxonomies: []medsales.ProviderTaxonomy{{Slot: 1, Code: "363LF0000X", License: "NP1", LicenseState: "TX", Primary: true}},
		Identifiers: []medsales.OtherIdentifier{
			{Slot: 1, Identifier: "A1", TypeCode: "01", State: "TX", Issuer: "BCBS"},
			{Slot: 2, Identifier: "B2", TypeCode: "05", State: "TX"},
		},
		ZIP5: "78701",
	}
)

func TestNPPESReaderLayouts(t *testing.T) {
	oldJane, oldOrg := sampleJane, sampleOrg
	oldJane.Provider.CertificationDate = nil // no Certification Date before 2025
	tests := []struct {
		file    string
		columns int
		want    []nppesRow
	}{
		// Current layout: 330 columns, Provider Sex Code, Certification
		// Date; the primary taxonomy of the first provider is in slot 2; the
		// organization's EIN is <UNAVAIL>; the third NPI is deactivated.
		{"npidata_pfile_20050523-20260810_sample.csv", 330, []nppesRow{sampleJane, sampleOrg, sampleDeactivated, sampleBob}},
		// Old layout: 329 columns, Provider Gender Code.
		{"npidata_pfile_20050523-20241013_old_layout.csv", 329, []nppesRow{oldJane, oldOrg}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rows, rejects, columns, err := readNPPES(t, tt.file, testdataFile(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if columns != tt.columns {
				t.Errorf("Columns() = %d, want %d", columns, tt.columns)
			}
			if len(rejects) != 0 {
				t.Errorf("rejects: %v", rejects)
			}
			if diff := cmp.Diff(tt.want, rows); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNPPESReaderRejects(t *testing.T) {
	cols := nppesHeader(t)
	ok := map[string]string{"NPI": "1234567893", "Entity Type Code": "1", "Provider Last Name (Legal Name)": "A", "Provider Enumeration Date": "01/02/2003"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range ok {
			m[a] = b
		}
		m[k] = v
		return m
	}
	in := quotedHeader(cols) +
		nppesLine(t, cols, ok) + // line 2
		nppesLine(t, cols, with("NPI", "1234567890")) + // 3: check digit
		nppesLine(t, cols, with("NPI", "")) + // 4
		`"1234567893","1"` + "\n" + // 5: field count
		nppesLine(t, cols, with("Provider Enumeration Date", "2003/01/02")) + // 6
		nppesLine(t, cols, with("Entity Type Code", "3")) + // 7
		nppesLine(t, cols, with("Entity Type Code", "")) + // 8: not deactivated
		nppesLine(t, cols, with("Replacement NPI", "123")) + // 9
		nppesLine(t, cols, with("Provider Last Name (Legal Name)", "BAD\xffUTF8")) + // 10
		nppesLine(t, cols, with("NPI Reactivation Date", "02/30/2020")) + // 11
		nppesLine(t, cols, with("Provider First Name", "multi\nline")) + // 12-13: fine
		nppesLine(t, cols, with("Provider Sex Code", "Q")) + // 14
		nppesLine(t, cols, with("Is Sole Proprietor", "Z")) + // 15
		nppesLine(t, cols, with("Is Organization Subpart", "YES")) // 16
	rows, rejects, _, err := readNPPES(t, "npidata_pfile_bad.csv", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []nppesReject{
		{3, `NPI "1234567890" fails the check digit (want 3)`},
		{4, "NPI is empty"},
		{5, "has 2 fields, the header has 330"},
		{6, `Provider Enumeration Date: date "2003/01/02" is not MM/DD/YYYY or YYYY-MM-DD`},
		{7, `Entity Type Code "3" is not 1 or 2`},
		{8, "Entity Type Code is empty"},
		{9, `Replacement NPI: NPI "123" does not have 10 digits`},
		{10, "Provider Last Name (Legal Name): invalid UTF-8 bytes"},
		{11, `NPI Reactivation Date: date "02/30/2020" does not exist (day 30 of month 2)`},
		{14, `Provider Sex Code "Q" is not M, F or X`},
		{15, `Is Sole Proprietor "Z" is not X, Y or N`},
		{16, `Is Organization Subpart "YES" is not X, Y or N`},
	}
	if diff := cmp.Diff(want, rejects); diff != "" {
		t.Errorf("rejects (-want +got):\n%s", diff)
	}
	if len(rows) != 2 || rows[0].Line != 2 || rows[1].Line != 12 || rows[1].Provider.FirstName != "multi\nline" {
		t.Errorf("rows = %+v", rows)
	}
}

// TestNPPESReaderValues: values are trimmed of spaces and tabs (blank is
// absent), and when a file marks two taxonomy slots primary only the first
// is. (Tabs were kept: a first name "\tTABBY\t" was served so, and a sex
// code "\tF" refused.)
func TestNPPESReaderValues(t *testing.T) {
	cols := nppesHeader(t)
	in := quotedHeader(cols) + nppesLine(t, cols, map[string]string{
		"NPI": "1234567893", "Entity Type Code": "1", "Provider Last Name (Legal Name)": "  PADDED  ",
		"Provider First Name": "\tTABBY\t", "Provider Middle Name": " \t ", "Provider Sex Code": "\tF ",
		"Healthcare Provider Taxonomy Code_1": "207Q00000X", "Healthcare Provider Primary Taxonomy Switch_1": "N",
		"Healthcare Provider Taxonomy Code_2": "208D00000X", "Healthcare Provider Primary Taxonomy Switch_2": "Y",
		"Healthcare Provider Taxonomy Code_3": "363L00000X", "Healthcare Provider Primary Taxonomy Switch_3": "Y",
	})
	rows, rejects, _, err := readNPPES(t, "npidata_pfile_values.csv", []byte(in))
	if err != nil || len(rejects) != 0 || len(rows) != 1 {
		t.Fatalf("rows %+v, rejects %+v, err %v", rows, rejects, err)
	}
	p := rows[0].Provider
	if p.LastName != "PADDED" || p.FirstName != "TABBY" || p.MiddleName != "" || p.Sex != "F" || p.PrimaryTaxonomy != "208D00000X" {
		t.Errorf("provider = last %q, first %q, middle %q, sex %q, primary %q; want PADDED, TABBY, absent, F, 208D00000X", p.LastName, p.FirstName, p.MiddleName, p.Sex, p.PrimaryTaxonomy)
	}
	var primary []int
	for _, tx := range rows[0].Taxonomies {
		if tx.Primary {
			primary = append(primary, tx.Slot)
		}
	}
	if len(rows[0].Taxonomies) != 3 || len(primary) != 1 || primary[0] != 2 {
		t.Errorf("taxonomies %+v: primary slots %v, want [2]", rows[0].Taxonomies, primary)
	}
}

// TestNPPESReaderTrimsDates: dates are NPPES values like the others,
// trimmed first: a padded date is that date, and a date of spaces only is
// absent (a deactivation date of spaces does not reject the row).
func TestNPPESReaderTrimsDates(t *testing.T) {
	cols := nppesHeader(t)
	in := quotedHeader(cols) + nppesLine(t, cols, map[string]string{
		"NPI": "1234567893", "Entity Type Code": "1", "Provider Last Name (Legal Name)": "PADDED",
		"Provider Enumeration Date": " 05/23/2005 ", "Last Update Date": "2020-07-08  ",
		"NPI Deactivation Date": "   ", "NPI Reactivation Date": " ",
	})
	rows, rejects, _, err := readNPPES(t, "npidata_pfile_dates.csv", []byte(in))
	if err != nil || len(rejects) != 0 || len(rows) != 1 {
		t.Fatalf("rows %+v, rejects %+v, err %v", rows, rejects, err)
	}
	p := rows[0].Provider
	if diff := cmp.Diff([]*medsales.Date{datep(2005, 5, 23), datep(2020, 7, 8), nil, nil},
		[]*medsales.Date{p.EnumerationDate, p.LastUpdateDate, p.DeactivationDate, p.ReactivationDate}); diff != "" {
		t.Errorf("enumeration, last update, deactivation, reactivation dates (-want +got):\n%s", diff)
	}
}

// TestNPPESReaderPrimaryWithoutSwitch: a provider with a single taxonomy
// whose switch is not Y (N, or X "not answered") has that taxonomy as its
// primary one, the slot's own flag unchanged; with several and none at Y
// there is none.
func TestNPPESReaderPrimaryWithoutSwitch(t *testing.T) {
	cols := nppesHeader(t)
	in := quotedHeader(cols) + nppesLine(t, cols, map[string]string{
		"NPI": "1234567893", "Entity Type Code": "1", "Provider Last Name (Legal Name)": "ONE",
		"Healthcare Provider Taxonomy Code_1": "207Q00000X", "Healthcare Provider Primary Taxonomy Switch_1": "X",
	}) + nppesLine(t, cols, map[string]string{
		"NPI": "1245319599", "Entity Type Code": "1", "Provider Last Name (Legal Name)": "TWO",
		"Healthcare Provider Taxonomy Code_1": "207Q00000X", "Healthcare Provider Primary Taxonomy Switch_1": "N",
		"Healthcare Provider Taxonomy Code_2": "208D00000X", "Healthcare Provider Primary Taxonomy Switch_2": "N",
	})
	rows, rejects, _, err := readNPPES(t, "npidata_pfile_switch.csv", []byte(in))
	if err != nil || len(rejects) != 0 || len(rows) != 2 {
		t.Fatalf("rows %+v, rejects %+v, err %v", rows, rejects, err)
	}
	if p, tx := rows[0].Provider, rows[0].Taxonomies; p.PrimaryTaxonomy != "207Q00000X" || len(tx) != 1 || tx[0].Primary {
		t.Errorf("single taxonomy, switch X: primary %q, taxonomies %+v; want 207Q00000X, its flag false", p.PrimaryTaxonomy, tx)
	}
	if p := rows[1].Provider; p.PrimaryTaxonomy != "" {
		t.Errorf("two taxonomies, none at Y: primary %q, want none", p.PrimaryTaxonomy)
	}
}

func TestNPPESReaderMissingColumns(t *testing.T) {
	cols := nppesHeader(t)
	var kept []string
	for _, c := range cols {
		if c != "Entity Type Code" && c != "Healthcare Provider Primary Taxonomy Switch_7" {
			kept = append(kept, c)
		}
	}
	in := quotedHeader(kept) + `"1234567893"` + "\n"
	_, _, _, err := readNPPES(t, "npidata_pfile_x.csv", []byte(in))
	want := `npidata_pfile_x.csv: missing required columns "Entity Type Code", "Healthcare Provider Primary Taxonomy Switch_7" (header has 328 columns): the publisher may have renamed or dropped them`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
	if !errors.Is(err, dataset.ErrWrongFile) { // nothing can be loaded from it either
		t.Error("error does not wrap ErrWrongFile")
	}
	// A file of another dataset is refused as the file it is.
	_, _, _, err = readNPPES(t, "pl_pfile.csv", testdataFile(t, "pl_pfile_20050523-20260810_sample.csv"))
	if err == nil || !strings.Contains(err.Error(), `pl_pfile.csv: has a "Provider Secondary Practice Location Address- Address Line 1" column: a pl_pfile`) {
		t.Errorf("pl_pfile as npidata: %v", err)
	}
}

func TestLocationReader(t *testing.T) {
	var rejects []nppesReject
	in := string(testdataFile(t, "pl_pfile_20050523-20260810_sample.csv")) + `"1234567890","1 A ST","","X","FL","32204","US","","",""` + "\n"
	r, err := dataset.NewLocationReader(strings.NewReader(in), "pl.csv", func(line int, reason string) {
		rejects = append(rejects, nppesReject{line, reason})
	})
	if err != nil {
		t.Fatal(err)
	}
	type loc struct {
		NPI  string
		Loc  medsales.PracticeLocation
		ZIP5 string
	}
	var got []loc
	for r.Next() {
		rec := r.Record()
		got = append(got, loc{string(rec.NPI), rec.Location(int64(r.Line())), string(rec.ZIP5)})
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	want := []loc{
		{"1234567893", medsales.PracticeLocation{Seq: 2, Address: medsales.Address{Line1: "200 BAY ST", City: "JACKSONVILLE", State: "FL", PostalCode: "322021234", Country: "US", Phone: "9045550200"}, PhoneExtension: "12"}, "32202"},
		// Address Line 2 comes from the double-space header column.
		{"1234567893", medsales.PracticeLocation{Seq: 3, Address: medsales.Address{Line1: "300 RIVER RD", Line2: "BLDG B", City: "ORANGE PARK", State: "FL", PostalCode: "32073", Country: "US", Fax: "9045550300"}}, "32073"},
		{"1245319599", medsales.PracticeLocation{Seq: 4, Address: medsales.Address{Line1: "10 RUE DE RIVOLI", City: "PARIS", PostalCode: "75001", Country: "FR"}}, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("locations (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]nppesReject{{5, `NPI "1234567890" fails the check digit (want 3)`}}, rejects); diff != "" {
		t.Errorf("rejects (-want +got):\n%s", diff)
	}
	// The header without its double space (or with a single space before
	// the hyphen) is the same column.
	alt := strings.Replace(in, "Address-  Address Line 2", "Address - Address Line 2", 1)
	r, err = dataset.NewLocationReader(strings.NewReader(alt), "pl.csv", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Next()
	r.Next()
	if got := string(r.Record().Address.Line2); got != "BLDG B" {
		t.Errorf("line 2 with the other spelling = %q", got)
	}
	// A pl_pfile without its city column is refused.
	bad := strings.Replace(in, "Provider Secondary Practice Location Address - City Name", "City", 1)
	if _, err := dataset.NewLocationReader(strings.NewReader(bad), "pl.csv", nil); err == nil ||
		!strings.Contains(err.Error(), `pl.csv: missing required column "Provider Secondary Practice Location Address - City Name"`) {
		t.Errorf("missing city: %v", err)
	}
}

func TestOtherNameAndEndpointReaders(t *testing.T) {
	var rejects []nppesReject
	rej := func(line int, reason string) { rejects = append(rejects, nppesReject{line, reason}) }
	in := string(testdataFile(t, "othername_pfile_20050523-20260810_sample.csv")) + `"1245319599","","3"` + "\n"
	on, err := dataset.NewOtherNameReader(strings.NewReader(in), "othername.csv", rej)
	if err != nil {
		t.Fatal(err)
	}
	var names []medsales.OtherName
	for on.Next() {
		if string(on.Record().NPI) != "1245319599" {
			t.Errorf("NPI = %s", on.Record().NPI)
		}
		names = append(names, on.Record().OtherName(int64(on.Line())))
	}
	if on.Err() != nil {
		t.Fatal(on.Err())
	}
	if diff := cmp.Diff([]medsales.OtherName{{Seq: 2, Name: "ACME CLINIC", TypeCode: "3"}, {Seq: 3, Name: `ACME "EAST" CARE`, TypeCode: "5"}}, names); diff != "" {
		t.Errorf("other names (-want +got):\n%s", diff)
	}

	ep, err := dataset.NewEndpointReader(bytes.NewReader(testdataFile(t, "endpoint_pfile_20050523-20260810_sample.csv")), "endpoint.csv", rej)
	if err != nil {
		t.Fatal(err)
	}
	var eps []medsales.Endpoint
	for ep.Next() {
		eps = append(eps, ep.Record().Endpoint(int64(ep.Line())))
	}
	if ep.Err() != nil {
		t.Fatal(ep.Err())
	}
	want := []medsales.Endpoint{
		{Seq: 2, Type: "DIRECT", TypeDescription: "Direct Messaging Address", Endpoint: "jane.smith@direct.example.org", Affiliation: "N",
			UseCode: "HIE", UseDescription: "Health Information Exchange (HIE)", ContentType: "CSV", ContentDescription: "CSV"},
		{Seq: 3, Type: "FHIR", TypeDescription: "FHIR URL", Endpoint: "https://fhir.acme.example.org/r4", Affiliation: "Y",
			Description: "Patient access", AffiliationLegalName: "ACME HEALTH, LLC", UseCode: "OTHER", UseDescription: "Other",
			OtherUseDescription: "Patient access API",
			AffiliationAddress:  medsales.Address{Line1: "1 PARK AVE", City: "NEW YORK", State: "NY", Country: "US", PostalCode: "10016"}},
	}
	if diff := cmp.Diff(want, eps); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]nppesReject{{4, "Provider Other Organization Name is empty"}}, rejects); diff != "" {
		t.Errorf("rejects (-want +got):\n%s", diff)
	}
}

// TestCompanionReadersTrimValues: the companion files are NPPES files, and
// their values are trimmed as the npidata ones are: "  X  " is X, and a
// value of spaces only is absent, so an other name or an endpoint of
// spaces only rejects its row like an empty one.
func TestCompanionReadersTrimValues(t *testing.T) {
	var rejects []nppesReject
	rej := func(line int, reason string) { rejects = append(rejects, nppesReject{line, reason}) }

	pl := `"NPI","Provider Secondary Practice Location Address- Address Line 1","Provider Secondary Practice Location Address-  Address Line 2","Provider Secondary Practice Location Address - City Name","Provider Secondary Practice Location Address - State Name","Provider Secondary Practice Location Address - Postal Code","Provider Secondary Practice Location Address - Country Code (If outside U.S.)","Provider Secondary Practice Location Address - Telephone Number","Provider Secondary Practice Location Address - Telephone Extension","Provider Practice Location Address - Fax Number"` + "\n" +
		`" 1234567893 ","  200 BAY ST ","   ","JACKSONVILLE ","FL"," 322021234","US "," ","",""` + "\n"
	lr, err := dataset.NewLocationReader(strings.NewReader(pl), "pl.csv", rej)
	if err != nil {
		t.Fatal(err)
	}
	var locs []medsales.PracticeLocation
	var zips []string
	for lr.Next() {
		if got := string(lr.Record().NPI); got != "1234567893" {
			t.Errorf("location NPI = %q, want 1234567893", got)
		}
		locs = append(locs, lr.Record().Location(int64(lr.Line())))
		zips = append(zips, string(lr.Record().ZIP5))
	}
	if lr.Err() != nil {
		t.Fatal(lr.Err())
	}
	wantLoc := []medsales.PracticeLocation{{Seq: 2, Address: medsales.Address{Line1: "200 BAY ST", City: "JACKSONVILLE", State: "FL", PostalCode: "322021234", Country: "US"}}}
	if diff := cmp.Diff(wantLoc, locs); diff != "" {
		t.Errorf("locations (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"32202"}, zips); diff != "" {
		t.Errorf("ZIP5 (-want +got):\n%s", diff)
	}

	on := `"NPI","Provider Other Organization Name","Provider Other Organization Name Type Code"` + "\n" +
		`"1245319599","  ACME CLINIC  "," 3 "` + "\n" +
		`"1245319599"," ` + "\t" + ` ","5"` + "\n"
	onr, err := dataset.NewOtherNameReader(strings.NewReader(on), "othername.csv", rej)
	if err != nil {
		t.Fatal(err)
	}
	var names []medsales.OtherName
	for onr.Next() {
		names = append(names, onr.Record().OtherName(int64(onr.Line())))
	}
	if onr.Err() != nil {
		t.Fatal(onr.Err())
	}
	if diff := cmp.Diff([]medsales.OtherName{{Seq: 2, Name: "ACME CLINIC", TypeCode: "3"}}, names); diff != "" {
		t.Errorf("other names (-want +got):\n%s", diff)
	}

	hdr, _, _ := strings.Cut(string(testdataFile(t, "endpoint_pfile_20050523-20260810_sample.csv")), "\n")
	ep := hdr + "\n" +
		`"1234567893"," DIRECT ","","  jane.smith@direct.example.org ","N","","","","","","","","","","","","","",""` + "\n" +
		`"1234567893","DIRECT","","` + "\t" + `","N","","","","","","","","","","","","","",""` + "\n"
	epr, err := dataset.NewEndpointReader(strings.NewReader(ep), "endpoint.csv", rej)
	if err != nil {
		t.Fatal(err)
	}
	var eps []medsales.Endpoint
	for epr.Next() {
		eps = append(eps, epr.Record().Endpoint(int64(epr.Line())))
	}
	if epr.Err() != nil {
		t.Fatal(epr.Err())
	}
	if diff := cmp.Diff([]medsales.Endpoint{{Seq: 2, Type: "DIRECT", Endpoint: "jane.smith@direct.example.org", Affiliation: "N"}}, eps); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
	want := []nppesReject{{3, "Provider Other Organization Name is empty"}, {3, "Endpoint is empty"}}
	if diff := cmp.Diff(want, rejects); diff != "" {
		t.Errorf("rejects (-want +got):\n%s", diff)
	}
}

func TestZIP5(t *testing.T) {
	tests := []struct{ postal, country, want string }{
		{"322044736", "US", "32204"},
		{"32204-4736", "", "32204"},
		{"02110", "us", "02110"},
		{"1234", "US", ""},
		{"75001", "FR", ""},
		{"K1A0B1", "", ""},
	}
	for _, tt := range tests {
		if got := string(dataset.ZIP5([]byte(tt.postal), []byte(tt.country))); got != tt.want {
			t.Errorf("ZIP5(%q, %q) = %q, want %q", tt.postal, tt.country, got, tt.want)
		}
	}
}

// BenchmarkNPPESReader parses NPPES-shaped rows through NPPESReader.
func BenchmarkNPPESReader(b *testing.B) {
	cols := nppesHeader(b)
	var buf bytes.Buffer
	buf.WriteString(quotedHeader(cols))
	row := nppesLine(b, cols, map[string]string{
		"NPI": "1234567893", "Entity Type Code": "1", "Provider Last Name (Legal Name)": "SMITH", "Provider First Name": "JANE",
		"Provider Credential Text": "M.D.", "Provider First Line Business Mailing Address": "PO BOX 1000",
		"Provider Business Mailing Address City Name": "JACKSONVILLE", "Provider Business Mailing Address State Name": "FL",
		"Provider Business Mailing Address Postal Code": "322010000", "Provider First Line Business Practice Location Address": "123 MAIN ST",
		"Provider Business Practice Location Address City Name": "JACKSONVILLE", "Provider Business Practice Location Address State Name": "FL",
		"Provider Business Practice Location Address Postal Code": "322044736", "Provider Enumeration Date": "05/23/2005",
		"Last Update Date": "07/08/2020", "Provider Sex Code": "F", "Healthcare Provider Taxonomy Code_1": "207Q00000X",
		"Provider License Number_1": "ME12345", "Provider License Number State Code_1": "FL", "Healthcare Provider Primary Taxonomy Switch_1": "Y",
		"Other Provider Identifier_1": "0123456", "Other Provider Identifier Type Code_1": "05", "Is Sole Proprietor": "N",
	})
	for range 2000 {
		buf.WriteString(row)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := dataset.NewNPPESReader(bytes.NewReader(data), "bench.csv", func(line int, reason string) { b.Fatal(line, reason) })
		if err != nil {
			b.Fatal(err)
		}
		for r.Next() {
		}
		if r.Err() != nil {
			b.Fatal(r.Err())
		}
	}
}

// TestOtherNameReaderRefusesNPIDataFile: the main npidata_pfile has the
// three columns of othername_pfile (NPI, Provider Other Organization Name
// and its type code) among its 330, so it passed the header check as an
// other-names file and was read to the end, every row without an other
// name rejected, before failing on the reject threshold (or replacing the
// other names with it when the threshold allowed). It is refused on its
// header as the wrong file, as a county gazetteer is for zcta.
func TestOtherNameReaderRefusesNPIDataFile(t *testing.T) {
	file := "npidata_pfile_20050523-20260810.csv"
	_, err := dataset.NewOtherNameReader(bytes.NewReader(testdataFile(t, "npidata_pfile_20050523-20260810_sample.csv")), file, nil)
	if err == nil {
		t.Fatal("the npidata_pfile was accepted as an othername_pfile")
	}
	if !errors.Is(err, dataset.ErrWrongFile) {
		t.Errorf("error does not wrap ErrWrongFile: %v", err)
	}
	if !strings.HasPrefix(err.Error(), file+": ") || !strings.Contains(err.Error(), "the main NPPES file") {
		t.Errorf("error = %q, want it to name the file and say it is the main NPPES file", err)
	}
}

// TestNPPESReaderUnavailableTIN: <UNAVAIL> is NPPES's placeholder for a
// withheld tax number, in Parent Organization TIN as in EIN: neither is
// stored as if it were the number. The parent TIN was kept as "<UNAVAIL>".
func TestNPPESReaderUnavailableTIN(t *testing.T) {
	cols := nppesHeader(t)
	org := map[string]string{"NPI": "1234567893", "Entity Type Code": "2", "Provider Organization Name (Legal Business Name)": "Clinic",
		"Provider Enumeration Date": "01/02/2003", "Employer Identification Number (EIN)": "<UNAVAIL>",
		"Parent Organization LBN": "Health System", "Parent Organization TIN": "<UNAVAIL>"}
	rows, rejects, _, err := readNPPES(t, "npidata_pfile_20050523-20260810.csv", []byte(quotedHeader(cols)+nppesLine(t, cols, org)))
	if err != nil || len(rejects) != 0 || len(rows) != 1 {
		t.Fatalf("read: %v, rejects %v, %d rows", err, rejects, len(rows))
	}
	if p := rows[0].Provider; p.EIN != "" || p.ParentOrgTIN != "" || p.ParentOrgLBN != "Health System" {
		t.Errorf("EIN %q, parent TIN %q, parent LBN %q; want the two numbers empty and the name kept", p.EIN, p.ParentOrgTIN, p.ParentOrgLBN)
	}
}

// TestNPPESReadersNameTheWrongNPPESFile: an NPPES file given for another
// NPPES dataset is refused on its header as the file it is (a pl_pfile
// given as the othername_pfile: "a pl_pfile …, not an othername_pfile"),
// as the main file given as the othername_pfile already was. Every NPPES
// file has an NPI column: a pl_pfile lacked only the othername_pfile's
// other name, which read as a layout the publisher may have changed, and
// the other pairs were "wrong file for the dataset" without saying which.
func TestNPPESReadersNameTheWrongNPPESFile(t *testing.T) {
	const (
		main      = "npidata_pfile_20050523-20260810_sample.csv"
		locations = "pl_pfile_20050523-20260810_sample.csv"
		names     = "othername_pfile_20050523-20260810_sample.csv"
		endpoints = "endpoint_pfile_20050523-20260810_sample.csv"
	)
	open := map[string]func(r io.Reader, file string) error{
		main: func(r io.Reader, file string) error { _, err := dataset.NewNPPESReader(r, file, nil); return err },
		locations: func(r io.Reader, file string) error {
			_, err := dataset.NewLocationReader(r, file, nil)
			return err
		},
		names: func(r io.Reader, file string) error {
			_, err := dataset.NewOtherNameReader(r, file, nil)
			return err
		},
		endpoints: func(r io.Reader, file string) error {
			_, err := dataset.NewEndpointReader(r, file, nil)
			return err
		},
	}
	is := map[string]string{
		main:      "the main NPPES file (npidata_pfile)",
		locations: "a pl_pfile (secondary practice locations, dataset nppes-locations)",
		names:     "an othername_pfile (dataset nppes-othernames)",
		endpoints: "an endpoint_pfile (dataset nppes-endpoints)",
	}
	short := map[string]string{main: "the main NPPES file (npidata_pfile)", locations: "a pl_pfile", names: "an othername_pfile", endpoints: "an endpoint_pfile"}
	for _, file := range []string{main, locations, names, endpoints} {
		for _, reader := range []string{main, locations, names, endpoints} {
			if file == reader {
				continue
			}
			t.Run(file+" as "+reader, func(t *testing.T) {
				err := open[reader](bytes.NewReader(testdataFile(t, file)), file)
				if !errors.Is(err, dataset.ErrWrongFile) {
					t.Fatalf("err = %v, want ErrWrongFile", err)
				}
				want := is[file] + ", not " + short[reader] + ": wrong file for the dataset"
				if !strings.HasPrefix(err.Error(), file+": has a") || !strings.HasSuffix(err.Error(), want) {
					t.Errorf("err = %q\nwant it to end %q", err, want)
				}
			})
		}
	}
	// The main file of a layout that renamed a column or two is still the
	// main file: it has the other names' columns, and an Entity Type Code.
	cols := nppesHeader(t)
	renamed := strings.Replace(quotedHeader(cols), `"Provider First Name"`, `"Provider Given Name"`, 1)
	if err := open[main](strings.NewReader(renamed), main); err == nil || errors.Is(err, dataset.ErrWrongFile) && strings.Contains(err.Error(), "othername") {
		t.Errorf("renamed main file: %v, want a layout error naming the missing column", err)
	}
}
