package api

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/notify/twilio"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// Twilio's webhooks: delivery status callbacks and inbound texts. They are
// not behind API-key authentication; each request must carry Twilio's
// X-Twilio-Signature over the URL it was sent to (PublicURL + the request
// URI) and its form body, under the account's auth token. Missing or bad
// signature: 403 and nothing stored. Malformed payload: 400. Body over
// 64 KiB: 413.
//
// An inbound text is answered with empty TwiML: replies go through the
// notification pipeline (rate limits, audit, fallback, validity), never in
// the webhook's answer. Neither numbers nor message text are logged.

// Webhooks configures the Twilio webhooks (Deps.Webhooks).
type Webhooks struct {
	// TwilioAuthToken is the auth token Twilio signs webhooks with; empty
	// means the webhooks are not configured and every webhook request is
	// refused. It does not depend on Twilio sending reminders: texts can
	// arrive through Twilio while another provider sends.
	TwilioAuthToken string
	// PublicURL is the scheme and host (and any path prefix a proxy strips)
	// under which Twilio reaches this server, e.g. https://api.example.com:
	// the signed URL is PublicURL followed by the request URI.
	PublicURL string
}

// maxWebhookBody is the largest webhook body accepted.
const maxWebhookBody = 64 << 10

// emptyTwiML answers an inbound text without replying in TwiML.
const emptyTwiML = `<?xml version="1.0" encoding="UTF-8"?>` + "\n<Response></Response>\n"

// messagingRoutes adds the Twilio webhooks and the consent endpoints.
func (s *server) messagingRoutes(mux *httpx.Mux) {
	s.registerMessaging(mux, s.webhookSettings())
}

// webhookSettings is the Twilio webhook configuration (Deps.Webhooks).
func (s *server) webhookSettings() Webhooks { return s.Webhooks }

// registerMessaging adds the routes with the given webhook settings.
func (s *server) registerMessaging(mux *httpx.Mux, cfg Webhooks) {
	h := &webhookHandler{s: s, cfg: cfg, m: newWebhookMetrics(s.Registry)}
	mux.HandleQuery("POST /v1/webhooks/twilio/status", http.HandlerFunc(h.handleStatus), httpx.AnyQuery)
	mux.HandleQuery("POST /v1/webhooks/twilio/sms", http.HandlerFunc(h.handleInbound), httpx.AnyQuery)

	mux.HandleQuery("GET /v1/patients/{id}/consent", s.authed(s.handleListConsent), "before", "limit")
	mux.Handle("POST /v1/patients/{id}/consent", s.authed(s.handleRecordConsent))
}

type webhookHandler struct {
	s   *server
	cfg Webhooks
	m   *webhookMetrics
}

// webhookMetrics count webhook requests and inbound texts. Labels are
// fixed codes: no number, message id or patient.
type webhookMetrics struct {
	requests *prometheus.CounterVec // webhook, outcome
	inbound  *prometheus.CounterVec // reply, result
}

func newWebhookMetrics(reg prometheus.Registerer) *webhookMetrics {
	m := &webhookMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adherence_twilio_webhook_requests_total",
			Help: "Twilio webhook requests, by webhook (status, sms) and outcome (ok, forbidden, invalid, too_large, error).",
		}, []string{"webhook", "outcome"}),
		inbound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adherence_sms_inbound_total",
			Help: "Inbound texts handled, by what they meant (reply) and what was done (result); replays excluded.",
		}, []string{"reply", "result"}),
	}
	if reg != nil {
		m.requests = registerCounterVec(reg, m.requests)
		m.inbound = registerCounterVec(reg, m.inbound)
	}
	return m
}

// registerCounterVec registers c on reg, or returns the collector already
// registered under its name.
func registerCounterVec(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
	}
	return c
}

// outcomeOf is the metric outcome of a webhook error.
func outcomeOf(err error) string {
	switch errs.CodeOf(err) {
	case errs.CodeForbidden:
		return "forbidden"
	case errs.CodeInvalid, "unsupported_media":
		return "invalid"
	case errs.CodeTooLarge:
		return "too_large"
	}
	return "error"
}

func (h *webhookHandler) fail(w http.ResponseWriter, r *http.Request, webhook string, err error) {
	h.m.requests.WithLabelValues(webhook, outcomeOf(err)).Inc()
	if errs.Is(err, errs.CodeForbidden) {
		h.s.Logger.WarnContext(r.Context(), "twilio webhook refused", "webhook", webhook, "reason", err.Error())
	}
	h.s.fail(w, r, err)
}

// form reads, parses and authenticates a webhook request and returns its
// form parameters.
func (h *webhookHandler) form(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if h.cfg.TwilioAuthToken == "" {
		return nil, errs.Forbidden("twilio webhooks are not configured")
	}
	// Unsigned: refused before anything of the request is judged, so
	// that a caller who is not Twilio learns nothing of what it expects
	// (QA: a JSON body without a signature was told its media type).
	if r.Header.Get(twilio.SignatureHeader) == "" {
		return nil, errs.Forbidden("missing %s", twilio.SignatureHeader)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errs.E(errs.CodeTooLarge, "request body exceeds %d bytes", maxWebhookBody)
		}
		return nil, errs.Invalid("", "could not read request body")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, &errs.Error{Code: "unsupported_media", Message: "request body must be application/x-www-form-urlencoded"}
	}
	if _, err := url.ParseQuery(string(body)); err != nil {
		// No signature can match a form that does not parse: whoever
		// sent it, it is not Twilio's.
		return nil, errs.Forbidden("invalid %s: the form body is malformed, so no signature matches it", twilio.SignatureHeader)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.Form, r.PostForm = nil, nil
	params, ok := twilio.ValidateHTTPRequest(h.cfg.TwilioAuthToken, h.cfg.PublicURL, r)
	if !ok {
		return nil, errs.Forbidden("missing or invalid %s", twilio.SignatureHeader)
	}
	return params, nil
}

