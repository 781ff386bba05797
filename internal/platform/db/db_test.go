package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// On SQLite, Read answers while a write transaction holds the one writer
// connection, from the last committed state, and cannot write.
func TestSQLiteReadsDoNotWaitForTheWriter(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "r.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.SQL.ExecContext(ctx, "CREATE TABLE t (v INTEGER)"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.SQL.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}

	inTx, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- d.InTx(ctx, func(tx *db.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (2)"); err != nil {
				return err
			}
			close(inTx)
			<-release
			return nil
		})
	}()
	<-inTx
	// With only the writer's connection this read would wait for the
	// transaction, which waits for this test: the deadline would expire.
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	var n int
	err = d.Read.QueryRowContext(rctx, "SELECT COUNT(*) FROM t").Scan(&n)
	cancel()
	if err != nil {
		t.Fatalf("read while a write transaction is open: %v", err)
	}
	if n != 1 {
		t.Errorf("read %d rows during the write, want the 1 committed", n)
	}
	if _, err := d.Read.ExecContext(ctx, "INSERT INTO t VALUES (3)"); err == nil {
		t.Error("a write through Read succeeded; want it refused (query_only)")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := d.Read.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Errorf("after the commit Read sees %d rows (%v), want 2", n, err)
	}
}

// sqliteBlobTable opens a new SQLite file, closed at the test's end, with
// an empty table t (v BLOB), and returns it with the file's path.
func sqliteBlobTable(t *testing.T) (*db.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "blob.db")
	d, err := db.Open(context.Background(), "sqlite:"+path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.SQL.ExecContext(context.Background(), "CREATE TABLE t (v BLOB)"); err != nil {
		t.Fatal(err)
	}
	return d, path
}

