package twilio_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/medplatform/medplatform/internal/platform/notify"
	"github.com/medplatform/medplatform/internal/platform/notify/twilio"
	"github.com/medplatform/medplatform/internal/platform/notify/twilio/twiliotest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

const (
	patient = "+15005550010"
	service = "MG00000000000000000000000000000002"
)

func newServer(t *testing.T) *twiliotest.Server {
	t.Helper()
	srv, err := twiliotest.New(twiliotest.Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// newClient returns a client of srv; edit adjusts the config first.
func newClient(t *testing.T, srv *twiliotest.Server, edit func(*twilio.Config)) *twilio.Client {
	t.Helper()
	hc := &http.Client{}
	t.Cleanup(hc.CloseIdleConnections)
	cfg := twilio.Config{
		BaseURL:        srv.URL,
		AccountSID:     srv.AccountSID,
		AuthToken:      srv.AuthToken,
		From:           "+15005550001",
		StatusCallback: "https://hooks.example.com/twilio/status?tenant=a",
		HTTPClient:     hc,
		Now:            func() time.Time { return t0 },
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := twilio.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func msg(id string) notify.Message {
	return notify.Message{ID: id, Channel: notify.SMS, To: patient, Body: "Time for your 8am dose"}
}

func TestNewValidatesConfig(t *testing.T) {
	ok := twilio.Config{AccountSID: twiliotest.DefaultAccountSID, AuthToken: "tok", From: "+15005550001"}
	tests := []struct {
		name string
		edit func(*twilio.Config)
		want string // substring of the error; "" means valid
	}{
		{"valid with From", func(*twilio.Config) {}, ""},
		{"valid with service", func(c *twilio.Config) { c.From, c.MessagingServiceSID = "", service }, ""},
		{"bad base URL", func(c *twilio.Config) { c.BaseURL = "api.twilio.com" }, "BaseURL"},
		{"no account", func(c *twilio.Config) { c.AccountSID = "" }, "AccountSID"},
		{"account not AC", func(c *twilio.Config) { c.AccountSID = "SK00000000000000000000000000000001" }, "AccountSID"},
		{"no token", func(c *twilio.Config) { c.AuthToken = "" }, "AuthToken"},
		{"no sender", func(c *twilio.Config) { c.From = "" }, "one of From"},
		{"both senders", func(c *twilio.Config) { c.MessagingServiceSID = service }, "not both"},
		{"bad service", func(c *twilio.Config) { c.From, c.MessagingServiceSID = "", "MGxyz" }, "MessagingServiceSID"},
		{"bad callback", func(c *twilio.Config) { c.StatusCallback = "/relative" }, "StatusCallback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			c, err := twilio.New(cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if c.Name() != "twilio" || c.Channel() != notify.SMS {
					t.Errorf("Name, Channel = %q, %q", c.Name(), c.Channel())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// TestSendRequestFormat checks the exact HTTP request Send makes.
func TestSendRequestFormat(t *testing.T) {
	var (
		mu  sync.Mutex
		got *http.Request
		raw string
	)
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, raw = r, string(b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued","error_code":null,"error_message":null}`)
	}))
	defer h.Close()
	c, err := twilio.New(twilio.Config{
		BaseURL:        h.URL + "/",
		AccountSID:     twiliotest.DefaultAccountSID,
		AuthToken:      "secret-token",
		From:           "+15005550001",
		StatusCallback: "https://hooks.example.com/twilio/status?tenant=a&x=1",
		HTTPClient:     h.Client(),
		Now:            func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	m := msg("msg-1")
	m.ValidUntil = t0.Add(15*time.Minute + 900*time.Millisecond)
	rec, err := c.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if want := (notify.Receipt{Provider: "twilio", ProviderID: "SM0123456789abcdef0123456789abcdef", Status: "queued"}); rec != want {
		t.Errorf("receipt = %+v, want %+v", rec, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if got.Method != http.MethodPost || got.URL.Path != "/2010-04-01/Accounts/"+twiliotest.DefaultAccountSID+"/Messages.json" {
		t.Errorf("request = %s %s", got.Method, got.URL.Path)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", ct)
	}
	if u, p, ok := got.BasicAuth(); !ok || u != twiliotest.DefaultAccountSID || p != "secret-token" {
		t.Errorf("basic auth = %q, %q, %v", u, p, ok)
	}
	form, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{
		"To":             {patient},
		"From":           {"+15005550001"},
		"Body":           {"Time for your 8am dose"},
		"ValidityPeriod": {"900"},
		"StatusCallback": {"https://hooks.example.com/twilio/status?nid=msg-1&tenant=a&x=1"},
	}
	if diff := cmp.Diff(want, form); diff != "" {
		t.Errorf("form (-want +got):\n%s", diff)
	}
}

func TestSendThroughServer(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(*twilio.Config)
		validUntil time.Time
		want       twiliotest.Received
		wantStatus string
	}{
		{
			name: "from number, no validity",
			want: twiliotest.Received{
				To: patient, From: "+15005550001", Body: "Time for your 8am dose", NID: "m",
				StatusCallback: "https://hooks.example.com/twilio/status?nid=m&tenant=a", Status: "queued",
			},
			wantStatus: "queued",
		},
		{
			name:       "messaging service, validity clamped to 10h",
			edit:       func(c *twilio.Config) { c.From, c.MessagingServiceSID = "", service },
			validUntil: t0.Add(48 * time.Hour),
			want: twiliotest.Received{
				To: patient, MessagingServiceSID: service, Body: "Time for your 8am dose", NID: "m",
				StatusCallback: "https://hooks.example.com/twilio/status?nid=m&tenant=a", ValidityPeriod: 36000, Status: "accepted",
			},
			wantStatus: "accepted",
		},
		{
			name:       "no callback, validity rounded down",
			edit:       func(c *twilio.Config) { c.StatusCallback = "" },
			validUntil: t0.Add(1999 * time.Millisecond),
			want:       twiliotest.Received{To: patient, From: "+15005550001", Body: "Time for your 8am dose", ValidityPeriod: 1, Status: "queued"},
			wantStatus: "queued",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			c := newClient(t, srv, tt.edit)
			m := msg("m")
			m.ValidUntil = tt.validUntil
			rec, err := c.Send(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Provider != "twilio" || !strings.HasPrefix(rec.ProviderID, "SM") || len(rec.ProviderID) != 34 || rec.Status != tt.wantStatus {
				t.Errorf("receipt = %+v", rec)
			}
			got := srv.Messages()
			if len(got) != 1 {
				t.Fatalf("server has %d messages, want 1", len(got))
			}
			tt.want.SID, tt.want.Created = rec.ProviderID, t0
			if diff := cmp.Diff(tt.want, got[0]); diff != "" {
				t.Errorf("received (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSendExpired(t *testing.T) {
	tests := []struct {
		name string
		left time.Duration
	}{
		{"past", -time.Minute},
		{"exactly now", 0},
		{"under a second left", 999 * time.Millisecond},
	}
	srv := newServer(t)
	c := newClient(t, srv, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := msg("late")
			m.ValidUntil = t0.Add(tt.left)
			_, err := c.Send(context.Background(), m)
			if !errors.Is(err, notify.ErrExpired) || notify.IsRetryable(err) {
				t.Errorf("Send = %v, want permanent ErrExpired", err)
			}
		})
	}
	if n := srv.Accepted(); n != 0 {
		t.Errorf("server accepted %d expired messages", n)
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(*twiliotest.Server)
		edit      func(*twilio.Config)
		to        string
		timeout   time.Duration
		status    int
		code      string
		retryable bool
		is        error
	}{
		{name: "invalid To", to: "5550010", status: 400, code: "21211"},
		{name: "unsubscribed", setup: func(s *twiliotest.Server) { s.OptOut(patient) }, status: 400, code: "21610", is: notify.ErrUnsubscribed},
		// Our account is refused, not the message: another provider may
		// still reach the person.
		{name: "bad credentials", edit: func(c *twilio.Config) { c.AuthToken = "wrong" }, status: 401, code: "20003", retryable: true},
		{name: "server error", setup: func(s *twiliotest.Server) { s.SetFailure(twiliotest.FailHTTP500) }, status: 500, code: "20500", retryable: true},
		{name: "rate limited", setup: func(s *twiliotest.Server) { s.SetFailure(twiliotest.FailRateLimit) }, status: 429, code: "20429", retryable: true},
		// The From number's queue is full (the morning peak): our sender
		// is refused, not the message, which another provider may send.
		{name: "queue full", setup: func(s *twiliotest.Server) { s.SetFailure(twiliotest.FailQueueFull) }, status: 400, code: "21611", retryable: true},
		{
			name: "hang until the deadline", setup: func(s *twiliotest.Server) { s.SetFailure(twiliotest.FailHang) },
			timeout: 50 * time.Millisecond, retryable: true, is: context.DeadlineExceeded,
		},
		{name: "connection refused", edit: func(c *twilio.Config) { c.BaseURL = "http://127.0.0.1:1" }, retryable: true},
		// The endpoint, not the message: a base URL given with the API
		// version in it finds no Messages resource (QA: permanent).
		{name: "base URL with the API version", edit: func(c *twilio.Config) { c.BaseURL += "/2010-04-01" }, status: 404, code: "20404", retryable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			if tt.setup != nil {
				tt.setup(srv)
			}
			c := newClient(t, srv, tt.edit)
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			m := msg("e")
			if tt.to != "" {
				m.To = tt.to
			}
			_, err := c.Send(ctx, m)
			var ne *notify.Error
			if !errors.As(err, &ne) {
				t.Fatalf("Send error = %v, want *notify.Error", err)
			}
			if ne.Provider != "twilio" || ne.Status != tt.status || ne.Code != tt.code || ne.Retryable != tt.retryable {
				t.Errorf("error = {Provider %q Status %d Code %q Retryable %v}, want {twilio %d %q %v}",
					ne.Provider, ne.Status, ne.Code, ne.Retryable, tt.status, tt.code, tt.retryable)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			for _, secret := range []string{m.To, m.Body} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains personal data %q", err, secret)
				}
			}
			if n := srv.Accepted(); n != 0 {
				t.Errorf("server accepted %d messages", n)
			}
		})
	}
}

func TestSendUnreadableAcceptance(t *testing.T) {
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "<html>")
	}))
	defer h.Close()
	c, err := twilio.New(twilio.Config{BaseURL: h.URL, AccountSID: twiliotest.DefaultAccountSID, AuthToken: "t", From: "+15005550001", HTTPClient: h.Client()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), msg("x"))
	if err == nil || notify.IsRetryable(err) || !errors.Is(err, notify.ErrOutcomeUnknown) {
		t.Errorf("Send = %v, want a permanent error of unknown outcome (the message may have gone out)", err)
	}
}

// An acceptance whose body breaks off (the connection drops after
// Twilio's 201 and part of the message resource) is not retryable either:
// Twilio created the message, and a fallback to another provider would
// text the patient twice.
func TestSendAcceptanceCutShort(t *testing.T) {
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "500")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"sid": "SM0000`)
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer h.Close()
	c, err := twilio.New(twilio.Config{BaseURL: h.URL, AccountSID: twiliotest.DefaultAccountSID, AuthToken: "t", From: "+15005550001", HTTPClient: h.Client()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), msg("x"))
	var ne *notify.Error
	if !errors.As(err, &ne) || ne.Retryable || ne.Status != http.StatusCreated || !errors.Is(err, notify.ErrOutcomeUnknown) {
		t.Errorf("Send = %#v, want a permanent error of unknown outcome with status 201 (the message may have gone out)", err)
	}
}

func TestOutageAndRecovery(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv, nil)
	srv.SetFailure(twiliotest.FailHTTP500)
	if _, err := c.Send(context.Background(), msg("a")); !notify.IsRetryable(err) {
		t.Fatalf("Send during outage = %v, want retryable", err)
	}
	srv.SetFailure(twiliotest.FailNone)
	for _, id := range []string{"a", "b"} {
		if _, err := c.Send(context.Background(), msg(id)); err != nil {
			t.Fatalf("Send after recovery: %v", err)
		}
	}
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 1}, srv.Deliveries()); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
	if srv.Accepted() != 2 {
		t.Errorf("Accepted = %d, want 2", srv.Accepted())
	}
}

func TestFetch(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv, nil)
	rec, err := c.Send(context.Background(), msg("f"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		status    string
		wantCode  int
		wantState string
	}{
		{"queued", 0, "queued"},
		{"sent", 0, "sent"},
		{"delivered", 0, "delivered"},
		{"undelivered", 30003, "undelivered"},
		{"failed", 30008, "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			if err := srv.SetStatus(rec.ProviderID, tt.status); err != nil {
				t.Fatal(err)
			}
			got, err := c.Fetch(context.Background(), rec.ProviderID)
			if err != nil {
				t.Fatal(err)
			}
			want := twilio.Status{SID: rec.ProviderID, Status: tt.wantState, ErrorCode: tt.wantCode, Updated: t0}
			if got != want {
				t.Errorf("Fetch = %+v, want %+v", got, want)
			}
		})
	}

	t.Run("unknown sid", func(t *testing.T) {
		_, err := c.Fetch(context.Background(), "SM"+strings.Repeat("0", 32))
		var ne *notify.Error
		if !errors.As(err, &ne) || ne.Status != 404 || ne.Code != "20404" || ne.Retryable {
			t.Errorf("Fetch of an unknown sid = %v, want permanent 404 20404", err)
		}
	})
	t.Run("malformed sid", func(t *testing.T) {
		if _, err := c.Fetch(context.Background(), "../../Calls"); err == nil {
			t.Error("Fetch accepted a malformed sid")
		}
	})
	t.Run("outage", func(t *testing.T) {
		srv.SetFailure(twiliotest.FailHTTP500)
		defer srv.SetFailure(twiliotest.FailNone)
		if _, err := c.Fetch(context.Background(), rec.ProviderID); !notify.IsRetryable(err) {
			t.Errorf("Fetch during outage = %v, want retryable", err)
		}
	})
}

