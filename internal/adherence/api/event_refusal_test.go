package api_test

import (
	"fmt"
	"slices"
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

// TestRejectedEventsAreAuditedOnThePatient: an event refused for a field
// that fails validation (an unknown kind, a skip without a reason, an
// instant over 24 h ahead or before the plan started, a plan of the
// patient that does not exist, a key reused with other content), on a
// patient the caller may see, is audited as a failed attempt (action C,
// outcome 4) on that patient, with the caller and the request id: one
// record per request and patient, however many of its items were refused,
// beside the record of the items accepted. Such refusals were not audited
// at all.
func TestRejectedEventsAreAuditedOnThePatient(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		n := 0
		event := func(change func(map[string]any)) map[string]any {
			n++
			ev := map[string]any{"patientId": f.own, "planId": f.ownPlan, "kind": "taken", "source": "app",
				"clientEventId": fmt.Sprintf("rejected-%d", n), "occurredAt": e.now.Format(time.RFC3339)}
			if change != nil {
				change(ev)
			}
			return ev
		}
		// records lists the audit records of a request: (patient, outcome, detail).
		records := func(requestID, role string) []string {
			t.Helper()
			rows, err := e.db.SQL.Query(`SELECT patient_id, outcome, detail FROM audit_log WHERE request_id = $1
				AND resource_type = 'AdherenceEvent' AND action = 'C' AND actor_role = $2 ORDER BY seq`, requestID, role)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var patient, detail string
				var outcome int
				if err := rows.Scan(&patient, &outcome, &detail); err != nil {
					t.Fatal(err)
				}
				out = append(out, fmt.Sprintf("%s %d %s", patient, outcome, detail))
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		}
		e.mustDo("POST", "/v1/events", f.keys["admin"], event(func(ev map[string]any) { ev["clientEventId"] = "reused" }), 201)
		cases := []struct {
			name   string
			change func(map[string]any)
			status int
		}{
			{"unknown kind", func(ev map[string]any) { ev["kind"] = "swallowed" }, 400},
			{"skip without reason", func(ev map[string]any) { ev["kind"] = "skipped" }, 400},
			{"over 24 h ahead", func(ev map[string]any) { ev["occurredAt"] = e.now.Add(25 * time.Hour).Format(time.RFC3339) }, 400},
			{"before the plan started", func(ev map[string]any) { ev["occurredAt"] = e.now.Add(-72 * time.Hour).Format(time.RFC3339) }, 400},
			{"unknown plan", func(ev map[string]any) { ev["planId"] = "01890000-0000-7000-8000-000000000000" }, 404},
			{"key reused", func(ev map[string]any) { ev["clientEventId"], ev["kind"] = "reused", "snoozed" }, 409},
		}
		for _, role := range []string{"admin", "clinician", "integration", "caregiver", "patient"} {
			for _, c := range cases {
				res := e.do("POST", "/v1/events", f.keys[role], event(c.change))
				if res.status != c.status {
					t.Fatalf("%s by %s = %d, want %d: %s", c.name, role, res.status, c.status, res.body)
				}
				want := []string{f.own + " 4 events=1"}
				if got := records(res.header.Get("X-Request-Id"), role); !slices.Equal(got, want) {
					t.Errorf("%s by %s: audit records %q, want %q", c.name, role, got, want)
				}
			}
		}

		// A batch: one record for the accepted item, one for the patient's
		// three refused items, one for the refusal on another patient.
		res := e.do("POST", "/v1/events:batch", f.keys["clinician"], map[string]any{"events": []any{
			event(nil),
			event(cases[0].change),
			event(cases[1].change),
			event(func(ev map[string]any) { ev["patientId"], ev["kind"] = f.unlinked, "swallowed" }),
			event(cases[4].change),
		}})
		if res.status != 200 || res.json(t)["accepted"] != 1.0 {
			t.Fatalf("batch = %d %s, want 200 with one item accepted", res.status, res.body)
		}
		want := []string{f.own + " 0 events=1", f.own + " 4 events=3", f.unlinked + " 4 events=1"}
		if got := records(res.header.Get("X-Request-Id"), "clinician"); !slices.Equal(got, want) {
			t.Errorf("batch: audit records %q, want %q", got, want)
		}
	})
}
