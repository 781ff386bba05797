package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/notify/twilio/twiliotest"
	"github.com/medplatform/medplatform/internal/platform/syncbuf"
)

// TestReminderReachesTwilio runs the real program on each engine with
// Twilio (a local server speaking its API) as the SMS provider, enrols a
// patient whose dose is due in 30 minutes under a policy that reminds an
// hour ahead, and waits for the reminder to be accepted by Twilio: arming,
// dispatch, the delivery job and the provider client, end to end.
func TestReminderReachesTwilio(t *testing.T) {
	engines := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "adherence.db") }},
		{"postgres", func(t *testing.T) string { return dbtest.PostgresURL(t) }},
	}
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			tw, err := twiliotest.New(twiliotest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer tw.Close()
			addr := freeAddr(t)
			base := "http://" + addr
			env := map[string]string{
				"DATABASE_URL": eng.url(t), "SHUTDOWN_DRAIN": "1s", "LOG_LEVEL": "warn",
				"SMS_PROVIDERS": "twilio", "PUSH_PROVIDERS": "none", "EMAIL_PROVIDERS": "none",
				"TWILIO_BASE_URL": tw.URL, "TWILIO_ACCOUNT_SID": tw.AccountSID, "TWILIO_AUTH_TOKEN": tw.AuthToken,
				"TWILIO_FROM": "+15550009999", "PUBLIC_URL": base,
			}
			getenv := func(k string) string { return env[k] }
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var serverLog bytes.Buffer
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"serve", "--addr", addr}, getenv, strings.NewReader(""), io.Discard, &serverLog)
			}()
			waitReady(t, base+"/readyz", done)
			var out bytes.Buffer
			if err := run(context.Background(), []string{"admin", "bootstrap", "--org", "Reminder Care"}, getenv, nil, &out, io.Discard); err != nil {
				t.Fatalf("bootstrap: %v", err)
			}
			key := ""
			for _, line := range strings.Split(out.String(), "\n") {
				if v, ok := strings.CutPrefix(line, "admin_key="); ok {
					key = v
				}
			}
			call(t, "PUT", base+"/v1/settings/messaging", key, `{"programName":"Heart Care","reminderPolicy":{"firstOffsetMinutes":-60,
				"repeatEveryMinutes":0,"maxReminders":1,"validityMinutes":30,"channels":["sms"]}}`, 200)
			pat := call(t, "POST", base+"/v1/patients", key,
				`{"givenName":"Ana","timeZone":"UTC","phone":"+15551230001","smsConsent":true,"language":"en"}`, 201)["id"].(string)
			due := time.Now().UTC().Add(30*time.Minute).Format("15:04") + ":00"
			call(t, "POST", base+"/v1/patients/"+pat+"/plans", key, fmt.Sprintf(`{"medication":{"rxnorm":"314076",
				"display":"lisinopril 10 MG Oral Tablet"},"timing":{"repeat":{"timeOfDay":[%q]}}}`, due), 201)

			deadline := time.Now().Add(60 * time.Second)
			for tw.Accepted() == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("no reminder reached Twilio within 60 s; server log:\n%s", serverLog.String())
				}
				time.Sleep(200 * time.Millisecond)
			}
			msgs := tw.Messages()
			if len(msgs) != 1 || msgs[0].To != "+15551230001" {
				t.Fatalf("messages: %+v", msgs)
			}
			if strings.Contains(strings.ToLower(msgs[0].Body), "lisinopril") || !strings.Contains(msgs[0].Body, "TAKEN") {
				t.Fatalf("reminder text names the drug or lacks the reply hint: %q", msgs[0].Body)
			}
			if !strings.HasPrefix(msgs[0].StatusCallback, base+"/v1/webhooks/twilio/status") {
				t.Fatalf("status callback %q", msgs[0].StatusCallback)
			}
			var hist map[string]any
			for time.Now().Before(deadline) {
				hist = call(t, "GET", base+"/v1/patients/"+pat+"/notifications", key, "", 200)
				items := hist["items"].([]any)
				if len(items) == 1 && items[0].(map[string]any)["status"] == "sent" {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			n := hist["items"].([]any)[0].(map[string]any)
			if n["status"] != "sent" || n["provider"] != "twilio" || n["channel"] != "sms" {
				t.Fatalf("notification history: %v", n)
			}
			// Twilio reports delivery through the signed status callback.
			if err := tw.Callback(context.Background(), msgs[0].SID, "delivered"); err != nil {
				t.Fatalf("status callback: %v", err)
			}
			n = call(t, "GET", base+"/v1/patients/"+pat+"/notifications", key, "", 200)["items"].([]any)[0].(map[string]any)
			if n["status"] != "delivered" || len(n["statusEvents"].([]any)) < 2 {
				t.Fatalf("after the delivered callback: %v", n)
			}
			// The patient answers TAKEN: the reply is recorded through the
			// ingestion path against the reminded dose.
			form := url.Values{"MessageSid": {"SM" + strings.Repeat("a", 32)}, "AccountSid": {tw.AccountSID},
				"From": {"+15551230001"}, "To": {"+15550009999"}, "Body": {"taken"}}
			req, err := tw.SignedRequest(context.Background(), base+"/v1/webhooks/twilio/sms", form)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("inbound sms: %d", resp.StatusCode)
			}
			events := call(t, "GET", base+"/v1/patients/"+pat+"/events", key, "", 200)
			evs := events["events"].([]any)
			if len(evs) != 1 || evs[0].(map[string]any)["source"] != "sms" || evs[0].(map[string]any)["match"].(map[string]any)["result"] != "scored" {
				t.Fatalf("events after the SMS reply: %v", events)
			}
			if strings.Contains(serverLog.String(), "+15551230001") {
				t.Fatal("the phone number appears in the server log")
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("serve: %v", err)
			}
		})
	}
}

// TestConsoleProviderWarnedOnPostgres: on PostgreSQL (a deployment), serve
// warns for each channel that the console provider serves, by default or
// by name, since its messages are recorded as sent and reach no one (QA:
// a fallback to push went to the console unnoticed). A channel turned off
// (none) is not named; on SQLite, the embedded default, nothing is said.
func TestConsoleProviderWarnedOnPostgres(t *testing.T) {
	engines := []struct {
		name string
		url  func(t *testing.T) string
		warn bool
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "a.db") }, false},
		{"postgres", func(t *testing.T) string { return dbtest.PostgresURL(t) }, true},
	}
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			addr := freeAddr(t)
			env := map[string]string{
				"DATABASE_URL": eng.url(t), "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn",
				"SMS_PROVIDERS": "none", "EMAIL_PROVIDERS": "console",
			}
			ctx, cancel := context.WithCancel(context.Background())
			var serverLog syncbuf.Buffer
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"serve", "--addr", addr}, func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, &serverLog)
			}()
			waitReady(t, "http://"+addr+"/readyz", done)
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("serve: %v", err)
			}
			logs := serverLog.String()
			for _, name := range []string{"PUSH_PROVIDERS", "EMAIL_PROVIDERS"} {
				if got := strings.Contains(logs, name+" uses the console provider"); got != eng.warn {
					t.Errorf("warning for %s: %v, want %v; log:\n%s", name, got, eng.warn, logs)
				}
			}
			if strings.Contains(logs, "SMS_PROVIDERS uses the console provider") {
				t.Errorf("a channel turned off (none) is warned of; log:\n%s", logs)
			}
		})
	}
}
