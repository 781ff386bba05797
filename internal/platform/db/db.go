// Package db opens the product database — an embedded SQLite file or a
// PostgreSQL server — behind one *sql.DB, and runs transactions on it.
//
// Store code is written once against database/sql with $n placeholders;
// where the two dialects differ the store branches on DB.Dialect. PostgreSQL
// connections go through a pgxpool so that River (riverpgxv5) and bulk COPY
// can share the same pool as the stores.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Dialect names the SQL engine behind a DB.
type Dialect string

// The supported engines.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open product database.
type DB struct {
	// SQL is the handle every store uses.
	SQL *sql.DB
	// Read is a handle for reads outside write transactions. On SQLite it
	// is a pool of read-only connections beside SQL's one connection: in
	// WAL mode they read the last committed state while a writer works,
	// so a long write (a bulk load building indexes) does not stall
	// readers. On PostgreSQL it is SQL.
	Read *sql.DB
	// Dialect tells which engine SQL talks to.
	Dialect Dialect
	// Pool is the pgx pool behind SQL on PostgreSQL; nil on SQLite.
	Pool *pgxpool.Pool
	// Path is the database file on SQLite as the driver opens it, a URI
	// path ("file:"+Path: %HH escapes decoded, '#' ends it); empty on
	// PostgreSQL. Another connection to the same file opens that.
	Path string
	// File is the file Path names on disk, for the file system (its
	// directory, lock files beside it); empty on PostgreSQL.
	File string
	// Logger receives the warning Close logs when it gives up on
	// connections still in use, and migrate.Up's notes of its waits for
	// locks. Nil discards them. Set it before Close (and migrate.Up).
	Logger *slog.Logger

	stopCheckpoints func()     // SQLite: stops the WAL checkpointer
	stmts           *stmtCache // SQLite: the writer's prepared statements for ExecAll
	closeTimeout    time.Duration
}

// Options tune Open. The zero value is fine.
type Options struct {
	// MaxConns caps the PostgreSQL pool (default 20). SQLite always uses a
	// single connection: it has one writer, and River's SQLite driver and
	// our IMMEDIATE transactions are simplest and fastest without contention
	// between connections of the same process.
	MaxConns int32
	// CloseTimeout bounds how long Close waits for connections still in
	// use (default DefaultCloseTimeout).
	CloseTimeout time.Duration
	// PingTimeout bounds how long Open waits for PostgreSQL to answer
	// its first query (default DefaultPingTimeout).
	PingTimeout time.Duration
	// SQLitePageSize is the page size, in bytes (a power of two from 512
	// to 65536), of a SQLite file Open creates; 0 leaves SQLite's 4096. A
	// file that exists keeps the page size it was created with.
	SQLitePageSize int
}

// DefaultPingTimeout is how long Open waits, by default, for PostgreSQL
// to answer.
const DefaultPingTimeout = 10 * time.Second

// DefaultCloseTimeout is how long Close waits, by default, for connections
// still in use before it abandons them. A connection given back at all is
// given back within milliseconds; the wait only matters when the server has
// stopped answering, and it is the last step of a shutdown that must end
// within the 30 s ECS allows (with 5 s, the adherence server's worst case
// ended at 30.05 s and was SIGKILLed, QA).
const DefaultCloseTimeout = 3 * time.Second

// Open connects to the database named by rawURL:
//
//	postgres://user@host:5432/name?sslmode=…   PostgreSQL (also postgresql://; the scheme in any case)
//	sqlite:path/to/file.db                      SQLite file (also file:… or a bare path)
//
// A SQLite URL that SQLite would read as another file, or as no shared
// file at all, is refused (see checkSQLiteURL). A SQLite file and its
// directory are created when missing. SQLite runs in
// WAL mode with synchronous=FULL, so a transaction whose commit returned is
// on disk even if the process or the machine dies right after. Besides its
// one writer connection (SQL) it has read-only connections (Read) and a
// goroutine that checkpoints the WAL; Close stops it.
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	if u, ok := postgresURL(rawURL); ok {
		return openPostgres(ctx, u, opts)
	}
	switch {
	case rawURL == "":
		return nil, errors.New("open database: empty database URL")
	case checkURL(rawURL) != nil:
		return nil, checkURL(rawURL)
	case checkSQLiteURL(rawURL) != nil:
		return nil, checkSQLiteURL(rawURL)
	case otherScheme(rawURL) != "":
		// Not a path: mysql://… must not become a directory named "mysql:".
		// Only the scheme is echoed; the rest may hold a password.
		return nil, fmt.Errorf("open database: unsupported URL scheme %q: use postgres://… or sqlite:PATH", otherScheme(rawURL))
	default:
		return openSQLite(ctx, rawURL, opts)
	}
}

