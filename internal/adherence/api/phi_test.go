package api_test

import (
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// TestNoPHIInLogsMetricsOrErrors drives the API with known PHI values —
// successful calls and failing ones that carry the values in bodies and
// query strings — and asserts that none of the values appears in the logs,
// the metrics or any error body.
func TestNoPHIInLogsMetricsOrErrors(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("PHI Org")
		phiValues := []string{"Zelda", "Quixote", "1961-07-04", "+15557654321", "zelda.q@example.org"}
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{
			"givenName": "Zelda", "familyName": "Quixote", "birthDate": "1961-07-04",
			"phone": "+15557654321", "email": "zelda.q@example.org", "timeZone": "America/Chicago", "smsConsent": true,
		}, 201)
		id := p["id"].(string)
		if p["givenName"] != "Zelda" || p["phone"] != "+15557654321" {
			t.Fatalf("an admin must see the real values: %v", p)
		}
		e.mustDo("GET", "/v1/patients/"+id, admin, nil, 200)
		e.mustDo("GET", "/v1/patients", admin, nil, 200)
		e.mustDo("POST", "/v1/patients/"+id+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "860975", "display": "metformin 500 MG"},
			"timing":     map[string]any{"repeat": map[string]any{"when": []string{"CM", "CV"}}},
		}, 201)

		var errorBodies []string
		bad := []struct {
			method, path string
			body         any
		}{
			{"PATCH", "/v1/patients/" + id, map[string]any{"phone": "Zelda Quixote +15557654321"}},
			{"PATCH", "/v1/patients/" + id, map[string]any{"email": "zelda.q@example.org@@"}},
			{"PATCH", "/v1/patients/" + id, map[string]any{"birthDate": "1961-07-04T00:00"}},
			{"PATCH", "/v1/patients/" + id, map[string]any{"givenName": 1961}},
			{"PATCH", "/v1/patients/" + id, `{"givenName": "Zelda", "familyName": "Quixote", "zelda.q@example.org": 1}`},
			{"PATCH", "/v1/patients/" + id, `{"givenName": "Zelda" "familyName": "Quixote"}`},
			{"POST", "/v1/patients", map[string]any{"givenName": "Zelda", "phone": "+15557654321", "timeZone": "Mars/Zelda_Quixote"}},
			{"GET", "/v1/patients/no-such-patient?name=Zelda+Quixote&phone=%2B15557654321", nil},
			{"GET", "/v1/nope/Zelda/Quixote", nil},
		}
		for _, b := range bad {
			r := e.do(b.method, b.path, admin, b.body)
			if r.status < 400 {
				t.Errorf("%s %s = %d, want an error", b.method, b.path, r.status)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("%s %s Content-Type = %q, want application/problem+json", b.method, b.path, ct)
			}
			errorBodies = append(errorBodies, string(r.body))
		}
		// A bad bearer token that happens to contain PHI is not echoed either.
		r := e.do("GET", "/v1/patients/"+id, "Zelda-Quixote-+15557654321", nil)
		if r.status != 401 {
			t.Errorf("bad token = %d, want 401", r.status)
		}
		errorBodies = append(errorBodies, string(r.body))

		metrics := e.do("GET", "/metrics", "", nil)
		if metrics.status != 200 || !strings.Contains(string(metrics.body), "http_requests_total") {
			t.Fatalf("GET /metrics = %d", metrics.status)
		}
		logs := e.logs.String()
		if !strings.Contains(logs, "/v1/patients/{id}") {
			t.Fatalf("access log does not show route patterns; logs:\n%s", logs)
		}
		for _, v := range phiValues {
			if strings.Contains(logs, v) {
				t.Errorf("logs contain PHI %q", v)
			}
			if strings.Contains(string(metrics.body), v) {
				t.Errorf("metrics contain PHI %q", v)
			}
			for i, body := range errorBodies {
				if strings.Contains(body, v) {
					t.Errorf("error body %d contains PHI %q: %s", i, v, body)
				}
			}
		}
		if strings.Contains(logs, id) {
			t.Errorf("logs contain the patient id (paths must be logged as route patterns)")
		}
	})
}

// TestFillKeyStaysOutOfTheLog: a fill's fillId is the pharmacy's claim id
// or the Rx number and fill number, an identifier of the patient's
// prescription. When adding a fill fails inside the store (here a trigger
// makes the INSERT record nothing, so reading the fill under that key
// finds none), the 500 is logged with the error's text, which must not
// carry the key.
func TestFillKeyStaysOutOfTheLog(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		drop := []string{`CREATE TRIGGER plan_fills_drop BEFORE INSERT ON plan_fills BEGIN SELECT RAISE(IGNORE); END`}
		if e.db.Dialect == db.Postgres {
			drop = []string{
				`CREATE FUNCTION plan_fills_drop_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$`,
				`CREATE TRIGGER plan_fills_drop BEFORE INSERT ON plan_fills FOR EACH ROW EXECUTE FUNCTION plan_fills_drop_fn()`,
			}
		}
		for _, stmt := range drop {
			if _, err := e.db.SQL.Exec(stmt); err != nil {
				t.Fatal(err)
			}
		}
		const key = "RX7654321-02"
		r := e.do("POST", "/v1/plans/"+w.plan+"/fills", w.admin, map[string]any{"fillDate": "2026-01-01", "daysSupply": 30, "fillId": key})
		if r.status != 500 {
			t.Fatalf("fill = %d %s, want 500", r.status, r.body)
		}
		logs := e.logs.String()
		if !strings.Contains(logs, `"msg":"request failed"`) {
			t.Fatalf("the failure was not logged; logs:\n%s", logs)
		}
		if strings.Contains(logs, key) || strings.Contains(string(r.body), key) {
			t.Errorf("the fill key %s reached the log or the answer; logs:\n%s", key, logs)
		}
	})
}
