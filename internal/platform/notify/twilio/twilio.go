// Package twilio is an SMS provider for notify built on Twilio
// Programmable Messaging's REST API (2010-04-01 Messages resource): it
// creates messages, fetches their delivery status for reconciliation, and
// validates the X-Twilio-Signature of Twilio's webhooks (status callbacks
// and inbound SMS).
//
// Recipients and bodies are personal data: no error made here contains
// them, nor Twilio's own error text (which can quote the number); errors
// carry the HTTP status and Twilio's numeric error code instead.
package twilio

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/platform/notify"
)

// Name is the provider's name.
const Name = "twilio"

// DefaultBaseURL is Twilio's REST API.
const DefaultBaseURL = "https://api.twilio.com"

// ValidityPeriod bounds in seconds: Twilio accepts a ValidityPeriod from
// 1 second to 36,000 seconds (10 hours); out-of-range values are refused
// with error 21624 (https://www.twilio.com/docs/api/errors/21624).
const (
	MinValidityPeriod = 1
	MaxValidityPeriod = 36000
)

// NIDParam is the query parameter added to the StatusCallback URL that
// carries notify.Message.ID, so a callback names the message it is about.
const NIDParam = "nid"

// SignatureHeader is the header Twilio signs its webhook requests with.
const SignatureHeader = "X-Twilio-Signature"

// maxResponse bounds how much of a Twilio response is read.
const maxResponse = 1 << 20

// defaultHTTPTimeout bounds a request when Config.HTTPClient is nil. The
// Router's per-attempt context is usually shorter.
const defaultHTTPTimeout = 30 * time.Second

// Config configures a Client.
type Config struct {
	// BaseURL is the API's scheme and host; empty means DefaultBaseURL.
	// Tests point it at a twiliotest server.
	BaseURL string
	// AccountSID ("AC" + 32 hex digits) and AuthToken authenticate every
	// request (HTTP basic auth) and sign Twilio's webhooks.
	AccountSID, AuthToken string
	// From is the sending phone number (E.164) or alphanumeric sender id;
	// MessagingServiceSID ("MG…") sends through a Messaging Service
	// instead. Exactly one of them is set.
	From                string
	MessagingServiceSID string
	// StatusCallback is the URL Twilio posts delivery status changes to;
	// each message's URL gets nid=<Message.ID> added to its query. Empty
	// means no callbacks.
	StatusCallback string
	// HTTPClient makes the requests; nil means a client with a 30s timeout.
	HTTPClient *http.Client
	// Now is the clock for ValidUntil; nil means time.Now.
	Now func() time.Time
}

