package api

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// escalationRoutes are the escalation endpoints. Admins manage the org's
// policies, staff read them; admins, clinicians and caregivers list, read
// and acknowledge the escalations of the patients they can see (caregivers:
// their linked patients).
func (s *server) escalationRoutes(mux *httpx.Mux) {
	mux.Handle("GET /v1/escalation-policies", s.authed(s.handleListEscalationPolicies))
	mux.Handle("POST /v1/escalation-policies", s.authed(s.handleCreateEscalationPolicy))
	mux.Handle("GET /v1/escalation-policies/{id}", s.authed(s.handleGetEscalationPolicy))
	mux.Handle("PUT /v1/escalation-policies/{id}", s.authed(s.handleUpdateEscalationPolicy))
	mux.Handle("DELETE /v1/escalation-policies/{id}", s.authed(s.handleDeleteEscalationPolicy))
	mux.HandleQuery("GET /v1/escalations", s.authed(s.handleListEscalations), "patient", "status", "before", "limit")
	mux.Handle("GET /v1/escalations/{id}", s.authed(s.handleGetEscalation))
	mux.Handle("POST /v1/escalations/{id}/acknowledge", s.authed(s.handleAcknowledgeEscalation))
}

// escalationReaders may see escalations (of the patients they can see).
var escalationReaders = []auth.Role{auth.RoleAdmin, auth.RoleClinician, auth.RoleCaregiver}

type escalationTriggerJSON struct {
	Kind          string  `json:"kind"`
	Count         int     `json:"count,omitempty"`
	WindowMinutes int     `json:"windowMinutes,omitempty"`
	Threshold     float64 `json:"threshold,omitempty"`
}

type escalationLevelJSON struct {
	AfterMinutes int      `json:"afterMinutes"`
	Recipients   string   `json:"recipients"`
	Channels     []string `json:"channels"`
	URL          string   `json:"url,omitempty"`
	Urgent       bool     `json:"urgent"`
}

type escalationPolicyJSON struct {
	ID        string                `json:"id"`
	Name      string                `json:"name"`
	Trigger   escalationTriggerJSON `json:"trigger"`
	Levels    []escalationLevelJSON `json:"levels"`
	Active    bool                  `json:"active"`
	CreatedAt time.Time             `json:"createdAt"`
	UpdatedAt time.Time             `json:"updatedAt"`
}

func escalationPolicyOut(p adherence.EscalationPolicy) escalationPolicyJSON {
	out := escalationPolicyJSON{
		ID: p.ID, Name: p.Name, Active: p.Active, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		Trigger: escalationTriggerJSON{Kind: string(p.Trigger.Kind), Count: p.Trigger.Count,
			WindowMinutes: int(p.Trigger.Window / time.Minute), Threshold: p.Trigger.Threshold},
		Levels: make([]escalationLevelJSON, 0, len(p.Levels)),
	}
	for _, l := range p.Levels {
		chans := make([]string, 0, len(l.Channels))
		for _, c := range l.Channels {
			chans = append(chans, string(c))
		}
		out.Levels = append(out.Levels, escalationLevelJSON{AfterMinutes: int(l.After / time.Minute), Recipients: string(l.Recipients),
			Channels: chans, URL: l.URL, Urgent: l.Urgent})
	}
	return out
}

// escalationPolicyInput is the body of POST and PUT
// /v1/escalation-policies: PUT replaces name, trigger and levels; an
// absent active keeps the policy's.
type escalationPolicyInput struct {
	Name    string                `json:"name"`
	Trigger escalationTriggerJSON `json:"trigger"`
	Levels  []escalationLevelJSON `json:"levels"`
	Active  *bool                 `json:"active"`
}

