package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/auth"
)

// TestFHIRExportKeepsFractionalSeconds: the FHIR exports carry every
// instant as the plans API answers it, fraction of a second included
// (FHIR instant and dateTime allow one). The export cut the fraction:
// a plan starting at 08:00:00.25 exported boundsPeriod.start 08:00:00, a
// dose taken at 08:05:00.123 exported effectiveDateTime 08:05:00, and an
// endAt of 08:00:00.5 exported boundsPeriod.end 07:59:59, which lost the
// plan's last dose, due at 08:00:00, when the export was imported back.
func TestFHIRExportKeepsFractionalSeconds(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		orgID, admin := e.org("FHIR Fraction Org")
		integration := e.key(orgID, auth.RoleIntegration, "")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "UTC"}, 201)["id"].(string)
		e.now = time.Date(2026, 3, 6, 15, 0, 0, 125_000_000, time.UTC)
		med := map[string]any{"rxnorm": "314076", "display": "lisinopril"}
		daily := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
			"medication": med, "dose": "1 tablet",
			"timing":  map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}},
			"startAt": "2026-03-07T08:00:00.250Z", "endAt": "2026-03-09T08:00:00.500Z"}, 201)
		events := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
			"medication": med, "timing": map[string]any{"event": []string{"2026-03-07T05:00:00.750Z"}}}, 201)

		res := e.mustDo("GET", "/fhir/MedicationRequest/"+daily["id"].(string), admin, nil, 200)
		bounds := res["dosageInstruction"].([]any)[0].(map[string]any)["timing"].(map[string]any)["repeat"].(map[string]any)["boundsPeriod"].(map[string]any)
		for _, c := range []struct{ name, got, want string }{
			{"boundsPeriod.start", bounds["start"].(string), daily["startAt"].(string)},
			// endAt is exclusive, boundsPeriod.end inclusive: the last
			// whole second before it, the time of the last dose.
			{"boundsPeriod.end", bounds["end"].(string), "2026-03-09T08:00:00Z"},
			{"authoredOn", res["authoredOn"].(string), daily["createdAt"].(string)},
			{"meta.lastUpdated", res["meta"].(map[string]any)["lastUpdated"].(string), daily["updatedAt"].(string)},
		} {
			if c.got != c.want {
				t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
			}
		}
		if daily["startAt"] != "2026-03-07T08:00:00.25Z" || daily["createdAt"] != "2026-03-06T15:00:00.125Z" {
			t.Fatalf("the plans API answers startAt %v, createdAt %v: not the instants sent", daily["startAt"], daily["createdAt"])
		}
		// The export imports back into a plan with the same three doses.
		delete(res, "id")
		delete(res, "meta")
		back := e.mustDo("POST", "/fhir/MedicationRequest", admin, res, 201)["id"].(string)
		for _, id := range []string{daily["id"].(string), back} {
			if doses := e.mustDo("GET", "/v1/plans/"+id+"/doses", admin, nil, 200)["doses"].([]any); len(doses) != 3 {
				t.Errorf("plan %s: %d doses, want 3 (08:00 on March 7th, 8th and 9th)", id, len(doses))
			}
		}

		// A dose taken at a fraction of a second, and a dose due at one
		// and missed: effectiveDateTime is the takenAt, and the dueAt, the
		// plans API shows.
		e.now = time.Date(2026, 3, 7, 9, 0, 0, 0, time.UTC)
		e.mustDo("POST", "/v1/events", integration, map[string]any{"patientId": pid, "planId": daily["id"], "kind": "taken",
			"occurredAt": "2026-03-07T08:05:00.123Z", "source": "app", "clientEventId": "fraction-1"}, 201)
		if _, err := e.store.MarkMissed(context.Background(), e.now); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for _, id := range []string{daily["id"].(string), events["id"].(string)} {
			for _, d := range e.mustDo("GET", "/v1/plans/"+id+"/doses?from=2026-03-07T00:00:00Z&to=2026-03-08T00:00:00Z", admin, nil, 200)["doses"].([]any) {
				d := d.(map[string]any)
				at, _ := d["takenAt"].(string)
				if at == "" {
					at = d["dueAt"].(string)
				}
				want[fmt.Sprintf("dose-%d", int64(d["id"].(float64)))] = at
			}
		}
		if len(want) != 2 {
			t.Fatalf("doses of March 7th: %v, want two", want)
		}
		b := e.mustDo("GET", "/fhir/MedicationAdministration?patient="+pid+"&date=2026-03-07", admin, nil, 200)
		entries := asSlice(b["entry"])
		if len(entries) != 2 {
			t.Fatalf("%d administrations on March 7th, want 2: %v", len(entries), b)
		}
		for _, en := range entries {
			r := en.(map[string]any)["resource"].(map[string]any)
			if id := r["id"].(string); r["effectiveDateTime"] != want[id] {
				t.Errorf("%s (%s): effectiveDateTime %v, want %s", id, r["status"], r["effectiveDateTime"], want[id])
			}
		}
		for id, at := range want {
			if at != "2026-03-07T08:05:00.123Z" && at != "2026-03-07T05:00:00.75Z" {
				t.Errorf("%s: the plans API answers %s, not the instant taken or due", id, at)
			}
		}
	})
}

