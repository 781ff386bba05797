package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestAuditVerifyCommand tampers with stored audit records the way an
// attacker with database access would (dropping the guard triggers first)
// and checks that `adherence audit verify` exits non-zero naming the record
// (by sequence number, and by id where the record exists).
func TestAuditVerifyCommand(t *testing.T) {
	type engine struct {
		name string
		url  func(t *testing.T) string
		drop []string
	}
	engines := []engine{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "a.db") },
			[]string{"DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"}},
		{"postgres", func(t *testing.T) string { return dbtest.PostgresURL(t) },
			[]string{"DROP TRIGGER audit_log_no_change ON audit_log"}},
	}
	tampers := []struct {
		name    string
		sql     []string
		wantSeq string
	}{
		{"intact", nil, ""},
		{"update", []string{"UPDATE audit_log SET actor_id = 'someone-else' WHERE seq = 3"}, "seq 3"},
		{"delete", []string{"DELETE FROM audit_log WHERE seq = 2"}, "seq 3"},
		{"swap", []string{
			"UPDATE audit_log SET seq = 100 WHERE seq = 2",
			"UPDATE audit_log SET seq = 2 WHERE seq = 4",
			"UPDATE audit_log SET seq = 4 WHERE seq = 100",
		}, "seq 2"},
		// The last record deleted: there is no record to name by id.
		{"truncate", []string{"DELETE FROM audit_log WHERE seq = 5"}, "seq 5"},
	}
	for _, eng := range engines {
		for _, tc := range tampers {
			t.Run(eng.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				url := eng.url(t)
				d, err := db.Open(ctx, url, db.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer d.Close()
				if _, err := migrate.Up(ctx, d, migrationSets...); err != nil {
					t.Fatal(err)
				}
				log := audit.New(d, nil, nil)
				for i := 1; i <= 5; i++ {
					if _, err := log.AppendNow(ctx, audit.Record{OrgID: "org", ActorID: "actor", ActorRole: "admin",
						Action: audit.ActionRead, ResourceType: "Patient", ResourceID: fmt.Sprint("p", i), PatientID: fmt.Sprint("p", i)}); err != nil {
						t.Fatal(err)
					}
				}
				if len(tc.sql) > 0 {
					for _, stmt := range append(eng.drop, tc.sql...) {
						if _, err := d.SQL.ExecContext(ctx, stmt); err != nil {
							t.Fatalf("%s: %v", stmt, err)
						}
					}
				}
				d.Close()

				var out, errOut bytes.Buffer
				err = run(ctx, []string{"audit", "verify"}, func(k string) string {
					if k == "DATABASE_URL" {
						return url
					}
					return ""
				}, nil, &out, &errOut)
				if tc.wantSeq == "" {
					if err != nil || !strings.Contains(out.String(), "5 record(s) verified") {
						t.Fatalf("intact chain: err=%v out=%q stderr=%q", err, out.String(), errOut.String())
					}
					return
				}
				if !errors.Is(err, errSilent) {
					t.Fatalf("audit verify after %s: err = %v, want failure", tc.name, err)
				}
				if !strings.Contains(errOut.String(), tc.wantSeq) {
					t.Fatalf("audit verify output %q does not name %s", errOut.String(), tc.wantSeq)
				}
				if strings.Contains(errOut.String(), "(id )") {
					t.Fatalf("audit verify output %q names an empty id", errOut.String())
				}
			})
		}
	}
}

