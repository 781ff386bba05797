// Package fcm sends push notifications through Firebase Cloud Messaging's
// HTTP v1 API (POST /v1/projects/{project}/messages:send), authenticating
// with a Google service account: the client signs a JWT assertion with the
// account's private key, trades it at the OAuth 2.0 token endpoint for a
// short-lived access token, and caches that token until shortly before it
// expires.
//
// The base URL and the token URL are configurable, so tests run the client
// against fcmtest, a local server that speaks both APIs. Registration
// tokens, titles and bodies are personal data: they never appear in an
// error or a log line.
package fcm

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/medplatform/medplatform/internal/platform/notify"
)

// ProviderName is the provider's stable name ("fcm").
const ProviderName = "fcm"

// Scope is the OAuth 2.0 scope the access token is requested for.
const Scope = "https://www.googleapis.com/auth/firebase.messaging"

// DefaultBaseURL is FCM's production endpoint.
const DefaultBaseURL = "https://fcm.googleapis.com"

// DefaultTokenURL is Google's OAuth 2.0 token endpoint, used when the
// service account JSON names none.
const DefaultTokenURL = "https://oauth2.googleapis.com/token"

// GrantType is the OAuth 2.0 grant type of a JWT bearer assertion (RFC 7523).
const GrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"

const (
	// assertionLifetime is how long a signed assertion is valid; Google
	// accepts at most one hour.
	assertionLifetime = time.Hour
	// refreshMargin is how long before its expiry a cached access token is
	// replaced, so a token never expires on its way to FCM.
	refreshMargin = time.Minute
	// defaultHTTPTimeout bounds one HTTP exchange when Config.HTTPClient is nil.
	defaultHTTPTimeout = 30 * time.Second
	// maxResponseBytes caps what is read from any response body.
	maxResponseBytes = 1 << 20
)

// Config configures a Client.
type Config struct {
	// BaseURL is FCM's base URL; DefaultBaseURL when empty.
	BaseURL string
	// ProjectID is the Firebase project; the service account's project_id
	// when empty.
	ProjectID string
	// ServiceAccountJSON is the content of a Google service account key
	// file: client_email, private_key (PEM, PKCS#8 or PKCS#1 RSA), token_uri,
	// project_id and, optionally, private_key_id.
	ServiceAccountJSON []byte
	// TokenURL overrides the service account's token_uri (tests).
	TokenURL string
	// HTTPClient sends the requests; a client with a 30 s timeout when nil.
	HTTPClient *http.Client
	// Now is the clock (JWT times, token expiry, message validity);
	// time.Now when nil.
	Now func() time.Time
}

// serviceAccount is the part of a service account key file the client uses.
type serviceAccount struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

// Client is a notify.Provider for the push channel. It is safe for
// concurrent use; concurrent sends share one cached access token and one
// refresh of it.
type Client struct {
	sendURL  string
	tokenURL string
	email    string
	keyID    string
	key      *rsa.PrivateKey
	http     *http.Client
	now      func() time.Time

	// sem is a one-slot semaphore guarding the token cache below; unlike a
	// mutex, waiting for it honours the caller's context.
	sem       chan struct{}
	token     string
	refreshAt time.Time
}

var _ notify.Provider = (*Client)(nil)

// New checks cfg and returns a Client. Errors never quote the key.
func New(cfg Config) (*Client, error) {
	if len(cfg.ServiceAccountJSON) == 0 {
		return nil, errors.New("fcm: service account JSON is required")
	}
	var sa serviceAccount
	if err := json.Unmarshal(cfg.ServiceAccountJSON, &sa); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("fcm: service account JSON is malformed at offset %d", syn.Offset)
		}
		return nil, errors.New("fcm: service account JSON does not have the key file's shape")
	}
	if sa.Type != "" && sa.Type != "service_account" {
		return nil, fmt.Errorf("fcm: service account JSON has type %q, want \"service_account\"", sa.Type)
	}
	if sa.ClientEmail == "" {
		return nil, errors.New("fcm: service account JSON has no client_email")
	}
	if sa.PrivateKey == "" {
		return nil, errors.New("fcm: service account JSON has no private_key")
	}
	key, err := parseRSAKey(sa.PrivateKey)
	if err != nil {
		return nil, err
	}

	projectID := cfg.ProjectID
	if projectID == "" {
		projectID = sa.ProjectID
	}
	if projectID == "" {
		return nil, errors.New("fcm: project id is required (Config.ProjectID or the service account's project_id)")
	}
	if strings.ContainsAny(projectID, "/?#% ") {
		return nil, fmt.Errorf("fcm: project id %q is not valid", projectID)
	}

	baseURL := cfg.BaseURL
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if err := checkURL(baseURL); err != nil {
		return nil, fmt.Errorf("fcm: base URL: %w", err)
	}
	tokenURL := cfg.TokenURL
	if tokenURL == "" {
		tokenURL = sa.TokenURI
	}
	if tokenURL == "" {
		tokenURL = DefaultTokenURL
	}
	if err := checkURL(tokenURL); err != nil {
		return nil, fmt.Errorf("fcm: token URL: %w", err)
	}

	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: defaultHTTPTimeout}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Client{
		sendURL:  strings.TrimRight(baseURL, "/") + "/v1/projects/" + projectID + "/messages:send",
		tokenURL: tokenURL,
		email:    sa.ClientEmail,
		keyID:    sa.PrivateKeyID,
		key:      key,
		http:     hc,
		now:      now,
		sem:      make(chan struct{}, 1),
	}, nil
}

