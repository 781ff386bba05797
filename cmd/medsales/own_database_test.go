package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	adhstore "github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestRefusesTheAdherenceDatabase: medsales pointed at a database the
// adherence migrations made fails at start naming the mistake, as
// architecture.md says. Goose's version table is shared and holds
// versions 1…10 there, so medsales found its own (1…7) applied: on SQLite
// (and on PostgreSQL without PostGIS) migrate, serve and worker started
// without a single medsales table, ready, answering 500 to every read.
func TestRefusesTheAdherenceDatabase(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			u := e.url(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			d, err := db.Open(ctx, u, db.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := migrate.Up(ctx, d, audit.Migrations, adhstore.Migrations); err != nil {
				t.Fatal(err)
			}
			d.Close()
			vars := map[string]string{"DATABASE_URL": u, "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"}
			for _, args := range [][]string{{"migrate"}, {"serve", "--addr", freeAddr(t)}, {"worker", "--addr", freeAddr(t)}, {"serve", "--migrate=false", "--addr", freeAddr(t)}, {"serve", "--migrate=false", "--workers=false", "--addr", freeAddr(t)}} {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := run(ctx, args, func(k string) string { return vars[k] }, nil, io.Discard, io.Discard)
				cancel()
				if err == nil || !strings.Contains(err.Error(), "not a medsales database") {
					t.Errorf("%v on the adherence database: err = %v, want it refused as not a medsales database", args, err)
				}
			}
		})
	}
}
