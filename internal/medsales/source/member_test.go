package source_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/source"
)

// sized returns a member of n bytes (a CSV-ish header and filler), so tests
// can say which member is the largest.
func sized(name string, n int) member {
	data := []byte(strings.Repeat("x", n))
	copy(data, "h\n")
	return member{name: name, data: data}
}

// Each dataset reads the member named like its own file, whatever the
// sizes: the QA archive held every CMS, NUCC and Census file, and partd
// used to read the largest, OP_DTL_GNRL.
func TestOpenZipMemberByDataset(t *testing.T) {
	var (
		partd = sized("MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", 4000)
		partb = sized("MUP_PHY_R26_P05_V10_D24_Prov_Svc.csv", 3000)
		op    = sized("OP_DTL_GNRL_PGYR2024_P01232026.csv", 9000)
		nucc  = sized("nucc_taxonomy_251.csv", 500)
		zcta  = sized("2024_Gaz_zcta_national.txt", 2000)
	)
	cms := buildZip(t, partd, partb, op, nucc, zcta)
	tests := []struct {
		name    string
		zip     []byte
		dataset medsales.Dataset
		want    member
	}{
		{name: "partd among every dataset", zip: cms, dataset: medsales.PartD, want: partd},
		{name: "partb among every dataset", zip: cms, dataset: medsales.PartB, want: partb},
		{name: "openpayments among every dataset", zip: cms, dataset: medsales.OpenPayments, want: op},
		{name: "nucc among every dataset", zip: cms, dataset: medsales.NUCC, want: nucc},
		{name: "zcta among every dataset", zip: cms, dataset: medsales.ZCTA, want: zcta},
		{name: "nppes over its fileheader and the larger pl_pfile", zip: buildZip(t, readme, fileheader, pfile, plpfile),
			dataset: medsales.NPPES, want: pfile},
		{name: "nppes-locations from the monthly archive", zip: buildZip(t, readme, fileheader, pfile, plpfile),
			dataset: medsales.NPPESLocations, want: plpfile},
		{name: "partd by provider and drug, not the larger by-provider summary",
			zip:     buildZip(t, sized("MUP_DPR_RY26_P04_V10_DY24_NPI.csv", 8000), sized("MUP_DPR_RY26_P04_V10_DY24_Geo.csv", 9000), partd),
			dataset: medsales.PartD, want: partd},
		{name: "open payments general, not research or the readme",
			zip:     buildZip(t, sized("OP_DTL_RSRCH_PGYR2024_P01232026.csv", 9000), sized("OP_PGYR2024_README_P01232026.txt", 9500), op),
			dataset: medsales.OpenPayments, want: op},
		{name: "names in another case, in a folder", zip: buildZip(t, readme, sized("cms/mup_dpr_ry26_p04_v10_dy24_npibn.CSV", 10), op),
			dataset: medsales.PartD, want: sized("mup_dpr_ry26_p04_v10_dy24_npibn.CSV", 10)},
		{name: "several members match: the largest",
			zip:     buildZip(t, sized("MUP_DPR_RY26_P04_V10_DY24_NPIBN_sample.csv", 100), partd, sized("MUP_DPR_RY25_P04_V10_DY23_NPIBN.csv", 3999)),
			dataset: medsales.PartD, want: partd},
		{name: "no member matches, one renamed csv: read", zip: buildZip(t, readme, sized("prescribers-2024.csv", 700)),
			dataset: medsales.PartD, want: sized("prescribers-2024.csv", 700)},
		{name: "no member matches, one csv beside a fileheader and a txt", zip: buildZip(t, fileheader, sized("providers.csv", 700), sized("notes.txt", 5)),
			dataset: medsales.NPPES, want: sized("providers.csv", 700)},
		// Archives made on macOS carry an AppleDouble file (resource fork,
		// extended attributes) for every file, named ._<name> under
		// __MACOSX/: never a dataset's file, however large.
		{name: "renamed csv beside its macOS resource fork",
			zip:     buildZip(t, sized("prescribers.csv", 700), member{name: "__MACOSX/", store: true}, sized("__MACOSX/._prescribers.csv", 4096)),
			dataset: medsales.PartD, want: sized("prescribers.csv", 700)},
		{name: "csv in a folder beside its macOS resource fork",
			zip:     buildZip(t, sized("2024/services.csv", 700), sized("__MACOSX/2024/._services.csv", 4096)),
			dataset: medsales.PartB, want: sized("services.csv", 700)},
		{name: "dataset's file beside its larger macOS resource fork",
			zip:     buildZip(t, sized("__MACOSX/._2024_Gaz_zcta_national.txt", 4096), sized("2024_Gaz_zcta_national.txt", 300)),
			dataset: medsales.ZCTA, want: sized("2024_Gaz_zcta_national.txt", 300)},
		{name: "a ._ file outside __MACOSX is macOS metadata too",
			zip:     buildZip(t, sized("._nucc.csv", 4096), sized("nucc.csv", 300)),
			dataset: medsales.NUCC, want: sized("nucc.csv", 300)},
		{name: "no dataset: the largest csv, not the resource fork",
			zip:  buildZip(t, sized("data.csv", 700), sized("__MACOSX/._data.csv", 4096)),
			want: sized("data.csv", 700)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "cms.zip", tt.zip)
			f, err := source.Open(context.Background(), p, source.Options{Dataset: tt.dataset})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer f.Close()
			checkFile(t, f, tt.want.name, "cms.zip", int64(len(tt.want.data)), tt.want.data)
		})
	}
}

