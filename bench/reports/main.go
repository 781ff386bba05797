// Command reports benchmarks the adherence reports at production scale. It
// seeds one org with N patients, each with one active plan of 3 doses a day
// (08:00, 14:00, 20:00 in the patient's zone, five US zones), DAYS days of
// past dose instances with outcomes (taken on time, taken late, skipped,
// missed; the last hours still pending), AHEAD days of scheduled ones (the
// generation horizon), one scored event per dose taken or skipped, orphan
// events (about one per patient every ten days) and a 30-day pharmacy fill
// every month. Seeding is bulk SQL: COPY on PostgreSQL, multi-row INSERTs
// on SQLite, not the API.
//
// It then times, warm (one untimed request first) and REPS times each, the
// reports through the real HTTP handlers of an in-process server on a
// loopback listener with the production wiring (API-key authentication,
// audit of every read, group-committed audit log), as bench/apiload does:
//
//	GET /v1/reports/adherence                     the org's cohort report, default window (30 days to now)
//	store.Store.CohortCounts                      the cohort report's query alone, same window
//	GET /v1/patients/{id}/adherence               a different patient each time
//	GET /v1/plans/{id}/adherence
//	GET /v1/patients/{id}/pdc?from=&to=           the last 30 days
//	GET /fhir/MedicationAdministration?patient=&date=ge…   the last 30 days
//
// and prints p50 and max of each.
//
// After seeding it runs VACUUM (ANALYZE) on PostgreSQL, as autovacuum
// would, and nothing on SQLite, whose file the application never analyzes.
//
// It needs an empty database: it applies the migrations itself and refuses
// to seed when the plans table already holds rows. With --reuse it seeds
// nothing and times a database a previous run of this command seeded
// (applying any migrations added since), which is how an index is compared
// before and after without seeding again.
//
// PostgreSQL (the production shape; the aim is the cohort report in ≤ 2 s
// for 250,000 patients over 30 days, a single patient's reports in
// milliseconds):
//
//	createdb -h 127.0.0.1 -U postgres reports
//	go run ./bench/reports --database-url postgres://postgres@127.0.0.1:5432/reports
//	dropdb -h 127.0.0.1 -U postgres reports
//
// SQLite (embedded default):
//
//	go run ./bench/reports --database-url sqlite:/tmp/reports/bench.db --patients 50000
//	rm -r /tmp/reports
//
// Flags: --patients 250000, --days 30 (past days of doses), --ahead 14
// (days of scheduled doses ahead), --reps 5 (timed requests per report),
// --reuse.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/medplatform/medplatform/bench/internal/adherenceapi"
	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "reports:", err)
		os.Exit(1)
	}
}

// orgName names the org the benchmark seeds, so that --reuse finds it.
const orgName = "bench/reports"

// config holds the benchmark's flags.
type config struct {
	url                   string
	patients, days, ahead int
	reps                  int
	reuse                 bool
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("reports", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.url, "database-url", getenv("DATABASE_URL"), "database URL: postgres://… or sqlite:path (default $DATABASE_URL)")
	fs.IntVar(&c.patients, "patients", 250000, "number of patients, one plan of 3 doses a day each")
	fs.IntVar(&c.days, "days", 30, "days of past dose instances (with outcomes)")
	fs.IntVar(&c.ahead, "ahead", 14, "days of scheduled dose instances ahead of now")
	fs.IntVar(&c.reps, "reps", 5, "timed requests per report")
	fs.BoolVar(&c.reuse, "reuse", false, "seed nothing: time a database a previous run seeded")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.url == "":
		return c, errors.New("--database-url (or DATABASE_URL) is required")
	case c.patients < 1, c.days < 1 || c.days > 366, c.ahead < 0 || c.ahead > 366, c.reps < 1:
		return c, errors.New("--patients ≥ 1, --days 1..366, --ahead 0..366 and --reps ≥ 1 are required")
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	d, err := db.Open(ctx, c.url, db.Options{MaxConns: 10})
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := migrate.Up(ctx, d, audit.Migrations, store.Migrations); err != nil {
		return err
	}
	newID := func() string { return uuid.Must(uuid.NewV7()).String() }
	al := audit.New(d, time.Now, newID)
	st := store.New(d, al, time.Now)
	defer al.StartGroupCommit(256)(context.Background()) // as `adherence serve` does

	plain, keyID, hash, err := auth.NewAPIKey()
	if err != nil {
		return err
	}
	key := adherence.APIKey{ID: keyID, Role: "admin", Hash: hash, CreatedAt: time.Now(), CreatedBy: "bench"}
	fmt.Fprintf(stdout, "engine:             %s\n", d.Dialect)
	var orgID string
	if c.reuse {
		if err := d.SQL.QueryRowContext(ctx, `SELECT id FROM orgs WHERE name = $1`, orgName).Scan(&orgID); err != nil {
			return fmt.Errorf("find the org a previous run seeded: %w", err)
		}
		key.OrgID = orgID
		if err := st.CreateAPIKey(ctx, adherence.Actor{ID: "bench", Role: "admin", OrgID: orgID}, key); err != nil {
			return err
		}
	} else {
		if err := requireEmpty(ctx, d); err != nil {
			return err
		}
		org, err := st.Bootstrap(ctx, orgName, key)
		if err != nil {
			return err
		}
		orgID = org.ID
		t0 := time.Now()
		n, err := seed(ctx, d, c, orgID, db.UTC(time.Now()))
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		fmt.Fprintf(stdout, "seeded:             %d patients, %d dose instances, %d events, %d fills (%.0f s)\n",
			c.patients, n.doses, n.events, n.fills, time.Since(t0).Seconds())
	}
	if err := describe(ctx, d, orgID, stdout); err != nil {
		return err
	}
	return measure(ctx, d, st, al, orgID, plain, c.reps, stdout)
}

