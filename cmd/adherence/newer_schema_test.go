package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/syncbuf"
)

// TestNewerSchemaIsSaid: a database a later release migrated (a rollback)
// is run on, as the release process wants (migrations only add), but the
// commands say so: migrate printed "applied 0 migration(s)" alone, and the
// other commands nothing (QA). Both engines.
func TestNewerSchemaIsSaid(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			url := "sqlite:" + filepath.Join(t.TempDir(), "a.db")
			if engine == "postgres" {
				url = dbtest.PostgresURL(t)
			}
			if _, _, err := cli(t, url, "migrate"); err != nil {
				t.Fatal(err)
			}
			if _, errOut, err := cli(t, url, "audit", "verify"); err != nil || strings.Contains(errOut, "newer") {
				t.Fatalf("audit verify on this release's schema: %v %q", err, errOut)
			}
			d, err := db.Open(t.Context(), url, db.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.SQL.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, TRUE)`); err != nil {
				t.Fatal(err)
			}
			d.Close()
			for _, args := range [][]string{{"migrate"}, {"audit", "verify"}} {
				out, errOut, err := cli(t, url, args...)
				if err != nil || !strings.Contains(errOut, "schema is newer than this release's") {
					t.Errorf("%v on a newer schema: %v %q %q, want it run with a warning", args, err, out, errOut)
				}
			}
			if engine == "sqlite" {
				// backup refuses it before copying, naming the database.
				if _, _, err := cli(t, url, "backup", "--out", filepath.Join(t.TempDir(), "b.db")); err == nil || !strings.Contains(err.Error(), "a.db was migrated by a newer version") {
					t.Errorf("backup of a newer schema: %v, want a refusal naming the database", err)
				}
			}
			// The production services start with --migrate=false (QA: they
			// said nothing).
			var logs syncbuf.Buffer
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			env := map[string]string{"DATABASE_URL": url, "SHUTDOWN_DRAIN": "0s"}
			go func() {
				done <- run(ctx, []string{"serve", "--migrate=false", "--workers=false", "--addr", freeAddr(t)}, func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, &logs)
			}()
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !strings.Contains(logs.String(), "schema is newer"); {
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			<-done
			if !strings.Contains(logs.String(), "schema is newer than this release's") {
				t.Errorf("serve --migrate=false on a newer schema said nothing of it: %.2000s", logs.String())
			}
		})
	}
}