// When no member is named like the dataset's file and there is no single
// other file to read, Open fails naming the archive and listing its
// members, instead of loading the wrong one.
func TestOpenZipNoMemberOfDataset(t *testing.T) {
	many := []member{readme}
	for i := 0; i < 25; i++ {
		many = append(many, sized(fmt.Sprintf("part-%02d.csv", i), 10))
	}
	tests := []struct {
		name    string
		zip     []byte
		dataset medsales.Dataset
		says    []string
	}{
		{name: "other datasets' files only", dataset: medsales.PartD,
			zip: buildZip(t, sized("MUP_PHY_R26_P05_V10_D24_Prov_Svc.csv", 10), sized("OP_DTL_GNRL_PGYR2024_P01232026.csv", 20)),
			says: []string{"no member named like the partd file (MUP_DPR_*_NPIBN.csv)", "2 other .csv members",
				"MUP_PHY_R26_P05_V10_D24_Prov_Svc.csv (10 bytes)", "OP_DTL_GNRL_PGYR2024_P01232026.csv (20 bytes)"}},
		{name: "several unknown files", dataset: medsales.NUCC,
			zip:  buildZip(t, sized("a.csv", 1), sized("b.csv", 2), readme),
			says: []string{"no member named like the nucc file (nucc_taxonomy_*.csv)", "a.csv", "b.csv", readme.name}},
		{name: "a text file is not the NPPES file", dataset: medsales.NPPES,
			zip:  buildZip(t, sized("readme.txt", 3)),
			says: []string{"no member named like the nppes file", "nor any other .csv member to load", "readme.txt (3 bytes)"}},
		{name: "one file, of another dataset", dataset: medsales.PartB,
			zip:  buildZip(t, sized("MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", 10)),
			says: []string{"no member named like the partb file", "only .csv member is named like the partd file", "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv"}},
		{name: "only a header-only copy", dataset: medsales.NPPES, zip: buildZip(t, fileheader, readme),
			says: []string{"no member named like the nppes file", "nor any other .csv member to load", fileheader.name}},
		{name: "the header-only copy is listed and said not to count", dataset: medsales.NPPESEndpoints,
			zip:  buildZip(t, sized("npidata_pfile_20050523-20260810.csv", 10), sized("pl_pfile_20050523-20260810.csv", 10), fileheader),
			says: []string{"2 other .csv members (and a header-only copy, which is not loaded)", fileheader.name}},
		{name: "no data file at all", dataset: medsales.ZCTA, zip: buildZip(t, readme),
			says: []string{"no member named like the zcta file (*_Gaz_zcta_national.txt)", readme.name}},
		{name: "many members: the list is cut", dataset: medsales.PartD, zip: buildZip(t, many...),
			says: []string{"25 other .csv members", "part-00.csv", "and 6 more"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "cms.zip", tt.zip)
			f, err := source.Open(context.Background(), p, source.Options{Dataset: tt.dataset})
			if err == nil {
				f.Close()
				t.Fatalf("Open read %s, want an error", f.Name)
			}
			msg := err.Error()
			t.Log(msg)
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			for _, s := range append([]string{"source " + p + ":"}, tt.says...) {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
		})
	}
}

