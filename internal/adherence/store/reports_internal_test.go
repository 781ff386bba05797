package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// TestCohortQueryReadsEachPatientsWindow: on SQLite the cohort counts are
// read patient by patient, each patient's window a range of
// dose_instances_patient_due (its due_at bounded in the index, not
// filtered), grouped as they come without a temporary b-tree. Read the
// other way round, as one scan of the org's instances grouped by patient,
// the report read every instance the org ever had.
func TestCohortQueryReadsEachPatientsWindow(t *testing.T) {
	d := dbtest.SQLite(t, audit.Migrations, Migrations)
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	rows, err := d.SQL.QueryContext(context.Background(), `EXPLAIN QUERY PLAN `+cohortCountsSQL(db.SQLite),
		"01900000-0000-7000-8000-000000000001", at, at.Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	const inner = "SEARCH d USING COVERING INDEX dose_instances_patient_due (org_id=? AND patient_id=? AND due_at>? AND due_at<?)"
	if len(plan) != 2 || !strings.HasPrefix(plan[0], "SEARCH p USING COVERING INDEX ") || !strings.HasSuffix(plan[0], " (org_id=?)") || plan[1] != inner {
		t.Errorf("query plan:\n%s\nwant: the org's patients through an index on (org_id, id), then for each\n%s", strings.Join(plan, "\n"), inner)
	}
}
