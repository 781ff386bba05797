package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/platform/errs"
)

// Adherence thresholds of the PQA measures.
const (
	// DefaultThreshold is the PDC at or above which a patient is adherent
	// (diabetes, RAS antagonists, statins, …).
	DefaultThreshold = 0.80
	// AntiretroviralThreshold is the PDC at or above which a patient on
	// antiretrovirals is adherent.
	AntiretroviralThreshold = 0.90
)

// MaxDaysSupply is the largest days supply of a fill that callers accept:
// a year's supply, in a leap year, the limit POST /v1/plans/{id}/fills
// enforces. PDC itself takes any positive supply; `adherence report pdc`
// checks this limit so that it rejects the same implausible values as the
// API instead of reporting full coverage from a typo.
const MaxDaysSupply = 366

// ReasonNoFill is the PDCResult.Reason when no fill is dated inside the
// measurement period.
const ReasonNoFill = "no fill in the measurement period"

// The measure's denominator (PQA, as CMS Star Ratings apply it): a patient
// counts only with at least MinFillDates fills on different dates of
// service inside the period, and a treatment period (index date to period
// end) of at least MinTreatmentDays days. One fill, or a first fill days
// before the period ends, says nothing of adherence: it was reported
// adherent at PDC 1 (QA).
const (
	MinFillDates     = 2
	MinTreatmentDays = 91
)

// The PDCResult.Reason of a patient outside the denominator.
const (
	ReasonOneFillDate    = "fewer than 2 fills on different dates in the measurement period"
	ReasonShortTreatment = "treatment period under 91 days: the first fill is too close to the period end"
)

// Date is a civil date on the proleptic Gregorian calendar, with no time of
// day and no zone. The zero Date is not valid. It is written as YYYY-MM-DD
// in text and JSON.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate reads a date written as YYYY-MM-DD (four-digit year, two-digit
// month and day) and rejects days that do not exist, such as 2023-02-29.
// The error has code [errs.CodeInvalid] and does not repeat the input.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	d := Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}
	if err != nil || len(s) != len(time.DateOnly) || !d.valid() {
		return Date{}, errs.E(errs.CodeInvalid, "not a date in YYYY-MM-DD form")
	}
	return d, nil
}

// String returns the date as YYYY-MM-DD.
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// MarshalText writes the date as YYYY-MM-DD.
func (d Date) MarshalText() ([]byte, error) {
	if !d.valid() {
		return nil, fmt.Errorf("invalid date %s", d)
	}
	return []byte(d.String()), nil
}

// UnmarshalText reads a date written as YYYY-MM-DD.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// valid reports whether d names a real day in years 1 to 9999.
func (d Date) valid() bool {
	if d.Year < 1 || d.Year > 9999 {
		return false
	}
	t := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
	return t.Month() == d.Month && t.Day() == d.Day
}

