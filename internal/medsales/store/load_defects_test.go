package store_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// headerOnly returns the first line of a file: what is left of a file cut
// down to its header.
func headerOnly(content []byte) []byte {
	header, _, _ := bytes.Cut(content, []byte("\n"))
	return append(append([]byte{}, header...), '\n')
}

// replacingLoads are the loads that replace live data, each with a sample
// file of its dataset and the live table it replaces.
var replacingLoads = []struct {
	name   string
	load   loader
	file   string
	sample func(t *testing.T) []byte
	table  string
}{
	{"nppes", (*store.Store).LoadNPPES, npiCurrent, func(t *testing.T) []byte { return nppesSample(t, npiCurrent) }, "providers"},
	{"nppes-locations", (*store.Store).LoadNPPESLocations, plSample, func(t *testing.T) []byte { return nppesSample(t, plSample) }, "practice_locations"},
	{"nppes-othernames", (*store.Store).LoadNPPESOtherNames, otherSample, func(t *testing.T) []byte { return nppesSample(t, otherSample) }, "provider_other_names"},
	{"nppes-endpoints", (*store.Store).LoadNPPESEndpoints, endpointFile, func(t *testing.T) []byte { return nppesSample(t, endpointFile) }, "provider_endpoints"},
	{"nucc", (*store.Store).LoadNUCC, "nucc_taxonomy_sample.csv", func(t *testing.T) []byte { return sampleFile(t, "nucc_taxonomy_sample.csv") }, "nucc_taxonomy"},
	{"partb", (*store.Store).LoadPartB, "MUP_PHY_R26_P05_V10_D24_Prov_Svc_sample.csv", func(t *testing.T) []byte { return sampleFile(t, "MUP_PHY_R26_P05_V10_D24_Prov_Svc_sample.csv") }, "partb_services"},
	{"partd", (*store.Store).LoadPartD, "MUP_DPR_RY26_P04_V10_DY24_NPIBN_sample.csv", func(t *testing.T) []byte { return sampleFile(t, "MUP_DPR_RY26_P04_V10_DY24_NPIBN_sample.csv") }, "partd_drugs"},
	{"openpayments", (*store.Store).LoadOpenPayments, "OP_DTL_GNRL_PGYR2024_P01302026_sample.csv", func(t *testing.T) []byte { return sampleFile(t, "OP_DTL_GNRL_PGYR2024_P01302026_sample.csv") }, "open_payments"},
	{"zcta", (*store.Store).LoadZCTA, "2024_Gaz_zcta_national.txt", func(t *testing.T) []byte {
		return gazetteer("00601 18.180555 -66.749961", "32204 30.317018 -81.680832")
	}, "zcta_centroids"},
}

// TestFullLoadRefusesEmptyFile loads, for every dataset, a file holding
// only its header after a good load: the load that would replace the live
// data with nothing fails naming the file, and the live data stays.
func TestFullLoadRefusesEmptyFile(t *testing.T) {
	for _, l := range replacingLoads {
		t.Run(l.name, func(t *testing.T) {
			claimsEach(t, func(t *testing.T, s *store.Store) {
				content := l.sample(t)
				// The samples carry malformed rows on purpose.
				if r := mustLoad(t, s, l.load, l.file, content, store.LoadInput{MaxRejectRatio: 0.5}); r.res.Loaded == 0 {
					t.Fatalf("the sample loaded no row: %+v", r.res)
				}
				before := dump(t, s, l.table)

				r := run(t, s, l.load, l.file, headerOnly(content), store.LoadInput{})
				want := l.file + ": no data rows: refusing to replace the live data with an empty file"
				if r.err == nil || r.err.Error() != want {
					t.Errorf("header-only load: error %v, want %q", r.err, want)
				}
				if !errs.Is(r.err, errs.CodeInvalid) {
					t.Errorf("code %q, want invalid", errs.CodeOf(r.err))
				}
				if r.finalized != nil {
					t.Error("the refused load ran Finalize")
				}
				if diff := cmp.Diff(before, dump(t, s, l.table)); diff != "" {
					t.Errorf("a refused load changed %s (-before +after):\n%s", l.table, diff)
				}
			})
		})
	}
}

// TestFullLoadRefusesAllRejected: a full load whose every row is rejected
// fails even when the reject threshold would let it through.
func TestFullLoadRefusesAllRejected(t *testing.T) {
	current := nppesSample(t, npiCurrent)
	lines := strings.SplitAfter(string(current), "\n")
	badNPPES := lines[0] + strings.Replace(lines[4], npiBob, "1987654321", 1) // bad check digit

	tests := []struct {
		name    string
		load    loader
		file    string
		good    []byte
		bad     []byte
		table   string
		wantErr string
	}{
		{"nppes", (*store.Store).LoadNPPES, "npidata_pfile_bad.csv", current, []byte(badNPPES), "providers",
			"npidata_pfile_bad.csv: all 1 rows rejected: refusing to replace the live data with an empty file"},
		{"zcta", (*store.Store).LoadZCTA, "2024_Gaz_zcta_national.txt", gazetteer("00601 18.180555 -66.749961"),
			gazetteer("1234 1 1", "ABCDE 1 1"), "zcta_centroids",
			"2024_Gaz_zcta_national.txt: all 2 rows rejected: refusing to replace the live data with an empty file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claimsEach(t, func(t *testing.T, s *store.Store) {
				mustLoad(t, s, tt.load, tt.file, tt.good, store.LoadInput{})
				before := dump(t, s, tt.table)
				r := run(t, s, tt.load, tt.file, tt.bad, store.LoadInput{MaxRejectRatio: 1})
				if r.err == nil || !strings.HasPrefix(r.err.Error(), tt.wantErr+"; the first: line 2: ") {
					t.Errorf("error %v, want %q and the first reject", r.err, tt.wantErr)
				}
				if r.rejects == "" {
					t.Error("no rejects written")
				}
				if diff := cmp.Diff(before, dump(t, s, tt.table)); diff != "" {
					t.Errorf("a refused load changed %s (-before +after):\n%s", tt.table, diff)
				}
			})
		})
	}
}

