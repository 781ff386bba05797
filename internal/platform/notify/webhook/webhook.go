// Package webhook is a notify provider for care-team systems that take
// notifications over HTTP: it POSTs each message as JSON to the URL in
// Message.To, signed with a shared secret (X-Signature: sha256=<hex
// HMAC-SHA256 of the body>) and carrying the message id as
// Idempotency-Key, so a receiver can check where a call came from and drop
// a repeat.
//
// Neither the URL (it may hold a token) nor the body appears in errors.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/medplatform/medplatform/internal/platform/notify"
)

// Name is the provider's name.
const Name = "webhook"

// Header names.
const (
	SignatureHeader   = "X-Signature"
	IdempotencyHeader = "Idempotency-Key"
)

// defaultHTTPTimeout bounds a request when Config.HTTPClient is nil.
const defaultHTTPTimeout = 30 * time.Second

// Config configures a Client.
type Config struct {
	// Secret keys the HMAC-SHA256 signature of every body. Required.
	Secret string
	// AllowHTTP permits plain http URLs (for tests); otherwise only https.
	AllowHTTP bool
	// AllowPrivate permits destinations that are not public addresses:
	// loopback, private, link-local, shared (100.64/10), unspecified and
	// multicast ones. Without it such a connection is refused when it is
	// dialled (so a name that resolves, or later re-resolves, to an
	// internal address is caught too): an escalation policy is written by
	// an org admin, and the server must not become their way into the
	// networks it can reach. Connections then go direct, not through an
	// HTTP(S)_PROXY, whose address the check would see instead.
	AllowPrivate bool
	// HTTPClient makes the requests; nil means a client with a 30s
	// timeout. Redirects are never followed, whatever the client says: a
	// signed notification goes only where it was addressed.
	HTTPClient *http.Client
	// Now is the clock for ValidUntil; nil means time.Now.
	Now func() time.Time
}

// Client posts notifications to webhooks. It is safe for concurrent use.
type Client struct {
	secret    []byte
	allowHTTP bool
	http      *http.Client
	now       func() time.Time
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Secret == "" {
		return nil, errors.New("webhook: Secret is required")
	}
	hc := http.Client{Timeout: defaultHTTPTimeout}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if !cfg.AllowPrivate {
		base, ok := hc.Transport.(*http.Transport)
		if hc.Transport == nil {
			base, ok = http.DefaultTransport.(*http.Transport)
		}
		if !ok {
			return nil, errors.New("webhook: without AllowPrivate the HTTPClient's Transport must be an *http.Transport, whose dialer checks the destination")
		}
		t := base.Clone()
		t.Proxy = nil
		t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: publicOnly}).DialContext
		hc.Transport = t
	}
	c := &Client{secret: []byte(cfg.Secret), allowHTTP: cfg.AllowHTTP, http: &hc, now: cfg.Now}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// errNotPublic refuses a connection to an address that is not public.
var errNotPublic = errors.New("the destination is not a public address (loopback, private, link-local or the like)")

// shared is the carrier-grade NAT range, which netip does not count as
// private.
var shared = netip.MustParsePrefix("100.64.0.0/10")

// publicOnly is the dialer's Control: it runs for each address a name
// resolved to, just before connecting, and refuses those that are not
// public.
func publicOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook: destination %q: %w", address, err)
	}
	ip := ap.Addr().Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() || shared.Contains(ip) {
		return errNotPublic
	}
	return nil
}

// Name returns "webhook".
func (c *Client) Name() string { return Name }

// Channel returns notify.Webhook.
func (c *Client) Channel() notify.Channel { return notify.Webhook }

// Payload is the JSON body posted for each message.
type Payload struct {
	ID      string            `json:"id"`
	Subject string            `json:"subject"`
	Body    string            `json:"body"`
	Data    map[string]string `json:"data"`
}

// Sign returns the X-Signature value of body under secret:
// "sha256=" + hex(HMAC-SHA256(secret, body)). Receivers compute the same
// over the raw body and compare in constant time.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature is Sign(secret, body), in constant time.
func Verify(secret, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(signature))
}

// Send posts m to m.To. A 2xx answer means accepted; a 3xx answer (a
// redirect, never followed) and 4xx answers other than 408 and 429 are
// permanent, a redirect wrapping notify.ErrRedirect; anything else (other
// statuses, network failures, timeouts) is retryable.
func (c *Client) Send(ctx context.Context, m notify.Message) (notify.Receipt, error) {
	if m.Channel != "" && m.Channel != notify.Webhook {
		return notify.Receipt{}, &notify.Error{Provider: Name, Err: fmt.Errorf("channel %s is not webhook", m.Channel)}
	}
	if !m.ValidUntil.IsZero() && !c.now().Before(m.ValidUntil) {
		return notify.Receipt{}, &notify.Error{Provider: Name, Err: notify.ErrExpired}
	}
	if m.ID == "" {
		return notify.Receipt{}, &notify.Error{Provider: Name, Err: errors.New("message has no id for the Idempotency-Key")}
	}
	u, err := url.Parse(m.To)
	switch {
	case err != nil || u.Host == "":
		return notify.Receipt{}, &notify.Error{Provider: Name, Err: errors.New("recipient is not an absolute URL")}
	case u.Scheme == "http" && !c.allowHTTP:
		return notify.Receipt{}, &notify.Error{Provider: Name, Err: errors.New("recipient URL must be https")}
	case u.Scheme != "https" && u.Scheme != "http":
		return notify.Receipt{}, &notify.Error{Provider: Name, Err: errors.New("recipient URL must be https")}
	}
	data := m.Data
	if data == nil {
		data = map[string]string{}
	}
	body, err := json.Marshal(Payload{ID: m.ID, Subject: m.Subject, Body: m.Body, Data: data})
	if err != nil {
		return notify.Receipt{}, &notify.Error{Provider: Name, Err: fmt.Errorf("encode payload: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return notify.Receipt{}, &notify.Error{Provider: Name, Err: errors.New("build request")}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(IdempotencyHeader, m.ID)
	req.Header.Set(SignatureHeader, Sign(c.secret, body))
	resp, err := c.http.Do(req)
	if err != nil {
		// The *url.Error names the URL: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		// A destination refused as not public stays refused: no retry.
		return notify.Receipt{}, &notify.Error{Provider: Name, Retryable: !errors.Is(err, errNotPublic), Err: fmt.Errorf("post: %w", err)}
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return notify.Receipt{Provider: Name, ProviderID: m.ID, Status: "accepted"}, nil
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		// A redirect is not followed (see Config.HTTPClient), so the
		// same request would get the same answer for as long as retries
		// last: the endpoint is misconfigured (moved, or http to https).
		// Its Location is left out: it may hold a token.
		return notify.Receipt{}, &notify.Error{
			Provider: Name,
			Status:   resp.StatusCode,
			Err:      fmt.Errorf("post: receiver answered %d: %w", resp.StatusCode, notify.ErrRedirect),
		}
	}
	permanent := resp.StatusCode >= 400 && resp.StatusCode < 500 &&
		resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests
	return notify.Receipt{}, &notify.Error{
		Provider:  Name,
		Retryable: !permanent,
		Status:    resp.StatusCode,
		Err:       fmt.Errorf("post: receiver answered %d", resp.StatusCode),
	}
}
