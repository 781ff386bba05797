package sqlitebulk_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/db/sqlitebulk"

	_ "modernc.org/sqlite"
)

// newDB creates a database file with table t through database/sql (as the
// application does) and returns its path and a database/sql handle to read
// it back.
func newDB(t *testing.T) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bulk.db")
	sdb, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sdb.Close() })
	if _, err := sdb.Exec(`CREATE TABLE t (id INTEGER NOT NULL, s TEXT, f REAL, b INTEGER)`); err != nil {
		t.Fatal(err)
	}
	return path, sdb
}

// values makes the arguments of an Exec from Go values: nil (NULL),
// int64, float64, bool (0 or 1) or string.
func values(xs ...any) []sqlitebulk.Value {
	out := make([]sqlitebulk.Value, len(xs))
	for i, x := range xs {
		switch v := x.(type) {
		case nil:
		case int64:
			out[i] = sqlitebulk.IntValue(v)
		case float64:
			out[i] = sqlitebulk.FloatValue(v)
		case bool:
			if v {
				out[i] = sqlitebulk.IntValue(1)
			} else {
				out[i] = sqlitebulk.IntValue(0)
			}
		case string:
			out[i] = sqlitebulk.TextValue(v)
		default:
			panic(fmt.Sprintf("values: %T", x))
		}
	}
	return out
}

func TestValuesRoundTrip(t *testing.T) {
	path, sdb := newDB(t)
	c, err := sqlitebulk.Open(path, "busy_timeout = 10000", "synchronous = NORMAL")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Prepare(`INSERT INTO t (id, s, f, b) VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)`)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("0123456789", 20_000) // 200 KB: past the first buffer
	rows := [][]any{
		{int64(1), "plain", 1.5, true, int64(2), "", -2.25, false},
		{int64(3), nil, nil, nil, int64(4), "a\x00b", 0.0, true},
		{int64(5), long, 3.0, false, int64(6), "é ✓ 名前", 1e300, false},
		{int64(7), "after the buffer grew", nil, nil, int64(-9223372036854775808), "x", nil, nil},
	}
	if err := c.Exec("BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := st.Exec(values(r...)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Exec("COMMIT"); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	got, err := sdb.Query(`SELECT id, s, typeof(s), f, b FROM t ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	i := 0
	for got.Next() {
		var (
			id    int64
			s     sql.NullString
			typ   string
			f     sql.NullFloat64
			b     sql.NullInt64
			wantB sql.NullInt64
		)
		if err := got.Scan(&id, &s, &typ, &f, &b); err != nil {
			t.Fatal(err)
		}
		want := rows[i/2][(i%2)*4 : (i%2)*4+4]
		if id != want[0].(int64) {
			t.Errorf("row %d: id %d, want %v", i, id, want[0])
		}
		switch w := want[1].(type) {
		case nil:
			if s.Valid || typ != "null" {
				t.Errorf("row %d: s = %q (%s), want NULL", i, s.String, typ)
			}
		case string:
			if !s.Valid || s.String != w || typ != "text" {
				t.Errorf("row %d: s = %.40q (%s), want %.40q as text", i, s.String, typ, w)
			}
		}
		if w, ok := want[2].(float64); ok != f.Valid || (ok && f.Float64 != w) {
			t.Errorf("row %d: f = %v, want %v", i, f, want[2])
		}
		if w, ok := want[3].(bool); ok {
			wantB = sql.NullInt64{Valid: true}
			if w {
				wantB.Int64 = 1
			}
		}
		if b != wantB {
			t.Errorf("row %d: b = %v, want %v", i, b, wantB)
		}
		i++
	}
	if err := got.Err(); err != nil {
		t.Fatal(err)
	}
	if i != 2*len(rows) {
		t.Fatalf("read %d rows, want %d", i, 2*len(rows))
	}
}

func TestErrors(t *testing.T) {
	path, sdb := newDB(t)
	if _, err := sqlitebulk.Open(filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Error("opening a missing file succeeded; want an error (the file is never created)")
	}
	if _, err := sqlitebulk.Open(path, "no_such_pragma_syntax ="); err == nil {
		t.Error("a malformed pragma was accepted")
	}
	c, err := sqlitebulk.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Prepare(`INSERT INTO missing VALUES ($1)`); err == nil || !strings.Contains(err.Error(), "no such table: missing") {
		t.Errorf("prepare on a missing table: %v", err)
	}
	st, err := c.Prepare(`INSERT INTO t (id, s) VALUES ($1, $2)`)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Exec(values(int64(1))); err == nil || !strings.Contains(err.Error(), "1 arguments for 2 parameters") {
		t.Errorf("too few arguments: %v", err)
	}
	if err := st.Exec([]sqlitebulk.Value{sqlitebulk.IntValue(1), {Kind: 9}}); err == nil || !strings.Contains(err.Error(), "argument 2: unknown kind 9") {
		t.Errorf("unknown kind: %v", err)
	}
	if err := st.Exec(values(nil, "x")); err == nil || !strings.Contains(err.Error(), "NOT NULL constraint failed: t.id") {
		t.Errorf("NULL into a NOT NULL column: %v", err)
	}
	// The statement is usable after an error, and nothing failed was stored.
	if err := st.Exec(values(int64(2), "ok")); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := sdb.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows stored: %d, %v; want 1", n, err)
	}
}

// A statement closed after its connection says so instead of calling into
// a closed connection.
func TestStatementAfterClose(t *testing.T) {
	path, _ := newDB(t)
	c, err := sqlitebulk.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Prepare(`INSERT INTO t (id) VALUES ($1)`)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Exec(values(int64(1))); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Exec after the connection's Close: %v", err)
	}
	if err := st.Close(); err == nil || !strings.Contains(err.Error(), "connection is closed") {
		t.Errorf("Close after the connection's: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
