package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/medsales/source"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/config"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/debug"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// settings is the process configuration read from the environment.
type settings struct {
	DatabaseURL   string
	ListenAddr    string
	LogLevel      slog.Level
	ShutdownDrain time.Duration
	IngestToken   string
	// AllowedSources are the prefixes a source given to POST /v1/ingestions
	// must start with (INGEST_ALLOWED_SOURCES, comma-separated; default
	// "s3://"): the API must not make the worker read any path or URL.
	AllowedSources []string
	RejectsDir     string
	// Schedule are the periodic loads (INGEST_SCHEDULE).
	Schedule    []ingest.ScheduleEntry
	GeocoderURL string
	S3Endpoint  string
	// TrustedProxies are the load balancers whose X-Forwarded-For names
	// the client (TRUSTED_PROXIES), for the ingestion token's failure
	// budget; empty trusts none.
	TrustedProxies []netip.Prefix
}

const defaultDatabaseURL = "sqlite:data/medsales.db"

func loadSettings(getenv func(string) string) (settings, error) {
	env := config.Env{Getenv: getenv}
	var (
		s   settings
		err error
	)
	if s.DatabaseURL, err = env.String("DATABASE_URL", defaultDatabaseURL); err != nil {
		return s, err
	}
	if s.DatabaseURL, err = db.URLSetting(s.DatabaseURL, defaultDatabaseURL); err != nil {
		return s, err
	}
	if s.ListenAddr, err = listenAddr(env); err != nil {
		return s, err
	}
	// Read where they are used (PPROF_ADDR by serve, worker and ingest;
	// GOGC by the Go runtime), but checked here with the others, before
	// anything is opened or migrated: a bad PPROF_ADDR was refused only
	// after migrations had run, and a GOGC the runtime cannot parse was
	// ignored without a word (QA).
	if err := debug.CheckAddr(getenv("PPROF_ADDR")); err != nil {
		return s, err
	}
	if err := config.CheckGOGC(getenv); err != nil {
		return s, err
	}
	lvl, err := env.String("LOG_LEVEL", "info")
	if err != nil {
		return s, err
	}
	if s.LogLevel, err = telemetry.ParseLevel(lvl); err != nil {
		return s, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	if s.ShutdownDrain, err = env.Duration("SHUTDOWN_DRAIN", 5*time.Second); err != nil {
		return s, err
	}
	if s.ShutdownDrain < 0 {
		return s, fmt.Errorf("SHUTDOWN_DRAIN must be 0s or more (0s closes the listener at once), got %s", s.ShutdownDrain)
	}
	if s.IngestToken, err = env.String("INGEST_API_TOKEN", ""); err != nil {
		return s, err
	}
	allowed, err := env.String("INGEST_ALLOWED_SOURCES", "s3://")
	if err != nil {
		return s, err
	}
	for _, p := range strings.Split(allowed, ",") {
		if p = strings.TrimSpace(p); p != "" {
			if err := source.CheckPrefix(p); err != nil {
				return s, fmt.Errorf("INGEST_ALLOWED_SOURCES: %w", err)
			}
			s.AllowedSources = append(s.AllowedSources, p)
		}
	}
	if len(s.AllowedSources) == 0 {
		// Only commas and spaces: the server would start and refuse every
		// source with a 403 that names this setting.
		return s, fmt.Errorf("INGEST_ALLOWED_SOURCES names no prefix (only commas and spaces): name at least one, such as s3://bucket/, or unset it for the default s3://")
	}
	schedule, err := env.String("INGEST_SCHEDULE", "")
	if err != nil {
		return s, err
	}
	if s.Schedule, err = ingest.ParseSchedule(schedule); err != nil {
		return s, err
	}
	if s.RejectsDir, err = env.String("REJECTS_DIR", filepath.Join("data", "rejects")); err != nil {
		return s, err
	}
	if s.GeocoderURL, err = env.String("GEOCODER_URL", ""); err != nil {
		return s, err
	}
	if s.S3Endpoint, err = env.String("AWS_ENDPOINT_URL_S3", ""); err != nil {
		return s, err
	}
	// Checked here, so that a typo fails startup rather than every
	// scheduled load or geocoding run hours later.
	for name, v := range map[string]string{"GEOCODER_URL": s.GeocoderURL, "AWS_ENDPOINT_URL_S3": s.S3Endpoint} {
		if u, err := url.Parse(v); v != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			return s, fmt.Errorf("%s must be an absolute http(s) URL such as https://host:port", name)
		}
	}
	proxies, err := env.String("TRUSTED_PROXIES", "")
	if err != nil {
		return s, err
	}
	if s.TrustedProxies, err = httpx.ParseTrustedProxies(proxies); err != nil {
		return s, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	return s, nil
}

// listenAddr is the address serve listens on (LISTEN_ADDR or
// LISTEN_ADDR_FILE, default :8081); healthcheck probes the same one, so
// both read it here.
func listenAddr(env config.Env) (string, error) {
	return env.String("LISTEN_ADDR", ":8081")
}

// migrationSets are the schema of the product.
var migrationSets = []migrate.Set{store.Migrations}

// deps are the long-lived collaborators shared by the commands.
type deps struct {
	settings settings
	logger   *slog.Logger
	db       *db.DB
	store    *store.Store
}

// sqlitePageSize is the page size of a new embedded database: 16 KiB
// rather than SQLite's 4. The national files are loaded in bulk and their
// indexes built by scanning whole tables, a quarter as many pages of them.
// bench/ingest, 1,000,000 NPPES records into SQLite, two runs one after
// the other on an idle machine: 59,082 rows/s with 16 KiB pages (read 6.2
// s, index builds and swap 10.6 s), 54,543 with 4 KiB (7.3 s, 10.9 s); in
// three alternating pairs on a loaded machine 16 KiB was 20-25% faster
// each time. The provider profile reads (bench/profile, 300,000
// providers) showed no consistent difference: each page size was ahead
// in one of two pairs of runs.
const sqlitePageSize = 16384

// open connects to the database (applying migrations when asked) and
// builds the store.
func open(ctx context.Context, getenv func(string) string, stderr io.Writer, applyMigrations bool) (*deps, error) {
	s, err := loadSettings(getenv)
	if err != nil {
		return nil, err
	}
	logger := telemetry.NewLogger(stderr, s.LogLevel)
	d, err := db.Open(ctx, s.DatabaseURL, db.Options{SQLitePageSize: sqlitePageSize})
	if err != nil {
		return nil, err
	}
	d.Logger = logger // the migrations' lock waits, Close's warning
	if applyMigrations {
		if _, err := applySchema(ctx, d, logger); err != nil {
			d.Close()
			return nil, err
		}
		migrate.WarnIfNewer(ctx, d, logger, migrationSets...)
	}
	return &deps{settings: s, logger: logger, db: d, store: store.New(d)}, nil
}

func (d *deps) close() { d.db.Close() }

// applySchema applies pending migrations and, on PostgreSQL, turns on the
// PostGIS geometry column when the extension is available.
func applySchema(ctx context.Context, d *db.DB, logger *slog.Logger) (int, error) {
	n, err := migrate.Up(ctx, d, migrationSets...)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		logger.InfoContext(ctx, "migrations applied", "count", n, "dialect", string(d.Dialect))
	}
	if err := requireOwnSchema(ctx, d); err != nil {
		return n, err
	}
	if d.Dialect == db.Postgres {
		on, err := store.New(d).EnablePostGIS(ctx)
		if err != nil {
			return n, err
		}
		if on {
			logger.DebugContext(ctx, "geo columns", "postgis", on)
		} else {
			// Worth an operator's notice: radius searches fall back to the
			// plain latitude/longitude columns.
			logger.InfoContext(ctx, "geo columns", "postgis", on)
		}
	}
	return n, nil
}

