package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/adherence/api"
	"github.com/medplatform/medplatform/internal/adherence/deliver"
	"github.com/medplatform/medplatform/internal/adherence/ingest"
	"github.com/medplatform/medplatform/internal/adherence/worker"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/debug"
	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/jobs"
	"github.com/medplatform/medplatform/internal/platform/keyrevoke"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/server"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// keyRevokedChannel is the Redis channel on which the API processes tell
// each other of revoked API keys (keyrevoke).
const keyRevokedChannel = "adherence:api-keys:revoked"

// ingestDrain bounds the commit of the adherence events and audit records
// still queued once the server has stopped. The requests that queued them
// have been answered or cut off by then (server.DefaultShutdownTimeout),
// so with a database that answers the queues are empty or commit in
// milliseconds; with one that has stalled they would wait 30 s a group.
// SHUTDOWN_DRAIN (5 s), the request and job budget (16 + 3 s), this and
// the database's close (at most 3 s, db.DefaultCloseTimeout) make 28 s,
// within the 30 s ECS gives a task between SIGTERM and SIGKILL.
const ingestDrain = time.Second

// cmdServe runs the API (withAPI) and/or the job workers until ctx ends,
// then shuts down gracefully: readiness fails first, the listener keeps
// serving in-flight and late requests for SHUTDOWN_DRAIN, then closes and
// waits for requests to finish, then the workers stop.
func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, withAPI bool) (err error) {
	name, synopsis := "serve", "serve [--addr :8080] [--workers=true] [--migrate=true]"
	if !withAPI {
		name, synopsis = "worker", "worker [--addr :8080] [--migrate=true]"
	}
	fs := newFlags(name, synopsis, stderr)
	addrHelp := "listen address of the API and its health and metrics (default LISTEN_ADDR or :8080)"
	if !withAPI {
		addrHelp = "listen address of health and metrics, all the worker serves (default LISTEN_ADDR or :8080)"
	}
	addr := fs.String("addr", "", addrHelp)
	// The worker command exists to run the workers: it has no --workers
	// flag, so --workers=false cannot be accepted there and ignored.
	runWorkers := true
	if withAPI {
		fs.BoolVar(&runWorkers, "workers", true, "run the job workers in this process")
	}
	applyMigrations := fs.Bool("migrate", true, "apply pending migrations at start (PostgreSQL: guarded by an advisory lock)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// Every setting that needs no database is read first: a bad one
	// fails before a SQLite file (and ./data) is created or migrations
	// are applied, leaving nothing behind.
	s, err := loadSettings(getenv)
	if err != nil {
		return err
	}
	if *addr == "" {
		*addr = s.ListenAddr
	}
	if err := server.CheckAddr(*addr); err != nil {
		return err
	}
	requestTimeout, err := server.RequestTimeout(getenv)
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(stderr, s.LogLevel)
	// A shutdown asked while the process starts is the stop asked, not a
	// failure, whatever step it cut short (server.StartCutShort).
	starting := true
	defer func() {
		if starting {
			err = server.StartCutShort(ctx, log, name, err)
		}
	}()
	tp, shutdownTracing, err := telemetry.SetupTracing(ctx, telemetry.TracingConfig{ServiceName: "adherence", Logger: log}, getenv)
	if err != nil {
		return err
	}
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdownTracing(c)
	}()
	prop := telemetry.NewPropagator()
	reg := telemetry.NewRegistry()
	httpMetrics, err := telemetry.NewHTTPMetrics(reg)
	if err != nil {
		return err
	}
	deliverMetrics := deliver.NewMetrics(reg)
	nt, err := newNotifier(ctx, getenv, stdout, log, deliverMetrics.AttemptObserver(log))
	if err != nil {
		return err
	}

	// A SQLite file that does not exist yet has every migration pending:
	// the workers would refuse it below, but opening it first created the
	// file (and ./data) only to refuse, leaving an empty database behind.
	if !*applyMigrations && runWorkers {
		if err := db.RequireSQLiteFile(s.DatabaseURL, "adherence migrate"); err != nil {
			return err
		}
	}
	d, err := connect(ctx, s, stderr, *applyMigrations)
	if err != nil {
		return err
	}
	defer d.close()
	if !*applyMigrations {
		if err := refuseMedsales(ctx, d.db); err != nil {
			return err
		}
		// The production services start so: a rollback is said here (with
		// --migrate, connect says it).
		migrate.WarnIfNewer(ctx, d.db, log, migrationSets...)
	}
	// Without --migrate the API waits for the schema (readiness fails
	// until it is applied), but the job workers cannot start on an old or
	// empty one: River failed with "no such table: river_queue".
	if !*applyMigrations && runWorkers {
		pending, err := migrate.Pending(ctx, d.db, migrationSets...)
		if err != nil {
			return err
		}
		if pending {
			return fmt.Errorf("the database has migrations pending: run 'adherence migrate' first (the job workers need the schema), or start without --migrate=false")
		}
	}
	d.db.Logger = log // Close warns there when it abandons connections stuck on a stalled database

	if err := debug.Serve(ctx, getenv("PPROF_ADDR"), log); err != nil {
		return err
	}
	checks := []health.Check{
		health.DatabaseCheck(d.db),
		health.DiskSpaceCheck(d.dataDir(), 512<<20),
	}
	if d.redis != nil {
		checks = append(checks, health.RedisCheck(d.redis))
	}
	checks = append(checks, migrate.HealthCheck(d.db, time.Now, migrationSets...), worker.EscalationHealthCheck(d.store, time.Now))
	checker := health.New(checks, 2*time.Second, time.Now, log)

	jobMetrics, err := worker.NewMetrics(reg)
	if err != nil {
		return err
	}
	deliverMetrics.Start(nt.router.Providers())
	deliverer := &deliver.Deliverer{Store: d.store, Sender: nt.router, Now: time.Now, Logger: log, Metrics: deliverMetrics,
		// Escalation messages link to the escalation under the public address.
		PublicURL: nt.publicURL}
	workers := river.NewWorkers()
	periodic := worker.Register(workers, d.store, time.Now, log, worker.Config{Metrics: jobMetrics})
	periodic = append(periodic, worker.RegisterReminders(workers, d.store, deliverer, time.Now, log, worker.RemindersConfig{})...)
	periodic = append(periodic, worker.RegisterReconcile(workers, d.store, nt.twilio, time.Now, log, reg, 0)...)
	// Only a process running the workers checkpoints the audit chain: an
	// API-only one has no use for the store (nor the AWS configuration).
	if runWorkers {
		blobs, err := d.blobStore(ctx)
		if err != nil {
			return err
		}
		periodic = append(periodic, worker.RegisterAuditCheckpoint(workers, d.audit, blobs, time.Now, log, d.settings.CheckpointInterval)...)
		// The console provider is the embedded default's: on PostgreSQL
		// (a deployment) a channel it serves, left to its default or
		// named, prints the reminders it records as sent, and the
		// patients are never reached (QA: an SMS fallback to push went to
		// the console and the API said sent).
		if d.db.Dialect == db.Postgres {
			for _, name := range nt.consoleEnvs {
				log.Warn(name + " uses the console provider: its messages are printed to standard output and recorded as sent, not delivered to anyone (set it to the real providers, or none to turn the channel off)")
			}
		}
		if blobs == nil {
			log.Warn("BLOB_URL is not set: audit checkpoints are not written, so a chain rewritten from some record on, head included, cannot be told from the real one (set BLOB_URL=s3://bucket/prefix)")
		}
	}
	escMetrics, err := worker.NewEscalationMetrics(reg, d.store, time.Now)
	if err != nil {
		return err
	}
	// Escalations resolved by API changes (a plan paused, a patient
	// deactivated) are counted as those the jobs resolve are.
	d.store.OnEscalationsResolved = escMetrics.CountResolved
	periodic = append(periodic, worker.RegisterEscalation(workers, d.store, time.Now, log, escMetrics, worker.EscalationConfig{})...)
	periodic = append(periodic, worker.RegisterOutboxPrune(workers, d.store, time.Now, log, d.settings.OutboxRetention)...)
	jc, err := jobs.New(d.db, jobs.Config{Workers: workers, PeriodicJobs: periodic, RunWorkers: runWorkers,
		MaxWorkers: d.settings.JobWorkers, Queues: map[string]int{worker.AuditQueue: 1}, Logger: jobs.QuietLogger(log), ErrorHandler: jobMetrics.ErrorHandler(),
		Middleware: []rivertype.Middleware{jobMetrics.Middleware()}})
	if err != nil {
		return err
	}
	// Reminders, escalation steps and deliveries are enqueued in the
	// transactions of the changes that cause them.
	d.store.Jobs = jc

	// Audited reads from concurrent requests share commits; so do
	// ingested events.
	ingestMetrics, err := ingest.NewMetrics(reg)
	if err != nil {
		return err
	}
	stopAudit := d.audit.StartGroupCommit(256)
	ingester := ingest.New(d.store, ingestMetrics, d.ingestMaxGroup())
	stopIngest := ingester.Start(d.ingestCommitters())
	defer func() {
		// Deferred after the HTTP server has shut down: what the group
		// committers still hold is committed within ingestDrain, in all;
		// with the database stalled it fails instead (its clients retry),
		// so that the process ends before ECS's SIGKILL.
		ctx, cancel := context.WithTimeout(context.Background(), ingestDrain)
		defer cancel()
		if err := stopIngest(ctx); err != nil {
			log.Warn("stopped before the queued adherence events were committed: their requests were answered with errors, and their clients retry them", "waited", ingestDrain.String())
		}
		if err := stopAudit(ctx); err != nil {
			log.Warn("stopped before the pending audit records were committed: their reads were answered with errors", "waited", ingestDrain.String())
		}
	}()
	// SMS dose replies are recorded through it too.
	d.store.Events = ingester
	reg.MustRegister(jobs.QueueCollector(d.db, "adherence"))

	var handler http.Handler
	if withAPI {
		webhooks, warning := nt.twilioWebhooks()
		if warning != "" {
			log.WarnContext(ctx, warning)
		}
		authn, err := auth.NewAuthenticator(auth.NewKeyCache(d.store, d.settings.KeyCacheTTL, time.Now), d.settings.OIDC, d.limiter(), time.Now)
		if err != nil {
			return err
		}
		// Limiter failures (the failed-auth budget off while Redis fails)
		// and failures to record a key's last use are logged.
		authn.Logger = log
		// What an OIDC token asserts (organization, subject) is checked
		// against the records, as an API key's subject is when it is made.
		authn.CheckOIDCSubject = d.store.CheckOIDCPrincipal
		// With Redis, a key revoked through one API process is forgotten
		// by every other at once (keyrevoke); without it, or should a
		// message be missed, when their cache entry expires.
		var onKeyRevoked func(context.Context, string)
		if d.redis != nil && d.settings.KeyCacheTTL > 0 {
			bus := keyrevoke.New(d.redis, keyRevokedChannel)
			stopBus, err := bus.Listen(ctx, authn.ForgetAPIKey)
			if err != nil {
				log.WarnContext(ctx, "until Redis answers, API key revocations of other processes take effect here when cached keys expire (API_KEY_CACHE_TTL)", "error", err)
			}
			defer stopBus()
			onKeyRevoked = func(ctx context.Context, keyID string) {
				if err := bus.Publish(ctx, keyID); err != nil {
					log.WarnContext(ctx, "the other API processes will refuse the revoked key when their cached entry expires (API_KEY_CACHE_TTL)", "error", err)
				}
			}
		}
		handler = api.NewServer(api.Deps{
			Store: d.store, Audit: d.audit, Auth: authn, Health: checker, Registry: reg, HTTPMetrics: httpMetrics, Logger: log, Now: time.Now,
			Ingest:                   ingester,
			Webhooks:                 webhooks,
			PublicURL:                nt.publicURL,
			WebhookAllowHTTP:         nt.webhookAllowHTTP,
			WebhookOff:               nt.webhookOff,
			OnKeyRevoked:             onKeyRevoked,
			OnEscalationAcknowledged: func(level int) { escMetrics.Count(worker.OutcomeAcknowledged, level, 1) },
			Wrap:                     func(h http.Handler) http.Handler { return telemetry.HTTPHandler(h, tp, prop) },
		})
		handler = httpx.TrustedProxies(handler, d.settings.TrustedProxies)
	} else {
		handler = server.HealthOnly(checker, telemetry.MetricsHandler(reg), log, httpMetrics, false)
	}
	if err := ctx.Err(); err != nil {
		return err // asked to stop before serving: nothing to start
	}
	starting = false
	return server.Run(ctx, server.Config{
		Addr: *addr, Handler: handler, Health: checker, Jobs: jc, Drain: d.settings.ShutdownDrain, RequestTimeout: requestTimeout,
		Logger:  log.With("command", name),
		Started: []any{"dialect", string(d.db.Dialect), "workers", runWorkers},
	})
}
