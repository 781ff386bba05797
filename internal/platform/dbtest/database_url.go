package dbtest

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RunFunc is a product's command entry point: the run function of
// cmd/adherence and cmd/medsales.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error

// DatabaseURLSetting checks, through a product's run, how its commands
// read DATABASE_URL: what migrate accepts and refuses (and that a refusal
// creates nothing), and that readCmd, a command that needs the migrated
// database, finds it where migrate put it. Both products read the setting
// with db.URLSetting and open it with db.Open, so they share these cases.
func DatabaseURLSetting(t *testing.T, run RunFunc, readCmd []string) {
	t.Run("mistypedPostgresURLIsRefused", func(t *testing.T) { mistypedPostgresURLIsRefused(t, run, readCmd) })
	t.Run("databaseURLSpacesAreDropped", func(t *testing.T) { databaseURLSpacesAreDropped(t, run, readCmd) })
	t.Run("databaseURLQuery", func(t *testing.T) { databaseURLQuery(t, run, readCmd) })
	t.Run("databaseURLAuthority", func(t *testing.T) { databaseURLAuthority(t, run, readCmd) })
	t.Run("databaseURLInMemory", func(t *testing.T) { databaseURLInMemory(t, run, readCmd) })
	t.Run("databaseURLSchemeAnyCase", func(t *testing.T) { databaseURLSchemeAnyCase(t, run, readCmd) })
}

// mistypedPostgresURLIsRefused checks that a DATABASE_URL that begins
// like a PostgreSQL URL but is not one is refused in one line that does
// not echo its password, and creates nothing. It was taken for a SQLite
// path: migrate exited 0 having created a database under directories
// named after the user, password and host.
func mistypedPostgresURLIsRefused(t *testing.T, run RunFunc, readCmd []string) {
	for _, u := range []string{
		"postgres//u:s3cret@127.0.0.1:5432/x",
		"postgres:/u:s3cret@127.0.0.1:5432/x",
		"postgres:u:s3cret@127.0.0.1:5432/x",
		"postgres: //u:s3cret@127.0.0.1:5432/x",
		"PostgreSQL//u:s3cret@127.0.0.1:5432/x",
	} {
		t.Run(u, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			env := func(k string) string { return map[string]string{"DATABASE_URL": u, "LOG_LEVEL": "warn"}[k] }
			err := run(ctx, []string{"migrate"}, env, nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "DATABASE_URL begins like a PostgreSQL URL but is not one") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("migrate with DATABASE_URL=%q: err = %v, want it refused without the password", u, err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("DATABASE_URL=%q created %s", u, entries[0].Name())
			}
		})
	}
}

// databaseURLSpacesAreDropped checks that spaces around DATABASE_URL
// are dropped, as around DATABASE_URL_FILE's contents: " postgres://…"
// was taken for a SQLite path, so the commands ran on a new SQLite file
// instead of PostgreSQL; and that a DATABASE_URL of spaces is refused.
func databaseURLSpacesAreDropped(t *testing.T, run RunFunc, readCmd []string) {
	engines := []struct {
		name, dialect string
		url           func(t *testing.T) string
	}{
		{"sqlite", "sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "x.db") }},
		{"postgres", "postgres", func(t *testing.T) string { return PostgresURL(t) }},
	}
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			u := " " + eng.url(t) + " "
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			env := func(k string) string { return map[string]string{"DATABASE_URL": u, "LOG_LEVEL": "warn"}[k] }
			var out bytes.Buffer
			if err := run(ctx, []string{"migrate"}, env, nil, &out, io.Discard); err != nil {
				t.Fatalf("migrate with DATABASE_URL=%q: %v", u, err)
			}
			if !strings.Contains(out.String(), "on "+eng.dialect) {
				t.Errorf("migrate with DATABASE_URL=%q: %q, want it on %s", u, out.String(), eng.dialect)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("DATABASE_URL=%q created %s in the working directory", u, entries[0].Name())
			}
		})
	}
	t.Run("blank", func(t *testing.T) {
		t.Chdir(t.TempDir())
		env := func(k string) string { return map[string]string{"DATABASE_URL": "   "}[k] }
		if err := run(context.Background(), []string{"migrate"}, env, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "DATABASE_URL is blank") {
			t.Errorf("migrate with DATABASE_URL of spaces: err = %v, want it refused", err)
		}
	})
}

