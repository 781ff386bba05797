package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/httpx"
)

// TestReportInstantOutsideYearRange: an offset can carry a valid RFC 3339
// timestamp out of the years 1 to 9999 in UTC, which the answer cannot
// state in JSON; it is a 400 naming the parameter, not a 500.
func TestReportInstantOutsideYearRange(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		for _, c := range []struct{ path, field string }{
			{"/v1/patients/" + w.patient + "/adherence?from=9999-12-01T00:00:00Z&to=9999-12-31T23:00:00-05:00", "to"},
			{"/v1/plans/" + w.plan + "/adherence?from=9999-12-01T00:00:00Z&to=9999-12-31T23:00:00-05:00", "to"},
			{"/v1/reports/adherence?from=9999-12-01T00:00:00Z&to=9999-12-31T23:00:00-05:00", "to"},
			{"/v1/patients/" + w.patient + "/adherence?from=0001-01-01T00:30:00%2B01:00&to=0001-01-05T00:00:00Z", "from"},
			{"/v1/patients/" + w.patient + "/events?from=0001-01-01T00:30:00%2B01:00&to=0001-01-05T00:00:00Z", "from"},
		} {
			r := e.do("GET", c.path, w.admin, nil)
			var p httpx.Problem
			if r.status != 400 || json.Unmarshal(r.body, &p) != nil || p.Field != c.field {
				t.Errorf("GET %s = %d %s, want 400 naming %s", c.path, r.status, r.body, c.field)
			}
		}
		// The extremes themselves are fine.
		e.mustDo("GET", "/v1/patients/"+w.patient+"/adherence?from=9999-12-01T00:00:00Z&to=9999-12-31T23:59:59Z", w.admin, nil, 200)
		e.mustDo("GET", "/v1/patients/"+w.patient+"/adherence?from=0001-01-01T00:00:00Z&to=0001-01-05T00:00:00Z", w.admin, nil, 200)
	})
}

// TestSetWindowsHugeMinutes: a number of minutes too large for a duration
// is refused naming its field; it wrapped around to a value in range
// (2^53 + 30 minutes is 30 minutes once multiplied) and was stored.
func TestSetWindowsHugeMinutes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Windows Org")
		const wraps = 9007199254741022 // 2^53 + 30
		for _, c := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"onTimeMinutes": wraps, "lateMaxMinutes": 120, "openDedupeMinutes": 10}, "onTimeMinutes"},
			{map[string]any{"onTimeMinutes": 30, "lateMaxMinutes": wraps + 60, "openDedupeMinutes": 10}, "lateMaxMinutes"},
			{map[string]any{"onTimeMinutes": 30, "lateMaxMinutes": 120, "openDedupeMinutes": -wraps}, "openDedupeMinutes"},
		} {
			r := e.do("PUT", "/v1/settings/windows", admin, c.body)
			var p httpx.Problem
			if r.status != 400 || json.Unmarshal(r.body, &p) != nil || p.Field != c.field {
				t.Errorf("PUT windows %v = %d %s, want 400 naming %s", c.body, r.status, r.body, c.field)
			}
		}
		if got := e.mustDo("GET", "/v1/settings/windows", admin, nil, 200); got["onTimeMinutes"] != 60.0 || got["lateMaxMinutes"] != 180.0 {
			t.Errorf("windows after refused updates = %v, want the defaults", got)
		}
	})
}

