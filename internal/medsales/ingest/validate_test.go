package ingest_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// TestValidateSourceForm: Validate refuses, before anything is opened, a
// source that cannot name an object (what source.Open would refuse for
// its form alone), and accepts the forms Open reads.
func TestValidateSourceForm(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"s3://", "want s3://bucket/key"},
		{"s3://medsales-raw", "want s3://bucket/key"},
		{"s3://medsales-raw/", "want s3://bucket/key"},
		{"S3://medsales-raw/nucc/", "want s3://bucket/key"},
		{"https://", "malformed URL"},
		{"http:///x.csv", "malformed URL"},
		{"ftp://ftp.cms.gov/nucc_taxonomy_251.csv", `unsupported scheme "ftp"`},
	} {
		err := ingest.Request{Dataset: "nucc", Source: c.src}.Validate(time.Time{})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "source") {
			t.Errorf("Validate(source %q) = %v, want an error on source containing %q", c.src, err, c.want)
		}
	}
	for _, src := range []string{"s3://medsales-raw/nucc/nucc_taxonomy_251.csv", "https://download.cms.gov/x.zip", "HTTP://host/x.csv", "data/nucc_taxonomy_251.csv", "C://data/x.csv"} {
		if err := (ingest.Request{Dataset: "nucc", Source: src}).Validate(time.Time{}); err != nil {
			t.Errorf("Validate(source %q) = %v, want nil", src, err)
		}
	}
}

// TestValidateFileName: what the source's file name tells is checked
// before anything is queued, as Run checks it with the file it opens: a
// weekly file of a companion dataset, a weekly increment loaded as full,
// and a data year other than the one the name carries are refused naming
// the field; a zip archive's year is left to the member's.
func TestValidateFileName(t *testing.T) {
	for _, c := range []struct {
		req   ingest.Request
		field string // "" when valid
	}{
		{ingest.Request{Dataset: "nppes", Source: "s3://b/npidata_pfile_20260803-20260809.csv"}, ""},
		{ingest.Request{Dataset: "nppes", Source: "https://h/NPPES_Data_Dissemination_080326_080926_Weekly.zip", Mode: "increment"}, ""},
		{ingest.Request{Dataset: "nppes", Source: "/data/npidata_pfile_20260803-20260809.csv", Mode: "full"}, "mode"},
		{ingest.Request{Dataset: "nppes-locations", Source: "https://h/pl_pfile_20260803-20260809.csv"}, "source"},
		{ingest.Request{Dataset: "partd", Source: "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", DataYear: 2024}, ""},
		{ingest.Request{Dataset: "partd", Source: "s3://b/MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", DataYear: 2023}, "dataYear"},
		// A zip archive's name too: the command refused it only once the
		// archive was open, after recording a failed load (QA).
		{ingest.Request{Dataset: "partd", Source: "s3://b/MUP_DPR_RY26_P04_V10_DY24_NPIBN.zip", DataYear: 2023}, "dataYear"},
		{ingest.Request{Dataset: "zcta", Source: "s3://b/Gaz_zcta_national.txt", DataYear: 2024}, ""},
		// Datasets without a data year: the year was recorded as theirs.
		{ingest.Request{Dataset: "nucc", Source: "nucc_taxonomy_251.csv", DataYear: 2023}, "dataYear"},
		{ingest.Request{Dataset: "nppes", Source: "npidata_pfile_20050523-20260810.csv", DataYear: 2026}, "dataYear"},
		{ingest.Request{Dataset: "nppes-endpoints", Source: "endpoint_pfile_20050523-20260810.csv", DataYear: 2026}, "dataYear"},
		// Dates no publisher wrote: a weekly file's dates swapped, no date.
		{ingest.Request{Dataset: "nppes", Source: "s3://b/npidata_pfile_20260809-20260803.csv"}, "source"},
		{ingest.Request{Dataset: "nppes", Source: "npidata_pfile_20051340-20261399.csv"}, "source"},
	} {
		err := c.req.Validate(time.Time{})
		var e *errs.Error
		switch {
		case c.field == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want nil", c.req, err)
		case c.field != "" && (!errors.As(err, &e) || e.Field != c.field):
			t.Errorf("Validate(%+v) = %v, want an error on %s", c.req, err, c.field)
		}
	}
}

