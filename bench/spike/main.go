// Command spike measures the 08:00 spike: N reminders (default 200,000)
// due in the same minute, dispatched through the real reminder pipeline to
// a loopback server that speaks the Twilio API with a fixed response time
// (default 20 ms).
//
// The pipeline runs in this process exactly as the adherence worker runs
// it: River workers (jobs.New with RunWorkers) for the reminder jobs of
// worker.RegisterReminders (arm, dispatch: armed doses whose remind_at has
// come → notification rows and their adherence.DeliverArgs jobs in the same
// transaction) and the DeliverWorker (deliver.Deliverer: claim, render,
// send through a notify.Router whose only route is SMS over twilio.Client,
// record). The dose-horizon and missed-dose jobs do not run. Store and
// workers use the wall clock.
//
// Seeding is timed apart: one org, N patients (distinct E.164 numbers, SMS
// consent, channel order sms, UTC, English) with one active plan each and
// one scheduled dose each, already armed (remind_at = due), due at T + i%60
// seconds, T a little ahead of the end of seeding (--lead). Seeding uses
// COPY on PostgreSQL and multi-row inserts in one transaction per batch on
// SQLite, then ANALYZE.
//
// It waits until every reminder's notification has reached a final state
// (or --timeout), then reads the notifications table: latency is
// accepted_at − due_at of each sent notification; messages/s is sent /
// (last accepted_at − T). It checks what the Twilio server accepted
// against the table (no message accepted twice, none lost) and prints the
// SLO verdict: every reminder accepted within 180 s of its due time, goal
// p99 ≤ 60 s.
//
// PostgreSQL (--fresh drops and recreates the database named in the URL
// through the postgres database; without it the database must be empty):
//
//	go run ./bench/spike --fresh --database-url postgres://postgres@127.0.0.1:5432/bench_spike
//
// SQLite (--fresh deletes the file first):
//
//	go run ./bench/spike --fresh --database-url sqlite:/tmp/spike.db
//
// The defaults are those of `adherence serve`: 50 River workers
// (JOB_WORKERS), the deliverer's 16 messages in flight per job, db.Open's
// pool of 20, and a provider HTTP client keeping 500 idle connections per
// host. Flags: --reminders 200000, --max-workers 50, --concurrency 16,
// --max-conns (0: db.Open's default), --twilio-idle-conns 500 (0: the
// Twilio client's own default HTTP client, which keeps 2 per host),
// --dispatch-interval 1s, --latency 20ms, --spread 60s, --lead 20s,
// --timeout 10m, --cpuprofile FILE (profile of the measured part),
// --verbose (the workers' info logs). bench/spike/README.md has the
// figures measured.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/adherence/deliver"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/adherence/worker"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/jobs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/notify"
	"github.com/medplatform/medplatform/internal/platform/notify/twilio"
	"github.com/medplatform/medplatform/internal/platform/notify/twilio/twiliotest"
)

// The service level: every reminder accepted by the provider within slo
// of its due time; the goal is a p99 within goal.
const (
	slo  = 180 * time.Second
	goal = 60 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "spike:", err)
		os.Exit(1)
	}
}

