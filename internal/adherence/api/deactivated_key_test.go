package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// TestDeactivatedPatientKeyRefused: a deactivated patient's own API key is
// refused with a 403 saying so, at once although keys are remembered for
// an hour, and works again once the patient is reactivated. It kept
// reading the record and recording events after the patient had left the
// program.
func TestDeactivatedPatientKeyRefused(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		e := newEnvKeyCache(t, d, time.Hour)
		org, admin := e.org("Deactivation Org")
		pat := e.mustDo("POST", "/v1/patients", admin, `{"givenName":"Ana","familyName":"Diaz","timeZone":"UTC"}`, 201)
		id := pat["id"].(string)
		own := e.key(org, auth.RolePatient, id)
		e.mustDo("GET", "/v1/patients/"+id, own, nil, 200) // remembered from here on

		e.mustDo("POST", "/v1/patients/"+id+"/deactivate", admin, nil, 200)
		for _, req := range []struct{ method, path, body string }{
			{"GET", "/v1/patients/" + id, ""},
			{"POST", "/v1/events", `{"patientId":"` + id + `","kind":"opened","source":"app","clientEventId":"c1","occurredAt":"2026-03-06T14:00:00Z"}`},
		} {
			var body any
			if req.body != "" {
				body = req.body
			}
			r := e.do(req.method, req.path, own, body)
			if r.status != 403 || !strings.Contains(string(r.body), "deactivated") {
				t.Errorf("%s %s with a deactivated patient's key = %d %s, want 403 saying the patient is deactivated", req.method, req.path, r.status, r.body)
			}
		}
		// Staff still reach the record.
		e.mustDo("GET", "/v1/patients/"+id, admin, nil, 200)

		e.mustDo("POST", "/v1/patients/"+id+"/reactivate", admin, nil, 200)
		e.mustDo("GET", "/v1/patients/"+id, own, nil, 200)
	})
}
