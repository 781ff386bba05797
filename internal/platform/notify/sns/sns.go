// Package sns is an SMS provider for notify that publishes each message
// directly to a phone number through Amazon SNS (the Publish action with
// PhoneNumber), using the AWS SDK for Go v2. It is the SMS fallback behind
// Twilio.
//
// Recipients and bodies are personal data: errors carry SNS's error code
// and HTTP status, never SNS's error message (which can quote the number).
package sns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/medplatform/medplatform/internal/platform/notify"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// Name is the provider's name.
const Name = "sns"

// SMS types SNS knows.
const (
	Transactional = "Transactional"
	Promotional   = "Promotional"
)

// Message attribute names.
const (
	AttrSMSType  = "AWS.SNS.SMS.SMSType"
	AttrSenderID = "AWS.SNS.SMS.SenderID"
	// AttrMessageID carries notify.Message.ID, so a delivery (and SNS's
	// delivery-status logs) can be traced back to its message.
	AttrMessageID = "medplatform.message_id"
)

// maxAttempts is how many times the SDK sends one Publish: once. The SDK's
// default (3 attempts with backoff) is wrong here for two reasons. The
// Router in front of this provider already falls back to another SMS
// provider, and the job that called it retries later, so SDK retries would
// only delay the fallback by seconds and multiply the load on a struggling
// service. And a Publish to a phone number is not idempotent: retrying
// after a timeout whose request SNS did accept sends the SMS twice.
const maxAttempts = 1

// Config configures a Client.
type Config struct {
	// Region is the AWS region, e.g. "us-east-1". Empty means the region
	// of the default configuration chain (AWS_REGION, shared config).
	Region string
	// Endpoint overrides SNS's endpoint (tests point it at snstest).
	Endpoint string
	// SenderID is the alphanumeric sender id, where the destination
	// country supports one; empty means none.
	SenderID string
	// SMSType is Transactional (the default: reminders must go through,
	// including to numbers on do-not-disturb lists) or Promotional.
	SMSType string
	// Credentials sign the requests; nil means the SDK's default chain
	// (environment, shared files, ECS task role, IMDS).
	Credentials aws.CredentialsProvider
	// HTTPClient makes the requests; nil means the SDK's default.
	HTTPClient *http.Client
	// Now is the clock for ValidUntil; nil means time.Now.
	Now func() time.Time
	// Logger receives the SDK's own messages (credentials falling back
	// to IMDSv1, …); nil discards them.
	Logger *slog.Logger
}

// Client sends SMS through SNS. It is safe for concurrent use.
type Client struct {
	api      *awssns.Client
	senderID string
	smsType  string
	now      func() time.Time
}

// New checks cfg and returns a Client. With nil Credentials it loads the
// SDK's default configuration (which reads environment variables and
// shared config files, but makes no network call).
// ErrNoRegion is New's error when no AWS region is configured: neither
// Config.Region nor the AWS default chain (AWS_REGION, the shared config
// file) names one.
var ErrNoRegion = errors.New("sns: Region is required (none configured)")

func New(ctx context.Context, cfg Config) (*Client, error) {
	c := &Client{senderID: cfg.SenderID, smsType: cfg.SMSType, now: cfg.Now}
	switch c.smsType {
	case "":
		c.smsType = Transactional
	case Transactional, Promotional:
	default:
		return nil, fmt.Errorf("sns: SMSType must be %s or %s", Transactional, Promotional)
	}
	if n := len(cfg.SenderID); n > 11 {
		return nil, errors.New("sns: SenderID is at most 11 characters")
	}
	if c.now == nil {
		c.now = time.Now
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var awsCfg aws.Config
	if cfg.Credentials != nil {
		awsCfg = aws.Config{Region: cfg.Region, Credentials: cfg.Credentials, Logger: telemetry.AWSLogger(logger)}
	} else {
		opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithLogger(telemetry.AWSLogger(logger))}
		if cfg.Region != "" {
			opts = append(opts, awsconfig.WithRegion(cfg.Region))
		}
		var err error
		awsCfg, err = awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("sns: load AWS configuration: %w", err)
		}
	}
	if awsCfg.Region == "" {
		return nil, ErrNoRegion
	}
	c.api = awssns.NewFromConfig(awsCfg, func(o *awssns.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		if cfg.HTTPClient != nil {
			o.HTTPClient = cfg.HTTPClient
		}
		// Both, so that AWS_MAX_ATTEMPTS in the environment cannot
		// raise it again.
		o.Retryer = retry.AddWithMaxAttempts(retry.NewStandard(), maxAttempts)
		o.RetryMaxAttempts = maxAttempts
	})
	return c, nil
}

// Name returns "sns".
func (c *Client) Name() string { return Name }

// Channel returns notify.SMS.
func (c *Client) Channel() notify.Channel { return notify.SMS }

