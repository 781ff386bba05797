package api_test

import (
	"context"
	"strings"
	"testing"
)

// TestMessagingSettingsAndTemplates covers the messaging settings, plan
// reminder policies, templates (refused when saved with an unknown field)
// and messaging preferences, on both engines.
func TestMessagingSettingsAndTemplates(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Messaging Org")
		// The built-in policy until the org sets one.
		got := e.mustDo("GET", "/v1/settings/messaging", admin, nil, 200)
		pol := got["reminderPolicy"].(map[string]any)
		if pol["repeatEveryMinutes"].(float64) != 30 || pol["maxReminders"].(float64) != 3 {
			t.Fatalf("default policy: %v", pol)
		}
		set := map[string]any{"programName": "Heart Care", "helpContact": "555-0100", "reminderPolicy": map[string]any{
			"firstOffsetMinutes": 0, "repeatEveryMinutes": 15, "maxReminders": 4, "validityMinutes": 20, "channels": []string{"sms", "email"}}}
		got = e.mustDo("PUT", "/v1/settings/messaging", admin, set, 200)
		if got["programName"] != "Heart Care" || got["reminderPolicy"].(map[string]any)["repeatEveryMinutes"].(float64) != 15 {
			t.Fatalf("after PUT: %v", got)
		}
		bad := map[string]any{"reminderPolicy": map[string]any{"firstOffsetMinutes": 0, "repeatEveryMinutes": 2, "maxReminders": 3,
			"validityMinutes": 20, "channels": []string{"sms"}}}
		r := e.do("PUT", "/v1/settings/messaging", admin, bad)
		if r.status != 400 || !strings.Contains(string(r.body), "reminderPolicy.repeatEveryMinutes") {
			t.Fatalf("invalid policy: %d %s", r.status, r.body)
		}

		// A template naming an unknown field is refused when saved, with
		// the field and its position.
		r = e.do("PUT", "/v1/templates/reminder/en/sms", admin, map[string]any{"body": "Hi {{first_name}}, dose at {{dose_tme}}"})
		if r.status != 400 || !strings.Contains(string(r.body), "dose_tme") || !strings.Contains(string(r.body), "column") {
			t.Fatalf("unknown template field: %d %s", r.status, r.body)
		}
		e.mustDo("PUT", "/v1/templates/reminder/es/sms", admin, map[string]any{"body": "Hola {{first_name}}: su dosis de las {{dose_time}}. {{reply_hint}}"}, 200)
		list := e.mustDo("GET", "/v1/templates", admin, nil, 200)["items"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["language"] != "es" {
			t.Fatalf("templates: %v", list)
		}
		e.mustDo("DELETE", "/v1/templates/reminder/es/sms", admin, nil, 204)
		if r := e.do("DELETE", "/v1/templates/reminder/es/sms", admin, nil); r.status != 404 {
			t.Fatalf("second delete: %d", r.status)
		}

		// Plan policy override and patient preferences.
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "P", "timeZone": "UTC", "phone": "+15550001111", "smsConsent": true}, 201)["id"].(string)
		plan := e.mustDo("POST", "/v1/patients/"+pid+"/plans", admin, map[string]any{
			"medication": map[string]any{"rxnorm": "314076", "display": "lisinopril"},
			"timing":     map[string]any{"repeat": map[string]any{"timeOfDay": []string{"08:00:00"}}}}, 201)["id"].(string)
		pp := e.mustDo("GET", "/v1/plans/"+plan+"/reminder-policy", admin, nil, 200)
		if pp["own"] != nil || pp["effective"].(map[string]any)["repeatEveryMinutes"].(float64) != 15 {
			t.Fatalf("plan policy before override: %v", pp)
		}
		pp = e.mustDo("PUT", "/v1/plans/"+plan+"/reminder-policy", admin, map[string]any{"firstOffsetMinutes": -10, "repeatEveryMinutes": 0,
			"maxReminders": 1, "validityMinutes": 30, "channels": []string{"sms"}}, 200)
		if pp["own"] == nil || pp["effective"].(map[string]any)["firstOffsetMinutes"].(float64) != -10 {
			t.Fatalf("plan policy after override: %v", pp)
		}
		e.mustDo("DELETE", "/v1/plans/"+plan+"/reminder-policy", admin, nil, 204)
		prefs := e.mustDo("PUT", "/v1/patients/"+pid+"/messaging-preferences", admin, map[string]any{"channels": []string{"push", "sms"}, "pushToken": "tok", "medicationInMessages": true}, 200)
		if len(prefs["channels"].([]any)) != 2 || prefs["pushToken"] != nil || prefs["medicationInMessages"] != true {
			t.Fatalf("preferences: %v", prefs)
		}
		if r := e.do("PUT", "/v1/patients/"+pid+"/messaging-preferences", admin, map[string]any{"channels": []string{"fax"}}); r.status != 400 {
			t.Fatalf("bad channel: %d %s", r.status, r.body)
		}
		hist := e.mustDo("GET", "/v1/patients/"+pid+"/notifications", admin, nil, 200)
		if len(hist["items"].([]any)) != 0 {
			t.Fatalf("history: %v", hist)
		}
	})
}

// TestNotificationHistoryGivesProviderMessageID: a sent notification's
// history entry has the provider's id of the message (a Twilio SID), as
// api.md's status table says; the list left it out, so a message could
// not be found in the provider's own log.
func TestNotificationHistoryGivesProviderMessageID(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		org, admin := e.org("Provider ids")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "P", "timeZone": "UTC", "phone": "+15550001111", "smsConsent": true}, 201)["id"].(string)
		if _, err := e.db.SQL.ExecContext(context.Background(), `INSERT INTO notifications (org_id, patient_id, idempotency_key, kind, template, channels, status,
			channel, provider, provider_message_id, provider_status, due_at, created_at, updated_at)
			VALUES ($1, $2, 'k1', 'reminder', 'reminder', 'sms', 'sent', 'sms', 'twilio', 'SM0123456789abcdef0123456789abcdef', 'queued', $3, $3, $3)`,
			org, pid, e.now); err != nil {
			t.Fatal(err)
		}
		items := e.mustDo("GET", "/v1/patients/"+pid+"/notifications", admin, nil, 200)["items"].([]any)
		if len(items) != 1 {
			t.Fatalf("history: %v", items)
		}
		if got := items[0].(map[string]any)["providerMessageId"]; got != "SM0123456789abcdef0123456789abcdef" {
			t.Errorf("providerMessageId = %v, want the Twilio SID", got)
		}
		// A full last page has no next (the API reads one ahead).
		if page := e.mustDo("GET", "/v1/patients/"+pid+"/notifications?limit=1", admin, nil, 200); len(page["items"].([]any)) != 1 || page["next"] != nil {
			t.Errorf("a page of 1 of 1 notification: %v, want it and no next", page)
		}
	})
}
