package schedule

import (
	"math"
	"time"

	"github.com/medplatform/medplatform/internal/platform/rfc3339"
)

// Civil days are counted from 1970-01-01 on the proleptic Gregorian
// calendar; a civil second w = day·86400 + seconds since midnight names a wall
// time independent of any zone.

const secondsPerDay = 86400

// daysFromCivil returns the day number of y-m-d (after H. Hinnant's
// days_from_civil).
func daysFromCivil(y int64, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := int64((m + 9) % 12)
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y int64, m, d int) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	m = int(mp + 3)
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// weekday returns 0 for Monday … 6 for Sunday.
func weekday(day int64) int { return int(floorMod(day+3, 7)) }

func daysIn(y int64, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// ceilDiv returns ⌈a/b⌉ for b > 0.
func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// civilDay returns the day number of t's date in loc.
func civilDay(t time.Time, loc *time.Location) int64 {
	y, m, d := t.In(loc).Date()
	return daysFromCivil(int64(y), int(m), d)
}

// instant returns the instant at which the wall clock of loc shows the civil
// second w. A wall time inside a gap (spring forward) moves forward by the
// length of the gap; a wall time that occurs twice (fall back) resolves to
// its first occurrence. time.Date guarantees neither, so the zone periods
// around w are inspected directly.
func instant(loc *time.Location, w int64) time.Time {
	_, guess := time.Unix(w, 0).In(loc).Zone()
	t := time.Unix(w-int64(guess), 0).In(loc)
	start, end := t.ZoneBounds()
	_, off := t.Zone()
	c := w - int64(off)
	switch {
	case !end.IsZero() && c >= end.Unix():
		// The wall time is later than this zone period shows: it lies in the
		// next period, or in the gap before it, in which case moving forward
		// by the gap means keeping this period's offset.
		_, next := end.Zone()
		if cn := w - int64(next); cn >= end.Unix() {
			return time.Unix(cn, 0).UTC()
		}
		return time.Unix(c, 0).UTC()
	case !start.IsZero() && c < start.Unix():
		// Earlier than this period: valid in the previous period, or in the
		// gap at start; either way the previous offset applies.
		_, prev := start.Add(-time.Second).Zone()
		return time.Unix(w-int64(prev), 0).UTC()
	}
	// Valid in this period. Shortly after a fall-back transition the same
	// wall time also occurred in the previous period, and that comes first.
	if !start.IsZero() && c-start.Unix() < secondsPerDay {
		_, prev := start.Add(-time.Second).Zone()
		if cp := w - int64(prev); cp < start.Unix() {
			return time.Unix(cp, 0).UTC()
		}
	}
	return time.Unix(c, 0).UTC()
}

// Instant returns the instant at which the wall clock of loc shows the
// date y-mo-d and the time h:mi:s, as Expand places a dose there: a wall
// time inside a gap moves forward by the length of the gap, and one that
// occurs twice is its first occurrence. time.Date and time.ParseInLocation
// guarantee neither: west of UTC they place a time in a gap (00:30 of a day
// whose midnight is skipped) an hour before it, on the day before.
func Instant(loc *time.Location, y int, mo time.Month, d, h, mi, s int) time.Time {
	return instant(loc, daysFromCivil(int64(y), int(mo), d)*secondsPerDay+int64(h)*3600+int64(mi)*60+int64(s))
}

// resolver memoises the zone period of the last instant it resolved, so
// that consecutive wall times far from a transition cost no zone lookup.
type resolver struct {
	loc    *time.Location
	off    int64 // UTC offset of the cached period, in seconds
	lo, hi int64 // instants (Unix) where off applies without ambiguity
}

func newResolver(loc *time.Location) resolver {
	return resolver{loc: loc, lo: 1, hi: 0} // empty range: first call looks up
}

// instant is the package-level instant with the cache: an instant more than
// a day inside a zone period can have no other occurrence and no gap.
func (r *resolver) instant(w int64) time.Time {
	if c := w - r.off; c >= r.lo && c < r.hi {
		return time.Unix(c, 0).UTC()
	}
	u := instant(r.loc, w)
	lt := u.In(r.loc)
	start, end := lt.ZoneBounds()
	_, off := lt.Zone()
	r.off = int64(off)
	r.lo, r.hi = math.MinInt64, math.MaxInt64
	if !start.IsZero() {
		r.lo = start.Unix() + secondsPerDay
	}
	if !end.IsZero() {
		r.hi = end.Unix() - secondsPerDay
	}
	return u
}

// datePrefix returns "2006-01-02T" for a day number in years 0000–9999
// (Expand keeps its windows inside them).
func datePrefix(day int64) [11]byte {
	y, m, d := civilFromDays(day)
	y = min(max(y, 0), 9999)
	return [11]byte{byte('0' + y/1000), byte('0' + y/100%10), byte('0' + y/10%10), byte('0' + y%10),
		'-', byte('0' + m/10), byte('0' + m%10), '-', byte('0' + d/10), byte('0' + d%10), 'T'}
}

// appendClock appends the hours and minutes of s seconds since midnight as
// "15:04".
func appendClock(b []byte, s int64) []byte {
	hh, mm := s/3600, s/60%60
	return append(b, byte('0'+hh/10), byte('0'+hh%10), ':', byte('0'+mm/10), byte('0'+mm%10))
}

// wallOf returns the civil second shown by the wall clock of loc at t.
func wallOf(t time.Time, loc *time.Location) int64 {
	lt := t.In(loc)
	y, m, d := lt.Date()
	hh, mm, ss := lt.Clock()
	return daysFromCivil(int64(y), int(m), d)*secondsPerDay + int64(hh*3600+mm*60+ss)
}

// dateTime is a parsed FHIR date or dateTime.
type dateTime struct {
	kind dtKind
	wall int64     // civil second, for dtDate (midnight) and dtLocal
	at   time.Time // for dtInstant
}

// year returns the year of dt as written (in its own offset for an
// instant).
func (dt dateTime) year() int64 {
	if dt.kind == dtInstant {
		return int64(dt.at.Year())
	}
	y, _, _ := civilFromDays(floorDiv(dt.wall, secondsPerDay))
	return y
}

type dtKind uint8

const (
	dtNone    dtKind = iota
	dtDate           // 2026-03-01
	dtLocal          // 2026-03-01T08:00:00 (no offset: patient's wall time)
	dtInstant        // 2026-03-01T08:00:00-05:00 or …Z
)

// parseDateTime reads a FHIR date (YYYY-MM-DD) or a dateTime with seconds
// and optional fraction and offset. Partial dates (YYYY, YYYY-MM) are not
// accepted.
func parseDateTime(s string) (dateTime, bool) {
	if len(s) == 10 {
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return dateTime{}, false
		}
		return dateTime{kind: dtDate, wall: wallOf(t, time.UTC)}, true
	}
	if len(s) < 19 || s[10] != 'T' {
		return dateTime{}, false
	}
	last := s[len(s)-1]
	hasOffset := last == 'Z' || (len(s) >= 25 && (s[len(s)-6] == '+' || s[len(s)-6] == '-'))
	// Strictly RFC 3339 (rfc3339.Strict; a local time is one without
	// its Z): time.Parse also takes an offset of 24 hours or more (+24:00
	// moved a bound a whole day), a comma before the fraction and a
	// one-digit hour.
	if hasOffset {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || !rfc3339.Strict(s) {
			return dateTime{}, false
		}
		return dateTime{kind: dtInstant, at: t}, true
	}
	t, err := time.Parse("2006-01-02T15:04:05", s)
	if err != nil || !rfc3339.Strict(s+"Z") {
		return dateTime{}, false
	}
	return dateTime{kind: dtLocal, wall: wallOf(t, time.UTC)}, true
}