// Client sends SMS through Twilio. It is safe for concurrent use.
type Client struct {
	base     string // BaseURL without a trailing slash
	account  string
	token    string
	from     string
	service  string
	callback *url.URL // nil: none
	http     *http.Client
	now      func() time.Time
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	c := &Client{
		account: cfg.AccountSID,
		token:   cfg.AuthToken,
		from:    cfg.From,
		service: cfg.MessagingServiceSID,
		http:    cfg.HTTPClient,
		now:     cfg.Now,
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("twilio: BaseURL must be an absolute http(s) URL")
	}
	c.base = strings.TrimRight(base, "/")
	if !isSID(cfg.AccountSID, "AC") {
		return nil, errors.New(`twilio: AccountSID must be "AC" followed by 32 hex digits`)
	}
	if cfg.AuthToken == "" {
		return nil, errors.New("twilio: AuthToken is required")
	}
	switch {
	case cfg.From == "" && cfg.MessagingServiceSID == "":
		return nil, errors.New("twilio: one of From and MessagingServiceSID is required")
	case cfg.From != "" && cfg.MessagingServiceSID != "":
		return nil, errors.New("twilio: set From or MessagingServiceSID, not both")
	case cfg.MessagingServiceSID != "" && !isSID(cfg.MessagingServiceSID, "MG"):
		return nil, errors.New(`twilio: MessagingServiceSID must be "MG" followed by 32 hex digits`)
	}
	if cfg.StatusCallback != "" {
		cb, err := url.Parse(cfg.StatusCallback)
		if err != nil || (cb.Scheme != "https" && cb.Scheme != "http") || cb.Host == "" {
			return nil, errors.New("twilio: StatusCallback must be an absolute http(s) URL")
		}
		c.callback = cb
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Name returns "twilio".
func (c *Client) Name() string { return Name }

// Channel returns notify.SMS.
func (c *Client) Channel() notify.Channel { return notify.SMS }

// messageResource is the part of Twilio's Message resource we read.
type messageResource struct {
	SID          string `json:"sid"`
	Status       string `json:"status"`
	ErrorCode    *int   `json:"error_code"`
	ErrorMessage string `json:"error_message"`
	DateUpdated  string `json:"date_updated"`
}

// apiError is Twilio's error body.
type apiError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

// Send creates the message through Twilio and returns its receipt: the
// message SID and Twilio's initial status ("queued", or "accepted" through
// a Messaging Service). A message past its ValidUntil is not sent (an
// *notify.Error wrapping notify.ErrExpired); otherwise the time left goes
// to Twilio as ValidityPeriod, so Twilio drops it rather than deliver it
// late.
func (c *Client) Send(ctx context.Context, m notify.Message) (notify.Receipt, error) {
	if m.Channel != "" && m.Channel != notify.SMS {
		return notify.Receipt{}, &notify.Error{Provider: Name, Err: fmt.Errorf("channel %s is not sms", m.Channel)}
	}
	if m.To == "" {
		return notify.Receipt{}, &notify.Error{Provider: Name, Err: errors.New("message has no recipient")}
	}
	if m.Body == "" {
		return notify.Receipt{}, &notify.Error{Provider: Name, Err: errors.New("message has no body")}
	}
	form := url.Values{}
	form.Set("To", m.To)
	form.Set("Body", m.Body)
	if c.service != "" {
		form.Set("MessagingServiceSid", c.service)
	} else {
		form.Set("From", c.from)
	}
	if !m.ValidUntil.IsZero() {
		vp, ok := validityPeriod(m.ValidUntil.Sub(c.now()))
		if !ok {
			return notify.Receipt{}, &notify.Error{Provider: Name, Err: notify.ErrExpired}
		}
		form.Set("ValidityPeriod", strconv.Itoa(vp))
	}
	if c.callback != nil {
		form.Set("StatusCallback", callbackURL(c.callback, m.ID))
	}

	endpoint := c.base + "/2010-04-01/Accounts/" + c.account + "/Messages.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return notify.Receipt{}, &notify.Error{Provider: Name, Err: fmt.Errorf("create message: build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var res messageResource
	if err := c.do(req, "create message", &res); err != nil {
		return notify.Receipt{}, err
	}
	if res.SID == "" {
		// Twilio said yes but we cannot tell to what. Not retryable: the
		// message may well be on its way, and sending it again through
		// another provider could deliver it twice.
		return notify.Receipt{}, &notify.Error{Provider: Name, Status: http.StatusCreated,
			Err: fmt.Errorf("create message: response has no sid: %w", notify.ErrOutcomeUnknown)}
	}
	return notify.Receipt{Provider: Name, ProviderID: res.SID, Status: res.Status}, nil
}

// validityPeriod converts the time left into Twilio's ValidityPeriod:
// whole seconds rounded down, at most MaxValidityPeriod. It reports false
// when less than MinValidityPeriod is left: the message has expired.
func validityPeriod(left time.Duration) (int, bool) {
	secs := left / time.Second
	if secs < MinValidityPeriod {
		return 0, false
	}
	if secs > MaxValidityPeriod {
		return MaxValidityPeriod, true
	}
	return int(secs), true
}

// callbackURL returns cb with nid=id added to its query, keeping what the
// query already had; with no id, cb as it is.
func callbackURL(cb *url.URL, id string) string {
	if id == "" {
		return cb.String()
	}
	u := *cb
	q := u.Query()
	q.Set(NIDParam, id)
	u.RawQuery = q.Encode()
	return u.String()
}

// Status is a message's delivery state as Fetch reads it.
type Status struct {
	SID    string
	Status string // Twilio's status: queued, sent, delivered, undelivered, failed, …
	// ErrorCode is Twilio's error code for a failed or undelivered message
	// (30003 unreachable handset, 30005 unknown destination, …); 0 when none.
	ErrorCode int
	// Updated is Twilio's date_updated; zero when Twilio gave none.
	Updated time.Time
}

// Fetch reads the current status of the message sid, for a reconciliation
// job that looks at messages stuck in "sent" when callbacks went missing.
func (c *Client) Fetch(ctx context.Context, sid string) (Status, error) {
	if !IsMessageSID(sid) {
		return Status{}, &notify.Error{Provider: Name, Err: errors.New(`fetch message: sid must be "SM" or "MM" followed by 32 hex digits`)}
	}
	endpoint := c.base + "/2010-04-01/Accounts/" + c.account + "/Messages/" + sid + ".json"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return Status{}, &notify.Error{Provider: Name, Err: fmt.Errorf("fetch message: build request: %w", err)}
	}
	var res messageResource
	if err := c.do(req, "fetch message", &res); err != nil {
		return Status{}, err
	}
	st := Status{SID: res.SID, Status: res.Status}
	if res.ErrorCode != nil {
		st.ErrorCode = *res.ErrorCode
	}
	if res.DateUpdated != "" {
		t, err := time.Parse(time.RFC1123Z, res.DateUpdated)
		if err != nil {
			return Status{}, &notify.Error{Provider: Name, Status: http.StatusOK, Err: fmt.Errorf("fetch message: bad date_updated: %w", err)}
		}
		st.Updated = t.UTC()
	}
	return st, nil
}

// do sends req with the account's credentials and decodes a 2xx JSON body
// into out. Failures are *notify.Error values; what names the operation.
func (c *Client) do(req *http.Request, what string, out any) error {
	req.SetBasicAuth(c.account, c.token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		// Network failures and timeouts: worth another try. The error
		// names the URL, which holds the account SID but no personal data.
		return &notify.Error{Provider: Name, Retryable: true, Err: fmt.Errorf("%s: %w", what, err)}
	}
	defer resp.Body.Close()
	// A 2xx to a create: Twilio has the message, whatever follows.
	accepted := resp.StatusCode >= 200 && resp.StatusCode < 300 && req.Method == http.MethodPost
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		// A 2xx to a create whose body broke off: Twilio created the
		// message, so not retryable (see Send). A fetch may be tried again.
		if accepted {
			err = fmt.Errorf("%w: %w", err, notify.ErrOutcomeUnknown)
		}
		return &notify.Error{Provider: Name, Retryable: !accepted, Status: resp.StatusCode, Err: fmt.Errorf("%s: read response: %w", what, err)}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if err := json.Unmarshal(body, out); err != nil {
			// Accepted but unreadable: not retryable, see Send.
			if accepted {
				err = fmt.Errorf("%w: %w", err, notify.ErrOutcomeUnknown)
			}
			return &notify.Error{Provider: Name, Status: resp.StatusCode, Err: fmt.Errorf("%s: decode response: %w", what, err)}
		}
		return nil
	}
	err = responseError(what, req.Method == http.MethodPost, resp.StatusCode, body)
	if e, ok := errors.AsType[*notify.Error](err); ok && e.Retryable {
		e.RetryAfter = notify.RetryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	return err
}

// responseError maps a non-2xx Twilio answer to an *notify.Error. 429 and
// 5xx are retryable, and so are 401 and 403 and the 4xx codes of
// senderCodes: Twilio refused our account or sending number (bad
// credentials, a suspended account, a full sending queue, a country not
// enabled), not the message, and another provider may still reach the
// person (the router counts it against Twilio's breaker and falls back).
// Every other 4xx is about the message and permanent: another try would
// fail the same way. Twilio's message text is not copied: it can quote
// the recipient.
//
// A 404 or 405 to a create (POST) is about the endpoint too: the account's
// Messages resource is always there, so the base URL or account SID is
// wrong (a TWILIO_BASE_URL given with the API version in it). Permanent,
// every reminder was recorded undeliverable with no fallback and Twilio's
// breaker stayed closed (QA). To a fetch, a 404 is the message's.
func responseError(what string, create bool, status int, body []byte) error {
	e := &notify.Error{Provider: Name, Status: status}
	var ae apiError
	if json.Unmarshal(body, &ae) == nil && ae.Code != 0 {
		e.Code = strconv.Itoa(ae.Code)
	}
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusUnauthorized, status == http.StatusForbidden:
		e.Retryable = true
	case create && (status == http.StatusNotFound || status == http.StatusMethodNotAllowed):
		e.Retryable = true
	case senderCodes[e.Code]:
		e.Retryable = true
		// About this destination with our account: Twilio is up for
		// every other message.
		e.ProviderUp = destinationCodes[e.Code]
	case status >= 400 && status < 500:
		e.Retryable = false
	default:
		e.Retryable = true
	}
	phrase := codePhrases[e.Code]
	if phrase == "" {
		phrase = strings.ToLower(http.StatusText(status))
	}
	if phrase == "" {
		phrase = "unexpected response"
	}
	if e.Code == "21610" {
		e.Err = fmt.Errorf("%s: %w", what, notify.ErrUnsubscribed)
		return e
	}
	e.Err = fmt.Errorf("%s: %s", what, phrase)
	return e
}

