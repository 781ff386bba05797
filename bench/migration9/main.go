// Command migration9 measures medsales migration 9 on PostgreSQL (the
// covering open_payments_npi) at scale: how long reads of open_payments
// were blocked while it ran, and how long it took, for the former SQL
// migration (DROP INDEX and CREATE INDEX in one transaction) and for the
// Go migration that builds the index online (onlineindex.go).
//
// It creates the database --db on --admin-url's server, migrates it to
// version 8, fills --years partitions of open_payments with
// --rows-per-year generated payments each (INSERT … SELECT
// generate_series, recipients spread over 500,000 NPIs), then, for each
// variant, runs the migration while a reader queries one random NPI's
// payments in a closed loop, and prints the migration's wall time, the
// reads done, the longest read and the reads over 100 ms. Between the two
// it puts the index of version 8 back. The database is dropped at the end
// unless --keep.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/medplatform/medplatform/bench/internal/benchkit"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
)

// sqlMigration9 is the Up of the former SQL migration 9.
const sqlMigration9 = `
DROP INDEX open_payments_npi;
CREATE INDEX open_payments_npi ON open_payments (npi, program_year, manufacturer_name) INCLUDE (amount, n_payments);
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT pi.relname AS idx, pt.relname AS part FROM pg_inherits h
        JOIN pg_class pi ON pi.oid = h.inhrelid JOIN pg_index px ON px.indexrelid = pi.oid
        JOIN pg_class pt ON pt.oid = px.indrelid WHERE h.inhparent = 'open_payments_npi'::regclass
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', r.idx, r.part || '_npi');
    END LOOP;
END $$;`

// version8Index puts back the index of version 8 (not measured).
const version8Index = `
DROP INDEX open_payments_npi;
CREATE INDEX open_payments_npi ON open_payments (npi, program_year);
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT pi.relname AS idx, pt.relname AS part FROM pg_inherits h
        JOIN pg_class pi ON pi.oid = h.inhrelid JOIN pg_index px ON px.indexrelid = pi.oid
        JOIN pg_class pt ON pt.oid = px.indrelid WHERE h.inhparent = 'open_payments_npi'::regclass
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', r.idx, r.part || '_npi');
    END LOOP;
END $$;`

func main() {
	admin := flag.String("admin-url", "postgres://postgres@127.0.0.1:5432/postgres", "PostgreSQL server (a database to connect to for CREATE DATABASE)")
	name := flag.String("db", "bench_migration9", "database to create (dropped first if it exists)")
	rows := flag.Int("rows-per-year", 1_000_000, "payments per program year")
	years := flag.Int("years", 3, "program years (partitions), from 2021")
	keep := flag.Bool("keep", false, "keep the database")
	flag.Parse()
	if err := run(*admin, *name, *rows, *years, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "migration9:", err)
		os.Exit(1)
	}
}

func run(admin, name string, rows, years int, keep bool) error {
	ctx := context.Background()
	if err := benchkit.RecreateDB(ctx, admin, name); err != nil {
		return err
	}
	if !keep {
		defer benchkit.DropDB(context.Background(), admin, name)
	}
	u, err := url.Parse(admin)
	if err != nil {
		return err
	}
	u.Path = "/" + name
	d, err := db.Open(ctx, u.String(), db.Options{MaxConns: 8})
	if err != nil {
		return err
	}
	defer d.Close()
	p, err := store.Migrations.Provider(d)
	if err != nil {
		return err
	}
	if _, err := p.UpTo(ctx, 8); err != nil {
		return err
	}
	fmt.Printf("load average %s; filling %d partitions × %d payments…\n", benchkit.LoadAverage(), years, rows)
	start := time.Now()
	for y := 2021; y < 2021+years; y++ {
		if err := benchkit.ExecSQL(ctx, u.String(),
			fmt.Sprintf(`CREATE TABLE open_payments_y%d PARTITION OF open_payments FOR VALUES IN (%d)`, y, y),
			fmt.Sprintf(`ALTER INDEX open_payments_y%d_npi_program_year_idx RENAME TO open_payments_y%d_npi`, y, y),
			fmt.Sprintf(`INSERT INTO open_payments_y%d (record_id, npi, manufacturer_name, amount, n_payments, program_year)
				SELECT g::text, (1000000000 + (g::bigint * 7919) %% 500000)::text, 'Maker ' || (g %% 300), (g %% 100000) / 100.0, 1, %d
				FROM generate_series(1, %d) g`, y, y, rows),
			fmt.Sprintf(`VACUUM ANALYZE open_payments_y%d`, y)); err != nil {
			return err
		}
	}
	fmt.Printf("filled in %s\n", time.Since(start).Round(time.Second))

	measure := func(label string, migrate func() error) error {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var lat []time.Duration
		var readErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				npi := fmt.Sprint(1000000000 + rand.IntN(500000))
				t0 := time.Now()
				var n int
				if err := d.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM open_payments WHERE npi = $1`, npi).Scan(&n); err != nil {
					readErr = err
					return
				}
				lat = append(lat, time.Since(t0))
			}
		}()
		t0 := time.Now()
		err := migrate()
		took := time.Since(t0)
		close(stop)
		wg.Wait()
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		if readErr != nil {
			return fmt.Errorf("%s: read: %w", label, readErr)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		slow := 0
		for _, l := range lat {
			if l > 100*time.Millisecond {
				slow++
			}
		}
		var longest, p50 time.Duration
		if len(lat) > 0 {
			longest, p50 = lat[len(lat)-1], lat[len(lat)/2]
		}
		fmt.Printf("%-32s migration %8s | reads %6d, p50 %8s, longest %8s, over 100 ms %d\n",
			label, took.Round(10*time.Millisecond), len(lat), p50.Round(10*time.Microsecond), longest.Round(time.Millisecond), slow)
		return nil
	}
	if err := measure("SQL, one transaction (before)", func() error {
		return benchkit.ExecSQL(ctx, u.String(), "BEGIN", sqlMigration9, "COMMIT")
	}); err != nil {
		return err
	}
	if err := benchkit.ExecSQL(ctx, u.String(), "BEGIN", version8Index, "COMMIT"); err != nil {
		return err
	}
	return measure("Go, online (after)", func() error {
		_, err := p.UpTo(ctx, 9)
		return err
	})
}
