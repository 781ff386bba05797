package api

import (
	"context"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/httpx"
)

type apiKeyJSON struct {
	ID        string     `json:"id"`
	Name      string     `json:"name,omitempty"`
	Role      string     `json:"role"`
	Subject   string     `json:"subject,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	// LastUsedAt is when the key last authenticated a request (to the
	// minute); absent if never.
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	// Key is the bearer token, present only in the creation response.
	Key string `json:"key,omitempty"`
}

func keyOut(k adherence.APIKey) apiKeyJSON {
	return apiKeyJSON{ID: k.ID, Name: k.Name, Role: k.Role, Subject: k.Subject, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, LastUsedAt: k.LastUsedAt}
}

// handleCreateAPIKey issues a key. The plaintext is in this response only;
// the server keeps a hash. Patient keys name the patient (subject), and
// clinician and caregiver keys the member they act as.
func (s *server) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, auth.RoleAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	var in struct {
		Name      string         `json:"name"`
		Role      string         `json:"role"`
		Subject   string         `json:"subject"`
		ExpiresAt *httpx.Instant `json:"expiresAt"` // strictly RFC 3339, as occurredAt
	}
	if err := httpx.Decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	role, err := auth.ParseRole(in.Role)
	if err != nil {
		s.fail(w, r, errs.Invalid("role", "must be one of admin, clinician, caregiver, patient, integration"))
		return
	}
	// Trimmed, as every name of the API is (a pasted line break at its end).
	in.Name = strings.TrimSpace(in.Name)
	if utf8.RuneCountInString(in.Name) > 100 {
		s.fail(w, r, errs.Invalid("name", "must be at most 100 characters"))
		return
	}
	if adherence.HasControl(in.Name) {
		s.fail(w, r, errs.Invalid("name", controlChars))
		return
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(s.Now()) {
		s.fail(w, r, errs.Invalid("expiresAt", "must be in the future"))
		return
	}
	if in.ExpiresAt != nil {
		if err := instantInRange("expiresAt", in.ExpiresAt.Time); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	ctx := r.Context()
	switch role {
	case auth.RolePatient:
		if in.Subject == "" {
			s.fail(w, r, errs.Invalid("subject", "a patient key must name the patient id"))
			return
		}
		if _, err := s.Store.GetPatient(ctx, p.OrgID, in.Subject); err != nil {
			s.fail(w, r, errs.PrefixField(notFoundAsInvalid(err, "no such patient in this organization"), "subject"))
			return
		}
	case auth.RoleClinician, auth.RoleCaregiver:
		if in.Subject == "" {
			s.fail(w, r, errs.Invalid("subject", "a %s key must name the member id it acts as", role))
			return
		}
		m, err := s.Store.GetMember(ctx, p.OrgID, in.Subject)
		if err != nil {
			s.fail(w, r, errs.PrefixField(notFoundAsInvalid(err, "no such member in this organization"), "subject"))
			return
		}
		if string(m.Kind) != string(role) {
			s.fail(w, r, errs.Invalid("subject", "member is a %s, not a %s", m.Kind, role))
			return
		}
	default:
		if in.Subject != "" {
			s.fail(w, r, errs.Invalid("subject", "only patient, clinician and caregiver keys have a subject"))
			return
		}
	}
	plaintext, keyID, hash, err := auth.NewAPIKey()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The answer states the key as stored and listed (UTC, microseconds),
	// not the clock's nanoseconds or the expiry's offset as sent.
	var expiresAt *time.Time
	if in.ExpiresAt != nil {
		t := db(in.ExpiresAt.Time)
		expiresAt = &t
	}
	k := adherence.APIKey{ID: keyID, OrgID: p.OrgID, Role: string(role), Subject: in.Subject, Name: in.Name, Hash: hash,
		CreatedAt: db(s.Now()), CreatedBy: p.ID, ExpiresAt: expiresAt}
	if err := s.Store.CreateAPIKey(ctx, actor(r), k); err != nil {
		s.fail(w, r, err)
		return
	}
	out := keyOut(k)
	out.Key = plaintext
	httpx.WriteJSON(w, http.StatusCreated, out)
}

func notFoundAsInvalid(err error, msg string) error {
	if errs.Is(err, errs.CodeNotFound) {
		return errs.Invalid("", "%s", msg)
	}
	return err
}

func (s *server) handleListAPIKeys(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, auth.RoleAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	page, err := queryLimit(q, 100, store.PageMax)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	keys, err := s.Store.ListAPIKeys(r.Context(), p.OrgID, q.Get("after"), page+1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	keys, more := firstPage(keys, page)
	out := make([]apiKeyJSON, 0, len(keys))
	for _, k := range keys {
		out = append(out, keyOut(k))
	}
	resp := map[string]any{"keys": out}
	if more {
		resp["next"] = keys[len(keys)-1].ID
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
}

// handleRevokeAPIKey revokes a key of the caller's org. The store refuses
// (409) to revoke the org's last active admin key, the caller's own
// included: no one could issue keys for the org afterwards.
func (s *server) handleRevokeAPIKey(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, auth.RoleAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	if err := s.Store.RevokeAPIKey(r.Context(), actor(r), p.OrgID, id); err != nil {
		s.fail(w, r, err)
		return
	}
	// The key is refused from now on by this process, whatever its cache
	// remembered; the other API processes when they hear of it
	// (OnKeyRevoked), at the latest within API_KEY_CACHE_TTL.
	s.Auth.ForgetAPIKey(id)
	if s.OnKeyRevoked != nil {
		// Told even if the client has gone: the key is revoked.
		s.OnKeyRevoked(context.WithoutCancel(r.Context()), id)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) handleCreateMember(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, auth.RoleAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	var in memberInput
	if err := httpx.Decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := in.member()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	m.OrgID = p.OrgID
	if err := s.Store.CreateMember(r.Context(), actor(r), &m); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/members/"+m.ID)
	httpx.WriteJSON(w, http.StatusCreated, memberOut(m))
}

func (s *server) handleListMembers(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, staff...); err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	page, err := queryLimit(q, 100, store.PageMax)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ms, err := s.Store.ListMembers(r.Context(), p.OrgID, q.Get("after"), page+1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ms, more := firstPage(ms, page)
	if err := s.auditRead(r, "Member", "*", ""); err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]memberJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, memberOut(m))
	}
	resp := map[string]any{"members": out}
	if more {
		resp["next"] = ms[len(ms)-1].ID
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
}

func (s *server) handleGetMember(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, staff...); err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.Store.GetMember(r.Context(), p.OrgID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.auditRead(r, "Member", m.ID, ""); err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, memberOut(m))
}

func (s *server) handleUpdateMember(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if err := auth.Require(p, auth.RoleAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	var in memberPatch
	nulls, err := decodeWithNulls(w, r, &in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ch, err := in.change(nulls)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.Store.UpdateMember(r.Context(), actor(r), p.OrgID, r.PathValue("id"), ch)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, memberOut(m))
}

// handleSetMemberActive deactivates or reactivates a member; their API
// keys follow at once in every process (forgotten by the key caches).
func (s *server) handleSetMemberActive(active bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		if err := auth.Require(p, auth.RoleAdmin); err != nil {
			s.fail(w, r, err)
			return
		}
		if err := noBody(w, r); err != nil {
			s.fail(w, r, err)
			return
		}
		m, err := s.Store.SetMemberActive(r.Context(), actor(r), p.OrgID, r.PathValue("id"), active)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.forgetKeys(r, "member", func(ctx context.Context) ([]string, error) {
			return s.Store.MemberAPIKeyIDs(ctx, m.OrgID, m.ID)
		})
		httpx.WriteJSON(w, http.StatusOK, memberOut(m))
	}
}
