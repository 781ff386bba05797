package api_test

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
)

// TestMembersAndKeysArePaged: GET /v1/members and GET /v1/api-keys page as
// the other lists do (limit 1–500, default 100; next to pass as after):
// they answered every row of the organization in one response, whatever
// the limit (QA: 5,000 members, 800 KB). Walking the pages gives every
// row once, in creation order; a bad limit or cursor is a 400 naming it.
func TestMembersAndKeysArePaged(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Paging Org")
		var memberIDs []string
		for i := range 7 {
			m := e.mustDo("POST", "/v1/members", admin, map[string]any{"kind": "caregiver", "name": fmt.Sprintf("Carer %d", i)}, 201)
			memberIDs = append(memberIDs, m["id"].(string))
		}
		list := e.mustDo("GET", "/v1/api-keys", admin, nil, 200)["keys"].([]any)
		keyIDs := []string{list[0].(map[string]any)["id"].(string)} // the admin key
		for i := range 6 {
			k := e.mustDo("POST", "/v1/api-keys", admin, map[string]any{"role": "integration", "name": fmt.Sprintf("k%d", i)}, 201)
			keyIDs = append(keyIDs, k["id"].(string))
		}

		walk := func(path, field string) []string {
			var got []string
			after := ""
			for pages := 0; pages < 10; pages++ {
				q := url.Values{"limit": {"3"}}
				if after != "" {
					q.Set("after", after)
				}
				page := e.mustDo("GET", path+"?"+q.Encode(), admin, nil, 200)
				items := page[field].([]any)
				if len(items) > 3 {
					t.Fatalf("%s?limit=3 answered %d items", path, len(items))
				}
				for _, it := range items {
					got = append(got, it.(map[string]any)["id"].(string))
				}
				next, ok := page["next"].(string)
				if !ok {
					return got
				}
				after = next
			}
			t.Fatalf("%s: more than 10 pages of 3", path)
			return nil
		}
		if got := walk("/v1/members", "members"); fmt.Sprint(got) != fmt.Sprint(memberIDs) {
			t.Errorf("members by pages of 3 = %v, want %v", got, memberIDs)
		}
		// Keys are in creation order, ties (this test's clock stands
		// still) by id: the pages give the one-page list's order.
		var whole []string
		for _, k := range e.mustDo("GET", "/v1/api-keys?limit=500", admin, nil, 200)["keys"].([]any) {
			whole = append(whole, k.(map[string]any)["id"].(string))
		}
		got := walk("/v1/api-keys", "keys")
		if fmt.Sprint(got) != fmt.Sprint(whole) {
			t.Errorf("keys by pages of 3 = %v, want the one-page order %v", got, whole)
		}
		slices.Sort(got)
		slices.Sort(keyIDs)
		if fmt.Sprint(got) != fmt.Sprint(keyIDs) {
			t.Errorf("keys by pages of 3 = %v, want each of %v once", got, keyIDs)
		}
		if got := e.mustDo("GET", "/v1/members", admin, nil, 200); len(got["members"].([]any)) != 7 || got["next"] != nil {
			t.Errorf("members with the default limit = %v, want all 7 and no next", got)
		}

		_, other := e.org("Other Org")
		otherKey := e.mustDo("GET", "/v1/api-keys", other, nil, 200)["keys"].([]any)[0].(map[string]any)["id"].(string)
		for _, tc := range []struct{ path, field string }{
			{"/v1/members?limit=0", "limit"},
			{"/v1/members?limit=501", "limit"},
			{"/v1/members?after=nope", "after"},
			{"/v1/api-keys?limit=-1", "limit"},
			{"/v1/api-keys?after=" + otherKey, "after"},
		} {
			r := e.do("GET", tc.path, admin, nil)
			if r.status != 400 || r.json(t)["field"] != tc.field {
				t.Errorf("GET %s = %d %s, want 400 naming %s", tc.path, r.status, r.body, tc.field)
			}
		}
	})
}