// checkURL refuses a database URL that begins like a PostgreSQL URL but is
// not one (postgres//…, postgres:/…, postgres:…, postgres: //…): Open would take it for
// a SQLite path and create a database there, in directories named after
// the user, password and host. The message does not echo the URL.
func checkURL(rawURL string) error {
	if _, pg := postgresURL(rawURL); pg || otherScheme(rawURL) != "" {
		return nil
	}
	if keywordDSN.MatchString(rawURL) && !hasSQLiteScheme(rawURL) {
		// libpq's other form (host=… dbname=…), which would become a
		// SQLite file of that name (QA: migrate reported success on it).
		return errors.New("open database: DATABASE_URL looks like a PostgreSQL keyword string (host=… dbname=…): write it as a URL, postgres://user:password@host:5432/name (a SQLite file is sqlite:PATH)")
	}
	lower := strings.ToLower(rawURL)
	rest, ok := strings.CutPrefix(lower, "postgresql")
	if !ok {
		rest, ok = strings.CutPrefix(lower, "postgres")
	}
	// A path such as postgres.db or postgres/adherence.db stays a path.
	if rest = strings.TrimLeft(rest, " "); ok && (strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, "//")) {
		return errors.New("open database: DATABASE_URL begins like a PostgreSQL URL but is not one: write postgres://user:password@host:5432/name (a SQLite file is sqlite:PATH)")
	}
	if hostPort.MatchString(rawURL) {
		// A PostgreSQL address without its scheme (127.0.0.1:5432/name),
		// which would become a SQLite file of that name (QA: migrate
		// reported success on sqlite).
		return errors.New("open database: DATABASE_URL looks like a PostgreSQL address without its scheme (host:port/name): write postgres://user:password@host:5432/name (a SQLite file is sqlite:PATH)")
	}
	return nil
}

// hasSQLiteScheme reports whether rawURL says it is a SQLite file
// (sqlite:… or file:…): a path of it may hold "port=5" or the like.
func hasSQLiteScheme(rawURL string) bool {
	lower := strings.ToLower(rawURL)
	return strings.HasPrefix(lower, "sqlite:") || strings.HasPrefix(lower, "file:")
}

// keywordDSN matches a libpq keyword/value connection string: a keyword of
// it at the start or after a space, then "=".
var keywordDSN = regexp.MustCompile(`(?i)(^|\s)(host|hostaddr|dbname|user|password|port|sslmode|connect_timeout|application_name|service)\s*=`)

// hostPort matches a network address at the start of a value, with an
// optional user before it: host:port, then the end or a slash.
var hostPort = regexp.MustCompile(`(?i)^([^/@\s]+@)?[a-z0-9.\-]+:\d+(/|$)`)

// URLSetting cleans a DATABASE_URL setting (def is what applies when it is
// unset): spaces around it are dropped, as from a NAME_FILE — " postgres://…"
// was taken for a SQLite path and a database created there — a value of
// spaces only is refused, and so is a URL that begins like a PostgreSQL URL
// but is not one (see checkURL), before any command looks for a file at it.
// A PostgreSQL scheme is returned in lower case (see postgresURL).
func URLSetting(raw, def string) (string, error) {
	u := strings.TrimSpace(raw)
	if u == "" {
		return "", fmt.Errorf("DATABASE_URL is blank: unset it for the default %s", def)
	}
	if pg, ok := postgresURL(u); ok {
		return pg, nil
	}
	if err := checkURL(u); err != nil {
		return "", err
	}
	if err := checkSQLiteURL(u); err != nil {
		return "", err
	}
	return u, nil
}

// checkSQLiteURL refuses a SQLite URL that SQLite would read otherwise
// than as the one database file Open creates and every connection and
// process shares (see the checks below). Other URLs pass.
func checkSQLiteURL(rawURL string) error {
	if _, pg := postgresURL(rawURL); pg || otherScheme(rawURL) != "" {
		return nil
	}
	for _, check := range []func(string) error{checkSQLiteQuery, checkSQLiteFragment, checkSQLiteHost, checkSQLiteMemory, checkSQLiteNUL} {
		if err := check(rawURL); err != nil {
			return err
		}
	}
	return nil
}

// checkSQLiteQuery refuses a SQLite URL with a query (sqlite:x.db?mode=ro,
// ?_pragma=…). Open sets the connection parameters itself — WAL, which its
// read-only connections rely on, synchronous=FULL, the busy timeout,
// immediate transactions — and used to drop the query without a word, so
// ?mode=ro still wrote and a pragma asked for was never applied. A '?' in
// the file name is written %3F. PostgreSQL URLs keep their query.
func checkSQLiteQuery(rawURL string) error {
	if !strings.Contains(rawURL, "?") {
		return nil
	}
	return errors.New("open database: a SQLite DATABASE_URL takes no query (the part from '?' on): the connection settings are fixed (WAL, synchronous=FULL, busy timeout), so mode=ro, _pragma=… and the like would not apply; remove it (a '?' in the file name is written %3F)")
}

// checkSQLiteFragment refuses a SQLite URL with a '#': SQLite reads the
// path as a URI, where '#' starts a fragment it ignores, so
// sqlite:/data/db#2.db opened /data/db without a word. A '#' in the file
// name is written %23.
func checkSQLiteFragment(rawURL string) error {
	if !strings.Contains(rawURL, "#") {
		return nil
	}
	return errors.New("open database: a SQLite DATABASE_URL takes no '#': SQLite would ignore it and what follows (sqlite:/data/db#2.db is the file /data/db); a '#' in the file name is written %23")
}

// checkSQLiteHost refuses a SQLite URL whose path starts with "//" and so
// names a host (file://host/x.db, sqlite:////x.db): SQLite reads such a
// URI's authority and opens only an empty one or "localhost", refusing
// any other with "invalid uri authority", after Open had created the
// directory and an empty file at the path taken literally (/host/x.db).
// A path that follows the authority is required.
func checkSQLiteHost(rawURL string) error {
	rest, ok := strings.CutPrefix(sqlitePath(rawURL), "//")
	if !ok {
		return nil
	}
	host, path, _ := strings.Cut(rest, "/")
	if host != "" && host != "localhost" {
		return fmt.Errorf("open database: the path of the SQLite DATABASE_URL starts with \"//\", so it names the host %q, and a SQLite file is local: write file:/absolute/path.db, file:///absolute/path.db or sqlite:relative/path.db", host)
	}
	if path == "" {
		return errors.New("open database: SQLite URL has no file path")
	}
	return nil
}

