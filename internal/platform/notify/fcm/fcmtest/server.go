// Package fcmtest runs a local stand-in for Firebase Cloud Messaging: one
// HTTP server that speaks both Google's OAuth 2.0 token endpoint (JWT
// bearer assertions of a service account) and FCM's HTTP v1
// messages:send. It generates its own service account key, verifies
// assertions the way Google does, issues short-lived opaque access tokens,
// validates message bodies, answers in FCM's formats, records what it
// accepted, and can be told to fail.
//
// It needs no *testing.T, so benchmark programs can use it too.
package fcmtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The values the token endpoint requires.
const (
	grantType      = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	scopeMessaging = "https://www.googleapis.com/auth/firebase.messaging"
	scopeCloud     = "https://www.googleapis.com/auth/cloud-platform"
	maxBodyBytes   = 64 << 10
	// maxPayloadBytes is FCM's limit on a message's notification and data.
	maxPayloadBytes = 4096
)

// Options configures a Server. The zero value works.
type Options struct {
	// ProjectID is the Firebase project the server serves; "test-project"
	// when empty. Sends to another project get 404.
	ProjectID string
	// ClientEmail is the service account's email, the assertion's required
	// issuer; "fcm-sender@<project>.iam.gserviceaccount.com" when empty.
	ClientEmail string
	// TokenLifetime is the expires_in of issued access tokens; 3599 s, as
	// Google answers, when zero.
	TokenLifetime time.Duration
	// Now is the server's clock (assertion times, token expiry); time.Now
	// when nil. Share it with the client under test to move time for both.
	Now func() time.Time
}

// Failure is a way the messages:send endpoint can be told to fail.
type Failure int

// The failure modes.
const (
	// FailNone answers normally.
	FailNone Failure = iota
	// FailUnavailable answers 503 UNAVAILABLE with Retry-After: 30.
	FailUnavailable
	// FailInternal answers 500 INTERNAL.
	FailInternal
	// FailQuotaExceeded answers 429 QUOTA_EXCEEDED with Retry-After.
	FailQuotaExceeded
	// FailSenderIDMismatch answers 403 SENDER_ID_MISMATCH.
	FailSenderIDMismatch
	// FailUnauthenticated answers 401 UNAUTHENTICATED even to valid access
	// tokens (credentials revoked on Google's side).
	FailUnauthenticated
	// FailHang never answers: the request waits until the client gives up
	// or the server closes.
	FailHang
	// FailAcceptCutShort accepts the message as usual (it counts in
	// Messages and Deliveries) but the connection drops in the middle of
	// the 200 answer, so the client cannot read the message name.
	FailAcceptCutShort
)

// Message is a message the server accepted.
type Message struct {
	// Name is the name the server gave it, returned to the client.
	Name  string
	Token string
	// Title and Body are the notification's, "" when it had none.
	Title string
	Body  string
	Data  map[string]string
	// AndroidTTL is android.ttl ("" when absent); APNSExpiration is the
	// apns-expiration header ("" when absent).
	AndroidTTL     string
	APNSExpiration string
	// Raw is the request body as received.
	Raw []byte
}

// Server is a local FCM and token endpoint. Its methods are safe for
// concurrent use.
type Server struct {
	// URL is the base URL to give the client as its FCM base URL.
	URL string
	// TokenURL is the token endpoint, the assertion's required audience.
	TokenURL string

	opts   Options
	key    *rsa.PrivateKey
	keyID  string
	srv    *httptest.Server
	closed chan struct{}
	once   sync.Once

	mu            sync.Mutex
	tokens        map[string]time.Time // access token → expiry
	failure       Failure
	unregistered  map[string]bool
	messages      []Message
	deliveries    map[string]int
	tokenRequests int
	tokensIssued  int
	sendRequests  int
	seq           int
}

// New starts a Server on a loopback port. Close stops it.
func New(opts Options) (*Server, error) {
	if opts.ProjectID == "" {
		opts.ProjectID = "test-project"
	}
	if opts.ClientEmail == "" {
		opts.ClientEmail = "fcm-sender@" + opts.ProjectID + ".iam.gserviceaccount.com"
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = 3599 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("fcmtest: generate key: %w", err)
	}
	s := &Server{
		opts:         opts,
		key:          key,
		keyID:        randomHex(20),
		closed:       make(chan struct{}),
		tokens:       make(map[string]time.Time),
		unregistered: make(map[string]bool),
		deliveries:   make(map[string]int),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.handleToken)
	mux.HandleFunc("POST /v1/projects/{project}/messages:send", s.handleSend)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	s.TokenURL = s.srv.URL + "/token"
	return s, nil
}

// Close releases hanging requests and stops the server.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closed)
		s.srv.Close()
	})
}