// TestAuditCheckpointCommand: `audit checkpoint` copies the head to
// BLOB_URL (on SQLite, by default, FILE-blobs beside the database), and
// `audit verify` then catches a chain rewritten consistently from an
// earlier record on, head included, which verifies on its own.
func TestAuditCheckpointCommand(t *testing.T) {
	type engine struct {
		name     string
		url      func(t *testing.T) string
		unguard  []string
		defaults bool // BLOB_URL unset: the engine's default store
	}
	engines := []engine{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "a.db") },
			[]string{"DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_head_advance_only"}, true},
		{"postgres", func(t *testing.T) string { return dbtest.PostgresURL(t) },
			[]string{"DROP TRIGGER audit_log_no_change ON audit_log", "ALTER TABLE audit_head DISABLE TRIGGER USER"}, false},
	}
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			url := eng.url(t)
			blobURL := filepath.Join(t.TempDir(), "checkpoints")
			if eng.defaults {
				blobURL = ""
			}
			cmd := func(args ...string) (string, string, error) {
				var out, errOut bytes.Buffer
				err := run(ctx, args, func(k string) string {
					switch k {
					case "DATABASE_URL":
						return url
					case "BLOB_URL":
						return blobURL
					}
					return ""
				}, nil, &out, &errOut)
				return out.String(), errOut.String(), err
			}
			d, err := db.Open(ctx, url, db.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if _, err := migrate.Up(ctx, d, migrationSets...); err != nil {
				t.Fatal(err)
			}
			log := audit.New(d, nil, nil)
			for i := 1; i <= 5; i++ {
				if _, err := log.AppendNow(ctx, audit.Record{OrgID: "org", ActorID: "actor", ActorRole: "admin",
					Action: audit.ActionRead, ResourceType: "Patient", ResourceID: fmt.Sprint("p", i), PatientID: fmt.Sprint("p", i)}); err != nil {
					t.Fatal(err)
				}
			}
			if out, errOut, err := cmd("audit", "checkpoint"); err != nil || !strings.Contains(out, "checkpoint of record 5") {
				t.Fatalf("audit checkpoint: %v %q %q", err, out, errOut)
			}
			if eng.defaults {
				dir := filepath.Join(strings.TrimPrefix(url, "sqlite:")+"-blobs", "audit", "checkpoints")
				if m, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(m) != 1 {
					t.Fatalf("no checkpoint beside the database in %s: %v", dir, m)
				}
			}
			if out, _, err := cmd("audit", "checkpoint"); err != nil || !strings.Contains(out, "record 5 is checkpointed already") {
				t.Fatalf("second audit checkpoint: %v %q", err, out)
			}
			if out, errOut, err := cmd("audit", "verify"); err != nil || !strings.Contains(out, "5 record(s) verified, against 1 checkpoint(s)") {
				t.Fatalf("audit verify: %v %q %q", err, out, errOut)
			}

			// Rewrite records 2 to 5 and the head consistently.
			for _, stmt := range eng.unguard {
				if _, err := d.SQL.ExecContext(ctx, stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			recs, err := log.List(ctx, audit.Filter{OrgID: "org"})
			if err != nil || len(recs) != 5 {
				t.Fatalf("list: %d records, %v", len(recs), err)
			}
			prev := recs[0].Hash
			for _, r := range recs[1:] {
				r.ActorID, r.PrevHash = "mallory", prev
				r.Hash = audit.ComputeHash(r)
				if _, err := d.SQL.ExecContext(ctx, `UPDATE audit_log SET actor_id = $1, prev_hash = $2, hash = $3 WHERE seq = $4`,
					r.ActorID, r.PrevHash, r.Hash, r.Seq); err != nil {
					t.Fatal(err)
				}
				prev = r.Hash
			}
			if _, err := d.SQL.ExecContext(ctx, `UPDATE audit_head SET hash = $1 WHERE id = 1`, prev); err != nil {
				t.Fatal(err)
			}
			if res, err := log.Verify(ctx); err != nil || !res.OK {
				t.Fatalf("the rewritten chain should verify on its own: %+v %v", res, err)
			}
			_, errOut, err := cmd("audit", "verify")
			if !errors.Is(err, errSilent) || !strings.Contains(errOut, "BROKEN at seq 5") || !strings.Contains(errOut, "checkpoint_mismatch") {
				t.Fatalf("audit verify of the rewritten chain: %v %q", err, errOut)
			}
		})
	}
}

