package api

// An internal test: it mounts escalationRoutes on a mux of its own, so it
// does not depend on routes.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	platformdb "github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/phi"
	"github.com/medplatform/medplatform/internal/platform/ratelimit"
)

// escHarness serves the escalation routes on a real database with org A
// (patients own and unlinked, a caregiver linked to own) and org B.
type escHarness struct {
	t               *testing.T
	ctx             context.Context
	st              *store.Store
	al              *audit.Log
	h               http.Handler
	now             time.Time
	orgA            string
	own, unlinked   string // patients of org A
	caregiver       string // member linked to own
	keys            map[string]string
	adminB          string
	actorA          adherence.Actor
	ownPlan, unPlan string
	acked           []int // levels told to OnEscalationAcknowledged
}

func newEscHarness(t *testing.T, d *platformdb.DB) *escHarness {
	t.Helper()
	e := &escHarness{t: t, ctx: context.Background(), now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), keys: map[string]string{}}
	clock := func() time.Time { return e.now }
	e.al = audit.New(d, clock, nil)
	e.st = store.New(d, e.al, clock)
	authn, err := auth.NewAuthenticator(e.st, nil, ratelimit.NewMemory(clock), clock)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{Deps: Deps{Store: e.st, Audit: e.al, Auth: authn, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clock,
		OnEscalationAcknowledged: func(level int) { e.acked = append(e.acked, level) }}}
	mux := httpx.NewMux()
	s.escalationRoutes(mux)
	e.h = mux

	var adminA string
	e.orgA, adminA = e.org("Org A")
	_, e.adminB = e.org("Org B")
	e.actorA = adherence.Actor{ID: "test", Role: "admin", OrgID: e.orgA}
	patient := func() (string, string) {
		p := adherence.Patient{OrgID: e.orgA, GivenName: phi.New("P"), TimeZone: "America/New_York", Language: "en"}
		if err := e.st.CreatePatient(e.ctx, e.actorA, &p); err != nil {
			t.Fatal(err)
		}
		pl := adherence.Plan{OrgID: e.orgA, PatientID: p.ID, Medication: adherence.Medication{RxNorm: "314076", Display: "lisinopril"},
			Timing: schedule.Timing{Repeat: &schedule.Repeat{TimeOfDay: []string{"08:00:00"}}}}
		if err := e.st.CreatePlan(e.ctx, e.actorA, &pl); err != nil {
			t.Fatal(err)
		}
		return p.ID, pl.ID
	}
	e.own, e.ownPlan = patient()
	e.unlinked, e.unPlan = patient()
	member := func(kind adherence.MemberKind) string {
		m := adherence.Member{OrgID: e.orgA, Kind: kind, Name: phi.New("M")}
		if err := e.st.CreateMember(e.ctx, e.actorA, &m); err != nil {
			t.Fatal(err)
		}
		if err := e.st.LinkMember(e.ctx, e.actorA, e.orgA, adherence.Link{PatientID: e.own, MemberID: m.ID}); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	e.caregiver = member(adherence.MemberCaregiver)
	clinician := member(adherence.MemberClinician)
	e.keys = map[string]string{
		"admin":       adminA,
		"clinician":   e.key(auth.RoleClinician, clinician),
		"caregiver":   e.key(auth.RoleCaregiver, e.caregiver),
		"patient":     e.key(auth.RolePatient, e.own),
		"integration": e.key(auth.RoleIntegration, ""),
	}
	return e
}

