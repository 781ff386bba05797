package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/notify/twilio/twiliotest"
	"github.com/medplatform/medplatform/internal/platform/syncbuf"
)

// envOf is a getenv over a map.
func envOf(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// TestCommandsNeedExistingDatabase runs the commands that need a database
// already there (audit verify, admin create-key) where there is none, or
// where it was never migrated: each fails with one line saying what to do,
// and neither a file nor a table is created.
func TestCommandsNeedExistingDatabase(t *testing.T) {
	commands := [][]string{
		{"audit", "verify"},
		{"admin", "create-key", "--org", "0190a8e2-0000-7000-8000-000000000000"},
	}
	check := func(t *testing.T, args []string, getenv func(string) string, want string) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, getenv, nil, &out, &errOut)
		if err == nil {
			t.Fatalf("%v succeeded, want an error", args)
		}
		if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("%v: error %q, want one line containing %q", args, err, want)
		}
		if !strings.Contains(err.Error(), "adherence migrate") {
			t.Fatalf("%v: error %q does not say to run adherence migrate", args, err)
		}
		if out.Len() > 0 {
			t.Fatalf("%v printed %q", args, out.String())
		}
	}
	for _, args := range commands {
		t.Run(args[0]+"-"+args[1], func(t *testing.T) {
			t.Run("sqlite-missing", func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "nowhere")
				path := filepath.Join(dir, "adherence.db")
				check(t, args, envOf(map[string]string{"DATABASE_URL": "sqlite:" + path}), "no database at "+path)
				if _, err := os.Stat(dir); !os.IsNotExist(err) {
					t.Fatalf("%s was created (stat: %v)", dir, err)
				}
			})
			t.Run("sqlite-default", func(t *testing.T) {
				t.Chdir(t.TempDir())
				check(t, args, envOf(nil), "no database at data/adherence.db")
				if _, err := os.Stat("data"); !os.IsNotExist(err) {
					t.Fatalf("./data was created (stat: %v)", err)
				}
			})
			t.Run("sqlite-empty", func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "empty.db")
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				check(t, args, envOf(map[string]string{"DATABASE_URL": "sqlite:" + path}), "database at "+path+" is not migrated")
			})
			t.Run("sqlite-pending", func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "old.db")
				getenv := envOf(map[string]string{"DATABASE_URL": "sqlite:" + path, "LOG_LEVEL": "warn"})
				if err := run(context.Background(), []string{"migrate"}, getenv, nil, io.Discard, io.Discard); err != nil {
					t.Fatal(err)
				}
				// The schema of an older release: its newest migration not applied.
				d, err := db.Open(context.Background(), "sqlite:"+path, db.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := d.SQL.Exec(`DELETE FROM goose_db_version WHERE version_id = (SELECT MAX(version_id) FROM goose_db_version)`); err != nil {
					t.Fatal(err)
				}
				d.Close()
				check(t, args, getenv, "database at "+path+" has migrations pending")
			})
			t.Run("postgres-empty", func(t *testing.T) {
				u := dbtest.PostgresURL(t)
				check(t, args, envOf(map[string]string{"DATABASE_URL": u}), "database is not migrated")
				d, err := db.Open(context.Background(), u, db.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer d.Close()
				var n int
				if err := d.SQL.QueryRow(`SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema()`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != 0 {
					t.Fatalf("%d table(s) were created in the empty database", n)
				}
			})
		})
	}
}

