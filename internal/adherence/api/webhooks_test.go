package api

// Tests of the messaging routes. They are internal tests because the
// routes are added by messagingRoutes, which routes.go does not call yet:
// the test server registers them itself with its webhook settings.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	pdb "github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/notify"
	"github.com/medplatform/medplatform/internal/platform/notify/twilio"
	"github.com/medplatform/medplatform/internal/platform/notify/twilio/twiliotest"
	"github.com/medplatform/medplatform/internal/platform/phi"
	"github.com/medplatform/medplatform/internal/platform/ratelimit"
	"github.com/medplatform/medplatform/internal/platform/syncbuf"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

const (
	whPublicURL = "https://hooks.example.org"
	whToken     = "webhook-test-token"
	whPhone     = "+15551230001"
	whText      = "SKIP felt dizzy after lunch"
)

// whEnv is the messaging and escalation routes on a real database, with
// one org, one patient and an admin key.
type whEnv struct {
	t       *testing.T
	d       *pdb.DB
	st      *store.Store
	h       http.Handler
	logs    *syncbuf.Buffer
	now     time.Time
	org     string
	admin   string
	patient adherence.Patient
	acked   []int // levels told to OnEscalationAcknowledged
}

func newWhEnv(t *testing.T, d *pdb.DB, cfg Webhooks) *whEnv {
	t.Helper()
	e := &whEnv{t: t, d: d, now: time.Date(2026, 3, 6, 15, 0, 0, 0, time.UTC), logs: &syncbuf.Buffer{}}
	clock := func() time.Time { return e.now }
	al := audit.New(d, clock, nil)
	e.st = store.New(d, al, clock)
	authn, err := auth.NewAuthenticator(e.st, nil, ratelimit.NewMemory(clock), clock)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{Deps: Deps{Store: e.st, Audit: al, Auth: authn, Registry: prometheus.NewRegistry(),
		Logger: telemetry.NewLogger(e.logs, slog.LevelDebug), Now: clock,
		OnEscalationAcknowledged: func(level int) { e.acked = append(e.acked, level) }}}
	mux := httpx.NewMux()
	s.registerMessaging(mux, cfg)
	s.escalationRoutes(mux)
	e.h = mux
	e.org, e.admin = e.newOrg("Org A")
	e.patient = adherence.Patient{OrgID: e.org, GivenName: phi.New("Ana"), Phone: phi.New(whPhone),
		Email: phi.New("ana@example.org"), TimeZone: "America/New_York", SMSConsent: true}
	if err := e.st.CreatePatient(context.Background(), adherence.Actor{ID: "test", Role: "admin", OrgID: e.org}, &e.patient); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *whEnv) newOrg(name string) (orgID, adminKey string) {
	e.t.Helper()
	plain, id, hash, err := auth.NewAPIKey()
	if err != nil {
		e.t.Fatal(err)
	}
	o, err := e.st.Bootstrap(context.Background(), name, adherence.APIKey{ID: id, Role: "admin", Hash: hash, CreatedAt: e.now, CreatedBy: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	return o.ID, plain
}

func (e *whEnv) key(role auth.Role, subject string) string {
	e.t.Helper()
	plain, id, hash, err := auth.NewAPIKey()
	if err != nil {
		e.t.Fatal(err)
	}
	err = e.st.CreateAPIKey(context.Background(), adherence.Actor{ID: "test", Role: "admin", OrgID: e.org},
		adherence.APIKey{ID: id, OrgID: e.org, Role: string(role), Subject: subject, Hash: hash, CreatedAt: e.now, CreatedBy: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	return plain
}

func (e *whEnv) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.d.SQL.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// webhook posts form params to path, signed with token over signedURL
// (no signature header when token is empty).
func (e *whEnv) webhook(path string, params url.Values, token, signedURL string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(params.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set(twilio.SignatureHeader, twiliotest.Sign(token, signedURL, params))
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// signed posts params to path, signed as Twilio signs it.
func (e *whEnv) signed(path string, params url.Values) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.webhook(path, params, whToken, whPublicURL+path)
}

// signedWithRequestID is signed for a request that the server's
// middleware gave the id requestID.
func (e *whEnv) signedWithRequestID(path string, params url.Values, requestID string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(params.Encode()))
	req = req.WithContext(telemetry.WithRequestID(req.Context(), requestID))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twiliotest.Sign(whToken, whPublicURL+path, params))
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// auditRequestIDs are the request ids of the audit records of resourceType.
func (e *whEnv) auditRequestIDs(resourceType string) []string {
	e.t.Helper()
	rows, err := e.d.SQL.QueryContext(context.Background(), `SELECT request_id FROM audit_log WHERE resource_type = $1 ORDER BY seq`, resourceType)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return ids
}

func (e *whEnv) api(method, path, key string, body any) *httptest.ResponseRecorder {
	e.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequest(method, path, rd)
	req.RemoteAddr = "192.0.2.10:5000"
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+key)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func whInbound(sid, from, body string) url.Values {
	return url.Values{
		"MessageSid": {sid}, "SmsSid": {sid}, "AccountSid": {twiliotest.DefaultAccountSID},
		"From": {from}, "To": {twiliotest.PoolNumber}, "Body": {body}, "NumMedia": {"0"}, "ApiVersion": {"2010-04-01"},
	}
}

func whSID(n int) string { return fmt.Sprintf("SM%032x", n) }

const whSMSPath, whStatusPath = "/v1/webhooks/twilio/sms", "/v1/webhooks/twilio/status"

func TestTwilioWebhooksRefuseBadSignatures(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *pdb.DB) {
		e := newWhEnv(t, d, Webhooks{TwilioAuthToken: whToken, PublicURL: whPublicURL})
		stop := whInbound(whSID(1), whPhone, "STOP")
		status := url.Values{"MessageSid": {whSID(2)}, "MessageStatus": {"delivered"}}
		for name, c := range map[string]struct {
			path      string
			params    url.Values
			token     string
			signedURL string
		}{
			"inbound without signature":      {whSMSPath, stop, "", ""},
			"inbound with another token":     {whSMSPath, stop, "wrong-token", whPublicURL + whSMSPath},
			"inbound signed for another URL": {whSMSPath, stop, whToken, "http://internal:8080" + whSMSPath},
			"status without signature":       {whStatusPath, status, "", ""},
			"status with another token":      {whStatusPath, status, "wrong-token", whPublicURL + whStatusPath},
			"status signed for another nid":  {whStatusPath + "?nid=1", status, whToken, whPublicURL + whStatusPath + "?nid=2"},
		} {
			rec := e.webhook(c.path, c.params, c.token, c.signedURL)
			if rec.Code != http.StatusForbidden {
				t.Errorf("%s: %d, want 403: %s", name, rec.Code, rec.Body)
			}
		}
		// A tampered body: signed, then changed.
		req := httptest.NewRequest(http.MethodPost, whSMSPath, strings.NewReader(whInbound(whSID(3), whPhone, "START").Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(twilio.SignatureHeader, twiliotest.Sign(whToken, whPublicURL+whSMSPath, whInbound(whSID(3), whPhone, "STOP")))
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Errorf("tampered body: %d, want 403", rec.Code)
		}
		for _, table := range []string{"inbound_messages", "notification_status_events", "consent_ledger", "notifications"} {
			if n := e.count(`SELECT COUNT(*) FROM ` + table); n != 0 {
				t.Errorf("%s: %d rows stored from refused requests", table, n)
			}
		}

		// Without a configured token nothing is accepted, whatever it is signed with.
		off := newWhEnv(t, dbtest.SQLite(t, audit.Migrations, store.Migrations), Webhooks{PublicURL: whPublicURL})
		if rec := off.webhook(whSMSPath, stop, "", ""); rec.Code != http.StatusForbidden {
			t.Errorf("unconfigured: %d, want 403", rec.Code)
		}
		if rec := off.webhook(whSMSPath, stop, "", whPublicURL+whSMSPath); rec.Code != http.StatusForbidden {
			t.Errorf("unconfigured, signed with the empty token: %d, want 403", rec.Code)
		}
		if strings.Contains(e.logs.String(), whPhone) || strings.Contains(e.logs.String(), "STOP") {
			t.Errorf("logs hold the number or the text: %s", e.logs)
		}
	})
}

func TestTwilioWebhooksRefuseMalformedPayloads(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *pdb.DB) {
		e := newWhEnv(t, d, Webhooks{TwilioAuthToken: whToken, PublicURL: whPublicURL})
		noSid := whInbound("", whPhone, "STOP")
		noFrom := whInbound(whSID(1), "", "STOP")
		noStatus := url.Values{"MessageSid": {whSID(2)}}
		for name, c := range map[string]struct {
			path   string
			params url.Values
			want   int
		}{
			"inbound without MessageSid":   {whSMSPath, noSid, http.StatusBadRequest},
			"inbound without From":         {whSMSPath, noFrom, http.StatusBadRequest},
			"status without MessageStatus": {whStatusPath, noStatus, http.StatusBadRequest},
			"status without MessageSid":    {whStatusPath, url.Values{"MessageStatus": {"sent"}}, http.StatusBadRequest},
			// Text PostgreSQL cannot store: a 500 there (QA).
			"inbound From with a NUL":         {whSMSPath, whInbound(whSID(4), whPhone+"\x00", "TAKEN"), http.StatusBadRequest},
			"inbound To not UTF-8":            {whSMSPath, url.Values{"MessageSid": {whSID(5)}, "From": {whPhone}, "To": {"+1555\xff"}, "Body": {"TAKEN"}}, http.StatusBadRequest},
			"status MessageStatus with a NUL": {whStatusPath, url.Values{"MessageSid": {whSID(6)}, "MessageStatus": {"delivered\x00"}}, http.StatusBadRequest},
			"status ErrorCode with a NUL":     {whStatusPath, url.Values{"MessageSid": {whSID(7)}, "MessageStatus": {"failed"}, "ErrorCode": {"1\x00"}}, http.StatusBadRequest},
		} {
			if rec := e.signed(c.path, c.params); rec.Code != c.want {
				t.Errorf("%s: %d, want %d: %s", name, rec.Code, c.want, rec.Body)
			}
		}
		post := func(body, contentType string) int {
			req := httptest.NewRequest(http.MethodPost, whSMSPath, strings.NewReader(body))
			req.Header.Set("Content-Type", contentType)
			req.Header.Set(twilio.SignatureHeader, twiliotest.Sign(whToken, whPublicURL+whSMSPath, nil))
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			return rec.Code
		}
		// A form that does not parse cannot carry a matching signature;
		// a JSON body is the wrong media type (once signed).
		if code := post("MessageSid=%zz&From=x", "application/x-www-form-urlencoded"); code != http.StatusForbidden {
			t.Errorf("bad form encoding: %d, want 403", code)
		}
		if code := post(`{"MessageSid":"x"}`, "application/json"); code != http.StatusUnsupportedMediaType {
			t.Errorf("JSON body: %d, want 415", code)
		}
		// Unsigned, anything is a 403 first: what else is wrong is not said.
		for _, ct := range []string{"application/json", "application/x-www-form-urlencoded"} {
			req := httptest.NewRequest(http.MethodPost, whSMSPath, strings.NewReader(`{"MessageSid":"x"}`))
			req.Header.Set("Content-Type", ct)
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			if rec.Code != http.StatusForbidden {
				t.Errorf("unsigned %s body: %d, want 403", ct, rec.Code)
			}
		}
		big := whInbound(whSID(3), whPhone, strings.Repeat("a", 70<<10)).Encode()
		if code := post(big, "application/x-www-form-urlencoded"); code != http.StatusRequestEntityTooLarge {
			t.Errorf("70 KiB body: %d, want 413", code)
		}
		if n := e.count(`SELECT COUNT(*) FROM inbound_messages`); n != 0 {
			t.Errorf("%d inbound rows stored from malformed requests", n)
		}
		rec := e.signed(whStatusPath, url.Values{"MessageSid": {whSID(6)}, "MessageStatus": {"delivered\x00"}})
		if !strings.Contains(rec.Body.String(), "MessageStatus") {
			t.Errorf("NUL in MessageStatus: %s, want the field named", rec.Body)
		}
	})
}

func TestTwilioInboundWebhook(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *pdb.DB) {
		e := newWhEnv(t, d, Webhooks{TwilioAuthToken: whToken, PublicURL: whPublicURL})
		rec := e.signedWithRequestID(whSMSPath, whInbound(whSID(1), whPhone, "STOP"), "req-stop")
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/xml") ||
			!strings.Contains(rec.Body.String(), "<Response></Response>") {
			t.Fatalf("inbound STOP: %d %s %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		optedOut, err := e.st.OptedOut(context.Background(), "", "sms", whPhone)
		if err != nil || !optedOut {
			t.Fatalf("STOP through the webhook did not opt the number out: %v %v", optedOut, err)
		}
		if n := e.count(`SELECT COUNT(*) FROM notifications WHERE kind = 'reply' AND template = 'optout_confirmation'`); n != 1 {
			t.Fatalf("%d confirmations", n)
		}
		// What the text did is audited under the webhook request's id, as
		// an API request's changes are (it was left empty).
		for _, typ := range []string{"Consent", "InboundMessage"} {
			if ids := e.auditRequestIDs(typ); len(ids) != 1 || ids[0] != "req-stop" {
				t.Errorf("request ids of the %s audit records: %q, want [req-stop]", typ, ids)
			}
		}
		// Twilio retries: same answer, nothing more.
		if rec := e.signed(whSMSPath, whInbound(whSID(1), whPhone, "STOP")); rec.Code != http.StatusOK {
			t.Fatalf("retry: %d", rec.Code)
		}
		if n := e.count(`SELECT COUNT(*) FROM consent_ledger`); n != 1 {
			t.Fatalf("%d ledger rows after a retried webhook", n)
		}
		// A free-text reply and an unknown number: 200, nothing about them logged.
		if rec := e.signed(whSMSPath, whInbound(whSID(2), whPhone, whText)); rec.Code != http.StatusOK {
			t.Fatalf("free text: %d", rec.Code)
		}
		if rec := e.signed(whSMSPath, whInbound(whSID(3), "+15559998888", "hello?")); rec.Code != http.StatusOK {
			t.Fatalf("unknown number: %d %s", rec.Code, rec.Body)
		}
		if n := e.count(`SELECT COUNT(*) FROM inbound_messages WHERE result = 'ignored'`); n != 1 {
			t.Fatalf("unknown number rows = %d", n)
		}
		logs := e.logs.String()
		for _, secret := range []string{whPhone, "15551230001", "+15559998888", "dizzy", "hello?"} {
			if strings.Contains(logs, secret) {
				t.Errorf("logs contain %q", secret)
			}
		}
		if !strings.Contains(logs, `"result":"ignored"`) {
			t.Errorf("the ignored text was not logged: %s", logs)
		}
	})
}

// A real (local) Twilio sends a message whose status callback comes back
// signed to the webhook: the send left the notification in sending with
// no message id (the process stopped), and the callback repairs it.
func TestTwilioStatusCallbackEndToEnd(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *pdb.DB) {
		tw, err := twiliotest.New(twiliotest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer tw.Close()
		var e *whEnv
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.h.ServeHTTP(w, r) }))
		defer srv.Close()
		e = newWhEnv(t, d, Webhooks{TwilioAuthToken: tw.AuthToken, PublicURL: srv.URL})
		ctx := context.Background()

		var id int64
		if err := d.SQL.QueryRowContext(ctx, `INSERT INTO notifications (org_id, idempotency_key, kind, template, channels, status, due_at, created_at, updated_at)
			VALUES ($1, 'k1', 'reminder', 'reminder', 'sms', 'sending', $2, $2, $2) RETURNING id`, e.org, e.now).Scan(&id); err != nil {
			t.Fatal(err)
		}
		client, err := twilio.New(twilio.Config{BaseURL: tw.URL, AccountSID: tw.AccountSID, AuthToken: tw.AuthToken,
			From: "+15005550006", StatusCallback: srv.URL + whStatusPath})
		if err != nil {
			t.Fatal(err)
		}
		receipt, err := client.Send(ctx, notify.Message{ID: strconv.FormatInt(id, 10), Channel: notify.SMS, To: whPhone, Body: "Time for your medicine"})
		if err != nil {
			t.Fatal(err)
		}
		for _, status := range []string{"delivered", "sent"} { // out of order
			if err := tw.Callback(ctx, receipt.ProviderID, status); err != nil {
				t.Fatalf("callback %s: %v", status, err)
			}
		}
		var status, messageID, providerStatus string
		if err := d.SQL.QueryRowContext(ctx, `SELECT status, provider_message_id, provider_status FROM notifications WHERE id = $1`, id).
			Scan(&status, &messageID, &providerStatus); err != nil {
			t.Fatal(err)
		}
		if status != store.NotificationDelivered || messageID != receipt.ProviderID || providerStatus != "delivered" {
			t.Fatalf("notification: %s %s %s", status, messageID, providerStatus)
		}
		if n := e.count(`SELECT COUNT(*) FROM notification_status_events WHERE notification_id = $1 AND source = 'callback'`, id); n != 2 {
			t.Fatalf("%d callback events stored, want 2", n)
		}
	})
}