// TestAuditCheckpointWithoutStore: on PostgreSQL without BLOB_URL there
// is no store; checkpoint says so and fails, verify says it had none.
func TestAuditCheckpointWithoutStore(t *testing.T) {
	ctx := context.Background()
	url := dbtest.PostgresURL(t)
	getenv := func(k string) string {
		if k == "DATABASE_URL" {
			return url
		}
		return ""
	}
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"migrate"}, getenv, nil, &out, &errOut); err != nil {
		t.Fatalf("migrate: %v %s", err, errOut.String())
	}
	out.Reset()
	if err := run(ctx, []string{"audit", "checkpoint"}, getenv, nil, &out, &errOut); err == nil || !strings.Contains(err.Error(), "BLOB_URL is not set") {
		t.Fatalf("audit checkpoint without BLOB_URL: %v", err)
	}
	if err := run(ctx, []string{"audit", "verify"}, getenv, nil, &out, &errOut); err != nil || !strings.Contains(out.String(), "no checkpoints to verify against (BLOB_URL is not set)") {
		t.Fatalf("audit verify without BLOB_URL: %v %q", err, out.String())
	}
}

// TestAuditVerifyNamesAMissingCheckpointDirectory: BLOB_URL naming a
// directory that does not exist (mistyped, or never written) is said so by
// verify, which said only "no checkpoint yet" (QA).
func TestAuditVerifyNamesAMissingCheckpointDirectory(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(dir, "a.db"), "BLOB_URL": "file://" + filepath.Join(dir, "no-such-dir")}
	getenv := func(k string) string { return env[k] }
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"migrate"}, getenv, nil, &out, &errOut); err != nil {
		t.Fatalf("migrate: %v %s", err, errOut.String())
	}
	out.Reset()
	if err := run(ctx, []string{"audit", "verify"}, getenv, nil, &out, &errOut); err != nil || !strings.Contains(out.String(), "the directory does not exist") {
		t.Fatalf("audit verify with a missing BLOB_URL directory: %v %q", err, out.String())
	}
	if err := os.MkdirAll(filepath.Join(dir, "no-such-dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"audit", "verify"}, getenv, nil, &out, &errOut); err != nil || strings.Contains(out.String(), "does not exist") {
		t.Fatalf("audit verify with an empty BLOB_URL directory: %v %q", err, out.String())
	}
}

