package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// notificationRoutes are the reminder and notification endpoints: the
// org's messaging settings and default reminder policy, per-plan policy
// overrides, message templates, patients' messaging preferences and their
// notification history.
func (s *server) notificationRoutes(mux *httpx.Mux) {
	mux.Handle("GET /v1/settings/messaging", s.authed(s.handleGetMessaging))
	mux.Handle("PUT /v1/settings/messaging", s.authed(s.handleSetMessaging))
	mux.Handle("GET /v1/plans/{id}/reminder-policy", s.authed(s.handleGetPlanPolicy))
	mux.Handle("PUT /v1/plans/{id}/reminder-policy", s.authed(s.handleSetPlanPolicy))
	mux.Handle("DELETE /v1/plans/{id}/reminder-policy", s.authed(s.handleDeletePlanPolicy))
	mux.Handle("GET /v1/templates", s.authed(s.handleListTemplates))
	mux.Handle("PUT /v1/templates/{kind}/{language}/{channel}", s.authed(s.handlePutTemplate))
	mux.Handle("DELETE /v1/templates/{kind}/{language}/{channel}", s.authed(s.handleDeleteTemplate))
	mux.Handle("GET /v1/patients/{id}/messaging-preferences", s.authed(s.handleGetPreferences))
	mux.Handle("PUT /v1/patients/{id}/messaging-preferences", s.authed(s.handleSetPreferences))
	mux.HandleQuery("GET /v1/patients/{id}/notifications", s.authed(s.handleListNotifications), "before", "limit")
}

type messagingJSON struct {
	ReminderPolicy remind.PolicyJSON `json:"reminderPolicy"`
	ProgramName    string            `json:"programName"`
	HelpContact    string            `json:"helpContact"`
	UpdatedAt      *time.Time        `json:"updatedAt,omitempty"`
}

// messagingInput is the body of PUT /v1/settings/messaging: the settings
// as GET answers them (an updatedAt sent back is ignored).
type messagingInput struct {
	ReminderPolicy *remind.PolicyJSON `json:"reminderPolicy"`
	ProgramName    string             `json:"programName"`
	HelpContact    string             `json:"helpContact"`
	UpdatedAt      *time.Time         `json:"updatedAt"`
}

func (s *server) handleGetMessaging(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, staff...); err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.Store.Messaging(r.Context(), p.OrgID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, messagingJSON{ReminderPolicy: m.Policy.ToJSON(), ProgramName: m.ProgramName, HelpContact: m.HelpContact, UpdatedAt: m.UpdatedAt})
}

func (s *server) handleSetMessaging(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, auth.RoleAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	var in messagingInput
	if err := httpx.Decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.ReminderPolicy == nil {
		// A PUT replaces the settings: without this an absent policy was
		// read as all zeros and refused as "reminderPolicy.validityMinutes:
		// must be between 1 and 240 minutes", a field the client never sent.
		s.fail(w, r, errs.Invalid("reminderPolicy", "is required: PUT replaces the settings (GET them, change what you need, PUT them back)"))
		return
	}
	pol, err := remind.FromJSON(*in.ReminderPolicy)
	if err != nil {
		s.fail(w, r, prefixField(err, "reminderPolicy."))
		return
	}
	// Trimmed as every name is: messages start with the program's name.
	m := store.MessagingSettings{Policy: pol, ProgramName: strings.TrimSpace(in.ProgramName), HelpContact: strings.TrimSpace(in.HelpContact)}
	if err := s.Store.SetMessaging(r.Context(), actor(r), p.OrgID, m); err != nil {
		s.fail(w, r, err)
		return
	}
	s.handleGetMessaging(w, r)
}

type planPolicyJSON struct {
	Own       *remind.PolicyJSON `json:"own"`
	Effective remind.PolicyJSON  `json:"effective"`
}

