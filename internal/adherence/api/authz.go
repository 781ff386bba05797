package api

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// The access rules, in one place:
//
//   - admin: everything in its org, including keys, members and the audit trail.
//   - clinician: reads and writes patients, links and plans in its org.
//   - caregiver: reads the patients linked to it, with minimum-necessary
//     fields (no birth date, contact details or family name; drug names
//     only if the patient shares them).
//   - patient: reads itself, its plans and its doses; records its own
//     adherence events.
//   - integration: records adherence events for patients of its org
//     (POST /v1/events, /v1/events:batch); nothing else.
//
// Who may record an event for whom is checked in events.go (server.event):
// staff and integrations for any patient of the org, caregivers for linked
// patients, patients for themselves.
//
// A role that may never call an endpoint gets 403. A record the caller may
// not see — another org's, an unlinked patient, another patient — is 404,
// so ids of other organizations' records are never confirmed.

var staff = []auth.Role{auth.RoleAdmin, auth.RoleClinician}

// view says how much of a patient's record the caller may see.
type view int

const (
	viewFull view = iota
	viewCaregiver
)

func principalOf(r *http.Request) auth.Principal {
	p, _ := auth.FromContext(r.Context())
	return p
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// actor describes the caller for the audit trail.
func actor(r *http.Request) adherence.Actor {
	p := principalOf(r)
	return adherence.Actor{
		ID:         p.ID,
		Role:       string(p.Role),
		OrgID:      p.OrgID,
		RequestID:  telemetry.RequestID(r.Context()),
		ClientAddr: clientAddr(r),
	}
}

// readablePatient loads a patient the caller may read and says how much of
// it; a refusal is audited as a failed access attempt, with the action
// tried: a read, or an update for a change that the patient may make to
// its own record (PUT messaging-preferences).
func (s *server) readablePatient(r *http.Request, patientID string) (adherence.Patient, view, error) {
	ctx := r.Context()
	p := principalOf(r)
	pat, v, err := s.checkPatient(ctx, p, patientID)
	if err != nil && (errs.Is(err, errs.CodeNotFound) || errs.Is(err, errs.CodeForbidden)) {
		action := audit.ActionRead
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			action = writeAction(r)
		}
		s.audit(r, action, "Patient", patientID, patientID, audit.OutcomeMinorFailure)
	}
	if err == nil {
		action := audit.ActionRead
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			action = writeAction(r)
		}
		s.attempting(r, action, "Patient", patientID, patientID)
	}
	return pat, v, err
}

func (s *server) checkPatient(ctx context.Context, p auth.Principal, patientID string) (adherence.Patient, view, error) {
	switch p.Role {
	case auth.RoleAdmin, auth.RoleClinician:
		pat, err := s.Store.GetPatient(ctx, p.OrgID, patientID)
		return pat, viewFull, err
	case auth.RoleCaregiver:
		linked, err := s.Store.IsLinked(ctx, p.OrgID, patientID, p.Subject)
		if err != nil {
			return adherence.Patient{}, 0, err
		}
		if !linked || p.Subject == "" {
			return adherence.Patient{}, 0, errs.NotFound("patient")
		}
		pat, err := s.Store.GetPatient(ctx, p.OrgID, patientID)
		return pat, viewCaregiver, err
	case auth.RolePatient:
		if p.Subject == "" || p.Subject != patientID {
			return adherence.Patient{}, 0, errs.NotFound("patient")
		}
		pat, err := s.Store.GetPatient(ctx, p.OrgID, patientID)
		return pat, viewFull, err
	default:
		return adherence.Patient{}, 0, errs.Forbidden("role %s may not read patient records", p.Role)
	}
}

// writablePatient loads a patient the caller may change (staff only); a
// refusal is audited as a failed access attempt, as in readablePatient.
func (s *server) writablePatient(r *http.Request, patientID string) (adherence.Patient, error) {
	p := principalOf(r)
	err := auth.Require(p, staff...)
	var pat adherence.Patient
	if err == nil {
		pat, err = s.Store.GetPatient(r.Context(), p.OrgID, patientID)
	}
	s.auditWriteRefused(r, err, patientID)
	if err == nil {
		s.attempting(r, writeAction(r), "Patient", patientID, patientID)
	}
	return pat, err
}

// isRefusal reports whether err refuses the caller's attempt (invalid, not
// found, forbidden, conflict), rather than failing it for a reason of the
// server's own (a database error).
func isRefusal(err error) bool {
	switch errs.CodeOf(err) {
	case errs.CodeInvalid, errs.CodeNotFound, errs.CodeForbidden, errs.CodeConflict:
		return true
	}
	return false
}

