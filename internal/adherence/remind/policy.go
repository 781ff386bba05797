// Package remind holds the rules of patient messaging for the Medication
// Adherence Platform, as pure functions: when a dose reminder is sent,
// held, dropped or stopped (Decide), when quiet hours end (InQuiet), what a
// message says in each language and channel without carrying more personal
// health information than allowed (Template, Render, Default), and what an
// SMS reply means (ParseReply).
//
// Nothing here performs I/O, reads a clock or keeps state: the current time
// is always passed in as now, so the callers (the reminder worker, the API,
// the SMS webhook) decide when and where, and tests never sleep.
package remind

import (
	"slices"
	"strconv"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// Bounds of a Policy, in minutes (and count for MaxReminders).
const (
	minFirstOffset  = -60
	maxFirstOffset  = 120
	minRepeatEvery  = 5
	maxMaxReminders = 24
	minValidity     = 1
	maxValidity     = 4 * 60
)

// Policy says when and how a patient is reminded of a dose.
type Policy struct {
	// FirstOffset places the first reminder relative to the dose's due
	// time: negative is before, positive after; -60m to +120m, whole
	// minutes.
	FirstOffset time.Duration
	// RepeatEvery is the interval between reminders while the dose stays
	// open; 0 means no repeats, otherwise at least 5m, whole minutes.
	RepeatEvery time.Duration
	// MaxReminders is the most reminders sent for one dose, the first
	// included; 0 means until the window closes; at most 24. A reminder
	// the patient asked for by snoozing after the last one still goes
	// (Dose.Snoozed).
	MaxReminders int
	// Validity is how long after its send time an undelivered reminder is
	// still worth delivering; after that the provider drops it rather than
	// deliver it late. 1m to 4h, whole minutes.
	Validity time.Duration
	// Channels is the patient's channel order, first choice first: sms,
	// push or email, at least one, none twice.
	Channels []notify.Channel
}

// DefaultPolicy reminds at the due time, repeats every 30 minutes up to
// three reminders in all, drops a reminder not delivered within 30 minutes
// and prefers push, then SMS, then email. Treat it as read-only: copy
// Channels before changing it.
var DefaultPolicy = Policy{
	FirstOffset:  0,
	RepeatEvery:  30 * time.Minute,
	MaxReminders: 3,
	Validity:     30 * time.Minute,
	Channels:     []notify.Channel{notify.Push, notify.SMS, notify.Email},
}

// Validate checks every field against its bounds. The error is an
// *errs.Error of code invalid whose Field is the JSON name of the field
// (firstOffsetMinutes, repeatEveryMinutes, maxReminders, validityMinutes,
// channels) and whose message says what is wrong.
func (p Policy) Validate() error {
	durations := []struct {
		field string
		d     time.Duration
	}{
		{"firstOffsetMinutes", p.FirstOffset},
		{"repeatEveryMinutes", p.RepeatEvery},
		{"validityMinutes", p.Validity},
	}
	for _, f := range durations {
		if f.d%time.Minute != 0 {
			return errs.Invalid(f.field, "must be a whole number of minutes")
		}
	}
	if err := checkMinutes(int64(p.FirstOffset/time.Minute), int64(p.RepeatEvery/time.Minute), int64(p.Validity/time.Minute)); err != nil {
		return err
	}
	if p.MaxReminders < 0 || p.MaxReminders > maxMaxReminders {
		return errs.Invalid("maxReminders", "must be between 0 (until the window closes) and %d", maxMaxReminders)
	}
	return checkChannels(p.Channels)
}

// checkMinutes checks the three durations of a Policy given in minutes. It
// works on minutes so that FromJSON can check before converting, where a
// huge value could overflow a time.Duration.
func checkMinutes(firstOffset, repeatEvery, validity int64) error {
	if firstOffset < minFirstOffset || firstOffset > maxFirstOffset {
		return errs.Invalid("firstOffsetMinutes", "must be between %d and %d minutes", minFirstOffset, maxFirstOffset)
	}
	if repeatEvery != 0 && repeatEvery < minRepeatEvery {
		return errs.Invalid("repeatEveryMinutes", "must be 0 (no repeats) or at least %d minutes", minRepeatEvery)
	}
	if repeatEvery > 24*60 {
		return errs.Invalid("repeatEveryMinutes", "must be at most %d minutes", 24*60)
	}
	if validity < minValidity || validity > maxValidity {
		return errs.Invalid("validityMinutes", "must be between %d and %d minutes", minValidity, maxValidity)
	}
	return nil
}

func checkChannels(chs []notify.Channel) error {
	if len(chs) == 0 {
		return errs.Invalid("channels", "must list at least one channel")
	}
	for i, ch := range chs {
		// Named down to the item, as a timing's lists and an escalation
		// level's channels are: "channels[1]".
		field := "channels[" + strconv.Itoa(i) + "]"
		if ch == "" {
			// JSON null decodes to "" too: say both, not `"" is not…`.
			return errs.Invalid(field, "must be sms, push or email (got an empty string or null)")
		}
		if !reminderChannel(ch) {
			// Quoted back clipped, as a template's unknown channel is: the
			// client's string may be as long as the body.
			return errs.Invalid(field, "%q is not sms, push or email", clip(string(ch)))
		}
		if slices.Contains(chs[:i], ch) {
			return errs.Invalid(field, "%q is listed twice", string(ch))
		}
	}
	return nil
}

// reminderChannel reports whether a patient can be reminded through ch.
func reminderChannel(ch notify.Channel) bool {
	return ch == notify.SMS || ch == notify.Push || ch == notify.Email
}

// PolicyJSON is the form of a Policy in the API and in storage, with
// durations in whole minutes.
type PolicyJSON struct {
	FirstOffsetMinutes int      `json:"firstOffsetMinutes"`
	RepeatEveryMinutes int      `json:"repeatEveryMinutes"`
	MaxReminders       int      `json:"maxReminders"`
	ValidityMinutes    int      `json:"validityMinutes"`
	Channels           []string `json:"channels"`
}

// ToJSON returns the JSON form of p. Durations are truncated to whole
// minutes; a valid Policy has no other kind.
func (p Policy) ToJSON() PolicyJSON {
	chs := make([]string, len(p.Channels))
	for i, ch := range p.Channels {
		chs[i] = string(ch)
	}
	return PolicyJSON{
		FirstOffsetMinutes: int(p.FirstOffset / time.Minute),
		RepeatEveryMinutes: int(p.RepeatEvery / time.Minute),
		MaxReminders:       p.MaxReminders,
		ValidityMinutes:    int(p.Validity / time.Minute),
		Channels:           chs,
	}
}

// FromJSON converts the JSON form back into a Policy and validates it, with
// the same errors as Validate. Channel names must be written in lower case
// ("sms", "push", "email").
func FromJSON(j PolicyJSON) (Policy, error) {
	if err := checkMinutes(int64(j.FirstOffsetMinutes), int64(j.RepeatEveryMinutes), int64(j.ValidityMinutes)); err != nil {
		return Policy{}, err
	}
	p := Policy{
		FirstOffset:  time.Duration(j.FirstOffsetMinutes) * time.Minute,
		RepeatEvery:  time.Duration(j.RepeatEveryMinutes) * time.Minute,
		MaxReminders: j.MaxReminders,
		Validity:     time.Duration(j.ValidityMinutes) * time.Minute,
		Channels:     make([]notify.Channel, len(j.Channels)),
	}
	for i, s := range j.Channels {
		p.Channels[i] = notify.Channel(s)
	}
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// Dose is what Decide needs to know about one open dose instance and its
// reminders.
type Dose struct {
	// DueAt is the scheduled time of the dose.
	DueAt time.Time
	// WindowCloses is the end of the dose's window (due + late maximum):
	// no reminder is ever sent at or after it.
	WindowCloses time.Time
	// RemindAt is when this reminder is meant to go, after snoozes and
	// quiet-hour holds.
	RemindAt time.Time
	// Sent counts the reminders already sent for the dose.
	Sent int
	// Open is true while the dose has no outcome (taken or skipped).
	Open bool
	// Snoozed is true when RemindAt is the time the patient asked for by
	// snoozing after the latest reminder: that reminder goes even when
	// MaxReminders have been sent, since the patient asked for it.
	Snoozed bool
}

// Action is what to do with a reminder now.
type Action string

// The actions.
const (
	// Send sends the reminder now.
	Send Action = "send"
	// Hold sends nothing now and tries again at Decision.Next.
	Hold Action = "hold"
	// Drop sends nothing and plans no further reminder, because none could
	// go out in time.
	Drop Action = "drop"
	// Stop sends nothing and plans no further reminder, because the dose
	// needs none.
	Stop Action = "stop"
)

// The reasons a Decision gives. A Send has no reason.
const (
	ReasonAcknowledged           = "acknowledged"
	ReasonWindowClosed           = "window_closed"
	ReasonMaxReminders           = "max_reminders"
	ReasonNotDue                 = "not_due"
	ReasonQuietHours             = "quiet_hours"
	ReasonQuietHoursWindowClosed = "quiet_hours_window_closed"
)

// Decision is the outcome of Decide.
type Decision struct {
	Action Action
	// Next is when to call Decide again for this dose; zero means no
	// further reminder.
	Next time.Time
	// ValidUntil, for Send, is the instant after which the message must not
	// be delivered any more (notify.Message.ValidUntil).
	ValidUntil time.Time
	// Reason is one of the Reason constants, empty for Send.
	Reason string
}

// Decide says what to do with the reminder of dose d at now, for a patient
// with policy p and quiet hours q in time zone loc (nil means UTC). The
// rules, in order:
//
//   - a dose that is no longer open stops its reminders (acknowledged);
//   - at or after WindowCloses nothing is sent any more (window_closed);
//   - once MaxReminders are sent, reminders stop (max_reminders), except
//     the one a snooze after the latest reminder asked for (d.Snoozed);
//   - before d.RemindAt (a snooze or hold moved the reminder later than the
//     job that runs now) the reminder is held until RemindAt (not_due), or
//     stopped when RemindAt is not before WindowCloses (window_closed);
//   - inside the patient's quiet hours the reminder is held until they end
//     (quiet_hours), or dropped when they end at or after WindowCloses
//     (quiet_hours_window_closed);
//   - otherwise the reminder is sent, valid until now+Validity but never
//     past WindowCloses, and the next one is planned RepeatEvery after
//     RemindAt (after now when this one goes late by half an interval or
//     more) when repeats are on, the maximum allows another, and it falls
//     before WindowCloses.
func Decide(p Policy, q adherence.QuietHours, loc *time.Location, d Dose, now time.Time) Decision {
	if !d.Open {
		return Decision{Action: Stop, Reason: ReasonAcknowledged}
	}
	if !now.Before(d.WindowCloses) {
		return Decision{Action: Stop, Reason: ReasonWindowClosed}
	}
	if p.MaxReminders > 0 && d.Sent >= p.MaxReminders && !d.Snoozed {
		return Decision{Action: Stop, Reason: ReasonMaxReminders}
	}
	if now.Before(d.RemindAt) {
		if !d.RemindAt.Before(d.WindowCloses) {
			return Decision{Action: Stop, Reason: ReasonWindowClosed}
		}
		return Decision{Action: Hold, Next: d.RemindAt, Reason: ReasonNotDue}
	}
	if in, end := InQuiet(q, loc, now); in {
		if !end.Before(d.WindowCloses) {
			return Decision{Action: Drop, Reason: ReasonQuietHoursWindowClosed}
		}
		return Decision{Action: Hold, Next: end, Reason: ReasonQuietHours}
	}
	dec := Decision{Action: Send, ValidUntil: now.Add(p.Validity)}
	if dec.ValidUntil.After(d.WindowCloses) {
		dec.ValidUntil = d.WindowCloses
	}
	if p.RepeatEvery > 0 && (p.MaxReminders == 0 || d.Sent+1 < p.MaxReminders) {
		// Every RepeatEvery from when this reminder was meant to go, not
		// from when the job got to it (seconds later: QA saw each repeat
		// drift by the dispatcher's delay). One sent late by half an
		// interval or more plans the next from now, so that two never go
		// close together.
		base := now
		if !d.RemindAt.IsZero() && !d.RemindAt.After(now) && now.Sub(d.RemindAt) < p.RepeatEvery/2 {
			base = d.RemindAt
		}
		if next := base.Add(p.RepeatEvery); next.Before(d.WindowCloses) {
			dec.Next = next
		}
	}
	return dec
}

// FirstRemindAt returns when the first reminder of a dose due at due goes:
// due plus p.FirstOffset.
func FirstRemindAt(p Policy, due time.Time) time.Time {
	return due.Add(p.FirstOffset)
}

// Snooze lengths in minutes: the default when the patient names none, and
// the shortest and longest a patient can ask for.
const (
	DefaultSnoozeMinutes = 15
	MinSnoozeMinutes     = 5
	MaxSnoozeMinutes     = 240
)

// Snooze returns when the reminder of d goes again after the patient asked
// at now to be reminded in minutes minutes: 0 or less means
// DefaultSnoozeMinutes, and other values are brought into MinSnoozeMinutes
// to MaxSnoozeMinutes. It returns the zero time, meaning no more
// reminders, when the dose is no longer open or the snoozed reminder would
// fall at or after d.WindowCloses. The caller stores the result as the
// dose's RemindAt.
func Snooze(now time.Time, minutes int, d Dose) time.Time {
	if minutes <= 0 {
		minutes = DefaultSnoozeMinutes
	}
	minutes = min(max(minutes, MinSnoozeMinutes), MaxSnoozeMinutes)
	if !d.Open {
		return time.Time{}
	}
	at := now.Add(time.Duration(minutes) * time.Minute)
	if !at.Before(d.WindowCloses) {
		return time.Time{}
	}
	return at
}