// TestTwilioInboundOKCountsAcknowledgement: an escalation acknowledged by
// a member's "OK" is counted (adherence_escalations_total, outcome
// acknowledged, at its level) as one acknowledged through the API is; a
// retried webhook is not counted again.
func TestTwilioInboundOKCountsAcknowledgement(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *pdb.DB) {
		e := newWhEnv(t, d, Webhooks{TwilioAuthToken: whToken, PublicURL: whPublicURL})
		ctx, actor := context.Background(), adherence.Actor{ID: "test", Role: "admin", OrgID: e.org}
		const carerPhone = "+15557654321"
		m := adherence.Member{OrgID: e.org, Kind: adherence.MemberCaregiver, Name: phi.New("Carer"), Phone: phi.New(carerPhone)}
		if err := e.st.CreateMember(ctx, actor, &m); err != nil {
			t.Fatal(err)
		}
		if err := e.st.LinkMember(ctx, actor, e.org, adherence.Link{PatientID: e.patient.ID, MemberID: m.ID}); err != nil {
			t.Fatal(err)
		}
		policy, esc := "0190a000-0000-7000-8000-000000000001", "0190a000-0000-7000-8000-000000000002"
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO escalation_policies (id, org_id, name, trigger_kind, levels, created_at, updated_at)
				VALUES ($1, $2, 'p', 'missed_dose', '[]', $3, $3)`, []any{policy, e.org, e.now}},
			{`INSERT INTO escalations (id, org_id, patient_id, policy_id, status, level, opened_at)
				VALUES ($1, $2, $3, $4, 'exhausted', 2, $5)`, []any{esc, e.org, e.patient.ID, policy, e.now}},
			{`INSERT INTO notifications (org_id, idempotency_key, kind, template, member_id, escalation_id, channels, channel, status, due_at, created_at, updated_at)
				VALUES ($1, 'esc-1', 'escalation', 'escalation_caregiver', $2, $3, 'sms', 'sms', 'sent', $4, $4, $4)`, []any{e.org, m.ID, esc, e.now}},
		} {
			if _, err := d.SQL.ExecContext(ctx, q.sql, q.args...); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 2; i++ { // Twilio retries
			if rec := e.signedWithRequestID(whSMSPath, whInbound(whSID(7), carerPhone, "OK"), fmt.Sprintf("req-ok-%d", i)); rec.Code != http.StatusOK {
				t.Fatalf("OK: %d %s", rec.Code, rec.Body)
			}
		}
		if ids := e.auditRequestIDs("Escalation"); len(ids) != 1 || ids[0] != "req-ok-0" {
			t.Errorf("request ids of the escalation's audit records: %q, want [req-ok-0]", ids)
		}
		if n := e.count(`SELECT COUNT(*) FROM escalations WHERE status = 'acknowledged'`); n != 1 {
			t.Fatalf("%d acknowledged escalations", n)
		}
		if len(e.acked) != 1 || e.acked[0] != 2 {
			t.Fatalf("acknowledgements counted: %v, want one at level 2", e.acked)
		}
	})
}

// TestTwilioWebhooksCheckMessageSid: a MessageSid that is not a Twilio
// message SID is a 400 naming it, on both webhooks, and nothing is
// stored; it became the clientEventId of the reply's event.
func TestTwilioWebhooksCheckMessageSid(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *pdb.DB) {
		e := newWhEnv(t, d, Webhooks{TwilioAuthToken: whToken, PublicURL: whPublicURL})
		for _, sid := range []string{"SM with space", "SM" + strings.Repeat("g", 32), "XX" + strings.Repeat("0", 32), "SM0123"} {
			for _, c := range []struct {
				path   string
				params url.Values
			}{
				{whSMSPath, whInbound(sid, whPhone, "STOP")},
				{whStatusPath, url.Values{"MessageSid": {sid}, "MessageStatus": {"sent"}}},
			} {
				rec := e.signed(c.path, c.params)
				var p map[string]any
				_ = json.Unmarshal(rec.Body.Bytes(), &p)
				if rec.Code != http.StatusBadRequest || p["field"] != "MessageSid" {
					t.Errorf("%s with MessageSid %q: %d %s, want 400 naming MessageSid", c.path, sid, rec.Code, rec.Body)
				}
			}
		}
		if n := e.count(`SELECT COUNT(*) FROM inbound_messages`); n != 0 {
			t.Errorf("%d inbound rows stored", n)
		}
		if rec := e.signed(whSMSPath, whInbound("MM"+strings.Repeat("ab", 16), whPhone, "STOP")); rec.Code != http.StatusOK {
			t.Errorf("an MMS SID: %d %s, want 200", rec.Code, rec.Body)
		}
	})
}

// TestTwilioWebhooksTooLongIsNotMissing: a webhook parameter that is given
// but too long is a 400 saying so, naming it; it was answered "is
// required", as if it were missing.
func TestTwilioWebhooksTooLongIsNotMissing(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations, store.Migrations}, func(t *testing.T, d *pdb.DB) {
		e := newWhEnv(t, d, Webhooks{TwilioAuthToken: whToken, PublicURL: whPublicURL})
		long := strings.Repeat("9", 65)
		for name, c := range map[string]struct {
			path, field string
			params      url.Values
		}{
			"inbound MessageSid":   {whSMSPath, "MessageSid", whInbound("SM"+long, whPhone, "STOP")},
			"inbound From":         {whSMSPath, "From", whInbound(whSID(1), "+1"+long, "STOP")},
			"status MessageSid":    {whStatusPath, "MessageSid", url.Values{"MessageSid": {"SM" + long}, "MessageStatus": {"sent"}}},
			"status MessageStatus": {whStatusPath, "MessageStatus", url.Values{"MessageSid": {whSID(2)}, "MessageStatus": {long}}},
		} {
			rec := e.signed(c.path, c.params)
			var p map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &p)
			if rec.Code != http.StatusBadRequest || p["field"] != c.field || !strings.Contains(fmt.Sprint(p["detail"]), "too long") {
				t.Errorf("%s too long: %d %s, want 400 naming %s as too long", name, rec.Code, rec.Body, c.field)
			}
		}
	})
}
