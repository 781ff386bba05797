package api_test

import (
	"fmt"
	"testing"
)

// TestStatusChangeWithoutChangeIsAudited: pausing a paused plan, resuming
// an active one, stopping a stopped one, deactivating an inactive patient or reactivating an active
// one changes nothing and answers 200 with the record (the patient's name,
// birth date and contacts, the plan's drug), which is still one audit
// record of the change attempted, as a PATCH changing nothing is. Those
// answers disclosed the record with no audit record at all.
func TestStatusChangeWithoutChangeIsAudited(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		records := func(res response) []string {
			t.Helper()
			rows, err := e.db.SQL.Query(`SELECT action || ' ' || resource_type || ' ' || COALESCE(patient_id, '') || ' ' || CAST(outcome AS TEXT)
				FROM audit_log WHERE request_id = $1`, res.header.Get("X-Request-Id"))
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				got = append(got, s)
			}
			return got
		}
		cases := []struct {
			path, record string
		}{
			{"/v1/plans/" + f.ownPlan + "/pause", "U MedicationRequest " + f.own + " 0"},
			{"/v1/plans/" + f.ownPlan + "/stop", "U MedicationRequest " + f.own + " 0"},
			{"/v1/patients/" + f.unlinked + "/deactivate", "D Patient " + f.unlinked + " 0"},
			{"/v1/patients/" + f.unlinked + "/reactivate", "U Patient " + f.unlinked + " 0"},
		}
		for _, c := range cases {
			for i, role := range []string{"admin", "clinician"} {
				res := e.do("POST", c.path, f.keys[role], nil)
				if res.status != 200 {
					t.Fatalf("POST %s by %s = %d: %s", c.path, role, res.status, res.body)
				}
				got := records(res)
				if want := []string{c.record}; fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("POST %s by %s (%s): audit records %q, want %q", routeOf(c.path, f), role,
						[]string{"the change", "changing nothing"}[i], got, want)
				}
			}
		}
		// An active patient reactivated and an active plan resumed, changing
		// nothing.
		for _, c := range []struct{ path, record string }{
			{"/v1/patients/" + f.own + "/reactivate", "U Patient " + f.own + " 0"},
			{"/v1/plans/" + f.unlinkedPlan + "/resume", "U MedicationRequest " + f.unlinked + " 0"},
		} {
			res := e.do("POST", c.path, f.keys["clinician"], nil)
			if got := records(res); res.status != 200 || fmt.Sprint(got) != fmt.Sprint([]string{c.record}) {
				t.Errorf("POST %s (changing nothing) = %d, audit records %q, want 200 and [%q]", routeOf(c.path, f), res.status, got, c.record)
			}
		}
	})
}
