package api_test

import (
	"strings"
	"testing"
	"time"
)

// TestFHIRExportRepeatedPatient: FHIR ANDs repeated search parameters, so
// patient=A&patient=B asks for the doses of a patient who is both A and B.
// The export must not answer it with A's doses alone (the second value was
// silently dropped); naming one patient twice is that patient.
func TestFHIRExportRepeatedPatient(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		second := e.mustDo("POST", "/v1/patients", w.admin, map[string]any{"givenName": "Flo", "timeZone": "UTC"}, 201)["id"].(string)
		e.now = time.Date(2026, 3, 9, 4, 0, 0, 0, time.UTC)
		e.mustDo("POST", "/v1/events", w.integration, w.event("taken", "2026-03-06T20:10:00-05:00", "rp1"), 201)
		base := "/fhir/MedicationAdministration?date=ge2026-03-06&date=lt2026-03-10&patient=Patient/" + w.patient
		if b := e.mustDo("GET", base+"&patient="+w.patient, w.admin, nil, 200); b["total"] != 1.0 {
			t.Errorf("the same patient named twice: total %v, want 1", b["total"])
		}
		for _, other := range []string{second, w.otherPatient} {
			r := e.do("GET", base+"&patient=Patient/"+other, w.admin, nil)
			if r.status == 200 && r.json(t)["total"] != 0.0 {
				t.Errorf("patient=%s&patient=%s answered the first patient's doses: %s", w.patient, other, r.body)
			} else if r.status != 200 && (r.status != 400 || !strings.Contains(string(r.body), `"field":"patient"`)) {
				t.Errorf("patient=%s&patient=%s = %d %s, want an empty Bundle or a 400 naming patient", w.patient, other, r.status, r.body)
			}
		}
	})
}
