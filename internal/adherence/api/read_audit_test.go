package api_test

import "testing"

// TestPerPatientReadsAreAudited: every GET answering with one patient's
// data writes a successful read record naming that patient, for staff and
// for the patient itself. The plan's reminder policy (its channels and
// timing of reminders) was answered without one.
func TestPerPatientReadsAreAudited(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		count := func(role string) int {
			var n int
			if err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'R' AND outcome = 0
				AND patient_id = $1 AND actor_role = $2`, f.own, role).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		paths := []string{
			"/v1/patients/" + f.own,
			"/v1/patients/" + f.own + "/plans",
			"/v1/patients/" + f.own + "/doses",
			"/v1/patients/" + f.own + "/events",
			"/v1/patients/" + f.own + "/adherence",
			"/v1/patients/" + f.own + "/messaging-preferences",
			"/v1/patients/" + f.own + "/notifications",
			"/v1/patients/" + f.own + "/consent",
			"/v1/plans/" + f.ownPlan,
			"/v1/plans/" + f.ownPlan + "/doses",
			"/v1/plans/" + f.ownPlan + "/fills",
			"/v1/plans/" + f.ownPlan + "/adherence",
			"/v1/plans/" + f.ownPlan + "/reminder-policy",
		}
		for _, role := range []string{"admin", "clinician", "patient"} {
			for _, path := range paths {
				before := count(role)
				e.mustDo("GET", path, f.keys[role], nil, 200)
				if got := count(role) - before; got < 1 {
					t.Errorf("GET %s by %s: %d read audit records of the patient, want at least 1", path, role, got)
				}
			}
		}
		// A linked caregiver reads the plan's reminder policy too (the read
		// rule), and is recorded as well.
		before := count("caregiver")
		e.mustDo("GET", "/v1/plans/"+f.ownPlan+"/reminder-policy", f.keys["caregiver"], nil, 200)
		if got := count("caregiver") - before; got != 1 {
			t.Errorf("GET reminder-policy by a linked caregiver: %d read audit records, want 1", got)
		}
	})
}
