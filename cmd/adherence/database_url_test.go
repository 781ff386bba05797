package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// TestDatabaseURLSetting runs the DATABASE_URL cases both products share
// (dbtest.DatabaseURLSetting), with audit verify as the command that needs the
// migrated database.
func TestDatabaseURLSetting(t *testing.T) {
	dbtest.DatabaseURLSetting(t, run, []string{"audit", "verify"})
}

// TestExistingDatabaseAtEscapedPath checks that the commands that need an
// existing database find a SQLite file whose URL path is escaped (a '#',
// '%' or '?' in a directory name is written %23, %25, %3F, as db.Open reads
// a URI path): audit verify looked for the file under the escaped name and
// answered "no database" for a database that migrate had just created.
func TestExistingDatabaseAtEscapedPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a#1 100%?")
	t.Chdir(t.TempDir())
	u := "sqlite:" + dbtest.URIPath(filepath.Join(dir, "ad.db"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env := func(k string) string { return map[string]string{"DATABASE_URL": u, "LOG_LEVEL": "warn"}[k] }
	if err := run(ctx, []string{"migrate"}, env, nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("migrate with DATABASE_URL=%q: %v", u, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ad.db")); err != nil {
		t.Fatalf("migrate created no database at the unescaped path: %v", err)
	}
	if err := run(ctx, []string{"audit", "verify"}, env, nil, io.Discard, io.Discard); err != nil {
		t.Errorf("audit verify with DATABASE_URL=%q: %v, want the migrated database found", u, err)
	}
}
