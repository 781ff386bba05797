package server_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/server"
	"github.com/medplatform/medplatform/internal/platform/syncbuf"
)

// TestServerMessagesAreJSONLogLines checks that net/http's own messages
// (here: a handler that writes its header twice) reach the process's JSON
// log, not plain-text lines the log package prints on standard error.
func TestServerMessagesAreJSONLogLines(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs syncbuf.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		w.WriteHeader(http.StatusOK)
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- server.Run(ctx, server.Config{Addr: addr, Handler: h, Health: health.New(nil, time.Second, time.Now, log), Jobs: noJobs{}, Logger: log})
	}()
	for start := time.Now(); !strings.Contains(logs.String(), "superfluous"); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
		}
		if time.Since(start) > 5*time.Second {
			break
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && strings.Contains(rec["msg"].(string), "superfluous") {
			found = rec["level"] == "WARN"
		}
	}
	if !found {
		t.Errorf("net/http's message is not a JSON warning in the log:\n%s", logs.String())
	}
}
