package api_test

import (
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentPatchesWithoutVersion: a PATCH without a version asks for
// its change on whatever is stored, so requests racing each other are
// all applied, one after the other (each bumps the version once), where
// they were answered 409 about a version their clients never sent. A
// PATCH that sends a stale version still gets its 409.
func TestConcurrentPatchesWithoutVersion(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Race Org")
		pid, plid := e.patientWithPlan(admin)

		const n = 12
		patch := func(path string, body func(i int) map[string]any) {
			var wg sync.WaitGroup
			statuses := make([]string, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := e.do("PATCH", path, admin, body(i))
					statuses[i] = fmt.Sprintf("%d %s", r.status, r.body)
				}()
			}
			wg.Wait()
			for i, s := range statuses {
				if s[:3] != "200" {
					t.Errorf("PATCH %s #%d without a version = %s, want 200", path, i, s)
				}
			}
		}
		patch("/v1/patients/"+pid, func(i int) map[string]any { return map[string]any{"familyName": fmt.Sprintf("N%d", i)} })
		got := e.mustDo("GET", "/v1/patients/"+pid, admin, nil, 200)
		if v := got["version"].(float64); v != 1+n {
			t.Errorf("patient version %v after %d changes, want %d: a change was lost or applied twice", v, n, 1+n)
		}
		r := e.do("PATCH", "/v1/patients/"+pid, admin, map[string]any{"familyName": "Stale", "version": 1})
		if r.status != 409 || r.json(t)["field"] != "version" {
			t.Errorf("PATCH with the stale version 1 = %d %s, want 409 naming the field version", r.status, r.body)
		}

		patch("/v1/plans/"+plid, func(i int) map[string]any { return map[string]any{"dose": fmt.Sprintf("%d tablet", i+2)} })
		got = e.mustDo("GET", "/v1/plans/"+plid, admin, nil, 200)
		if v := got["version"].(float64); v != 1+n {
			t.Errorf("plan version %v after %d changes, want %d", v, n, 1+n)
		}
		r = e.do("PATCH", "/v1/plans/"+plid, admin, map[string]any{"dose": "9 tablets", "version": 1})
		if r.status != 409 || r.json(t)["field"] != "version" {
			t.Errorf("plan PATCH with the stale version 1 = %d %s, want 409 naming the field version", r.status, r.body)
		}
	})
}

// TestPatchWithAVersionNoRecordHad: versions start at 1, so 0 or a negative
// version is a mistake in the request (400 naming version), not a conflict
// with another client (it was a 409 "changed by someone else"). Nothing is
// changed.
func TestPatchWithAVersionNoRecordHad(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Version Org")
		pid, plid := e.patientWithPlan(admin)
		for _, v := range []int{0, -1} {
			r := e.do("PATCH", "/v1/patients/"+pid, admin, map[string]any{"familyName": "Changed", "version": v})
			if r.status != 400 || r.json(t)["field"] != "version" {
				t.Errorf("patient PATCH with version %d = %d %s, want 400 naming version", v, r.status, r.body)
			}
			r = e.do("PATCH", "/v1/plans/"+plid, admin, map[string]any{"dose": "2 tablets", "version": v})
			if r.status != 400 || r.json(t)["field"] != "version" {
				t.Errorf("plan PATCH with version %d = %d %s, want 400 naming version", v, r.status, r.body)
			}
		}
		if got := e.mustDo("GET", "/v1/patients/"+pid, admin, nil, 200); got["version"].(float64) != 1 || got["familyName"] == "Changed" {
			t.Errorf("patient after refused PATCHes = %v, want it unchanged at version 1", got)
		}
		if got := e.mustDo("GET", "/v1/plans/"+plid, admin, nil, 200); got["version"].(float64) != 1 || got["dose"] != "1 tablet" {
			t.Errorf("plan after refused PATCHes = %v, want it unchanged at version 1", got)
		}
	})
}
