package api_test

import (
	"testing"
	"time"
)

// TestPatchPlanCountUsedUpRefused: a PATCH of a plan whose timing (or
// startAt, from which an unbounded count is numbered) leaves every dose of
// timing.repeat.count in the past is a 400 naming timing.repeat.count, as
// creating such a plan is, and changes nothing: it was accepted, and the
// plan stayed active without a dose ahead. A plan that has used up its
// count in time still takes a PATCH that leaves its timing and start
// alone (the same timing sent again included), and one that gives it
// doses ahead again.
func TestPatchPlanCountUsedUpRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Count Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "UTC"}, 201)["id"].(string)
		// Daily at 08:00 from 2026-03-01: the 6th dose was this morning
		// (now is 2026-03-06T15:00Z), the 7th is tomorrow's.
		timing := func(count int, bounded bool) map[string]any {
			repeat := map[string]any{"timeOfDay": []string{"08:00:00"}, "count": count}
			if bounded {
				repeat["boundsPeriod"] = map[string]any{"start": "2026-03-01"}
			}
			return map[string]any{"repeat": repeat}
		}
		create := func(bounded bool) (string, map[string]any) {
			t.Helper()
			p := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
				"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"},
				"timing":     timing(10, bounded), "startAt": "2026-03-01T00:00:00Z"}, 201)
			return "/v1/plans/" + p["id"].(string), p
		}
		bounded, before := create(true)
		unbounded, beforeUnbounded := create(false)
		for _, c := range []struct {
			name, path string
			body       map[string]any
		}{
			{"count 3", bounded, map[string]any{"timing": timing(3, true)}},
			{"count 6, this morning's the last", bounded, map[string]any{"timing": timing(6, true)}},
			{"count 6 without bounds", unbounded, map[string]any{"timing": timing(6, false)}},
			{"startAt a month earlier", unbounded, map[string]any{"startAt": "2026-02-01T00:00:00Z"}},
		} {
			r := e.do("PATCH", c.path, admin, c.body)
			if r.status != 400 || r.json(t)["field"] != "timing.repeat.count" {
				t.Errorf("PATCH %s = %d %s, want 400 naming timing.repeat.count", c.name, r.status, r.body)
			}
		}
		for path, was := range map[string]map[string]any{bounded: before, unbounded: beforeUnbounded} {
			got := e.mustDo("GET", path, admin, nil, 200)
			if got["version"] != was["version"] || got["startAt"] != was["startAt"] {
				t.Errorf("refused PATCHes changed the plan: %v, was %v", got, was)
			}
		}
		e.mustDo("PATCH", bounded, admin, map[string]any{"timing": timing(7, true)}, 200)

		// Five days on, the 7 doses are all past: the plan has ended by
		// its count.
		e.now = e.now.Add(5 * 24 * time.Hour)
		e.mustDo("PATCH", bounded, admin, map[string]any{"dose": "2 tablets"}, 200)
		e.mustDo("PATCH", bounded, admin, map[string]any{"timing": timing(7, true)}, 200)
		if r := e.do("PATCH", bounded, admin, map[string]any{"timing": timing(8, true)}); r.status != 400 || r.json(t)["field"] != "timing.repeat.count" {
			t.Errorf("PATCH count 8 of a plan ended by its count = %d %s, want 400 naming timing.repeat.count", r.status, r.body)
		}
		got := e.mustDo("PATCH", bounded, admin, map[string]any{"timing": timing(20, true)}, 200)
		if got["dose"] != "2 tablets" {
			t.Errorf("plan after the PATCHes = %v", got)
		}
	})
}

// TestResumePlanCountUsedUpRefused: resuming a paused plan whose
// timing.repeat.count ran out while it was paused is a 409 naming
// timing.repeat.count, and the plan stays paused: it was resumed into an
// active plan without a dose ahead, which creating it or changing its
// timing so is refused for. A plan with counted doses still ahead
// resumes, as does one given a larger count by a PATCH first.
func TestResumePlanCountUsedUpRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Resume Count Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "UTC"}, 201)["id"].(string)
		// Daily at 08:00 from 2026-03-01, 10 doses: now is
		// 2026-03-06T15:00Z, the last is on 2026-03-10.
		timing := func(count int) map[string]any {
			return map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}, "count": count,
				"boundsPeriod": map[string]any{"start": "2026-03-01"}}}
		}
		create := func() string {
			t.Helper()
			p := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
				"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"},
				"timing":     timing(10), "startAt": "2026-03-01T00:00:00Z"}, 201)
			return "/v1/plans/" + p["id"].(string)
		}
		early, late := create(), create()
		e.mustDo("POST", early+"/pause", admin, nil, 200)
		e.mustDo("POST", late+"/pause", admin, nil, 200)
		if got := e.mustDo("POST", early+"/resume", admin, nil, 200); got["status"] != "active" {
			t.Errorf("resume with doses ahead = %v, want active", got)
		}

		// Ten days on, the 10 counted doses are all past.
		e.now = e.now.Add(10 * 24 * time.Hour)
		r := e.do("POST", late+"/resume", admin, nil)
		if r.status != 409 || r.json(t)["field"] != "timing.repeat.count" {
			t.Errorf("resume of a plan whose count ran out = %d %s, want 409 naming timing.repeat.count", r.status, r.body)
		}
		if got := e.mustDo("GET", late, admin, nil, 200); got["status"] != "paused" {
			t.Errorf("refused resume left the plan %v, want paused", got["status"])
		}
		e.mustDo("PATCH", late, admin, map[string]any{"timing": timing(30)}, 200)
		if got := e.mustDo("POST", late+"/resume", admin, nil, 200); got["status"] != "active" {
			t.Errorf("resume after a larger count = %v, want active", got)
		}
	})
}

