package email_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/medplatform/medplatform/internal/platform/notify"
	"github.com/medplatform/medplatform/internal/platform/notify/email"
	"github.com/medplatform/medplatform/internal/platform/notify/email/smtptest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	user = "AKIAEXAMPLESMTPUSER"
	pass = "smtp-password-example"
	rcpt = "patient.one@example.net"
)

var fixedNow = time.Date(2025, 3, 9, 8, 0, 0, 0, time.FixedZone("EST", -5*3600))

func startServer(t *testing.T, opts smtptest.Options) *smtptest.Server {
	t.Helper()
	srv, err := smtptest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return srv
}

func newClient(t *testing.T, cfg email.Config) *email.Client {
	t.Helper()
	if cfg.From == "" {
		cfg.From = "Medication reminders <reminders@care.example.org>"
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return fixedNow }
	}
	c, err := email.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// secureSetup is the production shape: STARTTLS required on both sides
// and AUTH PLAIN.
func secureSetup(t *testing.T) (*smtptest.Server, *email.Client) {
	t.Helper()
	srv := startServer(t, smtptest.Options{Username: user, Password: pass, RequireTLS: true})
	c := newClient(t, email.Config{
		Addr:      srv.Addr(),
		Username:  user,
		Password:  pass,
		TLSConfig: srv.ClientTLSConfig(),
	})
	return srv, c
}

func message(id string) notify.Message {
	return notify.Message{
		ID:      id,
		Channel: notify.Email,
		To:      rcpt,
		Subject: "Your reminder",
		Body:    "Please take your 8:00 dose.",
	}
}

func TestClientIdentity(t *testing.T) {
	c := newClient(t, email.Config{Addr: "127.0.0.1:25"})
	if c.Name() != "smtp" || c.Channel() != notify.Email {
		t.Errorf("Name, Channel = %q, %q; want smtp, email", c.Name(), c.Channel())
	}
}