// requireOwnSchema fails when the database, its migrations recorded as
// applied, has no medsales table: goose's version table is shared by both
// products, so the adherence database, whose versions go beyond
// medsales's, reads as fully migrated and would be served without a
// single medsales table.
func requireOwnSchema(ctx context.Context, d *db.DB) error {
	ok, err := hasOwnSchema(ctx, d)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("the database is not a medsales database: its migrations are recorded as applied but it has no dataset_versions table (another product's database, adherence's?); give medsales a database of its own")
	}
	return nil
}

// hasOwnSchema reports whether the database has medsales's tables (its
// dataset_versions table), reading only.
func hasOwnSchema(ctx context.Context, d *db.DB) (bool, error) {
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'dataset_versions'`
	if d.Dialect == db.Postgres {
		q = `SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = 'dataset_versions'`
	}
	var n int
	if err := d.SQL.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return false, fmt.Errorf("check the medsales schema: %w", err)
	}
	return n > 0, nil
}

// ingester builds the ingestion service.
func (d *deps) ingester(metrics *ingest.Metrics) *ingest.Service {
	return &ingest.Service{
		Store: d.store, Logger: d.logger, Metrics: metrics, Now: time.Now,
		Source:     source.Options{S3Endpoint: d.settings.S3Endpoint, Logger: d.logger},
		RejectsDir: d.settings.RejectsDir,
	}
}

// dataDir is where disk space is watched: the SQLite file's directory, or
// the working directory on PostgreSQL (temp files, rejects, logs).
func (d *deps) dataDir() string {
	if d.db.File != "" {
		return filepath.Dir(d.db.File)
	}
	return "."
}

// sampleDir is where `serve --sample` writes its files: beside the SQLite
// file, or data/sample in the working directory on PostgreSQL, where the
// embedded default puts them too, so the quick start's commands that read
// the sample work on either engine.
func (d *deps) sampleDir() string {
	if d.db.File != "" {
		return filepath.Join(filepath.Dir(d.db.File), "sample")
	}
	return filepath.Join("data", "sample")
}

// checkRejectsDir fails unless rejected rows can be written to dir
// (REJECTS_DIR). A load creates its rejects file at its first rejected row,
// which in a national file may come hours in: a directory that cannot be
// created or written (the image's read-only working directory) failed the
// load there, instead of the process at start naming the setting. The
// check leaves the file system as it found it: what it creates, it removes.
func checkRejectsDir(dir string) error {
	// The nearest directory on the way to dir that exists: a file made
	// there shows that the missing ones can be made (the load makes them
	// at its first rejected row). Nothing is made on the way: two loads
	// starting together, each removing the directories it had made for the
	// check, removed them under each other, and one refused a writable
	// REJECTS_DIR (QA).
	p := filepath.Clean(dir)
	for {
		fi, err := os.Stat(p)
		if err == nil && !fi.IsDir() {
			return fmt.Errorf("REJECTS_DIR %s cannot be created (rejected rows are written there): %s is not a directory", dir, p)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("REJECTS_DIR %s: %w", dir, err)
		}
		if filepath.Dir(p) == p {
			return fmt.Errorf("REJECTS_DIR %s: %w", dir, err)
		}
		p = filepath.Dir(p)
	}
	f, err := os.CreateTemp(p, ".write-check-*")
	if err != nil {
		return fmt.Errorf("REJECTS_DIR %s is not writable (rejected rows are written there): %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// checkRejectsDirSetting runs checkRejectsDir on the configured
// REJECTS_DIR, before the database is opened: a bad one must not leave a
// created database behind.
func checkRejectsDirSetting(getenv func(string) string) error {
	s, err := loadSettings(getenv)
	if err != nil {
		return err
	}
	return checkRejectsDir(s.RejectsDir)
}

// requireSQLiteFile fails, without creating anything, when DATABASE_URL
// names a SQLite file that does not exist: serve and worker with
// --migrate=false need a migrated database for their job workers.
func requireSQLiteFile(getenv func(string) string) error {
	s, err := loadSettings(getenv)
	if err != nil {
		return err
	}
	return db.RequireSQLiteFile(s.DatabaseURL, "medsales migrate")
}
