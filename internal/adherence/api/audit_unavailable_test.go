package api_test

import (
	"context"
	"strings"
	"testing"

	pdb "github.com/medplatform/medplatform/internal/platform/db"
)

// TestReadWithTheAuditTrailOutOfSpaceIs503: a read of PHI is refused when
// its audit record cannot be written. With the database out of space the
// refusal is an outage the client may retry, 503 with Retry-After, as
// writes are; the audit error was flattened into text and answered 500
// (QA). A trigger makes the audit insert fail as a full disk does
// (SQLSTATE 53100); SQLite's SQLITE_FULL is classified alike
// (db.TestUnavailable), but cannot be raised at will.
func TestReadWithTheAuditTrailOutOfSpaceIs503(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		if e.db.Dialect != pdb.Postgres {
			t.Skip("a SQLite trigger cannot raise SQLITE_FULL")
		}
		w := newWorld(t, e)
		ctx := context.Background()
		for _, q := range []string{
			`CREATE FUNCTION audit_full() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN RAISE EXCEPTION 'could not extend file (simulated)' USING ERRCODE = 'disk_full'; END $$`,
			`CREATE TRIGGER audit_full BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_full()`,
		} {
			if _, err := e.db.SQL.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		for _, path := range []string{"/v1/patients/" + w.patient, "/v1/patients"} {
			r := e.do("GET", path, w.admin, nil)
			if r.status != 503 || r.header.Get("Retry-After") == "" {
				t.Errorf("GET %s with the audit trail out of space = %d (Retry-After %q) %s, want 503 with Retry-After",
					path, r.status, r.header.Get("Retry-After"), r.body)
			}
			if strings.Contains(string(r.body), "simulated") {
				t.Errorf("GET %s: the answer quotes the database's error: %s", path, r.body)
			}
		}
		if _, err := e.db.SQL.ExecContext(ctx, `DROP TRIGGER audit_full ON audit_log`); err != nil {
			t.Fatal(err)
		}
		e.mustDo("GET", "/v1/patients/"+w.patient, w.admin, nil, 200)
	})
}
