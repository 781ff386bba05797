package dataset

import (
	"errors"
	"fmt"
	"time"
)

// ParseDate parses a date written MM/DD/YYYY (the CMS and NPPES form; one-
// digit months and days are accepted) or YYYY-MM-DD, and returns midnight
// UTC of that day. The error says what is wrong with the value.
func ParseDate(b []byte) (time.Time, error) {
	var y, m, d int
	var ok bool
	switch {
	case len(b) == 10 && b[4] == '-' && b[7] == '-':
		y, ok = digits(b[0:4])
		if ok {
			m, ok = digits(b[5:7])
		}
		if ok {
			d, ok = digits(b[8:10])
		}
	default:
		// M/D/YYYY … MM/DD/YYYY
		i := indexByte(b, '/')
		if i < 1 || i > 2 {
			return time.Time{}, fmt.Errorf("date %q is not MM/DD/YYYY or YYYY-MM-DD", b)
		}
		j := i + 1 + indexByte(b[i+1:], '/')
		if j <= i+1 || j-i-1 > 2 || len(b)-j-1 != 4 {
			return time.Time{}, fmt.Errorf("date %q is not MM/DD/YYYY or YYYY-MM-DD", b)
		}
		m, ok = digits(b[:i])
		if ok {
			d, ok = digits(b[i+1 : j])
		}
		if ok {
			y, ok = digits(b[j+1:])
		}
	}
	if !ok {
		return time.Time{}, fmt.Errorf("date %q is not MM/DD/YYYY or YYYY-MM-DD", b)
	}
	if y < 1 || m < 1 || m > 12 || d < 1 || d > 31 {
		return time.Time{}, fmt.Errorf("date %q is out of range", b)
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d {
		return time.Time{}, fmt.Errorf("date %q does not exist (day %d of month %d)", b, d, m)
	}
	return t, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// digits parses a non-empty run of ASCII digits (at most 9) as an int.
func digits(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// ParseDecimal validates a decimal number — an optional sign, digits, an
// optional decimal point and fraction, surrounding spaces allowed — and
// returns its canonical text: no '+' sign, no redundant leading zeros, a
// zero before a leading decimal point, no trailing decimal point, no sign
// on zero. The fraction's digits are kept as written, so the value can be
// stored exactly in NUMERIC or TEXT.
func ParseDecimal(b []byte) (string, error) {
	s := trimSpace(b)
	if len(s) == 0 {
		return "", errors.New("empty decimal")
	}
	neg := false
	p := s
	if p[0] == '+' || p[0] == '-' {
		neg = p[0] == '-'
		p = p[1:]
	}
	intEnd := 0
	for intEnd < len(p) && p[intEnd] >= '0' && p[intEnd] <= '9' {
		intEnd++
	}
	intPart, frac := p[:intEnd], p[intEnd:]
	if len(frac) > 0 {
		if frac[0] != '.' {
			return "", fmt.Errorf("decimal %q has an unexpected character %q", s, frac[0])
		}
		frac = frac[1:]
		for _, c := range frac {
			if c < '0' || c > '9' {
				return "", fmt.Errorf("decimal %q has an unexpected character %q", s, c)
			}
		}
	}
	if len(intPart) == 0 && len(frac) == 0 {
		return "", fmt.Errorf("decimal %q has no digits", s)
	}
	for len(intPart) > 1 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	zero := true
	for _, c := range intPart {
		zero = zero && c == '0'
	}
	for _, c := range frac {
		zero = zero && c == '0'
	}
	out := make([]byte, 0, len(intPart)+len(frac)+3)
	if neg && !zero {
		out = append(out, '-')
	}
	if len(intPart) == 0 {
		out = append(out, '0')
	}
	out = append(out, intPart...)
	if len(frac) > 0 {
		out = append(out, '.')
		out = append(out, frac...)
	}
	return string(out), nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// ParseInt parses a base-10 integer (optional sign, surrounding spaces
// allowed) that fits in an int64.
func ParseInt(b []byte) (int64, error) {
	s := trimSpace(b)
	if len(s) == 0 {
		return 0, errors.New("empty integer")
	}
	p := s
	neg := false
	if p[0] == '+' || p[0] == '-' {
		neg = p[0] == '-'
		p = p[1:]
	}
	if len(p) == 0 {
		return 0, fmt.Errorf("integer %q has no digits", s)
	}
	var n uint64
	const limit = 1 << 63
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("integer %q has an unexpected character %q", s, c)
		}
		if n > (limit)/10 {
			return 0, fmt.Errorf("integer %q is out of range", s)
		}
		n = n*10 + uint64(c-'0')
		if n > limit {
			return 0, fmt.Errorf("integer %q is out of range", s)
		}
	}
	if neg {
		if n == limit {
			return -1 << 63, nil
		}
		return -int64(n), nil
	}
	if n == limit {
		return 0, fmt.Errorf("integer %q is out of range", s)
	}
	return int64(n), nil
}

// ValidNPI reports whether b is a valid National Provider Identifier: ten
// ASCII digits whose last is the Luhn check digit of the first nine
// prefixed with 80840 (ISO 7812 health-industry prefix).
func ValidNPI(b []byte) bool {
	if len(b) != 10 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return npiCheck(b[:9]) == b[9]
}

// CheckNPI is ValidNPI with a reason: it returns an error saying what is
// wrong with b, or nil.
func CheckNPI(b []byte) error {
	if len(b) == 0 {
		return errors.New("NPI is empty")
	}
	if len(b) != 10 {
		return fmt.Errorf("NPI %q does not have 10 digits", b)
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return fmt.Errorf("NPI %q is not all digits", b)
		}
	}
	if want := npiCheck(b[:9]); want != b[9] {
		return fmt.Errorf("NPI %q fails the check digit (want %c)", b, want)
	}
	return nil
}

// NPICheckDigit returns the ASCII check digit ('0'…'9') that completes the
// 9-digit NPI base base9, or 0 when base9 is not nine ASCII digits.
func NPICheckDigit(base9 string) byte {
	if len(base9) != 9 {
		return 0
	}
	for i := 0; i < 9; i++ {
		if base9[i] < '0' || base9[i] > '9' {
			return 0
		}
	}
	return npiCheck([]byte(base9))
}

// npiCheck computes the Luhn check digit over "80840"+base9. Walking from
// the rightmost digit of the payload, every other digit (starting with the
// rightmost) is doubled.
func npiCheck(base9 []byte) byte {
	const prefix = "80840"
	sum := 0
	double := true
	for i := 8; i >= 0; i-- {
		sum += luhnDigit(int(base9[i]-'0'), double)
		double = !double
	}
	for i := len(prefix) - 1; i >= 0; i-- {
		sum += luhnDigit(int(prefix[i]-'0'), double)
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}

func luhnDigit(d int, double bool) int {
	if !double {
		return d
	}
	d *= 2
	if d > 9 {
		d -= 9
	}
	return d
}
