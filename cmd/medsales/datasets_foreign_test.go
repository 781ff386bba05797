package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// TestDatasetsDoesNotMigrate: `medsales datasets` only reads. On another
// application's database it fails saying it is not a migrated medsales
// database, and writes nothing: it applied the medsales migrations there
// (20 tables and PostGIS on PostgreSQL) and listed every dataset as never
// loaded (QA).
func TestDatasetsDoesNotMigrate(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			url := eng.url(t)
			d, err := db.Open(ctx, url, db.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.SQL.ExecContext(ctx, `CREATE TABLE customers (id INTEGER)`); err != nil {
				t.Fatal(err)
			}
			tables := func() int {
				q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'`
				if d.Dialect == db.Postgres {
					q = `SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()`
				}
				var n int
				if err := d.SQL.QueryRowContext(ctx, q).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			before := tables()
			env := map[string]string{"DATABASE_URL": url, "LOG_LEVEL": "error"}
			err = run(ctx, []string{"datasets"}, func(k string) string { return env[k] }, nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "not a migrated medsales database") {
				t.Errorf("datasets on another application's database: err = %v, want it refused", err)
			}
			if n := tables(); n != before {
				t.Errorf("datasets left %d tables in the database, it had %d", n, before)
			}
			d.Close()
		})
	}
}
