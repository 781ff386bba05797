package schedule

import (
	"cmp"
	"math/bits"
	"slices"
	"time"

	"github.com/medplatform/medplatform/internal/platform/errs"
)

// MaxWindow is the longest From..To window Expand accepts.
const MaxWindow = 400 * 24 * time.Hour

// maxWalkDays bounds the day-by-day count of dayOfWeek-filtered elapsed doses
// before the window (100 years).
const maxWalkDays = 36600

// localLen is the length of Dose.Local, "2006-01-02T15:04".
const localLen = 16

// Window limits keep every local date within years 0001–9999.
var (
	minFrom = time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)
	maxTo   = time.Date(9999, 12, 30, 0, 0, 0, 0, time.UTC)
)

// Params are the patient-specific inputs of Expand.
type Params struct {
	// Location is the patient's IANA time zone, loaded once by the caller.
	Location *time.Location
	// Anchors is the patient's routine; the zero value means DefaultAnchors.
	Anchors Anchors
	// Start is the plan start, used when repeat.boundsPeriod.start is absent.
	Start time.Time
	// From and To are the half-open window [From, To) of due instants to
	// return.
	From, To time.Time
	// AsNeeded marks a PRN medication: no doses are scheduled.
	AsNeeded bool
}

// Dose is one scheduled dose.
type Dose struct {
	// Due is the instant the dose is due, in UTC.
	Due time.Time
	// Local is the wall time in the patient's zone, "2006-01-02T15:04". For
	// a wall time skipped by daylight saving it is the requested time, not
	// the (later) time Due shows.
	Local string
	// Seq is the 1-based ordinal of the dose counted from the schedule
	// start: stable across windows, compared with repeat.count.
	Seq int
}

// Expand returns the doses of t due in [p.From, p.To), sorted by Due and
// without duplicate instants, following the rules in the package
// documentation. An invalid Timing returns the error of Validate; bad
// parameters return an *errs.Error naming the parameter ("location", "to",
// "start", "anchors.wake", …). A PRN schedule (p.AsNeeded) has no doses.
func Expand(t Timing, p Params) ([]Dose, error) {
	c, verr := compile(t, p.AsNeeded)
	if verr != nil {
		return nil, verr
	}
	if p.AsNeeded || c.mode == modeNone {
		return nil, nil
	}
	if p.Location == nil {
		return nil, errs.Invalid("location", "is required")
	}
	if p.To.Before(p.From) {
		return nil, errs.Invalid("to", "must not be before from")
	}
	if p.To.Sub(p.From) > MaxWindow {
		return nil, errs.Invalid("to", "the window from..to must not be longer than 400 days")
	}
	if p.From.Before(minFrom) || p.To.After(maxTo) {
		return nil, errs.Invalid("from", "the window must lie between years 0001 and 9999")
	}
	a := p.Anchors
	if a == (Anchors{}) {
		a = DefaultAnchors()
	} else if err := a.Validate(); err != nil {
		return nil, errs.PrefixField(err, "anchors")
	}
	if !p.From.Before(p.To) {
		return nil, nil
	}
	if c.mode == modeEvents {
		return expandEvents(&c, p), nil
	}

	x := expansion{c: c, p: p, loc: p.Location, res: newResolver(p.Location)}
	x.start, x.end = c.bounds(x.loc)
	if x.start.IsZero() {
		if p.Start.IsZero() {
			return nil, errs.Invalid("start", "is required when repeat.boundsPeriod.start is absent")
		}
		x.start = p.Start.Truncate(time.Second)
	}
	x.hasEnd = !x.end.IsZero()
	if x.hasEnd && !x.start.Before(x.end) {
		return nil, nil
	}
	if c.mode == modeElapsed {
		return x.elapsed()
	}
	return x.daily(a), nil
}

// Bounds returns the instants at which the repeat.boundsPeriod of t starts
// and ends (exclusive) in zone loc, as Expand reads them: a date-only
// start is local midnight, a date-only end the end of that local day. A
// bound that is absent is the zero time. An invalid Timing returns the
// error of Validate.
func Bounds(t Timing, loc *time.Location) (start, end time.Time, err error) {
	c, verr := compile(t, true)
	if verr != nil {
		return time.Time{}, time.Time{}, verr
	}
	if loc == nil {
		return time.Time{}, time.Time{}, errs.Invalid("location", "is required")
	}
	start, end = c.bounds(loc)
	return start, end, nil
}

