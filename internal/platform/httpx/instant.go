package httpx

import (
	"time"

	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/rfc3339"
)

// Instant is a timestamp in a JSON request body, read strictly as RFC 3339
// (see package rfc3339): time.Time's own decoding also takes offsets of 24
// hours or more, so an event at 20:00+24:00 was recorded a whole day from
// the wall time it was sent with.
type Instant struct{ time.Time }

// UnmarshalJSON implements json.Unmarshaler. Its error names no field:
// Decode names it from the body.
func (t *Instant) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && !rfc3339.Strict(string(b[1:len(b)-1])) {
		return errs.Invalid("", "must be an RFC 3339 timestamp with a time zone, such as 2026-01-02T15:04:05Z")
	}
	return t.Time.UnmarshalJSON(b) // refuses what is not a string, and bad dates and times
}
