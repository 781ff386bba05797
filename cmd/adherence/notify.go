package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/adherence/api"
	"github.com/medplatform/medplatform/internal/platform/config"
	"github.com/medplatform/medplatform/internal/platform/notify"
	"github.com/medplatform/medplatform/internal/platform/notify/email"
	"github.com/medplatform/medplatform/internal/platform/notify/fcm"
	"github.com/medplatform/medplatform/internal/platform/notify/sns"
	"github.com/medplatform/medplatform/internal/platform/notify/twilio"
	"github.com/medplatform/medplatform/internal/platform/notify/webhook"
)

// notifier is the process's message delivery: the Router over the
// configured providers, and what the webhooks and the reconciliation job
// need from Twilio.
type notifier struct {
	router *notify.Router
	// twilio is the Twilio client when Twilio is configured (status
	// reconciliation), nil otherwise.
	twilio *twilio.Client
	// twilioAuthToken (TWILIO_AUTH_TOKEN) validates Twilio's webhook
	// signatures; it is read whether or not Twilio sends, since inbound
	// texts and status callbacks arrive either way.
	twilioAuthToken string
	// log receives the providers' SDK messages.
	log       *slog.Logger
	publicURL string
	http      *http.Client
	// webhookAllowHTTP (WEBHOOK_ALLOW_HTTP) lets escalation policies post
	// to http:// URLs: the API accepts them and the webhook provider sends.
	webhookAllowHTTP bool
	// webhookOff: no WEBHOOK_SECRET, so the webhook channel is off and
	// the API refuses escalation levels that would page through it.
	webhookOff bool
	// consoleEnvs are the settings (SMS_PROVIDERS, …) whose channel the
	// console provider serves, by default or by name: its messages are
	// printed, not sent (see serve's warning).
	consoleEnvs []string
}

// twilioWebhooks is the configuration of the API's Twilio webhooks. They
// are on when TWILIO_AUTH_TOKEN and PUBLIC_URL are both set, whatever
// SMS_PROVIDERS says: a number can receive texts through Twilio while
// reminders go out through another provider. When only one of the two is
// set, the webhooks are off (Twilio signs the public URL, so without it no
// signature could validate) and warning says so.
func (n *notifier) twilioWebhooks() (cfg api.Webhooks, warning string) {
	switch {
	case n.twilioAuthToken != "" && n.publicURL != "":
		return api.Webhooks{TwilioAuthToken: n.twilioAuthToken, PublicURL: n.publicURL}, ""
	case n.twilioAuthToken != "":
		return api.Webhooks{}, "twilio webhooks are off: TWILIO_AUTH_TOKEN is set but PUBLIC_URL is not"
	case n.publicURL != "":
		return api.Webhooks{}, "twilio webhooks are off: PUBLIC_URL is set but TWILIO_AUTH_TOKEN is not"
	}
	return api.Webhooks{}, ""
}