// LastEvent returns the latest of the event dateTimes of t in zone loc (one
// without an offset is a wall time there), or the zero time when t lists
// none. An invalid Timing returns the error of Validate.
func LastEvent(t Timing, loc *time.Location) (time.Time, error) {
	c, verr := compile(t, true)
	if verr != nil {
		return time.Time{}, verr
	}
	if loc == nil {
		return time.Time{}, errs.Invalid("location", "is required")
	}
	var last time.Time
	for _, e := range c.events {
		u := e.at
		if e.kind == dtLocal {
			u = instant(loc, e.wall)
		}
		if u.After(last) {
			last = u
		}
	}
	return last.UTC(), nil
}

// EventsWithin returns t with only those of its event dateTimes, as
// written and in their order, that fall in [start, end) in zone loc (one
// without an offset is a wall time there); a zero end is open. A plan's
// start and end bound its events as they bound a repeat, which carries
// them as its boundsPeriod; a Timing of events has no repeat to carry
// them, so an export lists the events that are the plan's doses. A t
// without events is returned as it is.
func EventsWithin(t Timing, loc *time.Location, start, end time.Time) (Timing, error) {
	if len(t.Event) == 0 {
		return t, nil
	}
	c, verr := compile(t, true)
	if verr != nil {
		return t, verr
	}
	if loc == nil {
		return t, errs.Invalid("location", "is required")
	}
	var keep []string
	for i, e := range c.events {
		u := e.at
		if e.kind == dtLocal {
			u = instant(loc, e.wall)
		}
		if !u.Before(start) && (end.IsZero() || u.Before(end)) {
			keep = append(keep, t.Event[i])
		}
	}
	t.Event = keep
	return t, nil
}

// bounds returns the boundsPeriod's start and exclusive end in loc, zero
// when absent.
func (c *compiled) bounds(loc *time.Location) (start, end time.Time) {
	switch c.start.kind {
	case dtDate, dtLocal:
		start = instant(loc, c.start.wall)
	case dtInstant:
		start = c.start.at.Truncate(time.Second)
	}
	switch c.end.kind {
	case dtDate:
		end = instant(loc, c.end.wall+secondsPerDay)
	case dtLocal:
		end = instant(loc, c.end.wall).Add(time.Nanosecond)
	case dtInstant:
		end = c.end.at.Add(time.Nanosecond)
	}
	return start, end
}

// expansion holds the resolved inputs of one Expand call.
type expansion struct {
	c      compiled
	p      Params
	loc    *time.Location
	res    resolver
	start  time.Time // first instant of the schedule
	end    time.Time // exclusive end, when hasEnd
	hasEnd bool

	doses []Dose
	local []byte // the Local strings of doses, localLen bytes each

	prefixDay int64    // day of prefix
	prefix    [11]byte // "2006-01-02T" of prefixDay
	hasPrefix bool
}

// add appends a dose due at u whose wall time is the civil second wall; its
// Local string is filled in by finish.
func (x *expansion) add(u time.Time, wall int64, seq int64) {
	x.doses = append(x.doses, Dose{Due: u, Seq: int(seq)})
	day := floorDiv(wall, secondsPerDay)
	if !x.hasPrefix || day != x.prefixDay {
		x.prefix, x.prefixDay, x.hasPrefix = datePrefix(day), day, true
	}
	x.local = append(x.local, x.prefix[:]...)
	x.local = appendClock(x.local, wall-day*secondsPerDay)
}

