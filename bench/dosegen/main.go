// Command dosegen benchmarks dose-instance generation: it seeds N patients,
// each with one active plan taking D doses a day at fixed times of day,
// then times store.ExtendHorizon materialising DAYS days of doses for all of
// them, and times a second run, which must find nothing to do.
//
// It needs an empty database: it applies the migrations itself and refuses
// to run when the plans table already holds rows.
//
// PostgreSQL (the production shape; the target is 250,000 patients × 3
// doses/day × 14 days = 10.5M instances in ≤ 2 minutes and ≤ 1 GiB RSS):
//
//	createdb -h 127.0.0.1 -U postgres dosegen
//	go run ./bench/dosegen --database-url postgres://postgres@127.0.0.1:5432/dosegen
//	dropdb -h 127.0.0.1 -U postgres dosegen
//
// SQLite (embedded default):
//
//	go run ./bench/dosegen --database-url sqlite:/tmp/dosegen/bench.db
//	rm -r /tmp/dosegen
//
// Flags: --patients 250000, --doses-per-day 3, --days 14, and --chunk and
// --workers to override store.Store.ChunkSize and Workers. Patients are
// spread over five US time zones. The printed peak RSS is VmHWM from
// /proc/self/status, so it includes seeding.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dosegen:", err)
		os.Exit(1)
	}
}

// config holds the benchmark's flags.
type config struct {
	url, cpuProfile      string
	patients, perDay     int
	days, chunk, workers int
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("dosegen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.url, "database-url", getenv("DATABASE_URL"), "database URL: postgres://… or sqlite:path (default $DATABASE_URL)")
	fs.IntVar(&c.patients, "patients", 250000, "number of patients, one plan each")
	fs.IntVar(&c.perDay, "doses-per-day", 3, "doses a day per plan (timeOfDay entries)")
	fs.IntVar(&c.days, "days", 14, "horizon in days")
	fs.IntVar(&c.chunk, "chunk", 0, "plans per transaction (default: the store's)")
	fs.IntVar(&c.workers, "workers", 0, "concurrent chunks on PostgreSQL (default: the store's)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the timed ExtendHorizon run to this file")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.url == "":
		return c, errors.New("--database-url (or DATABASE_URL) is required")
	case c.patients < 1, c.perDay < 1 || c.perDay > 24, c.days < 1 || c.days > 366:
		return c, errors.New("--patients ≥ 1, --doses-per-day 1..24 and --days 1..366 are required")
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	d, err := db.Open(ctx, c.url, db.Options{})
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := migrate.Up(ctx, d, audit.Migrations, store.Migrations); err != nil {
		return err
	}
	if err := requireEmpty(ctx, d); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	t0 := time.Now()
	if err := seed(ctx, d, c, now); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(stdout, "engine:            %s\n", d.Dialect)
	fmt.Fprintf(stdout, "seeded:            %d patients, %d plans (%.1f s)\n", c.patients, c.patients, time.Since(t0).Seconds())

	s := store.New(d, audit.New(d, nil, nil), func() time.Time { return now })
	s.Horizon = time.Duration(c.days) * 24 * time.Hour
	if c.chunk > 0 {
		s.ChunkSize = c.chunk
	}
	if c.workers > 0 {
		s.Workers = c.workers
	}
	workers := s.Workers
	if d.Dialect != db.Postgres {
		workers = 1 // SQLite has one writer
	}
	fmt.Fprintf(stdout, "chunk, workers:    %d plans, %d\n", s.ChunkSize, workers)
	return measure(ctx, s, now, c.cpuProfile, stdout)
}

// measure times the first ExtendHorizon run and the idempotent second one.
func measure(ctx context.Context, s *store.Store, now time.Time, cpuProfile string, stdout io.Writer) error {
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	t0 := time.Now()
	res, err := s.ExtendHorizon(ctx, now)
	if cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	el := time.Since(t0).Seconds()
	fmt.Fprintf(stdout, "instances created: %d (%d plans)\n", res.Instances, res.Plans)
	fmt.Fprintf(stdout, "elapsed:           %.1f s\n", el)
	fmt.Fprintf(stdout, "rate:              %.0f instances/s\n", float64(res.Instances)/el)

	t0 = time.Now()
	again, err := s.ExtendHorizon(ctx, now)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "re-run (no-op):    %.2f s, %d instances, %d plans\n", time.Since(t0).Seconds(), again.Instances, again.Plans)
	fmt.Fprintf(stdout, "peak RSS:          %s\n", peakRSS())
	return nil
}

