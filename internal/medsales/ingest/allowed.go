package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/riverqueue/river"
)

// SourceAllowed reports whether src starts with one of prefixes
// (INGEST_ALLOWED_SOURCES), which keep API-queued loads to the configured
// places, so that the ingestion token cannot make the worker read
// arbitrary files or URLs. A prefix that does not end in '/' ends at a
// boundary: what follows it, if anything, must start a new path segment.
// So a prefix ending inside a URL's host ("https://download.cms.gov",
// "s3://drop") allows that host or bucket only, not
// "https://download.cms.gov@10.0.0.1/x" (user info),
// "https://download.cms.gov.evil.example/x" nor "s3://dropper/x"; and one
// ending inside a path ("s3://bucket/data", "/data/drop") allows that path
// and what lies below it, not "s3://bucket/database.csv" nor
// "/data/dropbox/x".
func SourceAllowed(prefixes []string, src string) bool {
	for _, p := range prefixes {
		if !strings.HasPrefix(src, p) {
			continue
		}
		rest := src[len(p):]
		if !strings.HasSuffix(p, "/") && rest != "" && rest[0] != '/' {
			continue
		}
		return true
	}
	return false
}

// Climbs reports whether src holds "..", plainly or with its dots
// percent-encoded, once or more (%2e%2e, .%2E, %252e%252e): a web server
// decodes "/pub/%2e%2e/private/x" to "/private/x", outside the prefix
// "/pub/" that allowed it. A local path or an S3 key is read as written,
// but a ".." in one names no file a drop directory is meant to hold.
func Climbs(src string) bool {
	s := strings.ToLower(src)
	for {
		// Each pass shortens s, so the loop ends.
		t := strings.ReplaceAll(strings.ReplaceAll(s, "%2e", "."), "%25", "%")
		if t == s {
			return strings.Contains(s, "..")
		}
		s = t
	}
}

// jobMeta is what the metadata of a load's River job tells its worker.
type jobMeta struct {
	// AllowedSources are the prefixes (INGEST_ALLOWED_SOURCES) the API
	// checked the job's source against: the redirects the source's server
	// answers with must stay within them. Absent for a load queued
	// otherwise (INGEST_SCHEDULE).
	AllowedSources []string `json:"allowed_sources,omitempty"`
	// RequestID is the id of the API request that queued the job: its
	// worker's log lines carry it, so a load can be followed from the
	// request that asked for it.
	RequestID string `json:"request_id,omitempty"`
}

// QueuedOpts returns the insert options of a load queued through POST
// /v1/ingestions whose source the prefixes allowed: they are kept in the
// job's metadata, outside its args (so a load queued both through the API
// and by INGEST_SCHEDULE is still one job), and the worker follows only
// the redirects whose target they allow too (Worker.Work). The other
// options are JobArgs'.
func QueuedOpts(prefixes []string, requestID string) (*river.InsertOpts, error) {
	meta, err := json.Marshal(jobMeta{AllowedSources: prefixes, RequestID: requestID})
	if err != nil {
		return nil, err
	}
	return &river.InsertOpts{Metadata: meta}, nil
}

// errRedirectNotAllowed is why a redirect out of INGEST_ALLOWED_SOURCES
// is refused.
var errRedirectNotAllowed = errors.New("INGEST_ALLOWED_SOURCES, which loads queued through POST /v1/ingestions are kept to, does not allow the target: add it to INGEST_ALLOWED_SOURCES to load from it")

// redirectWithin returns a source.Options.CheckRedirect that refuses a
// redirect whose target prefixes do not allow, or that climbs out of them
// with "..".
func redirectWithin(prefixes []string) func(*url.URL) error {
	return func(target *url.URL) error {
		if Climbs(target.EscapedPath()) || !SourceAllowed(prefixes, target.String()) {
			return errRedirectNotAllowed
		}
		return nil
	}
}

// jobMetaOf reads the metadata of a load's job.
func jobMetaOf(raw []byte) (jobMeta, error) {
	var m jobMeta
	if len(raw) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("job metadata: %w", err)
	}
	return m, nil
}