// TestAdminCreateKey issues an admin key for an existing organization
// from the command line on each engine, and refuses an unknown one.
func TestAdminCreateKey(t *testing.T) {
	engines := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "adherence.db") }},
		{"postgres", func(t *testing.T) string { return dbtest.PostgresURL(t) }},
	}
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			getenv := envOf(map[string]string{"DATABASE_URL": eng.url(t), "LOG_LEVEL": "warn"})
			var out bytes.Buffer
			if err := run(ctx, []string{"admin", "bootstrap", "--org", "Key Care"}, getenv, nil, &out, io.Discard); err != nil {
				t.Fatalf("bootstrap: %v", err)
			}
			orgID := valueOf(out.String(), "org_id")
			out.Reset()
			if err := run(ctx, []string{"admin", "create-key", "--org", orgID, "--name", "recovery"}, getenv, nil, &out, io.Discard); err != nil {
				t.Fatalf("create-key: %v", err)
			}
			keyID, key := valueOf(out.String(), "key_id"), valueOf(out.String(), "admin_key")
			if keyID == "" || !strings.HasPrefix(key, "mpk_"+keyID+"_") {
				t.Fatalf("create-key printed %q", out.String())
			}

			d, err := openExisting(ctx, getenv, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			defer d.close()
			stored, err := d.store.LookupAPIKey(ctx, keyID)
			if err != nil {
				t.Fatalf("look up the new key: %v", err)
			}
			if stored.OrgID != orgID || stored.Role != "admin" || stored.RevokedAt != nil || stored.ExpiresAt != nil {
				t.Fatalf("stored key %+v", stored)
			}
			keys, err := d.store.ListAPIKeys(ctx, orgID, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 2 || keys[1].ID != keyID || keys[1].Name != "recovery" || keys[1].CreatedBy != "cli:create-key" {
				t.Fatalf("keys of the org: %+v", keys)
			}

			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{"admin", "create-key", "--org", "0190a8e2-0000-7000-8000-000000000000"}, "no organization"},
				{[]string{"admin", "create-key", "--org", "not-an-id"}, "no organization"},
				{[]string{"admin", "create-key"}, "--org is required"},
				{[]string{"admin", "create-key", "--org", orgID, "--expires", "2001-01-01T00:00:00Z"}, "--expires"},
				// Strictly RFC 3339: time.Parse took +24:00, a whole day off.
				{[]string{"admin", "create-key", "--org", orgID, "--expires", "2099-03-07T20:00:00+24:00"}, "--expires"},
				{[]string{"admin", "create-key", "--org", orgID, "--expires", "2099-03-07T20:00:00,5Z"}, "--expires"},
				{[]string{"admin", "create-key", "--org", orgID, "--expires", "2099-03-07T8:00:00Z"}, "--expires"},
				// An instant in the year 10000 in UTC: GET /v1/api-keys could
				// not write it and answered 500, as for the API's expiresAt.
				{[]string{"admin", "create-key", "--org", orgID, "--expires", "9999-12-31T23:00:00-05:00"}, "--expires"},
			} {
				err := run(ctx, tc.args, getenv, nil, io.Discard, io.Discard)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
				}
			}
		})
	}
}

// valueOf returns the value of the "name=value" line of out.
func valueOf(out, name string) string {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, name+"="); ok {
			return v
		}
	}
	return ""
}

// TestWorkerHasNoWorkersFlag checks that `worker` does not offer a
// --workers flag it would ignore, while `serve` still has it.
func TestWorkerHasNoWorkersFlag(t *testing.T) {
	var help bytes.Buffer
	run(context.Background(), []string{"worker", "--help"}, envOf(nil), nil, io.Discard, &help)
	if strings.Contains(help.String(), "-workers") {
		t.Fatalf("worker --help lists -workers:\n%s", help.String())
	}
	help.Reset()
	run(context.Background(), []string{"serve", "--help"}, envOf(nil), nil, io.Discard, &help)
	if !strings.Contains(help.String(), "-workers") {
		t.Fatalf("serve --help does not list -workers:\n%s", help.String())
	}
	// Were the flag accepted, the worker would start: give it a database
	// and an address of its own and a short life.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	env := envOf(map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "a.db"), "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"})
	err := run(ctx, []string{"worker", "--workers=false", "--addr", freeAddr(t)}, env, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "flag provided but not defined: -workers") {
		t.Fatalf("worker --workers=false: err = %v, want an undefined-flag error", err)
	}
}

