package sns_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/medplatform/medplatform/internal/platform/notify"
	"github.com/medplatform/medplatform/internal/platform/notify/sns"
	"github.com/medplatform/medplatform/internal/platform/notify/sns/snstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

const patient = "+15005550010"

func newServer(t *testing.T) *snstest.Server {
	t.Helper()
	srv, err := snstest.New(snstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func newClient(t *testing.T, endpoint string, edit func(*sns.Config)) *sns.Client {
	t.Helper()
	hc := &http.Client{}
	t.Cleanup(hc.CloseIdleConnections)
	cfg := sns.Config{
		Region:      "us-east-1",
		Endpoint:    endpoint,
		SenderID:    "MedPlat",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		HTTPClient:  hc,
		Now:         func() time.Time { return t0 },
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := sns.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func msg(id string) notify.Message {
	return notify.Message{ID: id, Channel: notify.SMS, To: patient, Body: "Time for your 8am dose"}
}

func TestPublish(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv.URL, nil)
	if c.Name() != "sns" || c.Channel() != notify.SMS {
		t.Errorf("Name, Channel = %q, %q", c.Name(), c.Channel())
	}
	m := msg("m-1")
	m.ValidUntil = t0.Add(time.Hour)
	rec, err := c.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Provider != "sns" || rec.Status != "accepted" || len(rec.ProviderID) != 36 {
		t.Errorf("receipt = %+v", rec)
	}
	want := []snstest.Published{{
		MessageID:   rec.ProviderID,
		PhoneNumber: patient,
		Message:     "Time for your 8am dose",
		Attributes: map[string]snstest.Attribute{
			"AWS.SNS.SMS.SMSType":    {DataType: "String", StringValue: "Transactional"},
			"AWS.SNS.SMS.SenderID":   {DataType: "String", StringValue: "MedPlat"},
			"medplatform.message_id": {DataType: "String", StringValue: "m-1"},
		},
		AccessKeyID: "AKIDTEST",
		Region:      "us-east-1",
	}}
	if diff := cmp.Diff(want, srv.Messages()); diff != "" {
		t.Errorf("published (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"m-1": 1}, srv.Deliveries()); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
}

func TestPublishPromotionalWithoutSenderID(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv.URL, func(cfg *sns.Config) { cfg.SenderID, cfg.SMSType = "", sns.Promotional })
	if _, err := c.Send(context.Background(), msg("m-2")); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()[0].Attributes
	want := map[string]snstest.Attribute{
		"AWS.SNS.SMS.SMSType":    {DataType: "String", StringValue: "Promotional"},
		"medplatform.message_id": {DataType: "String", StringValue: "m-2"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
}

// TestPublishWireFormat checks the raw request the SDK sends: the AWS
// Query protocol, SigV4-signed for sns.
func TestPublishWireFormat(t *testing.T) {
	var (
		mu   sync.Mutex
		req  *http.Request
		form url.Values
	)
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f, _ := url.ParseQuery(string(b))
		mu.Lock()
		req, form = r, f
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>abc-123</MessageId></PublishResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PublishResponse>`)
	}))
	defer h.Close()
	c := newClient(t, h.URL, nil)
	rec, err := c.Send(context.Background(), msg("m-3"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.ProviderID != "abc-123" {
		t.Errorf("ProviderID = %q, want abc-123", rec.ProviderID)
	}
	mu.Lock()
	defer mu.Unlock()
	if req.Method != http.MethodPost || req.URL.Path != "/" {
		t.Errorf("request = %s %s", req.Method, req.URL.Path)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", ct)
	}
	auth := req.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") || !strings.Contains(auth, "/us-east-1/sns/aws4_request") {
		t.Errorf("Authorization = %q, want SigV4 for sns in us-east-1", auth)
	}
	if req.Header.Get("X-Amz-Date") == "" {
		t.Error("no X-Amz-Date header")
	}
	for k, want := range map[string]string{"Action": "Publish", "Version": "2010-03-31", "PhoneNumber": patient, "Message": "Time for your 8am dose"} {
		if got := form.Get(k); got != want {
			t.Errorf("form %s = %q, want %q", k, got, want)
		}
	}
	attrs := map[string]string{}
	for i := 1; form.Get("MessageAttributes.entry."+strconv.Itoa(i)+".Name") != ""; i++ {
		p := "MessageAttributes.entry." + strconv.Itoa(i) + "."
		attrs[form.Get(p+"Name")] = form.Get(p+"Value.DataType") + ":" + form.Get(p+"Value.StringValue")
	}
	want := map[string]string{
		"AWS.SNS.SMS.SMSType":    "String:Transactional",
		"AWS.SNS.SMS.SenderID":   "String:MedPlat",
		"medplatform.message_id": "String:m-3",
	}
	if diff := cmp.Diff(want, attrs); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
}

func TestPublishErrors(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(*snstest.Server)
		edit      func(*sns.Config)
		to        string
		timeout   time.Duration
		status    int
		code      string
		retryable bool
		is        error
		requests  int
	}{
		{name: "invalid number", to: "5550010", status: 400, code: "InvalidParameter", requests: 1},
		{name: "opted out", setup: func(s *snstest.Server) { s.OptOut(patient) }, status: 400, code: "OptedOut", is: notify.ErrUnsubscribed, requests: 1},
		// Our credentials or account are refused, not the message: another
		// provider may still reach the person.
		{
			name: "unsigned", edit: func(c *sns.Config) { c.Credentials = aws.AnonymousCredentials{} },
			status: 403, code: "MissingAuthenticationToken", retryable: true, requests: 1,
		},
		{name: "not authorized", setup: func(s *snstest.Server) { s.SetFailure(snstest.FailAuthorization) }, status: 403, code: "AuthorizationError", retryable: true, requests: 1},
		{name: "server error, not retried by the SDK", setup: func(s *snstest.Server) { s.SetFailure(snstest.FailHTTP500) }, status: 500, code: "InternalError", retryable: true, requests: 1},
		{name: "throttled", setup: func(s *snstest.Server) { s.SetFailure(snstest.FailThrottle) }, status: 429, code: "Throttled", retryable: true, requests: 1},
		{
			name: "hang until the deadline", setup: func(s *snstest.Server) { s.SetFailure(snstest.FailHang) },
			// Not less: under load the signing and connection alone took
			// 100 ms, and the request never reached the server (QA).
			timeout: time.Second, retryable: true, is: context.DeadlineExceeded, requests: 1,
		},
		{name: "connection refused", edit: func(c *sns.Config) { c.Endpoint = "http://127.0.0.1:1" }, retryable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			if tt.setup != nil {
				tt.setup(srv)
			}
			c := newClient(t, srv.URL, tt.edit)
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
				t.Fatalf("Send = %v, want *notify.Error", err)
			}
			if ne.Provider != "sns" || ne.Status != tt.status || ne.Code != tt.code || ne.Retryable != tt.retryable {
				t.Errorf("error = {Provider %q Status %d Code %q Retryable %v}, want {sns %d %q %v}",
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
			if got := srv.Requests(); got != tt.requests {
				t.Errorf("server got %d requests, want %d", got, tt.requests)
			}
			if srv.Accepted() != 0 {
				t.Errorf("server accepted %d messages", srv.Accepted())
			}
		})
	}
}

func TestPublishExpired(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv.URL, nil)
	m := msg("late")
	m.ValidUntil = t0
	if _, err := c.Send(context.Background(), m); !errors.Is(err, notify.ErrExpired) || notify.IsRetryable(err) {
		t.Errorf("Send = %v, want permanent ErrExpired", err)
	}
	if srv.Requests() != 0 {
		t.Error("expired message published")
	}
}

func TestOutageAndRecovery(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv.URL, nil)
	srv.SetFailure(snstest.FailHTTP500)
	if _, err := c.Send(context.Background(), msg("a")); !notify.IsRetryable(err) {
		t.Fatalf("Send during outage = %v, want retryable", err)
	}
	srv.SetFailure(snstest.FailNone)
	if _, err := c.Send(context.Background(), msg("a")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"a": 1}, srv.Deliveries()); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider("A", "S", "")
	tests := []struct {
		name string
		cfg  sns.Config
		want string
	}{
		{"bad SMS type", sns.Config{Region: "us-east-1", Credentials: creds, SMSType: "Urgent"}, "SMSType"},
		{"sender id too long", sns.Config{Region: "us-east-1", Credentials: creds, SenderID: "MedPlatformInc"}, "SenderID"},
		{"no region", sns.Config{Credentials: creds}, "Region"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sns.New(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error about %s", err, tt.want)
			}
		})
	}
}

func TestPublishNonXMLAnswers(t *testing.T) {
	tests := []struct {
		status    int
		retryable bool
	}{
		// The endpoint refused, not the message (a wrong SNS_ENDPOINT, a
		// proxy): another provider may reach the person.
		{http.StatusForbidden, true},
		{http.StatusNotFound, true},
		{http.StatusMethodNotAllowed, true},
		// A proxy's refusal of this request.
		{http.StatusBadRequest, false},
		{http.StatusBadGateway, true},
		{http.StatusTooManyRequests, true},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(tt.status)
				io.WriteString(w, "<html><body>proxy says no</body></html>")
			}))
			defer h.Close()
			c := newClient(t, h.URL, nil)
			_, err := c.Send(context.Background(), msg("x"))
			var ne *notify.Error
			if !errors.As(err, &ne) || ne.Status != tt.status || ne.Retryable != tt.retryable {
				t.Errorf("Send = %#v, want status %d retryable %v", err, tt.status, tt.retryable)
			}
		})
	}
}

// A 200 to a Publish whose answer cannot be read (not well-formed XML, not
// XML at all, no MessageId) is an acceptance of unknown outcome: SNS has
// the message, so it is permanent and never sent again through another
// provider. A PublishResponse cut short was a retryable error (the SDK
// reports the XML syntax error as it is, not as a DeserializationError),
// so the router texted the patient a second time.
func TestPublishUnreadableAcceptance(t *testing.T) {
	tests := []struct {
		name string
		body string // "" for snstest's FailAcceptMalformed
	}{
		{"not well-formed", ""},
		{"not xml", "OK"},
		{"no MessageId", `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult></PublishResult></PublishResponse>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := ""
			if tt.body == "" {
				srv := newServer(t)
				srv.SetFailure(snstest.FailAcceptMalformed)
				url = srv.URL
			} else {
				h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/xml")
					io.WriteString(w, tt.body)
				}))
				defer h.Close()
				url = h.URL
			}
			c := newClient(t, url, nil)
			_, err := c.Send(context.Background(), msg("x"))
			var ne *notify.Error
			if !errors.As(err, &ne) || ne.Status != http.StatusOK || ne.Retryable || !errors.Is(err, notify.ErrOutcomeUnknown) {
				t.Errorf("Send = %v, want a permanent error of unknown outcome with status 200 (the SMS may have gone out)", err)
			}
		})
	}
}

// SNS refusing our credentials (AuthorizationError: a policy denying
// SNS:Publish, a key rotated without the configuration) says nothing about
// the message: the next SMS provider sends it. It was a permanent error,
// so the router stopped at SNS.
func TestRouterFallbackOnRefusedCredentials(t *testing.T) {
	primarySrv, secondarySrv := newServer(t), newServer(t)
	primarySrv.SetFailure(snstest.FailAuthorization)
	primary := newClient(t, primarySrv.URL, nil)
	secondary := &renamed{Provider: newClient(t, secondarySrv.URL, nil), name: "sns-backup"}
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

// renamed gives a provider another name, as a second account would have.
type renamed struct {
	notify.Provider
	name string
}

func (r *renamed) Name() string { return r.name }
