package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestIngestionRefusesDataYearTheArchiveNameContradicts: a dataYear that
// the zip archive's name contradicts (…_DY22_….zip with dataYear 2023) is
// refused with 400 on dataYear, in the loader's words, before a job is
// queued; it was accepted (202) and the worker refused it when the load
// ran. A dataYear the archive's name agrees with, or an archive whose
// name carries no year, is queued.
func TestIngestionRefusesDataYearTheArchiveNameContradicts(t *testing.T) {
	dbtest.Each(t, []migrate.Set{store.Migrations}, func(t *testing.T, d *db.DB) {
		srv, queued := newIngestionServer(t, d, "s3://medsales-raw/", "https://download.cms.gov/")

		for _, c := range []struct{ dataset, src, says string }{
			{"partd", "s3://medsales-raw/partd/MUP_DPR_RY24_P04_V10_DY22_NPIBN.zip", "MUP_DPR_RY24_P04_V10_DY22_NPIBN.zip: the archive's name says 2022, the data year given (--data-year or dataYear) says 2023"},
			{"partb", "https://download.cms.gov/MUP_PHY_R24_P05_V10_D22_Prov_Svc.ZIP", "MUP_PHY_R24_P05_V10_D22_Prov_Svc.ZIP: the archive's name says 2022, the data year given (--data-year or dataYear) says 2023"},
			{"zcta", "s3://medsales-raw/2022_Gaz_zcta_national.zip", "2022_Gaz_zcta_national.zip: the archive's name says 2022, the data year given (--data-year or dataYear) says 2023"},
		} {
			resp, b := postIngestionResp(t, srv.URL, `{"dataset":"`+c.dataset+`","source":"`+c.src+`","dataYear":2023}`)
			var p struct {
				Field  string `json:"field"`
				Detail string `json:"detail"`
			}
			if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(b, &p) != nil || p.Field != "dataYear" || !strings.Contains(p.Detail, c.says) {
				t.Errorf("%s %s with dataYear 2023: %d %s; want 400 on dataYear saying %q", c.dataset, c.src, resp.StatusCode, b, c.says)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Errorf("%s: Content-Type %q, want application/problem+json", c.src, ct)
			}
		}
		if n := queued(); n != 0 {
			t.Fatalf("%d jobs queued for data years the archive's name contradicts, want none", n)
		}

		for _, body := range []string{
			`{"dataset":"partd","source":"s3://medsales-raw/partd/MUP_DPR_RY24_P04_V10_DY22_NPIBN.zip","dataYear":2022}`,
			`{"dataset":"partd","source":"s3://medsales-raw/partd/MUP_DPR_RY24_P04_V10_DY22_NPIBN.zip"}`,
			`{"dataset":"partd","source":"s3://medsales-raw/partd/partd.zip","dataYear":2023}`,
		} {
			if resp, b := postIngestionResp(t, srv.URL, body); resp.StatusCode != http.StatusAccepted {
				t.Errorf("%s: %d %s, want 202", body, resp.StatusCode, b)
			}
		}
		if n := queued(); n != 3 {
			t.Errorf("%d jobs queued, want 3", n)
		}
	})
}

// postIngestionResp is postIngestion returning the response, for its
// headers, with the body read.
func postIngestionResp(t *testing.T, base, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/v1/ingestions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestIngestionRefusesPartBPartDWithoutDataYear: a Part B or Part D
// source whose file name carries no data year, without dataYear, is 400
// on dataYear saying how to give the year, and nothing is queued; it was
// accepted (202) and the queued load failed when it ran. With dataYear it
// is queued.
func TestIngestionRefusesPartBPartDWithoutDataYear(t *testing.T) {
	dbtest.Each(t, []migrate.Set{store.Migrations}, func(t *testing.T, d *db.DB) {
		srv, queued := newIngestionServer(t, d, "s3://medsales-raw/")

		for _, c := range []struct{ dataset, file string }{
			{"partb", "physicians.csv"},
			{"partd", "prescribers.csv"},
		} {
			resp, b := postIngestionResp(t, srv.URL, `{"dataset":"`+c.dataset+`","source":"s3://medsales-raw/cms/`+c.file+`"}`)
			var p struct {
				Field  string `json:"field"`
				Detail string `json:"detail"`
			}
			want := c.file + ": the file name carries no data year (such as _D24_ or _DY24_): give it (--data-year, or dataYear in POST /v1/ingestions)"
			if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(b, &p) != nil || p.Field != "dataYear" || p.Detail != want {
				t.Errorf("%s %s without dataYear: %d %s; want 400 on dataYear saying %q", c.dataset, c.file, resp.StatusCode, b, want)
			}
		}
		if n := queued(); n != 0 {
			t.Fatalf("%d jobs queued for files without a data year, want none", n)
		}
		if resp, b := postIngestionResp(t, srv.URL, `{"dataset":"partb","source":"s3://medsales-raw/cms/physicians.csv","dataYear":2024}`); resp.StatusCode != http.StatusAccepted {
			t.Errorf("with dataYear 2024: %d %s, want 202", resp.StatusCode, b)
		}
		if n := queued(); n != 1 {
			t.Errorf("%d jobs queued, want 1", n)
		}
	})
}
