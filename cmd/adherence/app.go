package main

import (
	"cmp"
	"context"
	"database/sql"
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

	"github.com/google/uuid"
	"github.com/pressly/goose/v3"
	"github.com/redis/go-redis/v9"

	"github.com/medplatform/medplatform/internal/adherence/ingest"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/adherence/worker"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/blob"
	"github.com/medplatform/medplatform/internal/platform/config"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/debug"
	"github.com/medplatform/medplatform/internal/platform/httpx"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/ratelimit"
	"github.com/medplatform/medplatform/internal/platform/telemetry"
)

// settings is the process configuration read from the environment.
type settings struct {
	DatabaseURL   string
	ListenAddr    string
	RedisURL      string
	LogLevel      slog.Level
	HorizonDays   int
	ShutdownDrain time.Duration
	KeyCacheTTL   time.Duration
	// IngestCommitters is how many event groups commit at once on
	// PostgreSQL (INGEST_COMMITTERS).
	IngestCommitters int
	// JobWorkers is how many jobs a process works at once (JOB_WORKERS):
	// deliveries spend most of their time waiting on providers.
	JobWorkers int
	// DBMaxConns caps the process's PostgreSQL connections (DB_MAX_CONNS).
	DBMaxConns int
	OIDC       *auth.OIDCConfig
	// TrustedProxies are the load balancers whose X-Forwarded-For names
	// the client (TRUSTED_PROXIES); empty trusts none.
	TrustedProxies []netip.Prefix
	// BlobURL is where audit checkpoints are kept (BLOB_URL): a directory
	// or s3://bucket/prefix; empty means the default (see deps.blobStore).
	BlobURL string
	// S3Endpoint overrides the S3 endpoint (AWS_ENDPOINT_URL_S3), for
	// S3-compatible services.
	S3Endpoint string
	// CheckpointInterval is how often the audit head is checkpointed
	// (AUDIT_CHECKPOINT_INTERVAL).
	CheckpointInterval time.Duration
	// OutboxRetention is how long processed outbox records are kept
	// (OUTBOX_RETENTION).
	OutboxRetention time.Duration
}