// Send publishes m to the phone number m.To and returns SNS's MessageId.
// A message past its ValidUntil is not sent (SNS has no validity period of
// its own, so one sent now is delivered whenever the carrier manages).
func (c *Client) Send(ctx context.Context, m notify.Message) (notify.Receipt, error) {
	if m.Channel != "" && m.Channel != notify.SMS {
		return notify.Receipt{}, &notify.Error{Provider: Name, Err: fmt.Errorf("channel %s is not sms", m.Channel)}
	}
	if !m.ValidUntil.IsZero() && !c.now().Before(m.ValidUntil) {
		return notify.Receipt{}, &notify.Error{Provider: Name, Err: notify.ErrExpired}
	}
	if m.To == "" {
		return notify.Receipt{}, &notify.Error{Provider: Name, Err: errors.New("message has no recipient")}
	}
	if m.Body == "" {
		return notify.Receipt{}, &notify.Error{Provider: Name, Err: errors.New("message has no body")}
	}
	attrs := map[string]types.MessageAttributeValue{
		AttrSMSType: {DataType: aws.String("String"), StringValue: aws.String(c.smsType)},
	}
	if c.senderID != "" {
		attrs[AttrSenderID] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(c.senderID)}
	}
	if m.ID != "" {
		attrs[AttrMessageID] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(m.ID)}
	}
	out, err := c.api.Publish(ctx, &awssns.PublishInput{
		PhoneNumber:       aws.String(m.To),
		Message:           aws.String(m.Body),
		MessageAttributes: attrs,
	})
	if err != nil {
		return notify.Receipt{}, mapError(err)
	}
	if out.MessageId == nil || *out.MessageId == "" {
		// SNS said yes but gave no id. Not retryable: the SMS may well
		// be on its way, and a fallback could deliver it twice.
		return notify.Receipt{}, &notify.Error{Provider: Name, Status: http.StatusOK,
			Err: fmt.Errorf("publish: response has no MessageId: %w", notify.ErrOutcomeUnknown)}
	}
	return notify.Receipt{Provider: Name, ProviderID: *out.MessageId, Status: "accepted"}, nil
}

// retryableCodes are SNS (and generic AWS) error codes worth another try.
var retryableCodes = map[string]bool{
	"Throttled":               true, // SNS ThrottledException
	"Throttling":              true,
	"ThrottlingException":     true,
	"KMSThrottling":           true,
	"InternalError":           true, // SNS InternalErrorException
	"InternalFailure":         true,
	"ServiceUnavailable":      true,
	"RequestTimeout":          true,
	"RequestTimeoutException": true,
}

// credentialCodes are the AWS error codes of SNS refusing our own
// credentials or account rather than the message (a rotated or expired
// key, a policy denying SNS:Publish). They are retryable, as Twilio's 401
// and 403 are: the next provider may still reach the person, and the
// breaker counts the failures.
var credentialCodes = map[string]bool{
	"AuthorizationError":          true,
	"InvalidClientTokenId":        true,
	"SignatureDoesNotMatch":       true,
	"MissingAuthenticationToken":  true,
	"ExpiredToken":                true,
	"UnrecognizedClientException": true,
}

// mapError turns an SDK error into an *notify.Error. API errors are
// retryable for throttling and server faults (5xx, 429, or a code above)
// and for a refusal of our credentials (credentialCodes), permanent
// otherwise (InvalidParameter, ParameterValueInvalid, OptedOut, …: another
// try would fail the same way). Errors
// without an API answer (network failures, timeouts) are retryable. SNS's
// message text is dropped: it can quote the phone number.
func mapError(err error) error {
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		retryable := retryableCodes[code] || credentialCodes[code] || status >= 500 || status == http.StatusTooManyRequests ||
			(status == 0 && ae.ErrorFault() == smithy.FaultServer)
		if code == "OptedOut" {
			// The number opted out of this AWS account's texts (it replied
			// STOP): like Twilio's 21610, the consent ledger keeps it, so
			// that later messages do not try it again.
			return &notify.Error{Provider: Name, Status: status, Code: code, Err: fmt.Errorf("publish: %s: %w", code, notify.ErrUnsubscribed)}
		}
		return &notify.Error{Provider: Name, Retryable: retryable, Status: status, Code: code, Err: fmt.Errorf("publish: %s", code)}
	}
	if status >= 200 && status < 300 {
		// Accepted but unreadable (not well-formed, cut short: the SDK
		// reports an XML syntax error as it is, not always as a
		// DeserializationError): not retryable, see Send.
		return &notify.Error{Provider: Name, Status: status, Err: fmt.Errorf("publish: decode response: %w: %w", err, notify.ErrOutcomeUnknown)}
	}
	// No SNS error document: a network failure or timeout (status 0), or
	// an answer from something in between (a proxy's HTML page). 4xx
	// other than 408 and 429 would come back the same, but a 401, 403, 404
	// or 405 refuses the endpoint, not the message (a wrong SNS_ENDPOINT, a
	// proxy refusing us): the next provider may reach the person, and the
	// refusals count against SNS's breaker (QA: recorded undeliverable).
	permanent := status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests &&
		status != http.StatusUnauthorized && status != http.StatusForbidden && status != http.StatusNotFound && status != http.StatusMethodNotAllowed
	return &notify.Error{Provider: Name, Retryable: !permanent, Status: status, Err: fmt.Errorf("publish: %w", err)}
}