func TestSendSTARTTLSAuthAndFormat(t *testing.T) {
	srv, c := secureSetup(t)

	subject := "Rappel : prenez votre médicament à 8 h — Metformine 500 mg, deux fois par jour avec le repas ✓"
	body := "Bonjour Zoë,\n" +
		"Il est l'heure de votre dose : 1 comprimé = 500 mg.\n" +
		".Une ligne qui commence par un point.\n" +
		"." + "\n" +
		strings.Repeat("Une très longue ligne sans retour ", 6) + "fin.  \n" +
		"Merci."
	m := message("dose-20250309-0800-42")
	m.Subject, m.Body = subject, body

	rcptOut, err := c.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	wantID := "<dose-20250309-0800-42@care.example.org>"
	if diff := cmp.Diff(notify.Receipt{Provider: "smtp", ProviderID: wantID, Status: "accepted"}, rcptOut); diff != "" {
		t.Errorf("receipt (-want +got):\n%s", diff)
	}

	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if !got.TLS || got.AuthUser != user {
		t.Errorf("TLS = %v, AuthUser = %q; want an authenticated TLS session", got.TLS, got.AuthUser)
	}
	if got.From != "reminders@care.example.org" || !cmp.Equal(got.To, []string{rcpt}) {
		t.Errorf("envelope = %q → %v", got.From, got.To)
	}
	if got.Header == nil {
		t.Fatalf("message did not parse:\n%s", got.Data)
	}

	h := got.Header
	dec := new(mime.WordDecoder)
	decSubject, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 {
		t.Fatalf("From %q: %v", h.Get("From"), err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 {
		t.Fatalf("To %q: %v", h.Get("To"), err)
	}
	date, err := h.Date()
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"Subject", decSubject, subject},
		{"From name", from[0].Name, "Medication reminders"},
		{"From address", from[0].Address, "reminders@care.example.org"},
		{"To", to[0].Address, rcpt},
		{"Message-ID", h.Get("Message-ID"), wantID},
		{"MIME-Version", h.Get("MIME-Version"), "1.0"},
		{"Content-Type", h.Get("Content-Type"), "text/plain; charset=UTF-8"},
		{"Content-Transfer-Encoding", h.Get("Content-Transfer-Encoding"), "quoted-printable"},
		{"Date", date.UTC().Format(time.RFC3339), fixedNow.UTC().Format(time.RFC3339)},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %q, want %q", ck.name, ck.got, ck.want)
		}
	}
	if !strings.HasPrefix(h.Get("Subject"), "=?UTF-8?") {
		t.Errorf("raw Subject %q is not RFC 2047-encoded", h.Get("Subject"))
	}

	// Every line respects the limits: headers folded to 78, QP lines 76.
	headerPart, bodyPart, _ := strings.Cut(string(got.Data), "\r\n\r\n")
	for _, line := range strings.Split(headerPart, "\r\n") {
		if len(line) > 78 {
			t.Errorf("header line of %d characters: %q", len(line), line)
		}
	}
	for _, line := range strings.Split(strings.TrimSuffix(bodyPart, "\r\n"), "\r\n") {
		if len(line) > 76 {
			t.Errorf("body line of %d characters: %q", len(line), line)
		}
	}
	if strings.Contains(strings.ReplaceAll(string(got.Data), "\r\n", ""), "\n") {
		t.Error("message has a bare LF")
	}

	// The body decodes back to the original, dot lines included.
	decoded, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(got.Body)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(strings.ReplaceAll(body, "\n", "\r\n"), strings.TrimSuffix(string(decoded), "\r\n")); diff != "" {
		t.Errorf("decoded body (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{wantID: 1}, srv.Deliveries()); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
	wantCmds := []string{"EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"}
	if diff := cmp.Diff(wantCmds, srv.Commands()); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
}

func TestASCIISubjectNotEncoded(t *testing.T) {
	srv, c := secureSetup(t)
	if _, err := c.Send(t.Context(), message("a1")); err != nil {
		t.Fatal(err)
	}
	if got := srv.Messages()[0].Header.Get("Subject"); got != "Your reminder" {
		t.Errorf("Subject = %q, want it verbatim", got)
	}
}

func TestMessageIDEscaping(t *testing.T) {
	tests := []struct{ id, want string }{
		{"3f2b1c9e-8a7d-4c1b-9e2f-0a1b2c3d4e5f", "<3f2b1c9e-8a7d-4c1b-9e2f-0a1b2c3d4e5f@care.example.org>"},
		{"dose 7/patient.x", "<dose%207/patient%2Ex@care.example.org>"},
		{"2025-03-09T08:00", "<2025-03-09T08%3A00@care.example.org>"},
		{"<evil>@x", "<%3Cevil%3E%40x@care.example.org>"},
		{"50%", "<50%25@care.example.org>"},
	}
	srv, c := secureSetup(t)
	for _, tt := range tests {
		r, err := c.Send(t.Context(), message(tt.id))
		if err != nil {
			t.Fatalf("%q: %v", tt.id, err)
		}
		if r.ProviderID != tt.want {
			t.Errorf("ID %q: Message-ID %q, want %q", tt.id, r.ProviderID, tt.want)
		}
		if srv.Deliveries()[tt.want] != 1 {
			t.Errorf("ID %q: server deliveries %v", tt.id, srv.Deliveries())
		}
	}

	// Without an ID a random one is made.
	r, err := c.Send(t.Context(), message(""))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(r.ProviderID, "@care.example.org>") || len(r.ProviderID) < 40 {
		t.Errorf("generated Message-ID %q", r.ProviderID)
	}
}

func TestTLSModes(t *testing.T) {
	tests := []struct {
		name     string
		server   smtptest.Options
		client   email.Config
		trust    bool // give the client the server's root
		wantSent bool
		wantTLS  bool
	}{
		{
			name:     "STARTTLS offered, required by default",
			server:   smtptest.Options{Username: user, Password: pass},
			client:   email.Config{Username: user, Password: pass},
			trust:    true,
			wantSent: true, wantTLS: true,
		},
		{
			name:   "no STARTTLS, required by default",
			server: smtptest.Options{Username: user, Password: pass, NoSTARTTLS: true},
			client: email.Config{Username: user, Password: pass},
			trust:  true,
		},
		{
			name:   "no STARTTLS, plaintext allowed but TLS required",
			server: smtptest.Options{NoSTARTTLS: true},
			client: email.Config{AllowPlaintext: true, RequireTLS: true},
			trust:  true,
		},
		{
			name:     "no STARTTLS, plaintext allowed",
			server:   smtptest.Options{Username: user, Password: pass, NoSTARTTLS: true},
			client:   email.Config{Username: user, Password: pass, AllowPlaintext: true},
			trust:    true,
			wantSent: true, wantTLS: false,
		},
		{
			name:     "plaintext allowed still upgrades when offered",
			server:   smtptest.Options{},
			client:   email.Config{AllowPlaintext: true},
			trust:    true,
			wantSent: true, wantTLS: true,
		},
		{
			name:   "untrusted certificate",
			server: smtptest.Options{Username: user, Password: pass},
			client: email.Config{Username: user, Password: pass},
			trust:  false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, tt.server)
			cfg := tt.client
			cfg.Addr = srv.Addr()
			if tt.trust {
				cfg.TLSConfig = srv.ClientTLSConfig()
			}
			c := newClient(t, cfg)
			_, err := c.Send(t.Context(), message("tls-mode"))
			msgs := srv.Messages()
			if !tt.wantSent {
				ne := asNotifyError(t, err)
				if !ne.Retryable {
					t.Errorf("error = %+v, want retryable", ne)
				}
				for _, cmd := range srv.Commands() {
					if cmd == "AUTH" || cmd == "MAIL" {
						t.Errorf("client sent %s over an unprotected session: %v", cmd, srv.Commands())
					}
				}
				if len(msgs) != 0 {
					t.Errorf("server got %d messages", len(msgs))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != 1 || msgs[0].TLS != tt.wantTLS {
				t.Fatalf("messages = %d, TLS = %v; want 1 with TLS %v", len(msgs), len(msgs) == 1 && msgs[0].TLS, tt.wantTLS)
			}
		})
	}
}

func TestSMTPReplyMapping(t *testing.T) {
	tests := []struct {
		name      string
		stage     smtptest.Stage
		code      int
		wantCode  string
		retryable bool
	}{
		{"RCPT 451", smtptest.StageRcpt, 451, "4.3.0", true},
		{"RCPT 452", smtptest.StageRcpt, 452, "4.3.1", true},
		{"RCPT 550", smtptest.StageRcpt, 550, "5.1.1", false},
		{"RCPT 554", smtptest.StageRcpt, 554, "5.7.1", false},
		{"DATA 451", smtptest.StageData, 451, "4.3.0", true},
		{"DATA 554", smtptest.StageData, 554, "5.7.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := secureSetup(t)
			srv.Fail(tt.stage, tt.code)
			m := message("reply-map")
			_, err := c.Send(t.Context(), m)
			ne := asNotifyError(t, err)
			if ne.Provider != "smtp" || ne.Status != tt.code || ne.Code != tt.wantCode || ne.Retryable != tt.retryable {
				t.Errorf("error = %+v, want status %d code %s retryable %v", ne, tt.code, tt.wantCode, tt.retryable)
			}
			if notify.IsRetryable(err) != tt.retryable {
				t.Errorf("IsRetryable = %v", notify.IsRetryable(err))
			}
			for _, s := range []string{m.To, "patient", m.Subject, m.Body} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q quotes %q", err, s)
				}
			}
			if len(srv.Deliveries()) != 0 {
				t.Errorf("deliveries = %v, want none", srv.Deliveries())
			}

			// Cleared, the same client delivers again.
			srv.Fail(tt.stage, 0)
			if _, err := c.Send(t.Context(), m); err != nil {
				t.Fatalf("after clearing the failure: %v", err)
			}
		})
	}
}

