package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/api"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/medsales/sample"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/debug"
	"github.com/medplatform/medplatform/internal/platform/health"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/jobs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/server"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// cmdServe runs the API (withAPI) and/or the job workers until ctx ends,
// then shuts down gracefully: readiness fails first, the listener keeps
// serving for SHUTDOWN_DRAIN, then in-flight requests finish, then the
// workers stop (a running load is cancelled and leaves the live data as
// it was).
func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, withAPI bool) (err error) {
	name, synopsis := "serve", "serve [--addr :8081] [--workers=true] [--migrate=true] [--sample N]"
	if !withAPI {
		name, synopsis = "worker", "worker [--addr :8081] [--migrate=true]"
	}
	fs := newFlags(name, synopsis, stderr)
	addr := fs.String("addr", "", "listen address (default LISTEN_ADDR or :8081); the worker serves only health and metrics")
	applyMigrations := fs.Bool("migrate", true, "apply pending migrations at start (PostgreSQL: guarded by an advisory lock)")
	runWorkers, sampleN := new(bool), new(int)
	*runWorkers = true
	if withAPI {
		fs.BoolVar(runWorkers, "workers", true, "run the job workers in this process")
		fs.IntVar(sampleN, "sample", 0, "when nothing is loaded yet: generate sample files for N providers, load them, then serve")
	}
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	// Refused as sample --providers refuses its value: the usage, then
	// the flag and the value quoted.
	if *sampleN < 0 {
		fs.Usage()
		return fmt.Errorf("--sample: must be a number of providers, or 0 for no sample; got %q", strconv.Itoa(*sampleN))
	}
	if *sampleN > sample.MaxProviders {
		fs.Usage()
		return fmt.Errorf("--sample: must be at most %d providers (NPIs repeat above); got %q", sample.MaxProviders, strconv.Itoa(*sampleN))
	}
	// A SQLite file that does not exist yet has every migration pending:
	// the workers would refuse it below, but opening it first created the
	// file (and ./data) only to refuse, leaving an empty database behind.
	if !*applyMigrations && *runWorkers {
		if err := requireSQLiteFile(getenv); err != nil {
			return err
		}
	}
	// The workers and the sample load write rejects files: a REJECTS_DIR
	// they could not write to is refused before the database is opened
	// (and created).
	if *runWorkers || *sampleN > 0 {
		if err := checkRejectsDirSetting(getenv); err != nil {
			return err
		}
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
	tp, shutdownTracing, err := telemetry.SetupTracing(ctx, telemetry.TracingConfig{ServiceName: "medsales", Logger: log}, getenv)
	if err != nil {
		return err
	}
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdownTracing(c)
	}()

	d, err := open(ctx, getenv, stderr, *applyMigrations)
	if err != nil {
		return err
	}
	defer d.close()
	// Without --migrate the API waits for the schema (readiness fails
	// until it is applied), but the job workers cannot start on an old or
	// empty one: River failed with "no such table: river_queue". A
	// database whose migrations all read as applied must be medsales's own.
	if !*applyMigrations {
		pending, err := migrate.Pending(ctx, d.db, migrationSets...)
		if err != nil {
			return err
		}
		if pending && *runWorkers {
			return fmt.Errorf("the database has migrations pending: run 'medsales migrate' first (the job workers need the schema), or start without --migrate=false")
		}
		if !pending {
			if err := requireOwnSchema(ctx, d.db); err != nil {
				return err
			}
			migrate.WarnIfNewer(ctx, d.db, d.logger, migrationSets...)
		}
	}
	d.db.Logger = log // Close warns there when it abandons connections stuck on a stalled database
	if err := debug.Serve(ctx, getenv("PPROF_ADDR"), log); err != nil {
		return err
	}
	prop := telemetry.NewPropagator()
	reg := telemetry.NewRegistry()
	httpMetrics, err := telemetry.NewHTTPMetrics(reg)
	if err != nil {
		return err
	}
	ingestMetrics, err := ingest.NewMetrics(reg, d.store)
	if err != nil {
		return err
	}
	svc := d.ingester(ingestMetrics)
	if *sampleN > 0 {
		if err := loadSampleIfEmpty(ctx, d, svc, *sampleN, stdout, log.With("command", name)); err != nil {
			return err
		}
		if ctx.Err() != nil {
			// Stopped (SIGTERM, Ctrl-C) during the sample load, which
			// logged what it left: a shutdown asked for, so the exit is
			// a clean one's, and there is nothing to serve.
			return nil
		}
	}

	checks := []health.Check{
		health.DatabaseCheck(d.db),
		health.DiskSpaceCheck(d.dataDir(), 1<<30),
		migrate.HealthCheck(d.db, time.Now, migrationSets...),
		ingest.FreshnessCheck(d.store, time.Now),
	}
	checker := health.New(checks, 2*time.Second, time.Now, log)

	workers := river.NewWorkers()
	river.AddWorker(workers, &ingest.Worker{Service: svc, DB: d.db, Logger: log})
	// Loads whose worker died are discarded within a minute or two
	// (ingest.DiscardDeadJobs), not left running for River's rescuer.
	river.AddWorker(workers, &ingest.DeadJobsWorker{Store: d.store, Now: time.Now, Logger: log})
	periodic := append(ingest.PeriodicJobs(d.settings.Schedule), ingest.DeadJobsPeriodic())
	jc, err := jobs.New(d.db, jobs.Config{Workers: workers, PeriodicJobs: periodic,
		RunWorkers: *runWorkers, MaxWorkers: 2, Logger: jobs.QuietLogger(log)})
	if err != nil {
		return err
	}
	reg.MustRegister(jobs.QueueCollector(d.db, "medsales"))

	var handler http.Handler
	if withAPI {
		handler = api.NewServer(api.Deps{
			Store: d.store, Health: checker, Registry: reg, HTTPMetrics: httpMetrics, Logger: log, Now: time.Now,
			Jobs: jc, IngestToken: d.settings.IngestToken, AllowedSources: d.settings.AllowedSources,
			Wrap: func(h http.Handler) http.Handler { return telemetry.HTTPHandler(h, tp, prop) },
		})
		handler = httpx.TrustedProxies(handler, d.settings.TrustedProxies)
	} else {
		handler = server.HealthOnly(checker, telemetry.MetricsHandler(reg), log, httpMetrics, true)
	}
	if err := ctx.Err(); err != nil {
		return err // asked to stop before serving: nothing to start
	}
	starting = false
	return server.Run(ctx, server.Config{
		Addr: *addr, Handler: handler, Health: checker, Jobs: jc, Drain: d.settings.ShutdownDrain, RequestTimeout: requestTimeout,
		Logger:  log.With("command", name),
		Started: []any{"dialect", string(d.db.Dialect), "workers", *runWorkers},
	})
}