// auditWriteRefused records a refused attempt (err a refusal, see
// isRefusal) to change the patient's record as a failed access; other
// errors are not the caller's attempt failing and are not recorded.
func (s *server) auditWriteRefused(r *http.Request, err error, patientID string) {
	if err != nil && isRefusal(err) {
		s.audit(r, writeAction(r), "Patient", patientID, patientID, audit.OutcomeMinorFailure)
	}
}

// writeAction is the audit action of a request to a patient record that
// writablePatient guards: GET lists its links, DELETE unlinks, POST and
// PUT change or add to the record.
func writeAction(r *http.Request) string {
	switch r.Method {
	case http.MethodGet:
		return audit.ActionRead
	case http.MethodDelete:
		return audit.ActionDelete
	default:
		return audit.ActionUpdate
	}
}

// writablePlan loads a plan the caller may change (staff only). A refusal
// (a role that may not write: 403; a plan not in the caller's
// organization: 404) is audited as a failed attempt on the plan, with
// resourceType and action those of the change (MedicationRequest for the
// plan itself, Fill for a fill), as writablePatient does for patients.
func (s *server) writablePlan(r *http.Request, planID, action, resourceType string) (adherence.Plan, error) {
	p := principalOf(r)
	err := auth.Require(p, staff...)
	var plan adherence.Plan
	if err == nil {
		plan, err = s.Store.GetPlan(r.Context(), p.OrgID, planID)
	}
	s.auditPlanWriteRefused(r, err, planID, action, resourceType)
	if err == nil {
		s.attempting(r, action, resourceType, planResourceID(planID, resourceType), plan.PatientID)
	}
	return plan, err
}

// auditPlanWriteRefused records a refused attempt (err a refusal, see
// isRefusal) to change plan planID, or to read it (readablePlan, with
// action R); the patient is named when the plan is in the caller's
// organization.
func (s *server) auditPlanWriteRefused(r *http.Request, err error, planID, action, resourceType string) {
	if err == nil || !isRefusal(err) {
		return
	}
	var patientID string
	if pl, gerr := s.Store.GetPlan(r.Context(), principalOf(r).OrgID, planID); gerr == nil {
		patientID = pl.PatientID
	}
	s.audit(r, action, resourceType, planResourceID(planID, resourceType), patientID, audit.OutcomeMinorFailure)
}

// planResourceID is the resource id of an audit record on plan planID:
// the plan itself (MedicationRequest), or "*" for its fills.
func planResourceID(planID, resourceType string) string {
	if resourceType != "MedicationRequest" {
		return "*"
	}
	return planID
}

// readablePlan loads a plan and the view of its patient the caller has. A
// refusal is audited as a failed access attempt: by readablePatient when
// the plan's patient is not the caller's to see, otherwise (a role that may
// not read plans, a plan not in the caller's organization) on the plan, as
// a refused read by patient id or a refused plan change is.
func (s *server) readablePlan(r *http.Request, planID string) (adherence.Plan, adherence.Patient, view, error) {
	p := principalOf(r)
	if p.Role == auth.RoleIntegration {
		err := errs.Forbidden("role %s may not read plans", p.Role)
		s.auditPlanWriteRefused(r, err, planID, audit.ActionRead, "MedicationRequest")
		return adherence.Plan{}, adherence.Patient{}, 0, err
	}
	plan, err := s.Store.GetPlan(r.Context(), p.OrgID, planID)
	if err != nil {
		s.auditPlanWriteRefused(r, err, planID, audit.ActionRead, "MedicationRequest")
		return adherence.Plan{}, adherence.Patient{}, 0, err
	}
	pat, v, err := s.readablePatient(r, plan.PatientID)
	if err != nil {
		if errs.Is(err, errs.CodeNotFound) {
			err = errs.NotFound("plan")
		}
		return adherence.Plan{}, adherence.Patient{}, 0, err
	}
	s.attempting(r, audit.ActionRead, "MedicationRequest", plan.ID, plan.PatientID)
	return plan, pat, v, nil
}

// attemptKey is the context key of a request's attempt.
type attemptKey struct{}

// attempt is the part of a patient's record a request is after, set once
// its handler has identified the patient (readablePatient,
// writablePatient, readablePlan, writablePlan, readableEscalation, or the
// handler itself through attempting). A refusal after that — a field that
// fails validation, a stale version, an illegal state change, a member or
// link not found — is a failed attempt on that record, which fail audits.
// failed says a failed attempt of the request is recorded already (a
// refused access, a caregiver refused), so that none is recorded twice.
type attempt struct {
	action, resourceType, resourceID, patientID string
	failed                                      bool
}

// withAttempt gives each request an attempt for its handler to fill in.
func withAttempt(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h(w, r.WithContext(context.WithValue(r.Context(), attemptKey{}, &attempt{})))
	}
}

func attemptOf(r *http.Request) *attempt {
	a, _ := r.Context().Value(attemptKey{}).(*attempt)
	return a
}

