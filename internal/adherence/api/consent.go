package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/httpx"
)

// consentJSON is one consent ledger entry. It never carries the address:
// the ledger keeps only its hash.
type consentJSON struct {
	ID         int64     `json:"id"`
	Channel    string    `json:"channel"`
	Action     string    `json:"action"`
	Source     string    `json:"source"`
	Keyword    string    `json:"keyword,omitempty"`
	MemberID   string    `json:"memberId,omitempty"`
	Actor      string    `json:"actor,omitempty"`
	RecordedAt time.Time `json:"recordedAt"`
}

// handleListConsent lists a patient's consent ledger, newest first, and
// whether the patient's number is opted out of texts now (by any org's
// ledger: an opt-out belongs to the number). Staff and the patient may
// read it. Query: before (the next page: next of the previous one) and
// limit (1–500, default 100).
func (s *server) handleListConsent(w http.ResponseWriter, r *http.Request) {
	// Access is decided first, so a refused attempt is audited (and
	// answered 403 or 404) whatever its query says.
	pat, v, err := s.readablePatient(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v != viewFull {
		s.fail(w, r, s.caregiverRefused(r, audit.ActionRead, "Consent", pat.ID, pat.ID, "caregivers may not read the consent ledger"))
		return
	}
	s.attempting(r, audit.ActionRead, "Consent", pat.ID, pat.ID)
	q := r.URL.Query()
	// The ledger is paged (before = the last id seen, as next gives it):
	// it was cut at limit without a way to read on, so a patient's older
	// opt-outs and opt-ins could not be read at all.
	var before int64
	if b := q.Get("before"); b != "" {
		if before, err = httpx.ParseInt(b); err != nil || before <= 0 {
			s.fail(w, r, errs.Invalid("before", "must be a consent entry id"))
			return
		}
	}
	limit, err := queryLimit(q, 100, store.PageMax)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	entries, err := s.Store.ListConsent(r.Context(), pat.OrgID, pat.ID, before, limit+1) // one ahead: is there a next page?
	if err != nil {
		s.fail(w, r, err)
		return
	}
	entries, more := firstPage(entries, limit)
	optedOut := false
	if phone := pat.Phone.Reveal(); phone != "" {
		if optedOut, err = s.Store.OptedOut(r.Context(), pat.OrgID, "sms", phone); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := s.auditRead(r, "Consent", pat.ID, pat.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	// Who recorded an entry (a staff key or user, a care-team member) is
	// staff's to know: to the patient those are other people's internal
	// ids. The patient still sees its own entries as its own.
	p := principalOf(r)
	out := make([]consentJSON, 0, len(entries))
	for _, e := range entries {
		j := consentJSON{ID: e.ID, Channel: e.Channel, Action: e.Action, Source: e.Source, Keyword: e.Keyword,
			MemberID: e.MemberID, Actor: e.Actor, RecordedAt: e.RecordedAt}
		if p.Role == auth.RolePatient {
			j.MemberID = ""
			if j.Actor != p.ID {
				j.Actor = ""
			}
		}
		out = append(out, j)
	}
	resp := map[string]any{"consent": out, "smsOptedOut": optedOut}
	if more {
		resp["next"] = strconv.FormatInt(entries[len(entries)-1].ID, 10)
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
}

// handleRecordConsent records an opt-out or opt-in of the patient's number
// (sms) or email address, as told to staff: {"channel": "sms"|"email",
// "action": "opt_out"|"opt_in"}. Staff only, like other patient changes.
// 204 when recorded; 409 for an SMS opt-in of a number that texted STOP
// (only START from the phone re-subscribes it).
func (s *server) handleRecordConsent(w http.ResponseWriter, r *http.Request) {
	pat, err := s.writablePatient(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.attempting(r, audit.ActionCreate, "Consent", "*", pat.ID)
	var in struct {
		Channel string `json:"channel"`
		Action  string `json:"action"`
	}
	if err := httpx.Decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	var address string
	switch in.Channel {
	case "sms":
		if address = pat.Phone.Reveal(); address == "" {
			s.fail(w, r, errs.Invalid("channel", "the patient has no phone number"))
			return
		}
	case "email":
		if address = pat.Email.Reveal(); address == "" {
			s.fail(w, r, errs.Invalid("channel", "the patient has no email address"))
			return
		}
	default:
		s.fail(w, r, errs.Invalid("channel", "must be sms or email"))
		return
	}
	if in.Action != store.ConsentOptOut && in.Action != store.ConsentOptIn {
		s.fail(w, r, errs.Invalid("action", "must be opt_out or opt_in"))
		return
	}
	err = s.Store.RecordConsent(r.Context(), store.ConsentInput{
		OrgID: pat.OrgID, PatientID: pat.ID, Channel: in.Channel, Address: address, Action: in.Action,
		Source: store.ConsentSourceAPI, Actor: actor(r),
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
