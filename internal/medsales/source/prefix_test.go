package source_test

import (
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/source"
)

// TestCheckPrefix: a prefix of INGEST_ALLOWED_SOURCES must be able to
// start a source a load reads.
func TestCheckPrefix(t *testing.T) {
	for _, tt := range []struct {
		prefix string
		ok     bool
	}{
		{"s3://", true}, {"S3://drop/", true}, {"https://download.cms.gov/", true}, {"http://mirror/", true},
		{"/data/drop/", true}, {"data/drop", true},
		{"ftp://ftp.cms.gov/", false}, {"gs://bucket/", false}, {"file:///data/", false},
	} {
		if err := source.CheckPrefix(tt.prefix); (err == nil) != tt.ok {
			t.Errorf("CheckPrefix(%q) = %v, want ok %v", tt.prefix, err, tt.ok)
		}
	}
}