// checkSQLiteMemory refuses sqlite::memory:, a database that SQLite keeps
// in the memory of each connection: the writer, the readers and every
// other process had one of their own, so migrate reported the schema
// applied and the next command found no table (and an empty file named
// ":memory:" was left in the working directory).
func checkSQLiteMemory(rawURL string) error {
	if filePath(sqlitePath(rawURL)) != ":memory:" {
		return nil
	}
	return errors.New("open database: a SQLite database in memory (:memory:) is not shared by the connections and processes that use it, each would have an empty one of its own: give a file, such as sqlite:data/x.db")
}

// checkSQLiteNUL refuses a SQLite URL whose path holds %00: SQLite ends
// the path there, so sqlite:/data/x%00y.db created and migrated /data/x
// before the lock file beside /data/x<NUL>y.db failed to open.
func checkSQLiteNUL(rawURL string) error {
	if !strings.Contains(filePath(sqlitePath(rawURL)), "\x00") {
		return nil
	}
	return errors.New("open database: the path of the SQLite DATABASE_URL holds %00 (a NUL byte), where SQLite would end it: remove it")
}

// RequireSQLiteFile fails, without creating anything, when rawURL names a
// SQLite file that does not exist: a process started without migrating
// (serve or worker with --migrate=false) needs a migrated database, and
// opening a missing file would create an empty one. migrate names the
// command that creates it. Other URLs pass.
func RequireSQLiteFile(rawURL, migrate string) error {
	path := SQLitePath(rawURL)
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the database at %s does not exist, so it has migrations pending: run '%s' first (the job workers need the schema), or start without --migrate=false", path, migrate)
	}
	return nil
}

func closeTimeout(opts Options) time.Duration {
	if opts.CloseTimeout > 0 {
		return opts.CloseTimeout
	}
	return DefaultCloseTimeout
}

// otherScheme returns the scheme of a URL of the form scheme://… other
// than the SQLite ones, or "".
// postgresURL reports whether rawURL is a PostgreSQL URL, postgres:// or
// postgresql:// in any case (a URL scheme is case-insensitive, RFC 3986
// section 3.1), and returns it with its scheme in lower case: pgx knows a
// URL by the lower-case scheme only, and reads anything else as a
// key=value connection string. Only the scheme changes.
func postgresURL(rawURL string) (string, bool) {
	for _, scheme := range []string{"postgres://", "postgresql://"} {
		if len(rawURL) >= len(scheme) && strings.EqualFold(rawURL[:len(scheme)], scheme) {
			return scheme + rawURL[len(scheme):], true
		}
	}
	return rawURL, false
}

func otherScheme(rawURL string) string {
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok || scheme == "" || strings.EqualFold(scheme, "sqlite") || strings.EqualFold(scheme, "file") {
		return ""
	}
	for i, r := range scheme {
		letter := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !letter && (i == 0 || !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return "" // a path that happens to contain "://"
		}
	}
	return scheme
}

func openPostgres(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		// The URL may contain a password: do not echo it.
		return nil, errors.New("open database: DATABASE_URL is not a valid PostgreSQL URL")
	}
	cfg.MaxConns = 20
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 30 * time.Second
	// A commit we answer for must be on disk: with synchronous_commit off
	// (a server, database or role default, or the URL), PostgreSQL returns
	// from COMMIT before the WAL is flushed, and a crash loses commits that
	// were acknowledged to clients. Every connection turns it back on in
	// that case, and only then: local, remote_write, on and remote_apply
	// all flush locally first, and a stricter setting chosen for a standby
	// is kept.
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		if _, err := c.Exec(ctx, `SELECT set_config('synchronous_commit', 'on', false) WHERE current_setting('synchronous_commit') = 'off'`); err != nil {
			return fmt.Errorf("ensure synchronous_commit: %w", err)
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: connect to postgres: %w", err)
	}
	pingTimeout := opts.PingTimeout
	if pingTimeout <= 0 {
		pingTimeout = DefaultPingTimeout
	}
	pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		if ctx.Err() == nil && pingCtx.Err() != nil {
			// A server that accepts the connection and never answers
			// (a stopped process behind a live port, a firewall that
			// drops): "context deadline exceeded" alone says neither what
			// timed out nor after how long.
			return nil, fmt.Errorf("open database: postgres at %s:%d did not answer within %s (the server is not responding, or a firewall drops the connection)",
				cfg.ConnConfig.Host, cfg.ConnConfig.Port, pingTimeout)
		}
		// The server answered, and refused: say what to fix, not that it
		// could not be reached (QA: a database not created yet read as a
		// server down).
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			switch {
			case pgErr.Code == "3D000":
				return nil, fmt.Errorf("open database: the PostgreSQL server at %s has no database %q (DATABASE_URL): create it (createdb %s, or CREATE DATABASE) or correct the name", cfg.ConnConfig.Host, cfg.ConnConfig.Database, cfg.ConnConfig.Database)
			case pgErr.Code == "28P01" || pgErr.Code == "28000":
				return nil, fmt.Errorf("open database: the PostgreSQL server at %s refused the login of user %q (DATABASE_URL): check the user and password: %w", cfg.ConnConfig.Host, cfg.ConnConfig.User, oneLineError{err})
			}
		}
		return nil, fmt.Errorf("open database: cannot reach PostgreSQL at %s (DATABASE_URL): %w", cfg.ConnConfig.Host, oneLineError{err})
	}
	sqlDB := stdlib.OpenDBFromPool(pool)
	return &DB{SQL: sqlDB, Read: sqlDB, Dialect: Postgres, Pool: pool, closeTimeout: closeTimeout(opts)}, nil
}

