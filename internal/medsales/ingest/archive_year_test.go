package ingest_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// zipOf writes dir/name, a zip archive holding data as its one member
// called member, and returns its path.
func zipOf(t *testing.T, dir, name, member string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, err := zw.Create(member)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunDataYearFromArchiveName: a yearly file read from a zip whose
// member is named without a data year takes the year of the archive's
// name (MUP_DPR_RY24_P04_V10_DY22_NPIBN.zip → 2022), as it would take the
// member's; a year given that contradicts the archive's name is refused.
// The year of the archive's name used to be ignored: the Part D load
// failed asking for --data-year, the gazetteer recorded none.
func TestRunDataYearFromArchiveName(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		read := func(name string) []byte {
			b, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		for _, c := range []struct {
			d               medsales.Dataset
			archive, member string
			data            []byte
			year            int
			maxRejectRatio  float64 // the samples hold a malformed row
		}{
			{medsales.PartD, "MUP_DPR_RY24_P04_V10_DY22_NPIBN.zip", "prescribers.csv", read(partDFile), 2022, 0.5},
			{medsales.PartB, "MUP_PHY_R24_P05_V10_D22_Prov_Svc.zip", "services.csv", read("MUP_PHY_R26_P05_V10_D24_Prov_Svc_sample.csv"), 2022, 0.5},
			{medsales.ZCTA, "2023_Gaz_zcta_national.zip", "Gaz_zcta_national.txt", []byte(gazetteerTS + "00601\t1\t0\t0\t0\t18.180555\t-66.749961\n"), 2023, 0},
		} {
			src := zipOf(t, t.TempDir(), c.archive, c.member, c.data)
			res, err := e.svc.Run(ctx, ingest.Request{Dataset: c.d, Source: src, MaxRejectRatio: c.maxRejectRatio}, nil)
			if err != nil {
				t.Fatalf("%s from %s: %v", c.d, c.archive, err)
			}
			if res.DataYear != c.year {
				t.Errorf("%s from %s: data year %d, want %d", c.d, c.archive, res.DataYear, c.year)
			}
			hist, err := e.st.Versions(ctx, c.d, 1)
			if err != nil || len(hist) != 1 {
				t.Fatalf("%s history %+v (%v)", c.d, hist, err)
			}
			if y := hist[0].DataYear; y == nil || *y != c.year {
				t.Errorf("%s history: data year %v, want %d", c.d, y, c.year)
			}
		}
		if n := count(t, e.d, "SELECT COUNT(*) FROM partd_drugs WHERE data_year = 2022"); n == 0 {
			t.Error("no Part D row of 2022")
		}

		// A year given that the archive's name contradicts is refused,
		// as it is when the file's own name does.
		src := zipOf(t, t.TempDir(), "MUP_DPR_RY24_P04_V10_DY22_NPIBN.zip", "prescribers.csv", read(partDFile))
		_, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.PartD, Source: src, DataYear: 2023, MaxRejectRatio: 0.5}, nil)
		var ee *errs.Error
		if !errors.As(err, &ee) || ee.Field != "dataYear" {
			t.Errorf("data year 2023 for an archive named DY22: %v, want an error on dataYear", err)
		}
		if n := count(t, e.d, "SELECT COUNT(*) FROM partd_drugs WHERE data_year = 2023"); n != 0 {
			t.Errorf("%d Part D rows of 2023 after the refused load", n)
		}
	})
}

// TestRunRefusesArchiveOfSeveralDataYears: an archive holding the Part D
// files of two data years (DY22 and DY23) is refused as ambiguous, naming
// both members, and nothing is loaded; the year given (--data-year,
// dataYear) picks one. The larger member used to be loaded silently,
// replacing a year the operator had not chosen.
func TestRunRefusesArchiveOfSeveralDataYears(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		data, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", partDFile))
		if err != nil {
			t.Fatal(err)
		}
		const dy22, dy23 = "MUP_DPR_RY24_P04_V10_DY22_NPIBN.csv", "MUP_DPR_RY25_P04_V10_DY23_NPIBN.csv"
		src := filepath.Join(e.dir, "partd.zip")
		f, err := os.Create(src)
		if err != nil {
			t.Fatal(err)
		}
		zw := zip.NewWriter(f)
		for _, m := range []struct {
			name string
			data []byte
		}{{dy22, data}, {dy23, append(append([]byte{}, data...), data[bytes.IndexByte(data, '\n')+1:]...)}} { // DY23 the larger
			w, err := zw.Create("cms/" + m.name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(m.data); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}

		_, err = e.svc.Run(ctx, ingest.Request{Dataset: medsales.PartD, Source: src, MaxRejectRatio: 0.5}, nil)
		if err == nil || !strings.Contains(err.Error(), "cms/"+dy22+" (2022)") || !strings.Contains(err.Error(), "cms/"+dy23+" (2023)") ||
			!strings.Contains(err.Error(), "ambiguous") {
			t.Fatalf("Run = %v, want an error naming both members and their years", err)
		}
		ambiguous := err
		if n := count(t, e.d, "SELECT COUNT(*) FROM partd_drugs"); n != 0 {
			t.Errorf("%d Part D rows loaded from an ambiguous archive", n)
		}
		hist, err := e.st.Versions(ctx, medsales.PartD, 1)
		if err != nil || len(hist) != 1 || hist[0].Status != "failed" {
			t.Fatalf("history %+v (%v), want one failed load", hist, err)
		}

		res, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.PartD, Source: src, DataYear: 2022, MaxRejectRatio: 0.5}, nil)
		if err != nil {
			t.Fatalf("Run with data year 2022: %v", err)
		}
		if res.File != dy22 || res.DataYear != 2022 {
			t.Errorf("loaded %s, data year %d; want %s, 2022", res.File, res.DataYear, dy22)
		}
		if n := count(t, e.d, "SELECT COUNT(*) FROM partd_drugs WHERE data_year <> 2022"); n != 0 {
			t.Errorf("%d Part D rows of another year than 2022", n)
		}

		// An INGEST_SCHEDULE entry picks its year with year=YYYY (the
		// ambiguity error says so), and loads it as the worker would.
		if !strings.Contains(ambiguous.Error(), "year=YYYY in an INGEST_SCHEDULE entry") {
			t.Errorf("ambiguity error %q does not say how a scheduled load gives the year", ambiguous)
		}
		sched, err := ingest.ParseSchedule("partd " + src + " 720h always year=2023")
		if err != nil {
			t.Fatal(err)
		}
		req := sched[0].Request
		req.MaxRejectRatio = 0.5
		res, err = e.svc.Run(ctx, req, nil)
		if err != nil {
			t.Fatalf("Run of the entry with year=2023: %v", err)
		}
		if res.File != dy23 || res.DataYear != 2023 {
			t.Errorf("the entry loaded %s, data year %d; want %s, 2023", res.File, res.DataYear, dy23)
		}
		if n := count(t, e.d, "SELECT COUNT(*) FROM partd_drugs WHERE data_year = 2023"); n == 0 {
			t.Error("no Part D rows of 2023 after the scheduled load")
		}
	})
}
