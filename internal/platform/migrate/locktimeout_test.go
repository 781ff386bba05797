package migrate_test

import (
	"context"
	"testing"
	"testing/fstest"
	"time"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
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
