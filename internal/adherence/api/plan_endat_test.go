package api_test

import (
	"testing"
	"time"
)

// TestPatchPlanEndAtNullRemovesTheEnd: on PATCH /v1/plans/{id},
// "endAt": null removes the plan's end (an open-ended plan again), and its
// doses after the old end are scheduled; absent, endAt keeps its value.
// null was taken for endAt left out: 200 with the end kept, so an end
// once set could only be moved, never removed.
func TestPatchPlanEndAtNullRemovesTheEnd(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("EndAt Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "UTC"}, 201)
		pid := p["id"].(string)
		end := e.now.Add(72 * time.Hour).Format(time.RFC3339)
		plan := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"},
			"timing":     map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
			"endAt":      end,
		}, 201)
		planID := plan["id"].(string)
		doses := func() int {
			t.Helper()
			got := e.mustDo("GET", "/v1/plans/"+planID+"/doses", admin, nil, 200)
			return len(got["doses"].([]any))
		}
		if n := doses(); n != 3 {
			t.Fatalf("doses before the end = %d, want 3", n)
		}
		got := e.mustDo("PATCH", "/v1/plans/"+planID, admin, `{"dose":"1 tablet"}`, 200)
		if got["endAt"] == nil {
			t.Errorf("PATCH without endAt removed it: %v", got)
		}
		got = e.mustDo("PATCH", "/v1/plans/"+planID, admin, `{"endAt":null}`, 200)
		if v, ok := got["endAt"]; ok {
			t.Errorf(`PATCH {"endAt":null}: endAt = %v, want none`, v)
		}
		got = e.mustDo("GET", "/v1/plans/"+planID, admin, nil, 200)
		if v, ok := got["endAt"]; ok {
			t.Errorf(`after PATCH {"endAt":null} the plan still ends at %v`, v)
		}
		if n := doses(); n != 14 {
			t.Errorf("doses in the next 14 days of an open-ended plan = %d, want 14", n)
		}
		r := e.do("PATCH", "/v1/plans/"+planID, admin, `{"endAt":"tomorrow"}`)
		if r.status != 400 || r.json(t)["field"] != "endAt" {
			t.Errorf(`PATCH {"endAt":"tomorrow"} = %d %s, want 400 naming endAt`, r.status, r.body)
		}
	})
}

