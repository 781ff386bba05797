package db_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// A table that has grown without statistics is analyzed once, after which
// a many-key lookup probes the unique index by every key column instead of
// filtering all of an org's rows; small tables and tables with statistics
// are left alone.
func TestAnalyzeStalePostgres(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Postgres(t)
	// Autovacuum off for these tables, so that only the call under test
	// can analyze them (it may be on for the server).
	for _, q := range []string{
		`CREATE TABLE ev (org_id text NOT NULL, source text NOT NULL, client_id text NOT NULL, patient_id text NOT NULL,
			UNIQUE (org_id, source, client_id)) WITH (autovacuum_enabled = false)`,
		`CREATE INDEX ev_patient ON ev (org_id, patient_id)`,
		`CREATE TABLE small (v int) WITH (autovacuum_enabled = false)`,
	} {
		if _, err := d.SQL.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// One connection, so that its statistics can be flushed at once.
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO ev SELECT 'org', CASE WHEN i % 2 = 0 THEN 'app' ELSE 'device' END, 'c' || i, 'p' || (i % 200) FROM generate_series(1, 20000) i`,
		`INSERT INTO small SELECT i FROM generate_series(1, 10) i`,
		`SELECT pg_stat_force_next_flush()`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	waitLiveRows(t, d, "ev", 20000)

	lookup := `EXPLAIN SELECT * FROM ev WHERE org_id = 'org' AND source = 'app' AND client_id IN (` +
		strings.TrimSuffix(strings.Repeat("'c2', ", 50), ", ") + `)`
	got, err := d.AnalyzeStale(ctx, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"ev"}) {
		t.Fatalf("analyzed %v, want [ev] (small has 10 rows)", got)
	}
	var n int
	if err := d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM pg_stats WHERE tablename = 'ev'`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("ev has %d column statistics after the call (err %v)", n, err)
	}
	plan := explain(t, d, lookup)
	if !strings.Contains(plan, "client_id = ANY") || strings.Contains(plan, "Filter") {
		t.Errorf("with statistics the lookup should probe the unique index by every key, got:\n%s", plan)
	}
	got, err = d.AnalyzeStale(ctx, 1000, 0)
	if err != nil || len(got) != 0 {
		t.Errorf("second call analyzed %v (err %v), want nothing: ev has fresh statistics", got, err)
	}

	// Autovacuum is off for ev: once it has changed by 1,000 rows and 10%
	// since, it is analyzed again (500 rows are not enough; 3,000 are).
	addRows := func(from, to int) {
		t.Helper()
		conn, err := d.SQL.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `INSERT INTO ev SELECT 'org', 'app', 'c' || i, 'p1' FROM generate_series($1::int, $2::int) i`, from, to); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
			t.Fatal(err)
		}
	}
	addRows(20001, 20500)
	waitStat(t, d, "n_live_tup", "ev", 20500)
	if got, err := d.AnalyzeStale(ctx, 1000, 0); err != nil || len(got) != 0 {
		t.Errorf("after 500 new rows analyzed %v (err %v), want nothing", got, err)
	}
	addRows(20501, 23000)
	waitStat(t, d, "n_mod_since_analyze", "ev", 3000)
	// Not within minInterval of its last analysis, though.
	if got, err := d.AnalyzeStale(ctx, 1000, time.Hour); err != nil || len(got) != 0 {
		t.Errorf("within an hour of its last analysis analyzed %v (err %v), want nothing", got, err)
	}
	if got, err := d.AnalyzeStale(ctx, 1000, 0); err != nil || !slices.Equal(got, []string{"ev"}) {
		t.Errorf("after 3,000 new rows analyzed %v (err %v), want [ev]", got, err)
	}
	var analyzed int
	if err := d.SQL.QueryRowContext(ctx, `SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'ev'`).Scan(&analyzed); err != nil || analyzed != 2 {
		t.Errorf("ev analyzed %d times (err %v), want 2", analyzed, err)
	}
}

func TestAnalyzeStaleSQLiteDoesNothing(t *testing.T) {
	got, err := dbtest.SQLite(t).AnalyzeStale(context.Background(), 0, 0)
	if err != nil || got != nil {
		t.Errorf("AnalyzeStale on SQLite = %v, %v; want nil, nil", got, err)
	}
}

// waitLiveRows waits for the statistics system to count at least n live
// rows in table.
func waitLiveRows(t *testing.T, d *db.DB, table string, n int64) {
	t.Helper()
	waitStat(t, d, "n_live_tup", table, n)
}

// waitStat waits for the column of pg_stat_user_tables to reach n for
// table.
func waitStat(t *testing.T, d *db.DB, column, table string, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var v int64
		err := d.SQL.QueryRowContext(context.Background(),
			`SELECT COALESCE((SELECT `+column+` FROM pg_stat_user_tables WHERE relname = $1), 0)`, table).Scan(&v)
		if err != nil {
			t.Fatal(err)
		}
		if v >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pg_stat_user_tables.%s of %s is %d after 10 s, want %d", column, table, v, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func explain(t *testing.T, d *db.DB, q string) string {
	t.Helper()
	rows, err := d.SQL.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// A table the role does not own is not picked: ANALYZE would skip it with
// a warning, and it would be picked again on every run.
func TestAnalyzeStaleSkipsOthersTables(t *testing.T) {
	ctx := context.Background()
	u := dbtest.PostgresURL(t)
	owner, err := db.Open(ctx, u, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	role := "analyze_test_" + strings.ReplaceAll(strings.TrimPrefix(u[strings.LastIndex(u, "/")+1:], "t_"), "-", "")
	for _, q := range []string{
		`CREATE ROLE ` + role + ` LOGIN`,
		`CREATE TABLE theirs (v int) WITH (autovacuum_enabled = false)`,
		`INSERT INTO theirs SELECT i FROM generate_series(1, 2000) i`,
	} {
		if _, err := owner.SQL.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// Roles belong to the server, not the test database: drop it before
	// owner closes (it owns nothing, and its connection is closed first).
	defer func() {
		if _, err := owner.SQL.ExecContext(context.Background(), `DROP ROLE `+role); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	}()
	waitLiveRows(t, owner, "theirs", 2000)

	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	pu.User = url.User(role)
	other, err := db.Open(ctx, pu.String(), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := other.AnalyzeStale(ctx, 1000, 0)
	other.Close()
	if err != nil || len(got) != 0 {
		t.Errorf("as a role that owns nothing: analyzed %v (err %v), want nothing", got, err)
	}
	if got, err := owner.AnalyzeStale(ctx, 1000, 0); err != nil || !slices.Equal(got, []string{"theirs"}) {
		t.Errorf("as the owner: analyzed %v (err %v), want [theirs]", got, err)
	}
}
