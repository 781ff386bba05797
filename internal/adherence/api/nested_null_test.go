package api_test

import (
	"testing"
)

// TestNestedNullRemovesOrIsRefused: a null member of an object inside a
// patient's or a plan's body (anchors, quietHours, medication, timing,
// windows) is read as at the top level, not as an empty value: it is a
// 400 naming the full path when the member must have a value (every
// anchor time, both ends of the quiet hours, the drug's rxnorm and
// display, any timing element), and removes an optional one (a window
// override, which then follows the organization). {"start": null,
// "end": null} was read as "" and removed the patient's quiet hours, and
// {"wake": null} kept the wake time, each answered 200. A refused request
// changes nothing.
func TestNestedNullRemovesOrIsRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Nested Null Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York",
			"anchors":    map[string]any{"wake": "06:30", "bed": "22:30"},
			"quietHours": map[string]any{"start": "22:00", "end": "07:00"}}, 201)
		path := "/v1/patients/" + p["id"].(string)
		for _, c := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"anchors": map[string]any{"wake": nil}}, "anchors.wake"},
			{map[string]any{"anchors": map[string]any{"bed": "23:00", "Lunch": nil}}, "anchors.lunch"},
			{map[string]any{"quietHours": map[string]any{"start": nil, "end": nil}}, "quietHours.start"},
			{map[string]any{"quietHours": map[string]any{"start": nil, "end": "06:00"}}, "quietHours.start"},
			{map[string]any{"quietHours": map[string]any{"start": "21:00", "end": nil}}, "quietHours.end"},
		} {
			r := e.do("PATCH", path, admin, c.body)
			if r.status != 400 || r.json(t)["field"] != c.field {
				t.Errorf("PATCH %v = %d %s, want 400 naming %s", c.body, r.status, r.body, c.field)
			}
			body := map[string]any{"givenName": "Bo", "timeZone": "UTC"}
			for k, v := range c.body {
				body[k] = v
			}
			r = e.do("POST", "/v1/patients", admin, body)
			if r.status != 400 || r.json(t)["field"] != c.field {
				t.Errorf("POST %v = %d %s, want 400 naming %s", c.body, r.status, r.body, c.field)
			}
		}
		got := e.mustDo("GET", path, admin, nil, 200)
		anchors, _ := got["anchors"].(map[string]any)
		quiet, _ := got["quietHours"].(map[string]any)
		if anchors["wake"] != "06:30" || anchors["bed"] != "22:30" || quiet["start"] != "22:00" || quiet["end"] != "07:00" || got["version"] != p["version"] {
			t.Errorf("refused requests changed the patient: %v", got)
		}
		if list := e.mustDo("GET", "/v1/patients", admin, nil, 200)["patients"].([]any); len(list) != 1 {
			t.Errorf("patients after the refused POSTs = %d, want 1", len(list))
		}

		plan := e.mustDo("POST", path+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril 10 MG Oral Tablet"},
			"timing":     map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
			"windows":    map[string]any{"onTimeMinutes": 20, "lateMaxMinutes": 90}}, 201)
		planPath := "/v1/plans/" + plan["id"].(string)
		for _, c := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"medication": map[string]any{"rxnorm": "314076", "display": nil}}, "medication.display"},
			{map[string]any{"medication": map[string]any{"rxnorm": nil, "display": "lisinopril"}}, "medication.rxnorm"},
			{map[string]any{"timing": map[string]any{"repeat": map[string]any{"timeOfDay": nil, "when": []string{"MORN"}}}}, "timing.repeat.timeOfDay"},
		} {
			r := e.do("PATCH", planPath, admin, c.body)
			if r.status != 400 || r.json(t)["field"] != c.field {
				t.Errorf("PATCH plan %v = %d %s, want 400 naming %s", c.body, r.status, r.body, c.field)
			}
		}
		got = e.mustDo("PATCH", planPath, admin, map[string]any{"windows": map[string]any{"onTimeMinutes": nil, "lateMaxMinutes": 60}}, 200)
		if w := got["windows"].(map[string]any); w["onTimeMinutes"] != nil || w["lateMaxMinutes"] != float64(60) {
			t.Errorf(`PATCH plan windows {"onTimeMinutes":null,"lateMaxMinutes":60} = %v, want only lateMaxMinutes`, w)
		}
	})
}