// finish sets the Local strings (one allocation for all of them), sorts by
// Due and drops later doses on an instant already taken.
func (x *expansion) finish() []Dose {
	all := string(x.local)
	for i := range x.doses {
		x.doses[i].Local = all[i*localLen : (i+1)*localLen]
	}
	sorted := true
	for i := 1; i < len(x.doses); i++ {
		if !x.doses[i-1].Due.Before(x.doses[i].Due) {
			sorted = false
			break
		}
	}
	if sorted {
		return x.doses
	}
	slices.SortStableFunc(x.doses, func(a, b Dose) int {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	return slices.CompactFunc(x.doses, func(a, b Dose) bool { return a.Due.Equal(b.Due) })
}

func (x *expansion) inWindow(u time.Time) bool {
	return !u.Before(x.p.From) && u.Before(x.p.To) && (!x.hasEnd || u.Before(x.end))
}

// daily expands a calendar schedule: clock times on dosing days.
func (x *expansion) daily(a Anchors) []Dose {
	c := &x.c
	times, m := c.dailyTimes(a)
	if m == 0 {
		return nil
	}
	s := civilDay(x.start, x.loc)
	lo := max(civilDay(x.p.From, x.loc)-1, s) // a day early: a wall time in a gap may move past midnight
	hi := civilDay(x.p.To, x.loc) + 1
	if x.hasEnd {
		hi = min(hi, civilDay(x.end, x.loc)+1)
	}
	if lo > hi {
		return nil
	}

	// Doses of the start day before the start instant do not count.
	var skipped int64
	if c.isDosing(s, s) {
		for j := range m {
			if x.res.instant(s*secondsPerDay + int64(times[j])).Before(x.start) {
				skipped++
			}
		}
	}

	n := (hi - lo + 1) * int64(m)
	if c.count > 0 {
		n = min(n, c.count)
	}
	x.doses = make([]Dose, 0, n)
	x.local = make([]byte, 0, n*localLen)

	it := c.dosingDays(s, lo)
	for d, ord := it.next(); d <= hi; d, ord = it.next() {
		base := ord*int64(m) - skipped
		if c.count > 0 && base >= c.count {
			break
		}
		var rank int64 // doses of the start day at or after the start instant
		for j := range m {
			w := d*secondsPerDay + int64(times[j])
			u := x.res.instant(w)
			seq := base + int64(j) + 1
			if d == s {
				if u.Before(x.start) {
					continue
				}
				rank++
				seq = rank
			}
			if c.count > 0 && seq > c.count {
				break
			}
			if x.inWindow(u) {
				x.add(u, w, seq)
			}
		}
	}
	return x.finish()
}

// isDosing reports whether day d is a dosing day of a schedule starting on
// day s.
func (c *compiled) isDosing(s, d int64) bool {
	if d < s {
		return false
	}
	if c.months > 0 {
		it := c.dosingDays(s, d)
		day, _ := it.next()
		return day == d
	}
	r := floorMod(d-c.cycleStart(s), c.cycle)
	if c.weekMask != 0 {
		return r < 7 && c.weekMask&(1<<r) != 0
	}
	i := ceilDiv(r*c.spread, c.cycle)
	return i < c.spread && i*c.cycle/c.spread == r
}

// cycleStart returns the day the cycles of a schedule starting on day s are
// counted from: the Monday of the start week for dayOfWeek schedules, else s.
func (c *compiled) cycleStart(s int64) int64 {
	if c.weekMask != 0 {
		return s - int64(weekday(s))
	}
	return s
}

// dosingBefore returns the number of dosing days in the first r days of the
// cycles.
func (c *compiled) dosingBefore(r int64) int64 {
	q, rem := r/c.cycle, r%c.cycle
	if c.weekMask != 0 {
		low := uint8(1<<min(rem, 7) - 1)
		return q*int64(bits.OnesCount8(c.weekMask)) + int64(bits.OnesCount8(c.weekMask&low))
	}
	return q*c.spread + ceilDiv(rem*c.spread, c.cycle)
}

// dayIter yields the dosing days from a given day on, each with its ordinal
// (the number of dosing days since the schedule start).
type dayIter struct {
	c   *compiled
	s   int64 // start day
	d   int64 // next day to look at (cycle schedules)
	ord int64 // ordinal of the next dosing day
	// Monthly schedules.
	month0 int64 // y*12 + m-1 of the start day
	day0   int   // day of month of the start day
}

func (c *compiled) dosingDays(s, from int64) dayIter {
	from = max(from, s)
	it := dayIter{c: c, s: s, d: from}
	if c.months > 0 {
		y, m, d := civilFromDays(s)
		it.month0, it.day0 = y*12+int64(m-1), d
		fy, fm, _ := civilFromDays(from)
		it.ord = max(0, floorDiv(fy*12+int64(fm-1)-it.month0, c.months)-1)
		for it.monthDay(it.ord) < from {
			it.ord++
		}
		return it
	}
	a := c.cycleStart(s)
	it.ord = c.dosingBefore(from-a) - c.dosingBefore(s-a)
	return it
}

// monthDay returns the j-th dosing day of a monthly schedule, clamped to the
// end of shorter months.
func (it *dayIter) monthDay(j int64) int64 {
	mi := it.month0 + j*it.c.months
	y, m := floorDiv(mi, 12), int(floorMod(mi, 12))+1
	return daysFromCivil(y, m, min(it.day0, daysIn(y, m)))
}

// next returns the next dosing day and its ordinal. The loop for cycle
// schedules ends within one cycle.
func (it *dayIter) next() (day, ord int64) {
	if it.c.months > 0 {
		day, ord = it.monthDay(it.ord), it.ord
		it.ord++
		return day, ord
	}
	for !it.c.isDosing(it.s, it.d) {
		it.d++
	}
	day, ord = it.d, it.ord
	it.d++
	it.ord++
	return day, ord
}

// elapsed expands a fixed interval counted from the start instant.
func (x *expansion) elapsed() ([]Dose, error) {
	c := &x.c
	iv := c.interval
	s0 := x.start.Unix()
	// Doses fall on whole seconds: u ≥ t ⇔ u ≥ ⌈t⌉ and u < t ⇔ u < ⌈t⌉.
	kLo := max(0, ceilDiv(ceilSec(x.p.From)-s0, iv))
	kHi := ceilDiv(ceilSec(x.p.To)-s0, iv)
	if x.hasEnd {
		kHi = min(kHi, ceilDiv(ceilSec(x.end)-s0, iv))
	}
	if c.weekMask == 0 && c.count > 0 {
		kHi = min(kHi, c.count)
	}
	if kLo >= kHi {
		return nil, nil
	}
	x.doses = make([]Dose, 0, kHi-kLo)
	x.local = make([]byte, 0, (kHi-kLo)*localLen)
	if c.weekMask == 0 {
		for k := kLo; k < kHi; k++ {
			u := time.Unix(s0+k*iv, 0).UTC()
			x.add(u, wallOf(u, x.loc), k+1)
		}
		return x.finish(), nil
	}

	// With dayOfWeek only doses on listed local weekdays count. Days are
	// walked with the same boundaries for the doses before the window and
	// those in it, so Seq is consistent.
	var seq int64
	var walkErr error
	x.walkDays(civilDay(x.start, x.loc)-1, 0, kLo, func(d, k0, k1 int64) {
		if c.weekMask&(1<<weekday(d)) != 0 {
			seq += k1 - k0
		}
	}, &walkErr)
	if walkErr != nil {
		return nil, walkErr
	}
	first := civilDay(time.Unix(s0+kLo*iv, 0), x.loc) - 1
	x.walkDays(first, kLo, kHi, func(d, k0, k1 int64) {
		if c.weekMask&(1<<weekday(d)) == 0 {
			return
		}
		for k := k0; k < k1; k++ {
			seq++
			if c.count > 0 && seq > c.count {
				return
			}
			u := time.Unix(s0+k*iv, 0).UTC()
			x.add(u, wallOf(u, x.loc), seq)
		}
	}, nil)
	return x.finish(), nil
}

// walkDays calls fn for each local day d from day first on with the range
// [k0, k1) of elapsed doses on that day, clipped to [kLo, kHi), until kHi is
// reached. With errp set, walking more than maxWalkDays days stops with an
// error.
func (x *expansion) walkDays(first, kLo, kHi int64, fn func(d, k0, k1 int64), errp *error) {
	s0, iv := x.start.Unix(), x.c.interval
	lo := x.res.instant(first * secondsPerDay).Unix()
	for d := first; ; d++ {
		hi := x.res.instant((d + 1) * secondsPerDay).Unix()
		k0 := max(ceilDiv(lo-s0, iv), kLo)
		k1 := min(ceilDiv(hi-s0, iv), kHi)
		if k0 >= kHi {
			return
		}
		if k0 < k1 {
			fn(d, k0, k1)
		}
		if errp != nil && d-first > maxWalkDays {
			*errp = errs.Invalid("start", "the schedule start is more than 100 years before the window")
			return
		}
		lo = hi
	}
}

// ceilSec returns t rounded up to a whole second, as Unix seconds.
func ceilSec(t time.Time) int64 {
	if t.Nanosecond() > 0 {
		return t.Unix() + 1
	}
	return t.Unix()
}

// expandEvents expands explicit event dateTimes.
func expandEvents(c *compiled, p Params) []Dose {
	type event struct {
		u    time.Time
		wall int64
	}
	evs := make([]event, len(c.events))
	for i, e := range c.events {
		if e.kind == dtLocal {
			evs[i] = event{instant(p.Location, e.wall), e.wall}
		} else {
			evs[i] = event{e.at.UTC(), wallOf(e.at, p.Location)}
		}
	}
	slices.SortStableFunc(evs, func(a, b event) int { return a.u.Compare(b.u) })
	evs = slices.CompactFunc(evs, func(a, b event) bool { return a.u.Equal(b.u) })
	x := expansion{p: p}
	for i, e := range evs {
		if !e.u.Before(p.From) && e.u.Before(p.To) {
			x.add(e.u, e.wall, int64(i)+1)
		}
	}
	if len(x.doses) == 0 {
		return nil
	}
	return x.finish()
}