func (e *escHarness) org(name string) (string, string) {
	e.t.Helper()
	plain, id, hash, err := auth.NewAPIKey()
	if err != nil {
		e.t.Fatal(err)
	}
	o, err := e.st.Bootstrap(e.ctx, name, adherence.APIKey{ID: id, Role: "admin", Hash: hash, CreatedAt: e.now, CreatedBy: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	return o.ID, plain
}

func (e *escHarness) key(role auth.Role, subject string) string {
	e.t.Helper()
	plain, id, hash, err := auth.NewAPIKey()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.CreateAPIKey(e.ctx, e.actorA, adherence.APIKey{ID: id, OrgID: e.orgA, Role: string(role), Subject: subject,
		Hash: hash, CreatedAt: e.now, CreatedBy: "test"}); err != nil {
		e.t.Fatal(err)
	}
	return plain
}

// do performs a request and fails unless it answers want; it returns the
// decoded JSON object (nil when there is no body).
func (e *escHarness) do(method, path, token string, body any, want int) map[string]any {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != want {
		e.t.Fatalf("%s %s = %d, want %d: %s", method, path, rec.Code, want, rec.Body.String())
	}
	if rec.Body.Len() == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		e.t.Fatalf("%s %s: not a JSON object: %s", method, path, rec.Body.String())
	}
	return m
}

// TestWebhookAllowHTTP: WEBHOOK_ALLOW_HTTP=true is documented to let
// escalation policies post to http:// URLs, but the policy validation
// refused every http URL whatever the setting, so no such policy could be
// saved. Without the setting http stays refused, naming the field.
func TestWebhookAllowHTTP(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *platformdb.DB) {
		e := newEscHarness(t, d)
		admin := e.keys["admin"]
		body := map[string]any{
			"name":    "Hook",
			"trigger": map[string]any{"kind": "missed_dose"},
			"levels":  []any{map[string]any{"afterMinutes": 0, "recipients": "webhook", "url": "http://care.internal:8080/hook"}},
		}
		if p := e.do("POST", "/v1/escalation-policies", admin, body, 400); p["field"] != "levels[0].url" {
			t.Fatalf("http without WEBHOOK_ALLOW_HTTP: %v", p)
		}

		clock := func() time.Time { return e.now }
		authn, err := auth.NewAuthenticator(e.st, nil, ratelimit.NewMemory(clock), clock)
		if err != nil {
			t.Fatal(err)
		}
		s := &server{Deps: Deps{Store: e.st, Audit: e.al, Auth: authn, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clock,
			WebhookAllowHTTP: true}}
		mux := httpx.NewMux()
		s.escalationRoutes(mux)
		e.h = mux
		created := e.do("POST", "/v1/escalation-policies", admin, body, 201)
		if url := created["levels"].([]any)[0].(map[string]any)["url"]; url != "http://care.internal:8080/hook" {
			t.Fatalf("created = %v", created)
		}
		body["name"] = "Hook 2"
		e.do("PUT", "/v1/escalation-policies/"+created["id"].(string), admin, body, 200)
		body["levels"] = []any{map[string]any{"afterMinutes": 0, "recipients": "webhook", "url": "ftp://care.internal/hook"}}
		e.do("POST", "/v1/escalation-policies", admin, body, 400)
	})
}

// TestWebhookLevelNeedsTheChannel: without WEBHOOK_SECRET the webhook
// channel is off, and a policy with a webhook level, which would page
// nobody, is refused naming the level; levels of other recipients are
// still taken.
func TestWebhookLevelNeedsTheChannel(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *platformdb.DB) {
		e := newEscHarness(t, d)
		admin := e.keys["admin"]
		clock := func() time.Time { return e.now }
		authn, err := auth.NewAuthenticator(e.st, nil, ratelimit.NewMemory(clock), clock)
		if err != nil {
			t.Fatal(err)
		}
		s := &server{Deps: Deps{Store: e.st, Audit: e.al, Auth: authn, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clock,
			WebhookOff: true}}
		mux := httpx.NewMux()
		s.escalationRoutes(mux)
		e.h = mux
		body := map[string]any{
			"name":    "Hook",
			"trigger": map[string]any{"kind": "missed_dose"},
			"levels": []any{
				map[string]any{"afterMinutes": 30, "recipients": "caregivers", "channels": []string{"sms"}},
				map[string]any{"afterMinutes": 60, "recipients": "webhook", "url": "https://hooks.example.org/esc"},
			},
		}
		if p := e.do("POST", "/v1/escalation-policies", admin, body, 400); p["field"] != "levels[1].recipients" {
			t.Fatalf("webhook level with the channel off: %v", p)
		}
		if got := e.do("GET", "/v1/escalation-policies", admin, nil, 200); len(got["policies"].([]any)) != 0 {
			t.Fatalf("policies stored after the refusal: %v", got)
		}
		body["levels"] = body["levels"].([]any)[:1]
		created := e.do("POST", "/v1/escalation-policies", admin, body, 201)
		body["levels"] = []any{map[string]any{"afterMinutes": 60, "recipients": "webhook", "url": "https://hooks.example.org/esc"}}
		if p := e.do("PUT", "/v1/escalation-policies/"+created["id"].(string), admin, body, 400); p["field"] != "levels[0].recipients" {
			t.Fatalf("update to a webhook level with the channel off: %v", p)
		}
	})
}

