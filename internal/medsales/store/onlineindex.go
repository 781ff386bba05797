package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// Migration 9 on PostgreSQL replaces the partitioned index open_payments_npi
// (npi, program_year) with a covering one (see the SQLite file
// 00009_payment_totals_index.sql for why). Dropping and creating it in one
// transaction, as the SQLite migration does, holds an ACCESS EXCLUSIVE
// lock on open_payments and every partition for the whole build: every
// provider profile waits, seconds to minutes on a national database, while
// the previous version still serves during a blue/green deploy. So it is a
// Go migration, run outside a transaction, that builds the new index
// online:
//
//  1. CREATE INDEX open_payments_npi_new ON ONLY open_payments: the parent,
//     invalid until every partition has its index (catalog only);
//  2. for each partition, CREATE INDEX CONCURRENTLY <partition>_npi_new,
//     then ALTER INDEX open_payments_npi_new ATTACH PARTITION it; the last
//     attach makes the parent valid. Reads and the build overlap;
//  3. in one short transaction, DROP INDEX open_payments_npi (its
//     partitions' indexes go with it) and rename the new indexes to
//     open_payments_npi and <partition>_npi, the names 00006 and the
//     loader give.
//
// It is resumable: a run that died (or was cancelled) midway left the
// parent, attached partition indexes and perhaps an invalid index of an
// interrupted CREATE INDEX CONCURRENTLY; the next run keeps what is
// attached, drops the invalid leftover and builds the rest. A run that died
// after step 3 but before goose recorded the version finds the index done.
// The Down migration rebuilds (npi, program_year) the same way.
//
// Loads: a Replace that swaps a partition of the table holds the table's
// index-rebuild lock shared from before it creates its staging table to
// its end; the migration holds it exclusive for its whole run. So a load
// that starts during the migration waits for it (and then builds the
// indexes as they are), and the migration waits for running loads. A load
// of an earlier version takes no such lock: the migration waits for those
// past their COPY (waitForLoads) before it adds the new index to the
// parent and before the final swap.

// Go migrations hold the statements of a version that cannot run in one
// transaction; goose runs them in version order with the SQL files.
func postgresGoMigrations() []*goose.Migration {
	return []*goose.Migration{
		goose.NewGoMigration(9,
			&goose.GoFunc{RunDB: func(ctx context.Context, d *sql.DB) error {
				return paymentTotalsIndex.rebuild(ctx, d, paymentTotalsColumns)
			}},
			&goose.GoFunc{RunDB: func(ctx context.Context, d *sql.DB) error {
				return paymentTotalsIndex.rebuild(ctx, d, paymentsByNPIColumns)
			}}),
	}
}

const (
	// paymentTotalsColumns is open_payments_npi from migration 9 on: the
	// payment totals of a profile are an index-only scan of it.
	paymentTotalsColumns = "(npi, program_year, manufacturer_name) INCLUDE (amount, n_payments)"
	// paymentsByNPIColumns is open_payments_npi of migration 6.
	paymentsByNPIColumns = "(npi, program_year)"
)

var paymentTotalsIndex = onlineIndex{table: "open_payments", name: "open_payments_npi", temp: "open_payments_npi_new"}

// onlineIndex is a btree index of a partitioned table rebuilt without
// blocking its readers.
type onlineIndex struct {
	table string // the partitioned table
	name  string // the index; its partitions' are <partition><suffix>, the suffix being name less table
	temp  string // the index being built, until it replaces name
}