// handleGetPlanPolicy answers a plan's reminder policy (read rule). It
// tells when and how the patient is reminded of a medication: part of the
// patient's record, so the read is audited as the plan's other reads are.
func (s *server) handleGetPlanPolicy(w http.ResponseWriter, r *http.Request) {
	pl, _, _, err := s.readablePlan(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := s.planPolicy(r, pl.OrgID, pl.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.auditRead(r, "MedicationRequest", pl.ID, pl.PatientID); err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// writePlanPolicy answers a change of a plan's reminder policy with the
// policy now in force (the change itself is audited by the store).
func (s *server) writePlanPolicy(w http.ResponseWriter, r *http.Request, orgID, planID string) {
	out, err := s.planPolicy(r, orgID, planID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (s *server) planPolicy(r *http.Request, orgID, planID string) (planPolicyJSON, error) {
	own, eff, err := s.Store.PlanReminderPolicy(r.Context(), orgID, planID)
	if err != nil {
		return planPolicyJSON{}, err
	}
	out := planPolicyJSON{Effective: eff.ToJSON()}
	if own != nil {
		j := own.ToJSON()
		out.Own = &j
	}
	return out, nil
}

// handleSetPlanPolicy changes a plan's own reminder policy (staff). A
// refused attempt (403 for a role that may not write, 404 for another
// organization's plan) is audited as a failed change of the plan, as for
// its other changes; access is decided before the body is read, so a bad
// policy does not hide the attempt behind a 400.
func (s *server) handleSetPlanPolicy(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if _, err := s.writablePlan(r, r.PathValue("id"), audit.ActionUpdate, "MedicationRequest"); err != nil {
		s.fail(w, r, err)
		return
	}
	var in remind.PolicyJSON
	if err := httpx.Decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	pol, err := remind.FromJSON(in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Store.SetPlanReminderPolicy(r.Context(), actor(r), p.OrgID, r.PathValue("id"), &pol); err != nil {
		s.auditPlanWriteRefused(r, err, r.PathValue("id"), audit.ActionUpdate, "MedicationRequest")
		s.fail(w, r, err)
		return
	}
	s.writePlanPolicy(w, r, p.OrgID, r.PathValue("id"))
}

// handleDeletePlanPolicy returns a plan to the organization's reminder
// policy (staff); a refusal is audited as in handleSetPlanPolicy.
func (s *server) handleDeletePlanPolicy(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, staff...); err != nil {
		s.auditPlanWriteRefused(r, err, r.PathValue("id"), audit.ActionUpdate, "MedicationRequest")
		s.fail(w, r, err)
		return
	}
	if err := s.Store.SetPlanReminderPolicy(r.Context(), actor(r), p.OrgID, r.PathValue("id"), nil); err != nil {
		s.auditPlanWriteRefused(r, err, r.PathValue("id"), audit.ActionUpdate, "MedicationRequest")
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type templateJSON struct {
	Kind     string   `json:"kind"`
	Language string   `json:"language"`
	Channel  string   `json:"channel"`
	Subject  string   `json:"subject,omitempty"`
	Body     string   `json:"body"`
	Fields   []string `json:"fields,omitempty"`
}

func (s *server) handleListTemplates(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, staff...); err != nil {
		s.fail(w, r, err)
		return
	}
	ts, err := s.Store.Templates(r.Context(), p.OrgID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]templateJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, templateJSON{Kind: string(t.Kind), Language: t.Language, Channel: string(t.Channel), Subject: t.Subject, Body: t.Body, Fields: t.Kind.Fields()})
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"items": out})
}

// handlePutTemplate saves a template. It is validated when saved: an
// unknown field is a 400 naming it and its position.
func (s *server) handlePutTemplate(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, auth.RoleAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	var in templateJSON
	if err := httpx.Decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	t := remind.Template{Kind: remind.Kind(r.PathValue("kind")), Language: r.PathValue("language"),
		Channel: notify.Channel(r.PathValue("channel")), Subject: strings.TrimSpace(in.Subject), Body: in.Body}
	if err := t.Validate(); err != nil {
		s.fail(w, r, err)
		return
	}
	// Only email and push have a subject (docs/api.md). Refused here
	// rather than in Validate, which delivery also runs: an SMS template
	// saved with a subject before this check must still send.
	if t.Channel == notify.SMS && in.Subject != "" {
		s.fail(w, r, errs.Invalid("subject", "an sms template has no subject; only email and push do"))
		return
	}
	// A template in a language no patient can have would never be used.
	if !languages[t.Language] {
		s.fail(w, r, errs.Invalid("language", unsupportedLanguage))
		return
	}
	if err := s.Store.PutTemplate(r.Context(), actor(r), p.OrgID, t); err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, templateJSON{Kind: string(t.Kind), Language: t.Language, Channel: string(t.Channel), Subject: t.Subject, Body: t.Body, Fields: t.Kind.Fields()})
}

func (s *server) handleDeleteTemplate(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, auth.RoleAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	// The path is checked as PUT checks it: a segment that names no
	// template is a 400 naming it, not "template not found".
	t := remind.Template{Kind: remind.Kind(r.PathValue("kind")), Language: r.PathValue("language"), Channel: notify.Channel(r.PathValue("channel"))}
	if err := t.ValidateKey(); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Store.DeleteTemplate(r.Context(), actor(r), p.OrgID, t.Kind, t.Language, t.Channel); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type preferencesJSON struct {
	Channels             []string `json:"channels"`
	PushToken            *string  `json:"pushToken,omitempty"`
	MedicationInMessages bool     `json:"medicationInMessages"`
}

// handleGetPreferences answers for staff and the patient; the push token
// is shown to nobody (it is write-only).
func (s *server) handleGetPreferences(w http.ResponseWriter, r *http.Request) {
	pat, v, err := s.readablePatient(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v != viewFull {
		s.fail(w, r, s.caregiverRefused(r, audit.ActionRead, "Patient", pat.ID, pat.ID, "caregivers may not read messaging preferences"))
		return
	}
	prefs, err := s.Store.Preferences(r.Context(), pat.OrgID, pat.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.auditRead(r, "Patient", pat.ID, pat.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, preferencesOut(prefs))
}

// preferencesOut is the answer of both GET and PUT messaging-preferences.
func preferencesOut(prefs store.MessagingPreferences) preferencesJSON {
	out := preferencesJSON{Channels: []string{}, MedicationInMessages: prefs.MedicationInMessages}
	for _, c := range prefs.Channels {
		out.Channels = append(out.Channels, string(c))
	}
	return out
}

// preferencesInput is the body of PUT messaging-preferences. Every field
// is optional: a field left out (or null) keeps its value, so a client can
// change one preference without knowing the others — the push token
// above all, which is write-only and cannot be read back to be sent
// again. "channels": [] returns to the reminder policy's order and
// "pushToken": "" forgets the token.
type preferencesInput struct {
	Channels             *[]string `json:"channels"`
	PushToken            *string   `json:"pushToken"`
	MedicationInMessages *bool     `json:"medicationInMessages"`
}

// handleSetPreferences lets staff and the patient set the channel order,
// the push token and whether reminders may name the drug; fields left out
// keep their values (see preferencesInput).
func (s *server) handleSetPreferences(w http.ResponseWriter, r *http.Request) {
	pat, v, err := s.readablePatient(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v != viewFull {
		s.fail(w, r, s.caregiverRefused(r, audit.ActionUpdate, "Patient", pat.ID, pat.ID, "caregivers may not change messaging preferences"))
		return
	}
	var in preferencesInput
	if err := httpx.Decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	change := store.PreferencesChange{PushToken: in.PushToken, MedicationInMessages: in.MedicationInMessages}
	if in.Channels != nil {
		chans := make([]notify.Channel, 0, len(*in.Channels))
		for _, c := range *in.Channels {
			chans = append(chans, notify.Channel(c))
		}
		change.Channels = &chans
	}
	// The answer is what the change wrote, which the store audited with
	// it: not a second access to be recorded as a read.
	prefs, err := s.Store.UpdatePreferences(r.Context(), actor(r), pat.OrgID, pat.ID, change)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, preferencesOut(prefs))
}

type statusEventJSON struct {
	Status     string    `json:"status"`
	ErrorCode  string    `json:"errorCode,omitempty"`
	Source     string    `json:"source"`
	ReceivedAt time.Time `json:"receivedAt"`
}

type notificationJSON struct {
	ID             int64  `json:"id"`
	Kind           string `json:"kind"`
	Template       string `json:"template"`
	DoseInstanceID int64  `json:"doseInstanceId,omitempty"`
	EscalationID   string `json:"escalationId,omitempty"`
	MemberID       string `json:"memberId,omitempty"`
	Status         string `json:"status"`
	Reason         string `json:"reason,omitempty"`
	Channel        string `json:"channel,omitempty"`
	Provider       string `json:"provider,omitempty"`
	// ProviderMessageID is the provider's id of the message (a Twilio
	// SID): what its own logs and support know the message by.
	ProviderMessageID string            `json:"providerMessageId,omitempty"`
	ProviderStatus    string            `json:"providerStatus,omitempty"`
	Attempts          int               `json:"attempts"`
	DueAt             time.Time         `json:"dueAt"`
	AcceptedAt        *time.Time        `json:"acceptedAt,omitempty"`
	CreatedAt         time.Time         `json:"createdAt"`
	UpdatedAt         time.Time         `json:"updatedAt"`
	Events            []statusEventJSON `json:"statusEvents"`
}

// handleListNotifications answers GET /v1/patients/{id}/notifications
// (?before=ID&limit=N): the patient's notifications, newest first, with
// their delivery status. Messages carry no text here: what was sent is the
// template in force, and the text holds PHI. The patient reading its own
// sees no memberId (see below).
func (s *server) handleListNotifications(w http.ResponseWriter, r *http.Request) {
	pat, v, err := s.readablePatient(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v != viewFull {
		s.fail(w, r, s.caregiverRefused(r, audit.ActionRead, "Communication", pat.ID, pat.ID, "caregivers may not read notification history"))
		return
	}
	s.attempting(r, audit.ActionRead, "Communication", pat.ID, pat.ID)
	q := r.URL.Query()
	var before int64
	if b := q.Get("before"); b != "" {
		if before, err = httpx.ParseInt(b); err != nil || before <= 0 {
			s.fail(w, r, errs.Invalid("before", "must be a notification id"))
			return
		}
	}
	limit, err := queryLimit(q, 50, store.PageMax)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list, err := s.Store.ListNotifications(r.Context(), pat.OrgID, pat.ID, before, limit+1) // one ahead: is there a next page?
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list, more := firstPage(list, limit)
	if err := s.auditRead(r, "Communication", pat.ID, pat.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	// The care-team member an escalation message went to is staff's to
	// know: to the patient its id is another person's internal id.
	showMembers := principalOf(r).Role != auth.RolePatient
	out := make([]notificationJSON, 0, len(list))
	for _, n := range list {
		if !showMembers {
			n.MemberID = ""
		}
		j := notificationJSON{ID: n.ID, Kind: n.Kind, Template: n.Template, DoseInstanceID: n.DoseInstanceID, EscalationID: n.EscalationID,
			MemberID: n.MemberID, Status: n.Status, Reason: n.Reason, Channel: n.Channel, Provider: n.Provider,
			ProviderMessageID: n.ProviderMessageID, ProviderStatus: n.ProviderStatus, Attempts: n.Attempts, DueAt: n.DueAt, AcceptedAt: n.AcceptedAt,
			CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt, Events: []statusEventJSON{}}
		for _, e := range n.Events {
			j.Events = append(j.Events, statusEventJSON(e))
		}
		out = append(out, j)
	}
	resp := map[string]any{"items": out}
	if more {
		resp["next"] = strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
}

// prefixField puts prefix before the field an invalid-input error names.
func prefixField(err error, prefix string) error {
	if e, ok := err.(*errs.Error); ok && e.Field != "" {
		c := *e
		c.Field = prefix + c.Field
		return &c
	}
	return err
}