const defaultDatabaseURL = "sqlite:data/adherence.db"

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
	if s.RedisURL, err = env.String("REDIS_URL", ""); err != nil {
		return s, err
	}
	// Checked with the other settings, before anything is opened or
	// migrated: a bad value was refused only after migrations had run.
	if s.RedisURL != "" {
		if _, err := redisOptions(s.RedisURL); err != nil {
			return s, err
		}
	}
	lvl, err := env.String("LOG_LEVEL", "info")
	if err != nil {
		return s, err
	}
	if s.LogLevel, err = telemetry.ParseLevel(lvl); err != nil {
		return s, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	if s.HorizonDays, err = env.Int("DOSE_HORIZON_DAYS", 14); err != nil {
		return s, err
	}
	if s.HorizonDays < 1 || s.HorizonDays > 90 {
		return s, fmt.Errorf("DOSE_HORIZON_DAYS must be between 1 and 90")
	}
	if s.ShutdownDrain, err = env.Duration("SHUTDOWN_DRAIN", 5*time.Second); err != nil {
		return s, err
	}
	if s.ShutdownDrain < 0 {
		return s, fmt.Errorf("SHUTDOWN_DRAIN must be 0s or more (0s closes the listener at once), got %s", s.ShutdownDrain)
	}
	if s.KeyCacheTTL, err = env.Duration("API_KEY_CACHE_TTL", 5*time.Second); err != nil {
		return s, err
	}
	if s.KeyCacheTTL < 0 {
		return s, fmt.Errorf("API_KEY_CACHE_TTL must be 0s or more (0s disables the cache), got %s", s.KeyCacheTTL)
	}
	if s.IngestCommitters, err = env.Int("INGEST_COMMITTERS", 2); err != nil {
		return s, err
	}
	if s.IngestCommitters < 1 || s.IngestCommitters > 16 {
		return s, fmt.Errorf("INGEST_COMMITTERS must be between 1 and 16")
	}
	if s.JobWorkers, err = env.Int("JOB_WORKERS", 50); err != nil {
		return s, err
	}
	if s.JobWorkers < 1 || s.JobWorkers > 1000 {
		return s, fmt.Errorf("JOB_WORKERS must be between 1 and 1000")
	}
	// At least 4: the event committers (INGEST_COMMITTERS, 2 by default)
	// and the job queue's listener each hold one while they work.
	if s.DBMaxConns, err = env.Int("DB_MAX_CONNS", 20); err != nil {
		return s, err
	}
	if s.DBMaxConns < 4 || s.DBMaxConns > 1000 {
		return s, fmt.Errorf("DB_MAX_CONNS must be between 4 and 1000, got %d", s.DBMaxConns)
	}
	proxies, err := env.String("TRUSTED_PROXIES", "")
	if err != nil {
		return s, err
	}
	if s.TrustedProxies, err = httpx.ParseTrustedProxies(proxies); err != nil {
		return s, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	if s.BlobURL, err = env.String("BLOB_URL", ""); err != nil {
		return s, err
	}
	if s.S3Endpoint, err = env.String("AWS_ENDPOINT_URL_S3", ""); err != nil {
		return s, err
	}
	if u, err := url.Parse(s.S3Endpoint); s.S3Endpoint != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return s, fmt.Errorf("AWS_ENDPOINT_URL_S3 must be an absolute http(s) URL such as https://host:port")
	}
	if s.CheckpointInterval, err = env.Duration("AUDIT_CHECKPOINT_INTERVAL", time.Hour); err != nil {
		return s, err
	}
	if s.CheckpointInterval < time.Minute || s.CheckpointInterval > 24*time.Hour {
		return s, fmt.Errorf("AUDIT_CHECKPOINT_INTERVAL must be between 1m and 24h, got %s", s.CheckpointInterval)
	}
	if s.OutboxRetention, err = env.Duration("OUTBOX_RETENTION", worker.DefaultOutboxRetention); err != nil {
		return s, err
	}
	if s.OutboxRetention < 24*time.Hour {
		return s, fmt.Errorf("OUTBOX_RETENTION must be 24h or more (processed outbox records older than it are deleted), got %s", s.OutboxRetention)
	}
	// Every OIDC variable is read, set issuer or not, so that an unreadable
	// OIDC_*_FILE fails startup instead of quietly leaving OIDC off.
	o := &auth.OIDCConfig{}
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"OIDC_ISSUER", &o.Issuer}, {"OIDC_AUDIENCE", &o.Audience}, {"OIDC_JWKS_URL", &o.JWKSURL},
		{"OIDC_ORG_CLAIM", &o.OrgClaim}, {"OIDC_ROLE_CLAIM", &o.RoleClaim}, {"OIDC_SUBJECT_CLAIM", &o.LinkClaim},
	} {
		if *f.dst, err = env.String(f.name, ""); err != nil {
			return s, err
		}
	}
	if o.Issuer != "" {
		if o.Audience == "" || o.JWKSURL == "" {
			return s, fmt.Errorf("OIDC_ISSUER is set: OIDC_AUDIENCE and OIDC_JWKS_URL are required too")
		}
		s.OIDC = o
	}
	return s, nil
}

// listenAddr is the address serve listens on (LISTEN_ADDR or
// LISTEN_ADDR_FILE, default :8080); healthcheck probes the same one, so
// both read it here.
func listenAddr(env config.Env) (string, error) {
	return env.String("LISTEN_ADDR", ":8080")
}

// migrationSets are the schema of the product, in dependency order.
var migrationSets = []migrate.Set{audit.Migrations, store.Migrations}