// rebuild makes ix.name a btree index on columns ("(a, b) INCLUDE (c)",
// as pg_get_indexdef writes them), on the parent and every partition.
func (ix onlineIndex) rebuild(ctx context.Context, d *sql.DB, columns string) error {
	// One session for the whole run: it holds the index-rebuild lock, and
	// CREATE INDEX CONCURRENTLY must run outside a transaction.
	conn, err := d.Conn(ctx)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", ix.name, err)
	}
	defer conn.Close()
	// The migrations' sessions wait a second at most for a lock (see
	// migrate.Up); CREATE INDEX CONCURRENTLY waits for the transactions
	// older than it, however long they last. The catalog-only steps keep
	// their own bound (briefly).
	if _, err := conn.ExecContext(ctx, "SET lock_timeout = 0"); err != nil {
		return fmt.Errorf("rebuild %s: %w", ix.name, err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "RESET lock_timeout")
	unlock, err := lockIndexRebuild(ctx, conn, ix.table)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", ix.name, err)
	}
	defer unlock()

	def, _, err := ix.definition(ctx, conn, ix.name)
	if err != nil {
		return err
	}
	if ix.sameColumns(def, columns) {
		// A run that died after the swap, before goose recorded it.
		return ix.dropTemp(ctx, conn)
	}
	for attempt := 1; ; attempt++ {
		// Before the parent gets a new index, and before it loses one.
		if err := ix.waitForLoads(ctx, conn); err != nil {
			return err
		}
		if err := ix.createParent(ctx, conn, columns); err != nil {
			return err
		}
		if err := ix.buildPartitions(ctx, conn, columns); err != nil {
			return err
		}
		if err := ix.waitForLoads(ctx, conn); err != nil {
			return err
		}
		// A load that finished meanwhile may have swapped in a partition.
		if err := ix.buildPartitions(ctx, conn, columns); err != nil {
			return err
		}
		_, valid, err := ix.definition(ctx, conn, ix.temp)
		if err != nil {
			return err
		}
		if valid {
			break
		}
		if attempt == 2 {
			return fmt.Errorf("rebuild %s: every partition of %s has its index but %s is not valid", ix.name, ix.table, ix.temp)
		}
		// Every partition has its index, but the last one came with a
		// partition attached whole (a swap by a load that did not take
		// the index-rebuild lock), which does not validate the parent
		// as ALTER INDEX … ATTACH PARTITION does: only a new build does.
		if err := ix.dropTemp(ctx, conn); err != nil {
			return err
		}
	}
	return ix.swap(ctx, conn)
}

// definition returns pg_get_indexdef of the index name of the current
// schema, and whether it is valid; "" when there is none.
func (ix onlineIndex) definition(ctx context.Context, conn *sql.Conn, name string) (string, bool, error) {
	var def string
	var valid bool
	err := conn.QueryRowContext(ctx, `SELECT pg_get_indexdef(x.indexrelid), x.indisvalid FROM pg_index x
		WHERE x.indexrelid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident($1))`, name).Scan(&def, &valid)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("rebuild %s: read index %s: %w", ix.name, name, err)
	}
	return def, valid, nil
}

// sameColumns tells whether def is a plain btree index of ix.table on
// columns.
func (ix onlineIndex) sameColumns(def, columns string) bool {
	return def != "" && !strings.HasPrefix(def, "CREATE UNIQUE") &&
		strings.Contains(def, "."+ix.table+" USING btree ") && strings.HasSuffix(def, " USING btree "+columns)
}

// createParent creates ix.temp on the parent alone, or keeps the one a
// previous run left if it has columns.
func (ix onlineIndex) createParent(ctx context.Context, conn *sql.Conn, columns string) error {
	def, _, err := ix.definition(ctx, conn, ix.temp)
	if err != nil {
		return err
	}
	if ix.sameColumns(def, columns) {
		return nil
	}
	if def != "" {
		// Left by an interrupted rebuild to other columns (a Down run).
		if err := ix.dropTemp(ctx, conn); err != nil {
			return err
		}
	}
	// Catalog only: ON ONLY builds nothing.
	q := fmt.Sprintf("CREATE INDEX %s ON ONLY %s USING btree %s", ix.temp, ix.table, columns)
	if err := migrate.Briefly(ctx, conn, q); err != nil {
		return fmt.Errorf("rebuild %s: create %s on %s: %w", ix.name, ix.temp, ix.table, err)
	}
	return nil
}

// buildPartitions builds and attaches the index of every partition that
// has none attached to ix.temp yet, one at a time. It asks for the next
// one after each, so a partition a load swapped in meanwhile is seen.
func (ix onlineIndex) buildPartitions(ctx context.Context, conn *sql.Conn, columns string) error {
	for {
		var part, kind string
		err := conn.QueryRowContext(ctx, `
			SELECT c.relname, c.relkind::text FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
			WHERE h.inhparent = $1::text::regclass
			  AND NOT EXISTS (SELECT 1 FROM pg_inherits hi JOIN pg_index x ON x.indexrelid = hi.inhrelid
			                  WHERE hi.inhparent = $2::text::regclass AND x.indrelid = c.oid)
			ORDER BY c.relname LIMIT 1`, ix.table, ix.temp).Scan(&part, &kind)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("rebuild %s: read partitions of %s: %w", ix.name, ix.table, err)
		}
		if kind != "r" {
			return fmt.Errorf("rebuild %s: partition %s of %s is partitioned itself: CREATE INDEX CONCURRENTLY cannot build its index", ix.name, part, ix.table)
		}
		if err := ix.buildPartition(ctx, conn, part, columns); err != nil {
			return err
		}
	}
}