// TestEmptyIncrementLoads: a weekly NPPES increment without rows changes
// nothing and succeeds.
func TestEmptyIncrementLoads(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		mustLoad(t, s, (*store.Store).LoadNPPES, npiCurrent, nppesSample(t, npiCurrent), store.LoadInput{})
		before := dump(t, s, "providers")
		r := mustLoad(t, s, (*store.Store).LoadNPPES, npiWeekly, headerOnly(nppesSample(t, npiWeekly)), store.LoadInput{Mode: store.ModeIncrement})
		if r.res != (store.LoadResult{}) {
			t.Errorf("empty increment result = %+v", r.res)
		}
		if diff := cmp.Diff(before, dump(t, s, "providers")); diff != "" {
			t.Errorf("an empty increment changed providers (-before +after):\n%s", diff)
		}
	})
}

// spreadsheetArtefacts returns content with the rows of empty fields a
// spreadsheet leaves when it re-saves a file: one after the first data row
// and three at the end, each with as many separators as the header, one of
// them quoted and one of white space. It returns how many it added.
func spreadsheetArtefacts(content []byte) ([]byte, int64) {
	header, rest, _ := bytes.Cut(content, []byte("\n"))
	sep := ","
	if bytes.Contains(header, []byte("\t")) {
		sep = "\t"
	}
	n := bytes.Count(header, []byte(sep))
	empty := strings.Repeat(sep, n) + "\r\n"
	quoted := strings.Repeat(`""`+sep, n) + `""` + "\r\n"
	spaces := strings.Repeat(" "+sep, n) + " \r\n"
	first, others, _ := bytes.Cut(rest, []byte("\n"))
	var b bytes.Buffer
	b.Write(header)
	b.WriteString("\n")
	b.Write(first)
	b.WriteString("\n")
	b.WriteString(empty)
	b.Write(others)
	b.WriteString(empty + quoted + spaces)
	return b.Bytes(), 4
}

// TestLoadsSkipEmptyRows loads, for every dataset, its sample file as a
// spreadsheet re-saves it, with rows of empty fields among and after the
// data: they are skipped and counted (LoadResult.Skipped), not rejected,
// so the load rejects and loads what the file alone does. They were
// rejected, and filled the rejects file and failed small files on the 1%
// threshold.
func TestLoadsSkipEmptyRows(t *testing.T) {
	for _, l := range replacingLoads {
		t.Run(l.name, func(t *testing.T) {
			claimsEach(t, func(t *testing.T, s *store.Store) {
				content := l.sample(t)
				// The samples carry malformed rows on purpose.
				clean := mustLoad(t, s, l.load, l.file, content, store.LoadInput{MaxRejectRatio: 0.5})
				resaved, added := spreadsheetArtefacts(content)
				r := mustLoad(t, s, l.load, l.file, resaved, store.LoadInput{MaxRejectRatio: 0.5})
				want := clean.res
				want.Skipped = added
				if r.res != want {
					t.Errorf("with rows of empty fields: %+v, want %+v", r.res, want)
				}
				if got, want := strings.Count(r.rejects, "\n"), strings.Count(clean.rejects, "\n"); got != want {
					t.Errorf("rejects file has %d lines, want the %d of the file without empty rows:\n%s", got, want, r.rejects)
				}
			})
		})
	}
}

// TestTallySkippedRowsDoNotCount: skipped rows are neither loaded nor
// rejected, so they count in neither side of the reject threshold; a full
// file holding only empty rows has no data rows and is refused, saying how
// many it skipped.
func TestTallySkippedRowsDoNotCount(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		file := "nucc_taxonomy_sample.csv"
		content := sampleFile(t, file)
		mustLoad(t, s, (*store.Store).LoadNUCC, file, content, store.LoadInput{MaxRejectRatio: 0.5})
		before := dump(t, s, "nucc_taxonomy")
		header := headerOnly(content)
		empty := append(header, strings.Repeat(strings.Repeat(",", bytes.Count(header, []byte(",")))+"\n", 3)...)
		r := run(t, s, (*store.Store).LoadNUCC, file, empty, store.LoadInput{})
		want := file + ": no data rows (3 empty rows skipped): refusing to replace the live data with an empty file"
		if r.err == nil || r.err.Error() != want {
			t.Errorf("load of empty rows only: error %v, want %q", r.err, want)
		}
		if diff := cmp.Diff(before, dump(t, s, "nucc_taxonomy")); diff != "" {
			t.Errorf("live rows changed (-before +after):\n%s", diff)
		}
	})
}