func requireEmpty(ctx context.Context, d *db.DB) error {
	var n int
	if err := d.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM plans`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return errors.New("the database is not empty: run reports on a fresh database, or with --reuse on one it seeded (see the command's documentation)")
	}
	return nil
}

// describe prints what the database holds.
func describe(ctx context.Context, d *db.DB, orgID string, stdout io.Writer) error {
	var patients, doses, events int64
	for _, q := range []struct {
		sql string
		n   *int64
	}{
		{`SELECT COUNT(*) FROM patients WHERE org_id = $1`, &patients},
		{`SELECT COUNT(*) FROM dose_instances WHERE org_id = $1`, &doses},
		{`SELECT COUNT(*) FROM events WHERE org_id = $1`, &events},
	} {
		if err := d.SQL.QueryRowContext(ctx, q.sql, orgID).Scan(q.n); err != nil {
			return fmt.Errorf("describe: %w", err)
		}
	}
	size := "unknown"
	if d.Dialect == db.Postgres {
		if err := d.SQL.QueryRowContext(ctx, `SELECT pg_size_pretty(pg_database_size(current_database()))`).Scan(&size); err != nil {
			return fmt.Errorf("describe: %w", err)
		}
	} else {
		var pages, pageSize int64
		if err := d.SQL.QueryRowContext(ctx, `SELECT page_count, page_size FROM pragma_page_count(), pragma_page_size()`).Scan(&pages, &pageSize); err != nil {
			return fmt.Errorf("describe: %w", err)
		}
		size = fmt.Sprintf("%d MB", pages*pageSize>>20)
	}
	fmt.Fprintf(stdout, "database holds:     %d patients, %d dose instances, %d events (%s)\n", patients, doses, events, size)
	return nil
}

// zones are the time zones the patients are spread over.
var zones = []string{"America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles"}

// timesOfDay are the plan's dose times, as its timing states them.
var timesOfDay = []int{8 * 60, 14 * 60, 20 * 60}

const timing = `{"repeat":{"timeOfDay":["08:00:00","14:00:00","20:00:00"]}}`

// pendingFor is how long a past dose stays scheduled (no outcome yet): the
// default late window.
const pendingFor = 4 * time.Hour

// The seeded columns. Dose instance ids are given on SQLite; on
// PostgreSQL the identity hands them out (see seedPostgres).
var (
	patientCols = []string{"id", "org_id", "given_name", "time_zone", "language", "wake", "breakfast", "lunch", "dinner", "bed",
		"active", "created_at", "updated_at", "version"}
	planCols = []string{"id", "org_id", "patient_id", "rxnorm", "rxnorm_display", "timing", "status", "start_at",
		"created_at", "updated_at", "version", "ingredient", "drug_class"}
	doseCols = []string{"org_id", "patient_id", "plan_id", "seq", "due_at", "local_time", "status", "created_at",
		"event_id", "taken_at", "skip_reason", "resolved_at", "double_dose"}
	eventCols = []string{"id", "org_id", "patient_id", "plan_id", "dose_instance_id", "kind", "reason", "occurred_at", "received_at",
		"source", "client_event_id", "result", "dose_status", "double_dose", "actor_id"}
	fillCols = []string{"id", "org_id", "patient_id", "plan_id", "fill_date", "days_supply", "quantity", "created_at"}
)

// batch holds the rows of a group of patients.
type batch struct {
	patients, plans, doses, events, fills [][]any
}

// counts are the rows seeded.
type counts struct{ doses, events, fills int64 }

// generator builds the rows of one patient after another; nextDose is the
// id the next dose instance gets (ids are handed out from 1 in order).
type generator struct {
	org      string
	now      time.Time
	days     int
	ahead    int
	nextDose int64
	locs     []*time.Location
}

// patient appends patient i's rows to b. Its adherence profile (the chance
// it takes a dose) is 1 - u²/2 for u uniform in [0, 1): most patients take
// most doses, about a third are below 0.8.
func (g *generator) patient(b *batch, i int) {
	rng := rand.New(rand.NewPCG(uint64(i), 42))
	loc := g.locs[i%len(g.locs)]
	pid, plid := uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()
	first := g.now.Add(-time.Duration(g.days) * 24 * time.Hour)
	last := g.now.Add(time.Duration(g.ahead) * 24 * time.Hour)
	day := first.In(loc)
	day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	b.patients = append(b.patients, []any{pid, g.org, fmt.Sprintf("Patient %d", i), loc.String(), "en", "07:00", "07:30", "12:00", "18:00", "22:00",
		true, g.now, g.now, 1})
	b.plans = append(b.plans, []any{plid, g.org, pid, "314076", "lisinopril 10 MG Oral Tablet", timing, "active", day.UTC(),
		g.now, g.now, 1, "lisinopril", "ace inhibitor"})

	u := rng.Float64()
	takes := 1 - u*u/2
	seq := 0
	for d := day; d.Before(last); d = d.AddDate(0, 0, 1) {
		for _, m := range timesOfDay {
			due := time.Date(d.Year(), d.Month(), d.Day(), m/60, m%60, 0, 0, loc)
			seq++
			if due.Before(first) || !due.Before(last) {
				continue
			}
			g.dose(b, rng, takes, pid, plid, seq, due, loc)
		}
		// Orphans: events that matched no dose, about one every ten days.
		if rng.IntN(10) == 0 {
			at := d.Add(time.Duration(rng.IntN(24*60)) * time.Minute)
			if !at.Before(first) && at.Before(g.now) {
				id := uuid.Must(uuid.NewV7()).String()
				b.events = append(b.events, []any{id, g.org, pid, plid, nil, "taken", "", db.UTC(at), db.UTC(at),
					"app", id, "orphan", "", false, "patient"})
			}
		}
	}
	// A 30-day fill every month from before the window, sometimes late.
	for f := first.AddDate(0, 0, -10); f.Before(g.now); f = f.AddDate(0, 0, 30+rng.IntN(8)) {
		b.fills = append(b.fills, []any{uuid.Must(uuid.NewV7()).String(), g.org, pid, plid,
			f.Format("2006-01-02"), 30, 30.0, g.now})
	}
}

// dose appends one dose instance, and the event that scored it if any.
func (g *generator) dose(b *batch, rng *rand.Rand, takes float64, pid, plid string, seq int, due time.Time, loc *time.Location) {
	id := g.nextDose
	g.nextDose++
	due = db.UTC(due)
	local := due.In(loc).Format("2006-01-02T15:04")
	row := []any{g.org, pid, plid, seq, due, local, "scheduled", g.now, nil, nil, nil, nil, false}
	if !due.Before(g.now.Add(-pendingFor)) {
		b.doses = append(b.doses, row)
		return
	}
	var kind, status, reason string
	var at time.Time
	switch r := rng.Float64(); {
	case r < takes*0.85:
		kind, status, at = "taken", "taken_on_time", due.Add(time.Duration(rng.IntN(60)-30)*time.Minute)
	case r < takes:
		kind, status, at = "taken", "taken_late", due.Add(time.Duration(60+rng.IntN(120))*time.Minute)
	case rng.IntN(10) < 3:
		kind, status, reason, at = "skipped", "skipped", "side_effects", due.Add(time.Duration(rng.IntN(60))*time.Minute)
	default:
		row[6], row[11] = "missed", due.Add(pendingFor)
		b.doses = append(b.doses, row)
		return
	}
	eid := uuid.Must(uuid.NewV7()).String()
	double := kind == "taken" && rng.IntN(500) == 0
	row[6], row[8], row[11], row[12] = status, eid, at, double
	if kind == "taken" {
		row[9] = at
	} else {
		row[10] = reason
	}
	b.doses = append(b.doses, row)
	b.events = append(b.events, []any{eid, g.org, pid, plid, id, kind, reason, at, at,
		"app", eid, "scored", status, double, "patient"})
}

// seed inserts the patients with their plans, doses, events and fills,
// 1000 patients per transaction so that memory stays flat.
func seed(ctx context.Context, d *db.DB, c config, orgID string, now time.Time) (counts, error) {
	g := &generator{org: orgID, now: now, days: c.days, ahead: c.ahead, nextDose: 1}
	for _, z := range zones {
		loc, err := time.LoadLocation(z)
		if err != nil {
			return counts{}, err
		}
		g.locs = append(g.locs, loc)
	}
	// One connection for every COPY on PostgreSQL: the identity caches
	// ids per session, and one session takes them in order, so the dose
	// ids are 1, 2, … as the generator numbers them for the events.
	var conn *pgxpool.Conn
	if d.Dialect == db.Postgres {
		var err error
		if conn, err = d.Pool.Acquire(ctx); err != nil {
			return counts{}, err
		}
		defer conn.Release()
		// The rows are consistent by construction: skip the foreign-key
		// triggers (a plan lookup per dose and event row, a third of the
		// seeding time), as pg_restore --disable-triggers does. Only a
		// superuser may; anyone else seeds with the checks on.
		if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err == nil {
			defer conn.Exec(context.WithoutCancel(ctx), `RESET session_replication_role`)
		}
	}
	var n counts
	const per = 1000
	for lo := 0; lo < c.patients; lo += per {
		var b batch
		for i := lo; i < min(lo+per, c.patients); i++ {
			g.patient(&b, i)
		}
		var err error
		if d.Dialect == db.Postgres {
			err = seedPostgres(ctx, conn, b)
		} else {
			err = seedSQLite(ctx, d, b, g.nextDose-int64(len(b.doses)))
		}
		if err != nil {
			return n, err
		}
		n.doses += int64(len(b.doses))
		n.events += int64(len(b.events))
		n.fills += int64(len(b.fills))
	}
	var maxID int64
	if err := d.SQL.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM dose_instances`).Scan(&maxID); err != nil {
		return n, err
	}
	if maxID != n.doses {
		return n, fmt.Errorf("dose ids are not 1..%d (the largest is %d): the events name the wrong doses", n.doses, maxID)
	}
	if d.Dialect != db.Postgres {
		// The application never analyzes its SQLite file: neither does
		// the benchmark, so the planner chooses as it would in the field.
		return n, nil
	}
	// Production runs autovacuum, which analyzes the tables and marks
	// their pages all-visible (what index-only scans need); a new bulk
	// load has neither until it runs, and it may be off (as here and in
	// CI).
	_, err := d.SQL.ExecContext(ctx, `VACUUM (ANALYZE)`)
	return n, err
}

