package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/fhir"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/httpx"
)

// handleFHIRImport creates a plan from a FHIR R4 MedicationRequest whose
// subject is Patient/{id} of the caller's org.
func (s *server) handleFHIRImport(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	var mr fhir.MedicationRequest
	if err := auth.Require(p, staff...); err != nil {
		// A refused attempt to add to a patient's record is audited, as
		// POST /v1/patients/{id}/plans does; the patient is the one the
		// request names, when it names one.
		var patientID string
		if httpx.Decode(w, r, &mr) == nil {
			_, patientID, _ = fhir.ToPlan(s.relativeSubject(r, mr))
		}
		s.auditWriteRefused(r, err, patientID)
		s.fail(w, r, err)
		return
	}
	data, err := httpx.ReadBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The patient is identified by the subject, read before the request
	// is held to JSON's and R4's rules: a request refused from here on (a
	// key given twice, an element R4 does not define, a value out of
	// bounds, another organization's patient) is a failed attempt to add
	// to that patient's record, audited by fail, as the refused access
	// below is (QA: a key given twice was refused unaudited).
	if patientID := s.importSubject(r, data); isUUID(patientID) {
		s.attempting(r, writeAction(r), "Patient", patientID, patientID)
	}
	var body json.RawMessage
	if err := httpx.DecodeBytes(data, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	// FHIR JSON names are case-sensitive, while encoding/json matches
	// them without regard to case: "Status" would be read as status.
	if path, name := httpx.CaseVariantPath(body, &mr); path != "" {
		s.fail(w, r, errs.Invalid(path, "unknown element: FHIR element names are case-sensitive (R4 names it %q)", name))
		return
	}
	if err := checkDosageTimings(body); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := httpx.DecodeBytes(body, &mr); err != nil {
		s.fail(w, r, err)
		return
	}
	plan, patientID, err := fhir.ToPlan(s.relativeSubject(r, mr))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	codeElement, nameElement := fhir.MedicationElements(mr)
	if err := checkImportedPlan(&plan, codeElement, nameElement); err != nil {
		s.fail(w, r, err)
		return
	}
	pat, err := s.Store.GetPatient(r.Context(), p.OrgID, patientID)
	if err != nil {
		s.auditWriteRefused(r, err, patientID)
		if errs.Is(err, errs.CodeNotFound) {
			// 404 like any record the caller may not see (as POST
			// /v1/events does for its patientId): another org's patient
			// and one that does not exist get the same answer.
			err = &errs.Error{Code: errs.CodeNotFound, Field: "subject.reference", Message: "patient not found"}
		}
		s.fail(w, r, err)
		return
	}
	plan.OrgID, plan.PatientID, plan.StartAt = p.OrgID, pat.ID, s.Now().UTC()
	if err := plan.Timing.Validate(plan.AsNeeded); err != nil {
		s.fail(w, r, errs.PrefixField(err, "dosageInstruction[0].timing"))
		return
	}
	// An on-hold request becomes a paused plan in the one transaction that
	// creates it: no doses are materialised until it is resumed.
	if err := s.Store.CreatePlan(r.Context(), actor(r), &plan); err != nil {
		// The store names the plan's fields; in the resource its timing
		// is dosageInstruction[0].timing (a boundsPeriod.end already past
		// was answered as "timing.repeat.boundsPeriod.end", an element a
		// MedicationRequest does not have).
		var e *errs.Error
		if errors.As(err, &e) && strings.HasPrefix(e.Field, "timing.") {
			err = errs.PrefixField(err, "dosageInstruction[0]")
		}
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/fhir/MedicationRequest/"+plan.ID)
	writeFHIR(w, http.StatusCreated, fhir.FromPlan(plan, zoneOf(pat.TimeZone)))
}

// handleFHIRSearch answers GET /fhir/MedicationRequest?patient={id} (also
// patient=Patient/{id} or its absolute URL, see patientSearchID) with a
// searchset Bundle.
func (s *server) handleFHIRSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	patientID := s.patientSearchID(r, q.Get("patient"))
	if patientID == "" {
		s.fail(w, r, noPatientSearched(r))
		return
	}
	pat, v, err := s.readablePatient(r, patientID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.attempting(r, audit.ActionExecute, "MedicationRequest", "*", pat.ID)
	if err := s.onePatient(r, q["patient"], patientID); err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := fhirPaging(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v != viewFull && !pat.ShareMedicationWithCaregivers {
		s.fail(w, r, s.medicationNotShared(r, "E", "MedicationRequest", "*", pat.ID))
		return
	}
	plans, err := s.Store.ListPlans(r.Context(), pat.OrgID, pat.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.audit(r, "E", "MedicationRequest", "*", pat.ID, 0); err != nil {
		s.fail(w, r, err)
		return
	}
	b := fhir.Searchset[fhir.MedicationRequest]()
	base := s.fhirBase(r)
	var all []fhir.BundleEntry[fhir.MedicationRequest]
	for _, p := range plans {
		all = append(all, fhir.BundleEntry[fhir.MedicationRequest]{FullURL: base + "MedicationRequest/" + p.ID, Resource: fhir.FromPlan(p, zoneOf(pat.TimeZone))})
	}
	// The links state the search run: the patient and the page, whatever
	// else was asked.
	pageSearchset(&b, all, page, base+"MedicationRequest", url.Values{"patient": {pat.ID}})
	writeFHIR(w, http.StatusOK, b)
}

// handleFHIRRead answers GET /fhir/MedicationRequest/{id}: the plan as a
// FHIR resource, where the import's Location header and the exported
// MedicationAdministration.request point.
func (s *server) handleFHIRRead(w http.ResponseWriter, r *http.Request) {
	plan, pat, v, err := s.readablePlan(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v != viewFull && !pat.ShareMedicationWithCaregivers {
		s.fail(w, r, s.medicationNotShared(r, audit.ActionRead, "MedicationRequest", plan.ID, pat.ID))
		return
	}
	if err := s.auditRead(r, "MedicationRequest", plan.ID, plan.PatientID); err != nil {
		s.fail(w, r, err)
		return
	}
	writeFHIR(w, http.StatusOK, fhir.FromPlan(plan, zoneOf(pat.TimeZone)))
}

// checkImportedPlan holds the plan of an imported MedicationRequest to the
// rules planInput.apply applies to POST /v1/patients/{id}/plans (an RxNorm
// code of digits, a drug name of at most 500 characters, instructions of at
// most 2000, a dose of at most 100, the drug name and the dose one line
// each, the timing's code text, codings and element ids as
// checkTimingText has them), naming the FHIR element (the code's and the
// drug name's as fhir.MedicationElements gives them), and trims the drug
// name as apply does.
func checkImportedPlan(p *adherence.Plan, codeElement, nameElement string) error {
	if !rxcui.MatchString(p.Medication.RxNorm) {
		return errs.Invalid(codeElement, "the RxNorm code must be an RxNorm concept id (digits)")
	}
	// A coding without a display (and no text) is valid FHIR: the code
	// names the drug, and the import keeps taking it.
	d := strings.TrimSpace(p.Medication.Display)
	if utf8.RuneCountInString(d) > 500 {
		return errs.Invalid(nameElement, "the drug name must be at most 500 characters")
	}
	if adherence.HasControl(d) {
		return errs.Invalid(nameElement, "the drug name %s", controlChars)
	}
	if d != "" && adherence.Blank(d) {
		return errs.Invalid(nameElement, "the drug name must have a visible character, or be left out")
	}
	p.Medication.Display = d
	if utf8.RuneCountInString(p.Instructions) > 2000 {
		return errs.Invalid("dosageInstruction[0].text", "must be at most 2000 characters")
	}
	if utf8.RuneCountInString(p.Dose) > 100 {
		return errs.Invalid("dosageInstruction[0].doseAndRate[0].doseQuantity", "must be at most 100 characters as value and unit")
	}
	if adherence.HasControl(p.Dose) {
		return errs.Invalid("dosageInstruction[0].doseAndRate[0].doseQuantity", "the unit (unit, else code) %s", controlChars)
	}
	trimTimingText(&p.Timing)
	return checkTimingText(p.Timing, "dosageInstruction[0].timing")
}

// importSubject returns the patient id a MedicationRequest's
// subject.reference names (Patient/{id}, or this server's absolute URL of
// it), whatever else the body holds, or "" when it names none.
func (s *server) importSubject(r *http.Request, body json.RawMessage) string {
	var in struct {
		Subject struct {
			Reference string `json:"reference"`
		} `json:"subject"`
	}
	if json.Unmarshal(body, &in) != nil {
		return ""
	}
	var mr fhir.MedicationRequest
	mr.Subject.Reference = in.Subject.Reference
	id, _ := strings.CutPrefix(s.relativeSubject(r, mr).Subject.Reference, "Patient/")
	return id
}

// relativeSubject returns mr with a subject.reference that is this
// server's absolute URL of a patient ([base]/Patient/{id}) written as the
// relative Patient/{id} it stands for (FHIR resolves a relative reference
// against the server's base), as the searches take their patient
// parameter (patientSearchID). A reference to another server is left as
// it is, and refused.
func (s *server) relativeSubject(r *http.Request, mr fhir.MedicationRequest) fhir.MedicationRequest {
	if id, ok := strings.CutPrefix(mr.Subject.Reference, s.fhirBase(r)+"Patient/"); ok {
		mr.Subject.Reference = "Patient/" + id
	}
	return mr
}

// onePatient checks that every value of a repeated FHIR search parameter
// patient names the patient id: FHIR ANDs repeated parameters, so
// patient=A&patient=B asks for a patient who is both, not for A.
func (s *server) onePatient(r *http.Request, values []string, id string) error {
	for _, v := range values {
		if s.patientSearchID(r, v) != id {
			return errs.Invalid("patient", "repeated search parameter patient must name one patient")
		}
	}
	return nil
}

// noPatientSearched answers a FHIR search that names no patient: 403 for an
// integration key, which may run no search at all (a role that may never
// call an endpoint gets 403, whatever it sends), else 400 asking for the
// parameter.
func noPatientSearched(r *http.Request) error {
	if p := principalOf(r); p.Role == auth.RoleIntegration {
		return errs.Forbidden("role %s may not read patient records", p.Role)
	}
	return errs.Invalid("patient", "search parameter patient is required")
}

// patientSearchID returns the patient id named by v, the value of a FHIR
// search's patient parameter: {id}, Patient/{id}, or an absolute URL of
// this server's Patient/{id} (a reference parameter may be absolute); ""
// when it names none. An absolute URL of another server stays as it is,
// and names no patient here.
func (s *server) patientSearchID(r *http.Request, v string) string {
	if id, ok := strings.CutPrefix(v, s.fhirBase(r)+"Patient/"); ok {
		return id
	}
	return strings.TrimPrefix(v, "Patient/")
}

// fhirBase is the absolute URL of the FHIR endpoint ("https://host/fhir/"):
// Bundle.entry.fullUrl must be absolute. With PUBLIC_URL set it is PUBLIC_URL
// + "/fhir/", whatever Host the request names. Without it, it is as the
// client reached it: the request's Host, and the scheme from TLS or, behind
// the load balancer, which ends TLS, X-Forwarded-Proto
// (httpx.TrustedProxies removes it from requests that did not come through
// a trusted proxy).
func (s *server) fhirBase(r *http.Request) string {
	if s.PublicURL != "" {
		return strings.TrimRight(s.PublicURL, "/") + "/fhir/"
	}
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/fhir/"
}

// writeFHIR writes a FHIR resource; like httpx.WriteJSON it encodes v
// before writing the status, so a value that cannot be encoded is a 500
// problem rather than the status with an empty body.
func writeFHIR(w http.ResponseWriter, status int, v any) {
	httpx.WriteJSONAs(w, status, "application/fhir+json", v)
}

// checkDosageTimings decodes each dosageInstruction[i].timing of a
// MedicationRequest body with schedule.DecodeTiming, as a plan's timing is
// read: FHIR element names are case-sensitive, and an error names the
// element down to its index ("dosageInstruction[0].timing.repeat.timeOfDay[1]").
// A body of another shape is left to the decoding of the whole resource.
func checkDosageTimings(body []byte) error {
	var shape struct {
		DosageInstruction []struct {
			Timing json.RawMessage `json:"timing"`
		} `json:"dosageInstruction"`
	}
	if json.Unmarshal(body, &shape) != nil {
		return nil
	}
	for i, d := range shape.DosageInstruction {
		if len(d.Timing) == 0 || string(d.Timing) == "null" {
			continue
		}
		if _, err := schedule.DecodeTiming(d.Timing); err != nil {
			return errs.PrefixField(err, fmt.Sprintf("dosageInstruction[%d].timing", i))
		}
	}
	return nil
}