// newNotifier builds the providers named by SMS_PROVIDERS, PUSH_PROVIDERS
// and EMAIL_PROVIDERS (comma-separated, in fallback order; default
// "console", which prints a redacted line per message) from their
// environment variables. Secrets may be given as NAME_FILE.
func newNotifier(ctx context.Context, getenv func(string) string, stdout io.Writer, log *slog.Logger, observe func(notify.Attempt)) (*notifier, error) {
	env := config.Env{Getenv: getenv}
	n := &notifier{log: log}
	publicURL, err := env.String("PUBLIC_URL", "")
	if err != nil {
		return nil, err
	}
	if publicURL != "" && !isBaseURL(publicURL) {
		return nil, fmt.Errorf("PUBLIC_URL must be an absolute http(s) URL without query or fragment, e.g. https://adherence.example.org")
	}
	n.publicURL = strings.TrimRight(publicURL, "/")
	if n.twilioAuthToken, err = env.String("TWILIO_AUTH_TOKEN", ""); err != nil {
		return nil, err
	}
	// The router reads a zero breaker setting or timeout as its default, so
	// 0 is refused here rather than quietly meaning 5 or 10s.
	failures, err := env.Int("NOTIFY_BREAKER_FAILURES", 5)
	if err != nil {
		return nil, err
	}
	if failures < 1 {
		return nil, fmt.Errorf("NOTIFY_BREAKER_FAILURES must be 1 or more, got %d", failures)
	}
	cooldown, err := env.Duration("NOTIFY_BREAKER_COOLDOWN", 10*time.Second)
	if err != nil {
		return nil, err
	}
	if cooldown <= 0 {
		return nil, fmt.Errorf("NOTIFY_BREAKER_COOLDOWN must be a duration above 0s, got %s", cooldown)
	}
	timeout, err := env.Duration("NOTIFY_ATTEMPT_TIMEOUT", 10*time.Second)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("NOTIFY_ATTEMPT_TIMEOUT must be a duration above 0s, got %s", timeout)
	}
	showBody, err := env.Bool("CONSOLE_SHOW_BODY", false)
	if err != nil {
		return nil, err
	}
	allowHTTP, err := env.Bool("WEBHOOK_ALLOW_HTTP", false)
	if err != nil {
		return nil, err
	}
	n.webhookAllowHTTP = allowHTTP
	allowPrivate, err := env.Bool("WEBHOOK_ALLOW_PRIVATE", false)
	if err != nil {
		return nil, err
	}
	// Every provider's <PROVIDER>_RATE is read, configured or not: a
	// malformed one fails startup now, not on the day the provider is
	// switched on.
	rates := map[string]float64{}
	for _, name := range providerNames {
		if rates[name], err = rateOf(env, strings.ToUpper(name)+"_RATE"); err != nil {
			return nil, err
		}
	}
	breaker := notify.BreakerConfig{Failures: failures, Cooldown: cooldown}
	routes := map[notify.Channel][]notify.Route{}
	for _, ch := range []struct {
		channel notify.Channel
		env     string
	}{{notify.SMS, "SMS_PROVIDERS"}, {notify.Push, "PUSH_PROVIDERS"}, {notify.Email, "EMAIL_PROVIDERS"}} {
		names, err := env.String(ch.env, "console")
		if err != nil {
			return nil, err
		}
		var list []string
		for _, name := range strings.Split(names, ",") {
			if name = strings.TrimSpace(name); name != "" {
				list = append(list, name)
			}
		}
		// none turns the channel off: with a provider beside it
		// (none,console) one of the two is a mistake, and which one the
		// operator meant cannot be told, so neither is guessed.
		if len(list) > 1 && slices.Contains(list, "none") {
			return nil, fmt.Errorf("%s: none turns the channel off and cannot be combined with providers (got %q)", ch.env, names)
		}
		for _, name := range list {
			if name == "none" {
				continue
			}
			p, err := n.provider(ctx, env, ch.channel, name, stdout, showBody)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ch.env, err)
			}
			if name == "console" {
				n.consoleEnvs = append(n.consoleEnvs, ch.env)
			}
			rate := rates[name]
			routes[ch.channel] = append(routes[ch.channel], notify.Route{Provider: p, RatePerSecond: rate, Burst: max(1, int(rate)), Breaker: breaker})
		}
	}
	// Care-team webhooks go to the URL an escalation policy names, signed
	// with WEBHOOK_SECRET; without a secret the channel is off.
	secret, err := env.String("WEBHOOK_SECRET", "")
	if err != nil {
		return nil, err
	}
	n.webhookOff = secret == ""
	if secret != "" {
		wh, err := webhook.New(webhook.Config{Secret: secret, AllowHTTP: allowHTTP, AllowPrivate: allowPrivate})
		if err != nil {
			return nil, fmt.Errorf("webhook provider: %w", err)
		}
		routes[notify.Webhook] = []notify.Route{{Provider: wh, Breaker: breaker}}
	}
	n.router, err = notify.NewRouter(notify.RouterConfig{Routes: routes, Observe: observe, AttemptTimeout: timeout})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// isBaseURL reports whether s can prefix the API's paths in the URLs
// Twilio calls back, signs and links to: http or https, a host, no
// credentials, query or fragment.
func isBaseURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.User == nil && u.RawQuery == "" && !u.ForceQuery && u.Fragment == "" && !strings.Contains(s, "#")
}

func rateOf(env config.Env, name string) (float64, error) {
	v, err := env.String(name, "")
	if err != nil {
		return 0, err
	}
	if v == "" {
		return 0, nil
	}
	r, err := strconv.ParseFloat(v, 64)
	if err != nil || !(r >= 0) || math.IsInf(r, 1) {
		return 0, fmt.Errorf("%s: %q is not a rate per second: want a number, 0 or more (0 means unlimited)", name, v)
	}
	return r, nil
}

// providerHTTP is the HTTP client of the providers. Go's default
// transport keeps two idle connections per host: at the 08:00 spike,
// with dozens of sends in flight to one provider host, every other send
// would open a new TLS connection. Keep enough idle connections for the
// deliveries in flight (JOB_WORKERS × the deliverer's concurrency, bounded).
func providerHTTP() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 1000, 500
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// providerNames are the providers provider knows, each with its
// <PROVIDER>_RATE variable.
var providerNames = []string{"console", "twilio", "sns", "fcm", "smtp"}

