package api_test

import (
	"fmt"
	"testing"

	"github.com/google/uuid"
)

// TestListEventsPages: GET /v1/patients/{id}/events pages with limit and
// after through events that share one instant (a device syncing many at
// once), which no narrower window could split: the window's 413 said
// "narrow from and to", and nothing could be done. Without limit or after
// the window is listed whole, as before.
func TestListEventsPages(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		for i := range 5 {
			e.mustDo("POST", "/v1/events", w.integration, w.event("opened", "2026-03-06T20:05:00-05:00", fmt.Sprint("bottle-", i)), 201)
		}
		e.mustDo("POST", "/v1/events", w.integration, w.event("taken", "2026-03-06T12:00:00-05:00", "app-1"), 201)
		e.mustDo("POST", "/v1/events", w.integration, w.event("taken", "2026-03-07T08:10:00-05:00", "app-2"), 201)
		// The plan starts at env.now (10:00 EST); events may be dated
		// up to a day ahead.
		window := "?from=2026-03-06T00:00:00Z&to=2026-03-08T00:00:00Z"
		base := "/v1/patients/" + w.patient + "/events" + window

		whole := e.mustDo("GET", base, w.admin, nil, 200)
		if _, ok := whole["next"]; ok {
			t.Errorf("the whole window has a next: %v", whole["next"])
		}
		var want []string
		for _, ev := range whole["events"].([]any) {
			want = append(want, ev.(map[string]any)["id"].(string))
		}
		if len(want) != 7 {
			t.Fatalf("%d events listed, want 7", len(want))
		}

		var got []string
		pages := 0
		for after := ""; ; pages++ {
			if pages > 5 {
				t.Fatalf("still paging after %d pages: %v", pages, got)
			}
			page := e.mustDo("GET", base+"&limit=3&after="+after, w.admin, nil, 200)
			evs := page["events"].([]any)
			for _, ev := range evs {
				got = append(got, ev.(map[string]any)["id"].(string))
			}
			next, ok := page["next"]
			if !ok {
				t.Fatalf("page %d has no next (want an id, or null on the last)", pages+1)
			}
			if next == nil {
				if len(evs) != 1 {
					t.Errorf("last page of %d events, want 1", len(evs))
				}
				break
			}
			if len(evs) != 3 || next != got[len(got)-1] {
				t.Fatalf("page %d: %d events, next %v; want 3, next the last of them", pages+1, len(evs), next)
			}
			after = next.(string)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("paged:\n%v\nwhole:\n%v", got, want)
		}

		for _, bad := range []string{"&after=nope", "&after=" + uuid.NewString(), "&limit=0", "&limit=5001"} {
			r := e.do("GET", base+bad, w.admin, nil)
			field := "after"
			if bad[1] == 'l' {
				field = "limit"
			}
			if r.status != 400 || r.json(t)["field"] != field {
				t.Errorf("%s: %d %s, want 400 naming %s", bad, r.status, r.body, field)
			}
		}
		// Another patient's event is not a page of this one.
		other := e.mustDo("GET", base+"&limit=1", w.admin, nil, 200)["next"].(string)
		if r := e.do("GET", "/v1/patients/"+w.otherPatient+"/events"+window+"&after="+other, w.otherAdmin, nil); r.status != 400 {
			t.Errorf("another org's patient paged after this patient's event: %d %s, want 400", r.status, r.body)
		}
	})
}
