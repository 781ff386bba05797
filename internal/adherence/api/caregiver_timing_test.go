package api_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCaregiverDoesNotSeeUnsharedTimingExtensions: the element ids and
// extensions of a plan's timing (on the timing, its repeat and its
// boundsPeriod) are kept as given, never read: free text that may name
// the drug ("warfarin 5 mg at bedtime"), as the timing's code may. A
// caregiver of a patient who does not share medication details saw them
// in the plan list and in a plan read, though the code was left out; the
// caregiver now sees the schedule without them, while staff, the patient,
// and the caregiver once the patient shares, see them as stored.
func TestCaregiverDoesNotSeeUnsharedTimingExtensions(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		const secret = "warfarin"
		ext := func(text string) []any {
			return []any{map[string]any{"url": "http://example.org/fhir/StructureDefinition/note", "valueString": text}}
		}
		plan := e.mustDo("POST", "/v1/patients/"+f.own+"/plans", f.keys["admin"], map[string]any{
			"medication": map[string]any{"rxnorm": "855332", "display": "warfarin"},
			"timing": map[string]any{"id": "warfarin-timing", "extension": ext("warfarin 5 mg at bedtime"),
				"repeat": map[string]any{"id": "warfarin-repeat", "extension": ext("warfarin: never double up"),
					"timeOfDay":    []string{"21:00:00"},
					"boundsPeriod": map[string]any{"id": "warfarin-course", "extension": ext("warfarin course"), "start": "2026-03-06"}}},
		}, 201)["id"].(string)
		paths := []string{"/v1/patients/" + f.own + "/plans", "/v1/plans/" + plan, "/v1/plans/" + plan + "?include=doses"}
		check := func(role string, wantShown bool) {
			t.Helper()
			for _, p := range paths {
				body := e.mustDo("GET", p, f.keys[role], nil, 200)
				b, err := json.Marshal(body)
				if err != nil {
					t.Fatal(err)
				}
				// The drug is named only in the ids and extensions (and,
				// for those who may see it, the medication).
				if got := strings.Count(string(b), secret); (got > 0) != wantShown || (wantShown && got < 7) {
					t.Errorf("GET %s by %s: the drug named %d times, want shown = %t (7 times and more): %s", p, role, got, wantShown, b)
				}
				if !strings.Contains(string(b), "21:00:00") || !strings.Contains(string(b), `"start":"2026-03-06"`) {
					t.Errorf("GET %s by %s: the schedule itself is missing: %s", p, role, b)
				}
			}
		}
		check("caregiver", false)
		check("clinician", true) // the stored timing kept them
		check("patient", true)
		e.mustDo("PATCH", "/v1/patients/"+f.own, f.keys["admin"], map[string]any{"shareMedicationWithCaregivers": true}, 200)
		check("caregiver", true)
	})
}
