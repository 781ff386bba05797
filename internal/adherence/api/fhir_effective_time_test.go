package api_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestFHIRAdministrationEffectiveTimeSearch checks that the R4 name of the
// MedicationAdministration date search parameter, effective-time (the one
// US Core clients send), bounds the export as date does: it was an unknown
// parameter, ignored, so such a search silently answered the default
// window (the last 30 days) instead of the range asked for.
func TestFHIRAdministrationEffectiveTimeSearch(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		e.now = time.Date(2026, 3, 9, 4, 0, 0, 0, time.UTC)
		for _, ev := range []map[string]any{
			w.event("taken", "2026-03-06T20:20:00-05:00", "t1"),   // due 03-07 01:00Z
			w.event("taken", "2026-03-07T08:10:00-05:00", "t2"),   // due 03-07 13:00Z
			w.event("skipped", "2026-03-07T20:00:00-05:00", "t3"), // due 03-08 01:00Z
		} {
			e.mustDo("POST", "/v1/events", w.integration, ev, 201)
		}
		if _, err := e.store.MarkMissed(context.Background(), e.now); err != nil {
			t.Fatal(err)
		}
		base := "/fhir/MedicationAdministration?patient=" + w.patient
		for _, c := range []struct {
			query, self string
			total       float64
		}{
			// The UTC day of March 7th: the two doses due then.
			{"&effective-time=ge2026-03-07&effective-time=lt2026-03-08", "date=ge2026-03-07T00:00:00Z&date=lt2026-03-08T00:00:00Z", 2},
			{"&effective-time=2026-03-07", "date=ge2026-03-07T00:00:00Z&date=lt2026-03-08T00:00:00Z", 2},
			// With date, every bound applies.
			{"&date=ge2026-03-07&effective-time=lt2026-03-07T12:00:00Z", "date=ge2026-03-07T00:00:00Z&date=lt2026-03-07T12:00:00Z", 1},
		} {
			b := e.mustDo("GET", base+c.query, w.admin, nil, 200)
			self := ""
			for _, l := range asSlice(b["link"]) {
				if l := l.(map[string]any); l["relation"] == "self" {
					self = l["url"].(string)
				}
			}
			u, err := url.Parse(self)
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := url.ParseQuery(c.self); b["total"] != c.total || strings.Join(u.Query()["date"], "&") != strings.Join(want["date"], "&") {
				t.Errorf("%s: total %v, self %s; want total %v over %s", c.query, b["total"], self, c.total, c.self)
			}
		}
		r := e.do("GET", base+"&effective-time=xx2026", w.admin, nil)
		if r.status != 400 || !strings.Contains(string(r.body), `"field":"effective-time"`) {
			t.Errorf("effective-time=xx2026 = %d %s, want 400 naming effective-time", r.status, r.body)
		}
	})
}

// TestFHIRAdministrationSearchesTheEffectiveTime: the date range bounds
// each entry's effectiveDateTime, when the dose was taken (else its due
// time), as R4's effective-time does. Searched by the due time, a dose due
// before the range and taken in it was left out, and one due in the range
// but taken after it came back dated outside the range asked for (QA).
func TestFHIRAdministrationSearchesTheEffectiveTime(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		e.now = time.Date(2026, 3, 9, 4, 0, 0, 0, time.UTC)
		for _, ev := range []map[string]any{
			w.event("taken", "2026-03-07T08:40:00-05:00", "t1"), // due 03-07 13:00Z, taken 13:40Z
			w.event("taken", "2026-03-07T19:40:00-05:00", "t2"), // due 03-08 01:00Z, taken 00:40Z
		} {
			e.mustDo("POST", "/v1/events", w.integration, ev, 201)
		}
		base := "/fhir/MedicationAdministration?patient=" + w.patient
		for _, c := range []struct {
			query string
			want  []string // effectiveDateTime of the entries
		}{
			{"&date=ge2026-03-07T13:30:00Z&date=lt2026-03-08T01:00:00Z", []string{"2026-03-07T13:40:00Z", "2026-03-08T00:40:00Z"}},
			{"&effective-time=ge2026-03-07T12:00:00Z&effective-time=lt2026-03-07T13:30:00Z", nil},
			{"&date=2026-03-08", []string{"2026-03-08T00:40:00Z"}},
		} {
			b := e.mustDo("GET", base+c.query, w.admin, nil, 200)
			var got []string
			for _, en := range asSlice(b["entry"]) {
				got = append(got, en.(map[string]any)["resource"].(map[string]any)["effectiveDateTime"].(string))
			}
			if strings.Join(got, " ") != strings.Join(c.want, " ") || b["total"] != float64(len(c.want)) {
				t.Errorf("%s: total %v, effective %v; want %v", c.query, b["total"], got, c.want)
			}
		}
	})
}

// TestFHIRAdministrationLimitCountsTheMatches: the 10,000-entry limit
// counts the entries of the range, not the doses read around it to find
// them (due up to 48 h either side): a range of 9,990 matches beside
// thousands of doses outside it is answered, a range of more is a 413.
func TestFHIRAdministrationLimitCountsTheMatches(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		var orgID string
		if err := e.db.SQL.QueryRow(`SELECT org_id FROM plans WHERE id = $1`, w.plan).Scan(&orgID); err != nil {
			t.Fatal(err)
		}
		// 12,000 missed doses a minute apart from 2026-01-01 00:00Z
		// (before the plan's own), effective at their due time.
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		const n, batch = 12000, 500
		for b := 0; b < n; b += batch {
			var vals []string
			var args []any
			for i := b; i < b+batch; i++ {
				due := start.Add(time.Duration(i) * time.Minute)
				k := len(args)
				vals = append(vals, fmt.Sprintf("($%d, $%d, $%d, $%d, $%d, $%d, 'missed', $%d)", k+1, k+2, k+3, k+4, k+5, k+6, k+7))
				args = append(args, orgID, w.patient, w.plan, -1-i, due, due.Format("2006-01-02T15:04"), due)
			}
			if _, err := e.db.SQL.Exec(`INSERT INTO dose_instances (org_id, patient_id, plan_id, seq, due_at, local_time, status, created_at) VALUES `+
				strings.Join(vals, ", "), args...); err != nil {
				t.Fatal(err)
			}
		}
		e.now = time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC)
		base := "/fhir/MedicationAdministration?patient=" + w.patient + "&_count=0"
		// Minutes 1,000 to 10,989: 9,990 matches, with 1,000 doses before
		// and 1,010 after inside the 48 h read around the range.
		in := base + "&date=ge" + start.Add(1000*time.Minute).Format(time.RFC3339) + "&date=lt" + start.Add(10990*time.Minute).Format(time.RFC3339)
		if b := e.mustDo("GET", in, w.admin, nil, 200); b["total"] != 9990.0 {
			t.Errorf("total = %v, want 9990", b["total"])
		}
		all := base + "&date=ge" + start.Format(time.RFC3339) + "&date=lt" + start.Add(n*time.Minute).Format(time.RFC3339)
		if r := e.do("GET", all, w.admin, nil); r.status != 413 {
			t.Errorf("12,000 matches = %d %.200s, want 413", r.status, r.body)
		}
	})
}
