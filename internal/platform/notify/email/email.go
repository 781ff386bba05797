// Package email sends plain-text email through an SMTP submission server
// (Amazon SES's SMTP interface, or any server speaking ESMTP with
// STARTTLS and AUTH PLAIN). Each Send is one SMTP session: connect, EHLO,
// STARTTLS, AUTH, MAIL, RCPT, DATA, QUIT.
//
// Recipients, subjects and bodies are personal data: they never appear in
// an error, and the server's reply texts, which can quote them, are not
// passed on either — only the reply code and the enhanced status code.
package email

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"regexp"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/platform/notify"
)

// ProviderName is the provider's stable name ("smtp").
const ProviderName = "smtp"

// defaultTimeout bounds one whole SMTP session when Config.Timeout is zero.
const defaultTimeout = 30 * time.Second

// Config configures a Client.
type Config struct {
	// Addr is the submission server, host:port, e.g.
	// email-smtp.us-east-1.amazonaws.com:587.
	Addr string
	// Username and Password are the SMTP credentials; no AUTH when
	// Username is empty.
	Username string
	Password string
	// From is the sender, an address with an optional display name
	// ("Medication reminders <reminders@example.org>").
	From string
	// TLSConfig is used for STARTTLS; nil means the system roots and the
	// host of Addr as the server name.
	TLSConfig *tls.Config
	// RequireTLS refuses to continue when the server does not offer
	// STARTTLS. New forces it on unless AllowPlaintext is set.
	RequireTLS bool
	// AllowPlaintext permits sessions without TLS when RequireTLS is
	// false; for tests and local relays only.
	AllowPlaintext bool
	// Timeout bounds one whole session, dial included; 30 s when zero. A
	// context deadline that comes sooner wins.
	Timeout time.Duration
	// Now is the clock for the Date header and message validity; time.Now
	// when nil.
	Now func() time.Time
}

// Client is a notify.Provider for the email channel. It holds no
// connection between sends and is safe for concurrent use.
type Client struct {
	addr       string
	host       string
	username   string
	password   string
	from       *mail.Address
	fromDomain string
	tlsConfig  *tls.Config
	requireTLS bool
	timeout    time.Duration
	now        func() time.Time
}

var _ notify.Provider = (*Client)(nil)

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Addr == "" {
		return nil, errors.New("email: server address is required")
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("email: server address %q is not host:port", cfg.Addr)
	}
	if cfg.From == "" {
		return nil, errors.New("email: From address is required")
	}
	if strings.ContainsAny(cfg.From, "\r\n") {
		return nil, errors.New("email: From address contains a line break")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("email: From address %q: %w", cfg.From, err)
	}
	at := strings.LastIndexByte(from.Address, '@')
	if at < 0 || at == len(from.Address)-1 {
		return nil, fmt.Errorf("email: From address %q has no domain", cfg.From)
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, errors.New("email: password given without username")
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("email: timeout must not be negative")
	}

	var tlsConfig *tls.Config
	if cfg.TLSConfig != nil {
		tlsConfig = cfg.TLSConfig.Clone()
	} else {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = host
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Client{
		addr:       cfg.Addr,
		host:       host,
		username:   cfg.Username,
		password:   cfg.Password,
		from:       from,
		fromDomain: from.Address[at+1:],
		tlsConfig:  tlsConfig,
		requireTLS: cfg.RequireTLS || !cfg.AllowPlaintext,
		timeout:    timeout,
		now:        now,
	}, nil
}

// Name returns "smtp".
func (c *Client) Name() string { return ProviderName }

// Channel returns notify.Email.
func (c *Client) Channel() notify.Channel { return notify.Email }