func TestEscalationPolicyAPI(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *platformdb.DB) {
		e := newEscHarness(t, d)
		admin := e.keys["admin"]
		body := map[string]any{
			"name":    "Three misses in three days",
			"trigger": map[string]any{"kind": "missed_count", "count": 3, "windowMinutes": 4320},
			"levels": []any{
				map[string]any{"afterMinutes": 30, "recipients": "caregivers", "channels": []string{"sms", "email"}},
				map[string]any{"afterMinutes": 120, "recipients": "webhook", "url": "https://hooks.example.org/esc", "urgent": true},
			},
		}
		for _, role := range []string{"clinician", "caregiver", "patient", "integration"} {
			e.do("POST", "/v1/escalation-policies", e.keys[role], body, 403)
		}
		e.do("POST", "/v1/escalation-policies", "", body, 401)

		bad := []struct {
			change func(b map[string]any)
			field  string
		}{
			{func(b map[string]any) {
				b["trigger"] = map[string]any{"kind": "missed_count", "count": 3, "windowMinutes": 30}
			}, "trigger.windowMinutes"},
			{func(b map[string]any) {
				b["trigger"] = map[string]any{"kind": "missed_count", "count": 3, "windowMinutes": 1 << 62}
			}, "trigger.windowMinutes"},
			{func(b map[string]any) {
				b["levels"] = []any{map[string]any{"afterMinutes": 20000, "recipients": "caregivers", "channels": []string{"sms"}}}
			}, "levels[0].afterMinutes"},
			{func(b map[string]any) {
				b["levels"] = []any{map[string]any{"afterMinutes": 0, "recipients": "webhook", "url": "http://hooks.example.org/esc"}}
			}, "levels[0].url"},
			{func(b map[string]any) { b["trigger"] = map[string]any{"kind": "low_adherence", "threshold": 1.5} }, "trigger.threshold"},
			// Care-team members have no push token: a push level would page
			// nobody.
			{func(b map[string]any) {
				b["levels"] = []any{map[string]any{"afterMinutes": 0, "recipients": "caregivers", "channels": []string{"push"}}}
			}, "levels[0].channels[0]"},
			{func(b map[string]any) {
				b["levels"] = []any{map[string]any{"afterMinutes": 0, "recipients": "clinicians", "channels": []string{"email", "push"}}}
			}, "levels[0].channels[1]"},
		}
		for _, tc := range bad {
			b := map[string]any{}
			for k, v := range body {
				b[k] = v
			}
			tc.change(b)
			req := httptest.NewRequest("POST", "/v1/escalation-policies", bytes.NewReader(must(json.Marshal(b))))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+admin)
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			var p httpx.Problem
			_ = json.Unmarshal(rec.Body.Bytes(), &p)
			if rec.Code != 400 || p.Field != tc.field || rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Errorf("invalid %s: %d %s", tc.field, rec.Code, rec.Body.String())
			}
		}

		created := e.do("POST", "/v1/escalation-policies", admin, body, 201)
		id := created["id"].(string)
		levels := created["levels"].([]any)
		trigger := created["trigger"].(map[string]any)
		if created["active"] != true || trigger["windowMinutes"].(float64) != 4320 || trigger["count"].(float64) != 3 ||
			levels[0].(map[string]any)["afterMinutes"].(float64) != 30 || levels[1].(map[string]any)["channels"].([]any)[0] != "webhook" {
			t.Fatalf("created = %v", created)
		}
		list := e.do("GET", "/v1/escalation-policies", e.keys["clinician"], nil, 200)["policies"].([]any)
		if len(list) != 1 {
			t.Fatalf("policies = %v", list)
		}
		e.do("GET", "/v1/escalation-policies", e.keys["caregiver"], nil, 403)
		e.do("GET", "/v1/escalation-policies/"+id, e.adminB, nil, 404)

		body["levels"] = []any{map[string]any{"afterMinutes": 45, "recipients": "clinicians", "channels": []string{"email"}}}
		body["active"] = false
		updated := e.do("PUT", "/v1/escalation-policies/"+id, admin, body, 200)
		if updated["active"] != false || updated["levels"].([]any)[0].(map[string]any)["afterMinutes"].(float64) != 45 {
			t.Fatalf("updated = %v", updated)
		}
		e.do("PUT", "/v1/escalation-policies/"+id, e.keys["clinician"], body, 403)
		e.do("PUT", "/v1/escalation-policies/"+id, e.adminB, body, 404)
		e.do("DELETE", "/v1/escalation-policies/"+id, admin, nil, 204)
		e.do("DELETE", "/v1/escalation-policies/not-an-id", admin, nil, 404)
		if got := e.do("GET", "/v1/escalation-policies/"+id, admin, nil, 200); got["active"] != false {
			t.Fatalf("after delete = %v", got)
		}
	})
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestEscalationAPI(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *platformdb.DB) {
		e := newEscHarness(t, d)
		admin, carer := e.keys["admin"], e.keys["caregiver"]
		pol := e.do("POST", "/v1/escalation-policies", admin, map[string]any{
			"name": "Any miss", "trigger": map[string]any{"kind": "missed_dose"},
			"levels": []any{map[string]any{"afterMinutes": 30, "recipients": "caregivers", "channels": []string{"sms"}}},
		}, 201)
		// The 08:00 doses of 2026-03-02 (New York) are missed at 11:00.
		e.now = time.Date(2026, 3, 2, 16, 1, 0, 0, time.UTC)
		if _, err := e.st.MarkMissed(e.ctx, e.now); err != nil {
			t.Fatal(err)
		}
		if res, err := e.st.ConsumeOutbox(e.ctx, e.now, 0); err != nil || res.Opened != 2 {
			t.Fatalf("consume = %+v, %v", res, err)
		}

		all := e.do("GET", "/v1/escalations", admin, nil, 200)["escalations"].([]any)
		if len(all) != 2 {
			t.Fatalf("escalations = %v", all)
		}
		byPatient := map[string]string{}
		for _, x := range all {
			m := x.(map[string]any)
			byPatient[m["patientId"].(string)] = m["id"].(string)
			if m["status"] != "open" || m["policyId"] != pol["id"] || m["openedAt"] == nil {
				t.Fatalf("escalation = %v", m)
			}
		}
		ownEsc, unEsc := byPatient[e.own], byPatient[e.unlinked]

		page := e.do("GET", "/v1/escalations?limit=1", admin, nil, 200)
		if len(page["escalations"].([]any)) != 1 || page["next"] == nil {
			t.Fatalf("page 1 = %v", page)
		}
		page = e.do("GET", "/v1/escalations?limit=1&before="+page["next"].(string), admin, nil, 200)
		if len(page["escalations"].([]any)) != 1 || page["next"] != nil {
			t.Fatalf("page 2 (the last, full) = %v, want one escalation and no next", page)
		}
		e.do("GET", "/v1/escalations?status=closed", admin, nil, 400)
		// A patient filter that is no patient id is a 400 naming it, as on
		// the audit trail (it was a 404 without a field), for a role that
		// may not read escalations too (its text is not audited).
		if got := e.do("GET", "/v1/escalations?patient=bogus", admin, nil, 400); got["field"] != "patient" {
			t.Errorf("patient=bogus = %v, want 400 naming patient", got)
		}
		e.do("GET", "/v1/escalations?patient=%0Abogus", e.keys["patient"], nil, 400)
		e.do("GET", "/v1/escalations?limit=0", admin, nil, 400)
		if got := e.do("GET", "/v1/escalations?patient="+e.own+"&status=open", e.keys["clinician"], nil, 200)["escalations"].([]any); len(got) != 1 {
			t.Fatalf("clinician, patient own = %v", got)
		}

		// Caregivers see the escalations of their linked patients only.
		mine := e.do("GET", "/v1/escalations", carer, nil, 200)["escalations"].([]any)
		if len(mine) != 1 || mine[0].(map[string]any)["id"] != ownEsc {
			t.Fatalf("caregiver's escalations = %v", mine)
		}
		e.do("GET", "/v1/escalations?patient="+e.unlinked, carer, nil, 404)
		e.do("GET", "/v1/escalations/"+unEsc, carer, nil, 404)
		e.do("POST", "/v1/escalations/"+unEsc+"/acknowledge", carer, nil, 404)
		for _, role := range []string{"patient", "integration"} {
			e.do("GET", "/v1/escalations", e.keys[role], nil, 403)
			e.do("GET", "/v1/escalations/"+ownEsc, e.keys[role], nil, 403)
		}
		e.do("GET", "/v1/escalations/"+ownEsc, e.adminB, nil, 404)
		e.do("POST", "/v1/escalations/"+ownEsc+"/acknowledge", e.adminB, nil, 404)

		got := e.do("GET", "/v1/escalations/"+ownEsc, carer, nil, 200)
		steps := got["steps"].([]any)
		if len(steps) != 1 || steps[0].(map[string]any)["status"] != "pending" || len(got["notificationIds"].([]any)) != 0 {
			t.Fatalf("escalation detail = %v", got)
		}

		e.now = e.now.Add(10 * time.Minute)
		// A body with a field is refused, and acknowledges nothing (it
		// was ignored and the escalation acknowledged).
		e.do("POST", "/v1/escalations/"+ownEsc+"/acknowledge", carer, map[string]any{"note": "on my way"}, 400)
		if got := e.do("GET", "/v1/escalations/"+ownEsc, carer, nil, 200); got["status"] != "open" {
			t.Fatalf("escalation after a refused acknowledgement = %v, want still open", got["status"])
		}
		acked := e.do("POST", "/v1/escalations/"+ownEsc+"/acknowledge", carer, map[string]any{}, 200)
		if acked["status"] != "acknowledged" || acked["closedBy"] != e.caregiver || acked["reason"] != "acknowledged" ||
			acked["steps"].([]any)[0].(map[string]any)["status"] != "cancelled" {
			t.Fatalf("acknowledged = %v", acked)
		}
		again := e.do("POST", "/v1/escalations/"+ownEsc+"/acknowledge", admin, nil, 200)
		if again["closedBy"] != e.caregiver || again["closedAt"] != acked["closedAt"] {
			t.Fatalf("acknowledged twice = %v", again)
		}
		// The second acknowledgement is an attempted change that changed
		// nothing, audited as one (it was audited as a read).
		var unchanged int
		if err := d.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'Escalation' AND resource_id = $1
			AND action = 'U' AND outcome = 0 AND actor_role = 'admin' AND detail = 'status=acknowledged unchanged'`, ownEsc).Scan(&unchanged); err != nil {
			t.Fatal(err)
		}
		if unchanged != 1 {
			t.Errorf("acknowledging an acknowledged escalation: %d unchanged-update records, want 1", unchanged)
		}

		// Deactivating the policy resolves the other one: it can no longer
		// be acknowledged.
		e.do("DELETE", "/v1/escalation-policies/"+pol["id"].(string), admin, nil, 204)
		e.do("POST", "/v1/escalations/"+unEsc+"/acknowledge", e.keys["clinician"], nil, 409)
		// The refused acknowledgement is a failed change of the
		// escalation, audited on its patient (it was not).
		var refused int
		if err := d.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'Escalation' AND resource_id = $1
			AND action = 'U' AND outcome = 4 AND actor_role = 'clinician' AND patient_id IS NOT NULL AND patient_id <> ''`, unEsc).Scan(&refused); err != nil {
			t.Fatal(err)
		}
		if refused != 1 {
			t.Errorf("acknowledging a resolved escalation: %d failed-attempt records, want 1", refused)
		}

		// Reads were audited per patient.
		recs, err := e.al.List(e.ctx, audit.Filter{OrgID: e.orgA, PatientID: e.own, Limit: audit.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		reads := 0
		for _, r := range recs {
			if r.ResourceType == "Escalation" && r.Action == audit.ActionRead && r.Outcome == audit.OutcomeSuccess {
				reads++
			}
		}
		if reads < 4 {
			t.Errorf("%d successful escalation reads audited for the patient, want at least 4", reads)
		}
	})
}