// TestValidateFutureReleaseDate: a source whose name carries a release
// date after the day after now is refused on source, as a name whose dates
// cannot be is, so that medsales ingest and POST /v1/ingestions refuse it
// at once; Validate took no clock and let it be queued or recorded. A
// zero now (Run's, which checks the opened file's names with its clock)
// checks no bound.
func TestValidateFutureReleaseDate(t *testing.T) {
	now := time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		req  ingest.Request
		want string // "" when valid
	}{
		{ingest.Request{Dataset: "nppes", Source: "s3://drop/npidata_pfile_20270101-20270107.csv"}, "its release date, 2027-01-07, is in the future"},
		{ingest.Request{Dataset: "openpayments", Source: "s3://drop/OP_DTL_GNRL_PGYR2024_P01232027.csv"}, "its release date, 2027-01-23, is in the future"},
		{ingest.Request{Dataset: "nppes", Source: "s3://drop/NPPES_Data_Dissemination_123126_010627_Weekly_V2.zip"}, "its release date, 2027-01-06, is in the future"},
		// A publisher's date in US time may be tomorrow in UTC.
		{ingest.Request{Dataset: "nppes", Source: "s3://drop/npidata_pfile_20261130-20261206.csv"}, ""},
		{ingest.Request{Dataset: "nppes", Source: "s3://drop/npidata_pfile_20050523-20261110.csv"}, ""},
	} {
		err := c.req.Validate(now)
		var e *errs.Error
		switch {
		case c.want == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want nil", c.req, err)
		case c.want != "" && (!errors.As(err, &e) || e.Field != "source" || !strings.Contains(err.Error(), c.want)):
			t.Errorf("Validate(%+v) = %v, want an error on source containing %q", c.req, err, c.want)
		}
		if c.want != "" {
			if err := c.req.ValidateQueued(now); err == nil {
				t.Errorf("ValidateQueued(%+v) = nil, want an error", c.req)
			}
			if err := c.req.Validate(time.Time{}); err != nil {
				t.Errorf("Validate(%+v) without a clock = %v, want nil", c.req, err)
			}
		}
	}
}

// TestValidateMalformedS3SourceRedacted: a malformed s3:// source is
// refused naming it without its user info or query (a pasted access key,
// a presigned signature, a token), redacted as a failed URL source is in
// the history; the error repeated the raw string.
func TestValidateMalformedS3SourceRedacted(t *testing.T) {
	for _, c := range []struct{ src, shown string }{
		{"s3://AKIAEXAMPLE:s3cr3t@medsales-raw?token=tok123", "source s3://medsales-raw: want s3://bucket/key"},
		{"s3://medsales-raw?X-Amz-Signature=sig123", "source s3://medsales-raw: want s3://bucket/key"},
		{"S3://loader:s3cr3t@medsales-raw/nucc/", "source s3://medsales-raw/nucc/: want s3://bucket/key"},
		{"s3://loader:s3cr3t@medsales-raw#sig123", "source s3://medsales-raw: want s3://bucket/key"},
		// Does not parse as a URL (a stray "%"): cut before the query,
		// user info dropped all the same.
		{"s3://loader:s3cr3t@medsales%zz?token=tok123", "source s3://medsales%zz: want s3://bucket/key"},
		// Of valid form otherwise: the user info was read as part of
		// the bucket, the query as part of the key, and accepted.
		{"s3://loader:s3cr3t@medsales-raw/nucc/nucc_taxonomy_251.csv", "source s3://medsales-raw/nucc/nucc_taxonomy_251.csv: want s3://bucket/key without user info, query or fragment"},
		{"s3://medsales-raw/nucc/nucc_taxonomy_251.csv?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=sig123", "source s3://medsales-raw/nucc/nucc_taxonomy_251.csv: want s3://bucket/key without user info"},
		{"s3://medsales-raw/nucc/nucc_taxonomy_251.csv#sig123", "source s3://medsales-raw/nucc/nucc_taxonomy_251.csv: want s3://bucket/key without user info"},
	} {
		err := ingest.Request{Dataset: "nucc", Source: c.src}.Validate(time.Time{})
		if err == nil {
			t.Errorf("Validate(%q) = nil, want an error", c.src)
			continue
		}
		if x := leaks(err.Error()); x != "" {
			t.Errorf("Validate error holds %q: %v", x, err)
		}
		if !strings.Contains(err.Error(), c.shown) {
			t.Errorf("Validate error = %v, want it to contain %q", err, c.shown)
		}
	}
}

