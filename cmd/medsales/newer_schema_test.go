package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// TestNewerSchemaIsSaid: medsales runs on a database a later release
// migrated (a rollback), as the release process wants, but migrate says so
// instead of "applied 0 migration(s)" alone (QA). Both engines.
func TestNewerSchemaIsSaid(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			url := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
			if engine == "postgres" {
				url = dbtest.PostgresURL(t)
			}
			migrate := func() (string, error) {
				var out, errOut bytes.Buffer
				err := run(context.Background(), []string{"migrate"}, func(k string) string {
					if k == "DATABASE_URL" {
						return url
					}
					return ""
				}, nil, &out, &errOut)
				return out.String() + errOut.String(), err
			}
			if out, err := migrate(); err != nil || strings.Contains(out, "newer") {
				t.Fatalf("migrate: %v %q", err, out)
			}
			d, err := db.Open(t.Context(), url, db.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.SQL.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, TRUE)`); err != nil {
				t.Fatal(err)
			}
			d.Close()
			if out, err := migrate(); err != nil || !strings.Contains(out, "schema is newer than this release's") {
				t.Errorf("migrate on a newer schema: %v %q, want it run with a warning", err, out)
			}
		})
	}
}
