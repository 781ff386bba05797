package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// Migration 9 on PostgreSQL rebuilds open_payments_npi online (Go
// migration, onlineindex.go). These tests start from version 8 with
// payments in three partitions and pause the build at a known point: a
// transaction holding ROW EXCLUSIVE on the last partition,
// open_payments_y2024, which CREATE INDEX CONCURRENTLY of that partition
// waits for (and which a DROP INDEX of the parent, in one transaction,
// waits for too, holding the parent's ACCESS EXCLUSIVE lock meanwhile).

var opYears = []int{2022, 2023, 2024}

// atVersion8 returns a PostgreSQL database migrated to version 8, with
// Open Payments loaded for opYears (one partition each), and its URL.
func atVersion8(t *testing.T) (*db.DB, string) {
	t.Helper()
	ctx := context.Background()
	u := dbtest.PostgresURL(t)
	d, err := db.Open(ctx, u, db.Options{MaxConns: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	p, err := store.Migrations.Provider(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 8); err != nil {
		t.Fatal(err)
	}
	s := store.New(d)
	for _, y := range opYears {
		mustLoad(t, s, (*store.Store).LoadOpenPayments, fmt.Sprintf("op-%d.csv", y), opFile(y, "1"), store.LoadInput{DataYear: y})
	}
	return d, u
}

// opFile is an Open Payments file of a year; the variant changes its rows.
func opFile(year int, variant string) []byte {
	var b strings.Builder
	b.WriteString(opHeader)
	for i := range 20 {
		npi := npiA
		if i%2 == 1 {
			npi = npiB
		}
		b.WriteString(opRow(fmt.Sprintf("%d%s%03d", year, variant, i), year, npi, fmt.Sprintf("Maker %d", i%3),
			fmt.Sprintf("%d.%s0", 10+i, variant), fmt.Sprintf("01/02/%d", year), 1))
	}
	return []byte(b.String())
}

// paymentIndexes describes every index of open_payments and of its
// partitions: name, table, validity, the parent index it is attached to
// and its definition.
func paymentIndexes(t *testing.T, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) []string {
	t.Helper()
	rows, err := q.QueryContext(context.Background(), `
		SELECT ci.relname || ' on ' || ct.relname || ' valid=' || x.indisvalid
		       || ' parent=' || COALESCE((SELECT p.relname FROM pg_inherits h JOIN pg_class p ON p.oid = h.inhparent WHERE h.inhrelid = ci.oid), '-')
		       || ' ' || pg_get_indexdef(x.indexrelid)
		FROM pg_index x JOIN pg_class ci ON ci.oid = x.indexrelid JOIN pg_class ct ON ct.oid = x.indrelid
		WHERE ct.relname = 'open_payments' OR ct.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'open_payments'::regclass)
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// oldMigration9 is the Up of the SQL migration 9 this Go migration
// replaces, in one transaction: the schema it gave is the one wanted.
const oldMigration9 = `
DROP INDEX open_payments_npi;
CREATE INDEX open_payments_npi ON open_payments (npi, program_year, manufacturer_name) INCLUDE (amount, n_payments);
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT pi.relname AS idx, pt.relname AS part
        FROM pg_inherits h
        JOIN pg_class pi ON pi.oid = h.inhrelid
        JOIN pg_index px ON px.indexrelid = pi.oid
        JOIN pg_class pt ON pt.oid = px.indrelid
        WHERE h.inhparent = 'open_payments_npi'::regclass
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', r.idx, r.part || '_npi');
    END LOOP;
END
$$;`

// wantIndexes returns the indexes the old SQL migration 9 gives d (applied
// in a transaction that is rolled back).
func wantIndexes(t *testing.T, d *db.DB) []string {
	t.Helper()
	tx, err := d.SQL.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(oldMigration9); err != nil {
		t.Fatal(err)
	}
	return paymentIndexes(t, tx)
}

// pauseBuild holds ROW EXCLUSIVE on open_payments_y2024 until the returned
// func is called (a load or an UPDATE of that year would hold it too).
func pauseBuild(t *testing.T, d *db.DB) func() {
	t.Helper()
	tx, err := d.SQL.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`LOCK TABLE open_payments_y2024 IN ROW EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	done := false
	release := func() {
		if !done {
			done = true
			if err := tx.Commit(); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(release)
	return release
}

// waitFor polls until query (returning one text, or no row) returns a row,
// and returns its text; it fails the test after a minute.
func waitFor(t *testing.T, d *db.DB, what, query string, args ...any) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var s string
		err := d.SQL.QueryRow(query, args...).Scan(&s)
		if err == nil {
			return s
		}
		if err != sql.ErrNoRows {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitingStatement waits until a session of the database waits for a lock
// and returns its statement.
func waitingStatement(t *testing.T, d *db.DB) string {
	t.Helper()
	return waitFor(t, d, "a statement waiting for a lock", `SELECT query FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' LIMIT 1`)
}

// waitingIn waits until a statement beginning with prefix waits for a
// lock; it fails the test when none has after a minute. Other statements
// may wait first, briefly: CREATE INDEX CONCURRENTLY waits for the
// transactions running when it starts (their virtualxid locks), so the
// first waiting statement seen was, in one CI run, the 2023 partition's
// build rather than the 2024 one the test holds up.
func waitingIn(t *testing.T, d *db.DB, prefix string) {
	t.Helper()
	waitFor(t, d, "a statement beginning "+prefix+" waiting for a lock", `SELECT query FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'
		AND left(query, length($1)) = $1 LIMIT 1`, prefix)
}

// migrateAsync runs migrate.Up of the medsales migrations and returns a
// channel that gets its error.
func migrateAsync(ctx context.Context, d *db.DB) chan error {
	done := make(chan error, 1)
	go func() {
		_, err := migrate.Up(ctx, d, store.Migrations)
		done <- err
	}()
	return done
}

func TestPaymentTotalsIndexSchema(t *testing.T) {
	d, _ := atVersion8(t)
	ctx := context.Background()
	at8 := paymentIndexes(t, d.SQL)
	want := wantIndexes(t, d)
	if _, err := migrate.Up(ctx, d, store.Migrations); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, paymentIndexes(t, d.SQL)); diff != "" {
		t.Errorf("indexes after migration 9 (-old SQL migration +now):\n%s", diff)
	}
	checkPartitionIndexes(t, d, "open_payments")
	s := store.New(d)
	totals, err := s.PaymentTotals(ctx, npiA)
	if err != nil || len(totals) == 0 {
		t.Fatalf("PaymentTotals = %v, %v", totals, err)
	}

	// Down rebuilds (npi, program_year), named as before.
	p, err := store.Migrations.Provider(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 8); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(at8, paymentIndexes(t, d.SQL)); diff != "" {
		t.Errorf("indexes after the Down migration (-version 8 +now):\n%s", diff)
	}
	// A load swaps a partition, then migration 9 applies again.
	mustLoad(t, s, (*store.Store).LoadOpenPayments, "op-2023.csv", opFile(2023, "2"), store.LoadInput{DataYear: 2023})
	if _, err := migrate.Up(ctx, d, store.Migrations); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, paymentIndexes(t, d.SQL)); diff != "" {
		t.Errorf("indexes after migrating again (-old SQL migration +now):\n%s", diff)
	}
}

// Reads of open_payments go on while the index is built: only the final
// renames lock the table, for a catalog change.
func TestPaymentTotalsIndexDoesNotBlockReads(t *testing.T) {
	d, _ := atVersion8(t)
	ctx := context.Background()
	want := wantIndexes(t, d)
	s := store.New(d)
	before, err := s.PaymentTotals(ctx, npiA)
	if err != nil {
		t.Fatal(err)
	}
	release := pauseBuild(t, d)
	done := migrateAsync(ctx, d)
	// The migration gets to the 2024 partition's build and waits there.
	waitingIn(t, d, "CREATE INDEX CONCURRENTLY open_payments_y2024_")
	// The profile's read, with a bound on how long it may wait.
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	during, err := s.PaymentTotals(rctx, npiA)
	cancel()
	if err != nil {
		t.Errorf("PaymentTotals during the build: %v", err)
	} else if diff := cmp.Diff(before, during); diff != "" {
		t.Errorf("PaymentTotals during the build (-before +during):\n%s", diff)
	}
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int
	if _, err := conn.ExecContext(ctx, "SET lock_timeout = '100ms'"); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM open_payments WHERE npi = $1`, npiA).Scan(&n); err != nil || n == 0 {
		t.Errorf("read with lock_timeout 100ms during the build: %d rows, %v", n, err)
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, paymentIndexes(t, d.SQL)); diff != "" {
		t.Errorf("indexes after migration 9 (-old SQL migration +now):\n%s", diff)
	}
}

// A migration cancelled (or killed) in the middle of a partition's
// CREATE INDEX CONCURRENTLY leaves the built partitions' indexes and an
// invalid one; the next migration finishes the job.
func TestPaymentTotalsIndexResumes(t *testing.T) {
	d, _ := atVersion8(t)
	ctx := context.Background()
	want := wantIndexes(t, d)
	release := pauseBuild(t, d)
	mctx, cancel := context.WithCancel(ctx)
	done := migrateAsync(mctx, d)
	waitingIn(t, d, "CREATE INDEX CONCURRENTLY open_payments_y2024_")
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cancelled migration succeeded")
	}
	// The server cancels the build when the cancel request reaches it.
	waitFor(t, d, "the build cancelled", `SELECT 'cancelled' WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity
		WHERE datname = current_database() AND state = 'active' AND query LIKE 'CREATE INDEX CONCURRENTLY%')`)
	release()
	left := paymentIndexes(t, d.SQL)
	var invalid, attached int
	for _, ix := range left {
		if strings.Contains(ix, "valid=false") && strings.HasPrefix(ix, "open_payments_y2024_") {
			invalid++
		}
		if strings.Contains(ix, "parent=open_payments_npi_new") {
			attached++
		}
	}
	if invalid != 1 || attached != 2 {
		t.Errorf("after the interruption: %d invalid partition indexes (want 1), %d attached to the new index (want 2):\n%s",
			invalid, attached, strings.Join(left, "\n"))
	}
	if pending, err := migrate.Pending(ctx, d, store.Migrations); err != nil || !pending {
		t.Errorf("pending after the interruption = %v, %v; want true", pending, err)
	}
	if _, err := migrate.Up(ctx, d, store.Migrations); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, paymentIndexes(t, d.SQL)); diff != "" {
		t.Errorf("indexes after resuming (-old SQL migration +now):\n%s", diff)
	}
}

// Two processes migrating at once (ECS starting two tasks) both finish:
// the second waits for the migration lock without holding a snapshot that
// the first's CREATE INDEX CONCURRENTLY would wait for.
func TestPaymentTotalsIndexConcurrentMigrators(t *testing.T) {
	d, u := atVersion8(t)
	ctx := context.Background()
	want := wantIndexes(t, d)
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := pu.Query()
	q.Set("application_name", "second_migrator")
	pu.RawQuery = q.Encode()
	second, err := db.Open(ctx, pu.String(), db.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()

	release := pauseBuild(t, d)
	first := migrateAsync(ctx, d)
	waitingStatement(t, d)
	other := migrateAsync(ctx, second)
	waitFor(t, d, "the second migrator asking for the migration lock", `SELECT query FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'second_migrator' AND query LIKE '%advisory_lock%' LIMIT 1`)
	release()
	// Waiting in pg_advisory_lock, the second migrator held a snapshot
	// that the first's build waited for: both hung.
	hung := time.After(2 * time.Minute)
	for i, ch := range []chan error{first, other} {
		select {
		case err := <-ch:
			if err != nil {
				t.Errorf("migrator %d: %v", i+1, err)
			}
		case <-hung:
			t.Fatalf("migrator %d still running after two minutes: the migrators wait for each other", i+1)
		}
	}
	if diff := cmp.Diff(want, paymentIndexes(t, d.SQL)); diff != "" {
		t.Errorf("indexes after both migrations (-old SQL migration +now):\n%s", diff)
	}
}

// An Open Payments load that starts during the migration waits for it,
// then swaps in its partition with the new indexes.
func TestPaymentTotalsIndexLoadDuringMigration(t *testing.T) {
	d, _ := atVersion8(t)
	ctx := context.Background()
	want := wantIndexes(t, d)
	s := store.New(d)
	release := pauseBuild(t, d)
	done := migrateAsync(ctx, d)
	waitingStatement(t, d)

	loaded := make(chan error, 1)
	go func() {
		_, err := s.LoadOpenPayments(ctx, store.LoadInput{File: "op-2023.csv", DataYear: 2023, Reader: strings.NewReader(string(opFile(2023, "7")))})
		loaded <- err
	}()
	waitFor(t, d, "the load waiting for the index rebuild", `SELECT query FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'SELECT pg_try_advisory_lock_shared($1, $2) /* index rebuild */' LIMIT 1`)
	select {
	case err := <-loaded:
		t.Fatalf("the load finished during the migration: %v", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-loaded; err != nil {
		t.Fatalf("load after the migration: %v", err)
	}
	if diff := cmp.Diff(want, paymentIndexes(t, d.SQL)); diff != "" {
		t.Errorf("indexes after the migration and the load (-old SQL migration +now):\n%s", diff)
	}
	checkPartitionIndexes(t, d, "open_payments")
	if n := bulkCount(t, d, `SELECT COUNT(*) FROM open_payments WHERE program_year = 2023 AND record_id LIKE '20237%'`); n != 20 {
		t.Errorf("2023 after the load: %d rows of the new file, want 20", n)
	}
	if got := stagingTables(t, d); len(got) != 0 {
		t.Errorf("staging tables left: %v", got)
	}
}

// A swap whose table got other indexes while its load built them (a
// change that did not take the index-rebuild lock) fails and changes
// nothing: attached, the staging table would keep indexes no parent index
// owns, and ATTACH would build the missing ones while readers wait.
func TestPartitionSwapIndexesChanged(t *testing.T) {
	d := dbtest.Postgres(t, claimsSets...)
	s := store.New(d)
	ctx := context.Background()
	mustLoad(t, s, (*store.Store).LoadOpenPayments, "op-2023.csv", opFile(2023, "1"), store.LoadInput{DataYear: 2023})
	before := dump(t, s, "open_payments")
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// The swap's first statement takes this lock too: it waits here.
	if _, err := tx.Exec(`LOCK TABLE open_payments IN SHARE UPDATE EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	loaded := make(chan error, 1)
	go func() {
		_, err := s.LoadOpenPayments(ctx, store.LoadInput{File: "op-2023.csv", DataYear: 2023, Reader: strings.NewReader(string(opFile(2023, "2")))})
		loaded <- err
	}()
	if w := waitingStatement(t, d); !strings.HasPrefix(w, "LOCK TABLE open_payments") {
		t.Fatalf("the load waits in %q, want its swap's lock", w)
	}
	for _, q := range []string{
		`CREATE INDEX open_payments_mfr ON open_payments (manufacturer_id)`,
		`ALTER INDEX open_payments_y2023_manufacturer_id_idx RENAME TO open_payments_y2023_mfr`,
	} {
		if _, err := tx.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-loaded; err == nil || !strings.Contains(err.Error(), "its indexes changed while the load built them") {
		t.Fatalf("load: err = %v, want the changed indexes named", err)
	}
	if diff := cmp.Diff(before, dump(t, s, "open_payments")); diff != "" {
		t.Errorf("live rows changed (-before +after):\n%s", diff)
	}
	checkPartitionIndexes(t, d, "open_payments")
	if got := stagingTables(t, d); len(got) != 0 {
		t.Errorf("staging tables left: %v", got)
	}
}

// A load of the previous version takes no index-rebuild lock: the
// migration waits for one that is past its COPY (its staging table exists
// and its token lock is held) before it changes the parent's indexes, so
// that the load attaches its partition with the indexes it read. Here the
// test plays that load.
func TestPaymentTotalsIndexWaitsForOlderLoads(t *testing.T) {
	d, _ := atVersion8(t)
	ctx := context.Background()
	want := wantIndexes(t, d)
	const token = "0badcafe"
	staging := "open_payments__stg_" + token
	if _, err := d.SQL.Exec(`CREATE TABLE ` + staging + ` (LIKE open_payments)`); err != nil {
		t.Fatal(err)
	}
	load, err := d.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer load.Close()
	// The token lock of a running load: namespace "meds", the token's bits.
	if _, err := load.ExecContext(ctx, `SELECT pg_advisory_lock($1, $2)`, int32(0x6d656473), int32(0x0badcafe)); err != nil {
		t.Fatal(err)
	}
	done := migrateAsync(ctx, d)
	waitFor(t, d, "the migration waiting for the load", `SELECT query FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'SELECT relname FROM pg_class /* running loads */%' LIMIT 1`)
	select {
	case err := <-done:
		t.Fatalf("the migration finished while a load ran: %v", err)
	default:
	}
	if n := bulkCount(t, d, `SELECT COUNT(*) FROM pg_class WHERE relname = 'open_payments_npi_new'`); n != 0 {
		t.Errorf("the migration created the new index while a load ran")
	}
	if _, err := load.ExecContext(ctx, `SELECT pg_advisory_unlock($1, $2)`, int32(0x6d656473), int32(0x0badcafe)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, paymentIndexes(t, d.SQL)); diff != "" {
		t.Errorf("indexes after migration 9 (-old SQL migration +now):\n%s", diff)
	}
}