// Send mails m to m.To as a text/plain UTF-8 message with m.Subject and
// m.Body. Its Message-ID is <m.ID@domain of From>, also the receipt's
// ProviderID.
//
// Errors are *notify.Error: a message past m.ValidUntil (notify.ErrExpired),
// an unusable recipient or subject (line breaks: header injection) and
// SMTP 5xx replies to MAIL, RCPT or DATA are permanent; 4xx replies,
// network failures, timeouts, a server that does not offer STARTTLS when
// TLS is required, and refused credentials (the sender's problem, not the
// recipient's) are retryable. Status is the SMTP reply code and Code the
// enhanced status code (e.g. "5.1.1") when the server gave them.
func (c *Client) Send(ctx context.Context, m notify.Message) (notify.Receipt, error) {
	now := c.now()
	if !m.ValidUntil.IsZero() && !now.Before(m.ValidUntil) {
		return notify.Receipt{}, &notify.Error{Provider: ProviderName, Err: notify.ErrExpired}
	}
	if strings.ContainsAny(m.To, "\r\n") {
		return notify.Receipt{}, permanent("recipient contains a line break (header injection refused)")
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return notify.Receipt{}, permanent("subject contains a line break (header injection refused)")
	}
	if m.To == "" {
		return notify.Receipt{}, permanent("message has no recipient")
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return notify.Receipt{}, permanent("recipient is not a valid address")
	}
	if strings.ContainsAny(m.Body, "\x00") {
		return notify.Receipt{}, permanent("body contains a NUL byte")
	}

	messageID := "<" + msgIDLeft(m.ID) + "@" + c.fromDomain + ">"
	data, err := c.compose(to, m, messageID, now)
	if err != nil {
		return notify.Receipt{}, &notify.Error{Provider: ProviderName, Err: fmt.Errorf("compose message: %w", err)}
	}
	if err := c.deliver(ctx, to.Address, data); err != nil {
		return notify.Receipt{}, err
	}
	return notify.Receipt{Provider: ProviderName, ProviderID: messageID, Status: "accepted"}, nil
}

// deliver runs one SMTP session.
func (c *Client) deliver(ctx context.Context, rcpt string, data []byte) error {
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	dialer := net.Dialer{Deadline: deadline}
	conn, err := dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return c.netError(ctx, "connect", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return c.netError(ctx, "connect", err)
	}
	// A cancelled context interrupts whatever read or write is under way.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	// Refusals before MAIL concern the server or our account, never the
	// recipient: they are retryable whatever their code.
	sc, err := smtp.NewClient(conn, c.host)
	if err != nil {
		return retryable(c.replyError(ctx, "greeting", err))
	}
	defer sc.Close()
	if err := sc.Hello("localhost"); err != nil {
		return retryable(c.replyError(ctx, "EHLO", err))
	}
	if ok, _ := sc.Extension("STARTTLS"); ok {
		if err := sc.StartTLS(c.tlsConfig); err != nil {
			return retryable(c.replyError(ctx, "STARTTLS", err))
		}
	} else if c.requireTLS {
		_ = sc.Quit()
		return &notify.Error{Provider: ProviderName, Retryable: true, Err: errors.New("server does not offer STARTTLS and TLS is required")}
	}
	if c.username != "" {
		if ok, _ := sc.Extension("AUTH"); !ok {
			_ = sc.Quit()
			return &notify.Error{Provider: ProviderName, Retryable: true, Err: errors.New("server does not offer AUTH")}
		}
		if err := sc.Auth(smtp.PlainAuth("", c.username, c.password, c.host)); err != nil {
			return retryable(c.replyError(ctx, "AUTH", err))
		}
	}
	if err := sc.Mail(c.from.Address); err != nil {
		return c.replyError(ctx, "MAIL FROM", err)
	}
	if err := sc.Rcpt(rcpt); err != nil {
		return c.replyError(ctx, "RCPT TO", err)
	}
	w, err := sc.Data()
	if err != nil {
		return c.replyError(ctx, "DATA", err)
	}
	if _, err := w.Write(data); err != nil {
		_ = w.Close()
		return c.replyError(ctx, "DATA", err)
	}
	if err := w.Close(); err != nil {
		return c.replyError(ctx, "end of DATA", err)
	}
	// The message is accepted; a failed QUIT changes nothing.
	_ = sc.Quit()
	return nil
}