// ServiceAccountJSON returns a service account key file for the server's
// key, with token_uri set to tokenURL (the server's TokenURL when "").
func (s *Server) ServiceAccountJSON(tokenURL string) []byte {
	if tokenURL == "" {
		tokenURL = s.TokenURL
	}
	der, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		panic("fcmtest: marshal generated key: " + err.Error()) // cannot happen for an RSA key
	}
	b, err := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  s.opts.ProjectID,
		"private_key_id":              s.keyID,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                s.opts.ClientEmail,
		"client_id":                   "100000000000000000001",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   tokenURL,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
	}, "", "  ")
	if err != nil {
		panic("fcmtest: marshal service account: " + err.Error()) // cannot happen for a map of strings
	}
	return b
}

// SetFailure sets how messages:send answers from now on.
func (s *Server) SetFailure(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failure = f
}

// Unregister makes sends to the registration token answer 404
// UNREGISTERED, as for an app that was uninstalled.
func (s *Server) Unregister(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unregistered[token] = true
}

// RevokeTokens invalidates every access token issued so far: the next send
// with one of them gets 401.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// Messages returns the accepted messages in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	copy(out, s.messages)
	return out
}

// Deliveries returns how many times each data.message_id was accepted.
func (s *Server) Deliveries() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.deliveries))
	for k, v := range s.deliveries {
		out[k] = v
	}
	return out
}

// TokenRequests returns how many requests reached the token endpoint.
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenRequests
}

// TokensIssued returns how many access tokens the token endpoint issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokensIssued
}

// SendRequests returns how many requests reached messages:send, whatever
// their outcome.
func (s *Server) SendRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendRequests
}

// handleToken is Google's OAuth 2.0 token endpoint for the JWT bearer
// grant. Failures answer 400 with {"error", "error_description"}.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.tokenRequests++
	s.mu.Unlock()

	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		oauthError(w, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		oauthError(w, "invalid_request", "Malformed form body")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != grantType {
		oauthError(w, "unsupported_grant_type", "Invalid grant_type: "+gt)
		return
	}
	assertion := r.PostForm.Get("assertion")
	if assertion == "" {
		oauthError(w, "invalid_request", "Missing required parameter: assertion")
		return
	}
	if msg := s.checkAssertion(assertion); msg != "" {
		oauthError(w, "invalid_grant", msg)
		return
	}

	token := "ya29.test-" + randomHex(24)
	s.mu.Lock()
	s.tokens[token] = s.opts.Now().Add(s.opts.TokenLifetime)
	s.tokensIssued++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": token,
		"expires_in":   int64(s.opts.TokenLifetime / time.Second),
		"token_type":   "Bearer",
	})
}

