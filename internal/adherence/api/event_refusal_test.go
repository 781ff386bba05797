package api_test

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// TestRefusedEventsAreAuditedInTheBatchTransaction: an item a caregiver or
// patient sends for a patient it may not reach (an unlinked patient,
// another patient) is audited by the store, in the transaction that
// commits the accepted items of its batch: the refusal follows the
// accepted item's record in the chain, in the same transaction (on
// PostgreSQL, the same xmin). The API appended it in a transaction of its
// own, before the batch was committed.
func TestRefusedEventsAreAuditedInTheBatchTransaction(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		event := func(id, patient, plan string) map[string]any {
			return map[string]any{"patientId": patient, "planId": plan, "kind": "taken", "source": "app",
				"clientEventId": id, "occurredAt": e.now.Format(time.RFC3339)}
		}
		for _, role := range []string{"caregiver", "patient"} {
			res := e.mustDo("POST", "/v1/events:batch", f.keys[role], map[string]any{"events": []any{
				event(role+"-ok", f.own, f.ownPlan),
				event(role+"-probe", f.unlinked, f.unlinkedPlan),
			}}, 200)
			results := res["results"].([]any)
			if res["accepted"] != 1.0 || results[1].(map[string]any)["status"] != 404.0 ||
				results[1].(map[string]any)["error"].(map[string]any)["field"] != "events[1].patientId" {
				t.Fatalf("batch by %s = %v, want the first accepted, the second 404 on patientId", role, res)
			}
			seq := func(patient string, outcome int) int64 {
				t.Helper()
				var s int64
				if err := e.db.SQL.QueryRow(`SELECT seq FROM audit_log WHERE resource_type = 'AdherenceEvent' AND action = 'C'
					AND actor_role = $1 AND patient_id = $2 AND outcome = $3`, role, patient, outcome).Scan(&s); err != nil {
					t.Fatalf("%s's audit record on %s (outcome %d): %v", role, patient, outcome, err)
				}
				return s
			}
			accepted, refused := seq(f.own, 0), seq(f.unlinked, 4)
			if refused != accepted+1 {
				t.Errorf("batch by %s: accepted item audited at seq %d, refused one at %d; want the refusal appended with the group, right after it", role, accepted, refused)
			}
			if e.db.Dialect == db.Postgres {
				var n int
				if err := e.db.SQL.QueryRow(`SELECT COUNT(DISTINCT xmin::text) FROM audit_log WHERE seq IN ($1, $2)`, accepted, refused).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != 1 {
					t.Errorf("batch by %s: the accepted and refused items' records were written by %d transactions, want 1", role, n)
				}
			}
		}
		// A refused single event is still 404 on patientId, and audited.
		r := e.mustDo("POST", "/v1/events", f.keys["patient"], event("patient-single", f.unlinked, f.unlinkedPlan), 404)
		if r["field"] != "patientId" {
			t.Errorf("refused single event = %v, want 404 on patientId", r)
		}
		var n int
		if err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'AdherenceEvent' AND action = 'C'
			AND actor_role = 'patient' AND patient_id = $1 AND outcome = 4`, f.unlinked).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("patient's refused events: %d audit records, want 2", n)
		}
	})
}
