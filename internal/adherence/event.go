package adherence

import "time"

// EventKind is what an adherence event reports.
type EventKind string

// The event kinds.
const (
	EventTaken   EventKind = "taken"   // the patient took the dose
	EventSkipped EventKind = "skipped" // the patient chose not to; carries a reason code
	EventSnoozed EventKind = "snoozed" // remind me later; changes no outcome
	EventOpened  EventKind = "opened"  // a smart bottle or cap was opened: counts as taken
)

// EventSource is the channel an event came through.
type EventSource string

// The event sources.
const (
	SourceApp       EventSource = "app"
	SourceSMS       EventSource = "sms"
	SourceDevice    EventSource = "device"
	SourceClinician EventSource = "clinician"
)

// EventResult says what matching made of an event.
type EventResult string

// The matching results.
const (
	// ResultScored: the event set its dose instance's outcome.
	ResultScored EventResult = "scored"
	// ResultDuplicate: a repeat of what the instance already records (a
	// second opening within the de-duplication interval, a second skip).
	ResultDuplicate EventResult = "duplicate"
	// ResultRecorded: matched to an instance but changing nothing (a
	// snooze, a skip after the dose was taken, an excluded dose).
	ResultRecorded EventResult = "recorded"
	// ResultOrphan: outside every dose window of the plan; kept, not scored.
	ResultOrphan EventResult = "orphan"
	// ResultAsNeeded: a dose of an as-needed (PRN) plan; logged only.
	ResultAsNeeded EventResult = "as_needed"
)

// Event is one recorded adherence event.
type Event struct {
	ID            string
	OrgID         string
	PatientID     string
	PlanID        string
	RequestedDose int64 // the dose instance the client named; 0 when none
	Kind          EventKind
	Reason        string // skip reason code
	SnoozeMinutes int    // for snoozed; 0 when unset
	OccurredAt    time.Time
	ReceivedAt    time.Time
	Source        EventSource
	ClientEventID string
	DeviceID      string
	ActorID       string
	// RequestID is the id of the API request that recorded the event; the
	// audit record of that request for the patient carries the same id.
	RequestID string

	// Matching: the dose instance the event belongs to (0 for orphans),
	// what it did, the status it gave the instance when it scored, and
	// whether it reports a second taking of an already-taken dose.
	DoseInstanceID int64
	Result         EventResult
	DoseStatus     DoseStatus
	DoubleDose     bool
}

// Windows are the matching windows of a plan: a dose scheduled at s is on
// time when taken within s ± OnTime, late until s + LateMax, and missed
// when nothing arrived by then. Device openings within OpenDedupe of the
// taking that scored a dose count as that same taking.
type Windows struct {
	OnTime     time.Duration
	LateMax    time.Duration
	OpenDedupe time.Duration
}

// DefaultWindows are the windows of an org that has not set its own: ±1 h
// on time, 3 h late (a smart cap's usual window), openings within 15 min
// the same taking.
var DefaultWindows = Windows{OnTime: time.Hour, LateMax: 3 * time.Hour, OpenDedupe: 15 * time.Minute}

// Contains reports whether t falls inside the window of a dose due at due.
func (w Windows) Contains(due, t time.Time) bool {
	return !t.Before(due.Add(-w.OnTime)) && !t.After(due.Add(w.LateMax))
}

// TakenStatus is the outcome of a dose due at due taken at t, which must be
// inside the window.
func (w Windows) TakenStatus(due, t time.Time) DoseStatus {
	d := t.Sub(due)
	if d < 0 {
		d = -d
	}
	if d <= w.OnTime {
		return DoseTakenOnTime
	}
	return DoseTakenLate
}

// DoseCounts are the dose-level adherence counts of a patient, plan or
// cohort over a period: instances due in the period by status, plus the
// orphan events and possible double doses reported in it.
type DoseCounts struct {
	Scheduled   int // every instance due in the period, whatever its status
	OnTime      int
	Late        int
	Skipped     int
	Missed      int
	Excluded    int
	Pending     int // still open: due, but the window has not closed yet (or in the future)
	Orphans     int // events outside every window
	DoubleDoses int // instances with a second taking reported
}

// Denominator is the number of instances that count: scheduled minus
// excluded minus those still pending (an open dose is not yet a failure).
func (c DoseCounts) Denominator() int { return c.Scheduled - c.Excluded - c.Pending }

// TakingAdherence is (on time + late) / denominator; nil when nothing
// counts yet.
func (c DoseCounts) TakingAdherence() *float64 { return ratio(c.OnTime+c.Late, c.Denominator()) }

// TimingAdherence is on time / denominator; nil when nothing counts yet.
func (c DoseCounts) TimingAdherence() *float64 { return ratio(c.OnTime, c.Denominator()) }

// Add adds o to c.
func (c *DoseCounts) Add(o DoseCounts) {
	c.Scheduled += o.Scheduled
	c.OnTime += o.OnTime
	c.Late += o.Late
	c.Skipped += o.Skipped
	c.Missed += o.Missed
	c.Excluded += o.Excluded
	c.Pending += o.Pending
	c.Orphans += o.Orphans
	c.DoubleDoses += o.DoubleDoses
}

func ratio(n, d int) *float64 {
	if d <= 0 {
		return nil
	}
	r := float64(n) / float64(d)
	return &r
}
