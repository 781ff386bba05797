package webhook_test

import (
	"context"
	"encoding/json"
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
	"github.com/medplatform/medplatform/internal/platform/notify/webhook"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const secret = "s3cret"

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// receiver is a care-team endpoint that records what it got and answers
// a settable status.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	hangs  bool
	// redirect answers status, a redirect, to another host.
	redirect bool
	got      []*http.Request
	bodies   [][]byte
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rv := &receiver{status: http.StatusAccepted}
	rv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rv.mu.Lock()
		rv.got = append(rv.got, r)
		rv.bodies = append(rv.bodies, b)
		status, hangs, redirect := rv.status, rv.hangs, rv.redirect
		rv.mu.Unlock()
		if redirect {
			http.Redirect(w, r, "http://example.com/?token=xyz", status)
			return
		}
		if hangs {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rv.Close)
	return rv
}

func newClient(t *testing.T, rv *receiver) *webhook.Client {
	t.Helper()
	c, err := webhook.New(webhook.Config{Secret: secret, AllowHTTP: true, AllowPrivate: true, HTTPClient: rv.Client(), Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSend(t *testing.T) {
	rv := newReceiver(t)
	c := newClient(t, rv)
	m := notify.Message{
		ID: "n-1", Channel: notify.Webhook, To: rv.URL + "/care/alerts?team=7",
		Subject: "Missed dose", Body: "Patient missed 2 doses", Data: map[string]string{"patient_ref": "p-9"},
	}
	rec, err := c.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if want := (notify.Receipt{Provider: "webhook", ProviderID: "n-1", Status: "accepted"}); rec != want {
		t.Errorf("receipt = %+v, want %+v", rec, want)
	}
	rv.mu.Lock()
	defer rv.mu.Unlock()
	r, body := rv.got[0], rv.bodies[0]
	if r.Method != http.MethodPost || r.URL.RequestURI() != "/care/alerts?team=7" {
		t.Errorf("request = %s %s", r.Method, r.URL.RequestURI())
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := r.Header.Get("Idempotency-Key"); got != "n-1" {
		t.Errorf("Idempotency-Key = %q", got)
	}
	if !webhook.Verify([]byte(secret), body, r.Header.Get("X-Signature")) {
		t.Errorf("X-Signature %q does not verify", r.Header.Get("X-Signature"))
	}
	if !strings.HasPrefix(r.Header.Get("X-Signature"), "sha256=") {
		t.Errorf("X-Signature %q lacks the sha256= prefix", r.Header.Get("X-Signature"))
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": "n-1", "subject": "Missed dose", "body": "Patient missed 2 doses", "data": map[string]any{"patient_ref": "p-9"}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}

func TestSignKnownValue(t *testing.T) {
	// HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"),
	// the well-known example value of the HMAC article on Wikipedia.
	got := webhook.Sign([]byte("key"), []byte("The quick brown fox jumps over the lazy dog"))
	if want := "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"; got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
	if webhook.Verify([]byte("key"), []byte("tampered"), got) {
		t.Error("Verify accepted a signature of another body")
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		hangs     bool
		to        string // "" means the receiver
		allowHTTP bool
		expired   bool
		wantCode  int
		retryable bool
		sent      bool
	}{
		{name: "bad request", status: 400, wantCode: 400, sent: true, allowHTTP: true},
		{name: "gone", status: 410, wantCode: 410, sent: true, allowHTTP: true},
		{name: "request timeout", status: 408, wantCode: 408, retryable: true, sent: true, allowHTTP: true},
		{name: "too many requests", status: 429, wantCode: 429, retryable: true, sent: true, allowHTTP: true},
		{name: "server error", status: 503, wantCode: 503, retryable: true, sent: true, allowHTTP: true},
		{name: "redirect not followed", status: 307, wantCode: 307, sent: true, allowHTTP: true},
		{name: "moved permanently", status: 301, wantCode: 301, sent: true, allowHTTP: true},
		{name: "permanent redirect", status: 308, wantCode: 308, sent: true, allowHTTP: true},
		{name: "hang", hangs: true, retryable: true, sent: true, allowHTTP: true},
		{name: "http refused without AllowHTTP", status: 202},
		{name: "not a URL", to: "care-team", allowHTTP: true},
		{name: "other scheme", to: "ftp://example.com/x", allowHTTP: true},
		{name: "expired", expired: true, allowHTTP: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rv := newReceiver(t)
			rv.mu.Lock()
			rv.status, rv.hangs, rv.redirect = tt.status, tt.hangs, tt.status >= 300 && tt.status < 400
			rv.mu.Unlock()
			c, err := webhook.New(webhook.Config{Secret: secret, AllowHTTP: tt.allowHTTP, AllowPrivate: true, HTTPClient: rv.Client(), Now: func() time.Time { return t0 }})
			if err != nil {
				t.Fatal(err)
			}
			to := tt.to
			if to == "" {
				to = rv.URL + "/hook?token=abc"
			}
			m := notify.Message{ID: "n-1", Channel: notify.Webhook, To: to, Body: "Patient missed 2 doses"}
			if tt.expired {
				m.ValidUntil = t0
			}
			// Only the hang waits for the deadline; the other cases get
			// a generous one, as under load the connection alone took
			// 100 ms and the request was never sent (QA, -race at load 17).
			timeout := 10 * time.Second
			if tt.hangs {
				timeout = time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			_, err = c.Send(ctx, m)
			var ne *notify.Error
			if !errors.As(err, &ne) {
				t.Fatalf("Send = %v, want *notify.Error", err)
			}
			if ne.Status != tt.wantCode || ne.Retryable != tt.retryable {
				t.Errorf("error = {Status %d Retryable %v}, want {%d %v}", ne.Status, ne.Retryable, tt.wantCode, tt.retryable)
			}
			if tt.expired && !errors.Is(err, notify.ErrExpired) {
				t.Errorf("error %v is not ErrExpired", err)
			}
			if redirect := tt.status >= 300 && tt.status < 400; errors.Is(err, notify.ErrRedirect) != redirect {
				t.Errorf("error %v: ErrRedirect %v, want %v", err, !redirect, redirect)
			}
			for _, secret := range []string{"token=abc", "token=xyz", m.Body} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q reveals %q", err, secret)
				}
			}
			rv.mu.Lock()
			sent := len(rv.got) > 0
			rv.mu.Unlock()
			if sent != tt.sent {
				t.Errorf("request sent = %v, want %v", sent, tt.sent)
			}
		})
	}
}

func TestNew(t *testing.T) {
	if _, err := webhook.New(webhook.Config{}); err == nil {
		t.Error("New without a secret succeeded")
	}
	c, err := webhook.New(webhook.Config{Secret: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "webhook" || c.Channel() != notify.Webhook {
		t.Errorf("Name, Channel = %q, %q", c.Name(), c.Channel())
	}
}

// TestPrivateDestinationRefused: without AllowPrivate a webhook to a
// loopback, private or link-local address is refused when it is dialled,
// for good (not retryable), and nothing reaches it; a name that resolves
// to one (localhost) is caught the same way.
func TestPrivateDestinationRefused(t *testing.T) {
	rv := newReceiver(t)
	c, err := webhook.New(webhook.Config{Secret: secret, AllowHTTP: true, HTTPClient: rv.Client(), Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(rv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{
		rv.URL + "/hook",
		"http://localhost:" + u.Port() + "/hook",
		"https://10.1.2.3/hook", "https://192.168.0.10/hook", "https://169.254.169.254/latest",
		"https://100.64.0.1/hook", "http://[::1]:" + u.Port() + "/hook", "https://[fd00::1]/hook",
		"http://[::ffff:127.0.0.1]:" + u.Port() + "/hook", "http://0.0.0.0:" + u.Port() + "/hook",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.Send(ctx, notify.Message{ID: "n-1", Channel: notify.Webhook, To: to, Body: "x"})
		cancel()
		var ne *notify.Error
		if !errors.As(err, &ne) || ne.Retryable || !strings.Contains(err.Error(), "not a public address") {
			t.Errorf("Send to %s = %v, want a permanent error: not a public address", to, err)
		}
	}
	rv.mu.Lock()
	got := len(rv.got)
	rv.mu.Unlock()
	if got != 0 {
		t.Errorf("the receiver got %d requests, want none", got)
	}
}
