package db

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestSQLiteStatementCache checks that ExecAll's statements are prepared
// after the second transaction that ran them (not after the first: most
// one-offs are never prepared), that later transactions run
// them prepared with their own arguments (writes and queries), that the
// least recently used statement is evicted and closed, by count and by
// the length of the texts kept, and that a long statement is not kept.
func TestSQLiteStatementCache(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "c.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.stmts.max = 2
	if _, err := d.SQL.ExecContext(ctx, `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	const insert = `INSERT INTO t (k, v) VALUES ($1, $2)`
	const count = `SELECT COUNT(*), COALESCE(MAX(v), '') FROM t WHERE k >= $1`
	run := func(stmts ...Statement) []int64 {
		t.Helper()
		var n []int64
		err := d.InTx(ctx, func(tx *Tx) error {
			var err error
			n, err = tx.ExecAll(ctx, stmts)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var rows int
	var maxV string
	scan := Statement{SQL: count, Args: []any{2}, Scan: func(r Rows) error {
		if !r.Next() {
			return nil
		}
		return r.Scan(&rows, &maxV)
	}}

	run(Statement{SQL: insert, Args: []any{1, "a"}})
	if d.stmts.get(insert) != nil {
		t.Fatal("the INSERT was prepared after its first transaction")
	}
	run(Statement{SQL: insert, Args: []any{5, "e"}}, Statement{SQL: `DELETE FROM t WHERE k = $1`, Args: []any{5}})
	if d.stmts.get(insert) == nil {
		t.Fatal("the INSERT was not prepared after its second transaction")
	}
	// Prepared now: each run binds its own arguments.
	if n := run(Statement{SQL: insert, Args: []any{2, "b"}}, Statement{SQL: insert, Args: []any{3, "c"}}, scan); n[0] != 1 || n[1] != 1 {
		t.Fatalf("rows affected %v, want 1 and 1", n)
	}
	if rows != 2 || maxV != "c" {
		t.Fatalf("query read %d rows, max %q; want 2 and \"c\"", rows, maxV)
	}
	run(scan)
	if d.stmts.get(count) == nil {
		t.Fatal("the query was not prepared after its second transaction")
	}
	scan.Args = []any{3}
	run(scan)
	if rows != 1 || maxV != "c" {
		t.Fatalf("prepared query read %d rows, max %q; want 1 and \"c\"", rows, maxV)
	}

	// A third statement (the DELETE, run for the second time) evicts the
	// least recently used (the INSERT, as the query ran last), whose
	// *sql.Stmt is closed; it runs unprepared twice again and comes back.
	old := d.stmts.get(insert)
	run(scan) // the query is the most recent
	run(Statement{SQL: `DELETE FROM t WHERE k = $1`, Args: []any{1}})
	if d.stmts.get(insert) != nil {
		t.Fatal("the least recently used statement was not evicted")
	}
	if _, err := old.ExecContext(ctx, 9, "z"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("evicted statement: %v, want it closed", err)
	}
	run(Statement{SQL: insert, Args: []any{4, "d"}})
	run(Statement{SQL: insert, Args: []any{6, "f"}}, Statement{SQL: `DELETE FROM t WHERE k = $1`, Args: []any{6}})
	if d.stmts.get(insert) == nil {
		t.Fatal("the evicted statement was not prepared again")
	}

	long := `SELECT COUNT(*) FROM t WHERE v <> '` + strings.Repeat("x", stmtCacheMaxLen) + `'`
	run(Statement{SQL: long})
	run(Statement{SQL: long})
	if d.stmts.get(long) != nil {
		t.Fatal("a statement longer than stmtCacheMaxLen was kept")
	}
	// The texts kept are bounded in length too: two statements of 3 KiB
	// do not fit in 5 KiB, so preparing the second evicts the first.
	d.stmts.max, d.stmts.maxBytes = 10, 5<<10
	mid := func(c string) string {
		return `SELECT COUNT(*) FROM t WHERE v <> '` + strings.Repeat(c, 3<<10) + `'`
	}
	run(Statement{SQL: mid("a")})
	run(Statement{SQL: mid("a")})
	if d.stmts.get(mid("a")) == nil {
		t.Fatal("a 3 KiB statement was not kept")
	}
	run(Statement{SQL: mid("b")})
	run(Statement{SQL: mid("b")})
	if d.stmts.get(mid("b")) == nil || d.stmts.get(mid("a")) != nil {
		t.Fatal("over the byte budget, the least recently used statement was not evicted")
	}
	var total int
	if err := d.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM t`).Scan(&total); err != nil || total != 3 {
		t.Fatalf("table holds %d rows (%v), want 3", total, err)
	}
}
