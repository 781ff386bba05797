package health_test

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/medplatform/medplatform/internal/platform/health"
)

// fakePinger is a database stand-in.
type fakePinger struct{ err error }

func (p fakePinger) PingContext(context.Context) error { return p.err }

func TestDatabaseCheck(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "up", want: health.StatusUp},
		{name: "down", err: errors.New("connection refused"), want: health.StatusDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := health.DatabaseCheck(fakePinger{err: tt.err})
			if check.Name != "database" || !check.Critical {
				t.Errorf("check = %q critical=%v, want critical database", check.Name, check.Critical)
			}
			rep := health.New([]health.Check{check}, time.Second, fixedClock, nil).Health(context.Background())
			if got := rep.Components["database"].Status; got != tt.want {
				t.Errorf("status = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDiskSpaceCheck(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name        string
		path        string
		threshold   uint64
		want        string
		wantDetails bool
	}{
		{name: "enough space", path: dir, threshold: 1, want: health.StatusUp, wantDetails: true},
		{name: "below threshold", path: dir, threshold: math.MaxUint64, want: health.StatusDown, wantDetails: true},
		{name: "missing path", path: filepath.Join(dir, "missing"), threshold: 1, want: health.StatusDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := health.DiskSpaceCheck(tt.path, tt.threshold)
			if check.Name != "diskSpace" || check.Critical {
				t.Errorf("check = %q critical=%v, want non-critical diskSpace", check.Name, check.Critical)
			}
			rep := health.New([]health.Check{check}, time.Second, fixedClock, nil).Health(context.Background())
			comp := rep.Components["diskSpace"]
			if comp.Status != tt.want {
				t.Errorf("status = %s, want %s", comp.Status, tt.want)
			}
			if rep.Status != health.StatusUp {
				t.Errorf("overall = %s, want UP (disk space is not critical)", rep.Status)
			}
			if !tt.wantDetails {
				if comp.Details != nil {
					t.Errorf("details = %v, want none", comp.Details)
				}
				return
			}
			free, _ := comp.Details["free"].(uint64)
			total, _ := comp.Details["total"].(uint64)
			threshold, _ := comp.Details["threshold"].(uint64)
			if free == 0 || total < free || threshold != tt.threshold {
				t.Errorf("details = %v, want free>0, total>=free, threshold=%d", comp.Details, tt.threshold)
			}
		})
	}
}

// redisURL is the Redis the tests use: REDIS_URL or the local default.
func redisURL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// closedAddr returns a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestRedisCheck(t *testing.T) {
	realOpts, err := redis.ParseURL(redisURL())
	if err != nil {
		t.Fatalf("REDIS_URL: %v", err)
	}
	tests := []struct {
		name string
		opts func() *redis.Options
		want string
		real bool
	}{
		{name: "real redis", opts: func() *redis.Options { return realOpts }, want: health.StatusUp, real: true},
		{name: "closed address", opts: func() *redis.Options {
			return &redis.Options{Addr: closedAddr(t), DialTimeout: 200 * time.Millisecond, MaxRetries: -1}
		}, want: health.StatusDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := redis.NewClient(tt.opts())
			defer client.Close()
			if tt.real {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				err := client.Ping(ctx).Err()
				cancel()
				if err != nil {
					if os.Getenv("CI") == "true" {
						t.Fatalf("Redis at %s unreachable in CI: %v", realOpts.Addr, err)
					}
					t.Skipf("Redis at %s unreachable: %v", realOpts.Addr, err)
				}
			}
			check := health.RedisCheck(client)
			if check.Name != "redis" || check.Critical {
				t.Errorf("check = %q critical=%v, want redis, not critical", check.Name, check.Critical)
			}
			c := health.New([]health.Check{check}, 2*time.Second, nil, nil)
			c.SetReady(true)
			rep := c.Health(context.Background())
			if got := rep.Components["redis"].Status; got != tt.want {
				t.Errorf("status = %s, want %s", got, tt.want)
			}
			// Ready either way: Redis down degrades the API, it does not
			// stop it (see RedisCheck).
			if !c.Ready(context.Background()) {
				t.Errorf("Ready = false with Redis %s, want true", tt.want)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	checker := health.New(nil, time.Second, nil, nil)
	mux := http.NewServeMux()
	mux.Handle("GET /readyz", checker.ReadyzHandler())
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		name          string
		ready         bool
		url           string
		ctxTimeout    time.Duration
		wantErr       bool
		wantUnhealthy bool
	}{
		{name: "not ready", url: srv.URL + "/readyz", wantErr: true, wantUnhealthy: true},
		{name: "ready", ready: true, url: srv.URL + "/readyz"},
		{name: "not found", ready: true, url: srv.URL + "/nope", wantErr: true, wantUnhealthy: true},
		{name: "nothing listening", url: "http://" + closedAddr(t) + "/readyz", wantErr: true},
		{name: "bad url", url: "://", wantErr: true},
		{name: "caller deadline", url: srv.URL + "/slow", ctxTimeout: 50 * time.Millisecond, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checker.SetReady(tt.ready)
			ctx := context.Background()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			err := health.Probe(ctx, tt.url)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Probe error = %v, wantErr %v", err, tt.wantErr)
			}
			if got := errors.Is(err, health.ErrUnhealthy); got != tt.wantUnhealthy {
				t.Errorf("errors.Is(err, ErrUnhealthy) = %v, want %v (err %v)", got, tt.wantUnhealthy, err)
			}
		})
	}
}

func TestLocalReadyURL(t *testing.T) {
	for addr, want := range map[string]string{
		":8080":        "http://127.0.0.1:8080/readyz",
		"0.0.0.0:8081": "http://127.0.0.1:8081/readyz",
		"[::]:9000":    "http://127.0.0.1:9000/readyz",
		// serve accepts a service name as its port (net.Listen resolves
		// it); the probe must ask the same port by its number.
		":http":           "http://127.0.0.1:80/readyz",
		"127.0.0.1:https": "http://127.0.0.1:443/readyz",
	} {
		if got := health.LocalReadyURL(addr); got != want {
			t.Errorf("LocalReadyURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

// TestLocalReadyURLSpecificHost: a server bound to one address only (the
// IPv6 loopback, one interface) is not reachable on 127.0.0.1, so the
// probe asks that address; only a wildcard address is probed on
// 127.0.0.1.
func TestLocalReadyURLSpecificHost(t *testing.T) {
	for addr, want := range map[string]string{
		"[::1]:9001":     "http://[::1]:9001/readyz",
		"127.0.0.2:9002": "http://127.0.0.2:9002/readyz",
		"localhost:9003": "http://localhost:9003/readyz",
		"10.1.2.3:8080":  "http://10.1.2.3:8080/readyz",
		"[::]:9004":      "http://127.0.0.1:9004/readyz",
	} {
		if got := health.LocalReadyURL(addr); got != want {
			t.Errorf("LocalReadyURL(%q) = %q, want %q", addr, got, want)
		}
	}
}