func seedPostgres(ctx context.Context, conn *pgxpool.Conn, b batch) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, t := range []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"patients", patientCols, b.patients}, {"plans", planCols, b.plans}, {"dose_instances", doseCols, b.doses},
			{"events", eventCols, b.events}, {"plan_fills", fillCols, b.fills},
		} {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.table}, t.cols, pgx.CopyFromRows(t.rows)); err != nil {
				return fmt.Errorf("copy %s: %w", t.table, err)
			}
		}
		return nil
	})
}

// seedSQLite inserts b in one transaction; firstDose is the id of its
// first dose instance.
func seedSQLite(ctx context.Context, d *db.DB, b batch, firstDose int64) error {
	doses := make([][]any, len(b.doses))
	for i, r := range b.doses {
		doses[i] = append([]any{firstDose + int64(i)}, r...)
	}
	return d.InTx(ctx, func(tx *db.Tx) error {
		for _, t := range []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"patients", patientCols, b.patients}, {"plans", planCols, b.plans}, {"dose_instances", append([]string{"id"}, doseCols...), doses},
			{"events", eventCols, b.events}, {"plan_fills", fillCols, b.fills},
		} {
			if err := insertRows(ctx, tx, t.table, t.cols, t.rows); err != nil {
				return fmt.Errorf("insert %s: %w", t.table, err)
			}
		}
		return nil
	})
}