// buildPartition builds the index of one partition CONCURRENTLY and
// attaches it to ix.temp.
func (ix onlineIndex) buildPartition(ctx context.Context, conn *sql.Conn, part, columns string) error {
	child := part + strings.TrimPrefix(ix.temp, ix.table)
	if len(child) > 63 {
		return fmt.Errorf("rebuild %s: index name %s of partition %s is longer than 63 bytes", ix.name, child, part)
	}
	def, valid, err := ix.definition(ctx, conn, child)
	if err != nil {
		return err
	}
	onPart := strings.Contains(def, "."+part+" USING btree ") && strings.HasSuffix(def, " USING btree "+columns)
	if def != "" && (!valid || !onPart) {
		// What an interrupted CREATE INDEX CONCURRENTLY leaves: an
		// invalid index, kept up to date by every write until dropped.
		if _, err := conn.ExecContext(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+child); err != nil {
			return fmt.Errorf("rebuild %s: drop the leftover %s: %w", ix.name, child, err)
		}
		def = ""
	}
	if def == "" {
		q := fmt.Sprintf("CREATE INDEX CONCURRENTLY %s ON %s USING btree %s", child, part, columns)
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("rebuild %s: build %s on %s: %w", ix.name, child, part, err)
		}
	}
	if err := migrate.Briefly(ctx, conn, fmt.Sprintf("ALTER INDEX %s ATTACH PARTITION %s", ix.temp, child)); err != nil {
		return fmt.Errorf("rebuild %s: attach %s to %s: %w", ix.name, child, ix.temp, err)
	}
	return nil
}

// dropTemp drops ix.temp and the partitions' indexes attached to it.
func (ix onlineIndex) dropTemp(ctx context.Context, conn *sql.Conn) error {
	if err := migrate.Briefly(ctx, conn, "DROP INDEX IF EXISTS "+ix.temp); err != nil {
		return fmt.Errorf("rebuild %s: drop %s: %w", ix.name, ix.temp, err)
	}
	return nil
}

