package dataset_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/dataset"
)

// TestReadersNameAnotherDatasetsFile: the file of one dataset given for
// another is refused on its header as the file it is, naming its dataset,
// for every pair of datasets; it was refused with the list of every
// column it lacked (forty-odd names for the main NPPES file), which left
// the operator to work out what the file was. The Census gazetteer,
// tab-separated, is told by its columns even by the comma-separated
// readers, which read its header as one field.
func TestReadersNameAnotherDatasetsFile(t *testing.T) {
	gazetteer := []byte("GEOID\tALAND\tAWATER\tALAND_SQMI\tAWATER_SQMI\tINTPTLAT\tINTPTLONG          \n00601\t166847909\t799292\t64.42\t0.309\t18.180555\t-66.749961\n")
	files := []struct {
		dataset, file, is string
		body              []byte
	}{
		{"nppes", "npidata_pfile_20050523-20260810_sample.csv", "the main NPPES file (npidata_pfile)", nil},
		{"nppes-locations", "pl_pfile_20050523-20260810_sample.csv", "a pl_pfile (secondary practice locations, dataset nppes-locations)", nil},
		{"nppes-othernames", "othername_pfile_20050523-20260810_sample.csv", "an othername_pfile (dataset nppes-othernames)", nil},
		{"nppes-endpoints", "endpoint_pfile_20050523-20260810_sample.csv", "an endpoint_pfile (dataset nppes-endpoints)", nil},
		{"nucc", "nucc_taxonomy_sample.csv", "the NUCC taxonomy file (dataset nucc)", nil},
		{"partb", "MUP_PHY_R26_P05_V10_D24_Prov_Svc_sample.csv", "a Medicare Part B by provider and service file (dataset partb)", nil},
		{"partd", "MUP_DPR_RY26_P04_V10_DY24_NPIBN_sample.csv", "a Medicare Part D by provider and drug file (dataset partd)", nil},
		{"openpayments", "OP_DTL_GNRL_PGYR2024_P01302026_sample.csv", "an Open Payments general payments file (dataset openpayments)", nil},
		{"zcta", "2024_Gaz_zcta_national.txt", "a Census ZCTA gazetteer (dataset zcta)", gazetteer},
	}
	readers := []struct {
		dataset, this string
		open          func(r io.Reader, file string) error
	}{
		{"nppes", "the main NPPES file (npidata_pfile)", func(r io.Reader, f string) error { _, err := dataset.NewNPPESReader(r, f, nil); return err }},
		{"nppes-locations", "a pl_pfile", func(r io.Reader, f string) error { _, err := dataset.NewLocationReader(r, f, nil); return err }},
		{"nppes-othernames", "an othername_pfile", func(r io.Reader, f string) error { _, err := dataset.NewOtherNameReader(r, f, nil); return err }},
		{"nppes-endpoints", "an endpoint_pfile", func(r io.Reader, f string) error { _, err := dataset.NewEndpointReader(r, f, nil); return err }},
		{"nucc", "the NUCC taxonomy file", func(r io.Reader, f string) error { _, err := dataset.NewNUCCReader(r, f); return err }},
		{"partb", "a Part B file", func(r io.Reader, f string) error { _, err := dataset.NewPartBReader(r, f, 2024); return err }},
		{"partd", "a Part D file", func(r io.Reader, f string) error { _, err := dataset.NewPartDReader(r, f, 2024); return err }},
		{"openpayments", "an Open Payments file", func(r io.Reader, f string) error { _, err := dataset.NewOpenPaymentsReader(r, f); return err }},
		{"zcta", "the ZCTA gazetteer", func(r io.Reader, f string) error { _, err := dataset.NewZCTAReader(r, f); return err }},
	}
	for _, f := range files {
		body := f.body
		if body == nil {
			body = testdataFile(t, f.file)
		}
		for _, rd := range readers {
			if rd.dataset == f.dataset {
				if err := rd.open(bytes.NewReader(body), f.file); err != nil {
					t.Errorf("%s read as %s: %v", f.file, rd.dataset, err)
				}
				continue
			}
			t.Run(f.dataset+" as "+rd.dataset, func(t *testing.T) {
				err := rd.open(bytes.NewReader(body), f.file)
				if !errors.Is(err, dataset.ErrWrongFile) {
					t.Fatalf("err = %v, want ErrWrongFile", err)
				}
				want := f.is + ", not " + rd.this + ": wrong file for the dataset"
				// "has a \"HCPCS_Cd\" column", or for the othername_pfile's
				// own check of the main file "has an Entity Type Code column".
				if !strings.HasPrefix(err.Error(), f.file+": has a") || !strings.HasSuffix(err.Error(), want) {
					t.Errorf("err = %q\nwant %q, then the column, then %q", err, f.file+": has a", want)
				}
			})
		}
	}
}

// A file of no dataset this knows is still refused with the columns it
// lacks.
func TestReaderListsMissingColumnsOfAnUnknownFile(t *testing.T) {
	const file = "prices.csv"
	_, err := dataset.NewPartBReader(strings.NewReader("sku,price\nA1,3.50\n"), file, 2024)
	if !errors.Is(err, dataset.ErrWrongFile) {
		t.Fatalf("err = %v, want ErrWrongFile", err)
	}
	for _, want := range []string{file + ": missing required columns", `"Rndrng_NPI"`, `"HCPCS_Cd"`, `"Avg_Mdcr_Stdzd_Amt"`, "(header has 2 columns)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q, want it to name %s", err, want)
		}
	}
}
