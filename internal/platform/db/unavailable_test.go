package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// refusedError is what database/sql answers when PostgreSQL refuses the
// connection: a listener opened and closed, so nothing listens on its port.
func refusedError(t *testing.T) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	conn, err := sql.Open("pgx", "postgres://postgres@"+addr+"/test?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = conn.PingContext(ctx)
	if err == nil {
		t.Fatal("a ping of a closed port succeeded")
	}
	return err
}

// TestUnavailable: a refused connection and the SQLSTATEs of a server that
// lost or refuses connections (class 08, 57P01–57P03) say the database is
// unavailable, wrapped or not; a failed statement, or no error, does not.
func TestUnavailable(t *testing.T) {
	refused := refusedError(t)
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"connection refused, wrapped", fmt.Errorf("get patient: %w", refused), true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"cannot connect now", fmt.Errorf("read: %w", &pgconn.PgError{Code: "57P03"}), true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"disk full", fmt.Errorf("insert: %w", &pgconn.PgError{Code: "53100"}), true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"SQLite database full", fmt.Errorf("insert: %w", sqliteFull(t)), true},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"other error", errors.New("boom"), false},
		{"nil", nil, false},
	} {
		if got := db.Unavailable(c.err); got != c.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// sqliteFull is the error of a write to a SQLite database that cannot grow:
// the database's page count is capped just above what it holds.
func sqliteFull(t *testing.T) error {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, "sqlite:"+dbtest.URIPath(filepath.Join(t.TempDir(), "full.db")), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.SQL.ExecContext(ctx, `CREATE TABLE filler (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var pages int
	if err := conn.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+2)); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, err = conn.ExecContext(ctx, `INSERT INTO filler VALUES (randomblob(100000))`); err != nil {
			return err
		}
	}
	t.Fatal("a database capped at a few pages took 10 MB")
	return nil
}
