// Package ratelimittest holds test helpers for the rate limiters.
package ratelimittest

import (
	"net"
	"testing"
)

// SilentRedis starts a TCP server that accepts connections and never
// answers (a Redis node failing over, a stalled proxy) and returns its
// address; it stops when the test ends.
func SilentRedis(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn // accepted, never answered
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return ln.Addr().String()
}
