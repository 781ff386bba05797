package report_test

import (
	"math/big"
	"testing"

	"github.com/medplatform/medplatform/internal/adherence/report"
)

// TestRound4HalvesUp: every ratio of up to 2,000 days rounds as its exact
// decimal does, half up; rounding the float64 ratio turned 57/800
// (0.07125) into 0.0712.
func TestRound4HalvesUp(t *testing.T) {
	bad := 0
	for d := int64(1); d <= 2000; d++ {
		for n := int64(0); n <= d; n++ {
			// floor(n/d * 10000 + 1/2), exactly.
			q := new(big.Int).Quo(big.NewInt(n*20000+d), big.NewInt(2*d))
			want, _ := new(big.Rat).SetFrac(q, big.NewInt(10000)).Float64()
			if got := report.Round4(n, d); got != want {
				if bad++; bad <= 5 {
					t.Errorf("Round4(%d, %d) = %v, want %v", n, d, got, want)
				}
			}
		}
	}
	if got := report.Round4(3, 2); got != 1.5 {
		t.Errorf("Round4(3, 2) = %v, want 1.5", got)
	}
}

// TestPDCRoundsTheExactRatio: 57 covered days of 800 is 0.07125, shown
// 0.0713.
func TestPDCRoundsTheExactRatio(t *testing.T) {
	start := date(t, "2020-01-01")
	end := date(t, "2022-03-10") // 800 days from 2020-01-01
	r, err := report.PDC([]report.Fill{{Drug: "lisinopril", Date: start, DaysSupply: 57}}, start, end, report.DefaultThreshold)
	if err != nil {
		t.Fatal(err)
	}
	if r.Days != 800 || r.CoveredDays != 57 || *r.PDC != 0.0713 || *r.MPR != 0.0713 {
		t.Errorf("PDC = %d of %d days, pdc %v mpr %v; want 57 of 800, 0.0713", r.CoveredDays, r.Days, *r.PDC, *r.MPR)
	}
}