// TestCreatePlanAlreadyEndedRefused: POST /v1/patients/{id}/plans with an
// endAt or a timing.repeat.boundsPeriod.end (a date in the patient's zone)
// already past, or whose events or counted doses all come before its
// startAt, is a 400 problem naming the field; no plan is created. It
// was created active, without a dose and without an error, a plan that
// would never remind anyone.
func TestCreatePlanAlreadyEndedRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Ended Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)
		pid := p["id"].(string)
		yesterday := e.now.In(mustLoad(t, "America/New_York")).AddDate(0, 0, -1).Format(time.DateOnly)
		cases := []struct {
			name, field string
			body        map[string]any
		}{
			{name: "endAt", field: "endAt", body: map[string]any{
				"timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
				"endAt":  e.now.Add(-time.Hour).Format(time.RFC3339),
			}},
			{name: "boundsPeriod.end", field: "timing.repeat.boundsPeriod.end", body: map[string]any{
				"timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"},
					"boundsPeriod": map[string]any{"start": "2020-01-01", "end": yesterday}}},
			}},
			// Ahead of now, but every dose before the plan's start: it would
			// be created active and never have a dose (QA).
			{name: "events before startAt", field: "timing.event", body: map[string]any{
				"timing":  map[string]any{"event": []string{e.now.Add(48 * time.Hour).Format(time.RFC3339)}},
				"startAt": e.now.Add(120 * time.Hour).Format(time.RFC3339),
			}},
			{name: "counted doses before startAt", field: "timing.repeat.count", body: map[string]any{
				"timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}, "count": 2,
					"boundsPeriod": map[string]any{"start": e.now.In(mustLoad(t, "America/New_York")).AddDate(0, 0, 1).Format(time.DateOnly)}}},
				"startAt": e.now.Add(120 * time.Hour).Format(time.RFC3339),
			}},
		}
		for _, tc := range cases {
			tc.body["medication"] = map[string]any{"rxnorm": "314076", "display": "lisinopril"}
			r := e.do("POST", "/v1/patients/"+pid+"/plans", admin, tc.body)
			if r.status != 400 || r.json(t)["field"] != tc.field {
				t.Errorf("%s in the past: %d %s, want 400 naming %s", tc.name, r.status, r.body, tc.field)
			}
		}
		got := e.mustDo("GET", "/v1/patients/"+pid+"/plans", admin, nil, 200)
		if plans, _ := got["plans"].([]any); len(plans) != 0 {
			t.Errorf("plans after the refusals = %v, want none", got)
		}
	})
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestPlanEndAtAnsweredAsStored: the answers to POST /v1/patients/{id}/plans
// and PATCH /v1/plans/{id} state endAt as it is stored and read back (UTC,
// microseconds), as they state startAt. They gave it with the nanoseconds
// sent (2027-03-06T08:00:00.987654321Z), and GET then said
// 2027-03-06T08:00:00.987654Z: one plan, two ends.
func TestPlanEndAtAnsweredAsStored(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("EndAt Answer Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "UTC"}, 201)
		created := e.mustDo("POST", "/v1/patients/"+p["id"].(string)+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"},
			"timing":     map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
			"endAt":      "2027-03-06T10:00:00.987654321+02:00",
		}, 201)
		planID := created["id"].(string)
		patched := e.mustDo("PATCH", "/v1/plans/"+planID, admin, `{"endAt":"2027-03-07T10:00:00.123456789+02:00"}`, 200)
		read := e.mustDo("GET", "/v1/plans/"+planID, admin, nil, 200)
		for _, c := range []struct {
			name string
			got  any
			want string
		}{
			// Rounded up to the microsecond: endAt is exclusive.
			{"POST answer", created["endAt"], "2027-03-06T08:00:00.987655Z"},
			{"PATCH answer", patched["endAt"], "2027-03-07T08:00:00.123457Z"},
			{"GET", read["endAt"], "2027-03-07T08:00:00.123457Z"},
		} {
			if c.got != c.want {
				t.Errorf("%s: endAt = %v, want %s", c.name, c.got, c.want)
			}
		}
	})
}

// TestCreatePlanOfPastEventsRefused: a new plan whose timing lists only
// events already past is a 400 naming timing.event (through the plans API
// and the FHIR import), as a plan already ended by its endAt or
// boundsPeriod.end is: it was created active without a dose, and would
// never have one. One event still ahead (a wall time in the patient's
// zone) is enough.
func TestCreatePlanOfPastEventsRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Past Events Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)["id"].(string)
		ny := mustLoad(t, "America/New_York")
		past := e.now.Add(-time.Hour).Format(time.RFC3339)
		plan := func(events ...string) map[string]any {
			return map[string]any{"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"},
				"timing": map[string]any{"event": events}}
		}
		r := e.do("POST", "/v1/patients/"+pid+"/plans", admin, plan(past, "2026-01-02T09:00:00Z"))
		if r.status != 400 || r.json(t)["field"] != "timing.event" {
			t.Errorf("events all past = %d %s, want 400 naming timing.event", r.status, r.body)
		}
		r = e.do("POST", "/fhir/MedicationRequest", admin, map[string]any{
			"resourceType": "MedicationRequest", "status": "active", "intent": "order",
			"subject": map[string]any{"reference": "Patient/" + pid},
			"medicationCodeableConcept": map[string]any{"coding": []any{map[string]any{
				"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076", "display": "lisinopril"}}},
			"dosageInstruction": []any{map[string]any{"timing": map[string]any{"event": []string{past}}}},
		})
		if r.status != 400 || r.json(t)["field"] != "dosageInstruction[0].timing.event" {
			t.Errorf("FHIR import of past events = %d %s, want 400 naming dosageInstruction[0].timing.event", r.status, r.body)
		}
		if got := e.mustDo("GET", "/v1/patients/"+pid+"/plans", admin, nil, 200); len(got["plans"].([]any)) != 0 {
			t.Errorf("plans after the refusals = %v, want none", got)
		}
		// An event an hour ahead, written as a wall time in the patient's zone.
		ahead := e.now.Add(time.Hour).In(ny).Format("2006-01-02T15:04:05")
		id := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, plan(past, ahead), 201)["id"].(string)
		if doses := e.mustDo("GET", "/v1/plans/"+id+"/doses", admin, nil, 200)["doses"].([]any); len(doses) != 1 {
			t.Errorf("doses of a plan with one event ahead = %v, want 1", doses)
		}
	})
}