// TestOpenZipMembersOfSeveralYears: with YearOf, members named like the
// dataset's file whose names carry different years make Open fail naming
// each year's member, unless Year picks one; members of one year are
// picked as before (the largest).
func TestOpenZipMembersOfSeveralYears(t *testing.T) {
	yearOf := func(name string) (int, bool) {
		switch {
		case strings.Contains(name, "_DY22_"):
			return 2022, true
		case strings.Contains(name, "_DY23_"):
			return 2023, true
		}
		return 0, false
	}
	dy22, dy23 := sized("MUP_DPR_RY24_P04_V10_DY22_NPIBN.csv", 300), sized("MUP_DPR_RY25_P04_V10_DY23_NPIBN.csv", 400)
	dy23sample := sized("MUP_DPR_RY25_P04_V10_DY23_NPIBN_sample.csv", 100)
	p := writeFile(t, t.TempDir(), "cms.zip", buildZip(t, dy22, dy23, dy23sample))

	_, err := source.Open(context.Background(), p, source.Options{Dataset: medsales.PartD, YearOf: yearOf})
	want := "archive holds partd files of 2 data years, MUP_DPR_RY24_P04_V10_DY22_NPIBN.csv (2022) and MUP_DPR_RY25_P04_V10_DY23_NPIBN.csv (2023): which to load is ambiguous"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open = %v, want an error containing %q", err, want)
	}
	for year, m := range map[int]member{2022: dy22, 2023: dy23} {
		f, err := source.Open(context.Background(), p, source.Options{Dataset: medsales.PartD, YearOf: yearOf, Year: year})
		if err != nil {
			t.Fatalf("Open with year %d: %v", year, err)
		}
		checkFile(t, f, m.name, "cms.zip", int64(len(m.data)), m.data)
		f.Close()
	}
	// One year only: the largest of its members, as without YearOf.
	p = writeFile(t, t.TempDir(), "cms.zip", buildZip(t, dy23sample, dy23))
	f, err := source.Open(context.Background(), p, source.Options{Dataset: medsales.PartD, YearOf: yearOf})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkFile(t, f, dy23.name, "cms.zip", int64(len(dy23.data)), dy23.data)
}

// Members of one dataset whose names carry different release dates (two
// NPPES months, an Open Payments file and its refresh) are ambiguous: the
// largest used to be loaded, the July registry over August's. One release
// with a header-only copy beside it is not.
func TestOpenZipMembersOfSeveralReleases(t *testing.T) {
	july, august := sized("npidata_pfile_20050523-20260713.csv", 5000), sized("npidata_pfile_20050523-20260810.csv", 4000)
	header := sized("npidata_pfile_20050523-20260810_fileheader.csv", 300)
	p := writeFile(t, t.TempDir(), "nppes.zip", buildZip(t, july, august, header))
	_, err := source.Open(context.Background(), p, source.Options{Dataset: medsales.NPPES})
	want := "archive holds nppes files of 2 releases, npidata_pfile_20050523-20260713.csv (2026-07-13) and npidata_pfile_20050523-20260810.csv (2026-08-10): which to load is ambiguous"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open = %v, want an error containing %q", err, want)
	}

	first, refresh := sized("OP_DTL_GNRL_PGYR2024_P06302025.csv", 900), sized("OP_DTL_GNRL_PGYR2024_P01232026.csv", 800)
	p = writeFile(t, t.TempDir(), "op.zip", buildZip(t, first, refresh))
	if _, err := source.Open(context.Background(), p, source.Options{Dataset: medsales.OpenPayments}); err == nil || !strings.Contains(err.Error(), "2 releases") {
		t.Fatalf("Open = %v, want the two Open Payments releases refused", err)
	}

	p = writeFile(t, t.TempDir(), "nppes.zip", buildZip(t, header, august))
	f, err := source.Open(context.Background(), p, source.Options{Dataset: medsales.NPPES})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkFile(t, f, august.name, "nppes.zip", int64(len(august.data)), august.data)
}
