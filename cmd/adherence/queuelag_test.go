package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestJobQueueLagEveryKind: adherence_job_queue_lag_seconds is observed for
// every job kind the workers run, not only for the few whose Work method
// observed it: the periodic jobs that run at start (arm_reminders,
// escalation_outbox, escalation_stall_sweep) show up in /metrics with a
// count.
func TestJobQueueLagEveryKind(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "adherence.db"), "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"}
	getenv := func(k string) string { return env[k] }
	addr := freeAddr(t)
	base := "http://" + addr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr}, getenv, strings.NewReader(""), io.Discard, io.Discard)
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitReady(t, base+"/readyz", done)

	kinds := []string{"arm_reminders", "audit_checkpoint", "escalation_outbox", "escalation_stall_sweep", "missed_doses"}
	var metrics string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		metrics = string(body)
		missing := ""
		for _, k := range kinds {
			count := regexp.MustCompile(`(?m)^adherence_job_queue_lag_seconds_count\{kind="` + k + `"\} ([1-9][0-9]*)$`)
			if !count.MatchString(metrics) {
				missing = k
				break
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no queue lag observed for %s within 60s:\n%s", missing, grepLines(metrics, "adherence_job_queue_lag_seconds_count"))
		}
	}
	// Every kind has its series from the start, observed or not.
	if n := strings.Count(grepLines(metrics, "adherence_job_queue_lag_seconds_count"), "\n"); n != 12 {
		t.Errorf("%d queue lag series, want one per job kind (12):\n%s", n, grepLines(metrics, "adherence_job_queue_lag_seconds_count"))
	}
}

// grepLines returns the lines of s that start with prefix.
func grepLines(s, prefix string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, prefix) {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
