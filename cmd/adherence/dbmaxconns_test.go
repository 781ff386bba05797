package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// TestDBMaxConnsCapsConnections: DB_MAX_CONNS caps the PostgreSQL
// connections of a process, API and workers together. The pool had a
// fixed 20, which a shared server could not lower, and the job queue's
// listener took one more out of it (QA: a worker held 21 after a burst of
// escalation steps). With 4, a burst of 40 concurrent requests is served
// in full and the database sees at most 4 connections of the process
// (serve, with its workers); a value under 4 is refused at startup.
func TestDBMaxConnsCapsConnections(t *testing.T) {
	dbURL := dbtest.PostgresURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(u.Path, "/")

	if _, err := loadSettings(envOf(map[string]string{"DATABASE_URL": dbURL, "DB_MAX_CONNS": "3"})); err == nil || !strings.Contains(err.Error(), "DB_MAX_CONNS must be between 4 and 1000") {
		t.Fatalf("DB_MAX_CONNS=3: %v, want it refused", err)
	}

	env := map[string]string{"DATABASE_URL": dbURL, "DB_MAX_CONNS": "4", "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"}
	addr := freeAddr(t)
	base := "http://" + addr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr}, envOf(env), strings.NewReader(""), io.Discard, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	waitReady(t, base+"/readyz", done)

	var out bytes.Buffer
	if err := run(context.Background(), []string{"admin", "bootstrap", "--org", "Pool Care"}, envOf(env), nil, &out, io.Discard); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	_, key, _ := strings.Cut(out.String(), "admin_key=")
	key = strings.TrimSpace(key)
	pid := call(t, "POST", base+"/v1/patients", key, `{"givenName":"Pia","timeZone":"UTC"}`, 201)["id"].(string)
	plan := call(t, "POST", base+"/v1/patients/"+pid+"/plans", key,
		`{"medication":{"rxnorm":"314076","display":"lisinopril 10 MG Oral Tablet"},"dose":"1 tablet","timing":{"repeat":{"timeOfDay":["08:00:00"]}}}`, 201)["id"].(string)

	var wg sync.WaitGroup
	failures := make(chan string, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			method, path, body, want := "GET", "/v1/plans/"+plan+"?include=doses", "", http.StatusOK
			if i%2 == 1 {
				method, path, want = "POST", "/v1/events", http.StatusCreated
				body = fmt.Sprintf(`{"patientId":%q,"planId":%q,"kind":"opened","source":"device","clientEventId":"burst-%d","occurredAt":%q}`, pid, plan, i, time.Now().UTC().Format(time.RFC3339Nano))
			}
			req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				failures <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				failures <- fmt.Sprintf("%s %s: %d %s", method, path, resp.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}

	admin, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, dbName).Scan(&n); err != nil {
		t.Fatal(err)
	}

	if n == 0 || n > 4 {
		t.Fatalf("%d connections to the database after a burst of 40 requests with DB_MAX_CONNS=4, want 1 to 4", n)
	}
}
