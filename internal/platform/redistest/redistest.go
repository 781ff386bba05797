// Package redistest gives tests a client of the real Redis at REDIS_URL.
package redistest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client connects to the Redis at REDIS_URL (default
// redis://127.0.0.1:6379/0) and closes it when the test ends. When it is
// unreachable the test is skipped, unless CI=true, where it fails: CI must
// exercise the real engine.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parse REDIS_URL: %v", err)
	}
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis unreachable in CI: %v", err)
		}
		t.Skipf("Redis unreachable, skipping: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}
