package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportPDCDaysSupplyLimit checks that `report pdc` reads days_supply
// strictly as whole days in ASCII digits, 1–366 (the limit of the fills
// API), and reports any other value as a malformed row saying what is
// wrong with it: "FILE:LINE: days_supply: …" on stderr, an error, nothing
// on stdout. A sign ("+30") was accepted, and "30.0" was told it was not a
// whole number of days between 1 and 366.
func TestReportPDCDaysSupplyLimit(t *testing.T) {
	const (
		outOfRange = "must be between 1 and 366 days"
		notDigits  = "is not a number of days; want whole days in digits (1 to 366)"
		fraction   = "has a decimal point; want whole days in digits, without one"
		sign       = "has a sign; want whole days in digits alone"
	)
	tests := []struct {
		supply string
		want   string // the problem; "" when the row is accepted
	}{
		{"1", ""},
		{"366", ""},
		{" 30 ", ""},
		{"030", ""},
		{"367", outOfRange},
		{"9223372036854775807", outOfRange},
		{"9223372036854775808", outOfRange}, // beyond int64
		{"0", outOfRange},
		{"-1", outOfRange},
		{"+30", sign},
		{"+", notDigits},
		{"30.0", fraction},
		{"30.5", fraction},
		{".5", fraction},
		{"30.", fraction},
		{"1.2.3", notDigits},
		{"3e1", notDigits},
		{"0x1e", notDigits},
		{"30 days", notDigits},
		{"３０", notDigits}, // full-width digits
		{"", "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.supply, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fills.csv")
			csv := "patient_id,drug,fill_date,days_supply\n" +
				"P1,lisinopril,2022-01-01,90\n" +
				"P1,lisinopril,2022-06-01," + tt.supply + "\n" // line 3
			if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{"report", "pdc", "--fills", path, "--start", "2022-01-01", "--end", "2022-12-31"},
				func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
			if tt.want == "" {
				if err != nil || stdout.Len() == 0 {
					t.Fatalf("err = %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), path+": 1 malformed row(s)") {
				t.Errorf("err = %v, want one counting 1 malformed row", err)
			}
			if stdout.Len() > 0 {
				t.Errorf("printed %q despite the error", stdout.String())
			}
			want := path + ":3: days_supply: " + tt.want + "\n"
			if stderr.String() != want {
				t.Errorf("stderr = %q, want %q", stderr.String(), want)
			}
		})
	}
}
