package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/ratelimit/ratelimittest"
)

// TestRedisUnansweredFailsOpenQuickly starts serve with REDIS_URL naming a
// server that accepts connections and never answers (a Redis node failing
// over, a stalled proxy). The failed-auth limiter fails open, and must do
// so quickly: go-redis ignored the limiter's deadline, so every
// authenticated request waited 5 s and every refused one 10 s.
func TestRedisUnansweredFailsOpenQuickly(t *testing.T) {
	redisAddr := ratelimittest.SilentRedis(t)
	env := map[string]string{
		"DATABASE_URL":   "sqlite:" + filepath.Join(t.TempDir(), "adherence.db"),
		"REDIS_URL":      "redis://" + redisAddr + "/0",
		"SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "error",
	}
	getenv := func(k string) string { return env[k] }
	addr := freeAddr(t)
	base := "http://" + addr
	ctx, cancel := context.WithCancel(context.Background())
	var serverLog bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr}, getenv, strings.NewReader(""), io.Discard, &serverLog)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	// Ready although Redis does not answer: what Redis serves works
	// without it, degraded (health.RedisCheck is not critical). Its
	// check was critical, and a Redis outage took every API task out of
	// the load balancer (QA).
	waitReady(t, base+"/readyz", done)

	// The first request waits for the limiter's timeout (250 ms); the
	// next ones, within its pause, do not ask Redis at all.
	for i := range 5 {
		req, err := http.NewRequest(http.MethodGet, base+"/v1/me", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer mpk_not-a-key")
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		took := time.Since(start)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /v1/me with a wrong key while Redis does not answer: status %d, want 401", resp.StatusCode)
		}
		limit := 2 * time.Second
		if i > 0 {
			limit = 200 * time.Millisecond
		}
		if took > limit {
			t.Errorf("request %d: GET /v1/me with a wrong key while Redis does not answer took %v, want the limiter to fail open within %v", i+1, took, limit)
		}
	}
}

// TestRedisFailureOfTheAuthLimiterIsLogged: while the failed-auth limiter
// cannot reach Redis, attempts go ahead uncounted (fail open), and the
// server says so in its log, naming neither the key nor the client; the
// Authenticator's logger was never set, so the limiter was off without a
// word. It says so once per failure, not once per request: the requests
// that follow within the limiter's pause do not ask Redis (QA: one
// warning per request, 2,160 lines in 27 s).
func TestRedisFailureOfTheAuthLimiterIsLogged(t *testing.T) {
	redisAddr := ratelimittest.SilentRedis(t)
	env := map[string]string{
		"DATABASE_URL":   "sqlite:" + filepath.Join(t.TempDir(), "adherence.db"),
		"REDIS_URL":      "redis://" + redisAddr + "/0",
		"SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn",
	}
	getenv := func(k string) string { return env[k] }
	addr := freeAddr(t)
	base := "http://" + addr
	ctx, cancel := context.WithCancel(context.Background())
	var serverLog bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr}, getenv, strings.NewReader(""), io.Discard, &serverLog)
	}()
	waitReady(t, base+"/livez", done)

	const wrongKey = "mpk_aaaaaaaaaaaa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	req, err := http.NewRequest(http.MethodGet, base+"/v1/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+wrongKey)
	for range 3 {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /v1/me with a wrong key while Redis does not answer: status %d, want 401", resp.StatusCode)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
	logged := serverLog.String()
	if n := strings.Count(logged, "rate limiter failed"); n != 1 {
		t.Errorf("server log says %d times that the rate limiter failed, want once for three requests:\n%s", n, logged)
	}
	if !strings.Contains(logged, "rate limiter failed; letting the attempt through") {
		t.Errorf("server log lacks that the attempt was let through:\n%s", logged)
	}
	if strings.Contains(logged, wrongKey) || strings.Contains(logged, "aaaaaaaaaaaa_") {
		t.Errorf("server log names the key:\n%s", logged)
	}
}

// TestRedisOptionsFailFast: a Redis that refuses connections must fail a
// call after a retry, not after go-redis's default 5 dials for each of 4
// tries (1.7 s a call, which /health took while Redis was down).
func TestRedisOptionsFailFast(t *testing.T) {
	opts, err := redisOptions("redis://127.0.0.1:6379/3")
	if err != nil {
		t.Fatal(err)
	}
	if !opts.ContextTimeoutEnabled || opts.MaxRetries != 1 || opts.DialerRetries != 2 || opts.DialerRetryTimeout != 50*time.Millisecond || opts.DB != 3 {
		t.Errorf("options: ContextTimeoutEnabled %v, MaxRetries %d, DialerRetries %d, DialerRetryTimeout %v, DB %d; want true, 1, 2, 50ms, 3",
			opts.ContextTimeoutEnabled, opts.MaxRetries, opts.DialerRetries, opts.DialerRetryTimeout, opts.DB)
	}
	// An operator's own max_retries stands.
	opts, err = redisOptions("redis://127.0.0.1:6379/0?max_retries=5")
	if err != nil {
		t.Fatal(err)
	}
	if opts.MaxRetries != 5 {
		t.Errorf("max_retries=5 in REDIS_URL: MaxRetries %d, want 5", opts.MaxRetries)
	}
	if _, err := redisOptions("http://127.0.0.1:6379"); err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Errorf("an http URL: error %v, want one naming REDIS_URL", err)
	}
}
