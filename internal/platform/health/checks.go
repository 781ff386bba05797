package health

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Component names used by the ready-made checks.
const (
	NameDatabase  = "database"
	NameRedis     = "redis"
	NameDiskSpace = "diskSpace"
)

// Pinger is what DatabaseCheck needs; *sql.DB satisfies it.
type Pinger interface {
	PingContext(ctx context.Context) error
}

// DatabaseCheck returns the critical "database" check: it pings db.
func DatabaseCheck(db Pinger) Check {
	return Check{
		Name:     NameDatabase,
		Critical: true,
		Run: func(ctx context.Context) (map[string]any, error) {
			if err := db.PingContext(ctx); err != nil {
				return nil, fmt.Errorf("ping database: %w", err)
			}
			return nil, nil
		},
	}
}

// RedisCheck returns the "redis" check: it sends PING to client.
// Register it only when Redis is configured. It is not critical: what
// Redis serves (the failed-authentication limit, which fails open; the
// fan-out of key revocations, which cached keys' expiry backs up) works
// without it, degraded, so a Redis outage shows DOWN in /health and in
// alerts without taking every API task out of the load balancer, whose
// replacements would fail their health checks too (QA).
func RedisCheck(client *redis.Client) Check {
	return Check{
		Name:     NameRedis,
		Critical: false,
		Run: func(ctx context.Context) (map[string]any, error) {
			if err := client.Ping(ctx).Err(); err != nil {
				return nil, fmt.Errorf("ping redis: %w", err)
			}
			return nil, nil
		},
	}
}

// DiskSpaceCheck returns the "diskSpace" check of the file system holding
// path: DOWN when fewer than minFreeBytes are available to the process.
// Its details are free, threshold and total, in bytes. It is not critical:
// a full disk shows in /health and in alerts without taking the instance
// out of the load balancer.
func DiskSpaceCheck(path string, minFreeBytes uint64) Check {
	return Check{
		Name: NameDiskSpace,
		Run: func(context.Context) (map[string]any, error) {
			free, total, err := diskSpace(path)
			if err != nil {
				return nil, fmt.Errorf("disk space of %s: %w", path, err)
			}
			details := map[string]any{"free": free, "threshold": minFreeBytes, "total": total}
			if free < minFreeBytes {
				return details, fmt.Errorf("disk space of %s: %d bytes free, below %d", path, free, minFreeBytes)
			}
			return details, nil
		},
	}
}

// LocalReadyURL is the /readyz URL of a server listening on listenAddr:
// what the healthcheck command of a container without a shell asks. A
// wildcard address (":8080", "0.0.0.0:8080", "[::]:8080") is probed on
// 127.0.0.1; a server bound to one address ("[::1]:8080", "10.0.0.5:8080")
// answers only there, so that address is probed. A port given by its
// service name (":http") is probed by its number.
func LocalReadyURL(listenAddr string) string {
	host, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return "http://127.0.0.1:" + listenAddr[strings.LastIndex(listenAddr, ":")+1:] + "/readyz"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	// serve listens on a service name too (":http" is port 80, as
	// net.Listen resolves it), but a URL needs the number.
	if n, err := net.LookupPort("tcp", port); err == nil {
		port = strconv.Itoa(n)
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz"
}

// ProbeURL is the URL healthcheck probes: flagURL (its --url flag) when
// set, else /readyz at listenAddr (see LocalReadyURL), which is read only
// then. A URL that cannot be probed is the operator's mistake, not an
// unhealthy server: the error names where it came from, and usage is true
// when that is the flag (the command then prints its usage).
func ProbeURL(flagURL string, listenAddr func() (string, error), example string) (target string, usage bool, err error) {
	if flagURL != "" {
		if !probeable(flagURL) {
			return "", true, fmt.Errorf("--url: must be an http:// or https:// URL with a host, such as %s; got %q", example, flagURL)
		}
		return flagURL, false, nil
	}
	addr, err := listenAddr()
	if err != nil {
		return "", false, err
	}
	target = LocalReadyURL(addr)
	if !probeable(target) {
		return "", false, fmt.Errorf("LISTEN_ADDR: %q is not a host:port address to probe", addr)
	}
	return target, false, nil
}

// probeable reports whether s is an absolute http or https URL with a
// host, which RunProbe can probe.
func probeable(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (strings.EqualFold(u.Scheme, "http") || strings.EqualFold(u.Scheme, "https")) && u.Host != ""
}
