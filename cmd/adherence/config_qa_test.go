package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
