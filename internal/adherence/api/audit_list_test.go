package api_test

import (
	"testing"

	"github.com/medplatform/medplatform/internal/platform/auth"
)

// TestAuditListIsAuditedAndPagingEnds: every read of the audit trail is
// itself audited (R on AuditEvent, with the patient the filter named), and
// a client paging until no next is given stops, even one record a page:
// each page appends the record of its read, which the caller's walk does
// not count as more (a walk of limit=1 would otherwise never end, each
// page finding the read of the one before).
func TestAuditListIsAuditedAndPagingEnds(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		org, admin := e.org("Audit A")
		patient := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Eve", "timeZone": "UTC"}, 201)["id"].(string)
		e.mustDo("GET", "/v1/audit?patient="+patient, admin, nil, 200)
		// A change after the read: the last record a walk must reach.
		e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ida", "timeZone": "UTC"}, 201)
		all := e.mustDo("GET", "/v1/audit?limit=1000", admin, nil, 200)["records"].([]any)
		var reads []map[string]any
		for _, rec := range all {
			if r := rec.(map[string]any); r["resourceType"] == "AuditEvent" {
				reads = append(reads, r)
			}
		}
		if len(reads) != 1 || reads[0]["action"] != "R" || reads[0]["patientId"] != patient || reads[0]["actorRole"] != "admin" {
			t.Fatalf("audit records of reading the trail: %v, want one R on AuditEvent about the patient", reads)
		}
		if last := all[len(all)-1].(map[string]any); last["resourceType"] != "Patient" || last["action"] != "C" {
			t.Fatalf("last record %v, want the creation of the patient", last)
		}

		pages, after := 0, ""
		for pages < len(all)+10 {
			path := "/v1/audit?limit=1"
			if after != "" {
				path += "&after=" + after
			}
			got := e.mustDo("GET", path, admin, nil, 200)
			recs := got["records"].([]any)
			if len(recs) != 1 || recs[0].(map[string]any)["seq"] != all[pages].(map[string]any)["seq"] {
				t.Fatalf("page %d: %v, want the record of seq %v", pages+1, recs, all[pages].(map[string]any)["seq"])
			}
			pages++
			next, ok := got["next"].(string)
			if !ok {
				break
			}
			after = next
		}
		if pages != len(all) {
			t.Errorf("paging with limit=1 took %d pages, want %d: the records up to the last one that is not a read of the trail by the caller", pages, len(all))
		}
		// Each page was audited: the first read, the full listing, and
		// the walk's pages.
		n := 0
		for _, rec := range e.mustDo("GET", "/v1/audit?limit=1000", admin, nil, 200)["records"].([]any) {
			if rec.(map[string]any)["resourceType"] == "AuditEvent" {
				n++
			}
		}
		if want := 2 + pages; n != want {
			t.Errorf("%d reads of the trail audited, want %d", n, want)
		}
		// Another admin's reads are records like any other: this admin's
		// walk goes on to them.
		other := e.key(org, auth.RoleAdmin, "")
		e.mustDo("GET", "/v1/audit?limit=1", other, nil, 200)
		got := e.mustDo("GET", "/v1/audit?limit=1&after="+after, admin, nil, 200)
		if _, ok := got["next"]; !ok {
			t.Errorf("a page followed by another admin's read of the trail gave no next: %v", got)
		}
	})
}