// apply copies the input onto p and validates the result: webhook URLs
// must be https unless allowHTTP (WEBHOOK_ALLOW_HTTP) is set, and a
// webhook level needs the channel on (webhookOff: no WEBHOOK_SECRET).
func (in escalationPolicyInput) apply(p *adherence.EscalationPolicy, allowHTTP, webhookOff bool) error {
	p.Name = in.Name
	// Minutes are bounded before they become durations, so no value can
	// overflow into a valid-looking one.
	if in.Trigger.WindowMinutes < 0 || in.Trigger.WindowMinutes > 30*24*60 {
		return errs.Invalid("trigger.windowMinutes", "must be whole minutes between 60 (1 hour) and 43200 (30 days)")
	}
	p.Trigger = adherence.EscalationTrigger{Kind: adherence.TriggerKind(in.Trigger.Kind), Count: in.Trigger.Count,
		Window: time.Duration(in.Trigger.WindowMinutes) * time.Minute, Threshold: in.Trigger.Threshold}
	if len(in.Levels) > adherence.MaxEscalationLevels {
		return errs.Invalid("levels", "must have 1 to %d levels", adherence.MaxEscalationLevels)
	}
	p.Levels = make([]adherence.EscalationLevel, 0, len(in.Levels))
	for i, l := range in.Levels {
		if l.AfterMinutes < 0 || l.AfterMinutes > int(adherence.MaxLevelAfter/time.Minute) {
			return errs.Invalid("levels["+strconv.Itoa(i)+"].afterMinutes", "must be whole minutes between 0 and 10080 (7 days)")
		}
		chans := make([]notify.Channel, 0, len(l.Channels))
		for _, c := range l.Channels {
			chans = append(chans, notify.Channel(c))
		}
		if adherence.Recipients(l.Recipients) == adherence.RecipientsWebhook && len(chans) == 0 {
			chans = []notify.Channel{notify.Webhook}
		}
		p.Levels = append(p.Levels, adherence.EscalationLevel{After: time.Duration(l.AfterMinutes) * time.Minute,
			Recipients: adherence.Recipients(l.Recipients), Channels: chans, URL: l.URL, Urgent: l.Urgent})
	}
	if in.Active != nil {
		p.Active = *in.Active
	}
	// Which schemes a webhook URL may have is this server's setting
	// (WEBHOOK_ALLOW_HTTP): a URL that is not absolute or has another
	// scheme is named with the ones it takes, before the policy's own
	// rules, which take http and https alike and know nothing of it (an
	// ftp:// URL was told to be https with http allowed).
	for i, l := range p.Levels {
		if l.Recipients != adherence.RecipientsWebhook || l.URL == "" {
			continue // p.Validate names what is missing
		}
		if u, err := url.Parse(l.URL); err != nil || u.Host == "" || u.Opaque != "" || !webhookScheme(u.Scheme, allowHTTP) {
			return errs.Invalid("levels["+strconv.Itoa(i)+"].url", "%s", webhookURLRule(allowHTTP))
		}
	}
	if err := p.Validate(); err != nil {
		return err
	}
	for i, l := range p.Levels {
		if l.Recipients == adherence.RecipientsWebhook && webhookOff {
			// Saved, the level would page nobody: its messages would end
			// undeliverable at every miss.
			return errs.Invalid("levels["+strconv.Itoa(i)+"].recipients", "webhook levels need the webhook channel, which is off on this server (WEBHOOK_SECRET is not set)")
		}
	}
	return nil
}

// webhookScheme reports whether a webhook URL may have scheme (lower
// case, as url.Parse leaves it): https, and http when allowHTTP.
func webhookScheme(scheme string, allowHTTP bool) bool {
	return scheme == "https" || (allowHTTP && scheme == "http")
}

// webhookURLRule is the 400's message for a webhook URL whose scheme the
// server does not take, or that is not absolute: it names the schemes
// taken with allowHTTP (WEBHOOK_ALLOW_HTTP).
func webhookURLRule(allowHTTP bool) string {
	if allowHTTP {
		return "must be an absolute http or https URL (WEBHOOK_ALLOW_HTTP=true on the server allows http://)"
	}
	return "must be an absolute https URL (http:// needs WEBHOOK_ALLOW_HTTP=true on the server)"
}

func (s *server) handleListEscalationPolicies(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, staff...); err != nil {
		s.fail(w, r, err)
		return
	}
	list, err := s.Store.ListEscalationPolicies(r.Context(), p.OrgID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]escalationPolicyJSON, 0, len(list))
	for _, pol := range list {
		out = append(out, escalationPolicyOut(pol))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"policies": out})
}