// TestDefaultCheckpointStoreIsTheDatabases: on SQLite without BLOB_URL
// each database keeps its checkpoints in a store of its own, so two
// databases of one directory do not take each other's checkpoints for a
// rewritten chain (they shared blobs/ until 2026-12-06). adherence.db, the
// default database, whose directory holds that shared store and which has
// none of its own, keeps using it; any other database gets its own.
func TestDefaultCheckpointStoreIsTheDatabases(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cmd := func(file string, args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, args, func(k string) string {
			if k == "DATABASE_URL" {
				return "sqlite:" + filepath.Join(dir, file)
			}
			return ""
		}, nil, &out, &errOut)
		return out.String(), errOut.String(), err
	}
	bootstrap := func(file string) {
		t.Helper()
		if out, errOut, err := cmd(file, "admin", "bootstrap", "--org", "Org "+file); err != nil {
			t.Fatalf("bootstrap %s: %v %q %q", file, err, out, errOut)
		}
	}
	checkpoint := func(file string) {
		t.Helper()
		if out, errOut, err := cmd(file, "audit", "checkpoint"); err != nil || !strings.Contains(out, "checkpoint of record") {
			t.Fatalf("audit checkpoint of %s: %v %q %q", file, err, out, errOut)
		}
	}
	verify := func(file string, sharedWarning bool) {
		t.Helper()
		out, errOut, err := cmd(file, "audit", "verify")
		if err != nil || !strings.Contains(out, "against 1 checkpoint(s)") {
			t.Errorf("audit verify of %s: %v %q %q", file, err, out, errOut)
		}
		if got := strings.Contains(errOut, "every SQLite database of this directory shares"); got != sharedWarning {
			t.Errorf("audit verify of %s: warned of the shared store %v, want %v: %q", file, got, sharedWarning, errOut)
		}
	}
	for _, file := range []string{"adherence.db", "b.db"} {
		bootstrap(file)
		checkpoint(file)
	}
	for _, file := range []string{"adherence.db", "b.db"} {
		verify(file, false)
		if m, _ := filepath.Glob(filepath.Join(dir, file+"-blobs", "audit", "checkpoints", "*.json")); len(m) != 1 {
			t.Errorf("checkpoints of %s in its own store: %v, want 1", file, m)
		}
	}

	// adherence.db checkpointed into the shared store before: it keeps it.
	if err := os.Rename(filepath.Join(dir, "adherence.db-blobs"), filepath.Join(dir, "blobs")); err != nil {
		t.Fatal(err)
	}
	verify("adherence.db", true)
	if _, err := os.Stat(filepath.Join(dir, "adherence.db-blobs")); err == nil {
		t.Errorf("a store of its own was made for adherence.db beside the shared one holding its checkpoints")
	}
	// b.db has its own: the shared one is not its.
	verify("b.db", false)
	// Nor is it a new database's, which never wrote there: it took the
	// shared store for its own and reported its chain rewritten.
	bootstrap("c.db")
	checkpoint("c.db")
	verify("c.db", false)

	// prod.db, of another name, checkpointed into the shared store under a
	// release from before: a checkpoint there vouches for its chain, so it
	// keeps using it. It was given an empty store of its own, and a chain
	// cut back then verified as intact (QA).
	bootstrap("prod.db")
	checkpoint("prod.db")
	if err := os.RemoveAll(filepath.Join(dir, "blobs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "prod.db-blobs"), filepath.Join(dir, "blobs")); err != nil {
		t.Fatal(err)
	}
	verify("prod.db", true)
	if _, err := os.Stat(filepath.Join(dir, "prod.db-blobs")); err == nil {
		t.Errorf("a store of its own was made for prod.db beside the shared one holding its checkpoints")
	}
	// q.db wrote its checkpoint of a longer chain into the shared store
	// too (two databases of one directory under a release from before):
	// prod.db's checkpoint there is of another record at a seq q.db's chain
	// holds, so the store is not q.db's alone; taken for its own, q.db read
	// as broken. q.db gets a store of its own.
	out, errOut, err := cmd("q.db", "admin", "bootstrap", "--org", "Org q")
	if err != nil {
		t.Fatalf("bootstrap q.db: %v %q", err, errOut)
	}
	_, org, _ := strings.Cut(out, "org_id=")
	org, _, _ = strings.Cut(org, "\n")
	for range 3 {
		if _, errOut, err := cmd("q.db", "admin", "create-key", "--org", strings.TrimSpace(org)); err != nil {
			t.Fatalf("create-key on q.db: %v %q", err, errOut)
		}
	}
	checkpoint("q.db")
	qs, _ := filepath.Glob(filepath.Join(dir, "q.db-blobs", "audit", "checkpoints", "*.json"))
	if len(qs) != 1 {
		t.Fatalf("checkpoints of q.db: %v", qs)
	}
	if err := os.Rename(qs[0], filepath.Join(dir, "blobs", "audit", "checkpoints", filepath.Base(qs[0]))); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "q.db-blobs")); err != nil {
		t.Fatal(err)
	}
	if out, errOut, err := cmd("q.db", "audit", "verify"); err != nil || strings.Contains(errOut, "every SQLite database of this directory shares") {
		t.Errorf("audit verify of q.db beside a store holding another database's checkpoint: %v %q %q, want it intact on a store of its own", err, out, errOut)
	}
}