// senderCodes are the Twilio error codes, answered with a 400, that are
// about our account or sending number rather than the message: a message
// refused with one of them could go through another provider. 21611 in
// particular is met at a morning peak: the From number's queue is full
// (it holds at most the validity period of messages, see ValidityPeriod),
// and the next messages are refused with it until the queue drains.
var senderCodes = map[string]bool{
	"21212": true, // invalid From number
	"21408": true, // sending to this region is not enabled on the account
	"21603": true, // no From number or MessagingServiceSid
	"21606": true, // From is not a message-capable number of the account
	"21608": true, // a trial account may send only to verified numbers
	"21611": true, // the From number's message queue is full
	"21659": true, // From is not a Twilio number of the account
	"63017": true, // the account's rate limit
	"63038": true, // the account's daily message limit
}

// destinationCodes are the senderCodes that depend on the message's
// destination as well (a country not enabled, a trial account's unverified
// recipient, a From not valid for this destination): they fall back
// without counting against Twilio's breaker.
var destinationCodes = map[string]bool{"21408": true, "21606": true, "21608": true}

// codePhrases describes the Twilio error codes a sender meets most, in
// fixed words that hold no personal data.
var codePhrases = map[string]string{
	"20003": "authentication failed",
	"20404": "resource not found",
	"20429": "too many requests",
	"21211": "invalid To phone number",
	"21408": "sending to this region is not enabled",
	"21602": "message body is required",
	"21603": "a From number or MessagingServiceSid is required",
	"21604": "To phone number is required",
	"21606": "From number is not a valid message-capable Twilio number",
	"21611": "the From number's message queue is full",
	"21212": "invalid From phone number",
	"21659": "From number is not a Twilio number of this account",
	"63017": "account rate limit exceeded",
	"63038": "account daily message limit exceeded",
	"21608": "trial accounts may send only to verified numbers",
	"21610": "recipient has unsubscribed (replied STOP)",
	"21612": "cannot route a message to this number",
	"21614": "To number is not a mobile number",
	"21617": "message body exceeds 1600 characters",
	"21624": "invalid validity period",
	"30007": "message filtered as spam",
}

