package schedule

import "encoding/json"

// Timing is a FHIR R4 Timing: when a medication is to be taken. Only the
// elements the platform reads are modelled; see the package documentation
// for how each is interpreted.
type Timing struct {
	// ID is the element id FHIR allows on every element; preserved, not
	// used.
	ID string `json:"id,omitempty"`
	// Extension holds FHIR extensions as given (an array of objects with
	// a url): preserved, never read. A modifierExtension, which could
	// change the meaning of the schedule, is refused.
	Extension json.RawMessage `json:"extension,omitempty"`
	// Event lists explicit dateTimes, each a one-off dose.
	Event []string `json:"event,omitempty"`
	// Repeat describes a recurring schedule.
	Repeat *Repeat `json:"repeat,omitempty"`
	// Code is a coded abbreviation such as BID. It is preserved but not used
	// for scheduling.
	Code *CodeableConcept `json:"code,omitempty"`
}

// Repeat is the FHIR Timing.repeat element. Pointers distinguish an absent
// number from zero so that export emits only what was set.
type Repeat struct {
	ID           string          `json:"id,omitempty"`        // preserved, not used
	Extension    json.RawMessage `json:"extension,omitempty"` // preserved, not used
	BoundsPeriod *Period         `json:"boundsPeriod,omitempty"`
	Count        *int            `json:"count,omitempty"`
	CountMax     *int            `json:"countMax,omitempty"`
	// Duration, DurationMax and DurationUnit describe how long one
	// administration lasts; they are accepted but not used.
	Duration     *float64 `json:"duration,omitempty"`
	DurationMax  *float64 `json:"durationMax,omitempty"`
	DurationUnit string   `json:"durationUnit,omitempty"`
	Frequency    *int     `json:"frequency,omitempty"`
	FrequencyMax *int     `json:"frequencyMax,omitempty"`
	Period       *float64 `json:"period,omitempty"`
	PeriodMax    *float64 `json:"periodMax,omitempty"`
	// PeriodUnit is a UCUM unit of time: s, min, h, d, wk, mo or a.
	PeriodUnit string `json:"periodUnit,omitempty"`
	// DayOfWeek holds mon, tue, wed, thu, fri, sat or sun.
	DayOfWeek []string `json:"dayOfWeek,omitempty"`
	// TimeOfDay holds FHIR times, hh:mm:ss (hh:mm is accepted too).
	TimeOfDay []string `json:"timeOfDay,omitempty"`
	// When holds FHIR EventTiming codes such as MORN, HS or ACM.
	When []string `json:"when,omitempty"`
	// Offset is the number of minutes from the When events.
	Offset *int `json:"offset,omitempty"`
}

// Period is a FHIR Period whose bounds are FHIR date (2026-03-01) or dateTime
// (2026-03-01T08:00:00-05:00) strings.
type Period struct {
	ID        string          `json:"id,omitempty"`        // preserved, not used
	Extension json.RawMessage `json:"extension,omitempty"` // preserved, not used
	Start     string          `json:"start,omitempty"`
	End       string          `json:"end,omitempty"`
}

// CodeableConcept is a FHIR CodeableConcept.
type CodeableConcept struct {
	ID        string          `json:"id,omitempty"`        // preserved, not used
	Extension json.RawMessage `json:"extension,omitempty"` // preserved, not used
	Coding    []Coding        `json:"coding,omitempty"`
	Text      string          `json:"text,omitempty"`
}

// Coding is a FHIR Coding. Version (of the code system) and UserSelected
// are preserved, not used.
type Coding struct {
	ID           string          `json:"id,omitempty"`
	Extension    json.RawMessage `json:"extension,omitempty"`
	System       string          `json:"system,omitempty"`
	Version      string          `json:"version,omitempty"`
	Code         string          `json:"code,omitempty"`
	Display      string          `json:"display,omitempty"`
	UserSelected *bool           `json:"userSelected,omitempty"`
}
