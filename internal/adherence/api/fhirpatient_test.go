package api_test

import (
	"context"
	"fmt"
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

// emptyFHIRElements returns the paths of the elements of a decoded FHIR
// JSON value that are present but empty: FHIR elements can never be empty
// (an empty array, object or string is absent instead).
func emptyFHIRElements(path string, v any) []string {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 {
			return []string{path}
		}
		var out []string
		for k, c := range v {
			out = append(out, emptyFHIRElements(path+"."+k, c)...)
		}
		return out
	case []any:
		if len(v) == 0 {
			return []string{path}
		}
		var out []string
		for i, c := range v {
			out = append(out, emptyFHIRElements(fmt.Sprintf("%s[%d]", path, i), c)...)
		}
		return out
	case string:
		if v == "" {
			return []string{path}
		}
	}
	return nil
}

// TestFHIRSearchWithoutMatchesHasNoEmptyEntry: a searchset Bundle that
// matches nothing has total 0 and no entry element; "entry": [] is not
// valid FHIR JSON (elements are never empty), and validators reject it.
func TestFHIRSearchWithoutMatchesHasNoEmptyEntry(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		empty := e.mustDo("POST", "/v1/patients", w.admin, map[string]any{"givenName": "Nil", "timeZone": "UTC"}, 201)["id"].(string)
		for _, q := range []string{
			"/fhir/MedicationAdministration?patient=" + w.patient,
			"/fhir/MedicationRequest?patient=" + empty,
		} {
			b := e.mustDo("GET", q, w.admin, nil, 200)
			if b["total"] != 0.0 {
				t.Fatalf("%s: total %v, want 0", q, b["total"])
			}
			if bad := emptyFHIRElements("Bundle", b); len(bad) > 0 {
				t.Errorf("%s: empty elements %v", q, bad)
			}
		}
		// Nor is any element of a Bundle with entries empty.
		e.now = time.Date(2026, 3, 9, 4, 0, 0, 0, time.UTC)
		e.mustDo("POST", "/v1/events", w.integration, w.event("taken", "2026-03-06T20:10:00-05:00", "ne1"), 201)
		e.mustDo("POST", "/v1/events", w.integration, w.event("skipped", "2026-03-07T08:00:00-05:00", "ne2"), 201)
		if _, err := e.store.MarkMissed(context.Background(), e.now); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			"/fhir/MedicationAdministration?patient=" + w.patient + "&date=ge2026-03-06&date=lt2026-03-10",
			"/fhir/MedicationRequest?patient=" + w.patient,
		} {
			b := e.mustDo("GET", q, w.admin, nil, 200)
			if b["total"].(float64) < 1 {
				t.Fatalf("%s: total %v", q, b["total"])
			}
			if bad := emptyFHIRElements("Bundle", b); len(bad) > 0 {
				t.Errorf("%s: empty elements %v", q, bad)
			}
		}
	})
}

// TestFHIRSearchAbsolutePatientReference: a reference search parameter may
// be an absolute URL (FHIR search); the server's own
// [base]/Patient/{id} names the same patient as Patient/{id}. It was
// looked up as a patient id and answered 404.
func TestFHIRSearchAbsolutePatientReference(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		e.now = time.Date(2026, 3, 9, 4, 0, 0, 0, time.UTC)
		e.mustDo("POST", "/v1/events", w.integration, w.event("taken", "2026-03-06T20:10:00-05:00", "ab1"), 201)
		abs := "http://example.com/fhir/Patient/" + w.patient
		if b := e.mustDo("GET", "/fhir/MedicationAdministration?date=ge2026-03-06&date=lt2026-03-10&patient="+abs, w.admin, nil, 200); b["total"] != 1.0 {
			t.Errorf("MedicationAdministration?patient=%s: total %v, want 1", abs, b["total"])
		}
		if b := e.mustDo("GET", "/fhir/MedicationRequest?patient="+abs, w.admin, nil, 200); b["total"] != 1.0 {
			t.Errorf("MedicationRequest?patient=%s: total %v, want 1", abs, b["total"])
		}
		// Another server's Patient is not this one's.
		other := "https://elsewhere.example.org/fhir/Patient/" + w.patient
		if r := e.do("GET", "/fhir/MedicationAdministration?patient="+other, w.admin, nil); r.status != 404 {
			t.Errorf("MedicationAdministration?patient=%s = %d, want 404: %s", other, r.status, r.body)
		}
	})
}

// TestFHIRMedicationRequestRepeatedPatient: as for the MedicationAdministration
// export, patient=A&patient=B is not answered with A's plans.
func TestFHIRMedicationRequestRepeatedPatient(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		second := e.mustDo("POST", "/v1/patients", w.admin, map[string]any{"givenName": "Flo", "timeZone": "UTC"}, 201)["id"].(string)
		base := "/fhir/MedicationRequest?patient=Patient/" + w.patient
		if b := e.mustDo("GET", base+"&patient="+w.patient, w.admin, nil, 200); b["total"] != 1.0 {
			t.Errorf("the same patient named twice: total %v, want 1", b["total"])
		}
		for _, other := range []string{second, w.otherPatient} {
			r := e.do("GET", base+"&patient=Patient/"+other, w.admin, nil)
			if r.status != 400 || !strings.Contains(string(r.body), `"field":"patient"`) {
				t.Errorf("MedicationRequest?patient=%s&patient=%s = %d %s, want a 400 naming patient", w.patient, other, r.status, r.body)
			}
		}
	})
}

// TestFHIRImportAbsoluteSubject: a MedicationRequest's subject may be this
// server's absolute [base]/Patient/{id}, the same patient as Patient/{id}
// (FHIR resolves relative references against the base), as the searches
// take it. The import refused it as "must be a reference of the form
// Patient/{id}". Another server's Patient stays refused, and nothing is
// stored for it.
func TestFHIRImportAbsoluteSubject(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		mr := func(subject string) map[string]any {
			return map[string]any{
				"resourceType": "MedicationRequest", "status": "active", "intent": "order",
				"subject": map[string]any{"reference": subject},
				"medicationCodeableConcept": map[string]any{"coding": []any{
					map[string]any{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361", "display": "amlodipine 5 MG"}}},
				"dosageInstruction": []any{map[string]any{"timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}}}},
			}
		}
		before := len(e.mustDo("GET", "/v1/patients/"+w.patient+"/plans", w.admin, nil, 200)["plans"].([]any))
		other := "https://elsewhere.example.org/fhir/Patient/" + w.patient
		if r := e.do("POST", "/fhir/MedicationRequest", w.admin, mr(other)); r.status != 400 || r.json(t)["field"] != "subject.reference" {
			t.Errorf("subject %s = %d %.300s, want 400 naming subject.reference", other, r.status, r.body)
		}
		created := e.mustDo("POST", "/fhir/MedicationRequest", w.admin, mr("http://example.com/fhir/Patient/"+w.patient), 201)
		if got := created["subject"].(map[string]any)["reference"]; got != "Patient/"+w.patient {
			t.Errorf("subject.reference = %v, want Patient/%s", got, w.patient)
		}
		after := len(e.mustDo("GET", "/v1/patients/"+w.patient+"/plans", w.admin, nil, 200)["plans"].([]any))
		if after != before+1 {
			t.Errorf("plans: %d before, %d after; want one more", before, after)
		}
	})
}
