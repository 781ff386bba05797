package api_test

import (
	"testing"
)

// TestPatchPhoneRemovedWithSMSConsent: smsConsent requires a phone (docs/api.md,
// Patient). A PATCH that removes the phone of a patient who consented to
// SMS is a 400 naming phone, unless it withdraws the consent with it; the
// stored record never holds consent without a number.
func TestPatchPhoneRemovedWithSMSConsent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Consent Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York",
			"phone": "+15551230001", "smsConsent": true}, 201)
		pid := p["id"].(string)

		r := e.do("PATCH", "/v1/patients/"+pid, admin, map[string]any{"phone": ""})
		if r.status != 400 || r.json(t)["field"] != "phone" {
			t.Errorf(`PATCH {"phone":""} with smsConsent = %d %s, want 400 naming phone`, r.status, r.body)
		}
		got := e.mustDo("GET", "/v1/patients/"+pid, admin, nil, 200)
		if got["phone"] != "+15551230001" || got["smsConsent"] != true {
			t.Errorf("a refused PATCH changed the patient: %v", got)
		}

		r = e.do("PATCH", "/v1/patients/"+pid, admin, map[string]any{"phone": "", "smsConsent": true})
		if r.status != 400 || r.json(t)["field"] != "smsConsent" {
			t.Errorf(`PATCH {"phone":"","smsConsent":true} = %d %s, want 400 naming smsConsent`, r.status, r.body)
		}

		got = e.mustDo("PATCH", "/v1/patients/"+pid, admin, map[string]any{"phone": "", "smsConsent": false}, 200)
		if _, ok := got["phone"]; ok || got["smsConsent"] != false {
			t.Errorf("PATCH removing phone and consent together = %v, want no phone and smsConsent false", got)
		}
	})
}

// TestPatchNewPhoneNeedsItsOwnConsent: a patient who consented to SMS and
// gets a new number is not texted on the old number's consent: the PATCH
// that changes the number must say whether the patient consents for it.
// The number changed and consent carried over to it.
func TestPatchNewPhoneNeedsItsOwnConsent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("New Number Org")
		p := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "Ana", "timeZone": "America/New_York",
			"phone": "+15551230001", "smsConsent": true}, 201)
		pid := p["id"].(string)
		r := e.do("PATCH", "/v1/patients/"+pid, admin, map[string]any{"phone": "+15551230002"})
		if r.status != 400 || r.json(t)["field"] != "phone" {
			t.Errorf("PATCH a new phone without smsConsent = %d %s, want 400 naming phone", r.status, r.body)
		}
		if got := e.mustDo("GET", "/v1/patients/"+pid, admin, nil, 200); got["phone"] != "+15551230001" {
			t.Errorf("a refused PATCH changed the phone: %v", got)
		}
		// The same number again, or a new number with consent stated either way, is fine.
		e.mustDo("PATCH", "/v1/patients/"+pid, admin, map[string]any{"phone": "+15551230001"}, 200)
		got := e.mustDo("PATCH", "/v1/patients/"+pid, admin, map[string]any{"phone": "+15551230002", "smsConsent": true}, 200)
		if got["phone"] != "+15551230002" || got["smsConsent"] != true {
			t.Errorf("new phone with consent: %v", got)
		}
		got = e.mustDo("PATCH", "/v1/patients/"+pid, admin, map[string]any{"phone": "+15551230003", "smsConsent": false}, 200)
		if got["phone"] != "+15551230003" || got["smsConsent"] != false {
			t.Errorf("new phone without consent: %v", got)
		}
		// Without consent, a number changes freely.
		e.mustDo("PATCH", "/v1/patients/"+pid, admin, map[string]any{"phone": "+15551230004"}, 200)
	})
}
