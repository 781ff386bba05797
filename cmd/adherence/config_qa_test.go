package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/syncbuf"
)

// startupError runs serve with env on a fresh SQLite file and a short
// life, and returns how it ended: a configuration error must end it at
// once; nil (or a timeout) means serve started and ran.
func startupError(t *testing.T, env map[string]string) error {
	t.Helper()
	full := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "a.db"), "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"}
	for k, v := range env {
		full[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return run(ctx, []string{"serve", "--addr", freeAddr(t)}, envOf(full), nil, io.Discard, io.Discard)
}

// TestUnreadableFileFailsStartup checks that every setting given as an
// unreadable NAME_FILE fails serve with the read error, as
// DATABASE_URL_FILE does, instead of turning a feature off.
func TestUnreadableFileFailsStartup(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	oidc := map[string]string{"OIDC_ISSUER": "https://idp.example", "OIDC_AUDIENCE": "a", "OIDC_JWKS_URL": "https://idp.example/jwks"}
	tests := []struct {
		name  string
		extra map[string]string
	}{
		{"LOG_LEVEL", nil},
		{"OIDC_ISSUER", map[string]string{"OIDC_AUDIENCE": "a", "OIDC_JWKS_URL": "notaurl"}},
		{"OIDC_AUDIENCE", oidc},
		{"OIDC_JWKS_URL", oidc},
		{"OIDC_ORG_CLAIM", oidc},
		{"OIDC_ROLE_CLAIM", oidc},
		{"OIDC_SUBJECT_CLAIM", oidc},
		{"WEBHOOK_SECRET", nil},
		{"SMS_PROVIDERS", nil},
		{"PUSH_PROVIDERS", nil},
		{"EMAIL_PROVIDERS", nil},
		{"TWILIO_AUTH_TOKEN", nil},
		{"PUBLIC_URL", nil},
		{"TWILIO_ACCOUNT_SID", map[string]string{"SMS_PROVIDERS": "twilio"}},
		{"TWILIO_FROM", map[string]string{"SMS_PROVIDERS": "twilio"}},
		{"SNS_REGION", map[string]string{"SMS_PROVIDERS": "sns"}},
		{"FCM_PROJECT_ID", map[string]string{"PUSH_PROVIDERS": "fcm"}},
		{"SMTP_PASSWORD", map[string]string{"EMAIL_PROVIDERS": "smtp"}},
		{"CONSOLE_RATE", nil},
		{"SHUTDOWN_DRAIN", nil},
		{"DOSE_HORIZON_DAYS", nil},
		{"API_KEY_CACHE_TTL", nil},
		{"NOTIFY_BREAKER_FAILURES", nil},
		{"NOTIFY_ATTEMPT_TIMEOUT", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{tt.name + "_FILE": missing}
			for k, v := range tt.extra {
				env[k] = v
			}
			err := startupError(t, env)
			want := "read " + tt.name + "_FILE: open " + missing + ": no such file or directory"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("serve with %s_FILE unreadable: err = %v, want it to contain %q", tt.name, err, want)
			}
		})
	}
}