// TestReportBoundsFinerThanMicroseconds: instants are stored to the
// microsecond, and a bound finer than that still bounds [from, to): a dose
// due at 13:00:00 is before to=13:00:00.0000001 and before
// from=13:00:00.0000001. Truncating the bounds counted it in the wrong
// window.
func TestReportBoundsFinerThanMicroseconds(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e) // a dose is due 2026-03-07T13:00:00Z (08:00 EST)
		e.now = time.Date(2026, 3, 7, 20, 0, 0, 0, time.UTC)
		for q, want := range map[string]float64{
			"from=2026-03-07T12:00:00Z&to=2026-03-07T13:00:00Z":                   0,
			"from=2026-03-07T12:00:00Z&to=2026-03-07T13:00:00.0000001Z":           1,
			"from=2026-03-07T13:00:00Z&to=2026-03-07T14:00:00Z":                   1,
			"from=2026-03-07T13:00:00.0000001Z&to=2026-03-07T14:00:00Z":           0,
			"from=2026-03-07T12:59:59.9999999Z&to=2026-03-07T13:00:00Z":           0,
			"from=2026-03-07T12:59:59.9999999Z&to=2026-03-07T13:00:00.000000001Z": 1,
		} {
			rep := e.mustDo("GET", "/v1/plans/"+w.plan+"/adherence?"+q, w.admin, nil, 200)
			if got := rep["total"].(map[string]any)["scheduled"]; got != want {
				t.Errorf("%s: scheduled = %v, want %v", q, got, want)
			}
			doses := e.mustDo("GET", "/v1/plans/"+w.plan+"/doses?"+q, w.admin, nil, 200)["doses"].([]any)
			if float64(len(doses)) != want {
				t.Errorf("%s: %d doses listed, want %v", q, len(doses), want)
			}
		}
		// Events (an orphan taking at 06:30:00) are bounded alike.
		e.mustDo("POST", "/v1/events", w.integration, w.event("taken", "2026-03-07T06:30:00Z", "orphan"), 201)
		for q, want := range map[string]float64{
			"from=2026-03-07T06:00:00Z&to=2026-03-07T06:30:00.0000001Z": 1,
			"from=2026-03-07T06:30:00.0000001Z&to=2026-03-07T07:00:00Z": 0,
		} {
			rep := e.mustDo("GET", "/v1/patients/"+w.patient+"/adherence?"+q, w.admin, nil, 200)
			if got := rep["total"].(map[string]any)["orphanEvents"]; got != want {
				t.Errorf("%s: orphanEvents = %v, want %v", q, got, want)
			}
			events := e.mustDo("GET", "/v1/patients/"+w.patient+"/events?"+q, w.admin, nil, 200)["events"].([]any)
			if float64(len(events)) != want {
				t.Errorf("%s: %d events listed, want %v", q, len(events), want)
			}
		}
	})
}

// TestReportWindowTooLongNamesFrom: with only from given, to is now, and
// a from too far back is the parameter at fault; the 400 named to, which
// the caller had not sent.
func TestReportWindowTooLongNamesFrom(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		for _, path := range []string{
			"/v1/patients/" + w.patient + "/adherence?from=2020-01-01T00:00:00Z",
			"/v1/plans/" + w.plan + "/adherence?from=2020-01-01T00:00:00Z",
			"/v1/reports/adherence?from=2020-01-01T00:00:00Z",
			"/v1/patients/" + w.patient + "/events?from=2025-01-01T00:00:00Z",
		} {
			r := e.do("GET", path, w.admin, nil)
			var p httpx.Problem
			if r.status != 400 || json.Unmarshal(r.body, &p) != nil || p.Field != "from" {
				t.Errorf("GET %s = %d %s, want 400 naming from", path, r.status, r.body)
			}
		}
		// Both given: to is the one that reaches too far.
		r := e.do("GET", "/v1/patients/"+w.patient+"/adherence?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", w.admin, nil)
		var p httpx.Problem
		if r.status != 400 || json.Unmarshal(r.body, &p) != nil || p.Field != "to" {
			t.Errorf("both given: %d %s, want 400 naming to", r.status, r.body)
		}
	})
}

// TestReportFromYearOneIsGiven sends from=0001-01-01T00:00:00Z, Go's zero
// time: it is a bound the caller gave (and a window far too long), not a
// missing one replaced by the 30-day default.
func TestReportFromYearOneIsGiven(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		r := e.do("GET", "/v1/patients/"+w.patient+"/adherence?from=0001-01-01T00:00:00Z", w.admin, nil)
		var p httpx.Problem
		if r.status != 400 || json.Unmarshal(r.body, &p) != nil || p.Field != "from" {
			t.Errorf("from=0001-01-01T00:00:00Z = %d %s, want 400 naming from (the window is too long)", r.status, r.body)
		}
	})
}