// databaseURLQuery checks that a SQLite DATABASE_URL with a query or
// a '#' is refused in one line and creates nothing, while a PostgreSQL URL
// keeps its query. Both were dropped without a word: migrate with
// sqlite:x.db?mode=ro wrote the schema, ?_pragma=… was never applied, and
// sqlite:x.db#2 migrated x.db.
func databaseURLQuery(t *testing.T, run RunFunc, readCmd []string) {
	for _, tc := range []struct{ name, suffix, want string }{
		{"mode", "?mode=ro", "SQLite DATABASE_URL takes no query"},
		{"pragma", "?_pragma=journal_mode(DELETE)", "SQLite DATABASE_URL takes no query"},
		{"fragment", "#2", "SQLite DATABASE_URL takes no '#'"}, // SQLite ignored it and what follows
	} {
		t.Run("sqlite/"+tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			u := "sqlite:" + filepath.Join(dir, "x.db") + tc.suffix
			env := func(k string) string { return map[string]string{"DATABASE_URL": u, "LOG_LEVEL": "warn"}[k] }
			err := run(context.Background(), []string{"migrate"}, env, nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("migrate with DATABASE_URL=%q: err = %v, want %q", u, err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("DATABASE_URL=%q created %s", u, entries[0].Name())
			}
		})
	}
	t.Run("postgres", func(t *testing.T) {
		t.Chdir(t.TempDir())
		u := PostgresURL(t) + "?application_name=qa"
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		env := func(k string) string { return map[string]string{"DATABASE_URL": u, "LOG_LEVEL": "warn"}[k] }
		var out bytes.Buffer
		if err := run(ctx, []string{"migrate"}, env, nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "on postgres") {
			t.Errorf("migrate with a PostgreSQL URL with a query: %q, %v, want it migrated on postgres", out.String(), err)
		}
	})
}

// databaseURLAuthority checks a SQLite DATABASE_URL of the form
// file://localhost/PATH: migrate creates the database at PATH, where
// SQLite opens it, and the commands that need an existing database find
// it there; migrate created an empty file and its lock under
// /localhost/PATH too, which those commands checked instead. A file URL
// naming another host is refused before anything is created (migrate
// created /HOST/x.db, empty, then failed with "invalid uri authority").
func databaseURLAuthority(t *testing.T, run RunFunc, readCmd []string) {
	dir := t.TempDir()
	t.Chdir(t.TempDir())
	t.Cleanup(func() { os.RemoveAll(filepath.Join("/localhost", dir)) }) // what migrate created without the fix
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u := "file://localhost" + filepath.Join(dir, "x.db")
	env := func(k string) string { return map[string]string{"DATABASE_URL": u, "LOG_LEVEL": "warn"}[k] }
	if err := run(ctx, []string{"migrate"}, env, nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("migrate with DATABASE_URL=%q: %v", u, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "x.db")); err != nil || fi.Size() == 0 {
		t.Errorf("migrate with DATABASE_URL=%q: no database at %s (%v)", u, filepath.Join(dir, "x.db"), err)
	}
	if _, err := os.Stat(filepath.Join("/localhost", dir)); err == nil {
		t.Errorf("migrate with DATABASE_URL=%q created %s", u, filepath.Join("/localhost", dir))
	}
	os.RemoveAll(filepath.Join("/localhost", dir))
	if err := run(ctx, readCmd, env, nil, io.Discard, io.Discard); err != nil {
		t.Errorf("%s with DATABASE_URL=%q: %v, want the migrated database found", readCmd, u, err)
	}

	const host = "medplatform-no-such-host"
	t.Cleanup(func() { os.RemoveAll("/" + host) })
	u = "file://" + host + "/x.db"
	if err := run(ctx, []string{"migrate"}, env, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), `names the host "`+host+`"`) {
		t.Errorf("migrate with DATABASE_URL=%q: err = %v, want the host refused", u, err)
	}
	if _, err := os.Stat("/" + host); err == nil {
		t.Errorf("migrate with DATABASE_URL=%q created /%s", u, host)
	}
}

// databaseURLInMemory checks that DATABASE_URL=sqlite::memory: is
// refused in one line and creates nothing: migrate reported the schema
// applied to a database of its writer connection alone, which every other
// connection and process lacked, and left an empty file named ":memory:".
func databaseURLInMemory(t *testing.T, run RunFunc, readCmd []string) {
	dir := t.TempDir()
	t.Chdir(dir)
	env := func(k string) string {
		return map[string]string{"DATABASE_URL": "sqlite::memory:", "LOG_LEVEL": "warn"}[k]
	}
	err := run(context.Background(), []string{"migrate"}, env, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "SQLite database in memory") {
		t.Errorf("migrate with sqlite::memory:: err = %v, want it refused", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("migrate with sqlite::memory: created %s", entries[0].Name())
	}
}

// databaseURLSchemeAnyCase checks that DATABASE_URL=SQLite:PATH is the
// file PATH, for migrate and for the commands that need an existing
// database: it was taken for a relative path, and migrate created the
// directories ./SQLite:/… in the working directory and the database there.
func databaseURLSchemeAnyCase(t *testing.T, run RunFunc, readCmd []string) {
	dir := t.TempDir()
	work := t.TempDir()
	t.Chdir(work)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u := "SQLite:" + filepath.Join(dir, "x.db")
	env := func(k string) string { return map[string]string{"DATABASE_URL": u, "LOG_LEVEL": "warn"}[k] }
	if err := run(ctx, []string{"migrate"}, env, nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("migrate with DATABASE_URL=%q: %v", u, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); err != nil {
		t.Errorf("migrate with DATABASE_URL=%q: no database at %s: %v", u, filepath.Join(dir, "x.db"), err)
	}
	if entries, _ := os.ReadDir(work); len(entries) > 0 {
		t.Errorf("migrate with DATABASE_URL=%q created %s in the working directory", u, entries[0].Name())
	}
	if err := run(ctx, readCmd, env, nil, io.Discard, io.Discard); err != nil {
		t.Errorf("%s with DATABASE_URL=%q: %v, want the migrated database found", readCmd, u, err)
	}
}