func (n *notifier) provider(ctx context.Context, env config.Env, ch notify.Channel, name string, stdout io.Writer, showBody bool) (notify.Provider, error) {
	if n.http == nil {
		n.http = providerHTTP()
	}
	switch {
	case name == "console":
		return &notify.Console{W: stdout, Chan: ch, ShowBody: showBody}, nil
	case name == "twilio" && ch == notify.SMS:
		v, err := readAll(env, "TWILIO_BASE_URL", "TWILIO_ACCOUNT_SID", "TWILIO_FROM", "TWILIO_MESSAGING_SERVICE_SID")
		if err != nil {
			return nil, err
		}
		switch {
		case v["TWILIO_ACCOUNT_SID"] == "":
			return nil, fmt.Errorf("twilio: TWILIO_ACCOUNT_SID is required")
		case n.twilioAuthToken == "":
			return nil, fmt.Errorf("twilio: TWILIO_AUTH_TOKEN is required")
		case v["TWILIO_FROM"] == "" && v["TWILIO_MESSAGING_SERVICE_SID"] == "":
			return nil, fmt.Errorf("twilio: TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID is required")
		}
		cfg := twilio.Config{
			BaseURL: v["TWILIO_BASE_URL"], AccountSID: v["TWILIO_ACCOUNT_SID"], AuthToken: n.twilioAuthToken,
			From: v["TWILIO_FROM"], MessagingServiceSID: v["TWILIO_MESSAGING_SERVICE_SID"], HTTPClient: n.http,
		}
		if n.publicURL != "" {
			cfg.StatusCallback = n.publicURL + "/v1/webhooks/twilio/status"
		}
		c, err := twilio.New(cfg)
		if err != nil {
			return nil, err
		}
		n.twilio = c
		return c, nil
	case name == "sns" && ch == notify.SMS:
		v, err := readAll(env, "SNS_REGION", "SNS_ENDPOINT", "SNS_SENDER_ID")
		if err != nil {
			return nil, err
		}
		c, err := sns.New(ctx, sns.Config{Region: v["SNS_REGION"], Endpoint: v["SNS_ENDPOINT"], SenderID: v["SNS_SENDER_ID"], HTTPClient: n.http, Logger: n.log})
		if errors.Is(err, sns.ErrNoRegion) {
			return nil, errors.New("SNS_REGION is required (or the AWS region of the environment, AWS_REGION)")
		}
		return c, err
	case name == "fcm" && ch == notify.Push:
		v, err := readAll(env, "FCM_SERVICE_ACCOUNT_FILE", "FCM_SERVICE_ACCOUNT_JSON", "FCM_BASE_URL", "FCM_PROJECT_ID", "FCM_TOKEN_URL")
		if err != nil {
			return nil, err
		}
		if v["FCM_SERVICE_ACCOUNT_FILE"] == "" && v["FCM_SERVICE_ACCOUNT_JSON"] == "" {
			return nil, fmt.Errorf("fcm: FCM_SERVICE_ACCOUNT_FILE or FCM_SERVICE_ACCOUNT_JSON is required")
		}
		var key []byte
		if path := v["FCM_SERVICE_ACCOUNT_FILE"]; path != "" {
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("read FCM_SERVICE_ACCOUNT_FILE: %w", err)
			}
			key = b
		} else {
			key = []byte(v["FCM_SERVICE_ACCOUNT_JSON"])
		}
		return fcm.New(fcm.Config{BaseURL: v["FCM_BASE_URL"], ProjectID: v["FCM_PROJECT_ID"], ServiceAccountJSON: key, TokenURL: v["FCM_TOKEN_URL"], HTTPClient: n.http})
	case name == "smtp" && ch == notify.Email:
		v, err := readAll(env, "SMTP_ADDR", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_FROM")
		if err != nil {
			return nil, err
		}
		switch {
		case v["SMTP_ADDR"] == "":
			return nil, fmt.Errorf("smtp: SMTP_ADDR is required")
		case v["SMTP_FROM"] == "":
			return nil, fmt.Errorf("smtp: SMTP_FROM is required")
		}
		return email.New(email.Config{Addr: v["SMTP_ADDR"], Username: v["SMTP_USERNAME"], Password: v["SMTP_PASSWORD"], From: v["SMTP_FROM"]})
	}
	return nil, fmt.Errorf("unknown %s provider %q (known: console, twilio and sns for sms, fcm for push, smtp for email)", ch, name)
}

// readAll reads the named variables (each may be given as NAME_FILE),
// stopping at the first file that cannot be read: a provider whose secret
// file is missing must fail startup, not send with an empty credential.
func readAll(env config.Env, names ...string) (map[string]string, error) {
	v := make(map[string]string, len(names))
	for _, name := range names {
		s, err := env.String(name, "")
		if err != nil {
			return nil, err
		}
		v[name] = s
	}
	return v, nil
}