// TestDefaultedWindowStartStaysInYearOne: with only an end early in the
// year 1, the defaulted start (30 days before) is 0001-01-01T00:00:00Z; it
// was in the year 0, which the report stated as "0000-12-03T00:00:00Z" and
// the FHIR self link as date=ge0000-12-03…, neither a valid instant.
func TestDefaultedWindowStartStaysInYearOne(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		got := e.mustDo("GET", "/v1/patients/"+w.patient+"/adherence?to=0001-01-02T00:00:00Z", w.admin, nil, 200)
		if got["from"] != "0001-01-01T00:00:00Z" {
			t.Errorf("from = %v, want 0001-01-01T00:00:00Z", got["from"])
		}
		b := e.mustDo("GET", "/fhir/MedicationAdministration?patient="+w.patient+"&date=lt0001-01-02", w.admin, nil, 200)
		var self string
		for _, l := range asSlice(b["link"]) {
			if l := l.(map[string]any); l["relation"] == "self" {
				self = l["url"].(string)
			}
		}
		if !strings.Contains(self, "date=ge0001-01-01T00%3A00%3A00Z") {
			t.Errorf("self link %s, want date=ge0001-01-01T00:00:00Z", self)
		}
	})
}

// TestSelfLinkAtTheEndOfYear9999: a search that reaches the end of the
// year 9999 (date=eq9999) links to itself with a bound that can be
// written, and following the link answers the same search; the link said
// date=lt10000-01-01T00:00:00Z, which the server refuses.
func TestSelfLinkAtTheEndOfYear9999(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		for _, date := range []string{"eq9999", "ge9999-12-01&date=le9999-12-31T23:59:59Z"} {
			b := e.mustDo("GET", "/fhir/MedicationAdministration?patient="+w.patient+"&date="+date, w.admin, nil, 200)
			var self string
			for _, l := range asSlice(b["link"]) {
				if l := l.(map[string]any); l["relation"] == "self" {
					self = l["url"].(string)
				}
			}
			i := strings.Index(self, "/fhir/")
			if i < 0 {
				t.Fatalf("date=%s: no self link in %v", date, b["link"])
			}
			if strings.Contains(self, "10000") {
				t.Errorf("date=%s: self link %s names the year 10000", date, self)
			}
			again := e.do("GET", self[i:], w.admin, nil)
			if again.status != 200 || again.json(t)["total"] != b["total"] {
				t.Errorf("date=%s: following the self link %s = %d %.300s, want 200 with total %v", date, self, again.status, again.body, b["total"])
			}
		}
	})
}

// TestRepeatedParameterRefused: a /v1 query parameter given twice is a 400
// naming it; the report used the first from and ignored the second.
func TestRepeatedParameterRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		r := e.do("GET", "/v1/patients/"+w.patient+"/adherence?from=2026-03-01T00:00:00Z&from=2026-03-05T00:00:00Z", w.admin, nil)
		if r.status != 400 || r.json(t)["field"] != "from" {
			t.Errorf("from given twice: %d %.300s, want 400 naming from", r.status, r.body)
		}
	})
}

// TestWindowParamsAreStrictRFC3339: a from or to that time.Parse takes but
// RFC 3339 does not (an offset of 24 hours or more, a comma before the
// fraction, a one-digit hour) is a 400 naming it, in the dose-level
// reports and the event list; +24:00 moved the window a whole day.
func TestWindowParamsAreStrictRFC3339(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		for _, c := range []struct{ query, field string }{
			{"from=2026-03-07T00:00:00%2B24:00&to=2026-03-07T00:00:00Z", "from"},
			{"from=2026-03-01T00:00:00Z&to=2026-03-07T00:00:00-23:60", "to"},
			{"from=2026-03-01T00:00:00,5Z&to=2026-03-07T00:00:00Z", "from"},
			{"from=2026-03-01T0:00:00Z&to=2026-03-07T00:00:00Z", "from"},
		} {
			for _, path := range []string{"/v1/patients/" + w.patient + "/adherence", "/v1/plans/" + w.plan + "/adherence",
				"/v1/reports/adherence", "/v1/patients/" + w.patient + "/events"} {
				r := e.do("GET", path+"?"+c.query, w.admin, nil)
				var p httpx.Problem
				if r.status != 400 || json.Unmarshal(r.body, &p) != nil || p.Field != c.field {
					t.Errorf("GET %s?%s = %d %s, want 400 naming %s", path, c.query, r.status, r.body, c.field)
				}
			}
		}
		e.mustDo("GET", "/v1/patients/"+w.patient+"/adherence?from=2026-03-01T00:00:00.5%2B13:45&to=2026-03-07T00:00:00-09:30", w.admin, nil, 200)
	})
}