// loadSampleIfEmpty is the quick start: on a database with nothing loaded
// it writes sample files for n providers in sampleDir and loads every
// dataset from them. On a database whose loads so far are all this
// sample's (the same files, the same rows: a quick start stopped midway)
// it loads the rest; any other data is left alone.
func loadSampleIfEmpty(ctx context.Context, d *deps, svc *ingest.Service, n int, stdout io.Writer, log *slog.Logger) error {
	latest, err := d.store.LatestLoads(ctx)
	if err != nil {
		return err
	}
	if len(latest) > 0 {
		if !sampleNamesOnly(latest) {
			fmt.Fprintln(stdout, "data already loaded: skipping the sample (see `medsales datasets`)")
			return nil
		}
		// The sample is written aside to be compared; nothing is written
		// where the quick start keeps its files unless it is resumed.
		tmp, err := os.MkdirTemp("", "medsales-sample-")
		if err != nil {
			return fmt.Errorf("compare with the sample: %w", err)
		}
		defer os.RemoveAll(tmp)
		files, err := writeSample(ctx, tmp, n, 1)
		if err != nil && ctx.Err() != nil {
			// Stopped while writing the sample to compare: the datasets
			// not loaded yet are left.
			loaded, left := []string{}, []string{}
			for _, ds := range sampleDatasets() {
				if _, ok := latest[medsales.Dataset(ds)]; ok {
					loaded = append(loaded, ds)
				} else {
					left = append(left, ds)
				}
			}
			sampleInterrupted(ctx, log, n, loaded, left)
			return nil
		}
		if err != nil {
			return err
		}
		rest := sampleRest(latest, files)
		if len(rest) == 0 {
			fmt.Fprintln(stdout, "data already loaded: skipping the sample (see `medsales datasets`)")
			return nil
		}
		fmt.Fprintf(stdout, "an earlier load of this sample stopped before the end: loading the %d datasets it left\n", len(rest))
		return loadSampleFiles(ctx, svc, rest, n, stdout, log)
	}
	dir := d.sampleDir()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	files, err := writeSample(ctx, dir, n, 1)
	if err != nil && ctx.Err() != nil {
		// Stopped while writing the sample: nothing is loaded.
		sampleInterrupted(ctx, log, n, []string{}, sampleDatasets())
		return nil
	}
	if err != nil {
		return err
	}
	// Where depends on DATABASE_URL (sampleDir): said, so that the files
	// can be found to read an NPI from.
	fmt.Fprintf(stdout, "wrote sample files for %d providers in %s\n", n, dir)
	return loadSampleFiles(ctx, svc, files, n, stdout, log)
}

