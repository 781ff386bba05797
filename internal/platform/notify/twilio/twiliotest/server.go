// Package twiliotest is a local HTTP server that speaks the part of
// Twilio's REST API the twilio provider uses (create and fetch a Message),
// faithfully enough for tests and load benchmarks: it checks basic auth,
// methods, paths and form fields, answers Twilio's JSON resources and
// Twilio's JSON errors with Twilio's error codes, records what it
// accepted, can simulate an outage (500s, or requests that hang until the
// client gives up), and plays Twilio's side of webhooks: signed status
// callbacks and signed inbound-SMS requests.
//
// It does not depend on the testing package, so a benchmark program can
// run it too. A Server is safe for concurrent use.
package twiliotest

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Default credentials of a Server whose Options leave them empty.
const (
	DefaultAccountSID = "AC00000000000000000000000000000001"
	DefaultAuthToken  = "twiliotest-auth-token"
)

// PoolNumber is the sender a Messaging Service "picks" for a message sent
// with MessagingServiceSid and no From.
const PoolNumber = "+15005550006"

// apiVersion is the only API version served.
const apiVersion = "2010-04-01"

// Failure is a simulated outage mode.
type Failure int

// The failure modes. They apply to every API request (create and fetch)
// until changed.
const (
	// FailNone answers normally.
	FailNone Failure = iota
	// FailHTTP500 answers 500 with Twilio's JSON error (code 20500).
	FailHTTP500
	// FailHang answers nothing until the client gives up (its request
	// context is done) or the server closes.
	FailHang
	// FailRateLimit answers 429 with Twilio's JSON error (code 20429).
	FailRateLimit
	// FailAcceptCutShort creates the message as usual (it counts in
	// Accepted and Deliveries) but the connection drops in the middle of
	// the 201 answer, so the client cannot read what Twilio created.
	// Fetches are answered normally.
	FailAcceptCutShort
	// FailQueueFull refuses every new message from a From number with
	// Twilio's 400 and code 21611: the number's queue holds as many
	// messages as it may (its send rate times the validity period).
	// Fetches are answered normally.
	FailQueueFull
	// FailRegionNotEnabled refuses every new message with Twilio's 400
	// and code 21408: the account may not text the To number's country.
	FailRegionNotEnabled
)

// Options configures a Server.
type Options struct {
	// AccountSID and AuthToken are the credentials the server accepts and
	// signs webhooks with; empty means DefaultAccountSID, DefaultAuthToken.
	AccountSID, AuthToken string
	// Latency is slept before answering each message creation.
	Latency time.Duration
	// Addr is the address to listen on; empty means 127.0.0.1:0.
	Addr string
	// Now is the server's clock for date_created and date_updated; nil
	// means time.Now.
	Now func() time.Time
}

// Received is one message the server accepted.
type Received struct {
	SID                 string
	To                  string
	From                string // as given; "" when sent through a Messaging Service
	MessagingServiceSID string
	Body                string
	// NID is the nid query parameter of StatusCallback (the caller's
	// message id), "" when none.
	NID            string
	StatusCallback string
	// ValidityPeriod is the ValidityPeriod field in seconds, 0 when absent.
	ValidityPeriod int
	// Status is the message's current status.
	Status  string
	Created time.Time
}

// Server is a fake Twilio REST API on a loopback address.
type Server struct {
	// URL is the server's base URL, for twilio.Config.BaseURL.
	URL string
	// AccountSID and AuthToken are the credentials the server accepts.
	AccountSID, AuthToken string

	latency time.Duration
	now     func() time.Time
	srv     *http.Server
	client  *http.Client // for callbacks
	done    chan struct{}
	closed  sync.Once
	active  sync.WaitGroup // handlers running; Add only under mu while !stopped

	mu         sync.Mutex
	stopped    bool
	failure    Failure
	msgs       []*message
	bySID      map[string]*message
	deliveries map[string]int
	optedOut   map[string]bool
}

// message is a stored message; guarded by Server.mu.
type message struct {
	Received
	updated   time.Time
	errorCode int
}

