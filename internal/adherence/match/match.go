// Package match decides which dose instance an adherence event belongs to
// and what it does to that instance's outcome. It is pure: the store loads
// the candidate instances, asks Decide, and applies the decision in the
// same transaction that records the event.
//
// The rules (windows from adherence.Windows; s = due time, t = when the
// event happened):
//
//   - An instance's window is [s − OnTime, s + LateMax]. An event outside
//     the window of every instance of its plan is an orphan: kept, shown in
//     reports, never scored. A skip that names its instance may come up to
//     a day early ("skip tonight's dose").
//   - When windows overlap, an instance that is not excluded is
//     preferred, then one without a taken outcome, then the one whose
//     due time is nearest t.
//   - taken / opened score taken_on_time (|t − s| ≤ OnTime) or taken_late,
//     from any status but excluded — a missed or skipped dose is re-scored
//     when the taking is reported late (a device synced hours later).
//   - A taking of an already-taken instance within OpenDedupe of the
//     recorded taking is a duplicate (the bottle opened twice), even when
//     it falls just outside that instance's window, where the next dose's
//     window may open; later, it is flagged as a possible double dose and
//     the instance keeps its outcome. A taking reported earlier than the
//     recorded one, inside the instance's window, becomes the taking (the
//     earliest evidence wins) and the instance is re-scored.
//   - A taking reported earlier than an instance's recorded one, within
//     OpenDedupe of it but outside that instance's window and inside the
//     window of another instance not yet taken, scores that other
//     instance, and the recorded taking becomes its repeat (Unscore): the
//     result is what the two events give in the order they happened, not
//     the order they arrived in (a bottle opened at 18:55 and 19:05
//     between a 16:00 dose, late until 19:00, and a 20:00 dose took the
//     16:00 one).
//   - skipped scores skipped unless the dose was taken (taken wins); a
//     second skip is a duplicate.
//   - snoozed is recorded against its instance and changes nothing.
//   - Excluded instances (plan on hold) record events but are never scored.
package match

import (
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
)

// Instance is what matching needs to know of a dose instance.
type Instance struct {
	ID      int64
	DueAt   time.Time
	Status  adherence.DoseStatus
	TakenAt *time.Time
}

// Event is what matching needs to know of an event.
type Event struct {
	Kind       adherence.EventKind
	OccurredAt time.Time
	// DoseID is the instance the client named; 0 lets matching choose.
	DoseID int64
}

// Decision is the outcome of matching one event.
type Decision struct {
	Result adherence.EventResult
	// Instance is the index in the candidates of the matched instance, or
	// -1 for orphans and as-needed doses.
	Instance int
	// Status is the instance's new status when Result is ResultScored.
	Status adherence.DoseStatus
	// TakenAt is the instance's new taking time when the event scored a
	// taking.
	TakenAt *time.Time
	// DoubleDose is set when the event reports a second taking.
	DoubleDose bool
	// Unscore is the index in the candidates of an instance whose
	// recorded taking becomes a repeat of this event's, so that it loses
	// its outcome (see the package rules); -1 when none.
	Unscore int
}

// EarlySkip is how far ahead of its due time a skip that names its
// instance is accepted.
const EarlySkip = 24 * time.Hour

// CandidateRange is the due-time range in which instances can match an
// event at t: instances due outside it have t outside their window, and
// more than OpenDedupe outside it, where a repeat of their taking would
// still belong to them.
func CandidateRange(t time.Time, w adherence.Windows) (from, to time.Time) {
	return t.Add(-w.LateMax - w.OpenDedupe), t.Add(w.OnTime + w.OpenDedupe)
}

