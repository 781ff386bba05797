// Package fhir converts medication plans to and from FHIR R4
// MedicationRequest JSON. Only the elements the platform uses are modelled;
// the types are small and hand-written on purpose (see DESIGN.md).
package fhir

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// Coding is a FHIR Coding.
type Coding struct {
	System       string          `json:"system,omitempty"`
	Version      json.RawMessage `json:"version,omitempty"` // ignored (see otherElements)
	Code         string          `json:"code,omitempty"`
	Display      string          `json:"display,omitempty"`
	UserSelected json.RawMessage `json:"userSelected,omitempty"` // ignored
}

// otherElements are the FHIR R4 elements that EHRs put in a
// MedicationRequest and that a plan has no place for: who ordered it and
// why, the route, refills, extensions. An import accepts and ignores them,
// so that a request written as an EHR writes it is not refused (the
// strict decoder refuses every name it does not know, which still catches
// a misspelt element). Elements that change the meaning of what they sit
// in are not among them and stay refused: modifierExtension,
// implicitRules, Quantity.comparator, a dose given as a range; and
// doNotPerform, medicationReference and asNeededCodeableConcept are read.
type otherElements struct {
	Language              json.RawMessage `json:"language,omitempty"`
	Text                  json.RawMessage `json:"text,omitempty"`
	Contained             json.RawMessage `json:"contained,omitempty"`
	Extension             json.RawMessage `json:"extension,omitempty"`
	StatusReason          json.RawMessage `json:"statusReason,omitempty"`
	Category              json.RawMessage `json:"category,omitempty"`
	Priority              json.RawMessage `json:"priority,omitempty"`
	ReportedBoolean       json.RawMessage `json:"reportedBoolean,omitempty"`
	ReportedReference     json.RawMessage `json:"reportedReference,omitempty"`
	Encounter             json.RawMessage `json:"encounter,omitempty"`
	SupportingInformation json.RawMessage `json:"supportingInformation,omitempty"`
	Requester             json.RawMessage `json:"requester,omitempty"`
	Performer             json.RawMessage `json:"performer,omitempty"`
	PerformerType         json.RawMessage `json:"performerType,omitempty"`
	Recorder              json.RawMessage `json:"recorder,omitempty"`
	ReasonCode            json.RawMessage `json:"reasonCode,omitempty"`
	ReasonReference       json.RawMessage `json:"reasonReference,omitempty"`
	InstantiatesCanonical json.RawMessage `json:"instantiatesCanonical,omitempty"`
	InstantiatesURI       json.RawMessage `json:"instantiatesUri,omitempty"`
	BasedOn               json.RawMessage `json:"basedOn,omitempty"`
	GroupIdentifier       json.RawMessage `json:"groupIdentifier,omitempty"`
	CourseOfTherapyType   json.RawMessage `json:"courseOfTherapyType,omitempty"`
	Insurance             json.RawMessage `json:"insurance,omitempty"`
	Substitution          json.RawMessage `json:"substitution,omitempty"`
	PriorPrescription     json.RawMessage `json:"priorPrescription,omitempty"`
	DetectedIssue         json.RawMessage `json:"detectedIssue,omitempty"`
	EventHistory          json.RawMessage `json:"eventHistory,omitempty"`
}

// otherDosageElements are the Dosage elements an import ignores (see
// otherElements).
type otherDosageElements struct {
	ID                       json.RawMessage `json:"id,omitempty"`
	Extension                json.RawMessage `json:"extension,omitempty"`
	Sequence                 json.RawMessage `json:"sequence,omitempty"`
	AdditionalInstruction    json.RawMessage `json:"additionalInstruction,omitempty"`
	PatientInstruction       json.RawMessage `json:"patientInstruction,omitempty"`
	Site                     json.RawMessage `json:"site,omitempty"`
	Route                    json.RawMessage `json:"route,omitempty"`
	Method                   json.RawMessage `json:"method,omitempty"`
	MaxDosePerPeriod         json.RawMessage `json:"maxDosePerPeriod,omitempty"`
	MaxDosePerAdministration json.RawMessage `json:"maxDosePerAdministration,omitempty"`
	MaxDosePerLifetime       json.RawMessage `json:"maxDosePerLifetime,omitempty"`
}