// config holds the benchmark's flags.
type config struct {
	url, cpuProfile           string
	reminders                 int
	maxWorkers, concurrency   int
	maxConns, twilioIdle      int
	dispatchInterval, latency time.Duration
	spread, lead, timeout     time.Duration
	fresh, verbose            bool
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("spike", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.url, "database-url", "", "database URL: postgres://… or sqlite:path; not read from $DATABASE_URL on purpose")
	fs.BoolVar(&c.fresh, "fresh", false, "PostgreSQL: drop and recreate the database named in the URL; SQLite: delete the file first")
	fs.IntVar(&c.reminders, "reminders", 200000, "reminders due in the spike (one patient, plan and dose each)")
	fs.IntVar(&c.maxWorkers, "max-workers", 50, "River workers (jobs.Config.MaxWorkers; cmd/adherence's JOB_WORKERS default is 50)")
	fs.IntVar(&c.concurrency, "concurrency", 16, "messages in flight per delivery job (deliver.Deliverer.Concurrency)")
	fs.IntVar(&c.maxConns, "max-conns", 0, "PostgreSQL pool size (0: db.Open's default)")
	fs.IntVar(&c.twilioIdle, "twilio-idle-conns", 500, "idle HTTP connections kept per host to the Twilio API (500: as cmd/adherence's provider HTTP client; 0: the twilio client's own default client, 2 per host)")
	fs.DurationVar(&c.dispatchInterval, "dispatch-interval", time.Second, "period of the dispatch_reminders job")
	fs.DurationVar(&c.latency, "latency", 20*time.Millisecond, "response time of the fake Twilio API")
	fs.DurationVar(&c.spread, "spread", 60*time.Second, "due times are T + i mod spread (whole seconds)")
	fs.DurationVar(&c.lead, "lead", 20*time.Second, "T is this long after the patients and plans are seeded (the doses are seeded after T is fixed)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "give up waiting for final states this long after T")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured part (from the workers' start) to this file")
	fs.BoolVar(&c.verbose, "verbose", false, "print the workers' info logs")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.url == "":
		return c, errors.New("--database-url is required")
	case c.reminders < 1 || c.maxWorkers < 1 || c.concurrency < 1:
		return c, errors.New("--reminders, --max-workers and --concurrency must be at least 1")
	case c.spread < time.Second || c.dispatchInterval <= 0 || c.lead < 0 || c.timeout <= 0:
		return c, errors.New("--spread ≥ 1s, --dispatch-interval > 0, --lead ≥ 0 and --timeout > 0 are required")
	}
	return c, nil
}