// TestTwilioWebhooksWithoutTwilioSending runs serve with TWILIO_AUTH_TOKEN
// and PUBLIC_URL set but Twilio not among the SMS providers: the webhooks
// accept signed requests. With the token but no PUBLIC_URL, serve warns
// at start that the webhooks are off.
func TestTwilioWebhooksWithoutTwilioSending(t *testing.T) {
	const token = "twilio-test-token"
	start := func(t *testing.T, env map[string]string) (base string, log *syncbuf.Buffer) {
		t.Helper()
		addr := freeAddr(t)
		base = "http://" + addr
		env["DATABASE_URL"] = "sqlite:" + filepath.Join(t.TempDir(), "adherence.db")
		env["SHUTDOWN_DRAIN"], env["LOG_LEVEL"] = "0s", "warn"
		env["SMS_PROVIDERS"], env["PUSH_PROVIDERS"], env["EMAIL_PROVIDERS"] = "console", "none", "none"
		if env["PUBLIC_URL"] == "public" {
			env["PUBLIC_URL"] = base
		}
		ctx, cancel := context.WithCancel(context.Background())
		log = &syncbuf.Buffer{}
		done := make(chan error, 1)
		go func() { done <- run(ctx, []string{"serve", "--addr", addr}, envOf(env), nil, io.Discard, log) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
		waitReady(t, base+"/readyz", done)
		return base, log
	}
	statusCallback := func(t *testing.T, base string) int {
		t.Helper()
		form := url.Values{"MessageSid": {"SM" + strings.Repeat("b", 32)}, "MessageStatus": {"delivered"}}
		req, err := http.NewRequest("POST", base+"/v1/webhooks/twilio/status", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twiliotest.Sign(token, base+"/v1/webhooks/twilio/status", form))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	t.Run("token and public URL", func(t *testing.T) {
		base, log := start(t, map[string]string{"TWILIO_AUTH_TOKEN": token, "PUBLIC_URL": "public"})
		if got := statusCallback(t, base); got != http.StatusNoContent {
			t.Fatalf("signed status callback = %d, want 204; log:\n%s", got, log.String())
		}
		if strings.Contains(log.String(), "twilio webhooks are off") {
			t.Fatalf("warned although the webhooks are on:\n%s", log.String())
		}
	})
	t.Run("token without public URL", func(t *testing.T) {
		base, log := start(t, map[string]string{"TWILIO_AUTH_TOKEN": token})
		if !strings.Contains(log.String(), "twilio webhooks are off: TWILIO_AUTH_TOKEN is set but PUBLIC_URL is not") {
			t.Fatalf("no warning at start; log:\n%s", log.String())
		}
		if got := statusCallback(t, base); got != http.StatusForbidden {
			t.Fatalf("status callback = %d, want 403", got)
		}
	})
}

// TestCommandsRefuseStrayArguments runs each command with an argument it
// does not take: it fails naming the argument and does nothing. The
// trap is `serve --workers false`, whose "false" is an argument (a bool
// flag takes its value only after "="): serve ran the workers anyway.
func TestCommandsRefuseStrayArguments(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--workers", "false"},
		{"worker", "extra"},
		{"migrate", "extra"},
		{"healthcheck", "extra"},
		{"admin", "bootstrap", "--org", "Demo Care", "extra"},
		{"audit", "verify", "extra"},
		{"schedule", "preview", "--timing", "-", "--tz", "UTC", "--from", "2026-03-07T00:00:00Z", "--to", "2026-03-08T00:00:00Z", "extra"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "adherence.db")
			env := envOf(map[string]string{"DATABASE_URL": "sqlite:" + path, "LISTEN_ADDR": freeAddr(t), "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"})
			// Were the argument ignored, serve and worker would run until
			// this ends, and return nil.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var out bytes.Buffer
			err := run(ctx, args, env, strings.NewReader(`{"repeat":{"timeOfDay":["08:00:00"]}}`), &out, io.Discard)
			stray := args[len(args)-1]
			if err == nil || !strings.Contains(err.Error(), `unexpected argument "`+stray+`"`) {
				t.Fatalf("err = %v, want unexpected argument %q", err, stray)
			}
			if out.Len() > 0 {
				t.Fatalf("printed %q", out.String())
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("%s was created (stat: %v)", path, err)
			}
		})
	}
}

// TestAdminNamesCountCharacters: admin bootstrap --org and admin
// create-key --name take names up to their limits in characters, as the
// errors say ("1 to 200 characters"), not in UTF-8 bytes: a 150-letter
// Cyrillic organization name was refused as longer than 200 characters.
func TestAdminNamesCountCharacters(t *testing.T) {
	for _, engine := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + dbtest.URIPath(filepath.Join(t.TempDir(), "a.db")) }},
		{"postgres", func(t *testing.T) string { return dbtest.PostgresURL(t) }},
	} {
		t.Run(engine.name, func(t *testing.T) {
			getenv := envOf(map[string]string{"DATABASE_URL": engine.url(t), "LOG_LEVEL": "warn"})
			ctx := context.Background()
			var out bytes.Buffer
			if err := run(ctx, []string{"admin", "bootstrap", "--org", strings.Repeat("ж", 200)}, getenv, nil, &out, io.Discard); err != nil {
				t.Fatalf("bootstrap with a 200-character name: %v", err)
			}
			if err := run(ctx, []string{"admin", "bootstrap", "--org", strings.Repeat("ж", 201)}, getenv, nil, io.Discard, io.Discard); err == nil {
				t.Error("bootstrap with a 201-character name succeeded")
			}
			orgID, _, _ := strings.Cut(strings.TrimPrefix(out.String(), "org_id="), "\n")
			if err := run(ctx, []string{"admin", "create-key", "--org", orgID, "--name", strings.Repeat("ж", 100)}, getenv, nil, io.Discard, io.Discard); err != nil {
				t.Errorf("create-key with a 100-character name: %v", err)
			}
			if err := run(ctx, []string{"admin", "create-key", "--org", orgID, "--name", strings.Repeat("ж", 101)}, getenv, nil, io.Discard, io.Discard); err == nil {
				t.Error("create-key with a 101-character name succeeded")
			}
		})
	}
}

