package api_test

import (
	"testing"

	"github.com/medplatform/medplatform/internal/adherence/api"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// With PUBLIC_URL set, FHIR fullUrls and this server's absolute
// references are under it, whatever Host a request names: a client that
// reached the API by another name, or forged the Host header, gets the
// product's own addresses back, and an import or search naming a patient
// by its absolute URL under PUBLIC_URL (a proxy path prefix included) is
// understood.
func TestFHIRBaseIsPublicURL(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		e := newEnvDeps(t, d, 0, func(deps *api.Deps) {
			deps.PublicURL = "https://adherence.example.org/api/"
		})
		const base = "https://adherence.example.org/api/fhir/"
		_, admin := e.org("Public URL Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "P", "timeZone": "UTC"}, 201)["id"].(string)
		mr := `{"resourceType":"MedicationRequest","status":"active","intent":"order",
			"subject":{"reference":"` + base + `Patient/` + pid + `"},
			"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"314076","display":"lisinopril 10 MG Oral Tablet"}]},
			"dosageInstruction":[{"timing":{"repeat":{"timeOfDay":["08:00"]}}}]}`
		r := e.do("POST", "http://attacker.example/fhir/MedicationRequest", admin, mr)
		if r.status != 201 {
			t.Fatalf("import naming the patient by its absolute URL = %d: %s", r.status, r.body)
		}
		planID := r.json(t)["id"].(string)

		b := e.mustDo("GET", "http://attacker.example/fhir/MedicationRequest?patient="+base+"Patient/"+pid, admin, nil, 200)
		if b["total"].(float64) != 1 {
			t.Fatalf("search by the patient's absolute URL: %v", b)
		}
		if full := b["entry"].([]any)[0].(map[string]any)["fullUrl"]; full != base+"MedicationRequest/"+planID {
			t.Errorf("fullUrl = %v, want %s", full, base+"MedicationRequest/"+planID)
		}
	})
}