// oneLineError prints err on one line: pgx lists each connection attempt
// on a line of its own, and the commands print an error as one line.
// errors.Is and errors.As still see err.
type oneLineError struct{ err error }

func (e oneLineError) Error() string {
	return strings.NewReplacer(":\n\t", ": ", "\n\t", "; ", "\n", "; ").Replace(e.err.Error())
}

func (e oneLineError) Unwrap() error { return e.err }

// SQLiteURL is the DATABASE_URL of the SQLite file at path: the path
// escaped for the URI db.Open reads ('%', '#' and '?' are syntax there).
func SQLiteURL(path string) string {
	return "sqlite:" + strings.NewReplacer("%", "%25", "#", "%23", "?", "%3F").Replace(path)
}

// SQLitePath returns the file a SQLite database URL names, as Open opens
// it, or "" when rawURL names PostgreSQL or another scheme.
func SQLitePath(rawURL string) string {
	if _, pg := postgresURL(rawURL); pg || otherScheme(rawURL) != "" {
		return ""
	}
	return filePath(sqlitePath(rawURL))
}

// filePath is the file that the path of a SQLite URI names: the driver
// opens "file:"+path as a URI, where '#' starts the fragment and %HH is an
// escape (sqlite:/data/a%23b.db is the file /data/a#b.db, sqlite:/data/a#b
// is /data/a, a URL Open refuses). The directory and the file Open creates
// itself must be that file, or Open would create one file and SQLite open
// another.
func filePath(uriPath string) string {
	p, _, _ := strings.Cut(uriPath, "#")
	// An authority, which checkSQLiteHost allows empty or "localhost" only,
	// is no part of the file: file://localhost/data/a.db is /data/a.db.
	if rest, ok := strings.CutPrefix(p, "//"); ok {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			p = rest[i:]
		}
	}
	return uriUnescape(p)
}

// uriUnescape decodes the %HH escapes of a SQLite URI path as SQLite does:
// a '%' not followed by two hex digits stays a '%', and the other escapes
// are decoded all the same (url.PathUnescape refused the whole path over
// one such '%', so a%41%zz.db named a%41%zz.db here while SQLite opened
// aA%zz.db).
func uriUnescape(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
			b.WriteByte(unhex(p[i+1])<<4 | unhex(p[i+2]))
			i += 2
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func sqlitePath(rawURL string) string {
	// A URL scheme is case-insensitive (RFC 3986): SQLite:/data/x.db is
	// /data/x.db, where it was taken for a relative path and created the
	// directories ./SQLite:/data.
	path := rawURL
	for _, prefix := range []string{"sqlite://", "sqlite:", "file:"} {
		if len(path) >= len(prefix) && strings.EqualFold(path[:len(prefix)], prefix) {
			path = path[len(prefix):]
			break
		}
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	return path
}

func openSQLite(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	path := sqlitePath(rawURL)
	if path == "" {
		return nil, errors.New("open database: SQLite URL has no file path")
	}
	file := filePath(path)
	if ps := opts.SQLitePageSize; ps != 0 && (ps < 512 || ps > 65536 || ps&(ps-1) != 0) {
		return nil, fmt.Errorf("open database: SQLite page size %d: want a power of two from 512 to 65536", ps)
	}
	if dir := filepath.Dir(file); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("open database: create directory for %s (DATABASE_URL): %w", file, err)
		}
	}
	// SQLite reports a file it cannot create only as "unable to open
	// database file (14)": create it here, to say why and what to change.
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("open database: cannot create the SQLite file %s: %w (set DATABASE_URL to a writable path)", file, err)
		}
		if f != nil {
			f.Close()
		}
	}
	pageSize, err := sqlitePageSize(ctx, path, file, opts.SQLitePageSize)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)",
		"synchronous(FULL)", // durability: fsync the WAL on every commit
		"busy_timeout(10000)",
		"foreign_keys(1)",
		// 16 MiB of page cache instead of SQLite's 2 MiB: with one
		// connection doing all the work, the default made the reminder
		// spike re-read pages for 14% of its CPU (bench/spike). Not more:
		// a commit whose b-tree balancing renumbered pages (most commits
		// that split an index page) ends with a scan of the cache's
		// whole hash table (pcache1TruncateUnsafe: SQLite parks a page
		// at the page number past 1 GiB while it renumbers, and the
		// commit then drops every page past the end of the file). With
		// 64 MiB that scan was 16% of the server's CPU at 1,000 single
		// events/s in bench/events, with 16 MiB 5%; the spike was no
		// slower (p99 12.8 and 19.6 s against 17.9 and 22.5 s).
		"cache_size(-16384)",
		// The writer checkpoints only when the WAL passes 64 MiB: normally
		// the checkpointer below does it on another connection (and the
		// other core), off the commit path. A checkpoint in the committing
		// connection copied every page of a large group commit back into
		// the database file and fsynced it before the commit returned: 45%
		// of the writer's time in bench/events batches.
		fmt.Sprintf("wal_autocheckpoint(%d)", walSelfCheckpointBytes/pageSize),
		// A WAL that grew past 64 MiB under a burst is cut back to that
		// size when it starts over, rather than keeping its largest size.
		"journal_size_limit(67108864)",
	} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate") // take the write lock at BEGIN: no upgrade deadlocks
	q.Set("_time_format", "sqlite")
	// Instants are stored as text and compared as text: every one must
	// be written in UTC, whatever zone the caller's time.Time carries. A
	// quiet-hours hold computed in a patient's zone east of UTC was
	// stored as 03:31+13:00 and read as later than every UTC "now" of
	// that day: the reminder never went out (QA).
	q.Set("_timezone", "UTC")
	sqlDB, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	sqlDB.SetMaxOpenConns(1)
	sqlDB.SetMaxIdleConns(1)
	sqlDB.SetConnMaxIdleTime(0)
	sqlDB.SetConnMaxLifetime(0)
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// The readers: query_only, deferred transactions (a read snapshot
	// starts at its first read and takes no lock), a smaller cache each.
	// Opened after the writer has put the file in WAL mode.
	rq := url.Values{}
	for _, p := range []string{"query_only(1)", "busy_timeout(10000)", "cache_size(-16384)"} {
		rq.Add("_pragma", p)
	}
	rq.Set("_time_format", "sqlite")
	rq.Set("_timezone", "UTC")
	readDB, err := sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
	if err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("open database %s for reading: %w", path, err)
	}
	readDB.SetMaxOpenConns(4)
	readDB.SetMaxIdleConns(4)
	if err := readDB.PingContext(ctx); err != nil {
		readDB.Close()
		sqlDB.Close()
		return nil, fmt.Errorf("open database %s for reading: %w", path, err)
	}
	ckDB, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		readDB.Close()
		sqlDB.Close()
		return nil, fmt.Errorf("open database %s for checkpoints: %w", path, err)
	}
	ckDB.SetMaxOpenConns(1)
	return &DB{SQL: sqlDB, Read: readDB, Dialect: SQLite, Path: path, File: file, stmts: newStmtCache(sqlDB),
		stopCheckpoints: startCheckpointer(ckDB, checkpointInterval), closeTimeout: closeTimeout(opts)}, nil
}