// sampleInterrupted logs that the sample load of n providers was stopped
// (SIGTERM, Ctrl-C: an expected stop, so at WARN) with the datasets it
// loaded and those it left, which the next `serve --sample n` loads.
func sampleInterrupted(ctx context.Context, log *slog.Logger, n int, loaded, left []string) {
	log.WarnContext(ctx, "sample load interrupted",
		"loaded", loaded, "not_loaded", left,
		"resume", fmt.Sprintf("medsales serve --sample %d loads the datasets not loaded", n))
}

// sampleNamesOnly reports whether every dataset loaded came from a file
// named as the sample's are: only then is it worth writing a sample to
// compare (sampleRest), which a database of real data is spared.
func sampleNamesOnly(latest map[medsales.Dataset]store.Freshness) bool {
	names := map[string]bool{}
	for _, n := range []string{sample.GazetteerFile, sample.NUCCFile, sample.NPPESFile, sample.LocationsFile, sample.OtherNamesFile,
		sample.EndpointsFile, sample.PartBFile, sample.PartDFile, sample.OpenPaymentsFile} {
		names[n] = true
	}
	for _, l := range latest {
		if !names[l.SourceFile] {
			return false
		}
	}
	return true
}

// sampleRest returns the files of the sample that are not loaded yet when
// every dataset loaded is one of the sample's files (its name and its
// rows), and nothing otherwise: data from anywhere else is never mixed
// with the sample.
func sampleRest(latest map[medsales.Dataset]store.Freshness, files []sampleFile) []sampleFile {
	byDataset := map[medsales.Dataset]sampleFile{}
	for _, f := range files {
		byDataset[f.dataset] = f
	}
	for ds, l := range latest {
		f, ok := byDataset[ds]
		if !ok || filepath.Base(f.path) != l.SourceFile || int64(f.rows) != l.RecordCount {
			return nil
		}
	}
	var rest []sampleFile
	for _, f := range files {
		if _, loaded := latest[f.dataset]; !loaded && f.rows > 0 {
			rest = append(rest, f)
		}
	}
	return rest
}

// loadSampleFiles loads files (the sample of n providers) in order. A
// load stopped by the end of ctx (SIGTERM, Ctrl-C) is an expected stop,
// not an error: it is logged at WARN with the datasets loaded and those
// left, and nil is returned. The stopped load left the live data as it
// was, and the next `serve --sample n` loads the datasets left.
func loadSampleFiles(ctx context.Context, svc *ingest.Service, files []sampleFile, n int, stdout io.Writer, log *slog.Logger) error {
	loaded := []string{}
	// interrupted logs the stop before files[i] was loaded.
	interrupted := func(i int) {
		left := []string{}
		for _, f := range files[i:] {
			if f.rows > 0 {
				left = append(left, string(f.dataset))
			}
		}
		sampleInterrupted(ctx, log, n, loaded, left)
	}
	for i, f := range files {
		if ctx.Err() != nil {
			// Stopped before this load began (while the sample was
			// written, or between two loads): it is not started, only
			// to be refused and recorded as failed.
			interrupted(i)
			return nil
		}
		if f.rows == 0 {
			// A few providers may have no secondary location or other
			// name: a file of only a header fails its load (a full load
			// never empties a dataset), so it is not loaded at all.
			fmt.Fprintf(stdout, "skipped %-16s %8d rows  %s\n", f.dataset, 0, filepath.Base(f.path))
			continue
		}
		res, err := svc.Run(ctx, ingest.Request{Dataset: f.dataset, Source: f.path}, nil)
		if err != nil && ctx.Err() != nil {
			interrupted(i)
			return nil
		}
		if err != nil {
			return err
		}
		loaded = append(loaded, string(f.dataset))
		fmt.Fprintf(stdout, "loaded %-17s %8d rows  %s\n", f.dataset, res.Loaded, filepath.Base(f.path))
	}
	return nil
}
