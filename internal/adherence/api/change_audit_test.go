package api_test

import (
	"fmt"
	"slices"
	"testing"
)

// TestChangesAreAuditedOnce: a change of a patient's record answered with
// what it changed writes the change's record and nothing more, with the
// resource type the record's other accesses have. PUT
// messaging-preferences wrote a read of the preferences besides the
// change (its answer was made by the GET handler, which audited it); a
// plan's reminder policy was changed as a "Plan", where every other access
// to a plan, the GET of the same policy and a refused change of it
// included, is a "MedicationRequest".
func TestChangesAreAuditedOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		cases := []struct {
			method, path, role string
			body               any
			want               []string
		}{
			{"PUT", "/v1/patients/" + f.own + "/messaging-preferences", "patient", map[string]any{"channels": []string{"sms"}},
				[]string{"U Patient " + f.own}},
			{"PUT", "/v1/patients/" + f.own + "/messaging-preferences", "clinician", map[string]any{"medicationInMessages": true},
				[]string{"U Patient " + f.own}},
			{"PUT", "/v1/plans/" + f.ownPlan + "/reminder-policy", "admin", map[string]any{"firstOffsetMinutes": 0, "repeatEveryMinutes": 30,
				"maxReminders": 2, "validityMinutes": 30, "channels": []string{"sms"}}, []string{"U MedicationRequest " + f.own}},
			{"DELETE", "/v1/plans/" + f.ownPlan + "/reminder-policy", "clinician", nil, []string{"U MedicationRequest " + f.own}},
		}
		for _, c := range cases {
			res := e.do(c.method, c.path, f.keys[c.role], c.body)
			if res.status != 200 && res.status != 204 {
				t.Fatalf("%s %s by %s = %d: %s", c.method, c.path, c.role, res.status, res.body)
			}
			rows, err := e.db.SQL.Query(`SELECT action, resource_type, patient_id FROM audit_log WHERE request_id = $1
				AND outcome = 0 AND actor_role = $2 ORDER BY seq`, res.header.Get("X-Request-Id"), c.role)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for rows.Next() {
				var action, resource, patient string
				if err := rows.Scan(&action, &resource, &patient); err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprintf("%s %s %s", action, resource, patient))
			}
			rows.Close()
			if !slices.Equal(got, c.want) {
				t.Errorf("%s %s by %s: audit records %q, want %q", c.method, c.path, c.role, got, c.want)
			}
		}
	})
}