// TestValidatePartBPartDNeedDataYear: a Part B or Part D file whose name
// carries no data year, without dataYear, is refused on dataYear saying
// how to give it, before anything is opened or queued; the request was
// accepted, and the load failed once it ran. A zip archive is let through
// (the member read may carry the year), and so are the datasets that find
// their year elsewhere or need none.
func TestValidatePartBPartDNeedDataYear(t *testing.T) {
	for _, c := range []struct {
		req  ingest.Request
		want string // "" when valid
	}{
		{ingest.Request{Dataset: "partb", Source: "s3://medsales-raw/cms/physicians.csv"}, "dataYear: physicians.csv: the file name carries no data year (such as _D24_ or _DY24_): give it (--data-year, or dataYear in POST /v1/ingestions)"},
		{ingest.Request{Dataset: "partd", Source: "/data/drop/prescribers.csv"}, "dataYear: prescribers.csv: the file name carries no data year"},
		// Named as another dataset's file: that is the problem to fix.
		{ingest.Request{Dataset: "partb", Source: "data/sample/nucc_taxonomy_251.csv"}, "source: nucc_taxonomy_251.csv is named as a file of dataset nucc, not partb, and carries no data year: wrong file for the dataset"},
		{ingest.Request{Dataset: "partd", Source: "https://download.cms.gov/files/partd-latest"}, "dataYear: partd-latest: the file name carries no data year"},
		{ingest.Request{Dataset: "partb", Source: "https://download.cms.gov"}, "dataYear: https://download.cms.gov: the file name carries no data year"},
		{ingest.Request{Dataset: "partb", Source: "s3://medsales-raw/cms/physicians.csv", DataYear: 2024}, ""},
		{ingest.Request{Dataset: "partb", Source: "s3://medsales-raw/cms/MUP_PHY_R26_P05_V10_D24_Prov_Svc.csv"}, ""},
		{ingest.Request{Dataset: "partd", Source: "s3://medsales-raw/cms/MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv"}, ""},
		{ingest.Request{Dataset: "partd", Source: "s3://medsales-raw/cms/prescribers.zip"}, ""},
		{ingest.Request{Dataset: "openpayments", Source: "s3://medsales-raw/cms/payments.csv"}, ""},
		{ingest.Request{Dataset: "zcta", Source: "s3://medsales-raw/Gaz_zcta_national.txt"}, ""},
		{ingest.Request{Dataset: "nucc", Source: "s3://medsales-raw/nucc.csv"}, ""},
	} {
		err := c.req.Validate(time.Time{})
		var e *errs.Error
		switch {
		case c.want == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want nil", c.req, err)
		case c.want != "" && (!errors.As(err, &e) || e.Code != errs.CodeInvalid || !strings.HasPrefix(err.Error(), c.want)):
			t.Errorf("Validate(%+v) = %v, want an invalid error starting %q", c.req, err, c.want)
		}
	}
}

// TestValidateFutureDataYear: a data year after now's year, given or in
// the file name, is refused on dataYear at once (QA: _D42_ loaded as
// 2042); this year and earlier ones pass, and without a clock (Run's
// first check) no bound applies.
func TestValidateFutureDataYear(t *testing.T) {
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		req  ingest.Request
		want string // "" when valid
	}{
		{ingest.Request{Dataset: "partb", Source: "MUP_PHY_R26_P05_V10_D42_Prov_Svc.csv"}, "its data year, 2042, is after the current year, 2026"},
		{ingest.Request{Dataset: "partd", Source: "partd.csv", DataYear: 2027}, "2027 is after the current year, 2026"},
		{ingest.Request{Dataset: "openpayments", Source: "OP_DTL_GNRL_PGYR2027_P01232026.csv"}, "its data year, 2027, is after"},
		{ingest.Request{Dataset: "partd", Source: "partd.csv", DataYear: 2026}, ""},
		{ingest.Request{Dataset: "partb", Source: "MUP_PHY_R26_P05_V10_D24_Prov_Svc.csv"}, ""},
	} {
		err := c.req.Validate(now)
		var e *errs.Error
		switch {
		case c.want == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want nil", c.req, err)
		case c.want != "" && (!errors.As(err, &e) || e.Field != "dataYear" || !strings.Contains(err.Error(), c.want)):
			t.Errorf("Validate(%+v) = %v, want an error on dataYear containing %q", c.req, err, c.want)
		}
		if err := c.req.Validate(time.Time{}); err != nil {
			t.Errorf("Validate(%+v) without a clock = %v, want nil", c.req, err)
		}
	}
}
