package remind

import (
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
)

// DefaultCaregiverHours are the quiet hours for non-urgent messages to
// caregivers (escalations) when nothing else is configured: messages are
// allowed from 08:00 to 21:00 in the recipient's local time, so the quiet
// period runs from 21:00 to 08:00. Treat it as read-only.
var DefaultCaregiverHours = adherence.QuietHours{
	Start: schedule.Clock(21 * 60),
	End:   schedule.Clock(8 * 60),
	Set:   true,
}

// InQuiet reports whether t falls inside the quiet hours q of a recipient in
// time zone loc (nil means UTC) and, when it does, the instant they end.
//
// A quiet period starts at the first instant the local wall clock shows
// q.Start and ends at the first instant after that at which it shows q.End,
// on the same day or, when Start is after End (22:00–07:00), the next day.
// A wall time that does not exist on a spring-forward day stands for the
// first instant after the gap (02:30 in New York on 2026-03-08 is 03:00
// EDT); a wall time that occurs twice on a fall-back day stands for its
// first occurrence. So a period is never longer or shorter than the wall
// clocks say, except by the daylight-saving shift itself.
//
// Quiet hours that are not Set, that have an invalid clock, or whose Start
// equals End are empty: InQuiet returns false and the zero time.
func InQuiet(q adherence.QuietHours, loc *time.Location, t time.Time) (in bool, end time.Time) {
	if !q.Set || !q.Start.Valid() || !q.End.Valid() || q.Start == q.End {
		return false, time.Time{}
	}
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	// A period that started yesterday may still run (22:00–07:00), so look
	// at the periods starting yesterday and today.
	for _, day := range []int{d - 1, d} {
		s := wallInstant(loc, y, m, day, q.Start)
		endDay := day
		if q.End < q.Start {
			endDay++
		}
		e := wallInstant(loc, y, m, endDay, q.End)
		if !t.Before(s) && t.Before(e) {
			return true, e
		}
	}
	return false, time.Time{}
}

// LastQuietEnd returns the end of the latest quiet period of q (in time
// zone loc, nil meaning UTC) that ended at or before t, or the zero time
// when q is empty. With InQuiet it tells when a message held through quiet
// hours became sendable.
func LastQuietEnd(q adherence.QuietHours, loc *time.Location, t time.Time) time.Time {
	if !q.Set || !q.Start.Valid() || !q.End.Valid() || q.Start == q.End {
		return time.Time{}
	}
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	var last time.Time
	// The periods starting two days ago up to today cover the latest end
	// at or before t, whatever the order of Start and End.
	for _, day := range []int{d - 2, d - 1, d} {
		endDay := day
		if q.End < q.Start {
			endDay++
		}
		if e := wallInstant(loc, y, m, endDay, q.End); !e.After(t) && e.After(last) {
			last = e
		}
	}
	return last
}

// wallInstant returns the first instant at which the wall clock of loc
// shows clock c on the civil date y-m-d (d may be out of range; it is
// normalised like time.Date does). When that wall time falls in a
// spring-forward gap, it returns the first instant after the gap. time.Date
// guarantees neither choice, so the zone offsets around the wall time are
// inspected directly.
func wallInstant(loc *time.Location, y int, m time.Month, d int, c schedule.Clock) time.Time {
	wall := time.Date(y, m, d, int(c)/60, int(c)%60, 0, 0, time.UTC)
	// The offsets in effect a day either side of the wall time cover any
	// transition near it (zones change offset at most a few times a year).
	_, before := wall.Add(-24 * time.Hour).In(loc).Zone()
	_, after := wall.Add(24 * time.Hour).In(loc).Zone()
	var first time.Time
	for _, off := range []int{before, after} {
		u := wall.Add(-time.Duration(off) * time.Second)
		if sameWall(u.In(loc), wall) && (first.IsZero() || u.Before(first)) {
			first = u
		}
	}
	if !first.IsZero() {
		return first.In(loc)
	}
	// In a gap: read with the offset from before the transition, the wall
	// time lands after it, in the zone period that starts where the gap
	// ends.
	u := wall.Add(-time.Duration(before) * time.Second).In(loc)
	start, _ := u.ZoneBounds()
	if start.IsZero() {
		return u
	}
	return start.In(loc)
}

// sameWall reports whether the local time lt shows the same date, hour,
// minute and second as the UTC time wall.
func sameWall(lt, wall time.Time) bool {
	ly, lm, ld := lt.Date()
	wy, wm, wd := wall.Date()
	return ly == wy && lm == wm && ld == wd &&
		lt.Hour() == wall.Hour() && lt.Minute() == wall.Minute() && lt.Second() == wall.Second()
}