func isPostgres(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if c.fresh {
		if err := recreate(ctx, c.url); err != nil {
			return fmt.Errorf("fresh database: %w", err)
		}
	}
	d, err := db.Open(ctx, c.url, db.Options{MaxConns: int32(c.maxConns)})
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

	conns := "twilio client default (http.DefaultTransport: 2 idle per host)"
	if c.twilioIdle > 0 {
		conns = fmt.Sprintf("%d idle per host", c.twilioIdle)
	}
	fmt.Fprintf(stdout, "engine=%s reminders=%d spread=%s max-workers=%d concurrency=%d dispatch-interval=%s latency=%s twilio-conns=%s cores=%d GOMAXPROCS=%d\n",
		d.Dialect, c.reminders, c.spread, c.maxWorkers, c.concurrency, c.dispatchInterval, c.latency, conns, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Fprintf(stdout, "load average at start: %s\n", loadAvg())

	// 1. Seed (not part of the figure).
	logger := newLogger(stderr, c.verbose)
	st := store.New(d, audit.New(d, nil, nil), time.Now)
	t0 := time.Now()
	seeded, err := seedPeople(ctx, d, st, c.reminders)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	peopleDur := time.Since(t0)
	T := time.Now().UTC().Add(c.lead).Truncate(time.Second).Add(time.Second)
	t1 := time.Now()
	if err := seedDoses(ctx, d, seeded, T, c.spread); err != nil {
		return fmt.Errorf("seed doses: %w", err)
	}
	if _, err := d.SQL.ExecContext(ctx, `ANALYZE`); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	fmt.Fprintf(stdout, "seeded: %d patients and plans in %.1fs, %d armed doses + ANALYZE in %.1fs; T = %s\n",
		c.reminders, peopleDur.Seconds(), c.reminders, time.Since(t1).Seconds(), T.Format(time.RFC3339))

	// 2. The pipeline.
	srv, err := twiliotest.New(twiliotest.Options{Latency: c.latency})
	if err != nil {
		return err
	}
	defer srv.Close()
	tcfg := twilio.Config{
		BaseURL: srv.URL, AccountSID: srv.AccountSID, AuthToken: srv.AuthToken, From: "+15005550006",
		// Never called back: it only carries each notification's id (nid),
		// which the server counts per accepted message.
		StatusCallback: "http://127.0.0.1:9/v1/webhooks/twilio/status",
	}
	if c.twilioIdle > 0 {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 2*c.twilioIdle, c.twilioIdle
		tcfg.HTTPClient = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	tc, err := twilio.New(tcfg)
	if err != nil {
		return err
	}
	// Metrics as cmd/adherence wires them, on a registry of our own.
	reg := prometheus.NewRegistry()
	deliverMetrics := deliver.NewMetrics(reg)
	jobMetrics, err := worker.NewMetrics(reg)
	if err != nil {
		return err
	}
	router, err := notify.NewRouter(notify.RouterConfig{Routes: map[notify.Channel][]notify.Route{notify.SMS: {{Provider: tc}}},
		Observe: deliverMetrics.ObserveAttempt})
	if err != nil {
		return err
	}
	dl := &deliver.Deliverer{Store: st, Sender: router, Now: time.Now, Logger: logger, Metrics: deliverMetrics, Concurrency: c.concurrency}
	workers := river.NewWorkers()
	periodic := worker.RegisterReminders(workers, st, dl, time.Now, logger,
		worker.RemindersConfig{DispatchInterval: c.dispatchInterval})
	jc, err := jobs.New(d, jobs.Config{Workers: workers, PeriodicJobs: periodic, RunWorkers: true, MaxWorkers: c.maxWorkers,
		Logger: jobs.QuietLogger(logger), ErrorHandler: jobMetrics.ErrorHandler()})
	if err != nil {
		return err
	}
	st.Jobs = jc

	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cpu0 := readCPU()
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	if err := jc.Start(runCtx); err != nil {
		return err
	}
	stopped := false
	stopJobs := func() {
		if stopped {
			return
		}
		stopped = true
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := jc.Stop(sctx); err != nil {
			fmt.Fprintln(stderr, "spike: stop workers:", err)
		}
	}
	defer stopJobs()
	if lead := time.Until(T); lead > 0 {
		fmt.Fprintf(stdout, "workers started %.1fs before T\n", lead.Seconds())
	} else {
		fmt.Fprintf(stdout, "WARNING: workers started %.1fs after T (raise --lead): the backlog counts against the figure\n", -lead.Seconds())
	}

	// 3. Wait for every notification to reach a final state.
	done, err := wait(ctx, d, srv, c, T, stdout)
	if err != nil {
		return err
	}
	cpu1 := readCPU()
	stopJobs()
	cancelRun()
	if !done {
		fmt.Fprintf(stdout, "TIMEOUT: not every reminder reached a final state within %s of T\n", c.timeout)
	}
	fmt.Fprintf(stdout, "CPU during the run: %s\n", cpu1.since(cpu0))
	return report(ctx, d, srv, c, T, stdout)
}

// recreate drops and recreates the PostgreSQL database named in rawURL
// (through the postgres database), or deletes the SQLite file.
func recreate(ctx context.Context, rawURL string) error {
	if !isPostgres(rawURL) {
		path := rawURL
		for _, p := range []string{"sqlite://", "sqlite:", "file:"} {
			if strings.HasPrefix(path, p) {
				path = strings.TrimPrefix(path, p)
				break
			}
		}
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return errors.New("not a valid PostgreSQL URL")
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || name == "postgres" {
		return errors.New("--fresh needs a database name other than postgres in the URL")
	}
	u.Path = "/postgres"
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+ident+` WITH (FORCE)`); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `CREATE DATABASE `+ident)
	return err
}

func requireEmpty(ctx context.Context, d *db.DB) error {
	var n int
	if err := d.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM patients`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return errors.New("the database is not empty: use --fresh, or an empty database")
	}
	return nil
}

// seeded is what the dose seeding needs of the people seeded.
type seeded struct {
	org             string
	patients, plans []string
}

// Seeded columns. Timestamps are bound as time.Time through the engine's
// own driver, as the store binds them.
var (
	patientCols = []string{"id", "org_id", "given_name", "family_name", "phone", "time_zone", "language",
		"wake", "breakfast", "lunch", "dinner", "bed", "sms_consent", "channel_order", "active", "created_at", "updated_at", "version"}
	planCols = []string{"id", "org_id", "patient_id", "rxnorm", "rxnorm_display", "timing", "status", "start_at",
		"generated_until", "created_at", "updated_at", "version"}
	doseCols = []string{"org_id", "patient_id", "plan_id", "seq", "due_at", "local_time", "status", "created_at", "remind_at"}
)

// seedBatch is the rows per seeding transaction.
const seedBatch = 20000

// seedPeople creates the org (through the store) and the patients with
// one active plan each, whose horizon is already generated (the horizon
// job would add nothing).
func seedPeople(ctx context.Context, d *db.DB, st *store.Store, n int) (seeded, error) {
	org, err := st.CreateOrg(ctx, "Spike")
	if err != nil {
		return seeded{}, err
	}
	s := seeded{org: org.ID, patients: make([]string, n), plans: make([]string, n)}
	now := db.UTC(time.Now())
	until := now.Add(store.DefaultHorizon + 24*time.Hour)
	timing := `{"repeat":{"timeOfDay":["08:00:00"]}}`
	for lo := 0; lo < n; lo += seedBatch {
		hi := min(lo+seedBatch, n)
		pats, plans := make([][]any, 0, hi-lo), make([][]any, 0, hi-lo)
		for i := lo; i < hi; i++ {
			s.patients[i], s.plans[i] = uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()
			pats = append(pats, []any{s.patients[i], s.org, "Pat" + strconv.Itoa(i), "Spike", phone(i), "UTC", "en",
				"07:00", "07:30", "12:00", "18:00", "22:00", true, "sms", true, now, now, 1})
			plans = append(plans, []any{s.plans[i], s.org, s.patients[i], "314076", "lisinopril 10 MG Oral Tablet", timing, "active",
				now.Add(-24 * time.Hour), until, now, now, 1})
		}
		if err := insert(ctx, d, "patients", patientCols, pats); err != nil {
			return s, err
		}
		if err := insert(ctx, d, "plans", planCols, plans); err != nil {
			return s, err
		}
	}
	return s, nil
}

// phone returns the i-th distinct E.164 number (+1 617 … from +16170000000).
func phone(i int) string { return fmt.Sprintf("+1617%07d", i) }

// seedDoses adds one scheduled, armed dose per plan, due at T + i mod
// spread (whole seconds).
func seedDoses(ctx context.Context, d *db.DB, s seeded, T time.Time, spread time.Duration) error {
	now := db.UTC(time.Now())
	secs := int(spread / time.Second)
	for lo := 0; lo < len(s.plans); lo += seedBatch {
		hi := min(lo+seedBatch, len(s.plans))
		rows := make([][]any, 0, hi-lo)
		for i := lo; i < hi; i++ {
			due := T.Add(time.Duration(i%secs) * time.Second)
			rows = append(rows, []any{s.org, s.patients[i], s.plans[i], 1, due, due.Format("2006-01-02T15:04"), "scheduled", now, due})
		}
		if err := insert(ctx, d, "dose_instances", doseCols, rows); err != nil {
			return err
		}
	}
	return nil
}

// insert writes rows in one transaction: COPY on PostgreSQL, multi-row
// INSERTs of 100 rows on SQLite.
func insert(ctx context.Context, d *db.DB, table string, cols []string, rows [][]any) error {
	if d.Dialect == db.Postgres {
		return pgx.BeginFunc(ctx, d.Pool, func(tx pgx.Tx) error {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
			return err
		})
	}
	return d.InTx(ctx, func(tx *db.Tx) error {
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
				// Anonymous placeholders: the SQLite driver looks $n names up
				// linearly for every parameter.
				b.WriteString("(" + strings.Repeat("?, ", len(cols)-1) + "?)")
				args = append(args, r...)
			}
			if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
				return fmt.Errorf("insert %s: %w", table, err)
			}
		}
		return nil
	})
}

// wait polls until every reminder has a notification in a final state, or
// the timeout. Progress comes from the fake server's counter (free); the
// database is asked only when the server has accepted them all, or every
// 10 s, so polling does not compete with the pipeline for SQLite's single
// connection.
func wait(ctx context.Context, d *db.DB, srv *twiliotest.Server, c config, T time.Time, stdout io.Writer) (bool, error) {
	deadline := T.Add(c.timeout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastPrint, lastDB := time.Now(), time.Now()
	prev := 0
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-tick.C:
		}
		acc := srv.Accepted()
		if time.Since(lastPrint) >= 10*time.Second {
			el := time.Since(lastPrint).Seconds()
			fmt.Fprintf(stdout, "  T%+4.0fs accepted=%d (%.0f/s over the last %.0fs)\n", time.Since(T).Seconds(), acc, float64(acc-prev)/el, el)
			lastPrint, prev = time.Now(), acc
		}
		if acc >= c.reminders || time.Since(lastDB) >= 10*time.Second {
			lastDB = time.Now()
			total, pending, err := pendingCount(ctx, d)
			if err != nil {
				return false, err
			}
			if total >= c.reminders && pending == 0 {
				return true, nil
			}
		}
		if time.Now().After(deadline) {
			return false, nil
		}
	}
}

// pendingCount returns how many notifications exist and how many are not
// in a final state yet.
func pendingCount(ctx context.Context, d *db.DB) (total, pending int, err error) {
	err = d.SQL.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN status IN ('queued', 'retrying', 'claimed', 'sending') THEN 1 ELSE 0 END), 0)
		FROM notifications`).Scan(&total, &pending)
	return total, pending, err
}