// deps are the long-lived collaborators shared by the commands.
type deps struct {
	settings settings
	logger   *slog.Logger
	db       *db.DB
	audit    *audit.Log
	store    *store.Store
	redis    *redis.Client
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// open connects to the database (applying migrations when asked) and
// builds the store. A SQLite file that does not exist is created.
func open(ctx context.Context, getenv func(string) string, stderr io.Writer, applyMigrations bool) (*deps, error) {
	s, err := loadSettings(getenv)
	if err != nil {
		return nil, err
	}
	return connect(ctx, s, stderr, applyMigrations)
}

// openExisting connects to a database that must already exist and be
// migrated: the commands that read it (audit verify) or change records in
// it (admin create-key) use it. Unlike open it never creates a SQLite file
// or a table, so a wrong working directory or DATABASE_URL is reported in
// one line instead of leaving an empty database behind.
func openExisting(ctx context.Context, getenv func(string) string, stderr io.Writer) (*deps, error) {
	return openDatabase(ctx, getenv, stderr, false)
}

// openForBackup is openExisting for 'adherence backup', which also takes a
// database with migrations pending: the backup before an upgrade's
// 'adherence migrate' is made with either binary, and copies the schema
// it finds (a restore, then serve or migrate, brings it up to date). It
// says so on stderr.
func openForBackup(ctx context.Context, getenv func(string) string, stderr io.Writer) (*deps, error) {
	return openDatabase(ctx, getenv, stderr, true)
}

// openDatabase is openExisting, with migrations pending allowed or not.
func openDatabase(ctx context.Context, getenv func(string) string, stderr io.Writer, pendingOK bool) (*deps, error) {
	s, err := loadSettings(getenv)
	if err != nil {
		return nil, err
	}
	where := ""
	if path := db.SQLitePath(s.DatabaseURL); path != "" {
		where = " at " + path
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no database%s: run 'adherence migrate' (or 'adherence serve') first, or set DATABASE_URL", where)
		} else if err != nil {
			return nil, fmt.Errorf("database%s: %w", where, err)
		}
	}
	d, err := connect(ctx, s, stderr, false)
	if err != nil {
		return nil, err
	}
	if err := checkSchema(ctx, d.db, where); err != nil {
		d.close()
		return nil, err
	}
	pending, err := migrate.Pending(ctx, d.db, migrationSets...)
	if err != nil {
		d.close()
		return nil, err
	}
	switch {
	case pending && !pendingOK:
		d.close()
		return nil, fmt.Errorf("the database%s has migrations pending: run 'adherence migrate' first", where)
	case pending:
		fmt.Fprintf(stderr, "note: the database%s has migrations pending (an older version wrote it); this copies it as it is\n", where)
	}
	migrate.WarnIfNewer(ctx, d.db, d.logger, migrationSets...)
	return d, nil
}

// checkSchema fails unless the database is adherence's and was migrated
// at least once. It only reads: migrate.Pending would create a missing
// version table, so the version tables are looked for here, before it.
// where names the database in messages (" at PATH" on SQLite; nothing on
// PostgreSQL, whose URL may hold a password).
func checkSchema(ctx context.Context, d *db.DB, where string) error {
	if err := refuseMedsales(ctx, d); err != nil {
		return err
	}
	for _, set := range migrationSets {
		ok, err := tableExists(ctx, d, cmp.Or(set.Table, goose.DefaultTablename))
		if err != nil {
			return fmt.Errorf("check the database schema: %w", err)
		}
		if !ok {
			return fmt.Errorf("the database%s is not migrated: run 'adherence migrate' (or 'adherence serve') first", where)
		}
	}
	return nil
}

// migrateUp applies the product's migrations, after making sure the
// database is not medsales's: goose's version table is shared by both
// products, so adherence's migrations would start on it (the audit set
// first, its tables left there) and then fail half-way with "relation
// patients does not exist".
func migrateUp(ctx context.Context, d *db.DB) (int, error) {
	if err := refuseMedsales(ctx, d); err != nil {
		return 0, err
	}
	return migrate.Up(ctx, d, migrationSets...)
}

// refuseMedsales fails when the database is medsales's. Every command that
// opens the database without migrating it asks too: on medsales's schema
// they said "migrations pending", or served an API that never became
// ready, and sent the operator to 'adherence migrate', which refused.
func refuseMedsales(ctx context.Context, d *db.DB) error {
	medsales, err := tableExists(ctx, d, "dataset_versions")
	if err != nil {
		return fmt.Errorf("check the database schema: %w", err)
	}
	if medsales {
		return errors.New("the database is a medsales database (it has a dataset_versions table): give adherence a database of its own")
	}
	return nil
}