// swap replaces ix.name by the valid ix.temp in one transaction: a catalog
// change, under an ACCESS EXCLUSIVE lock of the table held for
// milliseconds. The partitions' indexes are renamed by a loop over those
// attached when the transaction runs (as the SQL migrations do), not a
// list read before it.
func (ix onlineIndex) swap(ctx context.Context, conn *sql.Conn) error {
	suffix := strings.TrimPrefix(ix.name, ix.table)
	rename := fmt.Sprintf(`DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT ci.relname AS idx, ct.relname AS part
        FROM pg_inherits h
        JOIN pg_class ci ON ci.oid = h.inhrelid
        JOIN pg_index x ON x.indexrelid = ci.oid
        JOIN pg_class ct ON ct.oid = x.indrelid
        WHERE h.inhparent = %s::regclass
    LOOP
        IF octet_length(r.part || %s) <= 63 THEN
            EXECUTE format('ALTER INDEX %%I RENAME TO %%I', r.idx, r.part || %s);
        END IF;
    END LOOP;
END
$$`, quoteLiteral(ix.name), quoteLiteral(suffix), quoteLiteral(suffix))
	stmts := []string{
		"LOCK TABLE " + ix.table + " IN ACCESS EXCLUSIVE MODE",
		"DROP INDEX IF EXISTS " + ix.name,
		fmt.Sprintf("ALTER INDEX %s RENAME TO %s", ix.temp, ix.name),
		rename,
	}
	if err := migrate.Briefly(ctx, conn, stmts...); err != nil {
		return fmt.Errorf("rebuild %s: replace it with %s: %w", ix.name, ix.temp, err)
	}
	return nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// advisoryIndexNS is the advisory lock namespace of index rebuilds, one
// key per table (indexRebuildKey).
const advisoryIndexNS = 0x6d696478 // "midx"

func indexRebuildKey(table string) int32 { return int32(crc32.ChecksumIEEE([]byte(table))) }

// The statements that ask for a table's index-rebuild lock: the rebuild
// takes it exclusive, the loads that swap a partition of the table take it
// shared (two such loads run side by side as before). The tests find a
// session waiting for it by the text.
const (
	lockIndexRebuildSQL   = "SELECT pg_try_advisory_lock($1, $2) /* index rebuild */"
	shareIndexRebuildSQL  = "SELECT pg_try_advisory_lock_shared($1, $2) /* index rebuild */"
	unlockIndexRebuildSQL = "SELECT pg_advisory_unlock($1, $2)"
	unshareIndexRebuild   = "SELECT pg_advisory_unlock_shared($1, $2)"
)

// pollLock calls try until it gets the lock, every 100 ms. Between two
// tries the session holds no snapshot: waiting in pg_advisory_lock, it
// would hold one, which a CREATE INDEX CONCURRENTLY of the holder waits
// for.
func pollLock(ctx context.Context, what string, try func(context.Context) (bool, error)) error {
	for {
		got, err := try(ctx)
		if err != nil {
			return fmt.Errorf("lock %s: %w", what, err)
		}
		if got {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lock %s: waiting for a rebuild of its indexes (a migration) or a load of it: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lockIndexRebuild takes table's index-rebuild lock exclusive on conn and
// returns its release.
func lockIndexRebuild(ctx context.Context, conn *sql.Conn, table string) (func(), error) {
	key := indexRebuildKey(table)
	err := pollLock(ctx, "the indexes of "+table, func(ctx context.Context) (bool, error) {
		var got bool
		err := conn.QueryRowContext(ctx, lockIndexRebuildSQL, int32(advisoryIndexNS), key).Scan(&got)
		return got, err
	})
	if err != nil {
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(ctx, unlockIndexRebuildSQL, int32(advisoryIndexNS), key); err != nil {
			// The lock must not outlive its holder: end the session.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}, nil
}

// waitForLoads waits until no load of ix.table is running past its COPY:
// one whose staging table exists (it is committed when the COPY ends) and
// whose token lock is held. A load of this version waits for the
// index-rebuild lock before it creates its staging table, so these are
// loads of an earlier version, which read the parent's indexes when their
// COPY ends and attach their partition with those: let them finish before
// the parent changes, lest the partition keep indexes of the old set.
func (ix onlineIndex) waitForLoads(ctx context.Context, conn *sql.Conn) error {
	for {
		running, err := ix.runningLoads(ctx, conn)
		if err != nil {
			return err
		}
		if len(running) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rebuild %s: waiting for the load of %s: %w", ix.name, strings.Join(running, ", "), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runningLoadsSQL lists the staging tables of a table; the tests find the
// migration waiting by its text.
const runningLoadsSQL = `SELECT relname FROM pg_class /* running loads */
	WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r' AND NOT relispartition
	  AND relname LIKE $1 || '\_\_stg\_%'`

// runningLoads returns the staging tables of ix.table whose load runs.
func (ix onlineIndex) runningLoads(ctx context.Context, conn *sql.Conn) ([]string, error) {
	rows, err := conn.QueryContext(ctx, runningLoadsSQL, ix.table)
	if err != nil {
		return nil, fmt.Errorf("rebuild %s: read the loads of %s: %w", ix.name, ix.table, err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("rebuild %s: read the loads of %s: %w", ix.name, ix.table, err)
		}
		if m := stagingRE.FindStringSubmatch(n); m != nil && n == ix.table+stagingInfix+m[1] {
			names = append(names, n)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rebuild %s: read the loads of %s: %w", ix.name, ix.table, err)
	}
	var running []string
	for _, n := range names {
		key := tokenKey(stagingRE.FindStringSubmatch(n)[1])
		var free bool
		if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1, $2)", int32(advisoryNS), key).Scan(&free); err != nil {
			return nil, fmt.Errorf("rebuild %s: check the load of %s: %w", ix.name, n, err)
		}
		if !free {
			running = append(running, n)
			continue
		}
		// A killed load's table, left for DropStaleStaging.
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1, $2)", int32(advisoryNS), key); err != nil {
			return nil, fmt.Errorf("rebuild %s: check the load of %s: %w", ix.name, n, err)
		}
	}
	return running, nil
}
