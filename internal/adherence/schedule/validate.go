package schedule

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/medplatform/medplatform/internal/platform/errs"
)

const (
	maxPerDay    = 48                    // more doses a day than this are implausible
	minInterval  = 24 * 3600 / maxPerDay // seconds; shortest elapsed interval
	maxPeriodDay = 3660                  // longest period, in days (10 years)
	maxMonths    = 120                   // longest period in months
	maxEvents    = 1000
	// minBoundYear is the first year a boundsPeriod bound may be in. A
	// bound in the year 1 (or 0) can resolve to 0001-01-01T00:00:00Z, Go's
	// zero time, which Expand and Bounds read as no bound at all; in
	// another zone the same bound is a real instant, so the one Timing
	// would start (or end) differently for patients in different zones.
	minBoundYear = 2
)

// anchorRef names the patient anchor, or the midpoint between two anchors,
// that an EventTiming code is relative to.
type anchorRef uint8

const (
	refWake anchorRef = iota
	refBreakfast
	refLunch
	refDinner
	refBed
	refBreakfastLunch // midway between breakfast and lunch
	refLunchDinner
	refDinnerBed
)

// whenEvent is one time an EventTiming code stands for: an anchor plus a
// fixed shift in minutes.
type whenEvent struct {
	ref   anchorRef
	shift int
}

// whenDef maps one EventTiming code. before means the offset counts before
// the event; noOffset means FHIR tim-9 forbids an offset.
type whenDef struct {
	code     string
	events   []whenEvent
	before   bool
	noOffset bool
}

var (
	meals    = []whenEvent{{refBreakfast, 0}, {refLunch, 0}, {refDinner, 0}}
	between  = []whenEvent{{refBreakfastLunch, 0}, {refLunchDinner, 0}, {refDinnerBed, 0}}
	wakeEv   = []whenEvent{{refWake, 0}}
	bfastEv  = []whenEvent{{refBreakfast, 0}}
	lunchEv  = []whenEvent{{refLunch, 0}}
	dinnerEv = []whenEvent{{refDinner, 0}}
	bedEv    = []whenEvent{{refBed, 0}}
)

// whenCodes is the EventTiming codes we can map; a code's index is its bit in
// compiled.when. The table is read-only.
var whenCodes = [...]whenDef{
	{code: "WAKE", events: wakeEv},
	{code: "MORN.early", events: wakeEv},
	{code: "MORN", events: bfastEv},
	{code: "MORN.late", events: []whenEvent{{refBreakfast, 120}}},
	{code: "C", events: meals, noOffset: true},
	{code: "CM", events: bfastEv, noOffset: true},
	{code: "CD", events: lunchEv, noOffset: true},
	{code: "CV", events: dinnerEv, noOffset: true},
	{code: "AC", events: meals, before: true},
	{code: "ACM", events: bfastEv, before: true},
	{code: "ACD", events: lunchEv, before: true},
	{code: "ACV", events: dinnerEv, before: true},
	{code: "PC", events: meals},
	{code: "PCM", events: bfastEv},
	{code: "PCD", events: lunchEv},
	{code: "PCV", events: dinnerEv},
	{code: "IC", events: between},
	{code: "ICM", events: between[0:1]},
	{code: "ICD", events: between[1:2]},
	{code: "ICV", events: between[2:3]},
	{code: "NOON", events: lunchEv},
	{code: "AFT.early", events: []whenEvent{{refLunch, 60}}},
	{code: "AFT", events: []whenEvent{{refLunch, 180}}},
	{code: "AFT.late", events: []whenEvent{{refLunch, 300}}},
	{code: "EVE.early", events: dinnerEv},
	{code: "EVE", events: []whenEvent{{refDinner, 60}}},
	{code: "EVE.late", events: []whenEvent{{refDinner, 180}}},
	{code: "HS", events: bedEv, before: true},
	{code: "NIGHT", events: bedEv},
	{code: "PHS", events: bedEv},
}