// attempting says what the request is after: action on resourceType
// resourceID of patientID's record.
func (s *server) attempting(r *http.Request, action, resourceType, resourceID, patientID string) {
	if a := attemptOf(r); a != nil {
		a.action, a.resourceType, a.resourceID, a.patientID = action, resourceType, resourceID, patientID
	}
}

// auditRefused records err, when it refuses the request (isRefusal) after
// the patient was identified, as a failed attempt on what the request was
// after, unless the request has recorded one already.
func (s *server) auditRefused(r *http.Request, err error) {
	a := attemptOf(r)
	if a == nil || a.patientID == "" || a.failed || !isRefusal(err) {
		return
	}
	s.audit(r, a.action, a.resourceType, a.resourceID, a.patientID, audit.OutcomeMinorFailure)
}

// audit appends one record for this request. An audit failure on a read
// must fail the request: PHI is never disclosed unaudited.
func (s *server) audit(r *http.Request, action, resourceType, resourceID, patientID string, outcome int) error {
	if at := attemptOf(r); at != nil && outcome != audit.OutcomeSuccess {
		at.failed = true
	}
	a := actor(r)
	_, err := s.Audit.AppendNow(r.Context(), audit.Record{
		OrgID:        a.OrgID,
		ActorID:      a.ID,
		ActorRole:    a.Role,
		Action:       action,
		ResourceType: resourceType,
		ResourceID:   auditID(resourceID),
		PatientID:    auditID(patientID),
		Outcome:      outcome,
		RequestID:    a.RequestID,
		ClientAddr:   a.ClientAddr,
	})
	if err != nil {
		// Logged here: the records of refusals are appended with the
		// error ignored. Wrapped: a database out of reach or out of
		// space answers 503 (httpx.ProblemFor), not 500 (QA: reads on a
		// full disk); the answer's text stays generic.
		s.Logger.ErrorContext(r.Context(), "audit append failed", "error", err.Error())
		return fmt.Errorf("audit trail unavailable: %w", err)
	}
	return nil
}

// maxAuditID bounds an id the caller named that an audit record keeps.
// Record ids are 36 characters; whatever is longer was never one.
const maxAuditID = 100

// auditID is the form in which an audit record keeps an id taken from the
// request (a path segment, a query parameter): a refused attempt must be
// recorded whatever the caller sent, but the audit trail accepts only
// valid UTF-8 without NUL bytes, so those are replaced, and an id longer
// than maxAuditID is cut there.
func auditID(id string) string {
	if len(id) > maxAuditID {
		id = id[:maxAuditID]
	}
	if !httpx.IsText(id) {
		id = strings.ToValidUTF8(strings.ReplaceAll(id, "\x00", "\uFFFD"), "\uFFFD")
	}
	return id
}

// auditReads records successful reads of several patients' records in one
// transaction.
func (s *server) auditReads(r *http.Request, resourceType string, patientIDs []string) error {
	a := actor(r)
	recs := make([]audit.Record, 0, len(patientIDs))
	for _, id := range patientIDs {
		recs = append(recs, audit.Record{
			OrgID: a.OrgID, ActorID: a.ID, ActorRole: a.Role, Action: audit.ActionRead,
			ResourceType: resourceType, ResourceID: id, PatientID: id, Outcome: audit.OutcomeSuccess,
			RequestID: a.RequestID, ClientAddr: a.ClientAddr,
		})
	}
	if err := s.Audit.AppendAll(r.Context(), recs); err != nil {
		s.Logger.ErrorContext(r.Context(), "audit append failed", "error", err.Error())
		return fmt.Errorf("audit trail unavailable: %w", err)
	}
	return nil
}

// auditRead records a successful read of PHI.
func (s *server) auditRead(r *http.Request, resourceType, resourceID, patientID string) error {
	return s.audit(r, audit.ActionRead, resourceType, resourceID, patientID, audit.OutcomeSuccess)
}

// medicationNotShared refuses a caregiver the medication details of a
// patient who does not share them, recording the failed attempt (action
// on resourceType/resourceID) like any other failed access to a patient
// record.
func (s *server) medicationNotShared(r *http.Request, action, resourceType, resourceID, patientID string) error {
	return s.caregiverRefused(r, action, resourceType, resourceID, patientID, "the patient does not share medication details with caregivers")
}

// caregiverRefused refuses a linked caregiver a part of a patient's record
// that caregivers never see (fills, notification history, messaging
// preferences, the consent ledger), recording the failed attempt (action
// on resourceType/resourceID) like any other failed access to a patient
// record.
func (s *server) caregiverRefused(r *http.Request, action, resourceType, resourceID, patientID, msg string) error {
	s.audit(r, action, resourceType, resourceID, patientID, audit.OutcomeMinorFailure)
	return errs.Forbidden("%s", msg)
}