// parseRSAKey decodes a PEM RSA private key (PKCS#8, as Google issues them,
// or PKCS#1). Its errors say what is wrong without quoting the key.
func parseRSAKey(s string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("fcm: service account private_key is not PEM-encoded")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("fcm: service account private_key is not an RSA key")
		}
		return rk, nil
	}
	if rk, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return rk, nil
	}
	return nil, errors.New("fcm: service account private_key is not a PKCS#8 or PKCS#1 RSA private key")
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}

// Name returns "fcm".
func (c *Client) Name() string { return ProviderName }

// Channel returns notify.Push.
func (c *Client) Channel() notify.Channel { return notify.Push }

// Send delivers m to the device whose registration token is m.To, with
// m.Subject as the notification title, m.Body as its text and m.Data plus
// "message_id" (m.ID) as the data payload. When m.ValidUntil is set, the
// Android TTL and the APNs expiration end there, and a message already
// past it is not sent (notify.ErrExpired).
//
// A 401 answer makes the client fetch a new access token and try once
// more. Errors are *notify.Error: an unknown or foreign registration token
// or a rejected payload is permanent; throttling, FCM outages, timeouts,
// network failures and failures of the service account's own credentials
// are retryable (another provider may still reach the person). A 2xx
// answer that cannot be read (no message name, not JSON, cut short) is
// permanent: FCM took the message, and a retry would push it twice. Code is
// FCM's errorCode, or the Google status when FCM gave none.
func (c *Client) Send(ctx context.Context, m notify.Message) (notify.Receipt, error) {
	now := c.now()
	if !m.ValidUntil.IsZero() && !now.Before(m.ValidUntil) {
		return notify.Receipt{}, &notify.Error{Provider: ProviderName, Err: notify.ErrExpired}
	}
	if m.To == "" {
		return notify.Receipt{}, &notify.Error{Provider: ProviderName, Err: errors.New("message has no registration token")}
	}
	body, err := json.Marshal(buildRequest(m, now))
	if err != nil {
		return notify.Receipt{}, &notify.Error{Provider: ProviderName, Err: fmt.Errorf("encode request: %w", err)}
	}

	token, err := c.accessToken(ctx, "")
	if err != nil {
		return notify.Receipt{}, err
	}
	name, err := c.post(ctx, token, body)
	if fe, ok := errors.AsType[*sendError](err); ok && fe.status == http.StatusUnauthorized && fe.errorCode != "THIRD_PARTY_AUTH_ERROR" {
		// The token was revoked or expired early: fetch a new one and try once more.
		if token, err = c.accessToken(ctx, token); err != nil {
			return notify.Receipt{}, err
		}
		name, err = c.post(ctx, token, body)
	}
	if err != nil {
		return notify.Receipt{}, c.mapError(ctx, err)
	}
	return notify.Receipt{Provider: ProviderName, ProviderID: name, Status: "accepted"}, nil
}

// sendRequest is the body of messages:send.
type sendRequest struct {
	Message message `json:"message"`
}

type message struct {
	Token        string            `json:"token"`
	Notification *notification     `json:"notification,omitempty"`
	Data         map[string]string `json:"data,omitempty"`
	Android      *androidConfig    `json:"android,omitempty"`
	APNS         *apnsConfig       `json:"apns,omitempty"`
}

type notification struct {
	Title string `json:"title,omitempty"`
	Body  string `json:"body,omitempty"`
}

type androidConfig struct {
	TTL string `json:"ttl,omitempty"`
}