// dayCodes maps FHIR days-of-week codes to 0 (Monday) … 6 (Sunday).
var dayCodes = map[string]int{"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}

// unitSeconds maps the elapsed UCUM units of time to seconds.
var unitSeconds = map[string]float64{"s": 1, "min": 60, "h": 3600}

// isTimeUnit reports whether u is one of the UCUM units FHIR allows.
func isTimeUnit(u string) bool {
	switch u {
	case "s", "min", "h", "d", "wk", "mo", "a":
		return true
	}
	return false
}

type mode uint8

const (
	modeNone    mode = iota // nothing to schedule (PRN without a pattern)
	modeEvents              // explicit event dateTimes
	modeDaily               // clock times on dosing days
	modeElapsed             // fixed elapsed interval
)

type timeSource uint8

const (
	srcTimeOfDay timeSource = iota
	srcWhen
	srcDefault
)

// compiled is a validated Timing in a form Expand can evaluate without
// allocating. Values that depend on the patient (anchors, zone) are resolved
// in Expand.
type compiled struct {
	mode mode

	// Daily times.
	src    timeSource
	tod    [maxPerDay]int32 // timeOfDay, seconds since midnight, sorted, distinct
	ntod   int
	when   uint32 // bit i set: whenCodes[i]
	offset int    // minutes
	perDay int    // doses a day for the default-times policy

	// Dosing days (modeDaily). Exactly one of: months > 0; weekMask != 0
	// (weekdays of the first week of cycles of cycle days, counted from the
	// Monday of the start week); otherwise spread dosing days per cycle of
	// cycle days counted from the start date.
	cycle    int64
	spread   int64
	weekMask uint8
	months   int64

	// Elapsed interval (modeElapsed), in seconds; weekMask filters doses.
	interval int64

	count      int64 // 0: no limit
	start, end dateTime
	events     []dateTime
}

// Validate checks t against FHIR R4 and the rules of this package. asNeeded
// (PRN) allows a Timing with nothing to schedule. The error is an
// *errs.Error whose Field is a path relative to the Timing, such as
// "repeat.timeOfDay[1]".
func (t Timing) Validate(asNeeded bool) error {
	_, err := compile(t, asNeeded)
	if err != nil {
		return err
	}
	return nil
}

func compile(t Timing, asNeeded bool) (compiled, *errs.Error) {
	var c compiled
	// FHIR JSON has no empty arrays: an element without values is left
	// out. An empty one was taken for an absent one and dropped, so
	// "dayOfWeek": [] meant every day without a word.
	if t.Event != nil && len(t.Event) == 0 {
		return c, errs.Invalid("event", "is an empty list: give at least one value or leave it out")
	}
	if r := t.Repeat; r != nil {
		for _, a := range []struct {
			name string
			list []string
		}{{"repeat.dayOfWeek", r.DayOfWeek}, {"repeat.timeOfDay", r.TimeOfDay}, {"repeat.when", r.When}} {
			if a.list != nil && len(a.list) == 0 {
				return c, errs.Invalid(a.name, "is an empty list: give at least one value or leave it out")
			}
		}
	}
	if len(t.Event) > 0 {
		if t.Repeat != nil {
			return c, errs.Invalid("event", "cannot be combined with repeat; give one or the other")
		}
		if len(t.Event) > maxEvents {
			return c, errs.Invalid("event", "more than %d events", maxEvents)
		}
		c.mode = modeEvents
		c.events = make([]dateTime, len(t.Event))
		for i, s := range t.Event {
			dt, ok := parseDateTime(s)
			if !ok || dt.kind == dtDate {
				return c, errs.Invalid(fmt.Sprintf("event[%d]", i), "must be a dateTime with a time, e.g. 2026-03-01T08:00:00-05:00")
			}
			c.events[i] = dt
		}
		return c, nil
	}
	r := t.Repeat
	if r == nil {
		if asNeeded {
			return c, nil
		}
		return c, errs.Invalid("repeat", "is required: a Timing needs repeat or event unless the medication is taken as needed")
	}
	if err := c.checkScalars(r); err != nil {
		return c, err
	}
	if err := c.checkLists(r); err != nil {
		return c, err
	}
	if err := c.checkPattern(r, asNeeded); err != nil {
		return c, err
	}
	return c, nil
}

// checkScalars validates bounds, count, duration, frequency and period.
func (c *compiled) checkScalars(r *Repeat) *errs.Error {
	if b := r.BoundsPeriod; b != nil {
		var ok bool
		if b.Start != "" {
			if c.start, ok = parseDateTime(b.Start); !ok {
				return errs.Invalid("repeat.boundsPeriod.start", "must be a date (YYYY-MM-DD) or a dateTime (YYYY-MM-DDThh:mm:ss with optional offset)")
			}
			if y := c.start.year(); y < minBoundYear {
				return errs.Invalid("repeat.boundsPeriod.start", "year %04d is not a real start date: give the date the schedule starts, or omit start to start it with the plan", y)
			}
		}
		if b.End != "" {
			if c.end, ok = parseDateTime(b.End); !ok {
				return errs.Invalid("repeat.boundsPeriod.end", "must be a date (YYYY-MM-DD) or a dateTime (YYYY-MM-DDThh:mm:ss with optional offset)")
			}
			if y := c.end.year(); y < minBoundYear {
				return errs.Invalid("repeat.boundsPeriod.end", "year %04d is not a real end date: give the date the schedule ends, or omit end for an ongoing schedule", y)
			}
		}
		if c.start.kind != dtNone && c.end.kind != dtNone && endsBeforeStart(c.start, c.end) {
			return errs.Invalid("repeat.boundsPeriod.end", "must not be before start")
		}
	}
	if r.Count != nil {
		if *r.Count < 1 {
			return errs.Invalid("repeat.count", "must be at least 1")
		}
		c.count = int64(*r.Count)
	}
	if r.CountMax != nil {
		if r.Count == nil {
			return errs.Invalid("repeat.countMax", "requires count (FHIR tim-8)")
		}
		if *r.CountMax < *r.Count {
			return errs.Invalid("repeat.countMax", "must not be less than count")
		}
	}
	if r.Duration != nil {
		if !finite(*r.Duration) || *r.Duration < 0 {
			return errs.Invalid("repeat.duration", "must be a number of at least 0 (FHIR tim-4)")
		}
		if r.DurationUnit == "" {
			return errs.Invalid("repeat.durationUnit", "is required when duration is set (FHIR tim-1)")
		}
	}
	if r.DurationMax != nil {
		if r.Duration == nil {
			return errs.Invalid("repeat.durationMax", "requires duration (FHIR tim-7)")
		}
		if !finite(*r.DurationMax) || *r.DurationMax < *r.Duration {
			return errs.Invalid("repeat.durationMax", "must not be less than duration")
		}
	}
	if r.DurationUnit != "" && !isTimeUnit(r.DurationUnit) {
		return errs.Invalid("repeat.durationUnit", "must be one of s, min, h, d, wk, mo, a")
	}
	if r.Frequency != nil {
		if *r.Frequency < 1 {
			return errs.Invalid("repeat.frequency", "must be at least 1")
		}
		if r.Period == nil {
			return errs.Invalid("repeat.period", "is required when frequency is set")
		}
	}
	if r.FrequencyMax != nil {
		if *r.FrequencyMax < 1 || (r.Frequency != nil && *r.FrequencyMax < *r.Frequency) {
			return errs.Invalid("repeat.frequencyMax", "must be at least 1 and not less than frequency")
		}
	}
	if r.Period != nil {
		if !finite(*r.Period) || *r.Period <= 0 {
			return errs.Invalid("repeat.period", "must be greater than 0")
		}
		if r.PeriodUnit == "" {
			return errs.Invalid("repeat.periodUnit", "is required when period is set (FHIR tim-2)")
		}
	}
	if r.PeriodMax != nil {
		if r.Period == nil {
			return errs.Invalid("repeat.periodMax", "requires period (FHIR tim-6)")
		}
		if !finite(*r.PeriodMax) || *r.PeriodMax < *r.Period {
			return errs.Invalid("repeat.periodMax", "must not be less than period")
		}
	}
	if r.PeriodUnit != "" {
		if !isTimeUnit(r.PeriodUnit) {
			return errs.Invalid("repeat.periodUnit", "must be one of s, min, h, d, wk, mo, a")
		}
		if r.Period == nil {
			return errs.Invalid("repeat.period", "is required when periodUnit is set")
		}
	}
	return nil
}

// checkLists validates dayOfWeek, timeOfDay, when and offset.
func (c *compiled) checkLists(r *Repeat) *errs.Error {
	for i, d := range r.DayOfWeek {
		bit, ok := dayCodes[d]
		if !ok {
			return errs.Invalid(fmt.Sprintf("repeat.dayOfWeek[%d]", i), "must be one of mon, tue, wed, thu, fri, sat, sun")
		}
		if c.weekMask&(1<<bit) != 0 {
			return errs.Invalid(fmt.Sprintf("repeat.dayOfWeek[%d]", i), "is listed twice")
		}
		c.weekMask |= 1 << bit
	}
	if len(r.TimeOfDay) > maxPerDay {
		return errs.Invalid("repeat.timeOfDay", "more than %d times a day is implausible", maxPerDay)
	}
	for i, s := range r.TimeOfDay {
		sec, ok := parseTime(s)
		if !ok {
			return errs.Invalid(fmt.Sprintf("repeat.timeOfDay[%d]", i), "must be a time hh:mm:ss between 00:00:00 and 23:59:59")
		}
		for j := 0; j < c.ntod; j++ {
			if c.tod[j] == sec {
				return errs.Invalid(fmt.Sprintf("repeat.timeOfDay[%d]", i), "is listed twice")
			}
		}
		c.tod[c.ntod] = sec
		c.ntod++
	}
	sortTimes(c.tod[:c.ntod])
	noOffset := ""
	for i, code := range r.When {
		k := whenIndex(code)
		if k < 0 {
			return errs.Invalid(fmt.Sprintf("repeat.when[%d]", i), "unknown or unsupported EventTiming code")
		}
		if c.when&(1<<k) != 0 {
			return errs.Invalid(fmt.Sprintf("repeat.when[%d]", i), "is listed twice")
		}
		c.when |= 1 << k
		if whenCodes[k].noOffset && noOffset == "" {
			noOffset = whenCodes[k].code
		}
	}
	if len(r.TimeOfDay) > 0 && len(r.When) > 0 {
		return errs.Invalid("repeat.when", "cannot be combined with timeOfDay (FHIR tim-10)")
	}
	if r.Offset != nil {
		if len(r.When) == 0 {
			return errs.Invalid("repeat.offset", "requires when (FHIR tim-9)")
		}
		if *r.Offset < 0 || *r.Offset > 24*60 {
			return errs.Invalid("repeat.offset", "must be between 0 and 1440 minutes")
		}
		if noOffset != "" {
			return errs.Invalid("repeat.offset", "is not allowed with when code %s (FHIR tim-9)", noOffset)
		}
		c.offset = *r.Offset
	}
	return nil
}

// checkPattern decides the kind of schedule and its dosing days.
func (c *compiled) checkPattern(r *Repeat, asNeeded bool) *errs.Error {
	freq := int64(1)
	if r.Frequency != nil {
		freq = int64(*r.Frequency)
	}
	hasClock := c.ntod > 0 || c.when != 0
	if !hasClock && r.Period == nil {
		if asNeeded {
			c.mode = modeNone
			return nil
		}
		return errs.Invalid("repeat", "has nothing to schedule: give timeOfDay, when, or frequency with period and periodUnit")
	}

	if sec, ok := unitSeconds[r.PeriodUnit]; ok {
		if hasClock {
			return errs.Invalid("repeat.periodUnit", "an elapsed interval (s, min, h) cannot be combined with timeOfDay or when")
		}
		iv := math.Round(*r.Period * sec / float64(freq))
		if iv < minInterval {
			return errs.Invalid("repeat.period", "more than %d doses a day is implausible", maxPerDay)
		}
		if iv > maxPeriodDay*secondsPerDay {
			return errs.Invalid("repeat.period", "is implausibly long")
		}
		c.mode = modeElapsed
		c.interval = int64(iv)
		return nil
	}

	c.mode = modeDaily
	days := int64(1) // cycle length in days
	if r.Period != nil {
		p := *r.Period
		if p != math.Trunc(p) {
			return errs.Invalid("repeat.period", "must be a whole number for periodUnit %s; use h for intervals shorter than a day", r.PeriodUnit)
		}
		p = min(p, maxPeriodDay+1) // keeps the conversions below in range
		switch r.PeriodUnit {
		case "d":
			days = int64(p)
		case "wk":
			days = 7 * int64(p)
		case "mo":
			c.months = int64(p)
		case "a":
			c.months = 12 * int64(p)
		}
		if days > maxPeriodDay || c.months > maxMonths {
			return errs.Invalid("repeat.period", "is implausibly long")
		}
	}
	perPeriod := int64(1) // dosing days per period
	switch {
	case c.weekMask != 0:
		if c.months > 0 {
			return errs.Invalid("repeat.dayOfWeek", "cannot be combined with periodUnit mo or a")
		}
		if days != 1 && days%7 != 0 {
			return errs.Invalid("repeat.dayOfWeek", "needs a period of one day or of whole weeks")
		}
		if days > 1 {
			perPeriod = int64(bits.OnesCount8(c.weekMask))
		}
		c.cycle = max(days, 7)
	case c.months > 0:
	case hasClock || days == 1:
		c.cycle, c.spread = days, 1
	case freq <= days:
		c.cycle, c.spread = days, freq
		perPeriod = freq
	case freq%days == 0:
		c.cycle, c.spread = 1, 1
		perPeriod = days
	default:
		return errs.Invalid("repeat.frequency", "%d doses per %d days cannot be spread evenly; use a multiple of %d or at most %d", freq, days, days, days)
	}

	if hasClock {
		c.src = srcTimeOfDay
		m := int64(c.ntod)
		if c.when != 0 {
			c.src = srcWhen
			_, n := c.dailyTimes(DefaultAnchors())
			m = int64(n)
		}
		if r.Frequency != nil && freq != perPeriod*m {
			return errs.Invalid("repeat.frequency", "must equal the %d doses per period given by the clock times, or be omitted", perPeriod*m)
		}
		return nil
	}
	if r.Frequency == nil {
		freq = perPeriod // once on each dosing day
	}
	if freq%perPeriod != 0 {
		return errs.Invalid("repeat.frequency", "must be a multiple of the number of dosing days per period (%d)", perPeriod)
	}
	if c.months > 0 && freq != 1 {
		return errs.Invalid("repeat.frequency", "must be 1 for periodUnit mo or a unless timeOfDay or when gives the times")
	}
	n := freq / perPeriod
	if n > maxPerDay {
		return errs.Invalid("repeat.frequency", "more than %d doses a day is implausible", maxPerDay)
	}
	c.src = srcDefault
	c.perDay = int(n)
	return nil
}

// endsBeforeStart reports whether the bounds are certainly in the wrong
// order. Without the patient's zone a date or offset-less bound is compared
// as if in UTC, with slack for the range of real offsets when the other
// bound is an instant; Expand applies the exact bounds.
func endsBeforeStart(s, e dateTime) bool {
	const slack = 14 * 3600
	endWall := e.wall
	if e.kind == dtDate {
		endWall += secondsPerDay - 1
	}
	switch {
	case s.kind != dtInstant && e.kind != dtInstant:
		return s.wall > endWall
	case s.kind == dtInstant && e.kind == dtInstant:
		return s.at.After(e.at)
	case s.kind == dtInstant:
		return s.at.Unix() > endWall+slack
	default:
		return s.wall-slack > e.at.Unix()
	}
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// parseTime reads a FHIR time hh:mm:ss (or hh:mm) into seconds since
// midnight.
func parseTime(s string) (int32, bool) {
	if len(s) != 5 && len(s) != 8 {
		return 0, false
	}
	h, ok1 := twoDigits(s[0:2])
	m, ok2 := twoDigits(s[3:5])
	sec, ok3 := 0, true
	if len(s) == 8 {
		sec, ok3 = twoDigits(s[6:8])
		ok3 = ok3 && s[5] == ':'
	}
	if !ok1 || !ok2 || !ok3 || s[2] != ':' || h > 23 || m > 59 || sec > 59 {
		return 0, false
	}
	return int32(h*3600 + m*60 + sec), true
}

func whenIndex(code string) int {
	for i := range whenCodes {
		if whenCodes[i].code == code {
			return i
		}
	}
	return -1
}

// sortTimes sorts a short list in place (insertion sort: no allocation).
func sortTimes(ts []int32) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j] < ts[j-1]; j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}