// report prints the figures from the notifications table and the checks
// against what the fake Twilio server accepted.
func report(ctx context.Context, d *db.DB, srv *twiliotest.Server, c config, T time.Time, stdout io.Writer) error {
	rows, err := d.SQL.QueryContext(ctx, `SELECT status, reason, COUNT(*) FROM notifications GROUP BY status, reason ORDER BY status, reason`)
	if err != nil {
		return err
	}
	total, sentRows := 0, 0
	var states []string
	for rows.Next() {
		var status, reason string
		var n int
		if err := rows.Scan(&status, &reason, &n); err != nil {
			rows.Close()
			return err
		}
		total += n
		if status == store.NotificationSent {
			sentRows += n
		}
		if reason != "" {
			status += "/" + reason
		}
		states = append(states, fmt.Sprintf("%s=%d", status, n))
	}
	if err := rows.Close(); err != nil {
		return err
	}
	// SQLite: NOT IN, not a correlated NOT EXISTS: notifications has no
	// index on dose_instance_id, and SQLite would scan it once per dose.
	// PostgreSQL: NOT EXISTS, an anti-join: a NOT IN whose list outgrows
	// work_mem is checked row by row against the whole list (quadratic; it
	// ran for over 8 minutes at 200,000).
	q := `SELECT COUNT(*) FROM dose_instances
		WHERE id NOT IN (SELECT dose_instance_id FROM notifications WHERE dose_instance_id IS NOT NULL)`
	if d.Dialect == db.Postgres {
		q = `SELECT COUNT(*) FROM dose_instances d
		WHERE NOT EXISTS (SELECT 1 FROM notifications n WHERE n.dose_instance_id = d.id)`
	}
	var unnotified int
	if err := d.SQL.QueryRowContext(ctx, q).Scan(&unnotified); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "notifications: %d (%s); doses without a notification: %d\n", total, strings.Join(states, " "), unnotified)

	rows, err = d.SQL.QueryContext(ctx, `SELECT id, due_at, created_at, accepted_at FROM notifications WHERE status = 'sent' AND accepted_at IS NOT NULL`)
	if err != nil {
		return err
	}
	var lat, dispatchLag, sendLag []time.Duration
	sentIDs := make(map[string]bool, sentRows)
	var lastAccepted, lastCreated time.Time
	for rows.Next() {
		var id int64
		var due, created, accepted time.Time
		if err := rows.Scan(&id, &due, &created, &accepted); err != nil {
			rows.Close()
			return err
		}
		sentIDs[strconv.FormatInt(id, 10)] = true
		lat = append(lat, accepted.Sub(due))
		dispatchLag = append(dispatchLag, created.Sub(due))
		sendLag = append(sendLag, accepted.Sub(created))
		if accepted.After(lastAccepted) {
			lastAccepted = accepted
		}
		if created.After(lastCreated) {
			lastCreated = created
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}

	deliveries := srv.Deliveries()
	dups, lost, extra := 0, 0, 0
	for nid, n := range deliveries {
		if n > 1 {
			dups += n - 1
		}
		if !sentIDs[nid] {
			extra++ // accepted by the provider, not recorded as sent
		}
	}
	for id := range sentIDs {
		if deliveries[id] == 0 {
			lost++ // recorded as sent, never accepted
		}
	}
	accepted := srv.Accepted()
	fmt.Fprintf(stdout, "twilio accepted: %d messages, %d distinct nids; sent rows: %d\n", accepted, len(deliveries), len(sentIDs))
	fmt.Fprintf(stdout, "duplicates: %d, lost: %d (sent rows the server never accepted), unrecorded: %d (accepted, not recorded as sent), accepted == sent rows: %t\n",
		dups, lost, extra, accepted == len(sentIDs))

	if len(lat) == 0 {
		fmt.Fprintln(stdout, "no notification was sent")
		fmt.Fprintf(stdout, "within 180 s: 0 of %d (SLO: all) MISS\n", c.reminders)
		return nil
	}
	fmt.Fprintf(stdout, "latency accepted_at − due_at: p50=%s p99=%s max=%s\n", secs(pct(lat, 0.50)), secs(pct(lat, 0.99)), secs(pct(lat, 1)))
	fmt.Fprintf(stdout, "  dispatch lag created_at − due_at: p50=%s p99=%s max=%s (last notification created at T%+.1fs)\n",
		secs(pct(dispatchLag, 0.50)), secs(pct(dispatchLag, 0.99)), secs(pct(dispatchLag, 1)), lastCreated.Sub(T).Seconds())
	fmt.Fprintf(stdout, "  send lag accepted_at − created_at: p50=%s p99=%s max=%s\n", secs(pct(sendLag, 0.50)), secs(pct(sendLag, 0.99)), secs(pct(sendLag, 1)))
	span := lastAccepted.Sub(T)
	fmt.Fprintf(stdout, "throughput: %d sent in %.1fs (T to last accepted_at) = %.0f messages/s\n", len(lat), span.Seconds(), float64(len(lat))/span.Seconds())
	within := 0
	for _, l := range lat {
		if l <= slo {
			within++
		}
	}
	verdict := "PASS"
	if within < c.reminders {
		verdict = "MISS"
	}
	fmt.Fprintf(stdout, "within 180 s: %d of %d (SLO: all) %s\n", within, c.reminders, verdict)
	yes := "no"
	if len(lat) == c.reminders && pct(lat, 0.99) <= goal {
		yes = "yes"
	}
	fmt.Fprintf(stdout, "p99 ≤ 60 s: %s\n", yes)
	return nil
}