// walSelfCheckpointBytes is the WAL size past which the writer
// checkpoints at commit itself: the backstop when the checkpointer falls
// behind.
const walSelfCheckpointBytes = 64 << 20

// sqlitePageSize returns the page size of the SQLite file at file (path
// as Open was given it). An empty file, new, is first given the page size
// want (when not 0) and put in WAL mode, which writes its header: the
// connection settings cannot do it, since the driver runs them in
// alphabetical order and the page size can no longer change once
// journal_mode has put the file in WAL mode.
func sqlitePageSize(ctx context.Context, path, file string, want int) (int, error) {
	header := make([]byte, 18)
	f, err := os.Open(file)
	if err != nil {
		return 0, fmt.Errorf("open database %s: %w", file, err)
	}
	n, err := io.ReadFull(f, header)
	f.Close()
	switch {
	case n == 0 && want != 0:
		// Processes started together (migrate, serve and worker of one
		// deployment) may all find the file empty: the busy timeout lets
		// each wait for the one setting it up, whose header the others'
		// page_size then leaves as it is; the size is read back from the
		// header. Without it all but one failed, "database is locked" (QA).
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", fmt.Sprintf("page_size(%d)", want))
		setup, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
		if err != nil {
			return 0, fmt.Errorf("open database %s: %w", path, err)
		}
		defer setup.Close()
		// SQLite answers SQLITE_BUSY at once, without waiting, to a
		// connection that holds a shared lock and wants the exclusive one
		// another such connection wants too (it would deadlock): the
		// change to WAL is tried again until the timeout (CI saw one of 6
		// openers fail that way on a loaded machine).
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err = setup.ExecContext(ctx, "PRAGMA journal_mode = WAL")
			if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
				break
			}
			select {
			case <-ctx.Done():
				return 0, fmt.Errorf("open database %s: set up a new file: %w", path, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
		if err != nil {
			return 0, fmt.Errorf("open database %s: set up a new file: %w", path, err)
		}
		return sqlitePageSize(ctx, path, file, 0)
	case n == 0:
		return 4096, nil
	case err != nil:
		// Shorter than a header: SQLite will say what is wrong with it.
		return 4096, nil
	}
	// The header's bytes 16-17: the page size, big-endian; 1 means 65536.
	size := int(header[16])<<8 | int(header[17])
	if size == 1 {
		size = 65536
	}
	if size < 512 {
		return 4096, nil
	}
	return size, nil
}

// checkpointInterval is how often the checkpointer copies committed WAL
// frames into the database file. Short, so that each checkpoint is small:
// its fsync of the database file delays the writer's fsync of the WAL
// (the same disk), and at 1,000 single events/s (bench/events, SQLite,
// about 17 WAL pages per commit) checkpoints every 200 ms made the p99
// latency 34-42 ms over four runs, every 50 ms 16-27 ms (every 2 s: 48
// and 56 ms). An idle checkpoint is one PRAGMA that finds nothing to copy.
const checkpointInterval = 50 * time.Millisecond

// startCheckpointer runs PASSIVE WAL checkpoints on ck every interval
// until the returned stop is called (once or more), which also closes ck.
// A passive checkpoint takes no lock that writers or readers wait for: it
// copies what is committed and not read from an older snapshot. Once it
// has copied everything, the writer's next transaction starts the WAL
// over. A failed checkpoint (a busy checkpoint lock) is simply retried at
// the next tick; the writer's own checkpoint at walSelfCheckpointBytes
// bounds the WAL meanwhile.
func startCheckpointer(ck *sql.DB, interval time.Duration) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				// The pragma answers one row: busy, frames in the WAL,
				// frames copied.
				var busy, frames, copied int
				_ = ck.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			<-done
			ck.Close()
		})
	}
}