type apnsConfig struct {
	Headers map[string]string `json:"headers,omitempty"`
}

func buildRequest(m notify.Message, now time.Time) sendRequest {
	msg := message{Token: m.To}
	if m.Subject != "" || m.Body != "" {
		msg.Notification = &notification{Title: m.Subject, Body: m.Body}
	}
	if len(m.Data) > 0 || m.ID != "" {
		msg.Data = make(map[string]string, len(m.Data)+1)
		for k, v := range m.Data {
			msg.Data[k] = v
		}
		if m.ID != "" {
			msg.Data["message_id"] = m.ID
		}
	}
	if !m.ValidUntil.IsZero() {
		// Whole seconds, rounded down: the message must never outlive ValidUntil.
		ttl := int64(m.ValidUntil.Sub(now) / time.Second)
		msg.Android = &androidConfig{TTL: strconv.FormatInt(ttl, 10) + "s"}
		msg.APNS = &apnsConfig{Headers: map[string]string{
			"apns-expiration": strconv.FormatInt(m.ValidUntil.Unix(), 10),
		}}
	}
	return sendRequest{Message: msg}
}

// sendError is a non-2xx answer from messages:send.
type sendError struct {
	status     int    // HTTP status
	rpcStatus  string // error.status, e.g. "NOT_FOUND"
	errorCode  string // details[].errorCode of the FcmError detail, e.g. "UNREGISTERED"
	retryAfter time.Duration
}

func (e *sendError) Error() string {
	s := "send rejected"
	if e.rpcStatus != "" {
		s += " (" + e.rpcStatus + ")"
	}
	return s
}

// googleError is Google's JSON error body. Its message is deliberately not
// decoded: it can quote the request's values.
type googleError struct {
	Error struct {
		Code    int    `json:"code"`
		Status  string `json:"status"`
		Details []struct {
			Type      string `json:"@type"`
			ErrorCode string `json:"errorCode"`
		} `json:"details"`
	} `json:"error"`
}