// TestResumePlanEndedRefused: resuming a paused plan whose end passed
// while it was paused (its endAt, its timing.repeat.boundsPeriod.end, a
// date in the patient's zone, or the last of its timing's events) is a
// 409 naming the field that ended it, and the plan stays paused: it was
// made active with no dose ahead, ever. A plan whose end is still ahead
// resumes, as does one given a later end by a PATCH first.
func TestResumePlanEndedRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Resume End Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)["id"].(string)
		daily := map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}}
		// Now is 2026-03-06T15:00Z; every plan ends by 2026-03-10.
		create := func(extra map[string]any) string {
			t.Helper()
			body := map[string]any{"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"},
				"timing": daily, "startAt": "2026-03-01T00:00:00Z"}
			for k, v := range extra {
				body[k] = v
			}
			p := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, body, 201)
			return "/v1/plans/" + p["id"].(string)
		}
		byEndAt := create(map[string]any{"endAt": "2026-03-10T00:00:00Z"})
		byBounds := create(map[string]any{"timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"},
			"boundsPeriod": map[string]any{"start": "2026-03-01", "end": "2026-03-09"}}}})
		byEvent := create(map[string]any{"timing": map[string]any{"event": []string{"2026-03-08T08:00:00", "2026-03-09T08:00:00"}}})
		early := create(map[string]any{"endAt": "2026-04-30T00:00:00Z"})
		for _, path := range []string{byEndAt, byBounds, byEvent, early} {
			e.mustDo("POST", path+"/pause", admin, nil, 200)
		}
		if got := e.mustDo("POST", early+"/resume", admin, nil, 200); got["status"] != "active" {
			t.Errorf("resume with its end ahead = %v, want active", got)
		}

		// Ten days on, each of the three has ended.
		e.now = e.now.Add(10 * 24 * time.Hour)
		for path, field := range map[string]string{byEndAt: "endAt", byBounds: "timing.repeat.boundsPeriod.end", byEvent: "timing.event"} {
			r := e.do("POST", path+"/resume", admin, nil)
			if r.status != 409 || r.json(t)["field"] != field {
				t.Errorf("resume of a plan ended by %s = %d %s, want 409 naming it", field, r.status, r.body)
			}
			if got := e.mustDo("GET", path, admin, nil, 200); got["status"] != "paused" {
				t.Errorf("refused resume left the plan ended by %s %v, want paused", field, got["status"])
			}
		}
		e.mustDo("PATCH", byEndAt, admin, map[string]any{"endAt": "2026-04-30T00:00:00Z"}, 200)
		if got := e.mustDo("POST", byEndAt+"/resume", admin, nil, 200); got["status"] != "active" {
			t.Errorf("resume after a later endAt = %v, want active", got)
		}
		doses := e.mustDo("GET", byEndAt+"/doses", admin, nil, 200)["doses"].([]any)
		if len(doses) == 0 {
			t.Errorf("plan resumed with a later end has no dose ahead")
		}
	})
}

// TestLongPeriodPlanEndedRefused: a plan of a period of years (up to ten
// are allowed) that has already ended is refused as any ended plan is,
// naming what ended it: its one counted dose past and the next three
// years on (timing.repeat.count), or its end before the next dose two
// years on (timing.repeat.boundsPeriod.end). Both were created active
// without a dose ahead: only 400 days ahead were looked at. One with a
// dose ahead, years away, is created.
func TestLongPeriodPlanEndedRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Long Period Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "UTC"}, 201)["id"].(string)
		plan := func(repeat map[string]any) response {
			return e.do("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
				"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"},
				"timing":     map[string]any{"repeat": repeat}})
		}
		for _, c := range []struct {
			name   string
			repeat map[string]any
			field  string // "" for created
		}{
			{"every 3 years, count 1, its dose past", map[string]any{"frequency": 1, "period": 3, "periodUnit": "a", "count": 1,
				"boundsPeriod": map[string]any{"start": "2025-01-01"}}, "timing.repeat.count"},
			{"every 2 years, ending before the next", map[string]any{"frequency": 1, "period": 2, "periodUnit": "a",
				"boundsPeriod": map[string]any{"start": "2025-06-01", "end": "2027-05-01"}}, "timing.repeat.boundsPeriod.end"},
			{"every 3 years, count 2, the second ahead", map[string]any{"frequency": 1, "period": 3, "periodUnit": "a", "count": 2,
				"boundsPeriod": map[string]any{"start": "2025-01-01"}}, ""},
			{"every 2 years, ending after the next", map[string]any{"frequency": 1, "period": 2, "periodUnit": "a",
				"boundsPeriod": map[string]any{"start": "2025-06-01", "end": "2027-07-01"}}, ""},
		} {
			r := plan(c.repeat)
			switch {
			case c.field == "" && r.status != 201:
				t.Errorf("%s: %d %s, want it created", c.name, r.status, r.body)
			case c.field != "" && (r.status != 400 || r.json(t)["field"] != c.field):
				t.Errorf("%s: %d %s, want 400 naming %s", c.name, r.status, r.body, c.field)
			}
		}
	})
}
