package dataset_test

import (
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales/dataset"
)

func TestParseDate(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{in: "05/23/2005", want: day(2005, 5, 23)},
		{in: "1/2/2024", want: day(2024, 1, 2)},
		{in: "02/29/2024", want: day(2024, 2, 29)},
		{in: "2024-12-31", want: day(2024, 12, 31)},
		{in: "02/29/2023", wantErr: `date "02/29/2023" does not exist (day 29 of month 2)`},
		{in: "13/01/2024", wantErr: `date "13/01/2024" is out of range`},
		{in: "2024-00-10", wantErr: `date "2024-00-10" is out of range`},
		{in: "05/23/05", wantErr: `date "05/23/05" is not MM/DD/YYYY or YYYY-MM-DD`},
		{in: "5-23-2005", wantErr: `date "5-23-2005" is not MM/DD/YYYY or YYYY-MM-DD`},
		{in: "0a/23/2005", wantErr: `date "0a/23/2005" is not MM/DD/YYYY or YYYY-MM-DD`},
		{in: "", wantErr: `date "" is not MM/DD/YYYY or YYYY-MM-DD`},
		// The zero time stands for an absent date in the loaders: the
		// date was stored as NULL, though the file has one.
		{in: "01/01/0001", wantErr: `date "01/01/0001" is out of range`},
		{in: "0001-01-01", wantErr: `date "0001-01-01" is out of range`},
		{in: "01/02/0001", want: day(1, 1, 2)},
	}
	for _, tt := range tests {
		got, err := dataset.ParseDate([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseDate(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("ParseDate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "123.45", want: "123.45"},
		{in: "+0012.50", want: "12.50"},
		{in: "-7", want: "-7"},
		{in: ".5", want: "0.5"},
		{in: "5.", want: "5"},
		{in: "-0.00", want: "0.00"},
		{in: " 42 ", want: "42"},
		{in: "00", want: "0"},
		{in: "99999999999999999999.123456789", want: "99999999999999999999.123456789"},
		{in: "", wantErr: "empty decimal"},
		{in: "-", wantErr: `decimal "-" has no digits`},
		{in: ".", wantErr: `decimal "." has no digits`},
		{in: "1,234.00", wantErr: `decimal "1,234.00" has an unexpected character ','`},
		{in: "1.2.3", wantErr: `decimal "1.2.3" has an unexpected character '.'`},
		{in: "1e5", wantErr: `decimal "1e5" has an unexpected character 'e'`},
		{in: "$5", wantErr: `decimal "$5" has an unexpected character '$'`},
		{in: "١٢٣", wantErr: `decimal "١٢٣" has an unexpected character '١'`},
		{in: "1.٢", wantErr: `decimal "1.٢" has an unexpected character '٢'`},
		{in: "1\xd9", wantErr: `decimal "1\xd9" has an unexpected character '\xd9'`},
	}
	for _, tt := range tests {
		got, err := dataset.ParseDecimal([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseDecimal(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDecimal(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseInt(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "0", want: 0},
		{in: "+15", want: 15},
		{in: "-15", want: -15},
		{in: " 2024", want: 2024},
		{in: "9223372036854775807", want: 9223372036854775807},
		{in: "-9223372036854775808", want: -9223372036854775808},
		{in: "9223372036854775808", wantErr: `integer "9223372036854775808" is out of range`},
		{in: "99999999999999999999", wantErr: `integer "99999999999999999999" is out of range`},
		{in: "", wantErr: "empty integer"},
		{in: "+", wantErr: `integer "+" has no digits`},
		{in: "12.0", wantErr: `integer "12.0" has an unexpected character '.'`},
		{in: "1٢", wantErr: `integer "1٢" has an unexpected character '٢'`},
	}
	for _, tt := range tests {
		got, err := dataset.ParseInt([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseInt(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseInt(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestNPI(t *testing.T) {
	tests := []struct {
		npi     string
		valid   bool
		wantErr string
	}{
		{npi: "1234567893", valid: true}, // the CMS worked example
		{npi: "1245319599", valid: true},
		{npi: "1003000126", valid: true},
		{npi: "1234567890", wantErr: `NPI "1234567890" fails the check digit (want 3)`},
		{npi: "123456789", wantErr: `NPI "123456789" does not have 10 digits`},
		{npi: "12345678931", wantErr: `NPI "12345678931" does not have 10 digits`},
		{npi: "12345A7893", wantErr: `NPI "12345A7893" is not all digits`},
		{npi: "", wantErr: "NPI is empty"},
		{npi: strings.Repeat("9", 5000), wantErr: "NPI of 5000 characters does not have 10 digits"},
		{npi: "１２３４５６７８９３", wantErr: `NPI "１２３４５６７８９３" is not all digits`}, // full-width: 10 characters, 30 bytes
		{npi: strings.Repeat("é", 21), wantErr: "NPI of 21 characters does not have 10 digits"},
	}
	for _, tt := range tests {
		err := dataset.CheckNPI([]byte(tt.npi))
		switch {
		case tt.valid && err != nil:
			t.Errorf("CheckNPI(%q) = %v", tt.npi, err)
		case !tt.valid && (err == nil || err.Error() != tt.wantErr):
			t.Errorf("CheckNPI(%q) = %v, want %q", tt.npi, err, tt.wantErr)
		}
	}
	for _, tt := range []struct {
		base string
		want byte
	}{
		{"123456789", '3'}, {"124531959", '9'}, {"100300012", '6'}, {"12345678", 0}, {"12345678x", 0},
	} {
		if got := dataset.NPICheckDigit(tt.base); got != tt.want {
			t.Errorf("NPICheckDigit(%q) = %q, want %q", tt.base, got, tt.want)
		}
	}
	// Every check digit NPICheckDigit produces validates, and no other does.
	for base := 100000000; base < 100000000+2000; base++ {
		b9 := []byte(npiBase9(base))
		d := dataset.NPICheckDigit(string(b9))
		for c := byte('0'); c <= '9'; c++ {
			if err := dataset.CheckNPI(append(append([]byte{}, b9...), c)); (err == nil) != (c == d) {
				t.Fatalf("CheckNPI(%s%c) = %v with check digit %c", b9, c, err, d)
			}
		}
	}
}

func npiBase9(n int) string {
	b := make([]byte, 9)
	for i := 8; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b)
}

func TestNumericFit(t *testing.T) {
	money := dataset.Numeric{Precision: dataset.MoneyPrecision, Scale: dataset.MoneyScale}
	manyDigits := "1" + strings.Repeat("0", 131072) // 131,073 digits before the point
	manyDecimals := "0." + strings.Repeat("1", 16384)
	tests := []struct {
		typ           dataset.Numeric
		in, want, err string
	}{
		{typ: money, in: "0", want: "0.00"},
		{typ: money, in: "12.345", want: "12.35"},
		{typ: money, in: "-0.001", want: "0.00"},
		{typ: money, in: "999999999999.994", want: "999999999999.99"},
		{typ: money, in: "-999999999999.994", want: "-999999999999.99"},
		{typ: money, in: "999999999999.995",
			err: "999999999999.995 is out of range: rounded to 2 decimals it must be between -999999999999.99 and 999999999999.99 (NUMERIC(14,2))"},
		{typ: money, in: "99999999999999.995",
			err: "99999999999999.995 is out of range: rounded to 2 decimals it must be between -999999999999.99 and 999999999999.99 (NUMERIC(14,2))"},
		{typ: money, in: "-1000000000000", err: "-1000000000000 is out of range"},
		{typ: money, in: "1." + strings.Repeat("0", 20000), want: "1.00"}, // rounded first: fits
		{typ: dataset.Numeric{Precision: 2, Scale: 2}, in: "0.994", want: "0.99"},
		{typ: dataset.Numeric{Precision: 2, Scale: 2}, in: "0.995", err: "between -0.99 and 0.99 (NUMERIC(2,2))"},
		{typ: dataset.Numeric{Precision: 3}, in: "999.5", err: "rounded to 0 decimals it must be between -999 and 999 (NUMERIC(3,0))"},
		{typ: dataset.Numeric{Precision: 3}, in: "-998.5", want: "-999"},
		{in: "150.895522388", want: "150.895522388"},
		{in: "-0.00", want: "-0.00"}, // kept as given: ParseDecimal already dropped the sign of zero
		{in: manyDigits[1:], want: manyDigits[1:]},
		{in: manyDecimals[:len(manyDecimals)-1], want: manyDecimals[:len(manyDecimals)-1]},
		{in: manyDigits,
			err: "100000000000000000000000…000000000000000000000000 (131073 characters) is out of range: 131073 digits before the decimal point, NUMERIC holds at most 131072"},
		{in: manyDecimals,
			err: "0.1111111111111111111111…111111111111111111111111 (16386 characters) is out of range: 16384 digits after the decimal point, NUMERIC holds at most 16383"},
	}
	for _, tt := range tests {
		got, err := tt.typ.Fit(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s.Fit(%.30q) = %.30q, %v; want an error containing %q", tt.typ, tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s.Fit(%.30q) = %.30q, %v; want %.30q", tt.typ, tt.in, got, err, tt.want)
		}
	}
}