// New starts a Server. Close it when done.
func New(opts Options) (*Server, error) {
	s := &Server{
		AccountSID: opts.AccountSID,
		AuthToken:  opts.AuthToken,
		latency:    opts.Latency,
		now:        opts.Now,
		client:     &http.Client{Timeout: 10 * time.Second},
		done:       make(chan struct{}),
		bySID:      make(map[string]*message),
		deliveries: make(map[string]int),
		optedOut:   make(map[string]bool),
	}
	if s.AccountSID == "" {
		s.AccountSID = DefaultAccountSID
	}
	if s.AuthToken == "" {
		s.AuthToken = DefaultAuthToken
	}
	if s.now == nil {
		s.now = time.Now
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("twiliotest: listen: %w", err)
	}
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server: requests hanging in FailHang or Latency return,
// connections close, and Close waits for the handlers to finish.
func (s *Server) Close() {
	s.closed.Do(func() {
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		close(s.done)
		s.srv.Close()
		s.active.Wait()
		s.client.CloseIdleConnections()
	})
}

// SetFailure switches the failure mode; it applies from the next request.
func (s *Server) SetFailure(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failure = f
}

// OptOut makes the server refuse messages to number as Twilio does for a
// recipient who replied STOP (400, code 21610).
func (s *Server) OptOut(number string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.optedOut[number] = true
}

// Accepted returns how many messages the server accepted.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Deliveries returns, per nid (the caller's message id carried in the
// StatusCallback URL), how many times a message with it was accepted. A
// count above 1 means a message was sent twice.
func (s *Server) Deliveries() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.deliveries))
	for k, v := range s.deliveries {
		out[k] = v
	}
	return out
}

// Messages returns the accepted messages in the order they arrived.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Received, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = m.Received
	}
	return out
}

// SetStatus sets the status that fetching the message sid returns. For
// "failed" and "undelivered" it also sets a Twilio error code (30008
// unknown error, 30003 unreachable destination handset).
func (s *Server) SetStatus(sid, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.bySID[sid]
	if m == nil {
		return fmt.Errorf("twiliotest: no message %s", sid)
	}
	m.Status = status
	m.updated = s.now().UTC()
	m.errorCode = errorCodeFor(status)
	return nil
}

func errorCodeFor(status string) int {
	switch status {
	case "undelivered":
		return 30003
	case "failed":
		return 30008
	}
	return 0
}

// Callback sets the message's status, as SetStatus does, and posts a
// status callback to the message's StatusCallback URL as Twilio does:
// form fields MessageSid, SmsSid, MessageStatus, SmsStatus, AccountSid,
// From, To, ApiVersion, MessagingServiceSid (when used) and ErrorCode (for
// failed and undelivered), signed in X-Twilio-Signature with the auth
// token. It returns an error when the message has no StatusCallback or the
// endpoint does not answer 2xx.
func (s *Server) Callback(ctx context.Context, sid, status string) error {
	if err := s.SetStatus(sid, status); err != nil {
		return err
	}
	s.mu.Lock()
	m := *s.bySID[sid]
	s.mu.Unlock()
	if m.StatusCallback == "" {
		return fmt.Errorf("twiliotest: message %s has no StatusCallback", sid)
	}
	form := url.Values{
		"MessageSid":    {m.SID},
		"SmsSid":        {m.SID},
		"MessageStatus": {status},
		"SmsStatus":     {status},
		"AccountSid":    {s.AccountSID},
		"From":          {senderOf(m.Received)},
		"To":            {m.To},
		"ApiVersion":    {apiVersion},
	}
	if m.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", m.MessagingServiceSID)
	}
	if m.errorCode != 0 {
		form.Set("ErrorCode", strconv.Itoa(m.errorCode))
	}
	req, err := s.SignedRequest(ctx, m.StatusCallback, form)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("twiliotest: status callback: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return fmt.Errorf("twiliotest: status callback answered %d", resp.StatusCode)
	}
	return nil
}

// SignedRequest builds a POST of params (form-encoded) to targetURL signed
// the way Twilio signs its webhooks, for tests of webhook handlers (status
// callbacks, inbound SMS). Serve it with a handler directly or send it.
func (s *Server) SignedRequest(ctx context.Context, targetURL string, params url.Values) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, targetURL, strings.NewReader(params.Encode()))
	if err != nil {
		return nil, fmt.Errorf("twiliotest: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set("X-Twilio-Signature", s.Sign(targetURL, params))
	return req, nil
}

// Sign returns the X-Twilio-Signature of a request to fullURL with the
// form parameters params, under the server's auth token.
func (s *Server) Sign(fullURL string, params url.Values) string {
	return Sign(s.AuthToken, fullURL, params)
}

// Sign returns Twilio's webhook signature: base64 of HMAC-SHA1, keyed by
// the auth token, of the full URL followed by each parameter name (sorted)
// concatenated with each of its distinct values (sorted). It is written
// independently of the twilio package so each checks the other.
func Sign(authToken, fullURL string, params url.Values) string {
	var b strings.Builder
	b.WriteString(fullURL)
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		vs := append([]string(nil), params[k]...)
		sort.Strings(vs)
		prev := ""
		for i, v := range vs {
			if i > 0 && v == prev {
				continue
			}
			prev = v
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/2010-04-01/Accounts/{account}/Messages.json", s.handleMessages)
	mux.HandleFunc("/2010-04-01/Accounts/{account}/Messages/{file}", s.handleMessage)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return
		}
		s.active.Add(1)
		s.mu.Unlock()
		defer s.active.Done()
		mux.ServeHTTP(w, r)
	})
}