// insertRows inserts rows with multi-row INSERTs of at most 100 rows.
func insertRows(ctx context.Context, tx *db.Tx, table string, cols []string, rows [][]any) error {
	const per = 100
	for lo := 0; lo < len(rows); lo += per {
		part := rows[lo:min(lo+per, len(rows))]
		var b strings.Builder
		fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", table, strings.Join(cols, ", "))
		args := make([]any, 0, len(part)*len(cols))
		for i, r := range part {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(db.Placeholders(db.SQLite, 1, len(cols)))
			args = append(args, r...)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// measure starts the API in this process and times each report.
func measure(ctx context.Context, d *db.DB, st *store.Store, al *audit.Log, orgID, key string, reps int, stdout io.Writer) error {
	logger := telemetry.NewLogger(io.Discard, slog.LevelInfo)
	base, stopAPI, err := adherenceapi.Start(d, st, al, logger)
	if err != nil {
		return err
	}
	defer stopAPI()
	client := &http.Client{Timeout: 10 * time.Minute}
	get := func(path string) error {
		req, err := http.NewRequestWithContext(ctx, "GET", base+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: status %d: %.300s", path, resp.StatusCode, body)
		}
		return nil
	}

	plans, err := samplePlans(ctx, d, orgID, reps+1)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	from := now.AddDate(0, 0, -30)
	day := func(t time.Time) string { return t.Format("2006-01-02") }
	fmt.Fprintf(stdout, "timings:            warm, %d requests each (in-process HTTP server unless noted)\n", reps)
	for _, r := range []struct {
		name string
		path func(p plan) string
	}{
		{"GET /v1/reports/adherence", func(plan) string { return "/v1/reports/adherence" }},
		{"store CohortCounts", nil},
		{"GET /v1/patients/{id}/adherence", func(p plan) string { return "/v1/patients/" + p.patient + "/adherence" }},
		{"GET /v1/plans/{id}/adherence", func(p plan) string { return "/v1/plans/" + p.id + "/adherence" }},
		{"GET /v1/patients/{id}/pdc", func(p plan) string {
			return "/v1/patients/" + p.patient + "/pdc?from=" + day(from) + "&to=" + day(now)
		}},
		{"GET /fhir/MedicationAdministration", func(p plan) string {
			return "/fhir/MedicationAdministration?" + url.Values{"patient": {p.patient}, "date": {"ge" + from.Format(time.RFC3339)}}.Encode()
		}},
	} {
		call := func(p plan) error {
			if r.path != nil {
				return get(r.path(p))
			}
			_, err := st.CohortCounts(ctx, orgID, time.Now().Add(-30*24*time.Hour), time.Now())
			return err
		}
		// The first request warms caches and connections: untimed.
		if err := call(plans[0]); err != nil {
			return err
		}
		var lat []time.Duration
		for i := range reps {
			t0 := time.Now()
			if err := call(plans[1+i]); err != nil {
				return err
			}
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		fmt.Fprintf(stdout, "  %-36s p50 %10s   max %10s\n", r.name, lat[(len(lat)-1)/2].Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
	}
	return nil
}

// plan is a seeded plan and its patient.
type plan struct{ id, patient string }

// samplePlans returns n plans of orgID spread over the whole org.
func samplePlans(ctx context.Context, d *db.DB, orgID string, n int) ([]plan, error) {
	rows, err := d.SQL.QueryContext(ctx, `SELECT id, patient_id FROM plans WHERE org_id = $1 ORDER BY id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("sample plans: %w", err)
	}
	defer rows.Close()
	var all []plan
	for rows.Next() {
		var p plan
		if err := rows.Scan(&p.id, &p.patient); err != nil {
			return nil, fmt.Errorf("sample plans: %w", err)
		}
		all = append(all, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sample plans: %w", err)
	}
	if len(all) == 0 {
		return nil, errors.New("sample plans: the org has none")
	}
	out := make([]plan, n)
	for i := range out {
		out[i] = all[(i*len(all)/n+len(all)/(2*n))%len(all)]
	}
	return out, nil
}
