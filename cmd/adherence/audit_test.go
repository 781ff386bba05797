package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