// required checks a webhook parameter that must be given and hold at most
// max bytes: a value too long is not answered "is required".
func required(name, v string, max int) error {
	if v == "" {
		return errs.Invalid(name, "is required")
	}
	return optional(name, v, max)
}

// optional checks a webhook field that may be empty: at most max bytes of
// text PostgreSQL can store (a NUL byte or invalid UTF-8 in From or
// MessageStatus was a 500 there, QA).
func optional(name, v string, max int) error {
	switch {
	case len(v) > max:
		return errs.Invalid(name, "is too long (at most %d bytes)", max)
	case !httpx.IsText(v):
		return errs.Invalid(name, "must be UTF-8 text without NUL bytes")
	}
	return nil
}

// messageSID checks a webhook's MessageSid: given, and of the form of a
// Twilio message SID, which becomes the clientEventId of the event a
// reply records (QA: "SM with space" was taken as one).
func messageSID(sid string) error {
	if err := required("MessageSid", sid, maxSID); err != nil {
		return err
	}
	if !twilio.IsMessageSID(sid) {
		return errs.Invalid("MessageSid", "must be a Twilio message SID: SM or MM followed by 32 hexadecimal digits")
	}
	return nil
}

// Limits on the fields read from a webhook.
const (
	maxSID    = 64
	maxStatus = 32
	maxNumber = 32
)

// handleStatus stores a delivery status callback: 204 once stored, also
// for a message unknown here.
func (h *webhookHandler) handleStatus(w http.ResponseWriter, r *http.Request) {
	const webhook = "status"
	params, err := h.form(w, r)
	if err != nil {
		h.fail(w, r, webhook, err)
		return
	}
	sid, status, code := params.Get("MessageSid"), params.Get("MessageStatus"), params.Get("ErrorCode")
	for _, err := range []error{messageSID(sid), required("MessageStatus", status, maxStatus), optional("ErrorCode", code, 16)} {
		if err != nil {
			h.fail(w, r, webhook, err)
			return
		}
	}
	var nid int64
	if v := r.URL.Query().Get(twilio.NIDParam); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			// Our own callback URL carries it: a bad one is a configuration
			// problem, and the message id still finds the notification.
			h.s.Logger.WarnContext(r.Context(), "twilio status callback with a malformed nid")
		} else {
			nid = n
		}
	}
	res, err := h.s.Store.RecordDeliveryStatus(r.Context(), store.StatusInput{
		Provider: twilio.Name, ProviderMessageID: sid, NotificationID: nid, Status: status, ErrorCode: code,
		Source: store.StatusSourceCallback, At: h.s.Now(),
	})
	if err != nil {
		h.fail(w, r, webhook, err)
		return
	}
	h.m.requests.WithLabelValues(webhook, "ok").Inc()
	h.s.Logger.DebugContext(r.Context(), "twilio status callback", "notification_id", res.NotificationID,
		"provider_status", res.ProviderStatus, "status", res.Status, "changed", res.Changed, "repaired", res.Repaired)
	w.WriteHeader(http.StatusNoContent)
}

// handleInbound handles an inbound text and answers empty TwiML.
func (h *webhookHandler) handleInbound(w http.ResponseWriter, r *http.Request) {
	const webhook = "sms"
	params, err := h.form(w, r)
	if err != nil {
		h.fail(w, r, webhook, err)
		return
	}
	sid, from, to := params.Get("MessageSid"), params.Get("From"), params.Get("To")
	for _, err := range []error{messageSID(sid), required("From", from, maxNumber), optional("To", to, maxNumber)} {
		if err != nil {
			h.fail(w, r, webhook, err)
			return
		}
	}
	res, err := h.s.Store.HandleInboundSMS(r.Context(), store.InboundSMS{
		Provider: twilio.Name, ProviderMessageID: sid, From: from, To: to, Body: params.Get("Body"), ReceivedAt: h.s.Now(),
		RequestID: telemetry.RequestID(r.Context()),
	})
	if err != nil {
		h.fail(w, r, webhook, err)
		return
	}
	h.m.requests.WithLabelValues(webhook, "ok").Inc()
	if !res.Replayed {
		h.m.inbound.WithLabelValues(string(res.Reply), res.Result).Inc()
	}
	if h.s.OnEscalationAcknowledged != nil {
		for _, level := range res.AcknowledgedLevels {
			h.s.OnEscalationAcknowledged(level)
		}
	}
	attrs := []any{"message_sid", sid, "reply", string(res.Reply), "result", res.Result, "replayed", res.Replayed}
	if res.EventResult != "" {
		attrs = append(attrs, "event_result", string(res.EventResult))
	}
	h.s.Logger.InfoContext(r.Context(), "inbound sms", attrs...)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, emptyTwiML)
}
