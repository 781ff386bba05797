package api_test

import "testing"

// TestPatientListPages: GET /v1/patients pages by id with limit and
// after; next is given while patients follow, and a full last page has
// none (the API reads one patient ahead: it gave next whenever a page was
// full, and the page after was empty).
func TestPatientListPages(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Patient Paging Org")
		for _, name := range []string{"Ana", "Bea", "Cy"} {
			e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": name, "timeZone": "UTC"}, 201)
		}
		seen := map[any]bool{}
		page := e.mustDo("GET", "/v1/patients?limit=2", admin, nil, 200)
		for _, p := range page["patients"].([]any) {
			seen[p.(map[string]any)["id"]] = true
		}
		next, ok := page["next"].(string)
		if len(seen) != 2 || !ok {
			t.Fatalf("first page of 2: %v, want 2 patients and next", page)
		}
		page = e.mustDo("GET", "/v1/patients?limit=2&after="+next, admin, nil, 200)
		for _, p := range page["patients"].([]any) {
			seen[p.(map[string]any)["id"]] = true
		}
		if len(seen) != 3 || page["next"] != nil {
			t.Errorf("second page: %v; %d distinct patients read, want 3 and no next", page, len(seen))
		}
		if page := e.mustDo("GET", "/v1/patients?limit=3", admin, nil, 200); len(page["patients"].([]any)) != 3 || page["next"] != nil {
			t.Errorf("a page of 3 of 3 patients: %v, want them all and no next", page)
		}
	})
}
