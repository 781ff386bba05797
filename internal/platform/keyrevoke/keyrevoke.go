// Package keyrevoke tells every API process of a deployment that an API
// key was revoked, over Redis publish/subscribe, so that each forgets the
// key at once instead of serving it from its key cache until the entry
// expires (auth.KeyCache, API_KEY_CACHE_TTL).
//
// Delivery is best effort: a process that was not subscribed when the
// message went out (restarting, or cut off from Redis) does not hear it,
// and refuses the key when its cache entry expires, as without this
// package. The revocation itself is in the database; only how soon every
// process notices depends on the message.
package keyrevoke

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Bus publishes and receives revoked key ids on one Redis channel.
type Bus struct {
	rdb     *redis.Client
	channel string
}

// New returns a Bus on rdb's channel: processes that should hear each
// other's revocations use the same one.
func New(rdb *redis.Client, channel string) *Bus {
	return &Bus{rdb: rdb, channel: channel}
}

// Publish tells the subscribed processes that keyID was revoked.
func (b *Bus) Publish(ctx context.Context, keyID string) error {
	if err := b.rdb.Publish(ctx, b.channel, keyID).Err(); err != nil {
		return fmt.Errorf("publish API key revocation: %w", err)
	}
	return nil
}

// Listen subscribes to the channel and calls forget with each key id
// published, until the returned stop is called (once or more). It returns
// once Redis has confirmed the subscription, so that a revocation
// published after Listen returns is heard. The client reconnects and
// subscribes again by itself after a lost connection. When Redis does not
// confirm the subscription (unreachable at start), Listen says so in err
// but keeps trying in the background, as after a lost connection: the
// process hears revocations once Redis answers (it gave up for the life of
// the process; QA). stop is to be called either way.
func (b *Bus) Listen(ctx context.Context, forget func(keyID string)) (stop func(), err error) {
	ps := b.rdb.Subscribe(ctx, b.channel)
	if _, rerr := ps.Receive(ctx); rerr != nil {
		err = fmt.Errorf("subscribe to API key revocations (trying again in the background): %w", rerr)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg := range ps.Channel() { // closed by ps.Close
			forget(msg.Payload)
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			ps.Close()
			<-done
		})
	}, err
}