// TestOutOfRangeSettingsFailStartup checks that a value outside what a
// setting allows fails serve with an error naming the variable and what
// it accepts, instead of being read as disabled, false or a default.
func TestOutOfRangeSettingsFailStartup(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"REQUEST_TIMEOUT": "0s"}, "REQUEST_TIMEOUT must be more than 0s"},
		{map[string]string{"SHUTDOWN_DRAIN": "-1s"}, "SHUTDOWN_DRAIN must be 0s or more"},
		{map[string]string{"API_KEY_CACHE_TTL": "-5s"}, "API_KEY_CACHE_TTL must be 0s or more (0s disables the cache)"},
		{map[string]string{"CONSOLE_SHOW_BODY": "maybe"}, `CONSOLE_SHOW_BODY: "maybe" is not true or false`},
		{map[string]string{"CONSOLE_SHOW_BODY_FILE": missing}, "read CONSOLE_SHOW_BODY_FILE: open " + missing},
		{map[string]string{"WEBHOOK_ALLOW_HTTP": "yes"}, `WEBHOOK_ALLOW_HTTP: "yes" is not true or false`},
		{map[string]string{"WEBHOOK_ALLOW_PRIVATE": "1x"}, `WEBHOOK_ALLOW_PRIVATE: "1x" is not true or false`},
		{map[string]string{"NOTIFY_BREAKER_FAILURES": "-1"}, "NOTIFY_BREAKER_FAILURES must be 1 or more"},
		{map[string]string{"NOTIFY_BREAKER_FAILURES": "0"}, "NOTIFY_BREAKER_FAILURES must be 1 or more"},
		{map[string]string{"NOTIFY_BREAKER_COOLDOWN": "-1s"}, "NOTIFY_BREAKER_COOLDOWN must be a duration above 0s"},
		{map[string]string{"NOTIFY_BREAKER_COOLDOWN": "0s"}, "NOTIFY_BREAKER_COOLDOWN must be a duration above 0s"},
		{map[string]string{"NOTIFY_ATTEMPT_TIMEOUT": "-1s"}, "NOTIFY_ATTEMPT_TIMEOUT must be a duration above 0s"},
		{map[string]string{"NOTIFY_ATTEMPT_TIMEOUT": "0s"}, "NOTIFY_ATTEMPT_TIMEOUT must be a duration above 0s"},
		{map[string]string{"CONSOLE_RATE": "NaN"}, `CONSOLE_RATE: "NaN" is not a rate per second: want a number, 0 or more`},
		{map[string]string{"CONSOLE_RATE": "-2"}, `CONSOLE_RATE: "-2" is not a rate per second: want a number, 0 or more`},
		// The rate of a provider not configured (console is the default
		// of every channel) is checked all the same: it was ignored, so
		// a typo waited for the day the provider was switched on.
		{map[string]string{"TWILIO_RATE": "fast"}, `TWILIO_RATE: "fast" is not a rate per second: want a number, 0 or more`},
		{map[string]string{"SNS_RATE": "-1"}, `SNS_RATE: "-1" is not a rate per second`},
		{map[string]string{"FCM_RATE": "1O0"}, `FCM_RATE: "1O0" is not a rate per second`},
		{map[string]string{"SMTP_RATE": "Inf"}, `SMTP_RATE: "Inf" is not a rate per second`},
		{map[string]string{"SMS_PROVIDERS": "none", "PUSH_PROVIDERS": "none", "EMAIL_PROVIDERS": "none", "CONSOLE_RATE": "x"}, `CONSOLE_RATE: "x" is not a rate per second`},
		{map[string]string{"TWILIO_RATE_FILE": missing}, "read TWILIO_RATE_FILE: open " + missing},
		// none with a provider beside it was ignored: none,console sent
		// by console, console,none too, while the operator may have
		// meant the channel off.
		{map[string]string{"SMS_PROVIDERS": "none,console"}, "SMS_PROVIDERS: none turns the channel off and cannot be combined with providers"},
		{map[string]string{"PUSH_PROVIDERS": "console, none"}, "PUSH_PROVIDERS: none turns the channel off and cannot be combined with providers"},
		{map[string]string{"EMAIL_PROVIDERS": "smtp,none"}, "EMAIL_PROVIDERS: none turns the channel off and cannot be combined with providers"},
		{map[string]string{"LOG_LEVEL": "verbose"}, "LOG_LEVEL: "},
		{map[string]string{"DOSE_HORIZON_DAYS": "0"}, "DOSE_HORIZON_DAYS must be between 1 and 90"},
		{map[string]string{"INGEST_COMMITTERS": "-1"}, "INGEST_COMMITTERS must be between 1 and 16"},
		{map[string]string{"JOB_WORKERS": "0"}, "JOB_WORKERS must be between 1 and 1000"},
		{map[string]string{"TRUSTED_PROXIES": "10.0.0.0/33"}, `TRUSTED_PROXIES: "10.0.0.0/33" is not an IP address or CIDR network`},
		{map[string]string{"OUTBOX_RETENTION": "1h"}, "OUTBOX_RETENTION must be 24h or more"},
		{map[string]string{"OUTBOX_RETENTION": "30d"}, "OUTBOX_RETENTION"},
	}
	// A PUBLIC_URL that is not an http(s) base URL made every Twilio
	// webhook fail its signature check and every escalation link dead.
	for _, v := range []string{"not-a-url", "adherence.example.org", "ftp://adherence.example.org", "https://", "https://a.example.org/?x=1", "https://a.example.org/#top", "https://u:p@a.example.org"} {
		tests = append(tests, struct {
			env  map[string]string
			want string
		}{map[string]string{"PUBLIC_URL": v, "TWILIO_AUTH_TOKEN": "token"}, "PUBLIC_URL must be an absolute http(s) URL"})
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			err := startupError(t, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("serve with %v: err = %v, want it to contain %q", tt.env, err, tt.want)
			}
		})
	}
}

// TestZeroSettingsStillAccepted checks that the values documented as
// meaningful stay valid: 0s drain, 0s key cache (disabled), a 0 rate
// (unlimited) and CONSOLE_SHOW_BODY=true.
func TestZeroSettingsStillAccepted(t *testing.T) {
	err := startupError(t, map[string]string{
		"SHUTDOWN_DRAIN": "0s", "API_KEY_CACHE_TTL": "0s", "CONSOLE_RATE": "0", "CONSOLE_SHOW_BODY": "true",
		"NOTIFY_BREAKER_FAILURES": "1", "NOTIFY_BREAKER_COOLDOWN": "1s", "NOTIFY_ATTEMPT_TIMEOUT": "1s",
		"TWILIO_RATE": "100", "SNS_RATE": "0.5", "FCM_RATE": "0", "SMTP_RATE": "",
	})
	if err != nil {
		t.Fatalf("serve with valid zero settings: %v", err)
	}
}

