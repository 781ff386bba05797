package ingest_test

import (
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/ingest"
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
		err := ingest.Request{Dataset: "nucc", Source: c.src}.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "source") {
			t.Errorf("Validate(source %q) = %v, want an error on source containing %q", c.src, err, c.want)
		}
	}
	for _, src := range []string{"s3://medsales-raw/nucc/nucc_taxonomy_251.csv", "https://download.cms.gov/x.zip", "HTTP://host/x.csv", "data/nucc_taxonomy_251.csv", "C://data/x.csv"} {
		if err := (ingest.Request{Dataset: "nucc", Source: src}).Validate(); err != nil {
			t.Errorf("Validate(source %q) = %v, want nil", src, err)
		}
	}
}