// CodeableConcept is a FHIR CodeableConcept.
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Reference is a FHIR Reference.
type Reference struct {
	Reference  string          `json:"reference,omitempty"`
	Type       json.RawMessage `json:"type,omitempty"`       // ignored (see otherElements)
	Identifier json.RawMessage `json:"identifier,omitempty"` // ignored
	Display    string          `json:"display,omitempty"`
}

// Quantity is a FHIR SimpleQuantity. Value is a pointer: FHIR lets it be
// absent, and an absent value is no amount, not 0.
//
// System and Code (a coded unit, such as UCUM's) are read so that a
// quantity written as FHIR recommends is not refused as unknown; the
// dose keeps the human-readable unit.
type Quantity struct {
	Value  *float64 `json:"value,omitempty"`
	Unit   string   `json:"unit,omitempty"`
	System string   `json:"system,omitempty"`
	Code   string   `json:"code,omitempty"`
}

// DoseAndRate carries the dose quantity.
type DoseAndRate struct {
	Type         json.RawMessage `json:"type,omitempty"` // ignored (see otherElements)
	DoseQuantity *Quantity       `json:"doseQuantity,omitempty"`
	// DoseRange is refused with its own reason (see Plan): as an unknown
	// field it read like a misspelling of valid R4 (QA).
	DoseRange    json.RawMessage `json:"doseRange,omitempty"`
	RateRatio    json.RawMessage `json:"rateRatio,omitempty"`    // ignored
	RateRange    json.RawMessage `json:"rateRange,omitempty"`    // ignored
	RateQuantity json.RawMessage `json:"rateQuantity,omitempty"` // ignored
}

// Dosage is a FHIR Dosage.
type Dosage struct {
	Text     string           `json:"text,omitempty"`
	Timing   *schedule.Timing `json:"timing,omitempty"`
	AsNeeded *bool            `json:"asNeededBoolean,omitempty"`
	// AsNeededFor is asNeededCodeableConcept: taken as needed for a
	// reason (pain, say), which makes the plan as needed.
	AsNeededFor *CodeableConcept `json:"asNeededCodeableConcept,omitempty"`
	DoseAndRate []DoseAndRate    `json:"doseAndRate,omitempty"`
	otherDosageElements
}

// Duration is a FHIR Duration. System and Code are its coded unit (UCUM
// "d" for days, as FHIR's own examples write expectedSupplyDuration).
type Duration struct {
	Value  float64 `json:"value"`
	Unit   string  `json:"unit,omitempty"`
	System string  `json:"system,omitempty"`
	Code   string  `json:"code,omitempty"`
}

// DispenseRequest carries the expected supply.
type DispenseRequest struct {
	ExpectedSupplyDuration *Duration `json:"expectedSupplyDuration,omitempty"`
	// Ignored (see otherElements): refills and dispensing details.
	InitialFill            json.RawMessage `json:"initialFill,omitempty"`
	DispenseInterval       json.RawMessage `json:"dispenseInterval,omitempty"`
	ValidityPeriod         json.RawMessage `json:"validityPeriod,omitempty"`
	NumberOfRepeatsAllowed json.RawMessage `json:"numberOfRepeatsAllowed,omitempty"`
	Quantity               json.RawMessage `json:"quantity,omitempty"`
	Performer              json.RawMessage `json:"performer,omitempty"`
}

// Identifier is a FHIR Identifier.
type Identifier struct {
	Use      json.RawMessage `json:"use,omitempty"`  // ignored (see otherElements)
	Type     json.RawMessage `json:"type,omitempty"` // ignored
	System   string          `json:"system,omitempty"`
	Value    string          `json:"value,omitempty"`
	Period   json.RawMessage `json:"period,omitempty"`   // ignored
	Assigner json.RawMessage `json:"assigner,omitempty"` // ignored
}

// MedicationRequest is the subset of FHIR R4 MedicationRequest we read and
// write.
type MedicationRequest struct {
	ResourceType              string           `json:"resourceType"`
	ID                        string           `json:"id,omitempty"`
	Meta                      *Meta            `json:"meta,omitempty"`
	Identifier                []Identifier     `json:"identifier,omitempty"`
	Status                    string           `json:"status"`
	Intent                    string           `json:"intent"`
	MedicationCodeableConcept *CodeableConcept `json:"medicationCodeableConcept,omitempty"`
	// MedicationReference (a Medication resource) is read only to say
	// that the code must come as medicationCodeableConcept.
	MedicationReference *Reference `json:"medicationReference,omitempty"`
	// DoNotPerform true asks for the medication not to be taken: no
	// plan can stand for that, so the import refuses it.
	DoNotPerform      *bool            `json:"doNotPerform,omitempty"`
	Subject           Reference        `json:"subject"`
	AuthoredOn        string           `json:"authoredOn,omitempty"`
	DosageInstruction []Dosage         `json:"dosageInstruction,omitempty"`
	DispenseRequest   *DispenseRequest `json:"dispenseRequest,omitempty"`
	Note              []Annotation     `json:"note,omitempty"`
	otherElements
}