// Close releases the database handles. It waits at most the close timeout
// (Options.CloseTimeout) for connections still in use: closing a pgx pool
// waits until every checked-out connection is given back, and a query
// without a deadline on a connection to a server that stopped answering
// (a black-holed network path) never gives its connection back. Past the
// timeout Close logs a warning, returns an error saying how many
// connections it abandoned, and leaves their release to a goroutine, so a
// process that is shutting down still exits.
func (d *DB) Close() error {
	done := make(chan error, 1)
	go func() { done <- d.close() }()
	timeout := d.closeTimeout
	if timeout <= 0 {
		timeout = DefaultCloseTimeout // a DB built without Open
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
	}
	inUse := int32(0)
	if d.Pool != nil {
		inUse = d.Pool.Stat().AcquiredConns()
	}
	if d.Logger != nil {
		d.Logger.Warn("database close gave up waiting: connections still in use abandoned",
			"in_use", inUse, "waited", timeout.String())
	}
	return fmt.Errorf("close database: %d connections still in use after %s: abandoned", inUse, timeout)
}

func (d *DB) close() error {
	if d.stopCheckpoints != nil {
		d.stopCheckpoints()
	}
	if d.Read != nil && d.Read != d.SQL {
		_ = d.Read.Close()
	}
	if d.stmts != nil {
		d.stmts.close()
	}
	err := d.SQL.Close()
	if d.Pool != nil {
		d.Pool.Close()
	}
	return err
}

// PingContext checks that the database answers; health checks use it.
func (d *DB) PingContext(ctx context.Context) error {
	var one int
	return d.SQL.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Tx is a transaction pinned to one connection. Conn is exposed so that the
// jobs package can enqueue River jobs on the same connection, inside the
// same transaction, on PostgreSQL.
type Tx struct {
	*sql.Tx
	Conn    *sql.Conn
	Dialect Dialect
	// pipe is set in a pipelined transaction on PostgreSQL (InPipelineTx):
	// Tx is nil then, and the transaction lives in the batches.
	pipe *pipeState
	// stmts (SQLite) holds the writer's prepared statements; missed lists
	// the statements ExecAll ran unprepared, to prepare after the
	// transaction (see stmtCache).
	stmts  *stmtCache
	missed []string
}

// pipeState is where a pipelined transaction stands.
type pipeState struct {
	begun     bool // BEGIN was sent
	committed bool // COMMIT succeeded
}

// Statement is one statement of ExecAll or ReadAll.
type Statement struct {
	// Name, when set, names the statement in errors beside its position
	// ("statement 3 (read endpoints): …").
	Name string
	SQL  string
	Args []any
	// Scan, when set, makes the statement a query: it is called once with
	// the statement's rows, reads them with Next and Scan, and returns the
	// first error. Its statement's count in ExecAll's result is 0.
	Scan func(Rows) error
}

// Rows is what a Statement's Scan reads: *sql.Rows on SQLite, pgx's rows
// on PostgreSQL. Scan targets are the usual ones (strings, integers,
// bools, time.Time and the sql.Null types).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
}

// ExecAll runs statements in order in tx and returns the rows each
// affected. On PostgreSQL they are sent together (a pgx batch on the
// transaction's connection: one round trip for all, which matters inside
// a transaction that holds a contended lock); on SQLite one by one.
// Queries (statements with Scan) may be mixed in, so that the reads a
// transaction needs next share the round trip of its writes. The first
// failure is returned, wrapped with the statement's index; what ran before
// it stays in the transaction, which the caller rolls back.
func (tx *Tx) ExecAll(ctx context.Context, stmts []Statement) ([]int64, error) {
	if tx.Dialect != Postgres {
		out := make([]int64, 0, len(stmts))
		for i, st := range stmts {
			n, err := tx.execOne(ctx, st)
			if err != nil {
				return out, fmt.Errorf("%s: %w", st.label(i), err)
			}
			out = append(out, n)
		}
		return out, nil
	}
	return tx.sendBatch(ctx, stmts, false)
}

// ExecAllCommit is ExecAll for the last statements of a transaction run
// by InPipelineTx: on PostgreSQL the COMMIT goes in the same round trip,
// and nothing may run in tx afterwards. Elsewhere it is ExecAll, and the
// transaction commits when fn returns, as usual.
func (tx *Tx) ExecAllCommit(ctx context.Context, stmts []Statement) ([]int64, error) {
	if tx.pipe == nil {
		return tx.ExecAll(ctx, stmts)
	}
	return tx.sendBatch(ctx, stmts, true)
}

