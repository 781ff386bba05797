// Package notify sends messages to people through external providers
// (Twilio and AWS SNS for SMS, Firebase Cloud Messaging for push, SMTP for
// email, a signed HTTP webhook, and a console provider for the embedded
// shape). Each provider is a real client of its service's HTTP API with a
// configurable base URL, so tests run it against a local server that
// speaks the same API. A Router sends a message through the providers of
// its channel in order, with a rate limit and a circuit breaker per
// provider, falling back to the next one when a provider fails.
//
// The package is product-agnostic: what a message says and to whom is the
// caller's business. Recipients and bodies are personal data: nothing here
// logs them or puts them in an error.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Channel is how a message reaches a person.
type Channel string

// The channels.
const (
	SMS     Channel = "sms"
	Push    Channel = "push"
	Email   Channel = "email"
	Webhook Channel = "webhook"
)

// Message is one logical message to one recipient.
type Message struct {
	// ID is the caller's id of the logical message. Providers pass it along
	// where their API has room for it (a status-callback URL parameter, a
	// message attribute, a Message-ID header, a data field), so a delivery
	// can always be traced back to the message that caused it.
	ID      string
	Channel Channel
	// To is an E.164 phone number (sms), an FCM registration token (push),
	// an email address (email) or an https URL (webhook).
	To      string
	Subject string // email subject, push title
	Body    string
	// ValidUntil, when set, is the instant after which the message must not
	// be delivered any more: Twilio gets it as ValidityPeriod, and every
	// provider refuses to send a message already past it (ErrExpired).
	ValidUntil time.Time
	// Data is extra key/value payload (push data, webhook JSON fields).
	Data map[string]string
	// HandOver, when set, is called just before the message is handed to a
	// provider, each time one is about to be tried (after any wait for its
	// rate limit): the caller writes down that the message may now reach
	// the person, so that a process killed before then leaves it known as
	// never sent. An error stops the send: no provider is given the
	// message, and Send returns that error as it is.
	HandOver func() error
}

// Receipt is a provider's acceptance of a message.
type Receipt struct {
	Provider   string // provider name, e.g. "twilio"
	ProviderID string // the provider's message id (Twilio SID, SNS MessageId, FCM name, SMTP Message-ID)
	Status     string // the provider's initial status, e.g. "queued", "accepted"
}

// Provider sends messages of one channel through one service.
type Provider interface {
	// Name is the provider's stable name, used in metrics and stored with
	// each delivery ("twilio", "sns", "fcm", "smtp", "webhook", "console").
	Name() string
	// Channel is the channel the provider serves.
	Channel() Channel
	// Send hands m to the service and returns its receipt once the service
	// has accepted it. Errors are *Error values.
	Send(ctx context.Context, m Message) (Receipt, error)
}

// ErrExpired is returned (wrapped in an *Error) for a message whose
// ValidUntil has passed: it is dropped, never sent late.
var ErrExpired = errors.New("message validity period has passed")

// ErrRedirect is returned (wrapped in a permanent *Error) when a receiver
// answers a message with a redirect (3xx), which is never followed: a
// signed message goes only where it was addressed, and the address is a
// configuration error that retrying will not mend.
var ErrRedirect = errors.New("the receiver answered with a redirect, which is not followed: give the final URL")

// ErrOutcomeUnknown is returned (wrapped in a permanent *Error carrying
// the 2xx status) when a provider accepted a message but its answer could
// not be read: cut short, not in its format, or without the message's id.
// The message has very likely gone out, so it is neither retried nor sent
// through another provider or channel: that would reach the person twice.
var ErrOutcomeUnknown = errors.New("the provider accepted the message but its answer could not be read: it may have gone out")

// ErrUnsubscribed is wrapped by a provider's permanent error for a
// recipient who unsubscribed from the sender at the provider (Twilio
// 21610, SNS OptedOut: the number texted STOP to the sending number or
// account), which blocks every later message to it until the number texts
// START.
var ErrUnsubscribed = errors.New("recipient has unsubscribed (replied STOP)")

// ErrUnregistered is wrapped by a push provider's permanent error for a
// device token that is no longer valid (FCM's UNREGISTERED: the app was
// uninstalled, or the token expired or was replaced). The token will never
// work again: the caller forgets it, so no later message tries it.
var ErrUnregistered = errors.New("device token is no longer registered")

// Error is a failed send. Retryable errors (network failures, timeouts,
// 429, 5xx) may succeed later or through another provider; permanent ones
// (an invalid or unsubscribed recipient, a rejected payload, an expired
// message) will not, and no fallback is tried for them.
type Error struct {
	Provider  string
	Retryable bool
	// Status is the HTTP status (or SMTP reply code), 0 when none arrived.
	Status int
	// Code is the provider's own error code when it gave one (Twilio
	// 21610, FCM UNREGISTERED, SNS InvalidParameter), "" otherwise.
	Code string
	// RetryAfter is how long the provider asked us to wait before the
	// next request (its Retry-After header on a 429 or 503), 0 when it
	// said nothing. The Router sends it nothing until then.
	RetryAfter time.Duration
	// ProviderUp marks a retryable refusal that concerns this message's
	// destination with our account, not the provider's health (Twilio
	// 21408: the To number's country is not enabled for the account): the
	// next provider is tried, and the breaker counts the provider as up, so
	// a few such messages do not turn everyone else's away from it.
	ProviderUp bool
	Err        error
}

func (e *Error) Error() string {
	s := e.Provider + ": "
	if e.Status != 0 {
		s += fmt.Sprintf("status %d: ", e.Status)
	}
	if e.Code != "" {
		s += "code " + e.Code + ": "
	}
	if e.Err != nil {
		s += e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// IsRetryable reports whether err is worth retrying (or trying through
// another provider). Errors that are not *Error are treated as retryable.
func IsRetryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable
	}
	return err != nil
}

// RetryAfter reads a Retry-After header (RFC 9110: seconds, or an HTTP
// date) as a wait from now; 0 when absent, unreadable or past. It is
// capped at MaxRetryAfter.
func RetryAfter(header string, now time.Time) time.Duration {
	header = strings.TrimSpace(header)
	if header == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(header, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		d = time.Duration(min(secs, int64(MaxRetryAfter/time.Second))) * time.Second
	} else if at, err := http.ParseTime(header); err == nil {
		d = at.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}

// MaxRetryAfter bounds the wait a provider's Retry-After can impose: a
// provider asking for an hour is held for ten minutes, then probed again.
const MaxRetryAfter = 10 * time.Minute

// checkValid returns an *Error wrapping ErrExpired when m is past its
// validity at now.
func checkValid(provider string, m Message, now time.Time) error {
	if !m.ValidUntil.IsZero() && !now.Before(m.ValidUntil) {
		return &Error{Provider: provider, Err: ErrExpired}
	}
	return nil
}