// Twilio's published request-validation example: auth token "12345", the
// URL and POST parameters below. The expected signatures come from the
// official helper libraries' tests and docs:
//   - twilio/twilio-go client/request_validator_test.go (Caller/From
//     +14158675309): "RSOYDt4T1cUTdK1PDd93/VVr8B8=" for the URL as given and
//     "kvajT1Ptam85bY51eRf/AJRuM3w=" for the same URL with :443;
//   - TwilioDevEd/api-snippets security/signature_validation (Caller/From
//     +14158675310): "GvWf1cFY/Q7PnoempGyD5oXAezc=".
func TestSignatureTestVector(t *testing.T) {
	const (
		token = "12345"
		u     = "https://mycompany.com/myapp.php?foo=1&bar=2"
	)
	params := func(caller string) url.Values {
		return url.Values{
			"CallSid": {"CA1234567890ABCDE"},
			"Caller":  {caller},
			"Digits":  {"1234"},
			"From":    {caller},
			"To":      {"+18005551212"},
		}
	}
	tests := []struct {
		name   string
		url    string
		caller string
		want   string
	}{
		{"twilio-go", u, "+14158675309", "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{"twilio-go with port", "https://mycompany.com:443/myapp.php?foo=1&bar=2", "+14158675309", "kvajT1Ptam85bY51eRf/AJRuM3w="},
		{"api-snippets", u, "+14158675310", "GvWf1cFY/Q7PnoempGyD5oXAezc="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := twilio.Signature(token, tt.url, params(tt.caller)); got != tt.want {
				t.Errorf("Signature = %q, want %q", got, tt.want)
			}
			if got := twiliotest.Sign(token, tt.url, params(tt.caller)); got != tt.want {
				t.Errorf("twiliotest.Sign = %q, want %q", got, tt.want)
			}
			if !twilio.ValidateRequest(token, tt.url, params(tt.caller), tt.want) {
				t.Error("ValidateRequest rejected the published signature")
			}
		})
	}

	// Like the helper libraries, validation accepts the signature of the
	// URL with or without the default port.
	if !twilio.ValidateRequest(token, u, params("+14158675309"), "kvajT1Ptam85bY51eRf/AJRuM3w=") {
		t.Error("signature over the URL with :443 rejected for the URL without it")
	}
	if !twilio.ValidateRequest(token, "https://mycompany.com:443/myapp.php?foo=1&bar=2", params("+14158675309"), "RSOYDt4T1cUTdK1PDd93/VVr8B8=") {
		t.Error("signature over the URL without :443 rejected for the URL with it")
	}
	bad := []struct {
		name   string
		token  string
		url    string
		params url.Values
		sig    string
	}{
		{"wrong token", "54321", u, params("+14158675309"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{"other URL", token, "https://mycompany.com/myapp.php?foo=1&bar=3", params("+14158675309"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{"other params", token, u, params("+14158675310"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{"empty signature", token, u, params("+14158675309"), ""},
	}
	for _, tt := range bad {
		if twilio.ValidateRequest(tt.token, tt.url, tt.params, tt.sig) {
			t.Errorf("%s: ValidateRequest accepted", tt.name)
		}
	}
}

func TestSignatureRepeatedParams(t *testing.T) {
	// Values of a repeated name are signed sorted (and once each), as
	// Twilio's helper libraries do, so their order on the wire is moot.
	a := url.Values{"MediaUrl": {"b", "a", "a"}, "Body": {"x"}}
	b := url.Values{"Body": {"x"}, "MediaUrl": {"a", "b"}}
	if twilio.Signature("t", "https://h/p", a) != twilio.Signature("t", "https://h/p", b) {
		t.Error("signature depends on the order of repeated values")
	}
	if twilio.Signature("t", "https://h/p", a) != twiliotest.Sign("t", "https://h/p", a) {
		t.Error("twilio.Signature and twiliotest.Sign disagree")
	}
}

func TestValidateHTTPRequest(t *testing.T) {
	const (
		token = "tok"
		base  = "https://public.example.com"
		path  = "/webhooks/twilio/sms?tenant=a"
	)
	params := url.Values{"From": {patient}, "To": {"+15005550001"}, "Body": {"STOP"}, "MessageSid": {"SM" + strings.Repeat("a", 32)}}
	good := twiliotest.Sign(token, base+path, params)
	tests := []struct {
		name   string
		base   string
		sig    string
		body   url.Values
		method string
		want   bool
	}{
		{name: "good", base: base, sig: good, body: params, want: true},
		{name: "good with trailing slash on base", base: base + "/", sig: good, body: params, want: true},
		{name: "missing header", base: base, body: params},
		{name: "wrong signature", base: base, sig: twiliotest.Sign("other", base+path, params), body: params},
		{name: "tampered body", base: base, sig: good, body: url.Values{"From": {patient}, "To": {"+15005550001"}, "Body": {"START"}, "MessageSid": params["MessageSid"]}},
		{name: "other public base", base: "https://evil.example.com", sig: good, body: params},
		{name: "GET webhook signs the URL alone", base: base, sig: twiliotest.Sign(token, base+path, nil), method: http.MethodGet, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			var body io.Reader
			if method == http.MethodPost {
				body = strings.NewReader(tt.body.Encode())
			}
			r := httptest.NewRequest(method, path, body)
			if method == http.MethodPost {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tt.sig != "" {
				r.Header.Set("X-Twilio-Signature", tt.sig)
			}
			got, ok := twilio.ValidateHTTPRequest(token, tt.base, r)
			if ok != tt.want {
				t.Errorf("valid = %v, want %v", ok, tt.want)
			}
			if method == http.MethodPost && got.Get("Body") != tt.body.Get("Body") {
				t.Errorf("params Body = %q, want %q", got.Get("Body"), tt.body.Get("Body"))
			}
			if method == http.MethodGet && got.Get("tenant") != "a" {
				t.Errorf("GET params = %v, want the query", got)
			}
		})
	}
}

// TestCallbackSignedAsTwilio sends a message whose StatusCallback points
// at a local webhook handler, has the fake Twilio post status callbacks,
// and checks that the handler validates them and reads them as Twilio's.
func TestCallbackSignedAsTwilio(t *testing.T) {
	srv := newServer(t)
	type cb struct {
		params url.Values
		nid    string
		ok     bool
	}
	got := make(chan cb, 4)
	var public string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		params, ok := twilio.ValidateHTTPRequest(srv.AuthToken, public, r)
		got <- cb{params: params, nid: r.URL.Query().Get("nid"), ok: ok}
		if !ok {
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	public = hook.URL
	c := newClient(t, srv, func(cfg *twilio.Config) { cfg.StatusCallback = hook.URL + "/twilio/status?tenant=a" })
	rec, err := c.Send(context.Background(), msg("n-42"))
	if err != nil {
		t.Fatal(err)
	}

	for _, status := range []string{"sent", "undelivered"} {
		if err := srv.Callback(context.Background(), rec.ProviderID, status); err != nil {
			t.Fatalf("Callback %s: %v", status, err)
		}
		c := <-got
		if !c.ok {
			t.Fatalf("%s callback signature did not validate", status)
		}
		if c.nid != "n-42" {
			t.Errorf("callback nid = %q, want n-42", c.nid)
		}
		want := url.Values{
			"MessageSid":    {rec.ProviderID},
			"SmsSid":        {rec.ProviderID},
			"MessageStatus": {status},
			"SmsStatus":     {status},
			"AccountSid":    {srv.AccountSID},
			"From":          {"+15005550001"},
			"To":            {patient},
			"ApiVersion":    {"2010-04-01"},
		}
		if status == "undelivered" {
			want.Set("ErrorCode", "30003")
		}
		if diff := cmp.Diff(want, c.params); diff != "" {
			t.Errorf("%s callback params (-want +got):\n%s", status, diff)
		}
	}

	// A handler that checks against another token refuses the callback,
	// and Callback reports the refusal.
	public = "https://elsewhere.example.com"
	if err := srv.Callback(context.Background(), rec.ProviderID, "delivered"); err == nil {
		t.Error("Callback succeeded although the handler refused the signature")
	}
	if c := <-got; c.ok {
		t.Error("signature validated against the wrong public URL")
	}
}

func TestStatusOrder(t *testing.T) {
	// apply moves a stored status forward the way a callback handler
	// should: only to a status of higher rank.
	apply := func(seq []string) string {
		cur := ""
		for _, s := range seq {
			if twilio.StatusRank(s) > twilio.StatusRank(cur) {
				cur = s
			}
		}
		return cur
	}
	tests := []struct {
		name string
		seq  []string
		want string
	}{
		{"in order", []string{"accepted", "queued", "sending", "sent", "delivered"}, "delivered"},
		{"late queued after sent", []string{"queued", "sent", "queued", "sending"}, "sent"},
		{"terminal wins over late sent", []string{"queued", "undelivered", "sent"}, "undelivered"},
		{"delivered after undelivered", []string{"sent", "undelivered", "delivered"}, "delivered"},
		{"undelivered after delivered ignored", []string{"sent", "delivered", "undelivered"}, "delivered"},
		{"read after delivered", []string{"delivered", "read"}, "read"},
		{"failed stays", []string{"queued", "failed", "sent"}, "failed"},
		{"canceled stays", []string{"scheduled", "canceled", "queued"}, "canceled"},
		{"unknown ignored", []string{"sent", "bogus"}, "sent"},
		{"inbound", []string{"receiving", "received"}, "received"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := apply(tt.seq); got != tt.want {
				t.Errorf("after %v: %q, want %q", tt.seq, got, tt.want)
			}
		})
	}
	for _, s := range []string{"accepted", "scheduled", "queued", "sending", "sent", "receiving",
		"received", "delivered", "undelivered", "failed", "read", "canceled"} {
		if twilio.StatusRank(s) == 0 {
			t.Errorf("StatusRank(%q) = 0 for a known status", s)
		}
	}
	if twilio.StatusRank("") != 0 || twilio.StatusRank("bogus") != 0 {
		t.Error("an unknown status has a rank")
	}
}

// TestRouterFallbackOnOutage runs the Router over two fake Twilio accounts:
// while the primary hangs, messages go through the secondary, and every
// message is delivered exactly once.
func TestRouterFallbackOnOutage(t *testing.T) {
	primarySrv, secondarySrv := newServer(t), newServer(t)
	primary := newClient(t, primarySrv, nil)
	secondary := &renamed{Provider: newClient(t, secondarySrv, nil), name: "twilio-backup"}
	r, err := notify.NewRouter(notify.RouterConfig{
		Routes: map[notify.Channel][]notify.Route{notify.SMS: {
			{Provider: primary, Breaker: notify.BreakerConfig{Failures: 2, Cooldown: time.Hour}},
			{Provider: secondary},
		}},
		AttemptTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	primarySrv.SetFailure(twiliotest.FailHang)
	ids := []string{"a", "b", "c", "d"}
	for _, id := range ids {
		if _, err := r.Send(context.Background(), msg(id)); err != nil {
			t.Fatalf("Send %s: %v", id, err)
		}
	}
	if r.BreakerState("twilio") != notify.BreakerOpen {
		t.Errorf("primary breaker = %q, want open", r.BreakerState("twilio"))
	}
	all := map[string]int{}
	for _, s := range []*twiliotest.Server{primarySrv, secondarySrv} {
		for nid, n := range s.Deliveries() {
			all[nid] += n
		}
	}
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 1, "c": 1, "d": 1}, all); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
}

// Twilio refusing our credentials (a rotated auth token, a suspended
// account) says nothing about the message: the next SMS provider sends it.
func TestRouterFallbackOnRefusedCredentials(t *testing.T) {
	primarySrv, secondarySrv := newServer(t), newServer(t)
	primary := newClient(t, primarySrv, func(c *twilio.Config) { c.AuthToken = "rotated" })
	secondary := &renamed{Provider: newClient(t, secondarySrv, nil), name: "twilio-backup"}
	r, err := notify.NewRouter(notify.RouterConfig{
		Routes: map[notify.Channel][]notify.Route{notify.SMS: {{Provider: primary}, {Provider: secondary}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Send(context.Background(), msg("a")); err != nil {
		t.Fatalf("Send = %v, want it sent by the backup", err)
	}
	if diff := cmp.Diff(map[string]int{"a": 1}, secondarySrv.Deliveries()); diff != "" {
		t.Errorf("backup deliveries (-want +got):\n%s", diff)
	}
}

// TestRouterFallbackOnWrongBaseURL: a 404 to the create (a base URL with
// the API version in it) sends the message through the next provider; it
// was recorded undeliverable with no fallback (QA).
func TestRouterFallbackOnWrongBaseURL(t *testing.T) {
	primarySrv, secondarySrv := newServer(t), newServer(t)
	primary := newClient(t, primarySrv, func(c *twilio.Config) { c.BaseURL += "/2010-04-01" })
	secondary := &renamed{Provider: newClient(t, secondarySrv, nil), name: "twilio-backup"}
	r, err := notify.NewRouter(notify.RouterConfig{
		Routes: map[notify.Channel][]notify.Route{notify.SMS: {{Provider: primary}, {Provider: secondary}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Send(context.Background(), msg("a")); err != nil {
		t.Fatalf("Send = %v, want it sent by the backup", err)
	}
	if diff := cmp.Diff(map[string]int{"a": 1}, secondarySrv.Deliveries()); diff != "" {
		t.Errorf("backup deliveries (-want +got):\n%s", diff)
	}
}

// TestRouterFallbackOnFullQueue: a message refused because the From
// number's queue is full goes through the next provider at once, and the
// refusals count against Twilio's breaker (they were counted as answers
// of a healthy provider, and every message went on meeting the full
// queue and was recorded undeliverable).
func TestRouterFallbackOnFullQueue(t *testing.T) {
	primarySrv, secondarySrv := newServer(t), newServer(t)
	primarySrv.SetFailure(twiliotest.FailQueueFull)
	primary := newClient(t, primarySrv, nil)
	secondary := &renamed{Provider: newClient(t, secondarySrv, nil), name: "twilio-backup"}
	tried := 0 // messages Twilio answered with the full queue
	r, err := notify.NewRouter(notify.RouterConfig{
		Routes: map[notify.Channel][]notify.Route{notify.SMS: {
			{Provider: primary, Breaker: notify.BreakerConfig{Failures: 2, Cooldown: time.Hour}},
			{Provider: secondary},
		}},
		Observe: func(a notify.Attempt) {
			if a.Provider == "twilio" && a.Outcome == notify.OutcomeFailed {
				tried++
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if _, err := r.Send(context.Background(), msg(id)); err != nil {
			t.Fatalf("Send %s = %v, want it sent by the backup", id, err)
		}
	}
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 1, "c": 1}, secondarySrv.Deliveries()); diff != "" {
		t.Errorf("backup deliveries (-want +got):\n%s", diff)
	}
	// Two refusals opened the breaker: the third message did not try Twilio.
	if n := tried; n != 2 {
		t.Errorf("the full queue was tried %d times, want 2 (then the breaker is open)", n)
	}
}

// TestRouterFallbackOnRegionNotEnabled: a message to a country the account
// may not text (21408) goes through the next provider, but such refusals
// leave Twilio's breaker closed: they concern their destinations, and
// every other message still goes through Twilio (QA re-test: five of them
// opened the breaker and turned everyone away).
func TestRouterFallbackOnRegionNotEnabled(t *testing.T) {
	primarySrv, secondarySrv := newServer(t), newServer(t)
	primarySrv.SetFailure(twiliotest.FailRegionNotEnabled)
	primary := newClient(t, primarySrv, nil)
	secondary := &renamed{Provider: newClient(t, secondarySrv, nil), name: "twilio-backup"}
	r, err := notify.NewRouter(notify.RouterConfig{
		Routes: map[notify.Channel][]notify.Route{notify.SMS: {
			{Provider: primary, Breaker: notify.BreakerConfig{Failures: 2, Cooldown: time.Hour}},
			{Provider: secondary},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if _, err := r.Send(context.Background(), msg(id)); err != nil {
			t.Fatalf("Send %s = %v, want it sent by the backup", id, err)
		}
	}
	if got := r.BreakerState("twilio"); got != notify.BreakerClosed {
		t.Errorf("Twilio's breaker after three 21408s = %q, want closed", got)
	}
}

// renamed gives a provider another name, as a second account would have.
type renamed struct {
	notify.Provider
	name string
}

func (r *renamed) Name() string { return r.name }

// BenchmarkSend measures Send against twiliotest over loopback; its
// ns/op bounds the fake's throughput (it must sustain thousands per
// second for load benchmarks).
func BenchmarkSend(b *testing.B) {
	srv, err := twiliotest.New(twiliotest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer hc.CloseIdleConnections()
	c, err := twilio.New(twilio.Config{
		BaseURL: srv.URL, AccountSID: srv.AccountSID, AuthToken: srv.AuthToken,
		From: "+15005550001", StatusCallback: "https://hooks.example.com/s", HTTPClient: hc,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Send(context.Background(), msg("bench")); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
