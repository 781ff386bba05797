package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestEndToEnd starts the real program through run() on each engine,
// bootstraps an org, creates a patient and a plan over HTTP, reads the dose
// instances back, verifies the audit chain, and shuts down gracefully.
func TestEndToEnd(t *testing.T) {
	engines := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "adherence.db") }},
		{"postgres", func(t *testing.T) string { return dbtest.PostgresURL(t) }},
	}
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			env := map[string]string{"DATABASE_URL": eng.url(t), "SHUTDOWN_DRAIN": "2s", "LOG_LEVEL": "warn"}
			if eng.name == "postgres" && os.Getenv("REDIS_URL") != "" {
				// The production shape: shared rate limits in Redis, which
				// /health must then report.
				env["REDIS_URL"] = os.Getenv("REDIS_URL")
			}
			getenv := func(k string) string { return env[k] }
			addr := freeAddr(t)
			base := "http://" + addr

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var serverLog bytes.Buffer
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"serve", "--addr", addr}, getenv, strings.NewReader(""), io.Discard, &serverLog)
			}()
			waitReady(t, base+"/readyz", done)

			// healthcheck subcommand against the live server.
			var out, errOut bytes.Buffer
			if err := run(context.Background(), []string{"healthcheck", "--url", base + "/readyz"}, getenv, nil, &out, &errOut); err != nil {
				t.Fatalf("healthcheck: %v %s", err, errOut.String())
			}

			out.Reset()
			if err := run(context.Background(), []string{"admin", "bootstrap", "--org", "E2E Care"}, getenv, nil, &out, io.Discard); err != nil {
				t.Fatalf("bootstrap: %v", err)
			}
			key := ""
			for _, line := range strings.Split(out.String(), "\n") {
				if v, ok := strings.CutPrefix(line, "admin_key="); ok {
					key = v
				}
			}
			if !strings.HasPrefix(key, "mpk_") {
				t.Fatalf("bootstrap printed no key: %q", out.String())
			}

			patient := call(t, "POST", base+"/v1/patients", key, `{"givenName":"Ana","timeZone":"America/New_York","anchors":{"breakfast":"07:15"}}`, 201)
			pid := patient["id"].(string)
			plan := call(t, "POST", base+"/v1/patients/"+pid+"/plans", key,
				`{"medication":{"rxnorm":"314076","display":"lisinopril 10 MG Oral Tablet"},"dose":"1 tablet",
				  "timing":{"repeat":{"timeOfDay":["08:00:00","20:00:00"]}}}`, 201)
			planID := plan["id"].(string)

			got := call(t, "GET", base+"/v1/plans/"+planID+"?include=doses", key, "", 200)
			doses, _ := got["doses"].([]any)
			// Two a day for the 14-day horizon from now: 27 to 28 depending on the hour.
			if len(doses) < 27 || len(doses) > 28 {
				t.Fatalf("plan has %d dose instances in the next 14 days, want 27-28", len(doses))
			}
			ny, _ := time.LoadLocation("America/New_York")
			for _, d := range doses {
				dm := d.(map[string]any)
				due, err := time.Parse(time.RFC3339, dm["dueAt"].(string))
				if err != nil {
					t.Fatal(err)
				}
				local := due.In(ny).Format("15:04")
				if local != "08:00" && local != "20:00" {
					t.Errorf("dose due %s is %s local, want 08:00 or 20:00", dm["dueAt"], local)
				}
				if dm["status"] != "scheduled" {
					t.Errorf("dose status %v, want scheduled", dm["status"])
				}
			}

			out.Reset()
			if err := run(context.Background(), []string{"audit", "verify"}, getenv, nil, &out, io.Discard); err != nil {
				t.Fatalf("audit verify: %v", err)
			}
			if !strings.Contains(out.String(), "intact") {
				t.Fatalf("audit verify printed %q", out.String())
			}

			health := call(t, "GET", base+"/health", "", "", 200)
			components := health["components"].(map[string]any)
			for _, c := range []string{"database", "diskSpace"} {
				if components[c] == nil {
					t.Errorf("/health has no %s component: %v", c, health)
				}
			}
			if env["REDIS_URL"] != "" && components["redis"].(map[string]any)["status"] != "UP" {
				t.Errorf("/health redis component = %v", components["redis"])
			}

			// SIGTERM (here: cancellation) fails readiness first, while the
			// listener still answers during the drain period.
			cancel()
			drained := false
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				resp, err := http.Get(base + "/readyz")
				if err != nil {
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable {
					drained = true
					break
				}
			}
			if !drained {
				t.Error("/readyz never answered 503 during the shutdown drain")
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("serve returned %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not stop within 30s of cancellation")
			}
			if strings.Contains(serverLog.String(), "Ana") {
				t.Error("server log contains the patient's name")
			}
		})
	}
}