// Meta is FHIR resource metadata.
type Meta struct {
	VersionID   string          `json:"versionId,omitempty"`
	LastUpdated string          `json:"lastUpdated,omitempty"`
	Source      json.RawMessage `json:"source,omitempty"`   // ignored (see otherElements)
	Profile     json.RawMessage `json:"profile,omitempty"`  // ignored
	Security    json.RawMessage `json:"security,omitempty"` // ignored
	Tag         json.RawMessage `json:"tag,omitempty"`      // ignored
}

// Annotation is a FHIR note.
type Annotation struct {
	Text            string          `json:"text"`
	AuthorString    json.RawMessage `json:"authorString,omitempty"`    // ignored (see otherElements)
	AuthorReference json.RawMessage `json:"authorReference,omitempty"` // ignored
	Time            json.RawMessage `json:"time,omitempty"`            // ignored
}

// Bundle is a FHIR searchset Bundle of resources of type T.
type Bundle[T any] struct {
	ResourceType string       `json:"resourceType"`
	Type         string       `json:"type"`
	Total        int          `json:"total"`
	Link         []BundleLink `json:"link,omitempty"`
	// Entry is absent, not [], when nothing matched: FHIR elements are
	// never empty.
	Entry []BundleEntry[T] `json:"entry,omitempty"`
}

// BundleLink is a link of a Bundle. A searchset's "self" link is the search
// the server ran: the parameters it used, as it applied them, so a client
// can see one it ignored (FHIR search).
type BundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

// BundleEntry is one Bundle entry.
type BundleEntry[T any] struct {
	FullURL  string `json:"fullUrl,omitempty"`
	Resource T      `json:"resource"`
}

// Searchset returns an empty searchset Bundle.
func Searchset[T any]() Bundle[T] {
	return Bundle[T]{ResourceType: "Bundle", Type: "searchset"}
}

// planStatus maps plan states to MedicationRequest.status and back.
var planStatus = map[adherence.PlanStatus]string{
	adherence.PlanActive:  "active",
	adherence.PlanPaused:  "on-hold",
	adherence.PlanStopped: "stopped",
}

