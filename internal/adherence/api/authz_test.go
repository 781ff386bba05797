package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/auth"
)

// fixture is the world the authorization matrix runs in: org A with a
// caregiver linked to patient own (and not to patient unlinked), org B with
// its own patient.
type fixture struct {
	keys                             map[string]string // role → token (org A); "anonymous" → ""
	own, unlinked, other             string            // patient ids
	ownPlan, unlinkedPlan, otherPlan string
	clinicianA, otherMember          string // member ids
	otherKeyID                       string
}

func setupFixture(t *testing.T, e *env) fixture {
	t.Helper()
	orgA, adminA := e.org("Org A")
	_, adminB := e.org("Org B")
	var f fixture
	patient := func(admin, name string) string {
		return e.mustDo("POST", "/v1/patients", admin, map[string]any{
			"givenName": name, "familyName": "Test", "birthDate": "1950-02-03", "timeZone": "America/New_York",
		}, 201)["id"].(string)
	}
	plan := func(admin, patientID string) string {
		return e.mustDo("POST", "/v1/patients/"+patientID+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril 10 MG Oral Tablet"},
			"timing":     map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00", "20:00:00"}}},
		}, 201)["id"].(string)
	}
	member := func(admin, kind, name string) string {
		return e.mustDo("POST", "/v1/members", admin, map[string]any{"kind": kind, "name": name}, 201)["id"].(string)
	}
	f.own, f.unlinked, f.other = patient(adminA, "Own"), patient(adminA, "Unlinked"), patient(adminB, "Other")
	f.ownPlan, f.unlinkedPlan, f.otherPlan = plan(adminA, f.own), plan(adminA, f.unlinked), plan(adminB, f.other)
	f.clinicianA = member(adminA, "clinician", "Dr A")
	caregiver := member(adminA, "caregiver", "Carer A")
	f.otherMember = member(adminB, "clinician", "Dr B")
	e.mustDo("PUT", "/v1/patients/"+f.own+"/links/"+caregiver, adminA, map[string]any{"relationship": "daughter"}, 200)
	f.otherKeyID = e.mustDo("POST", "/v1/api-keys", adminB, map[string]any{"role": "integration"}, 201)["id"].(string)
	f.keys = map[string]string{
		"admin":       adminA,
		"clinician":   e.key(orgA, auth.RoleClinician, f.clinicianA),
		"caregiver":   e.key(orgA, auth.RoleCaregiver, caregiver),
		"patient":     e.key(orgA, auth.RolePatient, f.own),
		"integration": e.key(orgA, auth.RoleIntegration, ""),
		"anonymous":   "",
	}
	return f
}

var roles = []string{"admin", "clinician", "caregiver", "patient", "integration", "anonymous"}

// expect lists statuses in the order of roles.
type expect [6]int

