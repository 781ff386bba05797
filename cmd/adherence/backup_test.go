package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// cli runs one adherence command with DATABASE_URL=url.
func cli(t *testing.T, url string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string {
		if k == "DATABASE_URL" {
			return url
		}
		return ""
	}, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), err
}

// serveOn runs serve on the SQLite database url until the returned stop.
func serveOn(t *testing.T, url string) (base string, stop func()) {
	t.Helper()
	addr := freeAddr(t)
	env := map[string]string{"DATABASE_URL": url, "SHUTDOWN_DRAIN": "0s", "LOG_LEVEL": "warn"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr}, func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, io.Discard)
	}()
	base = "http://" + addr
	waitReady(t, base+"/readyz", done)
	return base, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
}

func request(t *testing.T, method, url, key, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestBackupWhileServingAndRestore: a backup taken while serve runs and
// writes is a consistent, owner-only copy; restored under another name it
// verifies and serves the same records.
func TestBackupWhileServingAndRestore(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite:" + filepath.Join(dir, "live.db")
	if _, errOut, err := cli(t, url, "migrate"); err != nil {
		t.Fatalf("migrate: %v %s", err, errOut)
	}
	out, errOut, err := cli(t, url, "admin", "bootstrap", "--org", "Backup Care")
	if err != nil {
		t.Fatalf("bootstrap: %v %s", err, errOut)
	}
	_, key, _ := strings.Cut(out, "admin_key=")
	key = strings.TrimSpace(key)
	base, stop := serveOn(t, url)
	code, body := request(t, http.MethodPost, base+"/v1/patients", key,
		`{"givenName":"Ada","familyName":"Lovelace","timeZone":"Europe/London","language":"en"}`)
	if code != http.StatusCreated {
		stop()
		t.Fatalf("create patient: %d %s", code, body)
	}
	_, id, _ := strings.Cut(body, `"id":"`)
	id, _, _ = strings.Cut(id, `"`)

	backup := filepath.Join(dir, "backup.db")
	out, errOut, err = cli(t, url, "backup", "--out", backup) // serve still running
	stop()
	if err != nil || !strings.Contains(out, "audit chain intact") {
		t.Fatalf("backup: %v %q %q", err, out, errOut)
	}
	fi, err := os.Stat(backup)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("the backup's mode is %v, want 0600 (it holds PHI)", fi.Mode().Perm())
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*partial")); len(m) > 0 {
		t.Errorf("partial files left: %v", m)
	}
	if _, _, err := cli(t, url, "backup", "--out", backup); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("a second backup to the same file: %v, want a refusal", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "afile"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, url, "backup", "--out", filepath.Join(dir, "afile", "b.db")); err == nil || !strings.Contains(err.Error(), "afile is not a directory") {
		t.Fatalf("a backup into a file: %v, want a refusal saying it is not a directory", err)
	}
	missing := filepath.Join(dir, "no-such-dir", "b.db")
	if _, _, err := cli(t, url, "backup", "--out", missing); err == nil || !strings.Contains(err.Error(), "the directory "+filepath.Dir(missing)+" does not exist") {
		t.Fatalf("a backup into a missing directory: %v, want a refusal naming the directory", err)
	}

	restored := "sqlite:" + filepath.Join(dir, "restored.db")
	if out, errOut, err := cli(t, restored, "restore", "--from", backup); err != nil || !strings.Contains(out, "restored ") {
		t.Fatalf("restore: %v %q %q", err, out, errOut)
	}
	liveVerify, _, err := cli(t, url, "audit", "verify")
	if err != nil {
		t.Fatal(err)
	}
	restoredVerify, _, err := cli(t, restored, "audit", "verify")
	if err != nil {
		t.Fatal(err)
	}
	count := func(s string) string {
		n, _, _ := strings.Cut(strings.TrimPrefix(s, "audit chain intact: "), " ")
		return n
	}
	if count(liveVerify) != count(restoredVerify) {
		t.Fatalf("audit records: live %q, restored %q", liveVerify, restoredVerify)
	}
	base, stop = serveOn(t, restored)
	defer stop()
	if code, body := request(t, http.MethodGet, base+"/v1/patients/"+id, key, ""); code != http.StatusOK || !strings.Contains(body, "Lovelace") {
		t.Fatalf("the restored database does not serve the patient: %d %s", code, body)
	}
}

