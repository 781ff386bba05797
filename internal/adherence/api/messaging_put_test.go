package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/notify"
)

// TestTemplateSubjectOnlyForEmailAndPush: an SMS template has no subject.
func TestTemplateSubjectOnlyForEmailAndPush(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Template Org")
		r := e.do("PUT", "/v1/templates/reminder/es/sms", admin, map[string]any{"subject": "s", "body": "x"})
		if r.status != 400 || !strings.Contains(string(r.body), `"subject"`) {
			t.Fatalf("sms with a subject: %d %s", r.status, r.body)
		}
		if list := e.mustDo("GET", "/v1/templates", admin, nil, 200)["items"].([]any); len(list) != 0 {
			t.Fatalf("refused template was stored: %v", list)
		}
		for _, ch := range []string{"email", "push"} {
			got := e.mustDo("PUT", "/v1/templates/reminder/es/"+ch, admin, map[string]any{"subject": "s", "body": "x"}, 200)
			if got["subject"] != "s" {
				t.Fatalf("%s subject: %v", ch, got)
			}
		}
		e.mustDo("PUT", "/v1/templates/reminder/es/sms", admin, map[string]any{"body": "x"}, 200)
	})
}

// TestMessagingPreferencesPartialPut: a field left out of the PUT keeps
// its value, the write-only push token included.
func TestMessagingPreferencesPartialPut(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		org, admin := e.org("Prefs Org")
		pid := e.mustDo("POST", "/v1/patients", admin, map[string]any{"givenName": "P", "timeZone": "UTC", "phone": "+15550001111", "smsConsent": true}, 201)["id"].(string)
		path := "/v1/patients/" + pid + "/messaging-preferences"
		e.mustDo("PUT", path, admin, map[string]any{"channels": []string{"push", "sms"}, "pushToken": "tok", "medicationInMessages": true}, 200)
		token := func() string {
			t.Helper()
			p, err := e.store.Preferences(context.Background(), org, pid)
			if err != nil {
				t.Fatal(err)
			}
			return p.PushToken
		}

		got := e.mustDo("PUT", path, admin, map[string]any{"channels": []string{}}, 200)
		if len(got["channels"].([]any)) != 0 || got["medicationInMessages"] != true || token() != "tok" {
			t.Fatalf("after channels only: %v, token %q", got, token())
		}
		got = e.mustDo("PUT", path, admin, map[string]any{"medicationInMessages": false}, 200)
		if len(got["channels"].([]any)) != 0 || got["medicationInMessages"] != false || token() != "tok" {
			t.Fatalf("after medicationInMessages only: %v, token %q", got, token())
		}
		got = e.mustDo("PUT", path, admin, map[string]any{"channels": []string{"sms"}}, 200)
		if chans := got["channels"].([]any); len(chans) != 1 || chans[0] != string(notify.SMS) || got["medicationInMessages"] != false {
			t.Fatalf("after channels: %v", got)
		}
		e.mustDo("PUT", path, admin, map[string]any{"pushToken": ""}, 200)
		if token() != "" {
			t.Fatalf("token after clearing = %q", token())
		}
		got = e.mustDo("PUT", path, admin, map[string]any{}, 200)
		if chans := got["channels"].([]any); len(chans) != 1 || got["medicationInMessages"] != false {
			t.Fatalf("after an empty PUT: %v", got)
		}
	})
}

// TestSetMessagingWithoutPolicyNamesIt: PUT /v1/settings/messaging without
// a reminderPolicy is a 400 naming reminderPolicy and saying it is
// required; the settings are unchanged. The absent policy was read as all
// zeros and refused as "reminderPolicy.validityMinutes: must be between 1
// and 240 minutes", naming a field the client never sent.
func TestSetMessagingWithoutPolicyNamesIt(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Messaging Policy Org")
		before := e.mustDo("GET", "/v1/settings/messaging", admin, nil, 200)
		r := e.do("PUT", "/v1/settings/messaging", admin, `{"programName":"Heart Care"}`)
		if p := r.json(t); r.status != 400 || p["field"] != "reminderPolicy" || !strings.Contains(p["detail"].(string), "required") {
			t.Errorf(`PUT {"programName":"Heart Care"} = %d %s, want 400 naming reminderPolicy as required`, r.status, r.body)
		}
		if after := e.mustDo("GET", "/v1/settings/messaging", admin, nil, 200); after["programName"] != before["programName"] {
			t.Errorf("the refused PUT changed the program name to %v", after["programName"])
		}
		// The settings as GET answers them (updatedAt included) go back as they are.
		got := e.mustDo("GET", "/v1/settings/messaging", admin, nil, 200)
		got["programName"] = "Heart Care"
		if set := e.mustDo("PUT", "/v1/settings/messaging", admin, got, 200); set["programName"] != "Heart Care" {
			t.Errorf("PUT of the settings read back: %v", set)
		}
	})
}