// sendBatch sends stmts as one pgx batch on the transaction's connection.
// In a pipelined transaction the batch starts with BEGIN if none was sent
// yet, and ends with COMMIT when commit is set.
func (tx *Tx) sendBatch(ctx context.Context, stmts []Statement, commit bool) ([]int64, error) {
	if tx.pipe != nil && tx.pipe.committed {
		return nil, errors.New("exec batch: the transaction is already committed")
	}
	out := make([]int64, 0, len(stmts))
	begin := tx.pipe != nil && !tx.pipe.begun
	err := tx.Conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("exec batch: driver connection is %T, not pgx", dc)
		}
		b := &pgx.Batch{}
		if begin {
			b.Queue("BEGIN")
			tx.pipe.begun = true // whatever happens next, end it with ROLLBACK or COMMIT
		}
		for _, st := range stmts {
			b.Queue(st.SQL, st.Args...)
		}
		if commit {
			b.Queue("COMMIT")
		}
		br := sc.Conn().SendBatch(ctx, b)
		if begin {
			if _, err := br.Exec(); err != nil {
				_ = br.Close()
				return fmt.Errorf("begin transaction: %w", err)
			}
		}
		for i, st := range stmts {
			var n int64
			var err error
			if st.Scan != nil {
				err = scanBatchRows(br, st.Scan)
			} else {
				var tag pgconn.CommandTag
				tag, err = br.Exec()
				n = tag.RowsAffected()
			}
			if err != nil {
				_ = br.Close()
				return fmt.Errorf("%s: %w", st.label(i), err)
			}
			out = append(out, n)
		}
		if commit {
			tag, err := br.Exec()
			if err != nil {
				_ = br.Close()
				return fmt.Errorf("commit transaction: %w", err)
			}
			// COMMIT of a transaction that failed answers ROLLBACK.
			if tag.String() != "COMMIT" {
				_ = br.Close()
				return fmt.Errorf("commit transaction: the server answered %s", tag)
			}
			tx.pipe.committed = true
		}
		return br.Close()
	})
	return out, err
}

// label names the statement at index i of a list in errors: its position
// from 1, and its Name when it has one.
func (st Statement) label(i int) string {
	if st.Name == "" {
		return fmt.Sprintf("statement %d", i+1)
	}
	return fmt.Sprintf("statement %d (%s)", i+1, st.Name)
}

// ReadAll runs stmts in order in one read-only transaction, so that their
// reads all see one state of the database: the parts of a page read from
// several tables never mix two versions of the data. Statements with Scan
// are queries; the others run for their effect (a LOCK TABLE before the
// first query, which is what takes the snapshot on PostgreSQL).
//
// On PostgreSQL the transaction is REPEATABLE READ, READ ONLY, and BEGIN,
// the statements and COMMIT travel as one pgx batch on one connection:
// one round trip (pgx spends one more the first time a connection meets
// a statement, to prepare it). On SQLite they run one by one in a
// read-only transaction on a read connection (db.DB.Read): in WAL mode
// its snapshot is taken by the first read and kept to the end.
//
// A statement that fails — one that would write included — or whose Scan
// fails fails the whole read, with an error naming the statement (see
// Statement.Name); the connection is left outside any transaction.
func (d *DB) ReadAll(ctx context.Context, stmts []Statement) error {
	if d.Dialect == Postgres {
		return d.readAllPostgres(ctx, stmts)
	}
	tx, err := d.Read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read transaction: %w", err)
	}
	defer tx.Rollback() // read-only: nothing to keep
	for i, st := range stmts {
		_, err := runOne(st,
			func() (sql.Result, error) { return tx.ExecContext(ctx, st.SQL, st.Args...) },
			func() (*sql.Rows, error) { return tx.QueryContext(ctx, st.SQL, st.Args...) })
		if err != nil {
			return fmt.Errorf("%s: %w", st.label(i), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("end read transaction: %w", err)
	}
	return nil
}

// readBegin starts the read-only transaction of ReadAll on PostgreSQL.
const readBegin = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"

// readAllPostgres is ReadAll on PostgreSQL: one batch from BEGIN to COMMIT.
func (d *DB) readAllPostgres(ctx context.Context, stmts []Statement) error {
	conn, err := d.Read.Conn(ctx)
	if err != nil {
		return fmt.Errorf("begin read transaction: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("read batch: driver connection is %T, not pgx", dc)
		}
		c := sc.Conn()
		b := &pgx.Batch{}
		b.Queue(readBegin)
		for _, st := range stmts {
			b.Queue(st.SQL, st.Args...)
		}
		b.Queue("COMMIT")
		br := c.SendBatch(ctx, b)
		err := readBatch(br, stmts)
		if cerr := br.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("read batch: %w", cerr)
		}
		if err != nil && c.PgConn().TxStatus() != 'I' {
			// A failed statement leaves the transaction open and aborted:
			// the server skipped the rest of the batch, COMMIT included.
			// Roll it back on a context of its own (the caller's may be
			// what failed), so the connection goes back to the pool
			// usable; should that fail too, pgx's stdlib discards a
			// connection left inside a transaction when it is next taken
			// from the pool (ResetSession).
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, _ = c.Exec(rctx, "ROLLBACK")
			cancel()
		}
		return err
	})
}

// readBatch reads the results of ReadAll's batch: BEGIN, stmts, COMMIT.
func readBatch(br pgx.BatchResults, stmts []Statement) error {
	if _, err := br.Exec(); err != nil {
		// pgx prepares the statements it has not met on this connection
		// before it sends the batch, and reports a statement it could not
		// prepare as the first result: name that statement.
		var pe pgx.ErrPreprocessingBatch
		if errors.As(err, &pe) {
			for i, st := range stmts {
				if st.SQL == pe.SQL() {
					return fmt.Errorf("%s: %w", st.label(i), err)
				}
			}
		}
		return fmt.Errorf("begin read transaction: %w", err)
	}
	for i, st := range stmts {
		var err error
		if st.Scan != nil {
			err = scanBatchRows(br, st.Scan)
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", st.label(i), err)
		}
	}
	tag, err := br.Exec()
	if err != nil {
		return fmt.Errorf("end read transaction: %w", err)
	}
	if tag.String() != "COMMIT" {
		return fmt.Errorf("end read transaction: the server answered %s", tag)
	}
	return nil
}