// TestFHIRDateFinerThanMicroseconds: a date search value with seven to
// nine fraction digits stands for exactly the range it writes. Doses are
// due on whole microseconds; the range was widened to a microsecond, so
// le …07:59:59.9999999Z and eq …07:59:59.999999999Z took in the dose due
// at 08:00:00, gt …07:59:59.999999999Z left it out, and a 366-day range
// ending le …23:59:59.999999999Z was refused as longer than 366 days (QA).
func TestFHIRDateFinerThanMicroseconds(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("FHIR Nanosecond Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "UTC"}, 201)["id"].(string)
		e.now = time.Date(2026, 3, 6, 15, 0, 0, 0, time.UTC)
		e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"},
			"timing":     map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}}}, 201)
		e.now = time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC)
		if _, err := e.store.MarkMissed(context.Background(), e.now); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			date string
			want int // administrations: the dose missed at 08:00:00 or none
		}{
			{"ge2026-03-07&date=le2026-03-07T07:59:59.9999999Z", 0},
			{"ge2026-03-07&date=le2026-03-07T07:59:59.999999999Z", 0},
			{"eq2026-03-07T07:59:59.999999999Z", 0},
			{"gt2026-03-07T07:59:59.999999999Z&date=lt2026-03-08", 1},
			{"ge2026-03-07&date=le2026-03-07T08:00:00.0000001Z", 1},
			{"ge2025-03-07T00:00:00Z&date=le2026-03-07T23:59:59.999999999Z", 1},
		} {
			b := e.mustDo("GET", "/fhir/MedicationAdministration?patient="+pid+"&date="+c.date, admin, nil, 200)
			if got := len(asSlice(b["entry"])); got != c.want {
				t.Errorf("date=%s: %d administrations, want %d", c.date, got, c.want)
			}
		}
	})
}

// TestFHIRExportOfEventsKeepsThePlansEnd: a timing of events has no
// repeat to carry the plan's period as boundsPeriod, so the export lists
// the events that are the plan's doses, those before its endAt. It listed
// them all, and the export imported back into a plan with more doses:
// three events, endAt after the first, came back as three doses (QA).
func TestFHIRExportOfEventsKeepsThePlansEnd(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("FHIR Events End Org")
		// A wall time without an offset is the patient's (UTC-5 in March
		// before the change): 10:00 there is 15:00Z, after the end.
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York"}, 201)["id"].(string)
		e.now = time.Date(2026, 3, 6, 12, 0, 0, 0, time.UTC)
		events := []string{"2026-03-06T13:00:00Z", "2026-03-06T09:30:00-05:00", "2026-03-06T10:00:00"}
		plan := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"},
			"timing":     map[string]any{"event": events}, "endAt": "2026-03-06T14:45:00Z"}, 201)
		exported := func(id string) []any {
			res := e.mustDo("GET", "/fhir/MedicationRequest/"+id, admin, nil, 200)
			timing := res["dosageInstruction"].([]any)[0].(map[string]any)["timing"].(map[string]any)
			return asSlice(timing["event"])
		}
		want := fmt.Sprint([]any{events[0], events[1]})
		if got := exported(plan["id"].(string)); fmt.Sprint(got) != want {
			t.Errorf("exported events %v, want %s (those before endAt)", got, want)
		}
		res := e.mustDo("GET", "/fhir/MedicationRequest/"+plan["id"].(string), admin, nil, 200)
		delete(res, "id")
		delete(res, "meta")
		back := e.mustDo("POST", "/fhir/MedicationRequest", admin, res, 201)["id"].(string)
		for _, id := range []string{plan["id"].(string), back} {
			if doses := e.mustDo("GET", "/v1/plans/"+id+"/doses", admin, nil, 200)["doses"].([]any); len(doses) != 2 {
				t.Errorf("plan %s: %d doses, want 2 (13:00Z and 14:30Z)", id, len(doses))
			}
		}
		// Doses start at the whole second of startAt: an event in that
		// second, before startAt's fraction, is one (QA).
		early := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"},
			"timing":     map[string]any{"event": []string{"2026-03-06T13:30:00Z", "2026-03-06T14:00:00"}}, "startAt": "2026-03-06T13:30:00.5Z"}, 201)
		if doses := e.mustDo("GET", "/v1/plans/"+early["id"].(string)+"/doses", admin, nil, 200)["doses"].([]any); len(doses) != 2 {
			t.Fatalf("plan starting at 13:30:00.5: %d doses, want 2 (13:30:00Z and 19:00Z)", len(doses))
		}
		if got := exported(early["id"].(string)); len(got) != 2 {
			t.Errorf("plan starting at 13:30:00.5: exported events %v, want both", got)
		}
		// An end moved earlier later on is followed too.
		e.mustDo("PATCH", "/v1/plans/"+plan["id"].(string), admin, map[string]any{"endAt": "2026-03-06T14:00:00Z"}, 200)
		if got := exported(plan["id"].(string)); fmt.Sprint(got) != fmt.Sprint([]any{events[0]}) {
			t.Errorf("exported events after the end moved to 14:00Z: %v, want %s", got, events[0])
		}
	})
}