// TestRedisMessagesAreJSONLogLines checks that go-redis's own messages
// (here: its pool cannot dial an unreachable REDIS_URL) reach the
// program's JSON log, not plain-text lines on the process's stderr.
func TestRedisMessagesAreJSONLogLines(t *testing.T) {
	addr := freeAddr(t)
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "a.db"), "SHUTDOWN_DRAIN": "0s",
		"LOG_LEVEL": "warn", "REDIS_URL": "redis://127.0.0.1:1/0"}
	var logs syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--addr", addr}, envOf(env), nil, io.Discard, &logs) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "failed to dial") && time.Now().Before(deadline) {
		// /health runs the redis check (not critical: /readyz does not).
		if resp, err := http.Get("http://" + addr + "/health"); err == nil {
			resp.Body.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	found := false
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "failed to dial") {
			found = true
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["level"] != "WARN" {
				t.Errorf("redis message is not a JSON warning: %q", line)
			}
		}
	}
	if !found {
		t.Fatal("the redis pool's dial failures are not in the program's log")
	}
}

// TestPublicURLAccepted checks that an http(s) base URL, with a path and a
// trailing slash or not, is a valid PUBLIC_URL.
func TestPublicURLAccepted(t *testing.T) {
	for _, v := range []string{"https://adherence.example.org", "https://adherence.example.org/", "http://127.0.0.1:8080/api"} {
		if err := startupError(t, map[string]string{"PUBLIC_URL": v, "TWILIO_AUTH_TOKEN": "token"}); err != nil {
			t.Errorf("serve with PUBLIC_URL=%s: %v", v, err)
		}
	}
}

// TestBusyPortNamesTheSetting checks that serve on an address already in
// use, or a PPROF_ADDR in use, fails naming the setting to change.
func TestBusyPortNamesTheSetting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "a.db"), "LOG_LEVEL": "warn"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = run(ctx, []string{"serve", "--addr", busy}, envOf(env), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "LISTEN_ADDR") || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("serve on a busy address: err = %v, want LISTEN_ADDR and the cause named", err)
	}
	env["PPROF_ADDR"] = busy
	err = run(ctx, []string{"serve", "--addr", freeAddr(t)}, envOf(env), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "PPROF_ADDR") {
		t.Errorf("serve with a busy PPROF_ADDR: err = %v, want PPROF_ADDR named", err)
	}
}

// TestWorkersRefuseAnUnmigratedDatabase checks that serve and worker with
// --migrate=false on a database without the schema fail in one line
// naming the fix, instead of River's "no such table: river_queue" after a
// burst of error logs; serve without workers still starts and waits.
func TestWorkersRefuseAnUnmigratedDatabase(t *testing.T) {
	for _, args := range [][]string{{"serve", "--migrate=false"}, {"worker", "--migrate=false"}} {
		env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "a.db"), "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := run(ctx, append(args, "--addr", freeAddr(t)), envOf(env), nil, io.Discard, io.Discard)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "migrations pending: run 'adherence migrate' first") {
			t.Errorf("%v on an empty database: err = %v, want the pending migrations named", args, err)
		}
	}
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "a.db"), "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := run(ctx, []string{"serve", "--migrate=false", "--workers=false", "--addr", freeAddr(t)}, envOf(env), nil, io.Discard, io.Discard); err != nil {
		t.Errorf("serve --migrate=false --workers=false: %v", err)
	}
	// Once migrated, the workers start without --migrate.
	if err := run(context.Background(), []string{"migrate"}, envOf(env), nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := run(ctx, []string{"serve", "--migrate=false", "--addr", freeAddr(t)}, envOf(env), nil, io.Discard, io.Discard); err != nil {
		t.Errorf("serve --migrate=false on a migrated database: %v", err)
	}
}