// IsMessageSID reports whether s is a Twilio message SID: "SM" (SMS) or
// "MM" (MMS) followed by 32 hex digits.
func IsMessageSID(s string) bool { return isSID(s, "SM") || isSID(s, "MM") }

// isSID reports whether s is prefix followed by 32 hex digits.
func isSID(s, prefix string) bool {
	if len(s) != 34 || !strings.HasPrefix(s, prefix) {
		return false
	}
	_, err := hex.DecodeString(s[2:])
	return err == nil
}

// Signature computes Twilio's X-Twilio-Signature for a request to fullURL
// (scheme, host, path and query exactly as Twilio called them) with the
// form parameters params: the URL, then for each parameter name in sorted
// order each of its distinct values in sorted order as name+value, signed
// with HMAC-SHA1 keyed by the auth token and base64-encoded. Sorting and
// de-duplicating the values of a repeated name is what Twilio's official
// helper libraries (twilio-python, twilio-node) do.
func Signature(authToken, fullURL string, params url.Values) string {
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names)
	mac := hmac.New(sha1.New, []byte(authToken))
	io.WriteString(mac, fullURL)
	for _, name := range names {
		values := append([]string(nil), params[name]...)
		sort.Strings(values)
		for i, v := range values {
			if i > 0 && v == values[i-1] {
				continue
			}
			io.WriteString(mac, name)
			io.WriteString(mac, v)
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ValidateRequest reports whether signature is Twilio's signature of a
// request to fullURL with params, comparing in constant time. Like
// Twilio's helper libraries it accepts a signature computed with or
// without the port in the URL (https://host/… and https://host:443/…),
// since Twilio's own signing is not consistent about it.
func ValidateRequest(authToken, fullURL string, params url.Values, signature string) bool {
	if signature == "" {
		return false
	}
	ok := false
	for _, u := range urlVariants(fullURL) {
		want := Signature(authToken, u, params)
		if subtle.ConstantTimeCompare([]byte(want), []byte(signature)) == 1 {
			ok = true
		}
	}
	return ok
}

// urlVariants returns rawURL with its port removed and with the scheme's
// default port added (each once, when different from rawURL), plus rawURL
// itself.
func urlVariants(rawURL string) []string {
	out := []string{rawURL}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return out
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	without := *u
	without.Host = host
	with := *u
	if u.Port() == "" {
		switch u.Scheme {
		case "https":
			with.Host = net.JoinHostPort(u.Hostname(), "443")
		case "http":
			with.Host = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	for _, v := range []string{without.String(), with.String()} {
		if v != rawURL {
			out = append(out, v)
		}
	}
	return out
}

// ValidateHTTPRequest checks a webhook request from Twilio (a status
// callback or an inbound SMS). publicBase is the scheme and host (and any
// path prefix a proxy strips) under which Twilio reaches us, e.g.
// "https://api.example.com"; the URL Twilio signed is publicBase followed
// by r.URL.RequestURI(). It parses the form body and returns the
// parameters and whether the X-Twilio-Signature header matches them; a
// missing header or an unreadable body does not. For a GET webhook (no
// body) the signature covers the URL alone and the query parameters are
// returned.
func ValidateHTTPRequest(authToken, publicBase string, r *http.Request) (url.Values, bool) {
	if err := r.ParseForm(); err != nil {
		return nil, false
	}
	signed, params := r.PostForm, r.PostForm
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		signed, params = nil, r.URL.Query()
	}
	sig := r.Header.Get(SignatureHeader)
	if sig == "" {
		return params, false
	}
	full := strings.TrimRight(publicBase, "/") + r.URL.RequestURI()
	return params, ValidateRequest(authToken, full, signed, sig)
}

// Twilio's message statuses.
const (
	StatusAccepted    = "accepted"
	StatusScheduled   = "scheduled"
	StatusQueued      = "queued"
	StatusSending     = "sending"
	StatusSent        = "sent"
	StatusReceiving   = "receiving"
	StatusReceived    = "received"
	StatusDelivered   = "delivered"
	StatusUndelivered = "undelivered"
	StatusFailed      = "failed"
	StatusRead        = "read"
	StatusCanceled    = "canceled"
)

// statusRanks orders the statuses along a message's life. Callbacks can
// arrive out of order: a stored status is replaced only by one of higher
// rank, so the state moves forward and a terminal state is never
// overwritten by a late intermediate one. Among terminal states, evidence
// that the message arrived (delivered, then read) outranks failure, since
// carriers sometimes report delivery after an undelivered receipt.
var statusRanks = map[string]int{
	StatusAccepted:    1,
	StatusScheduled:   2,
	StatusQueued:      3,
	StatusSending:     4,
	StatusReceiving:   4,
	StatusSent:        5,
	StatusCanceled:    6,
	StatusFailed:      6,
	StatusUndelivered: 7,
	StatusReceived:    8,
	StatusDelivered:   8,
	StatusRead:        9,
}

// StatusRank returns status's place in a message's life (see above): a
// new status should replace the stored one only when its rank is higher.
// Unknown statuses rank 0 and so never replace a known one.
func StatusRank(status string) int {
	return statusRanks[status]
}