// TestEscalationAPIAcknowledgeExhaustedIsCounted: acknowledging an
// exhausted escalation closes it as acknowledging an open one does, and is
// counted (adherence_escalations_total{outcome="acknowledged"}) as such;
// acknowledging it again is not.
func TestEscalationAPIAcknowledgeExhaustedIsCounted(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *platformdb.DB) {
		e := newEscHarness(t, d)
		admin := e.keys["admin"]
		e.do("POST", "/v1/escalation-policies", admin, map[string]any{
			"name": "Any miss", "trigger": map[string]any{"kind": "missed_dose"},
			"levels": []any{map[string]any{"afterMinutes": 30, "recipients": "caregivers", "channels": []string{"sms"}}},
		}, 201)
		miss := func(day int) {
			e.now = time.Date(2026, 3, day, 16, 1, 0, 0, time.UTC)
			if _, err := e.st.MarkMissed(e.ctx, e.now); err != nil {
				t.Fatal(err)
			}
			if _, err := e.st.ConsumeOutbox(e.ctx, e.now, 0); err != nil {
				t.Fatal(err)
			}
		}
		miss(2)
		first, err := e.st.ListEscalations(e.ctx, e.orgA, store.EscalationFilter{PatientID: e.own})
		if err != nil || len(first) != 1 {
			t.Fatalf("escalations = %v, %v", first, err)
		}
		got, err := e.st.GetEscalation(e.ctx, e.orgA, first[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := e.st.FireStep(e.ctx, got.Steps[0].ID, got.Steps[0].DueAt); err != nil || !res.Fired || !res.Exhausted {
			t.Fatalf("fire = %+v, %v", res, err)
		}
		miss(3)
		if got := e.do("GET", "/v1/escalations/"+first[0].ID, admin, nil, 200); got["status"] != "exhausted" {
			t.Fatalf("first escalation after the next miss = %v", got)
		}
		acked := e.do("POST", "/v1/escalations/"+first[0].ID+"/acknowledge", admin, nil, 200)
		if acked["status"] != "acknowledged" {
			t.Fatalf("acknowledged = %v", acked)
		}
		e.do("POST", "/v1/escalations/"+first[0].ID+"/acknowledge", admin, nil, 200)
		if len(e.acked) != 1 || e.acked[0] != 1 {
			t.Fatalf("acknowledgements counted: %v, want one at level 1", e.acked)
		}
	})
}