// TestAdminNamesRefuseControlCharacters: admin bootstrap --org and admin
// create-key --name are one line each, as the API's names are: a line
// break, tab or escape in them is an error naming the flag, and no
// organization or key is created.
func TestAdminNamesRefuseControlCharacters(t *testing.T) {
	for _, engine := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + dbtest.URIPath(filepath.Join(t.TempDir(), "a.db")) }},
		{"postgres", func(t *testing.T) string { return dbtest.PostgresURL(t) }},
	} {
		t.Run(engine.name, func(t *testing.T) {
			getenv := envOf(map[string]string{"DATABASE_URL": engine.url(t), "LOG_LEVEL": "warn"})
			ctx := context.Background()
			bad := []string{"Demo\nCare", "Demo\rCare", "Demo\tCare", "Demo\x1b[2J", "Demo\u0085Care"}
			for _, name := range bad {
				var out bytes.Buffer
				err := run(ctx, []string{"admin", "bootstrap", "--org", name}, getenv, nil, &out, io.Discard)
				if err == nil || !strings.Contains(err.Error(), "--org") {
					t.Errorf("bootstrap --org %q: err = %v, want one naming --org", name, err)
				}
				if out.Len() != 0 {
					t.Errorf("bootstrap --org %q printed %q", name, out.String())
				}
			}
			var out bytes.Buffer
			if err := run(ctx, []string{"admin", "bootstrap", "--org", "Demo Care — Забота"}, getenv, nil, &out, io.Discard); err != nil {
				t.Fatalf("bootstrap: %v", err)
			}
			orgID := valueOf(out.String(), "org_id")
			for _, name := range bad {
				out.Reset()
				err := run(ctx, []string{"admin", "create-key", "--org", orgID, "--name", name}, getenv, nil, &out, io.Discard)
				if err == nil || !strings.Contains(err.Error(), "--name") {
					t.Errorf("create-key --name %q: err = %v, want one naming --name", name, err)
				}
				if out.Len() != 0 {
					t.Errorf("create-key --name %q printed %q", name, out.String())
				}
			}
			d, err := openExisting(ctx, getenv, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			defer d.close()
			keys, err := d.store.ListAPIKeys(ctx, orgID, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 1 {
				t.Errorf("keys of the org after the refusals: %+v, want the bootstrap key only", keys)
			}
		})
	}
}

// TestUsageErrorsPrintUsageOnStderr: a missing or unknown command or
// report is a usage error: it fails, prints the usage on standard error
// and nothing on standard output. No command printed the usage on
// standard output (into whatever the caller captures as the result), and
// an unknown report printed no usage; nor did admin bootstrap without
// --org.
func TestUsageErrorsPrintUsageOnStderr(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "Usage: adherence <command>"},
		{[]string{"bogus"}, "Usage: adherence <command>"},
		{[]string{"admin"}, "Usage: adherence admin <command>"},
		{[]string{"schedule", "bogus"}, "Usage: adherence schedule <command>"},
		{[]string{"report"}, "Usage: adherence report <report>"},
		{[]string{"report", "bogus"}, "Usage: adherence report <report>"},
		// A required flag left out is a usage error too: bootstrap printed
		// no usage, while create-key did.
		{[]string{"admin", "bootstrap"}, "Usage: adherence admin bootstrap --org NAME"},
		{[]string{"admin", "create-key"}, "Usage: adherence admin create-key --org ORG_ID"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), c.args, envOf(nil), nil, &out, &errOut)
		if err == nil {
			t.Errorf("%v succeeded, want an error", c.args)
		}
		if out.Len() > 0 {
			t.Errorf("%v printed on standard output: %q", c.args, out.String())
		}
		if !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: standard error %q, want the usage (%q)", c.args, errOut.String(), c.want)
		}
	}
}

// TestGroupWithoutCommandSaysWhichIsRequired: a command group run without
// its command names the group with the right article; "schedule" was "an
// schedule command".
func TestGroupWithoutCommandSaysWhichIsRequired(t *testing.T) {
	for group, want := range map[string]string{
		"admin":    "an admin command is required",
		"schedule": "a schedule command is required",
		"audit":    "an audit command is required",
	} {
		err := run(context.Background(), []string{group}, envOf(nil), nil, io.Discard, io.Discard)
		if err == nil || err.Error() != want {
			t.Errorf("%s: err = %v, want %q", group, err, want)
		}
	}
}
