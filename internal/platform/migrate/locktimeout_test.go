package migrate_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/syncbuf"
)

// TestUpDoesNotQueueTheServingVersion: during a blue/green deploy the
// version still serving reads and writes the tables a migration alters.
// A migration waiting for its lock behind a long transaction of the old
// version (a report) made every query of the table queue behind it for as
// long as that transaction lasted (QA: an event took 6 s). It now waits a
// second at most, rolls back, lets the queue through and tries again, and
// applies once the long transaction has ended.
func TestUpDoesNotQueueTheServingVersion(t *testing.T) {
	ctx := context.Background()
	url := dbtest.PostgresURL(t)
	d, err := db.Open(ctx, url, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var logs syncbuf.Buffer
	d.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	set := migrate.Set{Table: "locktest_version", SQLite: fstest.MapFS{}, Postgres: fstest.MapFS{
		"00001_events.sql": {Data: []byte("-- +goose Up\nCREATE TABLE events (id INT);\nINSERT INTO events VALUES (1);\n")},
		"00002_guard.sql":  {Data: []byte("-- +goose Up\nALTER TABLE events ADD COLUMN plan_id INT;\n")},
	}}
	p, err := set.Provider(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpByOne(ctx); err != nil {
		t.Fatal(err)
	}

	// The old version's long transaction: a report reading events.
	report, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := report.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := migrate.Up(ctx, d, set)
		done <- err
	}()
	time.Sleep(500 * time.Millisecond) // the migration is waiting for its lock

	// Another request of the old version: queued behind a migration
	// waiting without bound, it waited until the report ended; now it
	// gets through once the migration has given up its wait.
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET lock_timeout = '5s'"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO events VALUES (2)"); err != nil {
		t.Errorf("an insert of the serving version while the migration waited: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Up ended while the report still held the table: %v", err)
	default:
	}
	// The operator is told why the deploy waits.
	for end := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "migration waits") && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	if got := logs.String(); !strings.Contains(got, "migration waits for a table lock") || !strings.Contains(got, "version=2") {
		t.Errorf("the wait was not logged with the migration's version: %q", got)
	}
	if err := report.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Up after the report ended: %v", err)
	}
	var cols int
	if err := d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'plan_id'`).Scan(&cols); err != nil || cols != 1 {
		t.Fatalf("the migration was not applied: %d columns, %v", cols, err)
	}
	// The migrations' lock bound stays theirs: the product's sessions
	// wait as before.
	var timeout string
	if err := d.SQL.QueryRowContext(ctx, "SHOW lock_timeout").Scan(&timeout); err != nil || timeout != "0" {
		t.Errorf("the product's sessions' lock_timeout = %q, %v; want 0", timeout, err)
	}
}

// TestUpSaysItWaitsForAnotherMigration: a process starting while another
// migrates the database waits for it, and says so.
func TestUpSaysItWaitsForAnotherMigration(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, dbtest.PostgresURL(t), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var logs syncbuf.Buffer
	d.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	other, err := d.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	const migrationLockKey = 0x6d6967726174 // migrate's
	if _, err := other.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := migrate.Up(ctx, d)
		done <- err
	}()
	for end := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "waiting for another process's migrations") && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	if got := logs.String(); !strings.Contains(got, "waiting for another process's migrations") {
		t.Errorf("the wait for the migration lock was not logged: %q", got)
	}
	if _, err := other.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", migrationLockKey); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Up once the lock was released: %v", err)
	}
}
