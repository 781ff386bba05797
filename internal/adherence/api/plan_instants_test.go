package api_test

import (
	"reflect"
	"strings"
	"testing"
)

// TestPlanInstantsOutsideYears1To9999: a plan's startAt or endAt whose UTC
// instant falls outside the years 1 to 9999 (an offset carries
// 9999-12-31T23:00:00-05:00 into the year 10000) is a 400 naming the
// field, on create and on PATCH. Such a plan was stored, and its JSON could
// not be written: the request, every later read of the plan and the
// patient's plan list answered 500.
func TestPlanInstantsOutsideYears1To9999(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Instants Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)
		pid := p["id"].(string)
		plan := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"},
			"timing":     map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
		}, 201)
		planID := plan["id"].(string)
		cases := []struct {
			method, path, body, field string
		}{
			{"PATCH", "/v1/plans/" + planID, `{"endAt":"9999-12-31T23:00:00-05:00"}`, "endAt"},
			{"PATCH", "/v1/plans/" + planID, `{"startAt":"0001-01-01T00:30:00+01:00"}`, "startAt"},
			{"POST", "/v1/patients/" + pid + "/plans", `{"medication":{"rxnorm":"1","display":"x"},"asNeeded":true,"startAt":"0000-01-01T00:30:00+01:00"}`, "startAt"},
			{"POST", "/v1/patients/" + pid + "/plans", `{"medication":{"rxnorm":"1","display":"x"},"asNeeded":true,"endAt":"9999-12-31T20:00:00-10:00"}`, "endAt"},
		}
		for _, c := range cases {
			r := e.do(c.method, c.path, admin, c.body)
			if r.status != 400 || r.json(t)["field"] != c.field {
				t.Errorf("%s %s %s = %d %s, want 400 naming %s", c.method, c.path, c.body, r.status, r.body, c.field)
			}
		}
		e.mustDo("GET", "/v1/plans/"+planID, admin, nil, 200)
		got := e.mustDo("GET", "/v1/patients/"+pid+"/plans", admin, nil, 200)
		if n := len(got["plans"].([]any)); n != 1 {
			t.Errorf("plans = %d, want 1", n)
		}
		// The last instant of the year 9999 in UTC is still a plan's end.
		e.mustDo("PATCH", "/v1/plans/"+planID, admin, `{"endAt":"9999-12-31T23:59:59Z"}`, 200)
	})
}

// TestBodyInstantsAreStrictRFC3339: a plan's startAt and endAt (create and
// PATCH) and an API key's expiresAt are read strictly as RFC 3339, as an
// event's occurredAt is: an offset of 24 hours or more, a comma before the
// fraction or a one-digit hour is a 400 naming the field. time.Time's
// decoding took them, so a plan ending 2026-03-07T20:00:00+24:00 ended a
// whole day before the wall time it was sent with.
func TestBodyInstantsAreStrictRFC3339(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Strict Instants Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)
		pid := p["id"].(string)
		plan := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"},
			"timing":     map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
		}, 201)
		planID := plan["id"].(string)
		for _, at := range []string{"2099-03-07T20:00:00+24:00", "2099-03-07T20:00:00-23:60", "2099-03-07T20:00:00,5Z", "2099-03-07T9:00:00Z"} {
			for _, c := range []struct{ method, path, body, field string }{
				{"PATCH", "/v1/plans/" + planID, `{"endAt":"` + at + `"}`, "endAt"},
				{"PATCH", "/v1/plans/" + planID, `{"startAt":"` + at + `"}`, "startAt"},
				{"POST", "/v1/patients/" + pid + "/plans", `{"medication":{"rxnorm":"1","display":"x"},"asNeeded":true,"startAt":"` + at + `"}`, "startAt"},
				{"POST", "/v1/patients/" + pid + "/plans", `{"medication":{"rxnorm":"1","display":"x"},"asNeeded":true,"endAt":"` + at + `"}`, "endAt"},
				{"POST", "/v1/api-keys", `{"role":"integration","expiresAt":"` + at + `"}`, "expiresAt"},
			} {
				r := e.do(c.method, c.path, admin, c.body)
				if r.status != 400 || r.json(t)["field"] != c.field {
					t.Errorf("%s %s %s = %d %s, want 400 naming %s", c.method, c.path, c.body, r.status, r.body, c.field)
				}
			}
		}
		got := e.mustDo("GET", "/v1/patients/"+pid+"/plans", admin, nil, 200)
		if n := len(got["plans"].([]any)); n != 1 {
			t.Errorf("plans = %d, want 1", n)
		}
		e.mustDo("PATCH", "/v1/plans/"+planID, admin, `{"endAt":"2099-03-07T20:00:00.5+13:45"}`, 200)
		e.mustDo("POST", "/v1/api-keys", admin, `{"role":"integration","expiresAt":"2099-03-07T20:00:00-09:30"}`, 201)
	})
}

