package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/config"
	"github.com/medplatform/medplatform/internal/platform/db"
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
	OIDC       *auth.OIDCConfig
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
	if s.ListenAddr, err = env.String("LISTEN_ADDR", ":8080"); err != nil {
		return s, err
	}
	if s.RedisURL, err = env.String("REDIS_URL", ""); err != nil {
		return s, err
	}
	lvl, _ := env.String("LOG_LEVEL", "info")
	if s.LogLevel, err = telemetry.ParseLevel(lvl); err != nil {
		return s, err
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
	if s.KeyCacheTTL, err = env.Duration("API_KEY_CACHE_TTL", 5*time.Second); err != nil {
		return s, err
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
	issuer, _ := env.String("OIDC_ISSUER", "")
	if issuer != "" {
		o := &auth.OIDCConfig{Issuer: issuer}
		o.Audience, _ = env.String("OIDC_AUDIENCE", "")
		o.JWKSURL, _ = env.String("OIDC_JWKS_URL", "")
		o.OrgClaim, _ = env.String("OIDC_ORG_CLAIM", "")
		o.RoleClaim, _ = env.String("OIDC_ROLE_CLAIM", "")
		o.LinkClaim, _ = env.String("OIDC_SUBJECT_CLAIM", "")
		if o.Audience == "" || o.JWKSURL == "" {
			return s, fmt.Errorf("OIDC_ISSUER is set: OIDC_AUDIENCE and OIDC_JWKS_URL are required too")
		}
		s.OIDC = o
	}
	return s, nil
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
// builds the store.
func open(ctx context.Context, getenv func(string) string, stderr io.Writer, applyMigrations bool) (*deps, error) {
	s, err := loadSettings(getenv)
	if err != nil {
		return nil, err
	}
	logger := telemetry.NewLogger(stderr, s.LogLevel)
	d, err := db.Open(ctx, s.DatabaseURL, db.Options{})
	if err != nil {
		return nil, err
	}
	if applyMigrations {
		n, err := migrate.Up(ctx, d, migrationSets...)
		if err != nil {
			d.Close()
			return nil, err
		}
		if n > 0 {
			logger.InfoContext(ctx, "migrations applied", "count", n, "dialect", string(d.Dialect))
		}
	}
	al := audit.New(d, time.Now, newID)
	st := store.New(d, al, time.Now)
	st.Horizon = time.Duration(s.HorizonDays) * 24 * time.Hour
	out := &deps{settings: s, logger: logger, db: d, audit: al, store: st}
	if s.RedisURL != "" {
		opts, err := redis.ParseURL(s.RedisURL)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("REDIS_URL is not a valid redis URL")
		}
		out.redis = redis.NewClient(opts)
	}
	return out, nil
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

// dataDir is where disk space is watched: the SQLite file's directory, or
// the working directory on PostgreSQL (temp files, logs).
func (d *deps) dataDir() string {
	if d.db.Path != "" {
		return filepath.Dir(d.db.Path)
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