// dailyTimes returns the clock times of a dosing day, in seconds since
// midnight, sorted and distinct.
func (c *compiled) dailyTimes(a Anchors) ([maxPerDay]int32, int) {
	var out [maxPerDay]int32
	n := 0
	add := func(minutes int) {
		sec := int32(floorMod(int64(minutes), 24*60) * 60)
		for i := 0; i < n; i++ {
			if out[i] == sec {
				return
			}
		}
		if n < maxPerDay {
			out[n] = sec
			n++
		}
	}
	switch c.src {
	case srcTimeOfDay:
		copy(out[:], c.tod[:c.ntod])
		return out, c.ntod
	case srcWhen:
		for k := range whenCodes {
			if c.when&(1<<k) == 0 {
				continue
			}
			d := &whenCodes[k]
			off := c.offset
			if d.before {
				off = -off
			}
			for _, ev := range d.events {
				add(anchorMinutes(a, ev.ref) + ev.shift + off)
			}
		}
	case srcDefault:
		switch c.perDay {
		case 1:
			add(int(a.Breakfast))
		case 2:
			add(int(a.Breakfast))
			add(int(a.Dinner))
		case 3:
			add(int(a.Breakfast))
			add(int(a.Lunch))
			add(int(a.Dinner))
		case 4:
			add(int(a.Breakfast))
			add(int(a.Lunch))
			add(int(a.Dinner))
			add(int(a.Bed))
		default:
			span := int(floorMod(int64(a.Bed-a.Wake), 24*60))
			steps := c.perDay - 1
			if span == 0 {
				span, steps = 24*60, c.perDay
			}
			for i := 0; i < c.perDay; i++ {
				add(int(a.Wake) + (2*i*span+steps)/(2*steps))
			}
		}
	}
	sortTimes(out[:n])
	return out, n
}

// anchorMinutes returns the minutes since midnight of an anchor reference;
// a midpoint follows the clock forward from the first anchor to the second.
func anchorMinutes(a Anchors, r anchorRef) int {
	mid := func(x, y Clock) int { return int(x) + int(floorMod(int64(y-x), 24*60))/2 }
	switch r {
	case refWake:
		return int(a.Wake)
	case refBreakfast:
		return int(a.Breakfast)
	case refLunch:
		return int(a.Lunch)
	case refDinner:
		return int(a.Dinner)
	case refBed:
		return int(a.Bed)
	case refBreakfastLunch:
		return mid(a.Breakfast, a.Lunch)
	case refLunchDinner:
		return mid(a.Lunch, a.Dinner)
	default:
		return mid(a.Dinner, a.Bed)
	}
}
