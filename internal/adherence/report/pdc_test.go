package report_test

import (
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence/report"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

func date(t *testing.T, s string) report.Date {
	t.Helper()
	d, err := report.ParseDate(s)
	if err != nil {
		t.Fatalf("ParseDate(%q): %v", s, err)
	}
	return d
}

type fill struct {
	drug   string
	date   string
	supply int
}

func fills(t *testing.T, fs ...fill) []report.Fill {
	t.Helper()
	out := make([]report.Fill, len(fs))
	for i, f := range fs {
		out[i] = report.Fill{Drug: f.drug, Date: date(t, f.date), DaysSupply: f.supply}
	}
	return out
}

// referenceFills are the lisinopril fills of the worked example in the
// adherence reference, plus a 2021 fill outside the 2022 period.
var referenceFills = []fill{
	{"lisinopril", "2021-10-15", 90},
	{"lisinopril", "2022-01-01", 90},
	{"lisinopril", "2022-03-25", 90},
	{"lisinopril", "2022-07-05", 90},
	{"lisinopril", "2022-09-25", 90},
}

// TestPDC checks PDC against results worked out by hand. Days are counted
// from the index date as day 0.
func TestPDC(t *testing.T) {
	tests := []struct {
		name       string
		fills      []fill
		start, end string
		threshold  float64

		index    string // "" when no fill falls inside the period
		days     int
		covered  int
		pdc, mpr float64 // ignored when index is ""
		adherent bool
		count    int
		reason   string
	}{
		{
			// The reference example. Jan 1/90 covers days 0–89 (Jan 1–Mar 31).
			// Mar 25 is early: shifted to day 90 (Apr 1), covers 90–179
			// (to Jun 29). Jul 5 is day 185: a gap of days 180–184 (Jun 30 –
			// Jul 4, 5 days); covers 185–274 (to Oct 2). Sep 25 is early:
			// shifted to day 275 (Oct 3), covers 275–364 (to Dec 31).
			// 4×90 = 360 of 365; 360/365 = 0.98630 → 0.9863. The 2021 fill
			// is ignored (it would otherwise push the Jan 1 fill to Jan 13).
			// MPR = 360/365 too, as every supply fits.
			name: "reference example", fills: referenceFills,
			start: "2022-01-01", end: "2022-12-31", threshold: report.DefaultThreshold,
			index: "2022-01-01", days: 365, covered: 360, pdc: 0.9863, mpr: 0.9863, adherent: true, count: 4,
		},
		{
			// The same fills in another order and with the drug written
			// differently: still one drug, same result.
			name: "reference example, any order and drug case",
			fills: []fill{
				{"lisinopril", "2022-09-25", 90}, {"Lisinopril ", "2022-01-01", 90},
				{"LISINOPRIL", "2022-07-05", 90}, {"lisinopril", "2021-10-15", 90}, {" lisinopril", "2022-03-25", 90},
			},
			start: "2022-01-01", end: "2022-12-31", threshold: report.DefaultThreshold,
			index: "2022-01-01", days: 365, covered: 360, pdc: 0.9863, mpr: 0.9863, adherent: true, count: 4,
		},
		{
			// The reference example meets the antiretroviral bar as well:
			// 0.9863 ≥ 0.90.
			name: "reference example, antiretroviral threshold", fills: referenceFills,
			start: "2022-01-01", end: "2022-12-31", threshold: report.AntiretroviralThreshold,
			index: "2022-01-01", days: 365, covered: 360, pdc: 0.9863, mpr: 0.9863, adherent: true, count: 4,
		},
		{
			// Exactly 80%: 292 of 365 days is adherent.
			name:  "exactly the threshold",
			fills: []fill{{"lisinopril", "2022-01-01", 292}},
			start: "2022-01-01", end: "2022-12-31", threshold: report.DefaultThreshold,
			index: "2022-01-01", days: 365, covered: 292, pdc: 0.8, mpr: 0.8, adherent: true, count: 1, reason: report.ReasonOneFillDate,
		},
		{
			// Nine fills on one day chain by shifting: 8×366 + 275 = 3,203
			// covered of 4,004 days (2000-01-01 – 2010-12-17) = 0.79995,
			// shown as 0.8 but below the threshold: not adherent.
			name: "just below the threshold, rounded to it",
			fills: []fill{
				{"lisinopril", "2000-01-01", 366}, {"lisinopril", "2000-01-01", 366}, {"lisinopril", "2000-01-01", 366},
				{"lisinopril", "2000-01-01", 366}, {"lisinopril", "2000-01-01", 366}, {"lisinopril", "2000-01-01", 366},
				{"lisinopril", "2000-01-01", 366}, {"lisinopril", "2000-01-01", 366}, {"lisinopril", "2000-01-01", 275},
			},
			start: "2000-01-01", end: "2010-12-17", threshold: report.DefaultThreshold,
			index: "2000-01-01", days: 4004, covered: 3203, pdc: 0.8, mpr: 0.8, adherent: false, count: 9, reason: report.ReasonOneFillDate,
		},
		{
			// Three early refills, each shifted past the one before:
			// Jan 1 → days 0–29; Jan 11 → 30–59; Jan 21 → 60–89;
			// Jan 31 → 90–119. 120 covered of 181 (Jan 1 – Jun 30);
			// 120/181 = 0.66298 → 0.6630. Without shifting only days 0–59
			// (60) would count.
			name: "shifting chain",
			fills: []fill{
				{"lisinopril", "2023-01-01", 30}, {"lisinopril", "2023-01-11", 30},
				{"lisinopril", "2023-01-21", 30}, {"lisinopril", "2023-01-31", 30},
			},
			start: "2023-01-01", end: "2023-06-30", threshold: report.DefaultThreshold,
			index: "2023-01-01", days: 181, covered: 120, pdc: 0.6630, mpr: 0.6630, adherent: false, count: 4,
		},
		{
			// A duplicate fill of the same drug on the same day is shifted
			// too: days 0–29 and 30–59, 60 of 90 (Q1 2023) = 0.6667.
			name:  "same drug twice on one day",
			fills: []fill{{"metformin", "2023-01-01", 30}, {"metformin", "2023-01-01", 30}},
			start: "2023-01-01", end: "2023-03-31", threshold: report.DefaultThreshold,
			index: "2023-01-01", days: 90, covered: 60, pdc: 0.6667, mpr: 0.6667, adherent: false, count: 2, reason: report.ReasonOneFillDate,
		},
		{
			// Two drugs of the class overlap and are not shifted:
			// lisinopril days 0–29, amlodipine Jan 16 → days 15–44. Days
			// 15–29 count once: 45 of 90 = 0.5. MPR = 60/90 = 0.6667
			// counts the overlap twice. (Shifting would give 60.)
			name:  "two drugs overlapping",
			fills: []fill{{"lisinopril", "2023-01-01", 30}, {"amlodipine", "2023-01-16", 30}},
			start: "2023-01-01", end: "2023-03-31", threshold: report.DefaultThreshold,
			index: "2023-01-01", days: 90, covered: 45, pdc: 0.5, mpr: 0.6667, adherent: false, count: 2, reason: report.ReasonShortTreatment,
		},
		{
			// Shifting is per drug: the lisinopril refill of Jan 21 moves
			// past lisinopril's supply (to days 30–59), not past
			// amlodipine's (15–44). Union 0–59 = 60 of 90 = 0.6667;
			// MPR = 90/90 = 1.
			name: "shift per drug only",
			fills: []fill{
				{"lisinopril", "2023-01-01", 30}, {"amlodipine", "2023-01-16", 30}, {"lisinopril", "2023-01-21", 30},
			},
			start: "2023-01-01", end: "2023-03-31", threshold: report.DefaultThreshold,
			index: "2023-01-01", days: 90, covered: 60, pdc: 0.6667, mpr: 1, adherent: false, count: 3, reason: report.ReasonShortTreatment,
		},
		{
			// A 90-day fill on Jan 20 runs past Jan 31: the treatment
			// period is Jan 20–31 (12 days), all covered, PDC 1; the rest
			// of the supply is dropped. MPR = 90/12 = 7.5.
			name:  "truncated at period end",
			fills: []fill{{"atorvastatin", "2023-01-20", 90}},
			start: "2023-01-01", end: "2023-01-31", threshold: report.DefaultThreshold,
			index: "2023-01-20", days: 12, covered: 12, pdc: 1, mpr: 7.5, adherent: true, count: 1, reason: report.ReasonOneFillDate,
		},
		{
			// 2024 has 366 days. Jan 1/90 covers Jan 1 – Mar 30 because
			// Feb 29 takes a day (31+29+30); Apr 1/275 covers day 91 (Apr 1)
			// to day 365 (Dec 31). Only Mar 31 is uncovered: 365/366 =
			// 0.99727 → 0.9973.
			name:  "leap year",
			fills: []fill{{"metformin", "2024-01-01", 90}, {"metformin", "2024-04-01", 275}},
			start: "2024-01-01", end: "2024-12-31", threshold: report.DefaultThreshold,
			index: "2024-01-01", days: 366, covered: 365, pdc: 0.9973, mpr: 0.9973, adherent: true, count: 2,
		},
		{
			// A fill on Feb 29: the treatment period is Feb 29 – Mar 31
			// (1+31 = 32 days); 30 days cover Feb 29 – Mar 29. 30/32 =
			// 0.9375.
			name:  "fill on Feb 29",
			fills: []fill{{"metformin", "2024-02-29", 30}},
			start: "2024-02-01", end: "2024-03-31", threshold: report.DefaultThreshold,
			index: "2024-02-29", days: 32, covered: 30, pdc: 0.9375, mpr: 0.9375, adherent: true, count: 1, reason: report.ReasonOneFillDate,
		},
		{
			// Fills on the day before the start and the day after the end
			// are ignored. Mar 1/10 covers days 0–9; Mar 31 (day 30) covers
			// one day, the rest is past the end. 11 of 31 = 0.35484 →
			// 0.3548. MPR = 40/31 = 1.29032 → 1.2903.
			name: "fills on start and end dates",
			fills: []fill{
				{"lisinopril", "2023-02-28", 30}, {"lisinopril", "2023-03-01", 10},
				{"lisinopril", "2023-03-31", 30}, {"lisinopril", "2023-04-01", 30},
			},
			start: "2023-03-01", end: "2023-03-31", threshold: report.DefaultThreshold,
			index: "2023-03-01", days: 31, covered: 11, pdc: 0.3548, mpr: 1.2903, adherent: false, count: 2, reason: report.ReasonShortTreatment,
		},
		{
			// The only fill is on the end date: a one-day treatment period,
			// covered. MPR = 30/1.
			name:  "only fill on end date",
			fills: []fill{{"lisinopril", "2023-03-31", 30}},
			start: "2023-03-01", end: "2023-03-31", threshold: report.DefaultThreshold,
			index: "2023-03-31", days: 1, covered: 1, pdc: 1, mpr: 30, adherent: true, count: 1, reason: report.ReasonOneFillDate,
		},
		{
			// Jan 1 – Apr 10 2023 is 31+28+31+10 = 100 days. 79 covered:
			// 0.79 < 0.80, not adherent.
			name:  "non-adherent just below threshold",
			fills: []fill{{"rosuvastatin", "2023-01-01", 79}},
			start: "2023-01-01", end: "2023-04-10", threshold: report.DefaultThreshold,
			index: "2023-01-01", days: 100, covered: 79, pdc: 0.79, mpr: 0.79, adherent: false, count: 1, reason: report.ReasonOneFillDate,
		},
		{
			// 80 of 100 = 0.80 exactly: adherent (≥).
			name:  "adherent at threshold",
			fills: []fill{{"rosuvastatin", "2023-01-01", 80}},
			start: "2023-01-01", end: "2023-04-10", threshold: report.DefaultThreshold,
			index: "2023-01-01", days: 100, covered: 80, pdc: 0.80, mpr: 0.80, adherent: true, count: 1, reason: report.ReasonOneFillDate,
		},
		{
			// 85 of 100 = 0.85 passes 0.80 but not the antiretroviral 0.90.
			name:  "antiretroviral non-adherent",
			fills: []fill{{"dolutegravir", "2023-01-01", 85}},
			start: "2023-01-01", end: "2023-04-10", threshold: report.AntiretroviralThreshold,
			index: "2023-01-01", days: 100, covered: 85, pdc: 0.85, mpr: 0.85, adherent: false, count: 1, reason: report.ReasonOneFillDate,
		},
		{
			// Early refills: 4×30 = 120 days supplied in a 90-day quarter,
			// MPR = 120/90 = 1.3333. Shifted: days 0–29, 30–59, 60–89, and
			// the Mar 1 fill moves to day 90, past the end. PDC 90/90 = 1.
			name: "MPR above 1, PDC at most 1",
			fills: []fill{
				{"atorvastatin", "2023-01-01", 30}, {"atorvastatin", "2023-01-20", 30},
				{"atorvastatin", "2023-02-10", 30}, {"atorvastatin", "2023-03-01", 30},
			},
			start: "2023-01-01", end: "2023-03-31", threshold: report.DefaultThreshold,
			index: "2023-01-01", days: 90, covered: 90, pdc: 1, mpr: 1.3333, adherent: true, count: 4, reason: report.ReasonShortTreatment,
		},
		{
			// The shortest treatment period the measure takes: two fills,
			// Jan 1 – Apr 1 2023 is 31+28+31+1 = 91 days; 60 covered =
			// 0.6593. (Jan 1 – Mar 31, 90 days, is too short: see "two
			// drugs overlapping".)
			name:  "91-day treatment period",
			fills: []fill{{"lisinopril", "2023-01-01", 30}, {"lisinopril", "2023-01-31", 30}},
			start: "2023-01-01", end: "2023-04-01", threshold: report.DefaultThreshold,
			index: "2023-01-01", days: 91, covered: 60, pdc: 0.6593, mpr: 0.6593, adherent: false, count: 2,
		},
		{
			// Fills only before and after 2022: no index date, no PDC. The
			// Dec 2021 supply running into 2022 is not counted.
			name:  "no fill in the period",
			fills: []fill{{"lisinopril", "2021-12-01", 90}, {"lisinopril", "2023-01-01", 90}},
			start: "2022-01-01", end: "2022-12-31", threshold: report.DefaultThreshold,
			reason: "no fill in the measurement period",
		},
		{
			name:  "no fills at all",
			start: "2022-01-01", end: "2022-12-31", threshold: report.DefaultThreshold,
			reason: report.ReasonNoFill,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := fills(t, tt.fills...)
			before := slices.Clone(in)
			got, err := report.PDC(in, date(t, tt.start), date(t, tt.end), tt.threshold)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(in, before) {
				t.Errorf("PDC modified its input: %v, was %v", in, before)
			}
			if tt.index == "" {
				if got.IndexDate != nil || got.PDC != nil || got.MPR != nil {
					t.Errorf("IndexDate, PDC, MPR = %v, %v, %v; want all nil", got.IndexDate, got.PDC, got.MPR)
				}
			} else {
				if got.IndexDate == nil || got.IndexDate.String() != tt.index {
					t.Errorf("IndexDate = %v, want %s", got.IndexDate, tt.index)
				}
				if got.PDC == nil || *got.PDC != tt.pdc {
					t.Errorf("PDC = %v, want %v", deref(got.PDC), tt.pdc)
				}
				if got.MPR == nil || *got.MPR != tt.mpr {
					t.Errorf("MPR = %v, want %v", deref(got.MPR), tt.mpr)
				}
			}
			if got.Days != tt.days || got.CoveredDays != tt.covered || got.Fills != tt.count {
				t.Errorf("Days, CoveredDays, Fills = %d, %d, %d; want %d, %d, %d",
					got.Days, got.CoveredDays, got.Fills, tt.days, tt.covered, tt.count)
			}
			if got.CoveredDays > got.Days {
				t.Errorf("CoveredDays %d > Days %d", got.CoveredDays, got.Days)
			}
			// adherent says the PDC meets the threshold; a patient outside
			// the measure's denominator (a reason) is never adherent.
			if want := tt.adherent && tt.reason == ""; got.Adherent != want {
				t.Errorf("Adherent = %v, want %v", got.Adherent, want)
			}
			if want := tt.index != "" && tt.reason == ""; got.Eligible != want {
				t.Errorf("Eligible = %v, want %v", got.Eligible, want)
			}
			if got.Reason != tt.reason {
				t.Errorf("Reason = %q, want %q", got.Reason, tt.reason)
			}
		})
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestPDCErrors checks that bad input is rejected as invalid, naming the
// field.
func TestPDCErrors(t *testing.T) {
	jan1 := report.Date{Year: 2022, Month: time.January, Day: 1}
	dec31 := report.Date{Year: 2022, Month: time.December, Day: 31}
	ok := report.Fill{Drug: "lisinopril", Date: jan1, DaysSupply: 30}
	tests := []struct {
		name       string
		fills      []report.Fill
		start, end report.Date
		threshold  float64
		field      string
	}{
		{"end before start", []report.Fill{ok}, dec31, jan1, 0.8, "end"},
		{"zero start", []report.Fill{ok}, report.Date{}, dec31, 0.8, "start"},
		{"month 13", []report.Fill{ok}, jan1, report.Date{Year: 2022, Month: 13, Day: 1}, 0.8, "end"},
		{"zero days supply", []report.Fill{ok, {Drug: "x", Date: jan1, DaysSupply: 0}}, jan1, dec31, 0.8, "fills[1].daysSupply"},
		{"negative days supply", []report.Fill{{Drug: "x", Date: jan1, DaysSupply: -30}}, jan1, dec31, 0.8, "fills[0].daysSupply"},
		// Even outside the period a fill must be well formed.
		{"bad fill out of period", []report.Fill{ok, {Drug: "x", Date: report.Date{Year: 2023, Month: 2, Day: 29}, DaysSupply: 30}}, jan1, dec31, 0.8, "fills[1].date"},
		{"no drug", []report.Fill{{Drug: "  ", Date: jan1, DaysSupply: 30}}, jan1, dec31, 0.8, "fills[0].drug"},
		{"threshold 0", []report.Fill{ok}, jan1, dec31, 0, "threshold"},
		{"threshold above 1", []report.Fill{ok}, jan1, dec31, 80, "threshold"},
		{"threshold NaN", []report.Fill{ok}, jan1, dec31, math.NaN(), "threshold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := report.PDC(tt.fills, tt.start, tt.end, tt.threshold)
			if !errs.Is(err, errs.CodeInvalid) {
				t.Fatalf("err = %v, want an invalid error", err)
			}
			if e := err.(*errs.Error); e.Field != tt.field {
				t.Errorf("field = %q, want %q (err %v)", e.Field, tt.field, err)
			}
		})
	}
}

// TestPDCDate checks the date type's parsing and text forms.
func TestPDCDate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want report.Date
	}{
		{"2022-01-01", report.Date{Year: 2022, Month: time.January, Day: 1}},
		{"2024-02-29", report.Date{Year: 2024, Month: time.February, Day: 29}},
		{"0001-01-01", report.Date{Year: 1, Month: time.January, Day: 1}},
		{"9999-12-31", report.Date{Year: 9999, Month: time.December, Day: 31}},
	} {
		got, err := report.ParseDate(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if got.String() != tt.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tt.in)
		}
	}
	for _, in := range []string{
		"", "2023-02-29", "2022-13-01", "2022-00-10", "2022-1-01", "2022-01-1", "22-01-01",
		"2022/01/01", "2022-01-01T00:00:00Z", "0000-01-01", " 2022-01-01", "2022-01-01 ",
	} {
		if d, err := report.ParseDate(in); err == nil {
			t.Errorf("ParseDate(%q) = %v, want an error", in, d)
		} else if !errs.Is(err, errs.CodeInvalid) {
			t.Errorf("ParseDate(%q) error %v has code %s, want invalid", in, err, errs.CodeOf(err))
		}
	}

	type doc struct {
		Index *report.Date `json:"index"`
	}
	d := date(t, "2022-03-04")
	b, err := json.Marshal(doc{&d})
	if err != nil || string(b) != `{"index":"2022-03-04"}` {
		t.Errorf("marshal = %s, %v", b, err)
	}
	if b, _ := json.Marshal(doc{}); string(b) != `{"index":null}` {
		t.Errorf("marshal nil = %s", b)
	}
	var back doc
	if err := json.Unmarshal([]byte(`{"index":"2024-02-29"}`), &back); err != nil || back.Index == nil || *back.Index != date(t, "2024-02-29") {
		t.Errorf("unmarshal = %v, %v", back.Index, err)
	}
	if err := json.Unmarshal([]byte(`{"index":"2023-02-29"}`), &back); err == nil {
		t.Error("unmarshal of 2023-02-29 succeeded")
	}
}