// TestCreatePlanOfSpentCountRefused: a new plan whose repeat.count ran out
// before now (its count-th dose, counted from boundsPeriod.start, is past)
// is a 400 naming timing.repeat.count (through the plans API and the FHIR
// import), as one of past events names timing.event: it was created active
// without a dose, and would never have one. A count still reaching a dose
// ahead is fine.
func TestCreatePlanOfSpentCountRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Spent Count Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)["id"].(string)
		// e.now is 2026-03-06T15:00Z, 10:00 in New York: the 65th daily
		// 09:00 dose from 2026-01-01 is an hour past, the 66th tomorrow.
		timing := func(count int) map[string]any {
			return map[string]any{"repeat": map[string]any{"timeOfDay": []string{"09:00:00"}, "count": count,
				"boundsPeriod": map[string]any{"start": "2026-01-01"}}}
		}
		plan := func(count int) map[string]any {
			return map[string]any{"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"}, "timing": timing(count)}
		}
		for _, count := range []int{1, 65} {
			r := e.do("POST", "/v1/patients/"+pid+"/plans", admin, plan(count))
			if r.status != 400 || r.json(t)["field"] != "timing.repeat.count" {
				t.Errorf("count %d, all past = %d %s, want 400 naming timing.repeat.count", count, r.status, r.body)
			}
		}
		r := e.do("POST", "/fhir/MedicationRequest", admin, map[string]any{
			"resourceType": "MedicationRequest", "status": "active", "intent": "order",
			"subject": map[string]any{"reference": "Patient/" + pid},
			"medicationCodeableConcept": map[string]any{"coding": []any{map[string]any{
				"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076", "display": "lisinopril"}}},
			"dosageInstruction": []any{map[string]any{"timing": timing(1)}},
		})
		if r.status != 400 || r.json(t)["field"] != "dosageInstruction[0].timing.repeat.count" {
			t.Errorf("FHIR import of a spent count = %d %s, want 400 naming dosageInstruction[0].timing.repeat.count", r.status, r.body)
		}
		if got := e.mustDo("GET", "/v1/patients/"+pid+"/plans", admin, nil, 200); len(got["plans"].([]any)) != 0 {
			t.Errorf("plans after the refusals = %v, want none", got)
		}
		id := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, plan(66), 201)["id"].(string)
		if doses := e.mustDo("GET", "/v1/plans/"+id+"/doses", admin, nil, 200)["doses"].([]any); len(doses) != 1 {
			t.Errorf("doses of a plan whose count reaches tomorrow = %v, want 1", doses)
		}
	})
}