// On SQLite a commit does not copy the WAL back into the database file:
// the checkpointer does, on its own connection, soon after.
func TestSQLiteCheckpointsInTheBackground(t *testing.T) {
	ctx := context.Background()
	d, path := sqliteBlobTable(t)
	// About 4 MiB of rows, far below the 64 MiB at which the writer would
	// checkpoint by itself.
	err := d.InTx(ctx, func(tx *db.Tx) error {
		for range 2000 {
			if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (randomblob(2000))"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 2<<20 {
			return // the rows reached the database file
		}
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes 20 s after the commit: no checkpoint ran", st.Size())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// On SQLite a transaction larger than the writer's page cache writes its
// changed pages to the WAL as it goes (cache spill) instead of keeping
// them all in memory until the commit: the medsales swap builds hundreds
// of MB of index pages in one transaction. (A cache_spill pragma once
// turned spilling off by mistake, and a 400 MB transaction took 823 MB.)
func TestSQLiteLargeTransactionSpills(t *testing.T) {
	ctx := context.Background()
	d, path := sqliteBlobTable(t)
	walSize := func() int64 {
		st, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	var before, during int64
	err := d.InTx(ctx, func(tx *db.Tx) error {
		before = walSize()
		// About 48 MiB of rows: three times the writer's 16 MiB cache.
		for range 24000 {
			if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (randomblob(2000))"); err != nil {
				return err
			}
		}
		during = walSize()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if during-before < 16<<20 {
		t.Errorf("the WAL grew by %d bytes before the commit of a 48 MiB transaction: its pages were kept in memory", during-before)
	}
}

// ExecAll runs its statements in order (one round trip on PostgreSQL),
// returns what each affected, and names the statement that failed.
func TestExecAll(t *testing.T) {
	dbtest.Each(t, nil, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := d.SQL.ExecContext(ctx, "CREATE TABLE execall (k INTEGER PRIMARY KEY, v TEXT)"); err != nil {
			t.Fatal(err)
		}
		var affected []int64
		err := d.InTx(ctx, func(tx *db.Tx) error {
			var err error
			affected, err = tx.ExecAll(ctx, []db.Statement{
				{SQL: "INSERT INTO execall (k, v) VALUES ($1, $2), ($3, $4)", Args: []any{1, "a", 2, "b"}},
				{SQL: "UPDATE execall SET v = $1 WHERE k >= $2", Args: []any{"c", 1}},
				{SQL: "DELETE FROM execall WHERE k = $1", Args: []any{9}},
			})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(affected) != 3 || affected[0] != 2 || affected[1] != 2 || affected[2] != 0 {
			t.Errorf("affected = %v, want [2 2 0]", affected)
		}
		var v string
		if err := d.SQL.QueryRowContext(ctx, "SELECT v FROM execall WHERE k = 2").Scan(&v); err != nil || v != "c" {
			t.Errorf("row 2 = %q (%v), want the update's c", v, err)
		}

		// A failure names its statement; the transaction rolls back what
		// ran before it.
		err = d.InTx(ctx, func(tx *db.Tx) error {
			affected, err = tx.ExecAll(ctx, []db.Statement{
				{SQL: "INSERT INTO execall (k, v) VALUES ($1, $2)", Args: []any{3, "d"}},
				{SQL: "INSERT INTO execall (k, v) VALUES ($1, $2)", Args: []any{1, "dup"}},
				{SQL: "INSERT INTO execall (k, v) VALUES ($1, $2)", Args: []any{4, "e"}},
			})
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "statement 2") || !db.IsUniqueViolation(err) {
			t.Fatalf("error %v, want a unique violation of statement 2", err)
		}
		if len(affected) != 1 {
			t.Errorf("affected before the failure = %v, want one count", affected)
		}
		var n int
		if err := d.SQL.QueryRowContext(ctx, "SELECT COUNT(*) FROM execall").Scan(&n); err != nil || n != 2 {
			t.Errorf("%d rows after the failed transaction (%v), want the 2 committed", n, err)
		}

		// Queries mix with the writes: each sees what the statements
		// before it wrote, and a failing query fails the transaction.
		var seen []string
		err = d.InTx(ctx, func(tx *db.Tx) error {
			affected, err = tx.ExecAll(ctx, []db.Statement{
				{SQL: "INSERT INTO execall (k, v) VALUES ($1, $2)", Args: []any{5, "f"}},
				{SQL: "SELECT k, v FROM execall WHERE k >= $1 ORDER BY k", Args: []any{2}, Scan: func(rows db.Rows) error {
					for rows.Next() {
						var k int64
						var v string
						if err := rows.Scan(&k, &v); err != nil {
							return err
						}
						seen = append(seen, fmt.Sprintf("%d=%s", k, v))
					}
					return nil
				}},
				{SQL: "UPDATE execall SET v = $1 WHERE k = $2", Args: []any{"g", 5}},
			})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(seen, " ") != "2=c 5=f" || len(affected) != 3 || affected[0] != 1 || affected[1] != 0 || affected[2] != 1 {
			t.Errorf("query read %v, affected %v; want [2=c 5=f] and [1 0 1]", seen, affected)
		}
		err = d.InTx(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecAll(ctx, []db.Statement{
				{SQL: "UPDATE execall SET v = $1 WHERE k = $2", Args: []any{"h", 5}},
				{SQL: "SELECT nosuchcolumn FROM execall", Scan: func(db.Rows) error { return nil }},
			})
			return err
		})
		// (PostgreSQL reports a statement that cannot be prepared before
		// the batch runs, so the index named may be another's.)
		if err == nil || !strings.Contains(err.Error(), "nosuchcolumn") {
			t.Errorf("error %v, want the failing query's error", err)
		}
		var v5 string
		if err := d.SQL.QueryRowContext(ctx, "SELECT v FROM execall WHERE k = 5").Scan(&v5); err != nil || v5 != "g" {
			t.Errorf("row 5 = %q (%v), want g: the failed batch's update rolled back", v5, err)
		}
		scanErr := errors.New("scan refused")
		err = d.InTx(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecAll(ctx, []db.Statement{
				{SQL: "SELECT k FROM execall", Scan: func(db.Rows) error { return scanErr }},
			})
			return err
		})
		if !errors.Is(err, scanErr) {
			t.Errorf("error %v, want the Scan function's error", err)
		}
	})
}

// TestInPipelineTx: a pipelined transaction commits with its last batch,
// commits by itself when fn ends without ExecAllCommit, rolls back
// everything when fn or a statement fails, and leaves no connection
// inside a transaction.
func TestInPipelineTx(t *testing.T) {
	dbtest.Each(t, nil, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := d.SQL.ExecContext(ctx, "CREATE TABLE pipe (k INTEGER PRIMARY KEY, v TEXT)"); err != nil {
			t.Fatal(err)
		}
		count := func() int {
			t.Helper()
			var n int
			if err := d.SQL.QueryRowContext(ctx, "SELECT COUNT(*) FROM pipe").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		insert := func(k int) db.Statement {
			return db.Statement{SQL: "INSERT INTO pipe (k, v) VALUES ($1, $2)", Args: []any{k, "x"}}
		}

		// Committed with the last batch; a statement after it is refused.
		err := d.InPipelineTx(ctx, func(tx *db.Tx) error {
			if _, err := tx.ExecAll(ctx, []db.Statement{insert(1)}); err != nil {
				return err
			}
			var seen int
			n, err := tx.ExecAllCommit(ctx, []db.Statement{insert(2), {SQL: "SELECT COUNT(*) FROM pipe", Scan: func(rows db.Rows) error {
				rows.Next()
				return rows.Scan(&seen)
			}}})
			if err != nil {
				return err
			}
			if len(n) != 2 || n[0] != 1 || seen != 2 {
				t.Errorf("affected %v, saw %d rows; want [1 0] and 2", n, seen)
			}
			if d.Dialect == db.Postgres {
				if _, err := tx.ExecAll(ctx, []db.Statement{insert(3)}); err == nil {
					t.Error("ExecAll after ExecAllCommit succeeded")
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := count(); got != 2 {
			t.Fatalf("%d rows after the commit, want 2", got)
		}

		// Without ExecAllCommit, the transaction commits when fn returns.
		if err := d.InPipelineTx(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecAll(ctx, []db.Statement{insert(4)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got := count(); got != 3 {
			t.Fatalf("%d rows after an implicit commit, want 3", got)
		}

		// fn fails after a batch: that batch rolls back.
		boom := errors.New("boom")
		err = d.InPipelineTx(ctx, func(tx *db.Tx) error {
			if _, err := tx.ExecAll(ctx, []db.Statement{insert(5), insert(6)}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InPipelineTx = %v, want fn's error", err)
		}
		if got := count(); got != 3 {
			t.Fatalf("%d rows after fn failed, want 3", got)
		}
		// A statement of the last batch fails: nothing of the transaction
		// stays, the COMMIT behind it included.
		err = d.InPipelineTx(ctx, func(tx *db.Tx) error {
			if _, err := tx.ExecAll(ctx, []db.Statement{insert(7)}); err != nil {
				return err
			}
			_, err := tx.ExecAllCommit(ctx, []db.Statement{insert(8), insert(1)})
			return err
		})
		if !db.IsUniqueViolation(err) {
			t.Fatalf("InPipelineTx = %v, want the duplicate key", err)
		}
		if got := count(); got != 3 {
			t.Fatalf("%d rows after two failed transactions, want 3", got)
		}
		if d.Dialect == db.Postgres {
			// The connection went back to the pool outside any
			// transaction (the pool hands out the last one returned).
			c, err := d.SQL.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var clean bool
			if err := c.QueryRowContext(ctx, "SELECT txid_current_if_assigned() IS NULL").Scan(&clean); err != nil || !clean {
				t.Errorf("the pooled connection is still inside a transaction (%v)", err)
			}
		}
	})
}

// TestReadAll: the statements of a read run in order in one read-only
// transaction and each one's rows reach its Scan; a write is refused; a
// statement that fails, at preparation or while it runs, or whose Scan
// fails, is named in the error (by position and name); and the
// connection is left outside any transaction, ready for the next read.
func TestReadAll(t *testing.T) {
	dbtest.Each(t, nil, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := d.SQL.ExecContext(ctx, "CREATE TABLE readall (k INTEGER PRIMARY KEY, v TEXT)"); err != nil {
			t.Fatal(err)
		}
		if _, err := d.SQL.ExecContext(ctx, "INSERT INTO readall (k, v) VALUES (1, 'a'), (2, 'b'), (3, NULL)"); err != nil {
			t.Fatal(err)
		}
		var (
			n     int
			seen  []string
			found bool
		)
		read := []db.Statement{
			{Name: "count", SQL: "SELECT COUNT(*) FROM readall", Scan: func(rows db.Rows) error {
				rows.Next()
				return rows.Scan(&n)
			}},
			{Name: "list", SQL: "SELECT k, v FROM readall WHERE k >= $1 ORDER BY k", Args: []any{2}, Scan: func(rows db.Rows) error {
				for rows.Next() {
					var k int64
					var v sql.NullString
					if err := rows.Scan(&k, &v); err != nil {
						return err
					}
					seen = append(seen, fmt.Sprintf("%d=%s/%v", k, v.String, v.Valid))
				}
				return nil
			}},
			{Name: "none", SQL: "SELECT v FROM readall WHERE k = $1", Args: []any{9}, Scan: func(rows db.Rows) error {
				found = rows.Next()
				return nil
			}},
		}
		if err := d.ReadAll(ctx, read); err != nil {
			t.Fatal(err)
		}
		if n != 3 || strings.Join(seen, " ") != "2=b/true 3=/false" || found {
			t.Errorf("read count %d, rows %v, found %v; want 3, [2=b/true 3=/false], false", n, seen, found)
		}

		// On PostgreSQL one connection serves every read, so that clean
		// sees whether a failed read left it usable or had it discarded.
		backend := func() int {
			t.Helper()
			var pid int
			if err := d.SQL.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
				t.Fatal(err)
			}
			return pid
		}
		pid := 0
		if d.Dialect == db.Postgres {
			d.SQL.SetMaxOpenConns(1)
			pid = backend()
		}
		// clean checks that the connection went back to the pool outside
		// any transaction, to be used again: a read after a failed one
		// works, on the same PostgreSQL connection.
		clean := func(what string) {
			t.Helper()
			n, seen = 0, nil
			if err := d.ReadAll(ctx, read); err != nil || n != 3 || len(seen) != 2 {
				t.Errorf("read after %s: %v (count %d, rows %v)", what, err, n, seen)
			}
			if d.Dialect == db.Postgres {
				if got := backend(); got != pid {
					t.Errorf("after %s the connection was replaced (backend %d, was %d): it was left inside the failed transaction", what, got, pid)
				}
			}
		}

		// A write is refused, and names its statement; nothing is written.
		err := d.ReadAll(ctx, []db.Statement{read[0],
			{Name: "sneaky insert", SQL: "INSERT INTO readall (k, v) VALUES ($1, $2)", Args: []any{4, "d"}},
			read[1]})
		if err == nil || !strings.Contains(err.Error(), "statement 2 (sneaky insert)") {
			t.Errorf("a write in a read: %v, want it refused as statement 2 (sneaky insert)", err)
		}
		var rows int
		if err := d.SQL.QueryRowContext(ctx, "SELECT COUNT(*) FROM readall").Scan(&rows); err != nil || rows != 3 {
			t.Errorf("%d rows after a refused write (%v), want 3", rows, err)
		}
		clean("a refused write")

		// A statement that cannot be prepared is named, though PostgreSQL
		// reports it before any statement runs.
		err = d.ReadAll(ctx, []db.Statement{read[0], read[1],
			{Name: "typo", SQL: "SELECT nosuchcolumn FROM readall", Scan: func(db.Rows) error { return nil }}})
		if err == nil || !strings.Contains(err.Error(), "statement 3 (typo)") || !strings.Contains(err.Error(), "nosuchcolumn") {
			t.Errorf("an unpreparable statement: %v, want statement 3 (typo) named", err)
		}
		clean("an unpreparable statement")

		// A statement that fails while it runs, after others ran.
		err = d.ReadAll(ctx, []db.Statement{read[0],
			// abs of the least 64-bit integer overflows on both engines.
			{SQL: "SELECT abs(CAST($1 AS BIGINT)) FROM readall WHERE k = 1", Args: []any{int64(math.MinInt64)}, Scan: func(rows db.Rows) error {
				for rows.Next() {
					var i int64
					if err := rows.Scan(&i); err != nil {
						return err
					}
				}
				return nil
			}},
			read[1]})
		if err == nil || !strings.Contains(err.Error(), "statement 2:") {
			t.Errorf("a statement failing as it runs: %v, want statement 2 named", err)
		}
		clean("a failed statement")

		// A Scan that fails fails the read, with its error.
		scanErr := errors.New("scan refused")
		err = d.ReadAll(ctx, []db.Statement{read[0], {Name: "picky", SQL: "SELECT k FROM readall", Scan: func(db.Rows) error { return scanErr }}})
		if !errors.Is(err, scanErr) || !strings.Contains(err.Error(), "statement 2 (picky)") {
			t.Errorf("a failing Scan: %v, want its error as statement 2 (picky)", err)
		}
		clean("a failed Scan")
	})
}

// TestReadAllOneRoundTrip: on PostgreSQL a read of several statements,
// BEGIN and COMMIT included, is one round trip once the connection has
// prepared them (the first read prepares them in one more).
func TestReadAllOneRoundTrip(t *testing.T) {
	u, trips := dbtest.CountRoundTrips(t, dbtest.PostgresURL(t))
	ctx := context.Background()
	d, err := db.Open(ctx, u, db.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.SQL.ExecContext(ctx, "CREATE TABLE trips (k INTEGER PRIMARY KEY, v TEXT)"); err != nil {
		t.Fatal(err)
	}
	var stmts []db.Statement
	got := make([]int, 5)
	for i := range got {
		stmts = append(stmts, db.Statement{SQL: fmt.Sprintf("SELECT COUNT(*) + %d FROM trips WHERE k > $1", i), Args: []any{0},
			Scan: func(rows db.Rows) error {
				rows.Next()
				return rows.Scan(&got[i])
			}})
	}
	// fewest runs fn three times and returns its fewest round trips: a
	// connection idle for over a second is pinged when taken from the
	// pool, one more round trip that a slow test machine may cause.
	fewest := func(fn func() error) int64 {
		t.Helper()
		best := int64(-1)
		for range 3 {
			trips.Reset()
			if err := fn(); err != nil {
				t.Fatal(err)
			}
			if n := trips.Count(); best < 0 || n < best {
				best = n
			}
		}
		return best
	}
	trips.Reset()
	if err := d.ReadAll(ctx, stmts); err != nil {
		t.Fatal(err)
	}
	t.Logf("first read, preparing the statements: %d round trips", trips.Count())
	if n := fewest(func() error { return d.ReadAll(ctx, stmts) }); n != 1 {
		t.Errorf("read of %d statements: %d round trips, want 1", len(stmts), n)
	}
	if fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Errorf("read %v, want [0 1 2 3 4]", got)
	}
	// The same statements one by one in a transaction: the count is
	// that of the round trips, not of the connections or statements.
	oneByOne := func() error {
		tx, err := d.SQL.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for _, st := range stmts {
			if err := tx.QueryRowContext(ctx, st.SQL, st.Args...).Scan(new(int)); err != nil {
				return err
			}
		}
		return tx.Commit()
	}
	if n := fewest(oneByOne); n != int64(len(stmts))+2 {
		t.Errorf("%d statements one by one: %d round trips, want %d", len(stmts), n, len(stmts)+2)
	}
}

func TestOpenRefusesOtherSchemes(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, u := range []string{"mysql://root:secret@127.0.0.1/x", "bogus://x", "redis://127.0.0.1:6379"} {
		d, err := db.Open(context.Background(), u, db.Options{})
		if err == nil {
			d.Close()
			t.Fatalf("Open(%q) = nil error, want an unsupported scheme", u)
		}
		if !strings.Contains(err.Error(), "unsupported URL scheme") || strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error = %q, want the scheme named and no password", u, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("Open created %d entries in the working directory (first %q), want none", len(entries), entries[0].Name())
	}
	// Paths stay SQLite files, whatever they contain.
	for _, u := range []string{"sqlite:a.db", "file:b.db", "c.db", "sqlite://d.db"} {
		d, err := db.Open(context.Background(), u, db.Options{})
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if d.Dialect != db.SQLite {
			t.Errorf("Open(%q) dialect = %v, want SQLite", u, d.Dialect)
		}
		d.Close()
	}
}

// TestOpenRefusesMistypedPostgresURL checks that a URL that begins like a
// PostgreSQL URL but is not one is refused without its password and
// creates nothing; it was taken for a SQLite path. A path that merely
// starts with postgres stays a SQLite file.
func TestOpenRefusesMistypedPostgresURL(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, u := range []string{"postgres//u:secret@h/x", "postgres:/u:secret@h/x", "postgres:u:secret@h/x", "postgresql: //u:secret@h/x", "Postgres//u:secret@h/x",
		// libpq's keyword form became a SQLite file of that name (QA).
		"host=127.0.0.1 port=5432 user=postgres password=secret dbname=x sslmode=disable", "dbname=x password=secret",
		// An address without its scheme likewise (QA).
		"127.0.0.1:5432/x", "localhost:5432", "postgres:secret@db.example.com:5432/x"} {
		if _, err := db.URLSetting(u, "sqlite:x.db"); err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("URLSetting(%q) = %v, want it refused without the password", u, err)
		}
		d, err := db.Open(context.Background(), u, db.Options{})
		if err == nil {
			d.Close()
			t.Fatalf("Open(%q) = nil error, want it refused", u)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Open created %q in the working directory, want nothing", entries[0].Name())
	}
	for _, u := range []string{"postgres.db", "postgres/e.db", "sqlite:postgres.db", "postgres://u@h/x", "postgresql://u@h/x",
		"sqlite:my port=5.db", "file:a dbname=b.db", "sqlite:127.0.0.1:5432/x", "data/v2:1.db"} {
		if got, err := db.URLSetting(" "+u+"\n", "sqlite:x.db"); err != nil || got != u {
			t.Errorf("URLSetting(%q) = %q, %v, want %q", " "+u+"\n", got, err, u)
		}
	}
	if _, err := db.URLSetting("  ", "sqlite:x.db"); err == nil || !strings.Contains(err.Error(), "blank") {
		t.Errorf("URLSetting of spaces = %v, want it refused as blank", err)
	}
}

// TestOpenPostgresSchemeAnyCase checks that a PostgreSQL URL whose scheme
// is not in lower case (POSTGRES://…, PostgreSQL://…) opens PostgreSQL, as
// a URL scheme is case-insensitive: it was refused as an unsupported
// scheme. URLSetting gives it back with the scheme in lower case, the
// rest untouched, and it names no SQLite file.
func TestOpenPostgresSchemeAnyCase(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tc := range []struct{ in, want string }{
		{"POSTGRES://App:Pw@Host:5432/Name?sslmode=disable", "postgres://App:Pw@Host:5432/Name?sslmode=disable"},
		{"PostgreSQL://u@h/x", "postgresql://u@h/x"},
	} {
		if got, err := db.URLSetting(" "+tc.in, "sqlite:x.db"); err != nil || got != tc.want {
			t.Errorf("URLSetting(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
		}
		if p := db.SQLitePath(tc.in); p != "" {
			t.Errorf("SQLitePath(%q) = %q, want none", tc.in, p)
		}
	}
	base, ok := strings.CutPrefix(dbtest.PostgresURL(t), "postgres://")
	if !ok {
		t.Skip("TEST_DATABASE_URL does not start with postgres://")
	}
	for _, scheme := range []string{"POSTGRES://", "PostgreSQL://"} {
		d, err := db.Open(context.Background(), scheme+base, db.Options{MaxConns: 2})
		if err != nil {
			t.Errorf("Open(%s…): %v", scheme, err)
			continue
		}
		var one int
		err = d.SQL.QueryRow("SELECT 1").Scan(&one)
		if d.Dialect != db.Postgres || err != nil {
			t.Errorf("Open(%s…) = %s, query: %v; want PostgreSQL", scheme, d.Dialect, err)
		}
		d.Close()
	}
}

// TestOpenUnreachablePostgresOneLine checks that a PostgreSQL server that
// cannot be reached is reported on one line (the commands print it as
// their one error line; pgx puts each connection attempt on a line of its
// own), without the password of the URL.
func TestOpenUnreachablePostgresOneLine(t *testing.T) {
	d, err := db.Open(context.Background(), "postgres://app:s3cr3t@127.0.0.1:1/x?connect_timeout=2", db.Options{})
	if err == nil {
		d.Close()
		t.Fatal("Open of a closed port succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || strings.Contains(msg, "s3cr3t") || !strings.Contains(msg, "connection refused") {
		t.Errorf("Open error = %q, want one line naming the cause, no password", msg)
	}
}

// TestOpenSilentPostgres: a server that accepts the connection and never
// answers (a stopped process behind a live port, a firewall dropping
// packets) fails Open saying it did not answer, and within how long, not
// a bare "context deadline exceeded".
func TestOpenSilentPostgres(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	d, err := db.Open(context.Background(), fmt.Sprintf("postgres://app@127.0.0.1:%d/x?sslmode=disable", port), db.Options{PingTimeout: 300 * time.Millisecond})
	if err == nil {
		d.Close()
		t.Fatal("Open of a server that never answers succeeded")
	}
	want := fmt.Sprintf("postgres at 127.0.0.1:%d did not answer within 300ms", port)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("Open error = %q, want it to say %q", err, want)
	}
}

// A connection to a server, database or URL whose synchronous_commit is off
// turns it on: an acknowledged commit must be flushed to disk. A stricter
// setting is left alone.
func TestPostgresCommitsAreSynchronous(t *testing.T) {
	base := dbtest.PostgresURL(t)
	for _, tt := range []struct{ param, want string }{
		{"off", "on"},
		{"remote_apply", "remote_apply"},
		{"local", "local"},
	} {
		sep := "?"
		if strings.Contains(base, "?") {
			sep = "&"
		}
		d, err := db.Open(context.Background(), base+sep+"synchronous_commit="+tt.param, db.Options{MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		var got string
		err = d.SQL.QueryRow("SHOW synchronous_commit").Scan(&got)
		d.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("synchronous_commit=%s in the URL: the session has %s, want %s", tt.param, got, tt.want)
		}
	}
}

// TestOpenUnwritableSQLitePath checks that a SQLite file that cannot be
// created fails Open with the reason and the setting to change, not
// SQLite's bare "unable to open database file (14)". /sys refuses new
// files even to root, so the test holds whoever runs it.
func TestOpenUnwritableSQLitePath(t *testing.T) {
	path := "/sys/medplatform-test.db"
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
		os.Remove(path)
		t.Skip("/sys accepts new files here")
	}
	d, err := db.Open(context.Background(), "sqlite:"+path, db.Options{})
	if err == nil {
		d.Close()
		t.Fatal("Open succeeded")
	}
	for _, want := range []string{path, "permission denied", "DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open error = %q, want it to contain %q", err, want)
		}
	}
}

// TestOpenSQLiteURIPath: the path of a SQLite URL is a URI path. Escaped,
// '#' and '%' name a file that holds them; a bare '#', which SQLite reads
// as the start of a fragment it ignores, is refused.
// Open creates the directory and file that SQLite then opens: it created
// the unescaped path as an empty file while SQLite opened another, and
// two subtests named alike ("sqlite", "sqlite#01") shared the database
// cut before the '#' (dbtest now escapes its temporary paths).
func TestOpenSQLiteURIPath(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a#1 100%")
	path := filepath.Join(dir, "test.db")
	d, err := db.Open(ctx, "sqlite:"+dbtest.URIPath(path), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.SQL.ExecContext(ctx, "CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Errorf("the escaped path: no database at %s (%v)", path, err)
	}
	if got := db.SQLitePath("sqlite:" + dbtest.URIPath(path)); got != path {
		t.Errorf("SQLitePath = %q, want %q", got, path)
	}

	// Unescaped, the '#' would end the path, SQLite ignoring the rest: the
	// URL is refused, by URLSetting too, and nothing is created, neither
	// at the path before the '#' nor at the longer one.
	base := t.TempDir()
	u := "sqlite:" + filepath.Join(base, "b#2")
	if _, err := db.URLSetting(u, "sqlite:x.db"); err == nil || !strings.Contains(err.Error(), "takes no '#'") {
		t.Errorf("URLSetting(%q) = %v, want the '#' refused", u, err)
	}
	d, err = db.Open(ctx, u, db.Options{})
	if err == nil {
		d.Close()
		t.Errorf("Open(%q) = nil error, want the '#' refused", u)
	} else if !strings.Contains(err.Error(), "takes no '#'") {
		t.Errorf("Open(%q) error = %q, want the '#' refused", u, err)
	}
	if entries, _ := os.ReadDir(base); len(entries) != 0 {
		t.Errorf("Open(%q) created %q", u, entries[0].Name())
	}
}

// TestOpenRefusesSQLiteQuery checks that a SQLite URL with a query
// (?mode=ro, ?_pragma=…) is refused, by Open and by URLSetting, and
// creates nothing. Open dropped the query without a word: ?mode=ro opened
// the file for writing, and a pragma asked for was never applied. A '?'
// escaped as %3F is part of the file name, and a PostgreSQL URL keeps its
// query.
func TestOpenRefusesSQLiteQuery(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, u := range []string{
		"sqlite:" + filepath.Join(dir, "a.db") + "?mode=ro",
		"sqlite:b.db?_pragma=journal_mode(DELETE)",
		"file:c.db?_pragma=busy_timeout(1)",
		"sqlite://d.db?cache=shared",
		"e.db?mode=ro",
		"f.db?",
	} {
		if _, err := db.URLSetting(u, "sqlite:x.db"); err == nil || !strings.Contains(err.Error(), "takes no query") {
			t.Errorf("URLSetting(%q) = %v, want it refused for its query", u, err)
		}
		d, err := db.Open(context.Background(), u, db.Options{})
		if err == nil {
			d.Close()
			t.Errorf("Open(%q) = nil error, want it refused for its query", u)
		} else if !strings.Contains(err.Error(), "takes no query") {
			t.Errorf("Open(%q) error = %q, want it to say the query is not taken", u, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Open created %q, want nothing", entries[0].Name())
	}

	// Escaped, the '?' names a file that holds it.
	path := filepath.Join(dir, "what?.db")
	d, err := db.Open(context.Background(), "sqlite:"+dbtest.URIPath(path), db.Options{})
	if err != nil {
		t.Fatalf("Open of %s escaped: %v", path, err)
	}
	d.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("no database at %s: %v", path, err)
	}

	pg := dbtest.PostgresURL(t) + "?application_name=qa"
	if got, err := db.URLSetting(pg, "sqlite:x.db"); err != nil || got != pg {
		t.Errorf("URLSetting of a PostgreSQL URL with a query = %q, %v, want it kept", got, err)
	}
	d, err = db.Open(context.Background(), pg, db.Options{})
	if err != nil {
		t.Fatalf("Open of a PostgreSQL URL with a query: %v", err)
	}
	defer d.Close()
	var name string
	if err := d.SQL.QueryRowContext(context.Background(), "SELECT current_setting('application_name')").Scan(&name); err != nil || name != "qa" {
		t.Errorf("application_name = %q, %v, want the URL's qa", name, err)
	}
}

// TestOpenSQLiteURLAuthority checks a SQLite URL whose path starts with
// "//" (an authority, as SQLite reads the URI). With no host or
// "localhost", which SQLite accepts, the database is the path after it:
// Open created the directory and an empty file under /localhost/… while
// SQLite opened the path after the host, and SQLitePath (the existence
// checks, the lock files) named the /localhost file. Any other host is
// refused before anything is created: Open created /host/x.db, empty,
// and then failed with SQLite's "invalid uri authority".
func TestOpenSQLiteURLAuthority(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for i, u := range []string{"file://localhost" + dir + "/a.db", "file://" + dir + "/b.db", "sqlite://" + dir + "/c.db"} {
		path := filepath.Join(dir, string(rune('a'+i))+".db")
		if got := db.SQLitePath(u); got != path {
			t.Errorf("SQLitePath(%q) = %q, want %q", u, got, path)
		}
		if _, err := db.URLSetting(u, "sqlite:x.db"); err != nil {
			t.Errorf("URLSetting(%q): %v", u, err)
		}
		d, err := db.Open(ctx, u, db.Options{})
		if err != nil {
			t.Errorf("Open(%q): %v", u, err)
			continue
		}
		if d.File != path {
			t.Errorf("Open(%q).File = %q, want %q", u, d.File, path)
		}
		if _, err := d.SQL.ExecContext(ctx, "CREATE TABLE t (x INTEGER)"); err != nil {
			t.Fatal(err)
		}
		d.Close()
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
			t.Errorf("Open(%q): no database at %s (%v)", u, path, err)
		}
	}

	const host = "medplatform-no-such-host"
	t.Cleanup(func() { os.RemoveAll("/" + host) }) // what Open created without the check
	for _, u := range []string{"file://" + host + "/x.db", "sqlite:////" + host + "/x.db"} {
		if _, err := db.URLSetting(u, "sqlite:x.db"); err == nil || !strings.Contains(err.Error(), `names the host "`+host+`"`) {
			t.Errorf("URLSetting(%q) = %v, want the host refused", u, err)
		}
		d, err := db.Open(ctx, u, db.Options{})
		if err == nil {
			d.Close()
			t.Errorf("Open(%q) = nil error, want the host refused", u)
		} else if !strings.Contains(err.Error(), `names the host "`+host+`"`) {
			t.Errorf("Open(%q) error = %q, want the host named", u, err)
		}
		if _, err := os.Stat("/" + host); err == nil {
			t.Errorf("Open(%q) created /%s", u, host)
		}
	}
	if _, err := db.URLSetting("file://localhost", "sqlite:x.db"); err == nil {
		t.Errorf("URLSetting(file://localhost) = nil error, want it refused without a path")
	}
}

// TestOpenRefusesSQLiteInMemory checks that an in-memory SQLite database
// is refused, by Open and by URLSetting, and creates nothing: each of
// Open's connections had a database of its own, so the schema migrated on
// the writer was missing for the readers, and an empty file named
// ":memory:" was created in the working directory.
func TestOpenRefusesSQLiteInMemory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, u := range []string{"sqlite::memory:", "file::memory:", ":memory:"} {
		if _, err := db.URLSetting(u, "sqlite:x.db"); err == nil || !strings.Contains(err.Error(), "in memory") {
			t.Errorf("URLSetting(%q) = %v, want it refused", u, err)
		}
		d, err := db.Open(context.Background(), u, db.Options{})
		if err == nil {
			d.Close()
			t.Errorf("Open(%q) = nil error, want it refused", u)
		} else if !strings.Contains(err.Error(), "in memory") {
			t.Errorf("Open(%q) error = %q, want it to say why", u, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Open created %q, want nothing", entries[0].Name())
	}
	// A file of that name elsewhere than the bare name is a file.
	d, err := db.Open(context.Background(), "sqlite:./:memory:", db.Options{})
	if err != nil {
		t.Fatalf("Open(sqlite:./:memory:): %v", err)
	}
	d.Close()
}

// TestOpenSQLiteSchemeAnyCase checks that the scheme of a SQLite URL is
// read in any case, as URL schemes are: SQLite:/data/x.db was taken for a
// relative path, so Open created the directories ./SQLite:/data in the
// working directory and the database there.
func TestOpenSQLiteSchemeAnyCase(t *testing.T) {
	dir := t.TempDir()
	work := t.TempDir()
	t.Chdir(work)
	for i, u := range []string{"SQLite:" + dir + "/a.db", "FILE:" + dir + "/b.db", "SQLITE://" + dir + "/c.db"} {
		path := filepath.Join(dir, string(rune('a'+i))+".db")
		if got := db.SQLitePath(u); got != path {
			t.Errorf("SQLitePath(%q) = %q, want %q", u, got, path)
		}
		d, err := db.Open(context.Background(), u, db.Options{})
		if err != nil {
			t.Errorf("Open(%q): %v", u, err)
			continue
		}
		if d.Dialect != db.SQLite || d.File != path {
			t.Errorf("Open(%q) = %s at %q, want SQLite at %q", u, d.Dialect, d.File, path)
		}
		d.Close()
		if _, err := os.Stat(path); err != nil {
			t.Errorf("Open(%q): no database at %s: %v", u, path, err)
		}
	}
	if entries, _ := os.ReadDir(work); len(entries) != 0 {
		t.Errorf("Open created %q in the working directory, want nothing", entries[0].Name())
	}
}

// TestOpenSQLiteURIPathPercent checks that a '%' that starts no escape
// leaves the others decoded, as SQLite decodes them: for a%41%zz.db SQLite
// opened aA%zz.db while Open created, and SQLitePath named, the file
// a%41%zz.db (the path was not decoded at all).
func TestOpenSQLiteURIPathPercent(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, file string }{
		{"a%41%zz.db", "aA%zz.db"},
		{"b%4.db", "b%4.db"},
		{"c%", "c%"},
		{"d%2541.db", "d%41.db"},
	} {
		u := "sqlite:" + filepath.Join(dir, tc.name)
		path := filepath.Join(dir, tc.file)
		if got := db.SQLitePath(u); got != path {
			t.Errorf("SQLitePath(%q) = %q, want %q", u, got, path)
		}
		d, err := db.Open(context.Background(), u, db.Options{})
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if _, err := d.SQL.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
			t.Fatal(err)
		}
		d.Close()
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
			t.Errorf("Open(%q): no database at %s (%v)", u, path, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), "-wal") && !strings.HasSuffix(e.Name(), "-shm") {
			names = append(names, e.Name())
		}
	}
	if want := []string{"aA%zz.db", "b%4.db", "c%", "d%41.db"}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("files = %q, want %q", names, want)
	}
}

// TestOpenRefusesSQLiteNUL checks that a SQLite URL whose path holds %00
// is refused and creates nothing: SQLite ended the path at the NUL and
// migrated the file before it, and the lock file failed only afterwards.
func TestOpenRefusesSQLiteNUL(t *testing.T) {
	dir := t.TempDir()
	u := "sqlite:" + filepath.Join(dir, "x%00y.db")
	if _, err := db.URLSetting(u, "sqlite:x.db"); err == nil || !strings.Contains(err.Error(), "%00") {
		t.Errorf("URLSetting(%q) = %v, want it refused", u, err)
	}
	d, err := db.Open(context.Background(), u, db.Options{})
	if err == nil {
		d.Close()
		t.Errorf("Open(%q) = nil error, want it refused", u)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Open(%q) created %q, want nothing", u, entries[0].Name())
	}
}

// TestSQLiteStoresInstantsInUTC: SQLite keeps instants as text and the
// queries compare them as text, so an instant bound in another zone must
// be written in UTC, by the writer and the readers alike: 08:30+13:00
// (19:30 UTC the day before) compared after 20:00+00:00 as text.
func TestSQLiteStoresInstantsInUTC(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "z.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.SQL.ExecContext(ctx, "CREATE TABLE t (at TEXT)"); err != nil {
		t.Fatal(err)
	}
	auckland, err := time.LoadLocation("Pacific/Auckland")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 3, 8, 30, 0, 0, auckland)
	if _, err := d.SQL.ExecContext(ctx, "INSERT INTO t VALUES (?)", at); err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := d.SQL.QueryRowContext(ctx, "SELECT at FROM t").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if want := "2026-03-02 19:30:00+00:00"; stored != want {
		t.Errorf("stored %q, want %q", stored, want)
	}
	later := time.Date(2026, 3, 3, 9, 0, 0, 0, time.FixedZone("UTC+13", 13*3600)) // 20:00 UTC
	for name, q := range map[string]*sql.DB{"writer": d.SQL, "reader": d.Read} {
		var n int
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM t WHERE at <= ?", later).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%s: %d instants at or before 20:00 UTC, want 1", name, n)
		}
	}
}

// TestOpenNamesAMissingPostgresDatabase: a server that answers that the
// database does not exist is not reported unreachable: the error names
// the database and how to create it (QA: "cannot reach PostgreSQL" sent a
// newcomer looking for a server that was running).
func TestOpenNamesAMissingPostgresDatabase(t *testing.T) {
	u, err := url.Parse(dbtest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/no_such_database_for_this_test"
	_, err = db.Open(context.Background(), u.String(), db.Options{})
	if err == nil || !strings.Contains(err.Error(), `no database "no_such_database_for_this_test"`) || strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("Open of a missing database: %v, want it named as missing", err)
	}
	// A role the server does not know is a refused login (SQLSTATE 28000).
	u.User = url.User("no_such_role_for_this_test")
	_, err = db.Open(context.Background(), u.String(), db.Options{})
	if err == nil || !strings.Contains(err.Error(), `refused the login of user "no_such_role_for_this_test"`) {
		t.Errorf("Open as an unknown role: %v, want a refused login", err)
	}
}