// ToPlan converts an imported MedicationRequest into a plan for patientID
// (the caller resolves subject.reference "Patient/{id}"). Exactly one
// dosageInstruction is supported: a plan has one schedule. Errors name the
// FHIR element at fault.
func ToPlan(mr MedicationRequest) (adherence.Plan, string, error) {
	var p adherence.Plan
	if mr.ResourceType != "MedicationRequest" {
		return p, "", errs.Invalid("resourceType", "must be MedicationRequest")
	}
	patientID, ok := strings.CutPrefix(mr.Subject.Reference, "Patient/")
	if !ok || patientID == "" {
		return p, "", errs.Invalid("subject.reference", "must be a reference of the form Patient/{id}")
	}
	switch mr.Status {
	case "active", "":
		p.Status = adherence.PlanActive
	case "on-hold":
		p.Status = adherence.PlanPaused
	default:
		return p, "", errs.Invalid("status", "only active and on-hold requests can be imported")
	}
	if mr.Intent != "" && mr.Intent != "order" && mr.Intent != "plan" && mr.Intent != "original-order" {
		return p, "", errs.Invalid("intent", "must be order, original-order or plan")
	}
	if mr.DoNotPerform != nil && *mr.DoNotPerform {
		return p, "", errs.Invalid("doNotPerform", "a request not to take a medication cannot be imported as a plan")
	}
	if mr.MedicationCodeableConcept == nil {
		if mr.MedicationReference != nil {
			return p, "", errs.Invalid("medicationReference", "is not supported: send the medication as medicationCodeableConcept with an RxNorm coding")
		}
		return p, "", errs.Invalid("medicationCodeableConcept", "is required")
	}
	for _, c := range mr.MedicationCodeableConcept.Coding {
		if c.System == adherence.RxNormSystem {
			p.Medication = adherence.Medication{RxNorm: c.Code, Display: c.Display}
			break
		}
	}
	if p.Medication.RxNorm == "" {
		return p, "", errs.Invalid("medicationCodeableConcept.coding", "an RxNorm coding (system %s) is required", adherence.RxNormSystem)
	}
	if p.Medication.Display == "" {
		p.Medication.Display = mr.MedicationCodeableConcept.Text
	}
	if len(mr.DosageInstruction) != 1 {
		return p, "", errs.Invalid("dosageInstruction", "exactly one dosage instruction is supported, got %d", len(mr.DosageInstruction))
	}
	d := mr.DosageInstruction[0]
	p.Instructions = d.Text
	if d.AsNeeded != nil {
		p.AsNeeded = *d.AsNeeded
	}
	if d.AsNeededFor != nil {
		if d.AsNeeded != nil {
			// FHIR R4 Dosage.asNeeded[x] is one element: one of the two.
			return p, "", errs.Invalid("dosageInstruction[0].asNeededCodeableConcept", "cannot be combined with asNeededBoolean")
		}
		p.AsNeeded = true
	}
	if d.Timing == nil {
		if !p.AsNeeded {
			return p, "", errs.Invalid("dosageInstruction[0].timing", "is required unless asNeededBoolean is true")
		}
	} else {
		p.Timing = *d.Timing
	}
	for i, dr := range d.DoseAndRate {
		if len(dr.DoseRange) > 0 {
			return p, "", errs.Invalid(fmt.Sprintf("dosageInstruction[0].doseAndRate[%d].doseRange", i),
				"a dose range is not supported: send doseQuantity, the amount of one dose")
		}
	}
	if len(d.DoseAndRate) > 0 && d.DoseAndRate[0].DoseQuantity != nil {
		q := d.DoseAndRate[0].DoseQuantity
		// Without a value (valid FHIR: a unit alone) the dose was stored
		// as "0 tablet" and exported with value 0, an amount nobody gave.
		if q.Value == nil || *q.Value <= 0 {
			return p, "", errs.Invalid("dosageInstruction[0].doseAndRate[0].doseQuantity.value", "is required: the amount of one dose, greater than 0")
		}
		unit := q.Unit
		if unit == "" {
			unit = q.Code // a coded unit alone ("mg") still names the unit
		}
		p.Dose = strings.TrimSpace(fmt.Sprintf("%g %s", *q.Value, unit))
	}
	if mr.DispenseRequest != nil && mr.DispenseRequest.ExpectedSupplyDuration != nil {
		ds := mr.DispenseRequest.ExpectedSupplyDuration
		// The coded unit first: it is what a machine reads (QA: weeks
		// coded "wk" and written "wk" was refused naming the unit text).
		if ds.Code != "" && ds.Code != "d" {
			return p, "", errs.Invalid("dispenseRequest.expectedSupplyDuration.code", "must be d (days)")
		}
		if ds.Unit != "" && ds.Unit != "d" && ds.Unit != "day" && ds.Unit != "days" {
			return p, "", errs.Invalid("dispenseRequest.expectedSupplyDuration.unit", "must be days (d)")
		}
		// A whole number of days in the range the plan API takes: a
		// fraction was cut silently, and a huge value overflowed into a
		// "negative daysSupply" error naming a field the client never sent.
		if ds.Value != math.Trunc(ds.Value) || ds.Value < 0 || ds.Value > 366 {
			return p, "", errs.Invalid("dispenseRequest.expectedSupplyDuration.value", "must be a whole number of days between 0 and 366")
		}
		p.DaysSupply = int(ds.Value)
	}
	return p, patientID, nil
}

// MedicationElements name the elements ToPlan took the plan's medication
// from, so that an error about the code or the drug name points at what the
// sender wrote: the RxNorm coding's code, and its display or, when that is
// empty, the concept's text. Both are "medicationCodeableConcept.coding"
// when there is no RxNorm coding (ToPlan refuses that request).
func MedicationElements(mr MedicationRequest) (code, name string) {
	code, name = "medicationCodeableConcept.coding", "medicationCodeableConcept.coding"
	if mr.MedicationCodeableConcept == nil {
		return code, name
	}
	for i, c := range mr.MedicationCodeableConcept.Coding {
		if c.System == adherence.RxNormSystem {
			code = fmt.Sprintf("medicationCodeableConcept.coding[%d].code", i)
			name = fmt.Sprintf("medicationCodeableConcept.coding[%d].display", i)
			if c.Display == "" {
				name = "medicationCodeableConcept.text"
			}
			return code, name
		}
	}
	return code, name
}