// post sends one messages:send request and returns the message name.
func (c *Client) post(ctx context.Context, token string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.sendURL, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("send: %w", redactURLError(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil && resp.StatusCode/100 == 2 {
		// FCM accepted the message before the answer broke off.
		return "", &malformedError{status: resp.StatusCode}
	}
	if err != nil {
		return "", fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		se := &sendError{status: resp.StatusCode}
		if resp.StatusCode == http.StatusServiceUnavailable {
			// FCM overloaded says when to come back, for every message.
			// A 429 QUOTA_EXCEEDED's Retry-After is not taken: it may be
			// one device's or topic's rate, and holding FCM for it would
			// turn every patient's push away.
			se.retryAfter = notify.RetryAfter(resp.Header.Get("Retry-After"), c.now())
		}
		var ge googleError
		if json.Unmarshal(raw, &ge) == nil {
			se.rpcStatus = ge.Error.Status
			for _, d := range ge.Error.Details {
				if d.ErrorCode != "" {
					se.errorCode = d.ErrorCode
					break
				}
			}
		}
		return "", se
	}
	var ok struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(raw, &ok); err != nil || ok.Name == "" {
		return "", &malformedError{status: resp.StatusCode}
	}
	return ok.Name, nil
}

// malformedError is a 2xx answer without a message name (not JSON, no
// name, or cut short).
type malformedError struct{ status int }

func (e *malformedError) Error() string { return "response has no message name" }

// permanentCodes are FCM error codes that will not change on a retry or
// through another push provider: the token is gone or foreign, or the
// payload is invalid.
var permanentCodes = map[string]bool{
	"UNREGISTERED":       true,
	"INVALID_ARGUMENT":   true,
	"SENDER_ID_MISMATCH": true,
}

// mapError turns an error of post into a *notify.Error.
func (c *Client) mapError(ctx context.Context, err error) error {
	if se, ok := errors.AsType[*sendError](err); ok {
		code := se.errorCode
		if code == "" {
			code = se.rpcStatus
		}
		var wrapped error = se
		if se.errorCode == "UNREGISTERED" {
			wrapped = fmt.Errorf("%w: %w", se, notify.ErrUnregistered)
		}
		return &notify.Error{
			Provider:   ProviderName,
			Retryable:  sendRetryable(se),
			Status:     se.status,
			Code:       code,
			RetryAfter: se.retryAfter,
			Err:        wrapped,
		}
	}
	if me, ok := errors.AsType[*malformedError](err); ok {
		// FCM said yes but we cannot tell to what. Not retryable: the push
		// may well be on its way, and sending it again would deliver it
		// twice (as an unreadable Twilio or SNS acceptance).
		return &notify.Error{Provider: ProviderName, Status: me.status, Err: fmt.Errorf("%w: %w", me, notify.ErrOutcomeUnknown)}
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w: %w", err, ctxErr)
	}
	// Network failures and timeouts.
	return &notify.Error{Provider: ProviderName, Retryable: true, Err: err}
}

// sendRetryable classifies a rejected send. Errors about this recipient or
// this payload are permanent; everything about FCM or our own credentials
// (throttling, outages, revoked access, a missing IAM permission, a wrong
// project) is retryable.
func sendRetryable(se *sendError) bool {
	if se.errorCode != "" && se.errorCode != "UNSPECIFIED_ERROR" {
		return !permanentCodes[se.errorCode]
	}
	switch se.status {
	case http.StatusBadRequest:
		return false // the payload was rejected
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusRequestTimeout, http.StatusTooManyRequests:
		return true
	}
	return se.status >= 500 || se.status < 400
}

// redactURLError drops the URL from a *url.Error: it names only our
// endpoint, but the message is shorter and stable without it.
func redactURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return fmt.Errorf("%s request: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

// accessToken returns a valid access token, fetching one when none is
// cached, the cached one is about to expire, or the cached one is reject
// (a token FCM has just refused). One caller fetches while the others wait
// for its result.
func (c *Client) accessToken(ctx context.Context, reject string) (string, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return "", &notify.Error{Provider: ProviderName, Retryable: true, Err: fmt.Errorf("wait for access token: %w", ctx.Err())}
	}
	defer func() { <-c.sem }()

	if reject != "" && c.token == reject {
		c.token = ""
	}
	if c.token != "" && c.now().Before(c.refreshAt) {
		return c.token, nil
	}
	token, lifetime, err := c.fetchToken(ctx)
	if err != nil {
		return "", err
	}
	margin := refreshMargin
	if lifetime/2 < margin {
		margin = lifetime / 2
	}
	c.token = token
	c.refreshAt = c.now().Add(lifetime - margin)
	return token, nil
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	TokenType   string `json:"token_type"`
	// Error is set on failure (RFC 6749 §5.2). The error_description is
	// not read: it is free text from the server.
	Error string `json:"error"`
}

// fetchToken signs an assertion and trades it for an access token.
func (c *Client) fetchToken(ctx context.Context) (string, time.Duration, error) {
	iat := c.now()
	// aud is a single string, as Google expects, not an array.
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss":   c.email,
		"scope": Scope,
		"aud":   c.tokenURL,
		"iat":   iat.Unix(),
		"exp":   iat.Add(assertionLifetime).Unix(),
	})
	if c.keyID != "" {
		t.Header["kid"] = c.keyID
	}
	assertion, err := t.SignedString(c.key)
	if err != nil {
		return "", 0, &notify.Error{Provider: ProviderName, Retryable: true, Err: fmt.Errorf("sign token assertion: %w", err)}
	}

	form := url.Values{"grant_type": {GrantType}, "assertion": {assertion}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, &notify.Error{Provider: ProviderName, Err: fmt.Errorf("build token request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", 0, &notify.Error{Provider: ProviderName, Retryable: true, Err: fmt.Errorf("access token: %w", redactURLError(err))}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return "", 0, &notify.Error{Provider: ProviderName, Retryable: true, Status: resp.StatusCode, Err: fmt.Errorf("access token: read response: %w", err)}
	}
	var tr tokenResponse
	jsonErr := json.Unmarshal(raw, &tr)
	if resp.StatusCode/100 != 2 {
		// invalid_grant and friends mean our credentials are wrong: no
		// recipient's fault, so another provider may still succeed.
		return "", 0, &notify.Error{
			Provider:  ProviderName,
			Retryable: true,
			Status:    resp.StatusCode,
			Code:      tr.Error,
			Err:       errors.New("access token request refused"),
		}
	}
	if jsonErr != nil || tr.AccessToken == "" {
		return "", 0, &notify.Error{Provider: ProviderName, Retryable: true, Status: resp.StatusCode, Err: errors.New("access token response has no access_token")}
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "Bearer") {
		return "", 0, &notify.Error{Provider: ProviderName, Retryable: true, Status: resp.StatusCode, Err: fmt.Errorf("access token has type %q, want Bearer", tr.TokenType)}
	}
	return tr.AccessToken, time.Duration(tr.ExpiresIn) * time.Second, nil
}