// checkAssertion verifies a service account's JWT assertion and returns
// what is wrong with it, "" when nothing is.
func (s *Server) checkAssertion(assertion string) string {
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(assertion, claims,
		func(t *jwt.Token) (any, error) {
			if kid, ok := t.Header["kid"]; ok && kid != s.keyID {
				return nil, errors.New("unknown key id")
			}
			return &s.key.PublicKey, nil
		},
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithTimeFunc(s.opts.Now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(s.opts.ClientEmail),
		jwt.WithAudience(s.TokenURL),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "Invalid JWT Signature."
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "Invalid JWT: unknown issuer."
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "Invalid JWT audience."
	case err != nil || !tok.Valid:
		return "Invalid JWT."
	}
	iat, _ := claims.GetIssuedAt()
	exp, _ := claims.GetExpirationTime()
	if iat == nil || exp.Sub(iat.Time) > time.Hour || !exp.After(iat.Time) {
		return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
	}
	scope, _ := claims["scope"].(string)
	ok := false
	for _, sc := range strings.Fields(scope) {
		if sc == scopeMessaging || sc == scopeCloud {
			ok = true
		}
	}
	if !ok {
		return "Invalid OAuth scope or ID token audience provided."
	}
	return ""
}

// sendBody is the messages:send body. Unknown fields are rejected, as FCM
// does.
type sendBody struct {
	ValidateOnly bool         `json:"validate_only"`
	Message      *sendMessage `json:"message"`
}

type sendMessage struct {
	Name         string            `json:"name"`
	Token        string            `json:"token"`
	Topic        string            `json:"topic"`
	Condition    string            `json:"condition"`
	Data         map[string]string `json:"data"`
	Notification *struct {
		Title string `json:"title"`
		Body  string `json:"body"`
		Image string `json:"image"`
	} `json:"notification"`
	Android *struct {
		CollapseKey string            `json:"collapse_key"`
		Priority    string            `json:"priority"`
		TTL         string            `json:"ttl"`
		Data        map[string]string `json:"data"`
	} `json:"android"`
	APNS *struct {
		Headers map[string]string `json:"headers"`
		Payload json.RawMessage   `json:"payload"`
	} `json:"apns"`
	Webpush    json.RawMessage `json:"webpush"`
	FCMOptions json.RawMessage `json:"fcm_options"`
}

var (
	ttlPattern        = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,9})?s$`)
	unixPattern       = regexp.MustCompile(`^[0-9]+$`)
	reservedDataKeys  = map[string]bool{"from": true, "notification": true, "message_type": true}
	reservedKeyPrefix = []string{"google", "gcm"}
)

// handleSend is FCM's messages:send.
func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.sendRequests++
	failure := s.failure
	s.mu.Unlock()

	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !s.validToken(token) || failure == FailUnauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		fcmError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "",
			"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	if r.PathValue("project") != s.opts.ProjectID {
		fcmError(w, http.StatusNotFound, "NOT_FOUND", "", "Requested entity was not found.")
		return
	}

	switch failure {
	case FailHang:
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		return
	case FailUnavailable:
		w.Header().Set("Retry-After", "30")
		fcmError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable.")
		return
	case FailInternal:
		fcmError(w, http.StatusInternalServerError, "INTERNAL", "INTERNAL", "Internal error encountered.")
		return
	case FailQuotaExceeded:
		w.Header().Set("Retry-After", "60")
		fcmError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for quota metric 'Send requests'.")
		return
	case FailSenderIDMismatch:
		fcmError(w, http.StatusForbidden, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch")
		return
	}

	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		fcmError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "", "Invalid JSON payload received. Content-Type must be application/json.")
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		fcmError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Request body too large.")
		return
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	var body sendBody
	if err := dec.Decode(&body); err != nil {
		fcmError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "", "Invalid JSON payload received.")
		return
	}
	msg, problem := validate(body)
	if problem != "" {
		fcmError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", problem)
		return
	}
	msg.Raw = raw

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unregistered[msg.Token] {
		fcmError(w, http.StatusNotFound, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found.")
		return
	}
	s.seq++
	msg.Name = fmt.Sprintf("projects/%s/messages/0:%d%%%s", s.opts.ProjectID, 1700000000000000+s.seq, randomHex(8))
	if !body.ValidateOnly {
		s.messages = append(s.messages, msg)
		if id, ok := msg.Data["message_id"]; ok {
			s.deliveries[id]++
		}
	}
	if failure == FailAcceptCutShort {
		writeCutShort(w, http.StatusOK, map[string]string{"name": msg.Name})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"name": msg.Name})
}

// validate checks a decoded body as FCM does and returns the message, or
// what is wrong with it.
func validate(body sendBody) (Message, string) {
	m := body.Message
	if m == nil {
		return Message{}, "Request contains an invalid argument: message is required."
	}
	targets := 0
	for _, t := range []string{m.Token, m.Topic, m.Condition} {
		if t != "" {
			targets++
		}
	}
	if targets != 1 {
		return Message{}, "Exactly one of token, topic or condition must be specified."
	}
	if m.Token == "" {
		return Message{}, "fcmtest only accepts messages to a registration token."
	}
	if strings.ContainsAny(m.Token, " \t\r\n") {
		return Message{}, "The registration token is not a valid FCM registration token"
	}
	size := 0
	for k, v := range m.Data {
		if reservedDataKeys[k] {
			return Message{}, fmt.Sprintf("Invalid data payload key: %s", k)
		}
		for _, p := range reservedKeyPrefix {
			if strings.HasPrefix(strings.ToLower(k), p) {
				return Message{}, fmt.Sprintf("Invalid data payload key: %s", k)
			}
		}
		size += len(k) + len(v)
	}
	out := Message{Token: m.Token, Data: m.Data}
	if m.Notification != nil {
		out.Title, out.Body = m.Notification.Title, m.Notification.Body
		size += len(out.Title) + len(out.Body)
	}
	if size > maxPayloadBytes {
		return Message{}, "Message is too big."
	}
	if m.Android != nil && m.Android.TTL != "" {
		if !ttlPattern.MatchString(m.Android.TTL) {
			return Message{}, "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration)"
		}
		out.AndroidTTL = m.Android.TTL
	}
	if m.APNS != nil {
		if exp, ok := m.APNS.Headers["apns-expiration"]; ok {
			if !unixPattern.MatchString(exp) {
				return Message{}, "Invalid apns-expiration header."
			}
			out.APNSExpiration = exp
		}
	}
	return out, ""
}

func (s *Server) validToken(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[token]
	return ok && s.opts.Now().Before(exp)
}

// fcmError writes a Google API error; errorCode, when set, goes into an
// FcmError detail.
func fcmError(w http.ResponseWriter, status int, rpcStatus, errorCode, message string) {
	e := map[string]any{"code": status, "message": message, "status": rpcStatus}
	if errorCode != "" {
		e["details"] = []map[string]string{{
			"@type":     "type.googleapis.com/google.firebase.fcm.v1.FcmError",
			"errorCode": errorCode,
		}}
	}
	writeJSON(w, status, map[string]any{"error": e})
}

// oauthError writes an OAuth 2.0 token endpoint error (RFC 6749 §5.2).
func oauthError(w http.ResponseWriter, code, description string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeCutShort answers status and the first half of v's JSON, then drops
// the connection: an answer broken off on the way.
func writeCutShort(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b[:len(b)/2])
	w.(http.Flusher).Flush()
	if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
		_ = conn.Close()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