// dayNumber returns the number of days from 1970-01-01 to d.
func (d Date) dayNumber() int {
	return int(time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// dateOf is the inverse of dayNumber.
func dateOf(n int) Date {
	t := time.Unix(int64(n)*86400, 0).UTC()
	return Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}
}

// Fill is one pharmacy fill.
type Fill struct {
	// Drug names the active ingredient. Fills of the same drug (compared
	// ignoring case and surrounding space) are shifted against each other;
	// fills of different drugs are not.
	Drug string
	// Date is the date of service.
	Date Date
	// DaysSupply is the number of days the fill lasts, counting its date.
	DaysSupply int
}

// PDCResult is the PDC of one patient and one drug class over a measurement
// period.
type PDCResult struct {
	// IndexDate is the first fill date inside the period; nil when no fill
	// falls inside.
	IndexDate *Date
	// Days is the number of days in the treatment period (index date to
	// period end, inclusive); 0 when no fill falls inside.
	Days int
	// CoveredDays is the number of days of the treatment period covered by
	// at least one fill.
	CoveredDays int
	// PDC is CoveredDays / Days rounded to 4 decimals; nil when no fill
	// falls inside the period.
	PDC *float64
	// MPR is the sum of the days supply of the fills in the treatment
	// period divided by Days, rounded to 4 decimals. It is for comparison
	// only: it overstates adherence with early refills and concurrent drugs
	// and may exceed 1. Nil when no fill falls inside the period.
	MPR *float64
	// Eligible reports whether the patient is in the measure's
	// denominator (see [MinFillDates], [MinTreatmentDays]).
	Eligible bool
	// Adherent reports an eligible patient whose PDC >= the threshold;
	// false when PDC is nil or the patient is not eligible.
	Adherent bool
	// Fills is the number of fills dated inside the period.
	Fills int
	// Reason says why PDC is nil ([ReasonNoFill]) or why the patient is not
	// eligible ([ReasonOneFillDate], [ReasonShortTreatment]); empty
	// otherwise.
	Reason string
}

// PDC computes the proportion of days covered by fills, the fills of one
// patient and one drug class, over the measurement period start … end
// (inclusive), following the PQA method described in the package
// documentation. The fills may be in any order; the slice is not modified.
//
// It returns an error with code [errs.CodeInvalid] when a date is not a real
// day, end is before start, a fill has no drug or a days supply below 1, or
// threshold is not in (0, 1].
func PDC(fills []Fill, start, end Date, threshold float64) (PDCResult, error) {
	if !start.valid() {
		return PDCResult{}, errs.Invalid("start", "is not a valid date")
	}
	if !end.valid() {
		return PDCResult{}, errs.Invalid("end", "is not a valid date")
	}
	first, last := start.dayNumber(), end.dayNumber()
	if last < first {
		return PDCResult{}, errs.Invalid("end", "is before start")
	}
	if math.IsNaN(threshold) || threshold <= 0 || threshold > 1 {
		return PDCResult{}, errs.Invalid("threshold", "must be greater than 0 and at most 1")
	}

	// In-period fills as day numbers, grouped by drug.
	type fill struct {
		drug   string
		day    int
		supply int
	}
	in := make([]fill, 0, len(fills))
	for i, f := range fills {
		drug := strings.ToLower(strings.TrimSpace(f.Drug))
		if drug == "" {
			return PDCResult{}, errs.Invalid(fmt.Sprintf("fills[%d].drug", i), "is required")
		}
		if !f.Date.valid() {
			return PDCResult{}, errs.Invalid(fmt.Sprintf("fills[%d].date", i), "is not a valid date")
		}
		if f.DaysSupply <= 0 {
			return PDCResult{}, errs.Invalid(fmt.Sprintf("fills[%d].daysSupply", i), "must be at least 1")
		}
		if d := f.Date.dayNumber(); d >= first && d <= last {
			in = append(in, fill{drug, d, f.DaysSupply})
		}
	}
	if len(in) == 0 {
		return PDCResult{Reason: ReasonNoFill}, nil
	}
	slices.SortFunc(in, func(a, b fill) int {
		return cmp.Or(strings.Compare(a.drug, b.drug), cmp.Compare(a.day, b.day))
	})

	index := in[0].day
	for _, f := range in {
		index = min(index, f.day)
	}
	days := last - index + 1
	covered := make([]bool, days) // covered[i] is day index+i
	var supplied float64          // float: a sum of huge supplies must not overflow
	nextFree := 0                 // first day not yet supplied by the current drug
	for i, f := range in {
		supplied += float64(f.supply)
		if i == 0 || f.drug != in[i-1].drug {
			nextFree = f.day
		}
		from := max(f.day, nextFree) // shifted past the drug's previous supply
		if from > last {
			continue // nextFree stays past the end, so later refills are skipped too
		}
		n := min(f.supply, last-from+1) // truncated at the period end
		for d := from; d < from+n; d++ {
			covered[d-index] = true
		}
		nextFree = from + n
	}
	count := 0
	for _, c := range covered {
		if c {
			count++
		}
	}

	dates := map[int]bool{}
	for _, f := range in {
		dates[f.day] = true
	}
	reason := ""
	switch {
	case len(dates) < MinFillDates:
		reason = ReasonOneFillDate
	case days < MinTreatmentDays:
		reason = ReasonShortTreatment
	}

	idx := dateOf(index)
	exact := float64(count) / float64(days)
	pdc := Round4(int64(count), int64(days))
	mpr := math.Round(supplied/float64(days)*10000) / 10000
	if supplied < 1<<53 { // a whole number, exactly
		mpr = Round4(int64(supplied), int64(days))
	}
	return PDCResult{
		IndexDate:   &idx,
		Days:        days,
		CoveredDays: count,
		PDC:         &pdc,
		MPR:         &mpr,
		// The measure's PDC, not its rounding for display: 3,203 of
		// 4,004 days (0.79995) is not adherent though it prints 0.8.
		Eligible: reason == "",
		Adherent: reason == "" && exact >= threshold,
		Fills:    len(in),
		Reason:   reason,
	}, nil
}

// Round4 returns n/d (n ≥ 0, d > 0) rounded half up to 4 decimals, as the
// float64 nearest that decimal. It rounds the exact ratio: rounding the
// float64 n/d instead turns a half below (57/800 = 0.07125 is stored as
// 0.0712499…, and printed 0.0712).
func Round4(n, d int64) float64 {
	if d > 1e14 || n/d > 1e14 { // beyond any count of days or doses
		return math.Round(float64(n)/float64(d)*10000) / 10000
	}
	q, r := n/d, n%d
	return float64(q*10000+(r*20000+d)/(2*d)) / 10000
}
