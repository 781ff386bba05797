package httpx

import (
	"errors"
	"strconv"
)

// errNotDecimal is what ParseInt and ParseFloat return for text that is
// not written as a plain decimal number.
var errNotDecimal = errors.New("not a plain decimal number")

// ParseInt parses a query parameter's integer: ASCII digits, with a
// leading minus sign for a negative one. strconv alone also takes "+5",
// which no client means to send and whose echo would differ from the
// value used.
func ParseInt(s string) (int64, error) {
	if !decimal(s, false) {
		return 0, errNotDecimal
	}
	return strconv.ParseInt(s, 10, 64)
}

// ParseFloat parses a query parameter's number: digits with at most one
// decimal point between digits, and an optional leading minus sign. Hex
// floats, exponents, "Inf" and "NaN", which strconv takes, are refused,
// and -0 reads as 0.
func ParseFloat(s string) (float64, error) {
	if !decimal(s, true) {
		return 0, errNotDecimal
	}
	v, err := strconv.ParseFloat(s, 64)
	if v == 0 {
		v = 0 // not -0
	}
	return v, err
}

// decimal reports whether s is -?digits, or with point -?digits.digits.
func decimal(s string, point bool) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	digits, seenPoint := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && point && !seenPoint && digits > 0 && i+1 < len(s):
			seenPoint = true
		default:
			return false
		}
	}
	return digits > 0
}