// enhancedCode matches an RFC 3463 enhanced status code at the start of a
// reply text.
var enhancedCode = regexp.MustCompile(`^([245]\.[0-9]{1,3}\.[0-9]{1,3})\b`)

// replyError maps a failure at stage of the session. SMTP replies keep
// only their codes: the text can quote addresses.
func (c *Client) replyError(ctx context.Context, stage string, err error) *notify.Error {
	if tp, ok := errors.AsType[*textproto.Error](err); ok {
		code := ""
		if m := enhancedCode.FindStringSubmatch(tp.Msg); m != nil {
			code = m[1]
		}
		return &notify.Error{
			Provider:  ProviderName,
			Retryable: tp.Code < 500,
			Status:    tp.Code,
			Code:      code,
			Err:       fmt.Errorf("%s: server replied %d", stage, tp.Code),
		}
	}
	return c.netError(ctx, stage, err)
}

// netError maps a failure that is not an SMTP reply: network errors,
// timeouts, TLS failures. All are retryable.
func (c *Client) netError(ctx context.Context, stage string, err error) *notify.Error {
	ctxErr := ctx.Err()
	if d, ok := ctx.Deadline(); ok && ctxErr == nil && !time.Now().Before(d) {
		// The connection's deadline, set to the context's, fired first.
		ctxErr = context.DeadlineExceeded
	}
	if ctxErr != nil && !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w (%w)", ctxErr, err)
	}
	return &notify.Error{Provider: ProviderName, Retryable: true, Err: fmt.Errorf("%s: %w", stage, err)}
}

func retryable(e *notify.Error) *notify.Error {
	e.Retryable = true
	return e
}

func permanent(msg string) *notify.Error {
	return &notify.Error{Provider: ProviderName, Err: errors.New(msg)}
}

// compose builds the message: headers, a blank line, the quoted-printable
// body, all with CRLF line ends.
func (c *Client) compose(to *mail.Address, m notify.Message, messageID string, now time.Time) ([]byte, error) {
	var b strings.Builder
	header := func(name, value string) {
		b.WriteString(fold(name+": "+value) + "\r\n")
	}
	header("From", c.from.String())
	header("To", to.String())
	if m.Subject != "" {
		header("Subject", mime.QEncoding.Encode("UTF-8", m.Subject))
	}
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", messageID)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=UTF-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")

	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(m.Body)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	if !strings.HasSuffix(b.String(), "\r\n") {
		b.WriteString("\r\n")
	}
	return []byte(b.String()), nil
}

// fold breaks a header line at spaces so that lines stay within 78
// characters where the value allows it (RFC 5322 §2.2.3). A continuation
// line starts with the space it was broken at.
func fold(line string) string {
	const limit = 78
	if len(line) <= limit {
		return line
	}
	var b strings.Builder
	for len(line) > limit {
		// The last space within the limit; it may be the one right after
		// the field name's colon.
		cut := strings.LastIndexByte(line[:limit+1], ' ')
		if cut <= 0 {
			// A word longer than the line: break at the next space instead.
			next := strings.IndexByte(line[limit:], ' ')
			if next < 0 {
				break
			}
			cut = limit + next
		}
		b.WriteString(line[:cut])
		b.WriteString("\r\n")
		line = line[cut:]
	}
	b.WriteString(line)
	return b.String()
}

// msgIDLeft makes id usable as the left part of a Message-ID (RFC 5322
// dot-atom-text): other bytes, and dots, are percent-encoded. An empty id
// gets a random one.
func msgIDLeft(id string) string {
	if id == "" {
		var r [16]byte
		_, _ = rand.Read(r[:]) // crypto/rand.Read never fails
		return hex.EncodeToString(r[:])
	}
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if isAtext(ch) && ch != '%' {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

// isAtext reports whether ch is an RFC 5322 atext character.
func isAtext(ch byte) bool {
	switch {
	case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", ch) >= 0
}
