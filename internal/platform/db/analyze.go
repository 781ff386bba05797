package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AnalyzeStale runs ANALYZE on every table of the current schema that
// holds at least minRows live rows and either has no planner statistics
// yet or, where autovacuum will not analyze it (off for the server or for
// the table), has changed by at least minRows rows and 10% since it was
// last analyzed, at least minInterval ago (autovacuum looks once a minute:
// at every 15 s tick, a table growing by millions of rows, such as the
// doses of a first horizon run, was analyzed again each time, 3.5–5.6 s a
// run; QA). It returns the tables it analyzed. On SQLite it does nothing.
//
// Why: without statistics PostgreSQL guesses that every equality matches
// 0.5% of a table, so a key lookup such as (org_id, source,
// client_event_id) = any of 500 keys looks cheapest as "the rows of this
// org and source, filtered", which is every event of the org. A plan made
// then is cached on the connection and kept while the table grows:
// bench/events measured batches of events at 2.9k events/s that way,
// against 20k with statistics, and single-event lookups filtering tens of
// thousands of rows. Autovacuum normally analyzes a table once 50 rows and
// 10% of it have changed; this covers a table it has not reached yet (a
// young database in its first spike) and, with the same 10% rule, a
// server where it is off, whose statistics would otherwise describe the
// table as it was on the day of its one ANALYZE. Where autovacuum is on,
// tables that have statistics are left to it.
func (d *DB) AnalyzeStale(ctx context.Context, minRows int64, minInterval time.Duration) ([]string, error) {
	if d.Dialect != Postgres {
		return nil, nil
	}
	// n_live_tup and n_mod_since_analyze are the statistics system's
	// running counts; pg_stats lists a table's columns once it has been
	// analyzed (by anyone). Only tables this role owns (or a superuser):
	// ANALYZE skips others with a warning, and they would be picked again
	// on every run.
	rows, err := d.SQL.QueryContext(ctx, `
		SELECT t.relname FROM pg_stat_user_tables t JOIN pg_class c ON c.oid = t.relid
		WHERE t.schemaname = current_schema() AND t.n_live_tup >= $1
		  AND pg_has_role(c.relowner, 'USAGE')
		  AND (NOT EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = t.schemaname AND s.tablename = t.relname)
		    OR ((current_setting('autovacuum') = 'off'
		        OR EXISTS (SELECT 1 FROM unnest(c.reloptions) o
		                   WHERE lower(o) IN ('autovacuum_enabled=false', 'autovacuum_enabled=off', 'autovacuum_enabled=no', 'autovacuum_enabled=0')))
		      AND t.n_mod_since_analyze >= GREATEST($1, t.n_live_tup / 10)
		      AND COALESCE(GREATEST(t.last_analyze, t.last_autoanalyze), '-infinity') <= now() - make_interval(secs => $2)))
		ORDER BY t.relname`, minRows, minInterval.Seconds())
	if err != nil {
		return nil, fmt.Errorf("find tables without statistics: %w", err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("find tables without statistics: %w", err)
		}
		tables = append(tables, name)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("find tables without statistics: %w", err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find tables without statistics: %w", err)
	}
	for _, t := range tables {
		if _, err := d.SQL.ExecContext(ctx, "ANALYZE "+pgx.Identifier{t}.Sanitize()); err != nil {
			return nil, fmt.Errorf("analyze %s: %w", t, err)
		}
	}
	return tables, nil
}