// tableExists reports whether the schema has a table of that name.
func tableExists(ctx context.Context, d *db.DB, name string) (bool, error) {
	var q string
	switch d.Dialect {
	case db.Postgres:
		q = `SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1`
	default:
		q = `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1`
	}
	var n int
	if err := d.Read.QueryRowContext(ctx, q, name).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// connect opens the database named by s (applying migrations when asked)
// and builds the store.
func connect(ctx context.Context, s settings, stderr io.Writer, applyMigrations bool) (*deps, error) {
	logger := telemetry.NewLogger(stderr, s.LogLevel)
	// One connection fewer in the pool than DB_MAX_CONNS: the job queue's
	// listener (LISTEN for new jobs) takes its connection out of the pool
	// and keeps it, and the pool may then open another.
	d, err := db.Open(ctx, s.DatabaseURL, db.Options{MaxConns: int32(s.DBMaxConns - 1)})
	if err != nil {
		return nil, err
	}
	d.Logger = logger // the migrations' lock waits, Close's warning
	if applyMigrations {
		n, err := migrateUp(ctx, d)
		if err != nil {
			d.Close()
			return nil, err
		}
		if n > 0 {
			logger.InfoContext(ctx, "migrations applied", "count", n, "dialect", string(d.Dialect))
		}
		migrate.WarnIfNewer(ctx, d, logger, migrationSets...)
	}
	al := audit.New(d, time.Now, newID)
	st := store.New(d, al, time.Now)
	st.Horizon = time.Duration(s.HorizonDays) * 24 * time.Hour
	out := &deps{settings: s, logger: logger, db: d, audit: al, store: st}
	if s.RedisURL != "" {
		opts, err := redisOptions(s.RedisURL)
		if err != nil {
			d.Close()
			return nil, err
		}
		redis.SetLogger(redisLogger{logger})
		out.redis = redis.NewClient(opts)
	}
	return out, nil
}

// redisOptions are the client options of REDIS_URL. Everything this
// service asks Redis fails open or degrades without it (the failed-auth
// limiter, the redis health check), so a Redis that is down must fail a
// call fast rather than retry it: go-redis's defaults (5 dials 100 ms
// apart for each of 4 tries) made each call to a refused port take 1.7 s,
// and /health with it. One retry of a command and two dials 50 ms apart
// still ride out a dropped connection or a failover's first refusal.
func redisOptions(url string) (*redis.Options, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL is not a valid redis URL")
	}
	// The limiter bounds its calls with context deadlines, which
	// go-redis ignores unless told otherwise: without this a Redis
	// that stops answering held every authenticated request 5 s.
	opts.ContextTimeoutEnabled = true
	if !strings.Contains(url, "max_retries=") {
		opts.MaxRetries = 1
	}
	opts.DialerRetries = 2
	opts.DialerRetryTimeout = 50 * time.Millisecond
	return opts, nil
}

// redisLogger sends go-redis's own messages (a pool that cannot dial, …) to
// the JSON log as warnings; its default logger prints plain-text lines on
// the process's standard error, which log pipelines cannot parse.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

func (d *deps) close() {
	if d.redis != nil {
		d.redis.Close()
	}
	d.db.Close()
}

// limiter is Redis-backed when REDIS_URL is set, so all API tasks share
// failed-login counts; in-process otherwise.
func (d *deps) limiter() ratelimit.Limiter {
	if d.redis != nil {
		return ratelimit.NewRedis(d.redis)
	}
	return ratelimit.NewMemory(time.Now)
}

// blobStore opens the store of audit checkpoints: BLOB_URL, or on SQLite
// a directory of the database's own beside its file (see
// defaultBlobDir). On PostgreSQL without BLOB_URL there is none (nil): a
// directory on a container's disk would be lost with the task, and vouch
// for nothing.
func (d *deps) blobStore(ctx context.Context) (blob.Store, error) {
	u := d.settings.BlobURL
	if u == "" {
		if d.db.Dialect == db.Postgres {
			return nil, nil
		}
		u = d.defaultBlobDir(ctx)
	}
	s, err := blob.Open(ctx, u, d.settings.S3Endpoint)
	if err != nil {
		return nil, fmt.Errorf("BLOB_URL: %w", err)
	}
	return s, nil
}