// gate applies the failure mode, then authentication and the account in
// the path. It reports whether the request may proceed; if not it has
// answered.
func (s *Server) gate(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	failure := s.failure
	s.mu.Unlock()
	switch failure {
	case FailHTTP500:
		s.writeError(w, http.StatusInternalServerError, 20500, "Internal Server Error")
		return false
	case FailRateLimit:
		s.writeError(w, http.StatusTooManyRequests, 20429, "Too Many Requests")
		return false
	case FailHang:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		return false
	}
	user, pass, ok := r.BasicAuth()
	if !ok || !hmac.Equal([]byte(user), []byte(s.AccountSID)) || !hmac.Equal([]byte(pass), []byte(s.AuthToken)) {
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		writeJSON(w, http.StatusUnauthorized, map[string]any{
			"code":      20003,
			"detail":    "Your AccountSid or AuthToken was incorrect.",
			"message":   "Authenticate",
			"more_info": "https://www.twilio.com/docs/errors/20003",
			"status":    http.StatusUnauthorized,
		})
		return false
	}
	if r.PathValue("account") != s.AccountSID {
		s.writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return false
	}
	return true
}

func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request) {
	if !s.gate(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		s.writeError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		return
	}
	if s.latency > 0 {
		t := time.NewTimer(s.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.done:
			t.Stop()
			return
		}
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		s.writeError(w, http.StatusBadRequest, 20001, "Request body must be application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.writeError(w, http.StatusBadRequest, 20001, "Unable to parse request body")
		return
	}
	f := r.PostForm
	to, from, service, body := f.Get("To"), f.Get("From"), f.Get("MessagingServiceSid"), f.Get("Body")
	switch {
	case to == "":
		s.writeError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case from == "" && service == "":
		s.writeError(w, http.StatusBadRequest, 21603, "A 'From' phone number is required.")
		return
	case body == "" && f.Get("MediaUrl") == "" && f.Get("ContentSid") == "":
		s.writeError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	case !isE164(to):
		// Like Twilio, the message quotes the number: clients must not
		// copy it into their errors.
		s.writeError(w, http.StatusBadRequest, 21211, "The 'To' number "+to+" is not a valid phone number.")
		return
	case utf8.RuneCountInString(body) > 1600:
		s.writeError(w, http.StatusBadRequest, 21617, "The concatenated message body exceeds the 1600 character limit.")
		return
	}
	s.mu.Lock()
	failure := s.failure
	s.mu.Unlock()
	switch {
	case failure == FailQueueFull && from != "":
		s.writeError(w, http.StatusBadRequest, 21611, "This 'From' number has exceeded the maximum number of queued messages")
		return
	case failure == FailRegionNotEnabled:
		s.writeError(w, http.StatusBadRequest, 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: "+to)
		return
	}
	validity := 0
	if v := f.Get("ValidityPeriod"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 36000 {
			s.writeError(w, http.StatusBadRequest, 21624, "Invalid validity period value")
			return
		}
		validity = n
	}
	callback, nid := f.Get("StatusCallback"), ""
	if callback != "" {
		u, err := url.Parse(callback)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			s.writeError(w, http.StatusBadRequest, 21609, "Invalid StatusCallback url")
			return
		}
		nid = u.Query().Get("nid")
	}

	now := s.now().UTC()
	m := &message{
		Received: Received{
			SID:                 newSID("SM"),
			To:                  to,
			From:                from,
			MessagingServiceSID: service,
			Body:                body,
			NID:                 nid,
			StatusCallback:      callback,
			ValidityPeriod:      validity,
			Status:              "queued",
			Created:             now,
		},
		updated: now,
	}
	if from == "" {
		// Through a Messaging Service Twilio first answers "accepted",
		// and picks the sender later.
		m.Status = "accepted"
	}
	s.mu.Lock()
	if s.optedOut[to] {
		s.mu.Unlock()
		s.writeError(w, http.StatusBadRequest, 21610, "Attempt to send to unsubscribed recipient")
		return
	}
	s.msgs = append(s.msgs, m)
	s.bySID[m.SID] = m
	if nid != "" {
		s.deliveries[nid]++
	}
	res := s.resource(m)
	cut := s.failure == FailAcceptCutShort
	s.mu.Unlock()
	if cut {
		writeCutShort(w, http.StatusCreated, res)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

func (s *Server) handleMessage(w http.ResponseWriter, r *http.Request) {
	if !s.gate(w, r) {
		return
	}
	if r.Method != http.MethodGet {
		s.writeError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		return
	}
	sid, ok := strings.CutSuffix(r.PathValue("file"), ".json")
	s.mu.Lock()
	m := s.bySID[sid]
	var res resource
	if ok && m != nil {
		res = s.resource(m)
	}
	s.mu.Unlock()
	if !ok || m == nil {
		s.writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// resource is Twilio's Message resource.
type resource struct {
	AccountSID          string            `json:"account_sid"`
	APIVersion          string            `json:"api_version"`
	Body                string            `json:"body"`
	DateCreated         string            `json:"date_created"`
	DateSent            *string           `json:"date_sent"`
	DateUpdated         string            `json:"date_updated"`
	Direction           string            `json:"direction"`
	ErrorCode           *int              `json:"error_code"`
	ErrorMessage        *string           `json:"error_message"`
	From                *string           `json:"from"`
	MessagingServiceSID *string           `json:"messaging_service_sid"`
	NumMedia            string            `json:"num_media"`
	NumSegments         string            `json:"num_segments"`
	Price               *string           `json:"price"`
	PriceUnit           string            `json:"price_unit"`
	SID                 string            `json:"sid"`
	Status              string            `json:"status"`
	SubresourceURIs     map[string]string `json:"subresource_uris"`
	To                  string            `json:"to"`
	URI                 string            `json:"uri"`
}

// resource renders m; the caller holds s.mu.
func (s *Server) resource(m *message) resource {
	uri := "/2010-04-01/Accounts/" + s.AccountSID + "/Messages/" + m.SID
	res := resource{
		AccountSID:      s.AccountSID,
		APIVersion:      apiVersion,
		Body:            m.Body,
		DateCreated:     m.Created.Format(time.RFC1123Z),
		DateUpdated:     m.updated.Format(time.RFC1123Z),
		Direction:       "outbound-api",
		NumMedia:        "0",
		NumSegments:     strconv.Itoa(segments(m.Body)),
		PriceUnit:       "USD",
		SID:             m.SID,
		Status:          m.Status,
		SubresourceURIs: map[string]string{"media": uri + "/Media.json"},
		To:              m.To,
		URI:             uri + ".json",
	}
	if m.From != "" || m.Status != "accepted" {
		// Through a Messaging Service the sender is null until chosen.
		from := senderOf(m.Received)
		res.From = &from
	}
	if m.MessagingServiceSID != "" {
		res.MessagingServiceSID = &m.MessagingServiceSID
	}
	if m.errorCode != 0 {
		code, msg := m.errorCode, "Unknown error"
		if code == 30003 {
			msg = "Unreachable destination handset"
		}
		res.ErrorCode, res.ErrorMessage = &code, &msg
	}
	switch m.Status {
	case "sent", "delivered", "undelivered", "read":
		sent := m.updated.Format(time.RFC1123Z)
		res.DateSent = &sent
	}
	return res
}

// senderOf is the number the message goes out from.
func senderOf(m Received) string {
	if m.From != "" {
		return m.From
	}
	return PoolNumber
}

// segments estimates the SMS segments of body (GSM-7 sized).
func segments(body string) int {
	n := utf8.RuneCountInString(body)
	if n <= 160 {
		return 1
	}
	return (n + 152) / 153
}

func (s *Server) writeError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{
		"code":      code,
		"message":   msg,
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
		"status":    status,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// writeCutShort answers status and the first half of v's JSON, then drops
// the connection: an answer broken off on the way.
func writeCutShort(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b[:len(b)/2])
	w.(http.Flusher).Flush()
	if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
		conn.Close()
	}
}

// isE164 reports whether s is "+" then 2 to 15 digits, the first not 0.
func isE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// newSID returns prefix followed by 32 random hex digits.
func newSID(prefix string) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(errors.New("twiliotest: crypto/rand failed"))
	}
	return prefix + hex.EncodeToString(b[:])
}
