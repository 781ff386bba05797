// Package rfc3339 tells whether a timestamp is written strictly as RFC 3339
// says. time.Parse with time.RFC3339 also takes an offset of 24 hours or
// more (+24:00, +23:60), a comma before the fraction and a one-digit hour,
// so "2026-03-07T20:00:00+24:00" read as a whole day from the wall time it
// carries. Every timestamp a client sends (request bodies, query
// parameters, FHIR Timing dateTimes, CLI flags) is checked here as well as
// parsed by time.Parse, which checks the ranges of the date and time.
package rfc3339

// Strict reports whether s has the form of an RFC 3339 date-time:
// YYYY-MM-DDTHH:MM:SS, an optional fraction after a point, and Z or an
// offset ±HH:MM of at most 23:59.
func Strict(s string) bool {
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

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
