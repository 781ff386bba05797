package api

import (
	"slices"
	"testing"

	"github.com/medplatform/medplatform/internal/adherence"
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

// TestCountsRoundTheExactRatio: 57 of 800 doses is 0.07125, answered
// 0.0713; rounding the float64 ratio gave 0.0712.
func TestCountsRoundTheExactRatio(t *testing.T) {
	c := countsOut(adherence.DoseCounts{Scheduled: 800, OnTime: 57, Missed: 743})
	if c.TakingAdherence == nil || *c.TakingAdherence != 0.0713 || *c.TimingAdherence != 0.0713 {
		t.Errorf("taking %v timing %v, want 0.0713", *c.TakingAdherence, *c.TimingAdherence)
	}
	if c := countsOut(adherence.DoseCounts{Scheduled: 2, Excluded: 2}); c.TakingAdherence != nil || c.TimingAdherence != nil {
		t.Errorf("nothing counted: %v %v, want null", c.TakingAdherence, c.TimingAdherence)
	}
}
