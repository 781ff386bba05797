// Package snstest is a local HTTP server speaking the part of the Amazon
// SNS API that the sns provider uses: the Publish action to a phone
// number, in the AWS Query protocol the AWS SDK for Go v2 SNS client
// (v1.48) speaks — a form POST to "/" with Action=Publish&Version=2010-03-31,
// MessageAttributes.entry.N.{Name,Value.DataType,Value.StringValue}, signed
// with SigV4 — answered with SNS's XML (PublishResponse, or ErrorResponse
// with SNS's error codes). There is no SNS emulator to test against, so
// this is it.
//
// It checks that every request carries a SigV4 Authorization header
// scoped to the sns service (it does not recompute the signature), records
// what it accepted, counts deliveries per message-id attribute, and can
// simulate outages. It does not depend on the testing package. A Server is
// safe for concurrent use.
package snstest

import (
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// DefaultIDAttribute is the message attribute whose value Deliveries
// counts by, when Options.IDAttribute is empty.
const DefaultIDAttribute = "medplatform.message_id"

// apiVersion is the SNS API version of the Query protocol.
const apiVersion = "2010-03-31"

// xmlns is SNS's XML namespace.
const xmlns = "http://sns.amazonaws.com/doc/2010-03-31/"

// Failure is a simulated outage mode.
type Failure int

// The failure modes; they apply to every request until changed.
const (
	// FailNone answers normally.
	FailNone Failure = iota
	// FailHTTP500 answers 500 InternalError.
	FailHTTP500
	// FailHang answers nothing until the client gives up or the server
	// closes.
	FailHang
	// FailThrottle answers 429 Throttled.
	FailThrottle
	// FailAuthorization answers 403 AuthorizationError, as SNS does when
	// the credentials' account may not publish (a policy denying it).
	FailAuthorization
	// FailAcceptMalformed publishes the message as usual (it counts in
	// Accepted and Deliveries) but answers 200 with a PublishResponse
	// that is not well-formed XML, so the client cannot read its
	// MessageId.
	FailAcceptMalformed
)

// Options configures a Server.
type Options struct {
	// IDAttribute names the message attribute Deliveries counts by;
	// empty means DefaultIDAttribute.
	IDAttribute string
	// Latency is slept before answering each Publish.
	Latency time.Duration
	// Addr is the address to listen on; empty means 127.0.0.1:0.
	Addr string
}

// Attribute is a message attribute as received.
type Attribute struct {
	DataType    string
	StringValue string
}

// Published is one message the server accepted.
type Published struct {
	MessageID   string
	PhoneNumber string
	Message     string
	Attributes  map[string]Attribute
	// AccessKeyID and Region come from the SigV4 credential scope.
	AccessKeyID string
	Region      string
}

// Server is a fake SNS endpoint on a loopback address.
type Server struct {
	// URL is the endpoint, for sns.Config.Endpoint.
	URL string

	idAttr  string
	latency time.Duration
	srv     *http.Server
	done    chan struct{}
	closed  sync.Once
	active  sync.WaitGroup // handlers running; Add only under mu while !stopped

	mu         sync.Mutex
	stopped    bool
	failure    Failure
	requests   int
	msgs       []Published
	deliveries map[string]int
	optedOut   map[string]bool
}

// New starts a Server. Close it when done.
func New(opts Options) (*Server, error) {
	s := &Server{
		idAttr:     opts.IDAttribute,
		latency:    opts.Latency,
		done:       make(chan struct{}),
		deliveries: make(map[string]int),
		optedOut:   make(map[string]bool),
	}
	if s.idAttr == "" {
		s.idAttr = DefaultIDAttribute
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("snstest: listen: %w", err)
	}
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serve),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server and waits for its handlers to return.
func (s *Server) Close() {
	s.closed.Do(func() {
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		close(s.done)
		s.srv.Close()
		s.active.Wait()
	})
}

// SetFailure switches the failure mode; it applies from the next request.
func (s *Server) SetFailure(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failure = f
}

// OptOut makes the server refuse messages to number as SNS does for a
// number that opted out (400 OptedOut).
func (s *Server) OptOut(number string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.optedOut[number] = true
}

// Requests returns how many requests the server received, answered or
// not (to check that a client does not retry).
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Accepted returns how many messages the server accepted.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Deliveries returns, per value of the id attribute, how many messages
// carrying it were accepted. A count above 1 means a message was sent
// twice. Messages without the attribute are not counted.
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
func (s *Server) Messages() []Published {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Published(nil), s.msgs...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.active.Add(1)
	s.requests++
	failure := s.failure
	s.mu.Unlock()
	defer s.active.Done()

	switch failure {
	case FailHTTP500:
		writeError(w, http.StatusInternalServerError, "Receiver", "InternalError", "Internal server error")
		return
	case FailThrottle:
		writeError(w, http.StatusTooManyRequests, "Sender", "Throttled", "Rate exceeded")
		return
	case FailAuthorization:
		writeError(w, http.StatusForbidden, "Sender", "AuthorizationError", "User is not authorized to perform: SNS:Publish")
		return
	case FailHang:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		return
	}

	akid, region, ok := s.checkAuth(w, r)
	if !ok {
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeError(w, http.StatusNotFound, "Sender", "InvalidAction", "Unknown request")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		writeError(w, http.StatusBadRequest, "Sender", "MalformedInput", "Request body must be application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 512<<10)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "Sender", "MalformedInput", "Unable to parse request body")
		return
	}
	f := r.PostForm
	if action, version := f.Get("Action"), f.Get("Version"); action != "Publish" || version != apiVersion {
		writeError(w, http.StatusBadRequest, "Sender", "InvalidAction",
			fmt.Sprintf("Could not find operation %s for version %s", action, version))
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
	p := Published{PhoneNumber: f.Get("PhoneNumber"), Message: f.Get("Message"), AccessKeyID: akid, Region: region}
	switch {
	case f.Get("TopicArn") != "" || f.Get("TargetArn") != "":
		writeError(w, http.StatusBadRequest, "Sender", "InvalidParameter", "Invalid parameter: snstest serves only Publish to a PhoneNumber")
		return
	case p.PhoneNumber == "":
		writeError(w, http.StatusBadRequest, "Sender", "InvalidParameter", "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter")
		return
	case !isE164(p.PhoneNumber):
		// Like SNS, the message quotes the number: clients must not copy
		// it into their errors.
		writeError(w, http.StatusBadRequest, "Sender", "InvalidParameter",
			"Invalid parameter: PhoneNumber Reason: "+p.PhoneNumber+" is not valid to publish to")
		return
	case p.Message == "":
		writeError(w, http.StatusBadRequest, "Sender", "InvalidParameter", "Invalid parameter: Empty message")
		return
	}
	attrs, msg := parseAttributes(f)
	if msg != "" {
		writeError(w, http.StatusBadRequest, "Sender", "ParameterValueInvalid", msg)
		return
	}
	if t, ok := attrs["AWS.SNS.SMS.SMSType"]; ok && t.StringValue != "Transactional" && t.StringValue != "Promotional" {
		writeError(w, http.StatusBadRequest, "Sender", "InvalidParameter", "Invalid parameter: MessageAttributes Reason: AWS.SNS.SMS.SMSType must be Transactional or Promotional")
		return
	}
	p.Attributes = attrs
	p.MessageID = uuid.NewString()

	s.mu.Lock()
	if s.optedOut[p.PhoneNumber] {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "Sender", "OptedOut", "Phone number is opted out")
		return
	}
	s.msgs = append(s.msgs, p)
	if id := attrs[s.idAttr].StringValue; id != "" {
		s.deliveries[id]++
	}
	s.mu.Unlock()

	if failure == FailAcceptMalformed {
		writeXML(w, http.StatusOK, fmt.Sprintf(`<PublishResponse xmlns="%s"><PublishResult><MessageId>%s</Message`, xmlns, p.MessageID))
		return
	}
	writeXML(w, http.StatusOK, fmt.Sprintf(
		`<PublishResponse xmlns="%s"><PublishResult><MessageId>%s</MessageId></PublishResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></PublishResponse>`,
		xmlns, p.MessageID, uuid.NewString()))
}

// checkAuth requires a SigV4 Authorization header scoped to sns, and an
// X-Amz-Date header, as SNS does. It returns the access key id and region
// of the credential scope, or answers the error and reports false.
func (s *Server) checkAuth(w http.ResponseWriter, r *http.Request) (akid, region string, ok bool) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		writeError(w, http.StatusForbidden, "Sender", "MissingAuthenticationToken", "Request is missing Authentication Token")
		return "", "", false
	}
	rest, found := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !found {
		writeError(w, http.StatusBadRequest, "Sender", "IncompleteSignature", "Unsupported authorization type")
		return "", "", false
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] == "" || len(scope[1]) != 8 || scope[4] != "aws4_request" ||
		fields["SignedHeaders"] == "" || len(fields["Signature"]) != 64 || r.Header.Get("X-Amz-Date") == "" {
		writeError(w, http.StatusBadRequest, "Sender", "IncompleteSignature", "Authorization header requires Credential, SignedHeaders, Signature and an X-Amz-Date header")
		return "", "", false
	}
	if scope[3] != "sns" {
		writeError(w, http.StatusForbidden, "Sender", "SignatureDoesNotMatch", "Credential should be scoped to correct service: 'sns'.")
		return "", "", false
	}
	return scope[0], scope[2], true
}

// parseAttributes reads MessageAttributes.entry.N.* (N from 1) from the
// form. It returns a non-empty message for an invalid attribute.
func parseAttributes(f map[string][]string) (map[string]Attribute, string) {
	get := func(k string) string {
		if v := f[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	attrs := map[string]Attribute{}
	for i := 1; ; i++ {
		prefix := "MessageAttributes.entry." + strconv.Itoa(i) + "."
		name := get(prefix + "Name")
		if name == "" {
			break
		}
		a := Attribute{DataType: get(prefix + "Value.DataType"), StringValue: get(prefix + "Value.StringValue")}
		if a.DataType == "" {
			return nil, "The message attribute '" + name + "' must contain non-empty message attribute type."
		}
		if strings.HasPrefix(a.DataType, "String") || strings.HasPrefix(a.DataType, "Number") {
			if a.StringValue == "" {
				return nil, "The message attribute '" + name + "' must contain non-empty message attribute value."
			}
		}
		attrs[name] = a
	}
	return attrs, ""
}

// writeError answers SNS's Query-protocol error document.
func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	writeXML(w, status, fmt.Sprintf(
		`<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		xmlns, escape(typ), escape(code), escape(msg), uuid.NewString()))
}

func writeXML(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func escape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
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