func waitReady(t *testing.T, url string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("server exited before becoming ready: %v", err)
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready within 60s", url)
}

func call(t *testing.T, method, url, key, body string, want int) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, url, resp.StatusCode, want, data)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return m
}

// TestCommandsHelpAndErrors checks that every subcommand answers --help and
// that bad invocations fail with a message.
func TestCommandsHelpAndErrors(t *testing.T) {
	getenv := func(string) string { return "" }
	for _, args := range [][]string{
		{"serve", "--help"}, {"worker", "--help"}, {"migrate", "--help"}, {"healthcheck", "--help"},
		{"admin", "bootstrap", "--help"}, {"admin", "create-key", "--help"}, {"schedule", "preview", "--help"}, {"audit", "verify", "--help"},
		// The command groups list their commands and succeed, as `report --help` does.
		{"admin", "--help"}, {"schedule", "--help"}, {"audit", "-h"}, {"report", "--help"},
	} {
		var errOut bytes.Buffer
		err := run(context.Background(), args, getenv, nil, io.Discard, &errOut)
		if err == nil || !strings.Contains(err.Error(), "help requested") {
			t.Errorf("%v: err = %v, want flag.ErrHelp", args, err)
		}
		if !strings.Contains(errOut.String(), "Usage: adherence") {
			t.Errorf("%v printed no usage: %q", args, errOut.String())
		}
	}
	for _, args := range [][]string{{"bogus"}, {"admin"}, {"admin", "bogus"}, {"audit"}, {"schedule", "bogus"}, {"admin", "bootstrap"}, {"schedule", "preview", "--tz", "Nowhere/City"}} {
		if err := run(context.Background(), args, getenv, nil, io.Discard, io.Discard); err == nil {
			t.Errorf("%v succeeded, want an error", args)
		}
	}
}

// TestSchedulePreviewTimesAreStrictRFC3339: --from, --to and --start are
// read strictly as RFC 3339, as the API reads instants: an offset of 24
// hours or more, a comma before the fraction or a one-digit hour is an
// error naming the flag. time.Parse took them, so --from
// 2026-03-07T00:00:00+24:00 previewed from a whole day earlier.
func TestSchedulePreviewTimesAreStrictRFC3339(t *testing.T) {
	for _, bad := range []string{"2026-03-07T00:00:00+24:00", "2026-03-07T00:00:00-23:60", "2026-03-07T00:00:00,5Z", "2026-03-07T0:00:00Z"} {
		for _, flag := range []string{"--from", "--to", "--start"} {
			args := map[string]string{"--from": "2026-03-06T00:00:00Z", "--to": "2026-03-09T00:00:00Z", "--start": "2026-03-06T00:00:00Z"}
			args[flag] = bad
			var out bytes.Buffer
			err := run(context.Background(), []string{"schedule", "preview", "--timing", "-", "--tz", "UTC",
				"--from", args["--from"], "--to", args["--to"], "--start", args["--start"]},
				func(string) string { return "" }, strings.NewReader(`{"repeat":{"timeOfDay":["08:00:00"]}}`), &out, io.Discard)
			if err == nil || !strings.HasPrefix(err.Error(), flag+":") {
				t.Errorf("%s %s: err = %v, printed %q; want an error naming %s", flag, bad, err, out.String(), flag)
			}
		}
	}
}

