package api_test

import (
	"testing"
)

// TestGetPlanIncludeDosesAudited: GET /v1/plans/{id}?include=doses reads the
// plan's dose instances as GET /v1/plans/{id}/doses does, and records that
// read (DoseInstance) in the audit trail, not only the plan's; a bad window
// is refused before any read is recorded.
func TestGetPlanIncludeDosesAudited(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Include Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)
		pid := p["id"].(string)
		plan := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril 10 MG Oral Tablet"},
			"timing":     map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00", "20:00:00"}}},
		}, 201)
		planID := plan["id"].(string)
		count := func(resourceType string) int {
			t.Helper()
			var n int
			if err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE resource_type = $1 AND action = 'R' AND outcome = 0 AND patient_id = $2`,
				resourceType, pid).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		got := e.mustDo("GET", "/v1/plans/"+planID+"?include=doses", admin, nil, 200)
		if ds, _ := got["doses"].([]any); len(ds) == 0 {
			t.Fatalf("include=doses returned no doses: %v", got)
		}
		if n := count("DoseInstance"); n != 1 {
			t.Errorf("DoseInstance reads audited after include=doses = %d, want 1", n)
		}
		if n := count("MedicationRequest"); n != 1 {
			t.Errorf("MedicationRequest reads audited = %d, want 1", n)
		}
		// A window the server refuses reads nothing and records no read.
		e.mustDo("GET", "/v1/plans/"+planID+"?include=doses&from=bad", admin, nil, 400)
		if n := count("MedicationRequest"); n != 1 {
			t.Errorf("a refused include=doses recorded a successful plan read (%d records, want 1)", n)
		}
		// Without include, no dose is read and no dose read is recorded.
		e.mustDo("GET", "/v1/plans/"+planID, admin, nil, 200)
		if n := count("DoseInstance"); n != 1 {
			t.Errorf("DoseInstance reads audited after a plain GET = %d, want 1", n)
		}
	})
}
