package api_test

import (
	"fmt"
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

// TestDoseListsSayWhenTruncated: a dose list that stops at its limit while
// the window holds more doses says so (truncated, or dosesTruncated with
// include=doses); it ended silently at the limit (1000 by default), so a
// client could not tell a complete schedule from a cut one.
func TestDoseListsSayWhenTruncated(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Truncated Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)
		pid := p["id"].(string)
		plan := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril 10 MG Oral Tablet"},
			"timing":     map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00", "20:00:00"}}},
		}, 201)
		planID := plan["id"].(string)
		all := len(asSlice(e.mustDo("GET", "/v1/plans/"+planID+"/doses", admin, nil, 200)["doses"]))
		if all < 20 {
			t.Fatalf("%d doses in the default window, want 28 or so", all)
		}
		for _, path := range []string{"/v1/plans/" + planID + "/doses", "/v1/patients/" + pid + "/doses"} {
			cut := e.mustDo("GET", path+"?limit=10", admin, nil, 200)
			if n := len(asSlice(cut["doses"])); n != 10 || cut["truncated"] != true {
				t.Errorf("%s?limit=10: %d doses, truncated %v; want 10 and true", path, n, cut["truncated"])
			}
			whole := e.mustDo("GET", fmt.Sprintf("%s?limit=%d", path, all), admin, nil, 200)
			if n := len(asSlice(whole["doses"])); n != all || whole["truncated"] != nil {
				t.Errorf("%s?limit=%d: %d doses, truncated %v; want %d and absent", path, all, n, whole["truncated"], all)
			}
		}
		got := e.mustDo("GET", "/v1/plans/"+planID+"?include=doses&limit=10", admin, nil, 200)
		if n := len(asSlice(got["doses"])); n != 10 || got["dosesTruncated"] != true {
			t.Errorf("include=doses&limit=10: %d doses, dosesTruncated %v", n, got["dosesTruncated"])
		}
		if got := e.mustDo("GET", "/v1/plans/"+planID+"?include=doses", admin, nil, 200); got["dosesTruncated"] != nil {
			t.Errorf("include=doses within the limit: dosesTruncated %v", got["dosesTruncated"])
		}
	})
}

// TestGetPlanUnknownIncludeRefused: GET /v1/plans/{id}?include= with a
// value other than doses is a 400 naming include. A typo (include=dose)
// answered 200 with the plan alone, as if it had no doses to add.
func TestGetPlanUnknownIncludeRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		for _, v := range []string{"dose", "DOSES", "fills"} {
			r := e.do("GET", "/v1/plans/"+w.plan+"?include="+v, w.admin, nil)
			if r.status != 400 || r.json(t)["field"] != "include" {
				t.Errorf("include=%s = %d %s, want 400 naming include", v, r.status, r.body)
			}
		}
		if got := e.mustDo("GET", "/v1/plans/"+w.plan+"?include=doses", w.admin, nil, 200); got["doses"] == nil {
			t.Errorf("include=doses gave no doses: %v", got)
		}
	})
}
