package httpx

import (
	"encoding/json"
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
//
// The string is checked once its JSON escapes are read: "…00\u005a" is
// "…00Z", as any JSON reader sees it (QA: the raw bytes were checked, and
// the valid timestamp refused with no field named).
func (t *Instant) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if !rfc3339.Strict(s) {
			return errs.Invalid("", "must be an RFC 3339 timestamp with a time zone, such as 2026-01-02T15:04:05Z")
		}
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return err // a bad date or time (02-30, 25:00): a *time.ParseError
		}
		t.Time = v
		return nil
	}
	return t.Time.UnmarshalJSON(b) // refuses what is not a string
}
