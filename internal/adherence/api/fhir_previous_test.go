package api_test

import (
	"net/url"
	"testing"
)

// TestFHIRPreviousFromPastTheEnd: a searchset page past the last match
// links previous to the last page that holds matches. It linked _offset
// minus _count, itself past the end, so a client stepping back from
// _offset=100 of 3 matches walked through empty pages.
func TestFHIRPreviousFromPastTheEnd(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		for _, rx := range []string{"197361", "617310"} {
			e.mustDo("POST", "/v1/patients/"+w.patient+"/plans", w.admin, map[string]any{
				"medication": map[string]any{"rxnorm": rx, "display": "drug " + rx},
				"timing":     map[string]any{"repeat": map[string]any{"timeOfDay": []string{"09:00:00"}}}}, 201)
		}
		b := e.mustDo("GET", "/fhir/MedicationRequest?patient="+w.patient+"&_count=2&_offset=100", w.admin, nil, 200)
		if b["total"] != 3.0 || len(asSlice(b["entry"])) != 0 {
			t.Fatalf("page past the end: total %v, %d entries", b["total"], len(asSlice(b["entry"])))
		}
		var prev string
		for _, l := range asSlice(b["link"]) {
			if l := l.(map[string]any); l["relation"] == "previous" {
				prev = l["url"].(string)
			}
		}
		u, err := url.Parse(prev)
		if err != nil || u.Query().Get("_offset") != "1" {
			t.Fatalf("previous link %q, want _offset=1 (the last 2 of 3 matches)", prev)
		}
		if n := len(asSlice(e.mustDo("GET", u.RequestURI(), w.admin, nil, 200)["entry"])); n != 2 {
			t.Errorf("the previous page holds %d entries, want 2", n)
		}
	})
}