// TestSchedulePreviewToBeforeFrom: --to before --from is an error naming
// the flags; it named the expansion's own field, "to" (QA).
func TestSchedulePreviewToBeforeFrom(t *testing.T) {
	err := run(context.Background(), []string{"schedule", "preview", "--timing", "-", "--tz", "UTC",
		"--from", "2026-03-09T00:00:00Z", "--to", "2026-03-06T00:00:00Z"},
		func(string) string { return "" }, strings.NewReader(`{"repeat":{"timeOfDay":["08:00:00"]}}`), io.Discard, io.Discard)
	if want := "--to: 2026-03-06T00:00:00Z is before --from 2026-03-09T00:00:00Z"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

// TestSchedulePreview runs the preview command on a twice-daily schedule
// across the US spring-forward day.
func TestSchedulePreview(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"schedule", "preview", "--timing", "-", "--tz", "America/New_York",
		"--from", "2026-03-07T00:00:00-05:00", "--to", "2026-03-09T00:00:00-04:00"},
		func(string) string { return "" }, strings.NewReader(`{"repeat":{"timeOfDay":["08:00:00","20:00:00"]}}`), &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"2026-03-07T08:00:00-05:00", "2026-03-07T20:00:00-05:00",
		"2026-03-08T08:00:00-04:00", "2026-03-08T20:00:00-04:00",
	}, "\n") + "\n"
	if out.String() != want {
		t.Fatalf("preview printed\n%s\nwant\n%s", out.String(), want)
	}
}

// TestSchedulePreviewTimingWithByteOrderMark: schedule preview reads a
// timing file that starts with a UTF-8 byte order mark (as Windows editors
// save it), as report pdc reads a claims file; it was refused as "malformed
// JSON … invalid character 'ï'".
func TestSchedulePreviewTimingWithByteOrderMark(t *testing.T) {
	path := filepath.Join(t.TempDir(), "timing.json")
	if err := os.WriteFile(path, []byte("\uFEFF"+`{"repeat":{"timeOfDay":["08:00"]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"schedule", "preview", "--timing", path, "--tz", "UTC",
		"--from", "2026-03-07T00:00:00Z", "--to", "2026-03-08T00:00:00Z"}, func(string) string { return "" }, nil, &out, io.Discard)
	if err != nil || out.String() != "2026-03-07T08:00:00Z\n" {
		t.Errorf("preview of a timing file with a BOM = %q, %v; want 2026-03-07T08:00:00Z", out.String(), err)
	}
}

// TestSchedulePreviewTimingOver1MiB: a timing over 1 MiB is refused saying
// so, from standard input as from a file. Standard input was cut at 1 MiB
// without a word and the JSON then failed as "unexpected end of input".
func TestSchedulePreviewTimingOver1MiB(t *testing.T) {
	big := `{"repeat":{"timeOfDay":["08:00"]}` + strings.Repeat(" ", 1<<20) + `}`
	path := filepath.Join(t.TempDir(), "timing.json")
	if err := os.WriteFile(path, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ timing, want string }{
		{"-", "--timing: standard input is over 1 MiB"},
		{path, "--timing: " + path + " is over 1 MiB"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), []string{"schedule", "preview", "--timing", c.timing, "--tz", "UTC",
			"--from", "2026-03-07T00:00:00Z", "--to", "2026-03-08T00:00:00Z"},
			func(string) string { return "" }, strings.NewReader(big), &out, io.Discard)
		if err == nil || err.Error() != c.want || out.Len() > 0 {
			t.Errorf("--timing %s: err = %v, printed %q; want %q", c.timing, err, out.String(), c.want)
		}
	}
	// 1 MiB itself is read whole.
	exact := `{"repeat":{"timeOfDay":["08:00"]}` + strings.Repeat(" ", 1<<20-34) + `}`
	var out bytes.Buffer
	err := run(context.Background(), []string{"schedule", "preview", "--timing", "-", "--tz", "UTC",
		"--from", "2026-03-07T00:00:00Z", "--to", "2026-03-08T00:00:00Z"},
		func(string) string { return "" }, strings.NewReader(exact), &out, io.Discard)
	if len(exact) != 1<<20 || err != nil || out.String() != "2026-03-07T08:00:00Z\n" {
		t.Errorf("timing of %d bytes: %q, %v", len(exact), out.String(), err)
	}
}