func TestAuthRefused(t *testing.T) {
	srv := startServer(t, smtptest.Options{Username: user, Password: pass, RequireTLS: true})
	c := newClient(t, email.Config{
		Addr:      srv.Addr(),
		Username:  user,
		Password:  "wrong",
		TLSConfig: srv.ClientTLSConfig(),
	})
	_, err := c.Send(t.Context(), message("auth"))
	ne := asNotifyError(t, err)
	if ne.Status != 535 || ne.Code != "5.7.8" || !ne.Retryable {
		t.Errorf("error = %+v, want retryable 535 5.7.8", ne)
	}
	if strings.Contains(err.Error(), "wrong") || strings.Contains(err.Error(), user) {
		t.Errorf("error %q quotes credentials", err)
	}
	for _, cmd := range srv.Commands() {
		if cmd == "MAIL" {
			t.Errorf("MAIL sent after refused AUTH: %v", srv.Commands())
		}
	}
}

func TestRefusedBeforeSending(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*notify.Message)
		wantErr error
	}{
		{"CRLF in To", func(m *notify.Message) { m.To = rcpt + "\r\nBcc: victim@example.com" }, nil},
		{"LF in To", func(m *notify.Message) { m.To = rcpt + "\nBcc: victim@example.com" }, nil},
		{"CRLF in Subject", func(m *notify.Message) { m.Subject = "Hi\r\nBcc: victim@example.com" }, nil},
		{"CR in Subject", func(m *notify.Message) { m.Subject = "Hi\rX-Injected: 1" }, nil},
		{"empty To", func(m *notify.Message) { m.To = "" }, nil},
		{"invalid To", func(m *notify.Message) { m.To = "not an address" }, nil},
		{"expired", func(m *notify.Message) { m.ValidUntil = fixedNow.Add(-time.Minute) }, notify.ErrExpired},
		{"expires now", func(m *notify.Message) { m.ValidUntil = fixedNow }, notify.ErrExpired},
	}
	srv, c := secureSetup(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := message("refused")
			tt.mutate(&m)
			_, err := c.Send(t.Context(), m)
			ne := asNotifyError(t, err)
			if ne.Retryable || ne.Provider != "smtp" {
				t.Errorf("error = %+v, want permanent smtp error", ne)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "victim") || (m.To != "" && strings.Contains(err.Error(), m.To)) {
				t.Errorf("error %q quotes the message", err)
			}
		})
	}
	if n := srv.Connections(); n != 0 {
		t.Errorf("server saw %d connections, want none", n)
	}

	// A message valid until later is sent.
	m := message("still-valid")
	m.ValidUntil = fixedNow.Add(time.Minute)
	if _, err := c.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
}