// pct returns the q-quantile of ds (sorted in place), nearest rank.
func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	if !slices.IsSorted(ds) {
		slices.Sort(ds)
	}
	i := int(q*float64(len(ds))+0.999999) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// newLogger logs warnings (info with verbose) to w.
func newLogger(w io.Writer, verbose bool) *slog.Logger {
	lvl := slog.LevelWarn
	if verbose {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(&syncWriter{w: w}, &slog.HandlerOptions{Level: lvl}))
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// cpuSample is this process's CPU time and the machine's busy and total
// jiffies.
type cpuSample struct {
	at          time.Time
	proc        time.Duration
	busy, total uint64
}

func readCPU() cpuSample {
	s := cpuSample{at: time.Now()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.proc = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		for i, v := range f[1:] {
			n, _ := strconv.ParseUint(v, 10, 64)
			s.total += n
			if i != 3 && i != 4 { // idle, iowait
				s.busy += n
			}
		}
	}
	return s
}

// since describes the CPU used between two samples (100% = one core).
func (s cpuSample) since(a cpuSample) string {
	wall := s.at.Sub(a.at).Seconds()
	machine := 0.0
	if s.total > a.total {
		machine = float64(s.busy-a.busy) / float64(s.total-a.total) * float64(runtime.NumCPU()) * 100
	}
	return fmt.Sprintf("%.0fs wall; this process %.0f%% of a core, whole machine %.0f%% (of %d00%%)",
		wall, (s.proc-a.proc).Seconds()/wall*100, machine, runtime.NumCPU())
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
