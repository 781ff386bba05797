package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	msstore "github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestRefusesTheMedsalesDatabase: adherence pointed at a database the
// medsales migrations made refuses to migrate it, naming the mistake, and
// leaves it as it was. Goose's version table is shared by both products:
// adherence applied its audit migrations there, left their tables behind,
// and then failed half-way with "relation patients does not exist" (on
// PostgreSQL) or "missing (out-of-order) migration" (on SQLite).
func TestRefusesTheMedsalesDatabase(t *testing.T) {
	engines := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "medsales.db") }},
		{"postgres", func(t *testing.T) string { return dbtest.PostgresURL(t) }},
	}
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			u := eng.url(t)
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			d, err := db.Open(ctx, u, db.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if _, err := migrate.Up(ctx, d, msstore.Migrations); err != nil {
				t.Fatal(err)
			}
			tables := func() int {
				t.Helper()
				q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'`
				if d.Dialect == db.Postgres {
					q = `SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema()`
				}
				var n int
				if err := d.SQL.QueryRowContext(ctx, q).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			before := tables()
			getenv := func(k string) string {
				return map[string]string{"DATABASE_URL": u, "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"}[k]
			}
			// Without --migrate too, as a deployment runs serve and worker:
			// they said "migrations pending", or served an API that stayed
			// unready, and audit verify said to migrate, which the migration
			// then refused (QA).
			for _, args := range [][]string{{"migrate"}, {"serve", "--addr", freeAddr(t)}, {"worker"},
				{"worker", "--migrate=false"}, {"serve", "--addr", freeAddr(t), "--workers=false", "--migrate=false"},
				{"serve", "--addr", freeAddr(t), "--migrate=false"}, {"audit", "verify"}} {
				// Each on its own deadline: a server that does not refuse
				// the database serves until it.
				rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
				err := run(rctx, args, getenv, strings.NewReader(""), io.Discard, io.Discard)
				rcancel()
				if err == nil || !strings.Contains(err.Error(), "medsales database") {
					t.Errorf("adherence %v on a medsales database: %v, want an error naming it", args, err)
				}
			}
			if after := tables(); after != before {
				t.Errorf("the medsales database holds %d tables after adherence tried it, %d before", after, before)
			}
		})
	}
}