// TestTimingDateTimesAreStrictRFC3339: a timing's boundsPeriod.start and
// .end and its events are read strictly as RFC 3339, in the plans API and
// in the FHIR import: an offset of 24 hours or more, a comma before the
// fraction or a one-digit hour is a 400 naming the element. time.Parse
// took them, so a plan bounded from 2099-03-07T20:00:00+24:00 started a
// whole day before the wall time it was sent with.
func TestTimingDateTimesAreStrictRFC3339(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Strict Timing Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)
		pid := p["id"].(string)
		for _, c := range []struct {
			timing map[string]any
			field  string
		}{
			{map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}, "boundsPeriod": map[string]any{"start": "2099-03-07T20:00:00+24:00"}}}, "timing.repeat.boundsPeriod.start"},
			{map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}, "boundsPeriod": map[string]any{"end": "2099-03-07T20:00:00,5"}}}, "timing.repeat.boundsPeriod.end"},
			{map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}, "boundsPeriod": map[string]any{"end": "2099-03-07T8:00:00.5"}}}, "timing.repeat.boundsPeriod.end"},
			{map[string]any{"event": []string{"2099-03-07T20:00:00-23:60"}}, "timing.event[0]"},
		} {
			r := e.do("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
				"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"}, "timing": c.timing})
			if r.status != 400 || r.json(t)["field"] != c.field {
				t.Errorf("POST plan with timing %v = %d %s, want 400 naming %s", c.timing, r.status, r.body, c.field)
			}
			r = e.do("POST", "/fhir/MedicationRequest", admin, fhirRequest(pid, map[string]any{"timing": c.timing}))
			if f, _ := r.json(t)["field"].(string); r.status != 400 || !strings.HasSuffix(f, c.field) {
				t.Errorf("FHIR import with timing %v = %d %s, want 400 naming …%s", c.timing, r.status, r.body, c.field)
			}
		}
		got := e.mustDo("GET", "/v1/patients/"+pid+"/plans", admin, nil, 200)
		if n := len(got["plans"].([]any)); n != 0 {
			t.Errorf("plans = %d, want none", n)
		}
		e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"},
			"timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"},
				"boundsPeriod": map[string]any{"start": "2099-03-07T20:00:00.5+13:45", "end": "2099-04-07T20:00:00.25"}}}}, 201)
	})
}

// TestPlanTimeOfDayWithoutSecondsAndZeroStart: a timeOfDay given as hh:mm
// is kept as the FHIR time hh:mm:00, in the plan and its FHIR export (it
// was echoed as "08:00", not a FHIR time); a startAt of the zero instant
// 0001-01-01T00:00:00Z is a 400 naming it (the store read it as no start
// and started the plan now without a word).
func TestPlanTimeOfDayWithoutSecondsAndZeroStart(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Short Time Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)
		pid := p["id"].(string)
		plan := func(extra map[string]any) map[string]any {
			b := map[string]any{"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"},
				"timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00", "20:30:00"}}}}
			for k, v := range extra {
				b[k] = v
			}
			return b
		}
		pl := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, plan(nil), 201)
		tod := func(v map[string]any) any {
			return v["timing"].(map[string]any)["repeat"].(map[string]any)["timeOfDay"]
		}
		want := []any{"08:00:00", "20:30:00"}
		if got := tod(pl); !reflect.DeepEqual(got, want) {
			t.Errorf("timeOfDay = %v, want %v", got, want)
		}
		fr := e.mustDo("GET", "/fhir/MedicationRequest/"+pl["id"].(string), admin, nil, 200)
		di := fr["dosageInstruction"].([]any)[0].(map[string]any)
		if got := tod(di); !reflect.DeepEqual(got, want) {
			t.Errorf("FHIR export timeOfDay = %v, want %v", got, want)
		}
		// A PATCH giving the same times in the short form changes nothing.
		v := pl["version"]
		if got := e.mustDo("PATCH", "/v1/plans/"+pl["id"].(string), admin, map[string]any{
			"timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00", "20:30"}}}}, 200); got["version"] != v {
			t.Errorf("PATCH with the same times as hh:mm: version %v, want %v unchanged", got["version"], v)
		}

		r := e.do("POST", "/v1/patients/"+pid+"/plans", admin, plan(map[string]any{"startAt": "0001-01-01T00:00:00Z"}))
		if r.status != 400 || r.json(t)["field"] != "startAt" {
			t.Errorf("startAt 0001-01-01T00:00:00Z: %d %s, want 400 naming startAt", r.status, r.body)
		}
		r = e.do("PATCH", "/v1/plans/"+pl["id"].(string), admin, map[string]any{"startAt": "0001-01-01T00:00:00Z"})
		if r.status != 400 || r.json(t)["field"] != "startAt" {
			t.Errorf("PATCH startAt 0001-01-01T00:00:00Z: %d %s, want 400 naming startAt", r.status, r.body)
		}
	})
}
