package api_test

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// TestMemberEditAndDeactivation: an admin corrects a caregiver's number
// and zone, clears their e-mail with null, is refused a null name, a bad
// number and a change of kind; deactivating the caregiver refuses their
// API key at once (cached for a minute), reactivating lets it in again.
// Other roles and other organizations cannot do either.
func TestMemberEditAndDeactivation(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		e := newEnvKeyCache(t, d, time.Minute)
		orgID, admin := e.org("Members Org")
		m := e.mustDo("POST", "/v1/members", admin, map[string]any{"kind": "caregiver", "name": "Carla", "phone": "+15550001111",
			"email": "carla@example.org"}, 201)
		id := m["id"].(string)
		path := "/v1/members/" + id

		got := e.mustDo("PATCH", path, admin, map[string]any{"phone": "+15550002222", "timeZone": "Europe/Madrid", "email": nil}, 200)
		if got["phone"] != "+15550002222" || got["timeZone"] != "Europe/Madrid" || got["email"] != nil || got["name"] != "Carla" || got["kind"] != "caregiver" {
			t.Fatalf("member after PATCH = %v", got)
		}
		if again := e.mustDo("GET", path, admin, nil, 200); again["phone"] != "+15550002222" || again["email"] != nil {
			t.Fatalf("member read after PATCH = %v", again)
		}
		// The trail says which fields changed (QA: /v1/audit answered no
		// detail at all).
		var details []any
		for _, rec := range e.mustDo("GET", "/v1/audit?limit=1000", admin, nil, 200)["records"].([]any) {
			if r := rec.(map[string]any); r["resourceType"] == "Member" && r["resourceId"] == id && r["action"] == "U" {
				details = append(details, r["detail"])
			}
		}
		if len(details) != 1 || details[0] != "fields=email,phone,timeZone" {
			t.Fatalf("audit details of the member's update = %v, want [fields=email,phone,timeZone]", details)
		}
		for _, bad := range []map[string]any{{"name": nil}, {"name": " "}, {"phone": "555-0100"}, {"kind": "clinician"}, {"timeZone": "Nowhere/Land"}} {
			if r := e.do("PATCH", path, admin, bad); r.status != 400 {
				t.Errorf("PATCH %v: %d %s, want 400", bad, r.status, r.body)
			}
		}

		carer := e.key(orgID, auth.RoleCaregiver, id)
		clinician := e.key(orgID, auth.RoleClinician, "")
		e.mustDo("GET", "/v1/me", carer, nil, 200) // now cached
		if r := e.do("POST", path+"/deactivate", clinician, nil); r.status != 403 {
			t.Fatalf("a clinician deactivating a member: %d, want 403", r.status)
		}
		if r := e.do("PATCH", path, clinician, map[string]any{"name": "X"}); r.status != 403 {
			t.Fatalf("a clinician editing a member: %d, want 403", r.status)
		}
		_, otherAdmin := e.org("Other Org")
		if r := e.do("POST", path+"/deactivate", otherAdmin, nil); r.status != 404 {
			t.Fatalf("another organization deactivating the member: %d, want 404", r.status)
		}
		if r := e.do("PATCH", path, otherAdmin, map[string]any{"name": "X"}); r.status != 404 {
			t.Fatalf("another organization editing the member: %d, want 404", r.status)
		}

		if off := e.mustDo("POST", path+"/deactivate", admin, nil, 200); off["active"] != false {
			t.Fatalf("member after deactivation = %v", off)
		}
		if r := e.do("GET", "/v1/me", carer, nil); r.status != 403 {
			t.Fatalf("the deactivated caregiver's key: %d %s, want 403 at once", r.status, r.body)
		}
		if on := e.mustDo("POST", path+"/reactivate", admin, nil, 200); on["active"] != true {
			t.Fatalf("member after reactivation = %v", on)
		}
		e.mustDo("GET", "/v1/me", carer, nil, 200)
	})
}
