package dataset

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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
	// 0001-01-01 is the zero time, which the loaders write as NULL (an
	// absent date): a file's value would be lost, so it is out of range.
	if y < 1 || m < 1 || m > 12 || d < 1 || d > 31 || y == 1 && m == 1 && d == 1 {
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
			return "", fmt.Errorf("decimal %q has an unexpected character %s", s, charAt(frac))
		}
		frac = frac[1:]
		for i, c := range frac {
			if c < '0' || c > '9' {
				return "", fmt.Errorf("decimal %q has an unexpected character %s", s, charAt(frac[i:]))
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

// charAt quotes the character b starts with, as Go quotes a rune ('١'),
// or, when b starts with no valid UTF-8 character, its first byte ('\xd9'):
// a byte of a multi-byte character quoted alone read as another character
// (QA: Arabic-Indic digits were reported as 'Ù').
func charAt(b []byte) string {
	r, size := utf8.DecodeRune(b)
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf(`'\x%02x'`, b[0])
	}
	return strconv.QuoteRune(r)
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
	for i, c := range p {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("integer %q has an unexpected character %s", s, charAt(p[i:]))
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

// CheckNPI returns an error saying what is wrong with b as a National
// Provider Identifier, or nil when it is one: ten ASCII digits whose last is
// the Luhn check digit of the first nine prefixed with 80840 (ISO 7812
// health-industry prefix).
func CheckNPI(b []byte) error {
	if len(b) == 0 {
		return errors.New("NPI is empty")
	}
	// Counted in characters, not bytes: ten full-width digits are ten
	// characters (and not digits), not thirty.
	n := utf8.RuneCount(b)
	if n > 20 {
		// Whatever a client sent (a path segment, a file field): not worth
		// echoing in full.
		return fmt.Errorf("NPI of %d characters does not have 10 digits", n)
	}
	if n != 10 {
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

// MoneyPrecision and MoneyScale are the type of the store's amounts in
// dollars and cents (Part D drug costs, the Open Payments amount):
// NUMERIC(14,2) in migration 00003_claims, so at most 12 digits before the
// decimal point.
const (
	MoneyPrecision = 14
	MoneyScale     = 2
)

// The most digits an unconstrained PostgreSQL NUMERIC holds before and
// after the decimal point; more is "value overflows numeric format".
const (
	maxNumericIntDigits  = 131072
	maxNumericFracDigits = 16383
)

// Numeric is the type of the PostgreSQL NUMERIC column a decimal is stored
// in: NUMERIC(Precision, Scale), or unconstrained NUMERIC when Precision is
// 0. The loaders fit every decimal to its column before writing it, so a
// value the column cannot hold rejects its row on both engines, instead of
// failing the whole PostgreSQL COPY while SQLite, whose column is TEXT,
// stores it.
type Numeric struct {
	Precision, Scale int
}

// String returns the SQL type: "NUMERIC(14,2)" or "NUMERIC".
func (n Numeric) String() string {
	if n.Precision == 0 {
		return "NUMERIC"
	}
	return fmt.Sprintf("NUMERIC(%d,%d)", n.Precision, n.Scale)
}

// Fit returns canonical decimal dec (as ParseDecimal returns it) as a
// column of type n stores it, or an error saying why the column cannot
// hold it, with the allowed range.
//
// With a precision, dec is rounded to n.Scale decimals half away from zero
// and always written with n.Scale decimals, as PostgreSQL rounds it, so
// both engines hold the same text; the range is checked after rounding,
// since 999999999999.995 rounds out of NUMERIC(14,2). Unconstrained NUMERIC
// keeps every digit and only refuses more digits than PostgreSQL can hold.
func (n Numeric) Fit(dec string) (string, error) {
	if n.Precision == 0 {
		intDigits, fracDigits := countDigits(dec)
		switch {
		case intDigits > maxNumericIntDigits:
			return "", fmt.Errorf("%s is out of range: %d digits before the decimal point, %s holds at most %d",
				abbreviate(dec), intDigits, n, maxNumericIntDigits)
		case fracDigits > maxNumericFracDigits:
			return "", fmt.Errorf("%s is out of range: %d digits after the decimal point, %s holds at most %d",
				abbreviate(dec), fracDigits, n, maxNumericFracDigits)
		}
		return dec, nil
	}
	rounded := roundScale(dec, n.Scale)
	if intDigits, _ := countDigits(rounded); intDigits > n.Precision-n.Scale {
		largest := strings.Repeat("9", n.Precision-n.Scale)
		if largest == "" {
			largest = "0"
		}
		if n.Scale > 0 {
			largest += "." + strings.Repeat("9", n.Scale)
		}
		return "", fmt.Errorf("%s is out of range: rounded to %d decimals it must be between -%s and %s (%s)",
			abbreviate(dec), n.Scale, largest, largest, n)
	}
	return rounded, nil
}

// countDigits returns the digits of a canonical decimal before and after
// its decimal point. A lone zero before the point is not a digit of the
// value ("0.5" has none), as PostgreSQL counts precision.
func countDigits(dec string) (intDigits, fracDigits int) {
	dec = strings.TrimPrefix(dec, "-")
	intPart, frac, _ := strings.Cut(dec, ".")
	if intPart != "0" {
		intDigits = len(intPart)
	}
	return intDigits, len(frac)
}

// abbreviate shortens a long value for a reject reason: a row may hold a
// number of a hundred thousand digits, which the reason need not repeat.
func abbreviate(s string) string {
	const keep = 24
	if len(s) <= 2*keep {
		return s
	}
	return fmt.Sprintf("%s…%s (%d characters)", s[:keep], s[len(s)-keep:], len(s))
}

// RoundCents rounds a canonical decimal (as ParseDecimal returns it) to two
// decimals, half away from zero — what PostgreSQL does when it stores the
// value in NUMERIC(14,2) — and always writes two decimals, so both engines
// hold the same text: "12.5" → "12.50", "0.125" → "0.13", "-0.001" →
// "0.00". It does not check the range: see Numeric.Fit.
func RoundCents(dec string) string { return roundScale(dec, 2) }

// roundScale rounds a canonical decimal to scale decimals, half away from
// zero, and writes exactly scale decimals (none and no point when scale is
// 0). Zero has no sign.
func roundScale(dec string, scale int) string {
	neg := len(dec) > 0 && dec[0] == '-'
	if neg {
		dec = dec[1:]
	}
	intPart, frac, _ := strings.Cut(dec, ".")
	if intPart == "" {
		intPart = "0"
	}
	// digits = intPart followed by the first scale fraction digits.
	digits := make([]byte, 0, len(intPart)+scale+1)
	digits = append(digits, intPart...)
	for k := 0; k < scale; k++ {
		if k < len(frac) {
			digits = append(digits, frac[k])
		} else {
			digits = append(digits, '0')
		}
	}
	if len(frac) > scale && frac[scale] >= '5' {
		k := len(digits) - 1
		for ; k >= 0; k-- {
			if digits[k] != '9' {
				digits[k]++
				break
			}
			digits[k] = '0'
		}
		if k < 0 {
			digits = append([]byte{'1'}, digits...)
		}
	}
	zero := true
	for _, d := range digits {
		zero = zero && d == '0'
	}
	out := make([]byte, 0, len(digits)+2)
	if neg && !zero {
		out = append(out, '-')
	}
	out = append(out, digits[:len(digits)-scale]...)
	if scale > 0 {
		out = append(out, '.')
		out = append(out, digits[len(digits)-scale:]...)
	}
	return string(out)
}