// TestAuthorizationMatrix drives every endpoint × role × target (the
// caller's own/linked record, an unlinked record of the same org, a record
// of another org) and checks the status.
func TestAuthorizationMatrix(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := setupFixture(t, e)
		type target struct {
			name          string
			patient, plan string
		}
		targets := []target{{"own", f.own, f.ownPlan}, {"unlinked", f.unlinked, f.unlinkedPlan}, {"other-org", f.other, f.otherPlan}}
		readAll := map[string]expect{ //             admin clin care pat  integ anon
			"own":       {200, 200, 200, 200, 403, 401},
			"unlinked":  {200, 200, 404, 404, 403, 401},
			"other-org": {404, 404, 404, 404, 403, 401},
		}
		staffWrite := func(ok int) map[string]expect {
			return map[string]expect{
				"own":       {ok, ok, 403, 403, 403, 401},
				"unlinked":  {ok, ok, 403, 403, 403, 401},
				"other-org": {404, 404, 403, 403, 403, 401},
			}
		}
		planBody := map[string]any{
			"medication": map[string]any{"rxnorm": "197361", "display": "amlodipine 5 MG Oral Tablet"},
			"timing":     map[string]any{"repeat": map[string]any{"when": []string{"CM"}}},
		}
		cases := []struct {
			method string
			path   func(tg target) string
			body   func(tg target) any
			want   map[string]expect
		}{
			{"GET", func(tg target) string { return "/v1/patients/" + tg.patient }, nil, readAll},
			{"GET", func(tg target) string { return "/v1/patients/" + tg.patient + "/plans" }, nil, readAll},
			{"GET", func(tg target) string { return "/v1/patients/" + tg.patient + "/doses" }, nil, readAll},
			{"GET", func(tg target) string { return "/v1/plans/" + tg.plan }, nil, readAll},
			{"GET", func(tg target) string { return "/v1/plans/" + tg.plan + "?include=doses" }, nil, readAll},
			{"GET", func(tg target) string { return "/v1/plans/" + tg.plan + "/doses" }, nil, readAll},
			{"GET", func(tg target) string { return "/v1/plans/" + tg.plan + "/fills" }, nil, map[string]expect{
				"own":       {200, 200, 403, 200, 403, 401},
				"unlinked":  {200, 200, 404, 404, 403, 401},
				"other-org": {404, 404, 404, 404, 403, 401},
			}},
			{"GET", func(tg target) string { return "/fhir/MedicationRequest?patient=" + tg.patient }, nil, map[string]expect{
				"own":       {200, 200, 403, 200, 403, 401}, // the patient does not share drugs with caregivers
				"unlinked":  {200, 200, 404, 404, 403, 401},
				"other-org": {404, 404, 404, 404, 403, 401},
			}},
			{"GET", func(tg target) string { return "/fhir/MedicationRequest/" + tg.plan }, nil, map[string]expect{
				"own":       {200, 200, 403, 200, 403, 401}, // the patient does not share drugs with caregivers
				"unlinked":  {200, 200, 404, 404, 403, 401},
				"other-org": {404, 404, 404, 404, 403, 401},
			}},
			{"GET", func(tg target) string { return "/v1/patients/" + tg.patient + "/links" }, nil, staffWrite(200)},
			{"PATCH", func(tg target) string { return "/v1/patients/" + tg.patient }, func(target) any { return map[string]any{"language": "es"} }, staffWrite(200)},
			{"POST", func(tg target) string { return "/v1/patients/" + tg.patient + "/plans" }, func(target) any { return planBody }, staffWrite(201)},
			{"PUT", func(tg target) string { return "/v1/patients/" + tg.patient + "/links/" + f.clinicianA }, nil, staffWrite(200)},
			{"PATCH", func(tg target) string { return "/v1/plans/" + tg.plan }, func(target) any { return map[string]any{"instructions": "with water"} }, staffWrite(200)},
			{"POST", func(tg target) string { return "/v1/plans/" + tg.plan + "/fills" }, func(target) any { return map[string]any{"fillDate": "2026-03-01", "daysSupply": 30} }, staffWrite(201)},
			{"POST", func(tg target) string { return "/v1/plans/" + tg.plan + "/pause" }, nil, staffWrite(200)},
			{"POST", func(tg target) string { return "/v1/plans/" + tg.plan + "/resume" }, nil, staffWrite(200)},
			{"POST", func(tg target) string { return "/fhir/MedicationRequest" }, func(tg target) any {
				return map[string]any{"resourceType": "MedicationRequest", "status": "active", "intent": "order",
					"subject":                   map[string]any{"reference": "Patient/" + tg.patient},
					"medicationCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076", "display": "lisinopril"}}},
					"dosageInstruction":         []any{map[string]any{"timing": map[string]any{"repeat": map[string]any{"timeOfDay": []string{"09:00:00"}}}}}}
			}, map[string]expect{
				"own":       {201, 201, 403, 403, 403, 401},
				"unlinked":  {201, 201, 403, 403, 403, 401},
				"other-org": {404, 404, 403, 403, 403, 401}, // another org's patient is not visible
			}},
		}
		// Reports and event ingestion.
		medDetail := map[string]expect{
			"own":       {200, 200, 403, 200, 403, 401}, // the patient does not share drugs with caregivers
			"unlinked":  {200, 200, 404, 404, 403, 401},
			"other-org": {404, 404, 404, 404, 403, 401},
		}
		eventN := 0
		cases = append(cases, []struct {
			method string
			path   func(tg target) string
			body   func(tg target) any
			want   map[string]expect
		}{
			{"GET", func(tg target) string { return "/v1/patients/" + tg.patient + "/events" }, nil, readAll},
			{"GET", func(tg target) string { return "/v1/patients/" + tg.patient + "/adherence" }, nil, readAll},
			{"GET", func(tg target) string { return "/v1/plans/" + tg.plan + "/adherence" }, nil, readAll},
			{"GET", func(tg target) string { return "/v1/patients/" + tg.patient + "/pdc?from=2026-01-01&to=2026-12-31" }, nil, medDetail},
			{"GET", func(tg target) string { return "/fhir/MedicationAdministration?patient=" + tg.patient }, nil, medDetail},
			{"POST", func(tg target) string { return "/v1/events" }, func(tg target) any {
				eventN++
				return map[string]any{"patientId": tg.patient, "planId": tg.plan, "kind": "taken", "source": "app",
					"occurredAt": e.now.Format(time.RFC3339), "clientEventId": fmt.Sprintf("authz-%d", eventN)}
			}, map[string]expect{
				"own":       {201, 201, 201, 201, 201, 401},
				"unlinked":  {201, 201, 404, 404, 201, 401},
				"other-org": {404, 404, 404, 404, 404, 401},
			}},
		}...)
		for _, c := range cases {
			for _, tg := range targets {
				for i, role := range roles {
					path := c.path(tg)
					var body any
					if c.body != nil {
						body = c.body(tg)
					}
					want := c.want[tg.name][i]
					r := e.do(c.method, path, f.keys[role], body)
					if r.status != want {
						t.Errorf("%s %s [%s, %s] = %d, want %d: %s", c.method, routeOf(path, f), role, tg.name, r.status, want, r.body)
					}
				}
			}
		}

		// Endpoints that are not about one patient.
		flat := []struct {
			method, path string
			body         any
			want         expect
		}{
			{"GET", "/v1/me", nil, expect{200, 200, 200, 200, 200, 401}},
			{"GET", "/v1/patients", nil, expect{200, 200, 200, 403, 403, 401}},
			{"POST", "/v1/patients", map[string]any{"givenName": "New", "timeZone": "Europe/London"}, expect{201, 201, 403, 403, 403, 401}},
			{"GET", "/v1/members", nil, expect{200, 200, 403, 403, 403, 401}},
			{"GET", "/v1/members/" + f.clinicianA, nil, expect{200, 200, 403, 403, 403, 401}},
			{"GET", "/v1/members/" + f.otherMember, nil, expect{404, 404, 403, 403, 403, 401}},
			{"POST", "/v1/members", map[string]any{"kind": "caregiver", "name": "Someone"}, expect{201, 403, 403, 403, 403, 401}},
			{"GET", "/v1/api-keys", nil, expect{200, 403, 403, 403, 403, 401}},
			{"POST", "/v1/api-keys", map[string]any{"role": "integration", "name": "gateway"}, expect{201, 403, 403, 403, 403, 401}},
			{"DELETE", "/v1/api-keys/" + f.otherKeyID, nil, expect{404, 403, 403, 403, 403, 401}},
			{"GET", "/v1/audit", nil, expect{200, 403, 403, 403, 403, 401}},
			{"PUT", "/v1/patients/" + f.own + "/links/" + f.otherMember, nil, expect{404, 404, 403, 403, 403, 401}},
			{"GET", "/v1/reports/adherence", nil, expect{200, 200, 403, 403, 403, 401}},
			{"GET", "/v1/settings/windows", nil, expect{200, 200, 403, 403, 403, 401}},
			{"PUT", "/v1/settings/windows", map[string]any{"onTimeMinutes": 60, "lateMaxMinutes": 180, "openDedupeMinutes": 15}, expect{200, 403, 403, 403, 403, 401}},
			{"GET", "/v1/outbox", nil, expect{200, 403, 403, 403, 403, 401}},
			// A batch answers 200 to anyone authenticated; each item has its own status.
			{"POST", "/v1/events:batch", map[string]any{"events": []any{map[string]any{"patientId": f.own, "planId": f.ownPlan, "kind": "taken",
				"source": "app", "occurredAt": e.now.Format(time.RFC3339), "clientEventId": "authz-batch"}}}, expect{200, 200, 200, 200, 200, 401}},
		}
		for _, c := range flat {
			for i, role := range roles {
				r := e.do(c.method, c.path, f.keys[role], c.body)
				if r.status != c.want[i] {
					t.Errorf("%s %s [%s] = %d, want %d: %s", c.method, routeOf(c.path, f), role, r.status, c.want[i], r.body)
				}
			}
		}
	})
}

// routeOf replaces fixture ids with names so failures read well.
func routeOf(path string, f fixture) string {
	r := strings.NewReplacer(f.own, "{own}", f.unlinked, "{unlinked}", f.other, "{other}",
		f.ownPlan, "{ownPlan}", f.unlinkedPlan, "{unlinkedPlan}", f.otherPlan, "{otherPlan}",
		f.clinicianA, "{clinicianA}", f.otherMember, "{otherMember}", f.otherKeyID, "{otherKey}")
	return fmt.Sprint(r.Replace(path))
}
