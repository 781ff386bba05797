// Package dbtest gives tests real, throw-away databases on both engines:
// a SQLite file in t.TempDir() and, when TEST_DATABASE_URL is set, a fresh
// PostgreSQL database created on that server and dropped afterwards.
//
// Without TEST_DATABASE_URL the PostgreSQL half skips; CI sets it so it
// never skips there.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// Each runs fn once per engine as the subtests "sqlite" and "postgres", each
// on a new migrated database.
func Each(t *testing.T, sets []migrate.Set, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t, sets...)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t, sets...)) })
}

// SQLite returns a migrated SQLite database in a temporary directory.
func SQLite(t testing.TB, sets ...migrate.Set) *db.DB {
	t.Helper()
	ctx := context.Background()
	// The URL's path is a URI path: a subtest named like another
	// ("sqlite#01") gets a temporary directory with '#' in its name, which
	// must be escaped, or the database would be the file cut before it,
	// shared by every such test.
	d, err := db.Open(ctx, "sqlite:"+URIPath(filepath.Join(t.TempDir(), "test.db")), db.Options{})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := migrate.Up(ctx, d, sets...); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}
	return d
}

// Postgres returns a migrated PostgreSQL database created for this test, or
// skips the test when TEST_DATABASE_URL is not set.
func Postgres(t testing.TB, sets ...migrate.Set) *db.DB {
	t.Helper()
	u := PostgresURL(t)
	ctx := context.Background()
	d, err := db.Open(ctx, u, db.Options{MaxConns: 10})
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := migrate.Up(ctx, d, sets...); err != nil {
		t.Fatalf("migrate postgres: %v", err)
	}
	return d
}

// PostgresURL creates an empty database on the TEST_DATABASE_URL server and
// returns its URL; the database is dropped when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TEST_DATABASE_URL not set: skipping PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	defer admin.Close(ctx)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	pu, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	pu.Path = "/" + name
	return pu.String()
}

// URIPath escapes a file path for the path of a SQLite database URL,
// which db.Open reads as a URI ('%', '#' and '?' are syntax there).
func URIPath(path string) string {
	return strings.TrimPrefix(db.SQLiteURL(path), "sqlite:")
}