// execOne runs one statement of ExecAll through database/sql (SQLite),
// as a prepared statement when the writer has it (see stmtCache).
func (tx *Tx) execOne(ctx context.Context, st Statement) (int64, error) {
	if tx.stmts != nil {
		if ps := tx.stmts.get(st.SQL); ps != nil {
			s := tx.StmtContext(ctx, ps)
			defer s.Close()
			return runOne(st,
				func() (sql.Result, error) { return s.ExecContext(ctx, st.Args...) },
				func() (*sql.Rows, error) { return s.QueryContext(ctx, st.Args...) })
		}
	}
	n, err := runOne(st,
		func() (sql.Result, error) { return tx.ExecContext(ctx, st.SQL, st.Args...) },
		func() (*sql.Rows, error) { return tx.QueryContext(ctx, st.SQL, st.Args...) })
	if err == nil && tx.stmts != nil && cacheable(st.SQL) {
		tx.missed = append(tx.missed, st.SQL)
	}
	return n, err
}

// runOne runs st with exec, or with query and st.Scan when st is a query.
func runOne(st Statement, exec func() (sql.Result, error), query func() (*sql.Rows, error)) (int64, error) {
	if st.Scan == nil {
		res, err := exec()
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	rows, err := query()
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	if err := st.Scan(rows); err != nil {
		return 0, err
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	return 0, rows.Err()
}

// scanBatchRows hands the next result of a pgx batch to scan.
func scanBatchRows(br pgx.BatchResults, scan func(Rows) error) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	if err := scan(rows); err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

// InTx runs fn in a transaction and commits when fn returns nil. Any error
// (or panic) rolls the whole transaction back, so nothing is half-written.
func (d *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	missed, err := d.inTx(ctx, fn)
	if len(missed) > 0 {
		// The writer connection is free again: prepare what ExecAll ran
		// unprepared (SQLite), for the next transactions.
		d.stmts.prepareMissed(ctx, missed)
	}
	return err
}

func (d *DB) inTx(ctx context.Context, fn func(tx *Tx) error) (missed []string, err error) {
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	defer conn.Close()
	sqlTx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	tx := &Tx{Tx: sqlTx, Conn: conn, Dialect: d.Dialect, stmts: d.stmts}
	defer func() {
		if p := recover(); p != nil {
			_ = sqlTx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = sqlTx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return tx.missed, err
	}
	if err = sqlTx.Commit(); err != nil {
		return tx.missed, fmt.Errorf("commit transaction: %w", err)
	}
	return tx.missed, nil
}

// InPipelineTx runs fn in a transaction, like InTx, for a transaction
// whose every statement goes through tx.ExecAll, and whose last batch may
// be tx.ExecAllCommit. On PostgreSQL the BEGIN then travels with the first
// batch and the COMMIT with the last: two round trips fewer than InTx,
// which matters to a transaction that runs a few times per millisecond
// behind one lock (the adherence event group commit). Inside fn on
// PostgreSQL tx.Tx is nil: only ExecAll, ExecAllCommit and Dialect may be
// used. On SQLite it is InTx.
func (d *DB) InPipelineTx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	if d.Dialect != Postgres {
		return d.InTx(ctx, fn)
	}
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	tx := &Tx{Conn: conn, Dialect: d.Dialect, pipe: &pipeState{}}
	defer func() {
		p := recover()
		if (err != nil || p != nil) && tx.pipe.begun && !tx.pipe.committed {
			// On a context of its own: the caller's may be what failed.
			// Should the ROLLBACK fail too, pgx's stdlib discards a
			// connection left inside a transaction when it is next taken
			// from the pool (ResetSession).
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, _ = conn.ExecContext(rctx, "ROLLBACK")
			cancel()
		}
		conn.Close()
		if p != nil {
			panic(p)
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if tx.pipe.begun && !tx.pipe.committed {
		if _, err = tx.sendBatch(ctx, nil, true); err != nil {
			return err
		}
	}
	return nil
}

// Querier is what both *sql.DB and *sql.Tx offer; stores accept it so the
// same read code runs inside or outside a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// IsUniqueViolation reports whether err is a unique-constraint violation on
// either engine.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLSTATE 23505") || // PostgreSQL unique_violation
		strings.Contains(msg, "UNIQUE constraint failed") // SQLite
}

// UTC normalises an instant for storage: UTC with microsecond precision,
// the precision PostgreSQL keeps, so values read back compare equal on both
// engines.
func UTC(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Placeholders returns "(p1, p2, …)" for n parameters numbered from first:
// "$first, $first+1, …" on PostgreSQL and plain "?" on SQLite. Statements
// with thousands of parameters (multi-row INSERTs) need the plain form on
// SQLite: it resolves each named or numbered parameter by a linear search
// of the parameters seen so far, when preparing and again when binding, so
// "$n" makes a 7,000-parameter statement quadratic. Plain "?" parameters
// are numbered in order of appearance, so every parameter before them in
// the statement must be numbered in that order too ($1, $2, … first).
func Placeholders(d Dialect, first, n int) string {
	var b strings.Builder
	b.Grow(n * 5)
	b.WriteByte('(')
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		if d == SQLite {
			b.WriteByte('?')
			continue
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(first + i))
	}
	b.WriteByte(')')
	return b.String()
}