// TestRefusedEscalationAccessIsAudited: an escalation says that a patient
// missed doses, so a refused attempt on one — a role that may not read
// escalations (403), another organization's escalation (404) — is audited
// as a failed access on the escalation, without naming the patient.
func TestRefusedEscalationAccessIsAudited(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *platformdb.DB) {
		e := newEscHarness(t, d)
		admin := e.keys["admin"]
		e.do("POST", "/v1/escalation-policies", admin, map[string]any{
			"name": "Any miss", "trigger": map[string]any{"kind": "missed_dose"},
			"levels": []any{map[string]any{"afterMinutes": 30, "recipients": "caregivers", "channels": []string{"sms"}}},
		}, 201)
		e.now = time.Date(2026, 3, 2, 16, 1, 0, 0, time.UTC)
		if _, err := e.st.MarkMissed(e.ctx, e.now); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.ConsumeOutbox(e.ctx, e.now, 0); err != nil {
			t.Fatal(err)
		}
		list := e.do("GET", "/v1/escalations?patient="+e.own, admin, nil, 200)["escalations"].([]any)
		if len(list) != 1 {
			t.Fatalf("escalations of own = %v", list)
		}
		esc := list[0].(map[string]any)["id"].(string)
		for _, c := range []struct {
			method, suffix, token, role, action string
			status                              int
		}{
			{"GET", "", e.keys["patient"], "patient", "R", 403},
			{"POST", "/acknowledge", e.keys["integration"], "integration", "U", 403},
			{"GET", "", e.adminB, "admin", "R", 404},
			{"POST", "/acknowledge", e.adminB, "admin", "U", 404},
		} {
			e.do(c.method, "/v1/escalations/"+esc+c.suffix, c.token, nil, c.status)
			var n int
			err := d.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'Escalation' AND resource_id = $1
				AND outcome = 4 AND actor_role = $2 AND action = $3 AND COALESCE(patient_id, '') = ''`, esc, c.role, c.action).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%s escalation%s by %s refused: %d failed-access audit records, want 1", c.method, c.suffix, c.role, n)
			}
		}
	})
}

// TestEscalationListsAreAuditedPerPatient: the org-wide list and the
// per-patient list of escalations read PHI (that a patient missed doses)
// and write one successful read record per patient they answer about. The
// per-patient list is a read of that patient's record even when it holds
// no escalation, as every other per-patient list is; it wrote none.
func TestEscalationListsAreAuditedPerPatient(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *platformdb.DB) {
		e := newEscHarness(t, d)
		admin := e.keys["admin"]
		// reads counts the successful escalation reads audited for patient.
		reads := func(patient string) int {
			t.Helper()
			var n int
			if err := d.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'Escalation' AND action = 'R'
				AND outcome = 0 AND patient_id = $1`, patient).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}

		// No escalation yet: the per-patient list is still a read of the
		// patient's record.
		if got := e.do("GET", "/v1/escalations?patient="+e.own, admin, nil, 200)["escalations"].([]any); len(got) != 0 {
			t.Fatalf("escalations before any miss = %v", got)
		}
		if n := reads(e.own); n != 1 {
			t.Errorf("empty per-patient list: %d read records for the patient, want 1", n)
		}

		e.do("POST", "/v1/escalation-policies", admin, map[string]any{
			"name": "Any miss", "trigger": map[string]any{"kind": "missed_dose"},
			"levels": []any{map[string]any{"afterMinutes": 30, "recipients": "caregivers", "channels": []string{"sms"}}},
		}, 201)
		e.now = time.Date(2026, 3, 2, 16, 1, 0, 0, time.UTC)
		if _, err := e.st.MarkMissed(e.ctx, e.now); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.ConsumeOutbox(e.ctx, e.now, 0); err != nil {
			t.Fatal(err)
		}

		// Org-wide: one record for each patient listed.
		if got := e.do("GET", "/v1/escalations", admin, nil, 200)["escalations"].([]any); len(got) != 2 {
			t.Fatalf("org-wide escalations = %v", got)
		}
		if n, m := reads(e.own), reads(e.unlinked); n != 2 || m != 1 {
			t.Errorf("org-wide list: %d and %d read records for the two patients, want 2 and 1", n, m)
		}
		// Per patient: one record for that patient only.
		if got := e.do("GET", "/v1/escalations?patient="+e.unlinked, admin, nil, 200)["escalations"].([]any); len(got) != 1 {
			t.Fatalf("escalations of unlinked = %v", got)
		}
		if n, m := reads(e.own), reads(e.unlinked); n != 2 || m != 2 {
			t.Errorf("per-patient list: %d and %d read records for the two patients, want 2 and 2", n, m)
		}
	})
}

