package audit

import (
	"strings"
	"testing"
)

// TestRepairedGuardIsTheMigrations: the guard the Repair installs is the
// text migration 00001 creates now (white space aside), so a repaired
// database and a new one cannot drift apart when either is edited. (The
// Repair's PostgreSQL function is CREATE OR REPLACE: compared from its
// name on.)
func TestRepairedGuardIsTheMigrations(t *testing.T) {
	squash := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for dialect, guard := range map[string]string{"postgres": headGuardPostgres, "sqlite": headGuardSQLite} {
		b, err := migrationFiles.ReadFile("migrations/" + dialect + "/00001_audit.sql")
		if err != nil {
			t.Fatal(err)
		}
		body := strings.TrimPrefix(guard, "CREATE OR REPLACE FUNCTION ")
		if !strings.Contains(squash(string(b)), squash(body)) {
			t.Errorf("%s: the Repair's guard is not the one migration 00001 creates:\n%s", dialect, guard)
		}
	}
}