// TestMissingProviderSettingNamed starts serve with a provider listed but
// a setting it needs left unset: the error names that environment
// variable, not a field of the provider's Go configuration ("AuthToken is
// required").
func TestMissingProviderSettingNamed(t *testing.T) {
	const sid = "AC0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"SMS_PROVIDERS": "twilio"}, "TWILIO_ACCOUNT_SID"},
		{map[string]string{"SMS_PROVIDERS": "twilio", "TWILIO_ACCOUNT_SID": sid}, "TWILIO_AUTH_TOKEN"},
		{map[string]string{"SMS_PROVIDERS": "twilio", "TWILIO_ACCOUNT_SID": sid, "TWILIO_AUTH_TOKEN": "t"}, "TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID"},
		{map[string]string{"PUSH_PROVIDERS": "fcm"}, "FCM_SERVICE_ACCOUNT_FILE or FCM_SERVICE_ACCOUNT_JSON"},
		{map[string]string{"EMAIL_PROVIDERS": "smtp"}, "SMTP_ADDR"},
		{map[string]string{"EMAIL_PROVIDERS": "smtp", "SMTP_ADDR": "smtp.example.org:587"}, "SMTP_FROM"},
		{map[string]string{"SMS_PROVIDERS": "sns"}, "SNS_REGION"},
	} {
		// The AWS default chain reads the process environment and the
		// shared config file: neither may name a region here.
		t.Setenv("AWS_REGION", "")
		t.Setenv("AWS_DEFAULT_REGION", "")
		t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
		err := startupError(t, c.env)
		if err == nil || !strings.Contains(err.Error(), c.want+" is required") {
			t.Errorf("%v: err = %v, want it to say %s is required", c.env, err, c.want)
		}
	}
}

// TestWorkersRefuseWithoutCreatingTheDatabase: serve and worker with
// --migrate=false on a fresh embedded default (no database file yet)
// refuse without creating the file or its directory; they created an
// empty ./data/adherence.db before refusing. A later serve still creates
// and migrates it.
func TestWorkersRefuseWithoutCreatingTheDatabase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	file := filepath.Join(dir, "adherence.db")
	env := map[string]string{"DATABASE_URL": "sqlite:" + file, "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"}
	for _, args := range [][]string{{"serve", "--migrate=false"}, {"worker", "--migrate=false"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := run(ctx, append(args, "--addr", freeAddr(t)), envOf(env), nil, io.Discard, io.Discard)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "migrations pending: run 'adherence migrate' first") || !strings.Contains(err.Error(), file) {
			t.Errorf("%v without a database: err = %v, want the pending migrations and the file named", args, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%v left %s behind (%v)", args, dir, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := run(ctx, []string{"serve", "--addr", freeAddr(t)}, envOf(env), nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("serve did not create the database: %v", err)
	}
}

// TestBadSettingsCreateNoDatabase: serve and worker refuse a setting or
// flag they cannot use (REQUEST_TIMEOUT, a notification setting, tracing,
// a malformed --addr, a REDIS_URL that is not one) before opening the
// database: they created and migrated ./data/adherence.db, then failed,
// leaving it behind.
func TestBadSettingsCreateNoDatabase(t *testing.T) {
	cases := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"REQUEST_TIMEOUT": "soon"}, nil, "REQUEST_TIMEOUT"},
		{map[string]string{"REQUEST_TIMEOUT": "0s"}, nil, "REQUEST_TIMEOUT"},
		{map[string]string{"SMS_PROVIDERS": "pigeon"}, nil, "SMS_PROVIDERS"},
		{map[string]string{"NOTIFY_BREAKER_FAILURES": "0"}, nil, "NOTIFY_BREAKER_FAILURES"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "::bad"}, nil, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{map[string]string{"REDIS_URL": "http://127.0.0.1:6379"}, nil, "REDIS_URL is not a valid redis URL"},
		{nil, []string{"--addr", "nowhere"}, "--addr or LISTEN_ADDR"},
		{map[string]string{"LISTEN_ADDR": "nowhere"}, []string{}, "--addr or LISTEN_ADDR"},
		// Refused only after migrations had run (QA), or not at all.
		{map[string]string{"PPROF_ADDR": "bogus"}, nil, "PPROF_ADDR"},
		{map[string]string{"PPROF_ADDR": "127.0.0.1:99999"}, nil, "PPROF_ADDR"},
		{map[string]string{"GOGC": "abc"}, nil, `GOGC must be a whole percentage (such as 200) or off, got "abc"`},
		{map[string]string{"GOGC": "-5abc"}, nil, "GOGC must be"},
	}
	for _, cmd := range []string{"serve", "worker"} {
		for _, c := range cases {
			dir := filepath.Join(t.TempDir(), "data")
			env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(dir, "adherence.db"), "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"}
			for k, v := range c.env {
				env[k] = v
			}
			args := c.args
			if args == nil {
				args = []string{"--addr", freeAddr(t)}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := run(ctx, append([]string{cmd}, args...), envOf(env), nil, io.Discard, io.Discard)
			cancel()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s %v with %v: err = %v, want %s named", cmd, args, c.env, err, c.want)
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s %v with %v left %s behind (%v)", cmd, args, c.env, dir, err)
			}
		}
	}
}
