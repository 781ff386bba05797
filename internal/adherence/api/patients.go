package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/httpx"
)

func (s *server) handleMe(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	httpx.WriteJSON(w, http.StatusOK, map[string]string{
		"id": p.ID, "orgId": p.OrgID, "role": string(p.Role), "subject": p.Subject, "method": p.Method,
	})
}

func (s *server) handleCreatePatient(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, staff...); err != nil {
		s.fail(w, r, err)
		return
	}
	var in patientInput
	nulls, err := decodeWithNulls(w, r, &in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := in.takeNulls(nulls); err != nil {
		s.fail(w, r, err)
		return
	}
	pat := adherence.Patient{OrgID: p.OrgID}
	if err := in.apply(&pat, s.Now(), true); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Store.CreatePatient(r.Context(), actor(r), &pat); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/patients/"+pat.ID)
	httpx.WriteJSON(w, http.StatusCreated, patientOut(pat, viewFull))
}

func (s *server) handleGetPatient(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	pat, v, err := s.readablePatient(r, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.auditRead(r, "Patient", id, id); err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, patientOut(pat, v))
}

// handleListPatients lists the patients the caller may see: the whole org
// for staff, the linked ones for a caregiver. Query: limit (≤ 500), after
// (id cursor), inactive=true to include deactivated patients.
func (s *server) handleListPatients(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, auth.RoleAdmin, auth.RoleClinician, auth.RoleCaregiver); err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	f := store.PatientFilter{AfterID: q.Get("after"), Limit: 100}
	var err error
	if f.IncludeInactive, err = parseBoolParam(q, "inactive"); err != nil {
		s.fail(w, r, err)
		return
	}
	if f.Limit, err = queryLimit(q, f.Limit, store.PageMax); err != nil {
		s.fail(w, r, err)
		return
	}
	page := f.Limit
	f.Limit++ // one ahead: is there a next page?
	v := viewFull
	if p.Role == auth.RoleCaregiver {
		if p.Subject == "" {
			httpx.WriteJSON(w, http.StatusOK, map[string]any{"patients": []patientJSON{}})
			return
		}
		f.LinkedMemberID = p.Subject
		v = viewCaregiver
	}
	pats, err := s.Store.ListPatients(r.Context(), p.OrgID, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pats, more := firstPage(pats, page)
	out := make([]patientJSON, 0, len(pats))
	ids := make([]string, 0, len(pats))
	for _, pat := range pats {
		ids = append(ids, pat.ID)
		out = append(out, patientOut(pat, v))
	}
	if err := s.auditReads(r, "Patient", ids); err != nil {
		s.fail(w, r, err)
		return
	}
	resp := map[string]any{"patients": out}
	if more {
		resp["next"] = pats[len(pats)-1].ID
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
}

func (s *server) handleUpdatePatient(w http.ResponseWriter, r *http.Request) {
	pat, err := s.writablePatient(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in patientInput
	nulls, err := decodeWithNulls(w, r, &in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := in.takeNulls(nulls); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkVersion(in.Version); err != nil {
		s.fail(w, r, err)
		return
	}
	for attempt := 1; ; attempt++ {
		expected := pat.Version
		if in.Version != nil {
			expected = *in.Version
		}
		if err := in.apply(&pat, s.Now(), false); err != nil {
			s.fail(w, r, err)
			return
		}
		err := s.Store.UpdatePatient(r.Context(), actor(r), &pat, expected)
		if retryPatch(err, in.Version, attempt) {
			// Another request changed the patient since it was read:
			// the change is applied to what that one stored.
			if pat, err = s.Store.GetPatient(r.Context(), pat.OrgID, pat.ID); err == nil {
				continue
			}
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		break
	}
	httpx.WriteJSON(w, http.StatusOK, patientOut(pat, viewFull))
}

func (s *server) handleSetPatientActive(active bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		if err := auth.Require(p, staff...); err != nil {
			s.auditWriteRefused(r, err, r.PathValue("id"))
			s.fail(w, r, err)
			return
		}
		if err := noBody(w, r); err != nil {
			s.auditWriteRefused(r, err, r.PathValue("id"))
			s.fail(w, r, err)
			return
		}
		pat, err := s.Store.SetPatientActive(r.Context(), actor(r), p.OrgID, r.PathValue("id"), active)
		if err != nil {
			s.auditWriteRefused(r, err, r.PathValue("id"))
			s.fail(w, r, err)
			return
		}
		s.forgetKeys(r, "patient", func(ctx context.Context) ([]string, error) {
			return s.Store.PatientAPIKeyIDs(ctx, pat.OrgID, pat.ID)
		})
		httpx.WriteJSON(w, http.StatusOK, patientOut(pat, viewFull))
	}
}

// forgetKeys makes this process and the others (OnKeyRevoked) look the
// API keys ids lists up again, so that a deactivation refuses them at once
// and a reactivation lets them in again, rather than when their cache
// entries expire (API_KEY_CACHE_TTL). A failure to list them is logged:
// the change is committed, and the caches expire anyway. whose names the
// holder in that log line ("patient", "member").
func (s *server) forgetKeys(r *http.Request, whose string, ids func(context.Context) ([]string, error)) {
	// Done even if the client has gone: the change is committed.
	ctx := context.WithoutCancel(r.Context())
	list, err := ids(ctx)
	if err != nil {
		s.Logger.ErrorContext(ctx, "could not forget the API keys of a "+whose+" deactivated or reactivated; they follow within API_KEY_CACHE_TTL", "error", err)
		return
	}
	for _, id := range list {
		s.Auth.ForgetAPIKey(id)
		if s.OnKeyRevoked != nil {
			s.OnKeyRevoked(ctx, id)
		}
	}
}

type linkJSON struct {
	PatientID    string `json:"patientId"`
	MemberID     string `json:"memberId"`
	Kind         string `json:"kind"`
	Relationship string `json:"relationship,omitempty"`
}

func (s *server) handleListLinks(w http.ResponseWriter, r *http.Request) {
	pat, err := s.writablePatient(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.attempting(r, audit.ActionRead, "Link", pat.ID, pat.ID)
	links, err := s.Store.ListLinks(r.Context(), pat.OrgID, pat.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.auditRead(r, "Link", pat.ID, pat.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]linkJSON, 0, len(links))
	for _, l := range links {
		out = append(out, linkJSON{PatientID: l.PatientID, MemberID: l.MemberID, Kind: string(l.Kind), Relationship: l.Relationship})
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"links": out})
}

func (s *server) handleLink(w http.ResponseWriter, r *http.Request) {
	pat, err := s.writablePatient(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// A refusal from here on (a bad body, a member id unknown or of
	// another organization) is a failed change of the patient's circle
	// of care, audited on the link by fail.
	s.attempting(r, audit.ActionUpdate, "Link", auditID(r.PathValue("memberId")), pat.ID)
	var in struct {
		Relationship string `json:"relationship"`
	}
	if r.ContentLength != 0 {
		if err := httpx.Decode(w, r, &in); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	// Trimmed, as every name of the API is (a pasted line break at its end).
	in.Relationship = strings.TrimSpace(in.Relationship)
	if err := checkLine("relationship", in.Relationship, 100); err != nil {
		s.fail(w, r, err)
		return
	}
	l := adherence.Link{PatientID: pat.ID, MemberID: r.PathValue("memberId"), Relationship: in.Relationship}
	if err := s.Store.LinkMember(r.Context(), actor(r), pat.OrgID, l); err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.Store.GetMember(r.Context(), pat.OrgID, l.MemberID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, linkJSON{PatientID: l.PatientID, MemberID: l.MemberID, Kind: string(m.Kind), Relationship: l.Relationship})
}

func (s *server) handleUnlink(w http.ResponseWriter, r *http.Request) {
	pat, err := s.writablePatient(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.attempting(r, audit.ActionDelete, "Link", auditID(r.PathValue("memberId")), pat.ID)
	if err := s.Store.UnlinkMember(r.Context(), actor(r), pat.OrgID, pat.ID, r.PathValue("memberId")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleListAudit lets org admins review the audit trail. Query: patient,
// actor, from, to (RFC 3339), limit (≤ 1000), after (seq cursor).
func (s *server) handleListAudit(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, auth.RoleAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	f := audit.Filter{OrgID: p.OrgID, PatientID: q.Get("patient"), ActorID: q.Get("actor"), Limit: 100}
	// A patient filter that is no patient id names no record, and its
	// text would be written into the trail as the patient whose history
	// was read (QA: a newline, an ANSI escape, a right-to-left override).
	if f.PatientID != "" && !isUUID(f.PatientID) {
		s.fail(w, r, errs.Invalid("patient", "must be a patient id"))
		return
	}
	// Given or not is read off the query, not the value, as in window:
	// 0001-01-01T00:00:00Z is Go's zero time and a valid bound.
	for _, b := range []struct {
		name string
		dst  **time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		t, err := parseTimeParam(q, b.name)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if q.Get(b.name) != "" {
			*b.dst = &t
		}
	}
	limit, err := queryLimit(q, f.Limit, 1000)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.Limit = limit
	if a := q.Get("after"); a != "" {
		n, err := httpx.ParseInt(a)
		if err != nil || n < 0 {
			s.fail(w, r, errs.Invalid("after", "must be a record sequence number"))
			return
		}
		f.AfterSeq = n
	}
	// next is given when more records follow, not counting the caller's
	// own reads of the trail (see audit.Log.Page): each page is audited.
	recs, more, err := s.Audit.Page(r.Context(), f, p.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Who read whose access history is itself audited (R on AuditEvent;
	// the patient is the one the filter named), after the page is read.
	if err := s.auditRead(r, audit.TrailResource, "", f.PatientID); err != nil {
		s.fail(w, r, err)
		return
	}
	type recJSON struct {
		Seq          int64  `json:"seq"`
		ID           string `json:"id"`
		At           string `json:"at"`
		ActorID      string `json:"actorId"`
		ActorRole    string `json:"actorRole"`
		Action       string `json:"action"`
		ResourceType string `json:"resourceType"`
		ResourceID   string `json:"resourceId"`
		PatientID    string `json:"patientId,omitempty"`
		Outcome      int    `json:"outcome"`
		RequestID    string `json:"requestId,omitempty"`
		ClientAddr   string `json:"clientAddr,omitempty"`
		// Detail says what a change was (fields=…, status=…, reason=…):
		// names and codes, never values.
		Detail string `json:"detail,omitempty"`
	}
	out := make([]recJSON, 0, len(recs))
	for _, rec := range recs {
		out = append(out, recJSON{Seq: rec.Seq, ID: rec.ID, At: rec.At.UTC().Format("2006-01-02T15:04:05.000000Z"), ActorID: rec.ActorID, ActorRole: rec.ActorRole,
			Action: rec.Action, ResourceType: rec.ResourceType, ResourceID: rec.ResourceID, PatientID: rec.PatientID, Outcome: rec.Outcome,
			RequestID: rec.RequestID, ClientAddr: rec.ClientAddr, Detail: rec.Detail})
	}
	resp := map[string]any{"records": out}
	if more {
		resp["next"] = strconv.FormatInt(recs[len(recs)-1].Seq, 10)
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
}
