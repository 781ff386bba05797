package report_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/adherence/report"
)

func TestClassKey(t *testing.T) {
	for _, name := range []string{"diabetes", "Diabetes", "DIABETES", "  diabetes\t", " DiAbEtEs "} {
		if got := report.ClassKey(name); got != "diabetes" {
			t.Errorf("ClassKey(%q) = %q, want %q", name, got, "diabetes")
		}
	}
	if report.ClassKey("statins") == report.ClassKey("diabetes") {
		t.Error("different classes share a key")
	}
}

// TestClassesGroupIgnoringCase adds plans whose drugClass differs only by
// letter case and surrounding space: they form one class, named as the
// first plan spells it, whose PDC counts the fills of all of them.
func TestClassesGroupIgnoringCase(t *testing.T) {
	var c report.Classes
	c.Add(" Diabetes ", "metformin", fills(t, fill{"metformin", "2026-01-01", 30}))
	c.Add("RASA", "lisinopril", fills(t, fill{"lisinopril", "2026-01-01", 90}))
	c.Add("diabetes", "glipizide", fills(t, fill{"glipizide", "2026-02-01", 30}))
	c.Add("DIABETES", "metformin", fills(t, fill{"metformin", "2026-01-20", 30}))
	c.Add("statins", "atorvastatin", nil)

	got := c.List()
	want := []report.Class{
		{Name: "Diabetes", Drugs: []string{"glipizide", "metformin"}, Fills: fills(t,
			fill{"metformin", "2026-01-01", 30}, fill{"glipizide", "2026-02-01", 30}, fill{"metformin", "2026-01-20", 30})},
		{Name: "RASA", Drugs: []string{"lisinopril"}, Fills: fills(t, fill{"lisinopril", "2026-01-01", 90})},
		{Name: "statins", Drugs: []string{"atorvastatin"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("classes (-want +got):\n%s", diff)
	}

	// The metformin refill of 01-20 is shifted to 01-31, so metformin
	// covers 01-01 … 03-01; glipizide (02-01 … 03-02, not shifted) adds
	// 03-02: 61 of 90 days.
	res, err := report.PDC(got[0].Fills, date(t, "2026-01-01"), date(t, "2026-03-31"), report.DefaultThreshold)
	if err != nil {
		t.Fatal(err)
	}
	if res.CoveredDays != 61 || res.Days != 90 || res.Fills != 3 {
		t.Errorf("PDC of the merged class = %+v, want 61 of 90 days from 3 fills", res)
	}
}

// TestClassesNameIsTheFirstSpelling checks that the name does not depend
// on map order or on later spellings.
func TestClassesNameIsTheFirstSpelling(t *testing.T) {
	for range 20 {
		var c report.Classes
		c.Add("diabetes", "metformin", nil)
		c.Add("Diabetes", "metformin", nil)
		if got := c.List(); len(got) != 1 || got[0].Name != "diabetes" || len(got[0].Drugs) != 1 {
			t.Fatalf("classes = %+v, want one named %q with one drug", got, "diabetes")
		}
	}
	var empty report.Classes
	if got := empty.List(); len(got) != 0 {
		t.Errorf("zero Classes lists %+v", got)
	}
}