// TestPlanWithoutDoseBeforeItsEndRefused: a plan whose end is still ahead
// but comes before its next dose (a daily 08:00 plan given an end at 07:00
// tomorrow, or a boundsPeriod.end of today once today's dose is past) has
// no dose ahead and never will, as one whose end has passed: creating it is
// a 400 and resuming it a 409, naming the field that ends it. Both were
// accepted, and the plan was active without a dose, reminding nobody.
func TestPlanWithoutDoseBeforeItsEndRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("No Dose Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)["id"].(string)
		// Now is 2026-03-06T15:00Z, 10:00 in New York: today's 08:00 dose
		// is past, tomorrow's is at 13:00Z.
		daily := map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}}
		plan := func(extra map[string]any) map[string]any {
			body := map[string]any{"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"}, "timing": daily}
			for k, v := range extra {
				body[k] = v
			}
			return body
		}
		for _, tc := range []struct {
			name, field string
			body        map[string]any
		}{
			{"endAt before tomorrow's dose", "endAt", plan(map[string]any{"endAt": "2026-03-07T12:00:00Z"})},
			{"boundsPeriod.end today", "timing.repeat.boundsPeriod.end", plan(map[string]any{"timing": map[string]any{
				"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}, "boundsPeriod": map[string]any{"end": "2026-03-06"}}}})},
		} {
			r := e.do("POST", "/v1/patients/"+pid+"/plans", admin, tc.body)
			if r.status != 400 || r.json(t)["field"] != tc.field {
				t.Errorf("%s: %d %s, want 400 naming %s", tc.name, r.status, r.body, tc.field)
			}
		}
		if plans := e.mustDo("GET", "/v1/patients/"+pid+"/plans", admin, nil, 200)["plans"].([]any); len(plans) != 0 {
			t.Errorf("plans after the refusals = %v, want none", plans)
		}

		// One dose left, tomorrow at 08:00, before its end at 09:00.
		p := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, plan(map[string]any{"endAt": "2026-03-07T14:00:00Z"}), 201)
		path := "/v1/plans/" + p["id"].(string)
		e.mustDo("POST", path+"/pause", admin, nil, 200)
		e.now = time.Date(2026, 3, 7, 13, 30, 0, 0, time.UTC) // 08:30 in New York
		r := e.do("POST", path+"/resume", admin, nil)
		if r.status != 409 || r.json(t)["field"] != "endAt" {
			t.Errorf("resume with no dose left before endAt = %d %s, want 409 naming endAt", r.status, r.body)
		}
		if got := e.mustDo("GET", path, admin, nil, 200); got["status"] != "paused" {
			t.Errorf("refused resume left the plan %v, want paused", got["status"])
		}
	})
}

// TestPlanEndAtBelowTheMicrosecond: an endAt with digits below the
// microsecond is stored rounded up to it, so the dose due at the whole
// second before it stays a dose of the plan; truncated, an end half a
// microsecond after a dose deleted it (QA).
func TestPlanEndAtBelowTheMicrosecond(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("EndAt Nanos Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "UTC"}, 201)
		due := time.Date(e.now.Year(), e.now.Month(), e.now.Day()+3, 8, 0, 0, 0, time.UTC)
		plan := func(end time.Time) (map[string]any, int) {
			t.Helper()
			got := e.mustDo("POST", "/v1/patients/"+p["id"].(string)+"/plans", admin, map[string]any{
				"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"},
				"timing":     map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
				"endAt":      end.Format(time.RFC3339Nano),
			}, 201)
			doses := e.mustDo("GET", "/v1/plans/"+got["id"].(string)+"/doses", admin, nil, 200)["doses"].([]any)
			return got, len(doses)
		}
		_, before := plan(due) // exclusive: the dose at due is not one
		got, after := plan(due.Add(500 * time.Nanosecond))
		if after != before+1 {
			t.Errorf("doses with endAt half a microsecond after a dose = %d, want %d (the %d before it and that dose)", after, before+1, before)
		}
		if want := due.Add(time.Microsecond).Format(time.RFC3339Nano); got["endAt"] != want {
			t.Errorf("endAt answered %v, want %s (rounded up)", got["endAt"], want)
		}
	})
}