// FromPlan renders a plan as a MedicationRequest; loc is the patient's
// time zone, in which the wall times of a timing's events are read.
func FromPlan(p adherence.Plan, loc *time.Location) MedicationRequest {
	mr := MedicationRequest{
		ResourceType: "MedicationRequest",
		ID:           p.ID,
		Meta: &Meta{
			VersionID:   fmt.Sprint(p.Version),
			LastUpdated: instant(p.UpdatedAt),
		},
		Status: planStatus[p.Status],
		Intent: "order",
		MedicationCodeableConcept: &CodeableConcept{
			Coding: []Coding{{System: adherence.RxNormSystem, Code: p.Medication.RxNorm, Display: p.Medication.Display}},
			Text:   p.Medication.Display,
		},
		Subject:    Reference{Reference: "Patient/" + p.PatientID},
		AuthoredOn: instant(p.CreatedAt),
	}
	d := Dosage{Text: p.Instructions}
	if p.AsNeeded {
		t := true
		d.AsNeeded = &t
	}
	if !p.AsNeeded || p.Timing.Repeat != nil {
		t := p.Timing
		if t.Repeat != nil && t.Repeat.BoundsPeriod == nil && !p.StartAt.IsZero() {
			// The plan's own period, when the timing has none: without it
			// an EHR reads a plan that ended (endAt) as one that goes on.
			// The start is startAt as stored, fraction of a second
			// included. endAt is exclusive (no dose from it on),
			// boundsPeriod.end inclusive: the last whole second before
			// it, since a repeat's doses fall on whole seconds (an endAt
			// of 08:00:00.5 still has a dose at 08:00:00).
			r := *t.Repeat
			r.BoundsPeriod = &schedule.Period{Start: instant(p.StartAt)}
			if p.EndAt != nil {
				end := p.EndAt.UTC().Add(-time.Nanosecond).Truncate(time.Second)
				if end.Before(p.StartAt) {
					end = p.StartAt.UTC() // never before the start
				}
				r.BoundsPeriod.End = instant(end)
			}
			t.Repeat = &r
		}
		if len(t.Event) > 0 {
			// A timing of events has no repeat to carry the plan's
			// period: it lists the events that are the plan's doses,
			// from startAt and before endAt. Listing them all, an
			// export of a plan whose end was moved before its last
			// events imported back into a plan with more doses (QA).
			// Doses start at the whole second of startAt, as the
			// store generates them: an event at 08:00:00 of a plan
			// starting at 08:00:00.5 is one of its doses.
			var end time.Time
			if p.EndAt != nil {
				end = *p.EndAt
			}
			if within, err := schedule.EventsWithin(t, loc, p.StartAt.Truncate(time.Second), end); err == nil {
				t = within
			}
		}
		d.Timing = &t
	}
	if p.Dose != "" {
		switch q, ok := parseDose(p.Dose); {
		case ok:
			d.DoseAndRate = []DoseAndRate{{DoseQuantity: &q}}
		case d.Text == "":
			d.Text = p.Dose
		default:
			// Not a quantity: the dose stays in the text, before the
			// instructions, rather than being left out.
			d.Text = p.Dose + "; " + d.Text
		}
	}
	mr.DosageInstruction = []Dosage{d}
	if p.DaysSupply > 0 {
		mr.DispenseRequest = &DispenseRequest{ExpectedSupplyDuration: &Duration{Value: float64(p.DaysSupply), Unit: "d"}}
	}
	return mr
}

// instant renders t as a FHIR instant or dateTime in UTC, as stored: with
// its fraction of a second, which FHIR allows and the plans API shows.
func instant(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// parseDose reads "10 mg" or "1 tablet" into a quantity. Anything else —
// more words ("2 tablets with food"), or a number JSON cannot carry (NaN,
// Inf: the export would fail to encode) — is not a quantity.
func parseDose(s string) (Quantity, bool) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return Quantity{}, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return Quantity{}, false
	}
	return Quantity{Value: &v, Unit: f[1]}, true
}
