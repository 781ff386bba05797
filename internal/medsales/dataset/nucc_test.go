package dataset_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/dataset"
)

func TestNUCCReader(t *testing.T) {
	const file = "nucc_taxonomy_sample.csv"
	r, err := dataset.NewNUCCReader(openTestdata(t, file), file)
	if err != nil {
		t.Fatal(err)
	}
	got, rejects := readRows(t, r, r.Taxonomy)
	want := []medsales.Taxonomy{
		{Code: "207Q00000X", Grouping: "Allopathic & Osteopathic Physicians", Classification: "Family Medicine",
			Definition:  "Family Medicine is the medical specialty which is concerned with the total health care of the individual and the family.",
			Notes:       `Source: American Board of Family Medicine, 2020 [7/1/2020: "Source" updated]`,
			DisplayName: "Family Medicine Physician", Section: "Individual"},
		{Code: "207RC0000X", Grouping: "Allopathic & Osteopathic Physicians", Classification: "Internal Medicine",
			Specialization: "Cardiovascular Disease",
			Definition:     "A physician who specializes in diseases of the heart\nand blood vessels.",
			DisplayName:    "Cardiovascular Disease Physician", Section: "Individual"},
		{Code: "282N00000X", Grouping: "Hospitals", Classification: "General Acute Care Hospital",
			Definition: "An acute general hospital.", DisplayName: "General Acute Care Hospital", Section: "Non-Individual"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("taxonomies (-want +got):\n%s", diff)
	}
	checkRejects(t, rejects, []reject{
		{Line: 6, Reason: `Code "207Q" does not have 10 characters`},
		{Line: 7, Reason: `Code "207Q00000X" repeats the code on line 2`},
	})
}

// TestNUCCReaderCodeCase: a code is trimmed and read in upper case, as
// every value is trimmed and NPPES writes codes: " 207Q00000X " was
// rejected for its length and "207q00000x" stored beside 207Q00000X (QA).
func TestNUCCReaderCodeCase(t *testing.T) {
	const file = "Code,Grouping,Classification,Specialization,Definition,Notes,Display Name,Section\n" +
		" 207Q00000X ,G,Family Medicine,,,,Family Medicine Physician,Individual\n" +
		"207rc0000x,G,Internal Medicine,Cardiovascular Disease,,,Cardiovascular Disease Physician,Individual\n" +
		"207q00000x,G,Family Medicine,,,,Family Medicine Physician,Individual\n"
	r, err := dataset.NewNUCCReader(strings.NewReader(file), "nucc_taxonomy_250.csv")
	if err != nil {
		t.Fatal(err)
	}
	got, rejects := readRows(t, r, r.Taxonomy)
	var codes []string
	for _, tx := range got {
		codes = append(codes, tx.Code)
	}
	if diff := cmp.Diff([]string{"207Q00000X", "207RC0000X"}, codes); diff != "" {
		t.Errorf("codes (-want +got):\n%s", diff)
	}
	checkRejects(t, rejects, []reject{{Line: 4, Reason: `Code "207Q00000X" repeats the code on line 2`}})
}

// TestNUCCReaderCROnlyLineEnds: the taxonomy file with its LF turned into
// CR (tr '\n' '\r') is refused for its line ends, not for bad quoting.
func TestNUCCReaderCROnlyLineEnds(t *testing.T) {
	const file = "nucc_taxonomy_sample.csv"
	b, err := io.ReadAll(openTestdata(t, file))
	if err != nil {
		t.Fatal(err)
	}
	_, err = dataset.NewNUCCReader(bytes.NewReader(bytes.ReplaceAll(b, []byte("\n"), []byte("\r"))), file)
	if want := file + ": lines end in CR alone (classic Mac OS line ends), which are not supported: convert them to LF or CR LF"; err == nil || err.Error() != want {
		t.Errorf("NewNUCCReader error = %v\nwant %s", err, want)
	}
	if !errors.Is(err, dataset.ErrWrongFile) {
		t.Errorf("error does not count as ErrWrongFile (bad input, not worth a retry)")
	}
}

func TestNUCCReaderLayouts(t *testing.T) {
	tests := []struct {
		name, input string
		want        []medsales.Taxonomy
		wrong       []string // when set: refused, naming these columns
	}{
		{
			name:  "before Display Name and Section",
			input: "Code,Grouping,Classification,Specialization,Definition,Notes\n101Y00000X,Behavioral Health & Social Service Providers,Counselor,,,\n",
			want: []medsales.Taxonomy{{Code: "101Y00000X",
				Grouping: "Behavioral Health & Social Service Providers", Classification: "Counselor"}},
		},
		{
			name:  "columns reordered, names in another case",
			input: "SECTION,display name,code,notes,definition,specialization,classification,grouping\nIndividual,Counselor,101Y00000X,,,,Counselor,Behavioral\n",
			want: []medsales.Taxonomy{{Code: "101Y00000X", Grouping: "Behavioral", Classification: "Counselor",
				DisplayName: "Counselor", Section: "Individual"}},
		},
		{
			name:  "not a taxonomy file",
			input: "GEOID\tALAND\tAWATER\n",
			wrong: []string{`"Code"`, `"Grouping"`, `"Notes"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := dataset.NewNUCCReader(strings.NewReader(tt.input), "in.csv")
			if tt.wrong != nil {
				if !errors.Is(err, dataset.ErrWrongFile) {
					t.Fatalf("err = %v, want ErrWrongFile", err)
				}
				for _, w := range append(tt.wrong, "in.csv") {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("err = %q, want it to name %s", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, rejects := readRows(t, r, r.Taxonomy)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("taxonomies (-want +got):\n%s", diff)
			}
			checkRejects(t, rejects, nil)
		})
	}
}
