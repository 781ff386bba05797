package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportPDCDaysSupplyLimit checks that `report pdc` rejects a days
// supply outside 1–366, the limit of the fills API, as a malformed row:
// "FILE:LINE: days_supply: …" on stderr, an error, nothing on stdout.
func TestReportPDCDaysSupplyLimit(t *testing.T) {
	tests := []struct {
		supply string
		ok     bool
	}{
		{"1", true},
		{"366", true},
		{"367", false},
		{"9223372036854775807", false},
		{"9223372036854775808", false}, // beyond int64
		{"0", false},
		{"-1", false},
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
			if tt.ok {
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
			want := path + ":3: days_supply: is not a whole number of days between 1 and 366\n"
			if stderr.String() != want {
				t.Errorf("stderr = %q, want %q", stderr.String(), want)
			}
		})
	}
}