// Decide matches ev against the plan's instances cands (those due inside
// CandidateRange, or the named instance) under windows w.
func Decide(ev Event, cands []Instance, w adherence.Windows) Decision {
	i, unscore := pick(ev, cands, w)
	if i < 0 {
		return Decision{Result: adherence.ResultOrphan, Instance: -1, Unscore: -1}
	}
	in := cands[i]
	d := Decision{Result: adherence.ResultRecorded, Instance: i, Unscore: unscore}
	if in.Status == adherence.DoseExcluded {
		return d
	}
	switch ev.Kind {
	case adherence.EventTaken, adherence.EventOpened:
		t := ev.OccurredAt
		if in.Status.Taken() && in.TakenAt != nil {
			prev := *in.TakenAt
			gap := t.Sub(prev)
			if gap < 0 {
				gap = -gap
			}
			if gap <= w.OpenDedupe {
				d.Result = adherence.ResultDuplicate
				if t.Before(prev) && w.Contains(in.DueAt, t) {
					// The same taking, seen earlier: keep the earliest time.
					d.Result, d.Status, d.TakenAt = adherence.ResultScored, w.TakenStatus(in.DueAt, t), &t
				}
				return d
			}
			d.DoubleDose = true
			if t.Before(prev) {
				d.Result, d.Status, d.TakenAt = adherence.ResultScored, w.TakenStatus(in.DueAt, t), &t
			}
			return d
		}
		d.Result, d.Status, d.TakenAt = adherence.ResultScored, w.TakenStatus(in.DueAt, t), &t
	case adherence.EventSkipped:
		switch {
		case in.Status.Taken():
		case in.Status == adherence.DoseSkipped:
			d.Result = adherence.ResultDuplicate
		default:
			d.Result, d.Status = adherence.ResultScored, adherence.DoseSkipped
		}
	}
	return d
}

// pick chooses the instance ev belongs to, or -1, and the instance whose
// recorded taking ev's replaces as the first of the two (see Unscore), or
// -1.
func pick(ev Event, cands []Instance, w adherence.Windows) (int, int) {
	t := ev.OccurredAt
	if ev.DoseID != 0 {
		for i, c := range cands {
			if c.ID != ev.DoseID {
				continue
			}
			if w.Contains(c.DueAt, t) || (ev.Kind == adherence.EventSkipped && !t.Before(c.DueAt.Add(-EarlySkip)) && t.Before(c.DueAt)) {
				return i, -1
			}
			// A repeat of its recorded taking, just outside its window.
			if (ev.Kind == adherence.EventTaken || ev.Kind == adherence.EventOpened) && isRepeat(c, t, w) {
				return i, -1
			}
			return -1, -1
		}
		return -1, -1
	}
	if ev.Kind == adherence.EventTaken || ev.Kind == adherence.EventOpened {
		// A repeat of a recorded taking belongs to that taking's instance,
		// even where windows overlap or it falls just outside the
		// instance's window (the next dose's window may open there).
		for i, c := range cands {
			if !isRepeat(c, t, w) {
				continue
			}
			if t.Before(*c.TakenAt) && !w.Contains(c.DueAt, t) {
				// Earlier than the recorded taking and outside its
				// instance's window: had it come first, it would have
				// taken the instance whose window holds it, if one is
				// open, and the recorded taking would have repeated it.
				if j := nearest(cands, t, w, true); j >= 0 {
					return j, i
				}
			}
			return i, -1
		}
	}
	return nearest(cands, t, w, false), -1
}

// nearest returns the best instance whose window holds t (see better), or
// -1; with open, only an instance neither taken nor excluded.
func nearest(cands []Instance, t time.Time, w adherence.Windows, open bool) int {
	best := -1
	for i, c := range cands {
		if !w.Contains(c.DueAt, t) {
			continue
		}
		if open && (c.Status.Taken() || c.Status == adherence.DoseExcluded) {
			continue
		}
		if best < 0 || better(c, cands[best], t) {
			best = i
		}
	}
	return best
}

// isRepeat reports whether a taking at t repeats c's recorded taking: c
// is taken, at most OpenDedupe from t.
func isRepeat(c Instance, t time.Time, w adherence.Windows) bool {
	return c.Status.Taken() && c.TakenAt != nil && absDur(t.Sub(*c.TakenAt)) <= w.OpenDedupe
}

// better reports whether a is a better match than b for an event at t: a
// live instance first (an excluded one, of a pause, records the event and
// scores nothing, so the live dose beside it would be missed), then one
// not yet taken, then the nearest due time, then the earlier one.
func better(a, b Instance, t time.Time) bool {
	ax, bx := a.Status == adherence.DoseExcluded, b.Status == adherence.DoseExcluded
	if ax != bx {
		return !ax
	}
	at, bt := a.Status.Taken(), b.Status.Taken()
	if at != bt {
		return !at
	}
	da, db := absDur(t.Sub(a.DueAt)), absDur(t.Sub(b.DueAt))
	if da != db {
		return da < db
	}
	return a.DueAt.Before(b.DueAt)
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
