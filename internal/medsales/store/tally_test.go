package store_test

import (
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/store"
)

// TestTallyThresholdMessage: a share of rejects just above the maximum
// is written with the decimals that show it above; with two decimals the
// error said "1001 of 100000 rows rejected (1.00%), more than the allowed
// 1.00%".
func TestTallyThresholdMessage(t *testing.T) {
	tests := []struct {
		loaded, rejected int64
		ratio            float64
		want             string
	}{
		{4, 1, 0, "f.csv: 1 of 5 rows rejected (20.00%), more than the allowed 1.00%: nothing loaded; the first: line 2: bad"},
		{98999, 1001, 0, "f.csv: 1001 of 100000 rows rejected (1.001%), more than the allowed 1.000%: nothing loaded; the first: line 2: bad"},
		{9629596, 97270, 0, "f.csv: 97270 of 9726866 rows rejected (1.00001%), more than the allowed 1.00000%: nothing loaded; the first: line 2: bad"},
		{99, 1, 0, ""}, // exactly 1% is allowed
	}
	for _, tt := range tests {
		tally := store.NewTally(store.LoadInput{File: "f.csv", MaxRejectRatio: tt.ratio})
		tally.Reject(2, "bad")
		tally.Loaded, tally.Rejected = tt.loaded, tt.rejected
		got := ""
		if err := tally.Done(); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%d of %d rejected:\n got  %q\n want %q", tt.rejected, tt.loaded+tt.rejected, got, tt.want)
		}
	}
}