func requireEmpty(ctx context.Context, d *db.DB) error {
	var n int
	if err := d.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM plans`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return errors.New("the database is not empty: run dosegen on a fresh database (see the command's documentation)")
	}
	return nil
}

// zones are the time zones the patients are spread over.
var zones = []string{"America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles"}

// timing returns a timeOfDay Timing with n times from 08:00, every
// 12h/(n-1) (08:00, 14:00, 20:00 for 3).
func timing(n int) string {
	times := make([]string, n)
	for i := range n {
		m := 8 * 60
		if n > 1 {
			m += i * 12 * 60 / (n - 1)
		}
		m %= 24 * 60
		times[i] = fmt.Sprintf(`"%02d:%02d:00"`, m/60, m%60)
	}
	return `{"repeat":{"timeOfDay":[` + strings.Join(times, ",") + `]}}`
}

// patientCols and planCols are the seeded columns; row builds their values.
var (
	patientCols = []string{"id", "org_id", "given_name", "time_zone", "language", "wake", "breakfast", "lunch", "dinner", "bed",
		"active", "created_at", "updated_at", "version"}
	planCols = []string{"id", "org_id", "patient_id", "rxnorm", "rxnorm_display", "timing", "status", "start_at",
		"created_at", "updated_at", "version"}
)

type seedRow struct{ patient, plan []any }

func row(org string, i int, tim string, now time.Time) seedRow {
	pid, plid := uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()
	return seedRow{
		patient: []any{pid, org, fmt.Sprintf("Patient %d", i), zones[i%len(zones)], "en", "07:00", "07:30", "12:00", "18:00", "22:00",
			true, now, now, 1},
		plan: []any{plid, org, pid, "314076", "lisinopril 10 MG Oral Tablet", tim, "active", now.Add(-24 * time.Hour), now, now, 1},
	}
}

// seed inserts one org and the patients with their plans, in batches so
// memory stays flat: COPY on PostgreSQL, multi-row inserts on SQLite.
func seed(ctx context.Context, d *db.DB, c config, now time.Time) error {
	org := uuid.Must(uuid.NewV7()).String()
	if _, err := d.SQL.ExecContext(ctx, `INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)`, org, "dosegen", now); err != nil {
		return err
	}
	tim := timing(c.perDay)
	const batch = 10000
	for lo := 0; lo < c.patients; lo += batch {
		rows := make([]seedRow, 0, batch)
		for i := lo; i < min(lo+batch, c.patients); i++ {
			rows = append(rows, row(org, i, tim, now))
		}
		var err error
		if d.Dialect == db.Postgres {
			err = seedPostgres(ctx, d, rows)
		} else {
			err = seedSQLite(ctx, d, rows)
		}
		if err != nil {
			return err
		}
	}
	_, err := d.SQL.ExecContext(ctx, `ANALYZE`)
	return err
}

func seedPostgres(ctx context.Context, d *db.DB, rows []seedRow) error {
	return pgx.BeginFunc(ctx, d.Pool, func(tx pgx.Tx) error {
		pats, plans := make([][]any, len(rows)), make([][]any, len(rows))
		for i, r := range rows {
			pats[i], plans[i] = r.patient, r.plan
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"patients"}, patientCols, pgx.CopyFromRows(pats)); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"plans"}, planCols, pgx.CopyFromRows(plans))
		return err
	})
}

func seedSQLite(ctx context.Context, d *db.DB, rows []seedRow) error {
	return d.InTx(ctx, func(tx *db.Tx) error {
		const per = 100
		for lo := 0; lo < len(rows); lo += per {
			part := rows[lo:min(lo+per, len(rows))]
			if err := insertRows(ctx, tx, "patients", patientCols, part, func(r seedRow) []any { return r.patient }); err != nil {
				return err
			}
			if err := insertRows(ctx, tx, "plans", planCols, part, func(r seedRow) []any { return r.plan }); err != nil {
				return err
			}
		}
		return nil
	})
}

func insertRows(ctx context.Context, tx *db.Tx, table string, cols []string, rows []seedRow, vals func(seedRow) []any) error {
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", table, strings.Join(cols, ", "))
	args := make([]any, 0, len(rows)*len(cols))
	for i, r := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		// Anonymous placeholders: the SQLite driver looks $n names up
		// linearly for every parameter.
		b.WriteString(strings.Repeat("?, ", len(cols)-1) + "?")
		b.WriteByte(')')
		args = append(args, vals(r)...)
	}
	_, err := tx.ExecContext(ctx, b.String(), args...)
	return err
}

// peakRSS returns VmHWM, the process's peak resident set size.
func peakRSS() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