// TestUnlinkedCaregiverEscalationAttemptIsAudited: a caregiver of the
// organization not linked to the escalation's patient is refused (404) and
// the attempt is audited on the escalation, naming its patient, with the
// action attempted: an acknowledgement as a failed change (U), a read as a
// failed read. The acknowledgement was recorded as a read of the patient.
func TestUnlinkedCaregiverEscalationAttemptIsAudited(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *platformdb.DB) {
		e := newEscHarness(t, d)
		admin := e.keys["admin"]
		e.do("POST", "/v1/escalation-policies", admin, map[string]any{
			"name": "Any miss", "trigger": map[string]any{"kind": "missed_dose"},
			"levels": []any{map[string]any{"afterMinutes": 30, "recipients": "caregivers", "channels": []string{"sms"}}},
		}, 201)
		e.now = time.Date(2026, 3, 2, 16, 1, 0, 0, time.UTC)
		if _, err := e.st.MarkMissed(e.ctx, e.now); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.ConsumeOutbox(e.ctx, e.now, 0); err != nil {
			t.Fatal(err)
		}
		list := e.do("GET", "/v1/escalations?patient="+e.unlinked, admin, nil, 200)["escalations"].([]any)
		if len(list) != 1 {
			t.Fatalf("escalations of unlinked = %v", list)
		}
		esc := list[0].(map[string]any)["id"].(string)
		count := func(resourceType, resourceID, action string) int {
			t.Helper()
			var n int
			if err := d.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = $1 AND resource_id = $2
				AND action = $3 AND outcome = 4 AND actor_role = 'caregiver' AND patient_id = $4`,
				resourceType, resourceID, action, e.unlinked).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, c := range []struct{ method, suffix, action string }{
			{"POST", "/acknowledge", "U"},
			{"GET", "", "R"},
		} {
			e.do(c.method, "/v1/escalations/"+esc+c.suffix, e.keys["caregiver"], nil, 404)
			if n := count("Escalation", esc, c.action); n != 1 {
				t.Errorf("%s escalation%s by an unlinked caregiver: %d failed %s records on the escalation, want 1", c.method, c.suffix, n, c.action)
			}
		}
		if n := count("Patient", e.unlinked, "R"); n != 0 {
			t.Errorf("%d failed reads of the patient recorded, want 0: the attempts were on the escalation", n)
		}
		if got := e.do("GET", "/v1/escalations/"+esc, admin, nil, 200); got["status"] != "open" {
			t.Errorf("escalation after the refused acknowledgement: %v", got)
		}
	})
}

// TestPatientNotificationsHideCareTeamMembers: a patient reading its own
// notification history sees the escalation messages sent about it, but
// not the ids of the care-team members they went to (internal ids of
// other people); staff see them. The patient was shown every memberId.
func TestPatientNotificationsHideCareTeamMembers(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *platformdb.DB) {
		e := newEscHarness(t, d)
		admin := e.keys["admin"]
		e.do("POST", "/v1/escalation-policies", admin, map[string]any{
			"name": "Any miss", "trigger": map[string]any{"kind": "missed_dose"},
			"levels": []any{map[string]any{"afterMinutes": 30, "recipients": "caregivers", "channels": []string{"sms"}}},
		}, 201)
		e.now = time.Date(2026, 3, 2, 16, 1, 0, 0, time.UTC)
		if _, err := e.st.MarkMissed(e.ctx, e.now); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.ConsumeOutbox(e.ctx, e.now, 0); err != nil {
			t.Fatal(err)
		}
		list, err := e.st.ListEscalations(e.ctx, e.orgA, store.EscalationFilter{PatientID: e.own})
		if err != nil || len(list) != 1 {
			t.Fatalf("escalations = %v, %v", list, err)
		}
		esc, err := e.st.GetEscalation(e.ctx, e.orgA, list[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := e.st.FireStep(e.ctx, esc.Steps[0].ID, esc.Steps[0].DueAt); err != nil || res.Recipients != 1 {
			t.Fatalf("fire = %+v, %v", res, err)
		}

		clock := func() time.Time { return e.now }
		authn, err := auth.NewAuthenticator(e.st, nil, ratelimit.NewMemory(clock), clock)
		if err != nil {
			t.Fatal(err)
		}
		s := &server{Deps: Deps{Store: e.st, Audit: e.al, Auth: authn, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clock}}
		mux := httpx.NewMux()
		s.notificationRoutes(mux)
		e.h = mux
		escalationItems := func(role string) []map[string]any {
			t.Helper()
			var out []map[string]any
			for _, x := range e.do("GET", "/v1/patients/"+e.own+"/notifications", e.keys[role], nil, 200)["items"].([]any) {
				if n := x.(map[string]any); n["kind"] == store.KindEscalation {
					out = append(out, n)
				}
			}
			if len(out) != 1 {
				t.Fatalf("escalation notifications read by %s = %v, want 1", role, out)
			}
			return out
		}
		for _, role := range []string{"admin", "clinician"} {
			if got := escalationItems(role)[0]; got["memberId"] != e.caregiver || got["escalationId"] != esc.ID {
				t.Errorf("%s reads the notification as %v, want memberId %s", role, got, e.caregiver)
			}
		}
		got := escalationItems("patient")[0]
		if _, ok := got["memberId"]; ok {
			t.Errorf("the patient reads the notification as %v: it names the care-team member", got)
		}
		if got["escalationId"] != esc.ID || got["status"] == nil {
			t.Errorf("the patient reads the notification as %v, want its escalation and status", got)
		}
	})
}
