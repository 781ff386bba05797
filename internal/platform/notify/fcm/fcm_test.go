package fcm_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/medplatform/medplatform/internal/platform/notify"
	"github.com/medplatform/medplatform/internal/platform/notify/fcm"
	"github.com/medplatform/medplatform/internal/platform/notify/fcm/fcmtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// clock is a manual clock shared by the client and the server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 9, 8, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// setup starts a server and a client sharing clk.
func setup(t *testing.T, clk *clock) (*fcmtest.Server, *fcm.Client) {
	t.Helper()
	srv, err := fcmtest.New(fcmtest.Options{ProjectID: "med-test", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := fcm.New(fcm.Config{
		BaseURL:            srv.URL,
		ServiceAccountJSON: srv.ServiceAccountJSON(""),
		Now:                clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

const regToken = "dQw4w9WgXcQ:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx"

func msg(id string) notify.Message {
	return notify.Message{
		ID:      id,
		Channel: notify.Push,
		To:      regToken,
		Subject: "Time for your 8:00 dose",
		Body:    "Metformin 500 mg",
	}
}

func TestClientIdentity(t *testing.T) {
	_, c := setup(t, newClock())
	if c.Name() != "fcm" || c.Channel() != notify.Push {
		t.Errorf("Name, Channel = %q, %q; want fcm, push", c.Name(), c.Channel())
	}
	var _ notify.Provider = c
}

func TestSendRequestFormat(t *testing.T) {
	clk := newClock()
	srv, c := setup(t, clk)

	m := msg("dose-42")
	m.Data = map[string]string{"dose_id": "d-1", "kind": "reminder"}
	m.ValidUntil = clk.Now().Add(90*time.Second + 700*time.Millisecond)

	rcpt, err := c.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()
	if len(got) != 1 {
		t.Fatalf("server accepted %d messages, want 1", len(got))
	}
	want := fcmtest.Message{
		Name:           got[0].Name,
		Token:          regToken,
		Title:          "Time for your 8:00 dose",
		Body:           "Metformin 500 mg",
		Data:           map[string]string{"dose_id": "d-1", "kind": "reminder", "message_id": "dose-42"},
		AndroidTTL:     "90s",
		APNSExpiration: strconv.FormatInt(m.ValidUntil.Unix(), 10),
	}
	if diff := cmp.Diff(want, got[0], cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Raw" }, cmp.Ignore())); diff != "" {
		t.Errorf("recorded message (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(got[0].Name, "projects/med-test/messages/") {
		t.Errorf("name = %q", got[0].Name)
	}
	if diff := cmp.Diff(notify.Receipt{Provider: "fcm", ProviderID: got[0].Name, Status: "accepted"}, rcpt); diff != "" {
		t.Errorf("receipt (-want +got):\n%s", diff)
	}
	if d := srv.Deliveries(); d["dose-42"] != 1 {
		t.Errorf("deliveries = %v", d)
	}

	// The raw body has exactly the documented shape.
	var raw map[string]map[string]any
	if err := json.Unmarshal(got[0].Raw, &raw); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range raw["message"] {
		keys = append(keys, k)
	}
	for _, k := range []string{"token", "notification", "data", "android", "apns"} {
		if _, ok := raw["message"][k]; !ok {
			t.Errorf("message has no %q (keys %v)", k, keys)
		}
	}
}

func TestSendWithoutValidityHasNoTTL(t *testing.T) {
	srv, c := setup(t, newClock())
	m := msg("")
	m.Subject, m.Body = "", ""
	m.Data = map[string]string{"k": "v"}
	if _, err := c.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()[0]
	if got.AndroidTTL != "" || got.APNSExpiration != "" || got.Title != "" || got.Body != "" {
		t.Errorf("got %+v, want a data-only message without expiry", got)
	}
	if _, ok := got.Data["message_id"]; ok {
		t.Errorf("message_id set for a message without ID: %v", got.Data)
	}
	var raw struct {
		Message map[string]json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal(got.Raw, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"notification", "android", "apns"} {
		if _, ok := raw.Message[k]; ok {
			t.Errorf("message has %q, want it omitted", k)
		}
	}
}

func TestMessageIDOverridesData(t *testing.T) {
	srv, c := setup(t, newClock())
	m := msg("real-id")
	m.Data = map[string]string{"message_id": "spoofed"}
	if _, err := c.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"real-id": 1}, srv.Deliveries()); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
}

func TestAccessTokenCachingAndRefresh(t *testing.T) {
	clk := newClock()
	srv, c := setup(t, clk)
	ctx := t.Context()

	steps := []struct {
		name          string
		advance       time.Duration
		wantTokenReqs int
	}{
		{"first send fetches a token", 0, 1},
		{"second send reuses it", 0, 1},
		{"half an hour later still cached", 30 * time.Minute, 1},
		// Google's tokens live 3599 s; the client refreshes a minute early.
		{"shortly before expiry refreshed", 29*time.Minute + 1*time.Second, 2},
		{"new token cached", time.Minute, 2},
		{"long after expiry refreshed", 3 * time.Hour, 3},
	}
	sends := 0
	for _, st := range steps {
		clk.Advance(st.advance)
		if _, err := c.Send(ctx, msg("m-"+st.name)); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		sends++
		if got := srv.TokenRequests(); got != st.wantTokenReqs {
			t.Errorf("%s: token requests = %d, want %d", st.name, got, st.wantTokenReqs)
		}
	}
	// Proactive refresh means FCM never saw an expired token.
	if got := srv.SendRequests(); got != sends {
		t.Errorf("send requests = %d, want %d (no 401 retries)", got, sends)
	}
}

func TestConcurrentSendsShareOneRefresh(t *testing.T) {
	srv, c := setup(t, newClock())
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := c.Send(t.Context(), msg("c-"+strconv.Itoa(i)))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := srv.TokenRequests(); got != 1 {
		t.Errorf("token requests = %d, want 1", got)
	}
	if got := len(srv.Deliveries()); got != n {
		t.Errorf("distinct deliveries = %d, want %d", got, n)
	}
}

func TestUnauthorizedRefreshesOnceAndRetries(t *testing.T) {
	srv, c := setup(t, newClock())
	ctx := t.Context()
	if _, err := c.Send(ctx, msg("warm")); err != nil {
		t.Fatal(err)
	}

	// The cached token is revoked on Google's side: one 401, a new token, success.
	srv.RevokeTokens()
	if _, err := c.Send(ctx, msg("after-revoke")); err != nil {
		t.Fatalf("send after revocation: %v", err)
	}
	if got := srv.TokenRequests(); got != 2 {
		t.Errorf("token requests = %d, want 2", got)
	}
	if got := srv.SendRequests(); got != 3 {
		t.Errorf("send requests = %d, want 3 (warm, 401, retry)", got)
	}
	if got := srv.Deliveries()["after-revoke"]; got != 1 {
		t.Errorf("deliveries of after-revoke = %d, want 1", got)
	}

	// Every token refused: exactly one retry, then a retryable 401.
	srv.SetFailure(fcmtest.FailUnauthenticated)
	_, err := c.Send(ctx, msg("refused"))
	ne := asNotifyError(t, err)
	if ne.Status != http.StatusUnauthorized || ne.Code != "UNAUTHENTICATED" || !ne.Retryable {
		t.Errorf("error = %+v, want retryable 401 UNAUTHENTICATED", ne)
	}
	if got := srv.SendRequests(); got != 5 {
		t.Errorf("send requests = %d, want 5 (one attempt and one retry)", got)
	}
	if got := srv.TokenRequests(); got != 3 {
		t.Errorf("token requests = %d, want 3", got)
	}
}

func TestSendErrorMapping(t *testing.T) {
	tests := []struct {
		name       string
		prepare    func(*fcmtest.Server)
		msg        func() notify.Message
		wantStatus int
		wantCode   string
		retryable  bool
		retryAfter time.Duration // the server's Retry-After, carried for the router
	}{
		{
			name:       "unregistered token",
			prepare:    func(s *fcmtest.Server) { s.Unregister(regToken) },
			wantStatus: 404, wantCode: "UNREGISTERED", retryable: false,
		},
		{
			name: "invalid argument",
			msg: func() notify.Message {
				m := msg("bad-data")
				m.Data = map[string]string{"google.reserved": "x"}
				return m
			},
			wantStatus: 400, wantCode: "INVALID_ARGUMENT", retryable: false,
		},
		{
			name:       "sender id mismatch",
			prepare:    func(s *fcmtest.Server) { s.SetFailure(fcmtest.FailSenderIDMismatch) },
			wantStatus: 403, wantCode: "SENDER_ID_MISMATCH", retryable: false,
		},
		{
			name:    "quota exceeded",
			prepare: func(s *fcmtest.Server) { s.SetFailure(fcmtest.FailQuotaExceeded) },
			// Its Retry-After is not taken: the quota may be one device's.
			wantStatus: 429, wantCode: "QUOTA_EXCEEDED", retryable: true,
		},
		{
			name:       "unavailable",
			prepare:    func(s *fcmtest.Server) { s.SetFailure(fcmtest.FailUnavailable) },
			wantStatus: 503, wantCode: "UNAVAILABLE", retryable: true, retryAfter: 30 * time.Second,
		},
		{
			name:       "internal",
			prepare:    func(s *fcmtest.Server) { s.SetFailure(fcmtest.FailInternal) },
			wantStatus: 500, wantCode: "INTERNAL", retryable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := setup(t, newClock())
			if tt.prepare != nil {
				tt.prepare(srv)
			}
			m := msg("err-case")
			if tt.msg != nil {
				m = tt.msg()
			}
			_, err := c.Send(t.Context(), m)
			ne := asNotifyError(t, err)
			if ne.Provider != "fcm" || ne.Status != tt.wantStatus || ne.Code != tt.wantCode || ne.Retryable != tt.retryable {
				t.Errorf("error = %+v, want status %d code %s retryable %v", ne, tt.wantStatus, tt.wantCode, tt.retryable)
			}
			if notify.IsRetryable(err) != tt.retryable {
				t.Errorf("IsRetryable = %v", notify.IsRetryable(err))
			}
			if ne.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", ne.RetryAfter, tt.retryAfter)
			}
			assertNoPHI(t, err, m)
			if len(srv.Deliveries()) != 0 {
				t.Errorf("deliveries = %v, want none", srv.Deliveries())
			}
		})
	}
}

// TestErrorMappingRawResponses covers answers fcmtest does not produce:
// the send endpoint is a bare handler, the token endpoint fcmtest's.
func TestErrorMappingRawResponses(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantCode   string
		retryable  bool
		wantStatus int
	}{
		{"bad request without detail", 400, `{"error":{"code":400,"message":"x","status":"INVALID_ARGUMENT"}}`, "INVALID_ARGUMENT", false, 400},
		{"permission denied on our project", 403, `{"error":{"code":403,"message":"x","status":"PERMISSION_DENIED"}}`, "PERMISSION_DENIED", true, 403},
		{"third party auth error", 401, `{"error":{"code":401,"status":"UNAUTHENTICATED","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"THIRD_PARTY_AUTH_ERROR"}]}}`, "THIRD_PARTY_AUTH_ERROR", true, 401},
		{"proxy html 502", 502, `<html>Bad Gateway</html>`, "", true, 502},
		{"unspecified error 404", 404, `{"error":{"code":404,"status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNSPECIFIED_ERROR"}]}}`, "UNSPECIFIED_ERROR", true, 404},
		// FCM accepted the message: an answer that cannot be read is not
		// retried into a second push.
		{"2xx without name", 200, `{}`, "", false, 200},
		{"2xx not json", 200, `<html>OK</html>`, "", false, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens, err := fcmtest.New(fcmtest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer tokens.Close()
			var calls int
			var mu sync.Mutex
			fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				calls++
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer fake.Close()
			c, err := fcm.New(fcm.Config{BaseURL: fake.URL, ServiceAccountJSON: tokens.ServiceAccountJSON("")})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Send(t.Context(), msg("raw"))
			ne := asNotifyError(t, err)
			if ne.Status != tt.wantStatus || ne.Code != tt.wantCode || ne.Retryable != tt.retryable {
				t.Errorf("error = %+v, want status %d code %q retryable %v", ne, tt.wantStatus, tt.wantCode, tt.retryable)
			}
			// Only an acceptance (2xx) leaves the outcome unknown.
			if got, want := errors.Is(err, notify.ErrOutcomeUnknown), tt.status/100 == 2; got != want {
				t.Errorf("errors.Is(err, ErrOutcomeUnknown) = %v, want %v", got, want)
			}
			mu.Lock()
			defer mu.Unlock()
			if calls != 1 {
				t.Errorf("send calls = %d, want 1 (no retry except for a plain 401)", calls)
			}
		})
	}
}

// An acceptance whose body breaks off (the connection drops after FCM's
// 200) is permanent too: the push is on its way.
func TestAcceptanceCutShortIsPermanent(t *testing.T) {
	tokens, err := fcmtest.New(fcmtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tokens.Close()
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "500")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"name": "projects/med-test/mess`))
		w.(http.Flusher).Flush()
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	}))
	defer fake.Close()
	c, err := fcm.New(fcm.Config{BaseURL: fake.URL, ServiceAccountJSON: tokens.ServiceAccountJSON("")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(t.Context(), msg("cut"))
	if ne := asNotifyError(t, err); ne.Retryable || ne.Status != http.StatusOK || !errors.Is(err, notify.ErrOutcomeUnknown) {
		t.Errorf("error = %+v, want a permanent error of unknown outcome with status 200 (the push may have gone out)", ne)
	}
}

func TestExpiredMessageNotSent(t *testing.T) {
	clk := newClock()
	srv, c := setup(t, clk)
	for _, until := range []time.Time{clk.Now().Add(-time.Second), clk.Now()} {
		m := msg("late")
		m.ValidUntil = until
		_, err := c.Send(t.Context(), m)
		if !errors.Is(err, notify.ErrExpired) {
			t.Fatalf("ValidUntil %v: err = %v, want ErrExpired", until, err)
		}
		ne := asNotifyError(t, err)
		if ne.Provider != "fcm" || ne.Retryable {
			t.Errorf("error = %+v, want permanent fcm error", ne)
		}
	}
	if srv.SendRequests() != 0 || srv.TokenRequests() != 0 {
		t.Errorf("server saw %d sends and %d token requests, want none", srv.SendRequests(), srv.TokenRequests())
	}
}

func TestMissingRecipient(t *testing.T) {
	srv, c := setup(t, newClock())
	m := msg("no-to")
	m.To = ""
	ne := asNotifyError(t, func() error { _, err := c.Send(t.Context(), m); return err }())
	if ne.Retryable {
		t.Errorf("error = %+v, want permanent", ne)
	}
	if srv.SendRequests() != 0 {
		t.Errorf("server saw %d sends", srv.SendRequests())
	}
}

func TestHangTimesOutRetryable(t *testing.T) {
	clk := newClock()
	srv, c := setup(t, clk)
	// Warm the token so the deadline is spent on messages:send.
	if _, err := c.Send(t.Context(), msg("warm")); err != nil {
		t.Fatal(err)
	}
	srv.SetFailure(fcmtest.FailHang)

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Send(ctx, msg("hang"))
	ne := asNotifyError(t, err)
	if !ne.Retryable || ne.Status != 0 {
		t.Errorf("error = %+v, want retryable with no status", ne)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
	}
	if got := srv.Deliveries()["hang"]; got != 0 {
		t.Errorf("hang delivered %d times", got)
	}

	// The same with the HTTP client's own timeout instead of a deadline.
	c2, err := fcm.New(fcm.Config{
		BaseURL:            srv.URL,
		ServiceAccountJSON: srv.ServiceAccountJSON(""),
		HTTPClient:         &http.Client{Timeout: 200 * time.Millisecond},
		Now:                clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetFailure(fcmtest.FailNone)
	if _, err := c2.Send(t.Context(), msg("warm2")); err != nil {
		t.Fatal(err)
	}
	srv.SetFailure(fcmtest.FailHang)
	_, err = c2.Send(t.Context(), msg("hang2"))
	if ne := asNotifyError(t, err); !ne.Retryable {
		t.Errorf("client timeout error = %+v, want retryable", ne)
	}
}

func TestTokenEndpointFailures(t *testing.T) {
	clk := newClock()
	srv, err := fcmtest.New(fcmtest.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	other, err := fcmtest.New(fcmtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	tests := []struct {
		name string
		cfg  fcm.Config
		// skew moves the client's clock against the server's.
		skew time.Duration
	}{
		{
			// A key the server does not know, claiming the server's account.
			name: "wrong key",
			cfg: fcm.Config{
				ServiceAccountJSON: replaceJSON(t, other.ServiceAccountJSON(srv.TokenURL), "client_email", "fcm-sender@test-project.iam.gserviceaccount.com"),
			},
		},
		{
			name: "assertion from the future",
			cfg:  fcm.Config{ServiceAccountJSON: srv.ServiceAccountJSON("")},
			skew: 10 * time.Minute,
		},
		{
			name: "assertion long expired",
			cfg:  fcm.Config{ServiceAccountJSON: srv.ServiceAccountJSON("")},
			skew: -2 * time.Hour,
		},
		{
			name: "wrong audience",
			cfg: fcm.Config{
				ServiceAccountJSON: srv.ServiceAccountJSON(""),
				TokenURL:           srv.URL + "/token?x=1",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.TokensIssued()
			cfg := tt.cfg
			cfg.BaseURL = srv.URL
			cfg.Now = func() time.Time { return clk.Now().Add(tt.skew) }
			c, err := fcm.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Send(t.Context(), msg("tok"))
			ne := asNotifyError(t, err)
			if ne.Status != http.StatusBadRequest || ne.Code != "invalid_grant" || !ne.Retryable {
				t.Errorf("error = %+v, want retryable 400 invalid_grant", ne)
			}
			if srv.TokensIssued() != before || srv.SendRequests() != 0 {
				t.Errorf("tokens issued %d→%d, sends %d; want no token and no send", before, srv.TokensIssued(), srv.SendRequests())
			}
		})
	}

	// An unreachable token endpoint is retryable, with no status.
	c, err := fcm.New(fcm.Config{BaseURL: srv.URL, ServiceAccountJSON: srv.ServiceAccountJSON("http://127.0.0.1:1/token")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(t.Context(), msg("down"))
	if ne := asNotifyError(t, err); !ne.Retryable || ne.Status != 0 {
		t.Errorf("unreachable token endpoint: %+v, want retryable without status", ne)
	}
}

func TestNewValidation(t *testing.T) {
	srv, err := fcmtest.New(fcmtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	good := srv.ServiceAccountJSON("")
	var sa map[string]string
	if err := json.Unmarshal(good, &sa); err != nil {
		t.Fatal(err)
	}
	keyBody := strings.Split(sa["private_key"], "\n")[1]

	tests := []struct {
		name    string
		cfg     fcm.Config
		wantErr string // substring; "" means success
	}{
		{"ok", fcm.Config{ServiceAccountJSON: good}, ""},
		{"ok with explicit project", fcm.Config{ServiceAccountJSON: replaceJSON(t, good, "project_id", ""), ProjectID: "p1"}, ""},
		{"no json", fcm.Config{}, "service account JSON is required"},
		{"not json", fcm.Config{ServiceAccountJSON: []byte(`{"private_key": "` + keyBody)}, "malformed"},
		{"wrong type", fcm.Config{ServiceAccountJSON: replaceJSON(t, good, "type", "authorized_user")}, "type"},
		{"no email", fcm.Config{ServiceAccountJSON: replaceJSON(t, good, "client_email", "")}, "client_email"},
		{"no key", fcm.Config{ServiceAccountJSON: replaceJSON(t, good, "private_key", "")}, "no private_key"},
		{"key not pem", fcm.Config{ServiceAccountJSON: replaceJSON(t, good, "private_key", keyBody)}, "not PEM"},
		{"key garbage", fcm.Config{ServiceAccountJSON: replaceJSON(t, good, "private_key", "-----BEGIN PRIVATE KEY-----\nQUJDREVGR0g=\n-----END PRIVATE KEY-----\n")}, "not a PKCS#8 or PKCS#1 RSA"},
		{"no project", fcm.Config{ServiceAccountJSON: replaceJSON(t, good, "project_id", "")}, "project id is required"},
		{"bad project", fcm.Config{ServiceAccountJSON: good, ProjectID: "a/b"}, "project id"},
		{"bad base url", fcm.Config{ServiceAccountJSON: good, BaseURL: "fcm.googleapis.com"}, "base URL"},
		{"bad token url", fcm.Config{ServiceAccountJSON: good, TokenURL: "ftp://x/token"}, "token URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fcm.New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), keyBody[:16]) || strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error %q quotes the key", err)
			}
		})
	}
}

func asNotifyError(t *testing.T, err error) *notify.Error {
	t.Helper()
	if err == nil {
		t.Fatal("Send succeeded, want an error")
	}
	ne, ok := errors.AsType[*notify.Error](err)
	if !ok {
		t.Fatalf("err = %T %v, want *notify.Error", err, err)
	}
	return ne
}

// assertNoPHI fails when err quotes the recipient or the content.
func assertNoPHI(t *testing.T, err error, m notify.Message) {
	t.Helper()
	for _, s := range []string{m.To, m.Subject, m.Body} {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains message content", err)
		}
	}
	for k, v := range m.Data {
		if strings.Contains(err.Error(), k) || strings.Contains(err.Error(), v) {
			t.Errorf("error %q contains data payload", err)
		}
	}
}

// replaceJSON sets (or, for "", removes) one string field of a JSON object.
func replaceJSON(t *testing.T, b []byte, key, value string) []byte {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if value == "" {
		delete(m, key)
	} else {
		m[key] = value
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
