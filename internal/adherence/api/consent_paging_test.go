package api_test

import "testing"

// TestConsentLedgerPages: GET /v1/patients/{id}/consent pages the ledger
// as the notification list does: a full page carries next, and
// before=next reads on to the oldest entry. The list was cut at limit
// (100 by default, 500 at most) with no way to read on, so a patient's
// older opt-outs and opt-ins could not be read through the API.
func TestConsentLedgerPages(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Consent Paging Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "UTC",
			"phone": "+15550007777", "email": "ana@example.org", "smsConsent": true}, 201)["id"].(string)
		for _, action := range []string{"opt_out", "opt_in", "opt_out"} {
			e.mustDo("POST", "/v1/patients/"+pid+"/consent", admin, map[string]any{"channel": "email", "action": action}, 204)
		}
		var ids []any
		page := e.mustDo("GET", "/v1/patients/"+pid+"/consent?limit=2", admin, nil, 200)
		for _, c := range page["consent"].([]any) {
			ids = append(ids, c.(map[string]any)["id"])
		}
		next, ok := page["next"].(string)
		if len(ids) != 2 || !ok {
			t.Fatalf("first page of 2: %v, want 2 entries and next", page)
		}
		page = e.mustDo("GET", "/v1/patients/"+pid+"/consent?limit=2&before="+next, admin, nil, 200)
		for _, c := range page["consent"].([]any) {
			ids = append(ids, c.(map[string]any)["id"])
		}
		if _, more := page["next"]; more || len(ids) != 3 || ids[0] == ids[2] || ids[1] == ids[2] {
			t.Errorf("second page: %v; ids read %v, want the third entry and no next", page, ids)
		}
		// A full last page has no next: the API reads one entry ahead (it
		// gave next whenever a page was full, and the page after was empty).
		if page := e.mustDo("GET", "/v1/patients/"+pid+"/consent?limit=3", admin, nil, 200); len(page["consent"].([]any)) != 3 || page["next"] != nil {
			t.Errorf("a page of 3 of 3 entries: %v, want them all and no next", page)
		}
		r := e.do("GET", "/v1/patients/"+pid+"/consent?before=x", admin, nil)
		if r.status != 400 || r.json(t)["field"] != "before" {
			t.Errorf("before=x = %d %s, want 400 naming before", r.status, r.body)
		}
	})
}