func (s *server) handleCreateEscalationPolicy(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, auth.RoleAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	var in escalationPolicyInput
	if err := httpx.Decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	pol := adherence.EscalationPolicy{OrgID: p.OrgID, Active: true}
	if err := in.apply(&pol, s.WebhookAllowHTTP, s.WebhookOff); err != nil {
		s.fail(w, r, err)
		return
	}
	active := pol.Active
	if err := s.Store.CreateEscalationPolicy(r.Context(), actor(r), &pol); err != nil {
		s.fail(w, r, err)
		return
	}
	if !active {
		// Created inactive on request: deactivate at once.
		if err := s.Store.DeleteEscalationPolicy(r.Context(), actor(r), p.OrgID, pol.ID); err != nil {
			s.fail(w, r, err)
			return
		}
		var err error
		if pol, err = s.Store.GetEscalationPolicy(r.Context(), p.OrgID, pol.ID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	w.Header().Set("Location", "/v1/escalation-policies/"+pol.ID)
	httpx.WriteJSON(w, http.StatusCreated, escalationPolicyOut(pol))
}

func (s *server) handleGetEscalationPolicy(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, staff...); err != nil {
		s.fail(w, r, err)
		return
	}
	pol, err := s.Store.GetEscalationPolicy(r.Context(), p.OrgID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, escalationPolicyOut(pol))
}

func (s *server) handleUpdateEscalationPolicy(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, auth.RoleAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	pol, err := s.Store.GetEscalationPolicy(r.Context(), p.OrgID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in escalationPolicyInput
	if err := httpx.Decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := in.apply(&pol, s.WebhookAllowHTTP, s.WebhookOff); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Store.UpdateEscalationPolicy(r.Context(), actor(r), &pol); err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, escalationPolicyOut(pol))
}

// handleDeleteEscalationPolicy deactivates a policy: it opens no more
// escalations and its open ones are resolved. The policy is kept for the
// history of its escalations.
func (s *server) handleDeleteEscalationPolicy(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, auth.RoleAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Store.DeleteEscalationPolicy(r.Context(), actor(r), p.OrgID, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type escalationStepJSON struct {
	ID       int64      `json:"id"`
	Level    int        `json:"level"`
	DueAt    time.Time  `json:"dueAt"`
	Status   string     `json:"status"`
	FiredAt  *time.Time `json:"firedAt,omitempty"`
	Redriven int        `json:"redriven"`
}

type escalationJSON struct {
	ID             string     `json:"id"`
	PatientID      string     `json:"patientId"`
	PolicyID       string     `json:"policyId"`
	DoseInstanceID int64      `json:"doseInstanceId,omitempty"`
	Status         string     `json:"status"`
	Level          int        `json:"level"`
	OpenedAt       time.Time  `json:"openedAt"`
	ClosedAt       *time.Time `json:"closedAt,omitempty"`
	ClosedBy       string     `json:"closedBy,omitempty"`
	Reason         string     `json:"reason,omitempty"`
}

// escalationDetailJSON is one escalation with its steps and the ids of
// the notifications sent for it (their content and delivery are in the
// patient's notification history).
type escalationDetailJSON struct {
	escalationJSON
	Steps           []escalationStepJSON `json:"steps"`
	NotificationIDs []int64              `json:"notificationIds"`
}

func escalationOut(e adherence.Escalation) escalationJSON {
	return escalationJSON{ID: e.ID, PatientID: e.PatientID, PolicyID: e.PolicyID, DoseInstanceID: e.DoseInstanceID,
		Status: string(e.Status), Level: e.Level, OpenedAt: e.OpenedAt, ClosedAt: e.ClosedAt, ClosedBy: e.ClosedBy, Reason: e.Reason}
}

func escalationDetailOut(e adherence.Escalation) escalationDetailJSON {
	out := escalationDetailJSON{escalationJSON: escalationOut(e), Steps: make([]escalationStepJSON, 0, len(e.Steps)),
		NotificationIDs: append([]int64{}, e.NotificationIDs...)}
	for _, st := range e.Steps {
		out.Steps = append(out.Steps, escalationStepJSON{ID: st.ID, Level: st.Level, DueAt: st.DueAt, Status: string(st.Status),
			FiredAt: st.FiredAt, Redriven: st.Redriven})
	}
	return out
}

// handleListEscalations answers GET /v1/escalations?patient=&status=
// &limit=&before= with the escalations the caller may see, most recently
// opened first; next, when present, is the before of the following page.
func (s *server) handleListEscalations(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	q := r.URL.Query()
	// A patient filter that is no patient id names no record: a 400, as
	// on the audit trail, and its text is not written into the trail as
	// the patient of a refused attempt (it may hold a line break).
	if patientID := q.Get("patient"); patientID != "" && !isUUID(patientID) {
		s.fail(w, r, errs.Invalid("patient", "must be a patient id"))
		return
	}
	if err := auth.Require(p, escalationReaders...); err != nil {
		// A role that may not read escalations naming a patient is a
		// refused attempt on that patient's record, audited as
		// readablePatient audits the refusal of a caller who may not
		// see the patient.
		if patientID := q.Get("patient"); patientID != "" {
			s.audit(r, audit.ActionRead, "Patient", patientID, patientID, audit.OutcomeMinorFailure)
		}
		s.fail(w, r, err)
		return
	}
	f := store.EscalationFilter{PatientID: q.Get("patient"), Status: adherence.EscalationStatus(q.Get("status")), Before: q.Get("before"), Limit: 100}
	// Access to the patient named is decided first, so a refused attempt
	// is audited (and answered 404) whatever the rest of the query says.
	if f.PatientID != "" {
		if _, _, err := s.readablePatient(r, f.PatientID); err != nil {
			s.fail(w, r, err)
			return
		}
		s.attempting(r, audit.ActionRead, "Escalation", "*", f.PatientID)
	}
	var err error
	if f.Limit, err = queryLimit(q, f.Limit, store.PageMax); err != nil {
		s.fail(w, r, err)
		return
	}
	page := f.Limit
	f.Limit++ // one ahead: is there a next page?
	if f.PatientID == "" && p.Role == auth.RoleCaregiver {
		if p.Subject == "" {
			httpx.WriteJSON(w, http.StatusOK, map[string]any{"escalations": []escalationJSON{}})
			return
		}
		f.LinkedMemberID = p.Subject
	}
	list, err := s.Store.ListEscalations(r.Context(), p.OrgID, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list, more := firstPage(list, page)
	out := make([]escalationJSON, 0, len(list))
	seen := map[string]bool{}
	var patients []string
	for _, e := range list {
		out = append(out, escalationOut(e))
		if !seen[e.PatientID] {
			seen[e.PatientID] = true
			patients = append(patients, e.PatientID)
		}
	}
	// Escalations say that a patient missed doses: PHI, audited per
	// patient. A list of one patient's escalations is a read of that
	// patient's record even when it is empty (it says they have none), as
	// every other per-patient list is.
	if f.PatientID != "" && len(patients) == 0 {
		patients = []string{f.PatientID}
	}
	if err := s.auditReads(r, "Escalation", patients); err != nil {
		s.fail(w, r, err)
		return
	}
	resp := map[string]any{"escalations": out}
	if more {
		resp["next"] = list[len(list)-1].ID
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
}

// readableEscalation loads an escalation of a patient the caller may see;
// any other is not found.
func (s *server) readableEscalation(r *http.Request, id string) (adherence.Escalation, error) {
	p := principalOf(r)
	// A role that may not read escalations, or an escalation not in the
	// caller's organization, is a refused attempt on a patient's record
	// whose patient the caller may not learn: audited on the escalation,
	// as a refused read of another organization's dose is.
	action := audit.ActionRead
	if r.Method != http.MethodGet {
		action = audit.ActionUpdate
	}
	if err := auth.Require(p, escalationReaders...); err != nil {
		s.audit(r, action, "Escalation", id, "", audit.OutcomeMinorFailure)
		return adherence.Escalation{}, err
	}
	e, err := s.Store.GetEscalation(r.Context(), p.OrgID, id)
	if err != nil {
		if errs.Is(err, errs.CodeNotFound) {
			s.audit(r, action, "Escalation", id, "", audit.OutcomeMinorFailure)
		}
		return adherence.Escalation{}, err
	}
	// A patient the caller may not see (a caregiver not linked to it) is
	// a refused attempt on the escalation, audited with the action tried
	// and naming the patient: an acknowledgement refused is a failed
	// change, not a failed read of the patient.
	if _, _, err := s.checkPatient(r.Context(), p, e.PatientID); err != nil {
		if errs.Is(err, errs.CodeNotFound) || errs.Is(err, errs.CodeForbidden) {
			s.audit(r, action, "Escalation", e.ID, e.PatientID, audit.OutcomeMinorFailure)
		}
		if errs.Is(err, errs.CodeNotFound) {
			err = errs.NotFound("escalation")
		}
		return adherence.Escalation{}, err
	}
	s.attempting(r, action, "Escalation", e.ID, e.PatientID)
	return e, nil
}

func (s *server) handleGetEscalation(w http.ResponseWriter, r *http.Request) {
	e, err := s.readableEscalation(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.auditRead(r, "Escalation", e.ID, e.PatientID); err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, escalationDetailOut(e))
}

// handleAcknowledgeEscalation answers POST /v1/escalations/{id}/acknowledge
// (no body, or {}): the caller takes the escalation in hand, its pending levels
// are cancelled. Acknowledging again returns it unchanged; a resolved
// escalation is a conflict. The acknowledgement records the caller's
// member id (or, for an admin key, its key id).
func (s *server) handleAcknowledgeEscalation(w http.ResponseWriter, r *http.Request) {
	e, err := s.readableEscalation(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := noBody(w, r); err != nil {
		s.fail(w, r, err)
		return
	}
	p := principalOf(r)
	by := p.Subject
	if by == "" {
		by = p.ID
	}
	// An exhausted escalation is acknowledged as an open one is: both
	// are counted.
	wasOpen := e.Status == adherence.EscalationOpen || e.Status == adherence.EscalationExhausted
	e, err = s.Store.AcknowledgeEscalation(r.Context(), actor(r), p.OrgID, e.ID, by, s.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if wasOpen && s.OnEscalationAcknowledged != nil {
		s.OnEscalationAcknowledged(e.Level)
	}
	httpx.WriteJSON(w, http.StatusOK, escalationDetailOut(e))
}