// TestRestoreRefusals: nothing is replaced when the backup does not check
// or a process may hold the database; the live file stays as it was.
func TestRestoreRefusals(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite:" + filepath.Join(dir, "live.db")
	if _, _, err := cli(t, url, "admin", "bootstrap", "--org", "Refusals"); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.db")
	if _, errOut, err := cli(t, url, "backup", "--out", good); err != nil {
		t.Fatalf("backup: %v %s", err, errOut)
	}
	variant := func(name string, change func(db *sql.DB)) string {
		t.Helper()
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(good)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		change(db)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tampered := variant("tampered.db", func(db *sql.DB) {
		for _, q := range []string{"DROP TRIGGER audit_log_no_update", "UPDATE audit_log SET actor_id = 'mallory' WHERE seq = 1"} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	})
	newer := variant("newer.db", func(db *sql.DB) {
		if _, err := db.Exec("INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, 1)"); err != nil {
			t.Fatal(err)
		}
	})
	other := filepath.Join(dir, "other.db")
	otherDB, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := otherDB.Exec("CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	otherDB.Close()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	goodBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.db")
	if err := os.WriteFile(truncated, goodBytes[:len(goodBytes)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, "live.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, from, want string }{
		{"tampered audit chain", tampered, "audit chain broken"},
		{"newer schema", newer, "newer version"},
		{"another database", other, "not an adherence database"},
		{"not SQLite", text, "not a SQLite database"},
		// Named as the file given, not as the restore's copy of it.
		{"truncated", truncated, "truncated.db: cannot be opened as a database (damaged or truncated: make the backup again): database disk image is malformed"},
		{"missing file", filepath.Join(dir, "none.db"), "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := cli(t, url, "restore", "--from", tc.from); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("restore: %v, want an error with %q", err, tc.want)
			}
		})
	}
	t.Run("database in use", func(t *testing.T) {
		wal := filepath.Join(dir, "live.db-wal")
		if err := os.WriteFile(wal, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(wal)
		if _, _, err := cli(t, url, "restore", "--from", good); err == nil || !strings.Contains(err.Error(), "stop serve and worker") {
			t.Fatalf("restore beside a WAL: %v, want a refusal", err)
		}
	})
	after, err := os.ReadFile(filepath.Join(dir, "live.db"))
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the live database changed after refused restores (%v)", err)
	}
	// DATABASE_URL naming another product's database (medsales keeps its
	// file beside adherence's under ./data): it is not replaced.
	t.Run("another product's database", func(t *testing.T) {
		medsales := filepath.Join(dir, "medsales.db")
		mdb, err := sql.Open("sqlite", medsales)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mdb.Exec("CREATE TABLE providers (npi TEXT); INSERT INTO providers VALUES ('1234567893')"); err != nil {
			t.Fatal(err)
		}
		mdb.Close()
		was, err := os.ReadFile(medsales)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := cli(t, "sqlite:"+medsales, "restore", "--from", good); err == nil || !strings.Contains(err.Error(), "not an adherence database (it holds the tables providers") {
			t.Fatalf("restore over a medsales database: %v, want a refusal naming its tables", err)
		}
		now, err := os.ReadFile(medsales)
		if err != nil || !bytes.Equal(was, now) {
			t.Fatalf("the other product's database changed (%v)", err)
		}
		if m, _ := filepath.Glob(medsales + "*"); len(m) != 1 {
			t.Fatalf("files beside the refused target: %v", m)
		}
	})
	// A damaged adherence database is what a restore puts right: a file
	// that is not SQLite any more is replaced.
	t.Run("damaged target replaced", func(t *testing.T) {
		damaged := filepath.Join(dir, "damaged.db")
		if err := os.WriteFile(damaged, []byte("garbage where a database was"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, errOut, err := cli(t, "sqlite:"+damaged, "restore", "--from", good); err != nil {
			t.Fatalf("restore over a damaged file: %v %s", err, errOut)
		}
	})
	if m, _ := filepath.Glob(filepath.Join(dir, "live.db.before-restore-*")); len(m) > 0 {
		t.Fatalf("a refused restore moved the live database: %v", m)
	}
}

// TestBackupOnPostgresRefused: PostgreSQL's backups are the engine's,
// which backup and restore say before anything else: on a server not
// migrated (or not answering), backup told to migrate it first.
func TestBackupOnPostgresRefused(t *testing.T) {
	url := dbtest.PostgresURL(t)
	if _, _, err := cli(t, url, "backup", "--out", filepath.Join(t.TempDir(), "x.db")); !errors.Is(err, errPostgresBackup) {
		t.Fatalf("backup on PostgreSQL not migrated: %v", err)
	}
	if _, _, err := cli(t, url, "migrate"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, url, "backup", "--out", filepath.Join(t.TempDir(), "x.db")); !errors.Is(err, errPostgresBackup) {
		t.Fatalf("backup on PostgreSQL: %v", err)
	}
	if _, _, err := cli(t, url, "restore", "--from", filepath.Join(t.TempDir(), "x.db")); !errors.Is(err, errPostgresBackup) {
		t.Fatalf("restore on PostgreSQL: %v", err)
	}
}

// TestRestoreToAnEarlierPointIsRecorded: restoring a backup taken before
// the last audit checkpoint leaves a chain that ends before it, which is
// what a deletion looks like: verify says so and the checkpoint command
// refuses, until `audit restored` records the restore; from then on verify
// passes, naming the restore and the checkpoints set aside, and the chain
// is checkpointed again as it grows.
func TestRestoreToAnEarlierPointIsRecorded(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite:" + filepath.Join(dir, "live.db")
	must := func(args ...string) string {
		t.Helper()
		out, errOut, err := cli(t, url, args...)
		if err != nil {
			t.Fatalf("%v: %v %s", args, err, errOut)
		}
		return out
	}
	must("migrate")
	must("admin", "bootstrap", "--org", "Restore Care")
	backup := filepath.Join(dir, "early.db")
	must("backup", "--out", backup)
	must("admin", "bootstrap", "--org", "Later Care")
	if out := must("audit", "checkpoint"); !strings.Contains(out, "written") {
		t.Fatalf("audit checkpoint: %q", out)
	}
	out := must("restore", "--from", backup)
	if !strings.Contains(out, "audit restored --reason") {
		t.Errorf("restore does not say how to record the restore: %q", out)
	}

	if _, errOut, err := cli(t, url, "audit", "verify"); err == nil || !strings.Contains(errOut, "truncated") {
		t.Fatalf("verify after restoring an earlier backup: %v %q; want the chain reported truncated", err, errOut)
	}
	if _, _, err := cli(t, url, "audit", "checkpoint"); err == nil || !strings.Contains(err.Error(), "audit restored --reason") {
		t.Fatalf("checkpoint of a chain behind a checkpoint: %v; want a refusal saying how to record a restore", err)
	}
	if _, _, err := cli(t, url, "audit", "restored"); err == nil || !strings.Contains(err.Error(), "--reason is required") {
		t.Fatalf("audit restored without a reason: %v", err)
	}
	if out := must("audit", "restored", "--reason", "early backup restored in a drill"); !strings.Contains(out, "restore recorded") {
		t.Fatalf("audit restored: %q", out)
	}
	out = must("audit", "verify")
	if !strings.Contains(out, "restore acknowledged") || !strings.Contains(out, "early backup restored in a drill") ||
		!strings.Contains(out, "audit chain intact") || !strings.Contains(out, "1 checkpoint(s) of the chain a restore abandoned set aside") {
		t.Fatalf("verify after the restore was recorded: %q", out)
	}

	// The chain grows again, past the position of the abandoned
	// checkpoint, and is checkpointed and verified as before.
	must("admin", "bootstrap", "--org", "After Care")
	must("admin", "bootstrap", "--org", "Still After Care")
	out = must("audit", "checkpoint")
	var seq int
	if _, err := fmt.Sscanf(out, "checkpoint of record %d", &seq); err != nil || !strings.Contains(out, "written") {
		t.Fatalf("audit checkpoint of the grown chain: %q (%v)", out, err)
	}
	// Verify names the new checkpoint as the last, not the abandoned
	// one, which may hold a later record or be of the same one (QA).
	if out := must("audit", "verify"); !strings.Contains(out, "audit chain intact") || !strings.Contains(out, fmt.Sprintf("(the last of record %d, ", seq)) {
		t.Fatalf("verify of the grown chain: %q; want the checkpoint of record %d named the last", out, seq)
	}
}

// TestKeepCopyNeverReplaces: two restores in the same second keep both
// databases they replaced. The second renamed the live file onto the
// first's copy, and the database live before both was lost (QA).
func TestKeepCopyNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live.db")
	if err := os.WriteFile(live, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 6, 19, 28, 42, 0, time.UTC)
	var kept []string
	for _, restored := range []string{"second", "third", "fourth"} {
		name, err := keepCopy(live, at)
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, name)
		// As a restore does: the restored file is renamed over the live
		// one once its copy is kept.
		next := filepath.Join(dir, ".live.db.restoring")
		if err := os.WriteFile(next, []byte(restored), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(next, live); err != nil {
			t.Fatal(err)
		}
	}
	base := live + ".before-restore-20261206T192842Z"
	for i, want := range []struct{ name, content string }{{base, "first"}, {base + "-2", "second"}, {base + "-3", "third"}} {
		if kept[i] != want.name {
			t.Errorf("copy %d kept at %s, want %s", i+1, kept[i], want.name)
		}
		if b, err := os.ReadFile(want.name); err != nil || string(b) != want.content {
			t.Errorf("%s holds %q (%v), want %q", want.name, b, err, want.content)
		}
	}
}

// TestBackupBeforeMigrating: the backup an operator takes before an
// upgrade's 'adherence migrate', with the new binary, of a database whose
// newest migration is not applied yet. It was refused ("migrations
// pending: run 'adherence migrate' first"), the one step the backup was
// to come before. Now it is made, says what it copied, restores, and the
// restored copy migrates and serves.
func TestBackupBeforeMigrating(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite:" + filepath.Join(dir, "live.db")
	out, errOut, err := cli(t, url, "admin", "bootstrap", "--org", "Upgrade Care")
	if err != nil {
		t.Fatalf("bootstrap: %v %s", err, errOut)
	}
	_, key, _ := strings.Cut(out, "admin_key=")
	key = strings.TrimSpace(key)
	// The schema of the release before: the newest migration undone.
	d, err := db.Open(context.Background(), url, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := store.Migrations.Provider(d)
	if err != nil {
		t.Fatal(err)
	}
	sources := p.ListSources()
	newest := sources[len(sources)-1].Version
	if _, err := p.DownTo(context.Background(), newest-1); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, _, err := cli(t, url, "audit", "verify"); err == nil || !strings.Contains(err.Error(), "migrations pending") {
		t.Fatalf("audit verify: %v, want the database to have migrations pending", err)
	}

	backup := filepath.Join(dir, "before-upgrade.db")
	out, errOut, err = cli(t, url, "backup", "--out", backup)
	if err != nil || !strings.Contains(out, "audit chain intact") {
		t.Fatalf("backup of a database with migrations pending: %v %q %q", err, out, errOut)
	}
	if !strings.Contains(errOut, "migrations pending") {
		t.Errorf("backup stderr %q does not say the database has migrations pending", errOut)
	}
	restored := "sqlite:" + filepath.Join(dir, "restored.db")
	if out, errOut, err := cli(t, restored, "restore", "--from", backup); err != nil || !strings.Contains(out, "restored ") {
		t.Fatalf("restore: %v %q %q", err, out, errOut)
	}
	if _, errOut, err := cli(t, restored, "migrate"); err != nil {
		t.Fatalf("migrate the restored copy: %v %s", err, errOut)
	}
	base, stop := serveOn(t, restored)
	defer stop()
	if code, body := request(t, http.MethodGet, base+"/v1/patients", key, ""); code != http.StatusOK {
		t.Fatalf("the restored, migrated copy does not serve the org's key: %d %s", code, body)
	}
}