// TestSilentServerTimesOut uses a listener that accepts and never greets.
func TestSilentServerTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	})
	defer func() {
		_ = ln.Close()
		wg.Wait()
		for _, c := range conns {
			_ = c.Close()
		}
	}()

	t.Run("context deadline", func(t *testing.T) {
		c := newClient(t, email.Config{Addr: ln.Addr().String()})
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		_, err := c.Send(ctx, message("silent"))
		ne := asNotifyError(t, err)
		if !ne.Retryable || ne.Status != 0 {
			t.Errorf("error = %+v, want retryable without status", ne)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
		}
	})
	t.Run("config timeout", func(t *testing.T) {
		c := newClient(t, email.Config{Addr: ln.Addr().String(), Timeout: 200 * time.Millisecond})
		_, err := c.Send(t.Context(), message("silent"))
		if ne := asNotifyError(t, err); !ne.Retryable {
			t.Errorf("error = %+v, want retryable", ne)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		c := newClient(t, email.Config{Addr: ln.Addr().String()})
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := c.Send(ctx, message("silent"))
		if !errors.Is(err, context.Canceled) || !notify.IsRetryable(err) {
			t.Errorf("err = %v, want retryable wrapping context.Canceled", err)
		}
	})
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c := newClient(t, email.Config{Addr: addr})
	_, err = c.Send(t.Context(), message("refused"))
	if ne := asNotifyError(t, err); !ne.Retryable || ne.Status != 0 {
		t.Errorf("error = %+v, want retryable without status", ne)
	}
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name    string
		cfg     email.Config
		wantErr string
	}{
		{"ok", email.Config{Addr: "email-smtp.us-east-1.amazonaws.com:587", From: "a@example.org", Username: "u", Password: "p"}, ""},
		{"no addr", email.Config{From: "a@example.org"}, "address is required"},
		{"addr without port", email.Config{Addr: "smtp.example.org", From: "a@example.org"}, "host:port"},
		{"no from", email.Config{Addr: "h:25"}, "From address is required"},
		{"bad from", email.Config{Addr: "h:25", From: "not an address"}, "From address"},
		{"from with newline", email.Config{Addr: "h:25", From: "a@example.org\r\nBcc: x@y"}, "line break"},
		{"password without user", email.Config{Addr: "h:25", From: "a@example.org", Password: "s3cr3t-Pa55"}, "password given without username"},
		{"negative timeout", email.Config{Addr: "h:25", From: "a@example.org", Timeout: -time.Second}, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := email.New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if tt.cfg.Password != "" && strings.Contains(err.Error(), tt.cfg.Password) {
				t.Errorf("error %q quotes the password", err)
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
