package keyrevoke_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/keyrevoke"
	"github.com/medplatform/medplatform/internal/platform/redistest"
)

// keys is the database both processes read keys from.
type keys struct {
	revoked bool
	calls   int
}

func (k *keys) LookupAPIKey(_ context.Context, id string) (auth.StoredKey, error) {
	k.calls++
	key := auth.StoredKey{ID: id}
	if k.revoked {
		at := time.Now()
		key.RevokedAt = &at
	}
	return key, nil
}

// TestRevocationReachesTheOtherProcess: two API processes cache the same
// key (an hour here); the one that revokes it publishes the revocation,
// and the other, listening, forgets the key, so its next use reads the
// revocation instead of the cached key. A process on another channel
// hears nothing.
func TestRevocationReachesTheOtherProcess(t *testing.T) {
	rdb := redistest.Client(t)
	ctx := t.Context()
	channel := "test:api-keys:revoked:" + uuid.NewString()
	db := &keys{}
	a := auth.NewKeyCache(db, time.Hour, nil)
	b := auth.NewKeyCache(db, time.Hour, nil)
	other := auth.NewKeyCache(db, time.Hour, nil)
	for _, c := range []auth.KeyLookup{a, b, other} {
		if _, err := c.LookupAPIKey(ctx, "k1"); err != nil {
			t.Fatal(err)
		}
	}

	heard := make(chan string, 1)
	stop, err := keyrevoke.New(rdb, channel).Listen(ctx, func(id string) {
		b.(auth.KeyForgetter).ForgetAPIKey(id)
		heard <- id
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	stopOther, err := keyrevoke.New(rdb, channel+":elsewhere").Listen(ctx, other.(auth.KeyForgetter).ForgetAPIKey)
	if err != nil {
		t.Fatal(err)
	}
	defer stopOther()

	// Process A revokes the key, forgets it and publishes.
	db.revoked = true
	a.(auth.KeyForgetter).ForgetAPIKey("k1")
	if err := keyrevoke.New(rdb, channel).Publish(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-heard:
		if id != "k1" {
			t.Fatalf("heard %q, want k1", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the revocation was not heard")
	}
	if k, err := b.LookupAPIKey(ctx, "k1"); err != nil || k.RevokedAt == nil {
		t.Fatalf("process B after the message: %+v, %v; want the key read again, revoked", k, err)
	}
	if k, err := other.LookupAPIKey(ctx, "k1"); err != nil || k.RevokedAt != nil {
		t.Fatalf("a process on another channel: %+v, %v; want its cached key (it heard nothing)", k, err)
	}
	stop()
	stop() // stop is idempotent
}

// TestListenWhileRedisIsDown: a process that starts while Redis is
// unreachable is told so, and hears revocations once Redis answers: the
// subscription goes on trying in the background. It gave up for the life
// of the process, which then noticed revocations only as its cache
// entries expired (QA).
func TestListenWhileRedisIsDown(t *testing.T) {
	live := redistest.Client(t)
	var down atomic.Bool
	down.Store(true)
	opts := *live.Options()
	opts.DialTimeout = 200 * time.Millisecond
	opts.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if down.Load() {
			return nil, errors.New("redis down (test)")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	rdb := redis.NewClient(&opts)
	t.Cleanup(func() { rdb.Close() })

	channel := "test:api-keys:revoked:" + uuid.NewString()
	heard := make(chan string, 1)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	stop, err := keyrevoke.New(rdb, channel).Listen(ctx, func(id string) { heard <- id })
	if err == nil {
		t.Fatal("Listen with Redis down = nil error, want one saying so")
	}
	if stop == nil {
		t.Fatal("Listen with Redis down gave no stop")
	}
	defer stop()

	down.Store(false)
	// Publish until the subscription is back (the client retries on its
	// own schedule): a message published before it resubscribed is lost,
	// as the package says.
	deadline := time.After(20 * time.Second)
	for {
		if err := keyrevoke.New(live, channel).Publish(t.Context(), "k1"); err != nil {
			t.Fatal(err)
		}
		select {
		case id := <-heard:
			if id != "k1" {
				t.Fatalf("heard %q, want k1", id)
			}
			return
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("the revocation was never heard once Redis answered")
		}
	}
}