// TestDoseListFromYearOneIsGiven: the dose lists take from=0001-01-01T00:00:00Z
// (Go's zero time) as given, as the reports and the event list do; it was
// taken for a missing from, so the list answered the next 14 days instead
// of the window asked for, and with a to in the year 1 refused a valid
// window as "to must be after from".
func TestDoseListFromYearOneIsGiven(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		for _, path := range []string{"/v1/patients/" + w.patient + "/doses", "/v1/plans/" + w.plan + "/doses"} {
			for _, q := range []string{"?from=0001-01-01T00:00:00Z", "?from=0001-01-01T00:00:00Z&to=0001-01-02T00:00:00Z"} {
				r := e.do("GET", path+q, w.admin, nil)
				if r.status != 200 {
					t.Errorf("GET %s%s = %d %s, want 200", path, q, r.status, r.body)
					continue
				}
				if doses := r.json(t)["doses"].([]any); len(doses) != 0 {
					t.Errorf("GET %s%s = %d doses, want none (the window is in the year 1)", path, q, len(doses))
				}
			}
		}
		// A window ending at the zero time holds nothing: from before it.
		r := e.do("GET", "/v1/patients/"+w.patient+"/doses?from=2026-03-06T00:00:00Z&to=0001-01-01T00:00:00Z", w.admin, nil)
		if r.status != 400 || !strings.Contains(string(r.body), `"field":"to"`) {
			t.Errorf("to=0001-01-01T00:00:00Z after from = %d %s, want 400 naming to", r.status, r.body)
		}
	})
}

// TestAuditListToYearOneIsGiven: GET /v1/audit takes to=0001-01-01T00:00:00Z
// (Go's zero time) as given, as the event and dose lists do: nothing is
// before it, so the list is empty, and after a later from it is a 400
// naming to. It was taken for a missing to, and answered the records of
// all time.
func TestAuditListToYearOneIsGiven(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		all := e.mustDo("GET", "/v1/audit", w.admin, nil, 200)
		if len(all["records"].([]any)) == 0 {
			t.Fatal("no audit records to list")
		}
		got := e.mustDo("GET", "/v1/audit?to=0001-01-01T00:00:00Z", w.admin, nil, 200)
		if n := len(got["records"].([]any)); n != 0 {
			t.Errorf("to=0001-01-01T00:00:00Z listed %d records, want none", n)
		}
		got = e.mustDo("GET", "/v1/audit?from=0001-01-01T00:00:00Z&to=0001-01-02T00:00:00Z", w.admin, nil, 200)
		if n := len(got["records"].([]any)); n != 0 {
			t.Errorf("a window in the year 1 listed %d records, want none", n)
		}
		r := e.do("GET", "/v1/audit?from=2026-03-01T00:00:00Z&to=0001-01-01T00:00:00Z", w.admin, nil)
		if r.status != 400 || !strings.Contains(string(r.body), `"field":"to"`) {
			t.Errorf("to=0001-01-01T00:00:00Z after from = %d %s, want 400 naming to", r.status, r.body)
		}
	})
}

// TestDoseListOnlyToSaysFromIsNow: a dose list with only to given takes
// from as now, and an error about the window says so. A to in the past
// (the doses of last week) was refused with "must be after from", naming
// a from the client never sent.
func TestDoseListOnlyToSaysFromIsNow(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		past := e.now.Add(-24 * time.Hour).Format(time.RFC3339)
		far := e.now.Add(100 * 24 * time.Hour).Format(time.RFC3339)
		for _, path := range []string{"/v1/patients/" + w.patient + "/doses", "/v1/plans/" + w.plan + "/doses", "/v1/plans/" + w.plan + "?include=doses&"} {
			sep := "?"
			if strings.HasSuffix(path, "&") {
				sep = ""
			}
			for _, to := range []string{past, far} {
				r := e.do("GET", path+sep+"to="+to, w.admin, nil)
				if r.status != 400 || r.json(t)["field"] != "to" || !strings.Contains(r.json(t)["detail"].(string), "from default: now") {
					t.Errorf("GET %s%sto=%s = %d %s, want 400 naming to and saying from is now", path, sep, to, r.status, r.body)
				}
			}
		}
		// With from given the message stays as it was.
		r := e.do("GET", "/v1/patients/"+w.patient+"/doses?from="+e.now.Format(time.RFC3339)+"&to="+past, w.admin, nil)
		if r.status != 400 || r.json(t)["detail"] != "must be after from" {
			t.Errorf("to before a given from = %d %s, want 400 \"must be after from\"", r.status, r.body)
		}
	})
}
