package dbtest

import (
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// RoundTrips counts the round trips between clients and a PostgreSQL
// server through a TCP proxy (see CountRoundTrips): the times a client
// sends something after it last heard from the server (the first message
// of a connection included), whatever the messages. A pipeline of many
// queries sent before its first answer is read is one round trip.
type RoundTrips struct {
	n atomic.Int64
}

// Count returns the round trips counted since the start or the last Reset.
func (r *RoundTrips) Count() int64 { return r.n.Load() }

// Reset starts the count over.
func (r *RoundTrips) Reset() { r.n.Store(0) }

// CountRoundTrips starts a proxy in front of the server of the PostgreSQL
// URL u, and returns u pointed at the proxy and the proxy's count of round
// trips. The proxy stops when the test ends.
func CountRoundTrips(t testing.TB, u string) (string, *RoundTrips) {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatalf("count round trips: parse the database URL: %v", err)
	}
	target := pu.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("count round trips: listen: %v", err)
	}
	rt := &RoundTrips{}
	var wg sync.WaitGroup
	var (
		mu      sync.Mutex
		open    []net.Conn // closed when the test ends
		stopped bool
	)
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return false
		}
		open = append(open, c)
		return true
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			if !track(client) || !track(server) {
				client.Close()
				server.Close()
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				rt.relay(client, server)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		stopped = true
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	pu.Host = ln.Addr().String()
	return pu.String(), rt
}

// relay copies between client and server until either side closes,
// counting the client's turns to speak.
func (r *RoundTrips) relay(client, server net.Conn) {
	var mu sync.Mutex
	serverSpoke := true // the connection's first message counts
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn, fromClient bool) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				mu.Lock()
				if fromClient && serverSpoke {
					r.n.Add(1)
					serverSpoke = false
				} else if !fromClient {
					serverSpoke = true
				}
				mu.Unlock()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return // EOF or a closed connection: the relay ends
			}
		}
	}
	go pipe(server, client, true)
	go pipe(client, server, false)
	<-done
	client.Close()
	server.Close()
	<-done
}