// defaultBlobDir is the checkpoint store of a SQLite database when
// BLOB_URL is not set: FILE-blobs beside the database FILE, as SQLite names
// FILE-wal and FILE-shm. Until 2026-12-06 it was blobs/ in the database's
// directory, which every database of that directory shared: each one's
// checkpoints then read as another's chain rewritten, a false alarm kept
// for good (the store is write-once). The database of the default name,
// adherence.db, with no store of its own in a directory that holds that
// shared one keeps using it, with a warning, rather than leaving behind
// the checkpoints that vouch for its chain: the shared store was its
// (the quick start's ./data/blobs). So does a database of another name
// when the checkpoints there are its own (vouchesForOurChain; QA: an
// upgraded prod.db left its checkpoints behind without a word, and a chain
// cut back then verified as intact). Any other database gets its own: it
// took the shared store for its own, though it had never written there,
// and reported its chain as rewritten.
func (d *deps) defaultBlobDir(ctx context.Context) string {
	own := d.db.File + "-blobs"
	shared := filepath.Join(d.dataDir(), "blobs")
	if _, err := os.Stat(own); err == nil {
		return own
	}
	if _, err := os.Stat(filepath.Join(shared, "audit")); err != nil {
		return own
	}
	if filepath.Base(d.db.File) != legacyBlobsOwner {
		ours, err := d.vouchesForOurChain(ctx, shared)
		if err != nil || !ours {
			if err != nil {
				d.logger.Warn("could not tell whether the shared blobs directory holds this database's audit checkpoints; keeping them apart",
					"blobs", shared, "own", own, "error", err)
			} else {
				d.logger.Warn("the shared blobs directory holds audit checkpoints that are not all of records of this database's chain: "+
					"another database's, or this one's chain was cut back or rewritten since (run 'adherence audit verify' with BLOB_URL set to it to tell); "+
					"this database keeps its checkpoints apart", "blobs", shared, "own", own)
			}
			return own
		}
	}
	d.logger.Warn("audit checkpoints are kept in the blobs directory that every SQLite database of this directory shares, "+
		"as before 2026-12-06; if they are this database's, move the directory to the database's own (mv BLOBS OWN), "+
		"or set BLOB_URL to it", "blobs", shared, "own", own)
	return shared
}

// vouchesForOurChain reports whether the checkpoints in the blob directory
// dir are this database's: one at least is of a record of its audit chain
// (same seq and hash), and none is of another record at a seq the chain
// holds (another database's, written there too: taken for this one's, both
// read as broken; QA, two databases of one directory). A checkpoint past
// the chain's end does not decide: it is another database's longer chain,
// or this one's cut back, which the checkpoints are there to catch.
func (d *deps) vouchesForOurChain(ctx context.Context, dir string) (bool, error) {
	store, err := blob.OpenDir(dir)
	if err != nil {
		return false, err
	}
	cps, err := audit.ReadCheckpoints(ctx, store)
	if err != nil {
		return false, err
	}
	matched := false
	for _, cp := range cps {
		var hash string
		err := d.db.SQL.QueryRowContext(ctx, `SELECT hash FROM audit_log WHERE seq = $1`, cp.Seq).Scan(&hash)
		if errors.Is(err, sql.ErrNoRows) {
			continue // past the chain's end
		}
		if err != nil {
			return false, fmt.Errorf("read the audit chain: %w", err)
		}
		if hash != cp.Hash {
			return false, nil
		}
		matched = true
	}
	return matched, nil
}

// legacyBlobsOwner is the database file name whose checkpoints the shared
// blobs/ directory held before 2026-12-06 (see defaultBlobDir): the
// default DATABASE_URL's.
const legacyBlobsOwner = "adherence.db"

// dataDir is where disk space is watched: the SQLite file's directory, or
// the working directory on PostgreSQL (temp files, logs).
func (d *deps) dataDir() string {
	if d.db.File != "" {
		return filepath.Dir(d.db.File)
	}
	return "."
}

// ingestCommitters is how many event groups commit at once
// (INGEST_COMMITTERS): SQLite has one writer, so always 1 there; on
// PostgreSQL the default 2 overlaps one group's work with another's commit
// while keeping groups large (more committers make smaller groups, and
// each group costs its own round trips and commit).
func (d *deps) ingestCommitters() int {
	if d.db.Dialect != db.Postgres {
		return 1
	}
	return d.settings.IngestCommitters
}

// ingestMaxGroup caps the events of one group transaction. SQLite's one
// writer commits groups one after the other, and a larger group shares
// its index pages and its commit among more events: 8,000 (sixteen
// 500-event batches) recorded batches 12-18% faster than 2,000 in
// bench/events (three alternating pairs: 21.8-22.3k against
// 18.4-19.8k events/s). On PostgreSQL groups commit side by side, and a large one
// would hold the audit chain head the longer.
func (d *deps) ingestMaxGroup() int {
	if d.db.Dialect != db.Postgres {
		return 8000
	}
	return ingest.DefaultMaxGroup
}
