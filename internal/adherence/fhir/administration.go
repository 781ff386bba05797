package fhir

import (
	"fmt"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
)

// Code systems of the reasons a dose was not taken. Skip reasons are the
// patient's own codes (side_effects, forgot, ...); a missed dose — nothing
// arrived before its window closed — has the code no-response, kept
// distinct from a skip.
const (
	SkipReasonSystem = "urn:medplatform:fhir:CodeSystem:skip-reason"
	NotDoneSystem    = "urn:medplatform:fhir:CodeSystem:not-done-reason"
	NoResponseCode   = "no-response"
	DoseSystem       = "urn:medplatform:fhir:NamingSystem:dose-instance"
)

// MedicationAdministration is the subset of FHIR R4 MedicationAdministration
// the platform exports: one per dose instance with an outcome.
type MedicationAdministration struct {
	ResourceType              string            `json:"resourceType"`
	ID                        string            `json:"id"`
	Identifier                []Identifier      `json:"identifier,omitempty"`
	Status                    string            `json:"status"`
	StatusReason              []CodeableConcept `json:"statusReason,omitempty"`
	MedicationCodeableConcept *CodeableConcept  `json:"medicationCodeableConcept"`
	Subject                   Reference         `json:"subject"`
	EffectiveDateTime         string            `json:"effectiveDateTime"`
	Request                   *Reference        `json:"request,omitempty"`
	Note                      []Annotation      `json:"note,omitempty"`
}

// Effective is the instant FromDose gives as d's effectiveDateTime: when a
// taken dose was taken, else when the dose was due.
func Effective(d adherence.DoseInstance) time.Time {
	if (d.Status == adherence.DoseTakenOnTime || d.Status == adherence.DoseTakenLate) && d.TakenAt != nil {
		return *d.TakenAt
	}
	return d.DueAt
}

// FromDose exports dose instance d of plan p. It reports false for an
// instance without an outcome (scheduled or excluded), which is not
// exported. Taken doses are completed with the time they were taken;
// skipped and missed doses are not-done at their due time, with the skip
// reason or no-response.
func FromDose(d adherence.DoseInstance, p adherence.Plan) (MedicationAdministration, bool) {
	ma := MedicationAdministration{
		ResourceType: "MedicationAdministration",
		ID:           fmt.Sprintf("dose-%d", d.ID),
		Identifier:   []Identifier{{System: DoseSystem, Value: fmt.Sprint(d.ID)}},
		MedicationCodeableConcept: &CodeableConcept{
			Coding: []Coding{{System: adherence.RxNormSystem, Code: p.Medication.RxNorm, Display: p.Medication.Display}},
			Text:   p.Medication.Display,
		},
		Subject:           Reference{Reference: "Patient/" + d.PatientID},
		Request:           &Reference{Reference: "MedicationRequest/" + d.PlanID},
		EffectiveDateTime: instant(Effective(d)),
	}
	switch d.Status {
	case adherence.DoseTakenOnTime, adherence.DoseTakenLate:
		ma.Status = "completed"
		if d.Status == adherence.DoseTakenLate {
			ma.Note = []Annotation{{Text: "taken late"}}
		}
	case adherence.DoseSkipped:
		ma.Status = "not-done"
		ma.StatusReason = []CodeableConcept{{Coding: []Coding{{System: SkipReasonSystem, Code: d.SkipReason}}, Text: "skipped: " + d.SkipReason}}
	case adherence.DoseMissed:
		ma.Status = "not-done"
		ma.StatusReason = []CodeableConcept{{Coding: []Coding{{System: NotDoneSystem, Code: NoResponseCode, Display: "No response"}}, Text: "missed: nothing was reported before the dose window closed"}}
	default:
		return ma, false
	}
	return ma, true
}
