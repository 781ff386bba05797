package api

import (
	"slices"
	"testing"
)

// TestSortLowestUsesUnroundedAdherence: 2/3 and 4001/6001 both answer
// 0.6667; the list is cut by limit after sorting, so the patient further
// below the threshold must come first whatever their ids.
func TestSortLowestUsesUnroundedAdherence(t *testing.T) {
	rows := []patientRow{
		{PatientID: "a", adherence: 4001.0 / 6001},
		{PatientID: "b", adherence: 2.0 / 3},
		{PatientID: "c", adherence: 0.5},
		{PatientID: "d", adherence: 0.5},
	}
	sortLowest(rows)
	var got []string
	for _, r := range rows {
		got = append(got, r.PatientID)
	}
	if want := []string{"c", "d", "b", "a"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}
