package httpx

import (
	"time"

	"github.com/medplatform/medplatform/internal/platform/errs"
)

// Instant is a timestamp in a JSON request body, read strictly as RFC 3339
// (a time zone offset from -23:59 to +23:59). time.Time's own decoding
// also takes offsets of 24 hours or more (+24:00, +23:60), a comma before
// the fraction and a one-digit hour: an event at 20:00+24:00 was recorded
// a whole day from the wall time it was sent with.
type Instant struct{ time.Time }

// UnmarshalJSON implements json.Unmarshaler. Its error names no field:
// Decode names it from the body.
func (t *Instant) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && !StrictRFC3339(string(b[1:len(b)-1])) {
		return errs.Invalid("", "must be an RFC 3339 timestamp with a time zone, such as 2026-01-02T15:04:05Z")
	}
	return t.Time.UnmarshalJSON(b) // refuses what is not a string, and bad dates and times
}

// StrictRFC3339 reports whether s has the form of an RFC 3339 date-time:
// YYYY-MM-DDTHH:MM:SS, an optional fraction after a point, and Z or an
// offset ±HH:MM of at most 23:59. The ranges of the date and time are
// time.Parse's to check; it takes more forms than these, so a value is
// read by both.
func StrictRFC3339(s string) bool {
	digits := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	if len(s) < 20 || !digits(s[0:4]) || s[4] != '-' || !digits(s[5:7]) || s[7] != '-' || !digits(s[8:10]) || s[10] != 'T' ||
		!digits(s[11:13]) || s[13] != ':' || !digits(s[14:16]) || s[16] != ':' || !digits(s[17:19]) {
		return false
	}
	rest := s[19:]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 {
			return false
		}
		rest = rest[n:]
	}
	if rest == "Z" {
		return true
	}
	return len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && digits(rest[1:3]) && rest[3] == ':' && digits(rest[4:6]) &&
		rest[1:3] <= "23" && rest[4:6] <= "59"
}
