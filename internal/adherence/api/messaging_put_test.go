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

// TestTemplateSubjectRefusesControlCharacters: an e-mail subject or a push
// title is one line set into a mail header or a notification: a control
// character in it (a tab, an escape, DEL, a C1 control such as U+0085,
// not only a line break) is a 400 naming subject, and nothing is saved.
func TestTemplateSubjectRefusesControlCharacters(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Subject Org")
		for _, ch := range []string{"email", "push"} {
			path := "/v1/templates/reminder/en/" + ch
			for _, subject := range []string{"Dose\r\nBcc: x@example.com", "Dose\treminder", "Dose\x1b[2J", "Dose\x7f", "Dose\u0085Bcc: x@example.com", "Dose\x00"} {
				r := e.do("PUT", path, admin, map[string]any{"subject": subject, "body": "Hi {{first_name}}"})
				if r.status != 400 || r.json(t)["field"] != "subject" {
					t.Errorf("%s subject %q = %d %s, want 400 naming subject", ch, subject, r.status, r.body)
				}
			}
		}
		if list := e.mustDo("GET", "/v1/templates", admin, nil, 200)["items"].([]any); len(list) != 0 {
			t.Fatalf("refused templates were saved: %v", list)
		}
		got := e.mustDo("PUT", "/v1/templates/reminder/en/email", admin, map[string]any{"subject": "Rappel — {{program}}", "body": "Hi {{first_name}}"}, 200)
		if got["subject"] != "Rappel — {{program}}" {
			t.Errorf("subject without control characters: %v", got)
		}
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

// TestMessagingTextsRefuseControlCharacters: the messaging settings'
// programName and helpContact are one line of text, set into messages
// ({{program}}, {{help_contact}}) and e-mail subjects: a line break,
// tab or escape in them is a 400 naming the field, and the settings are
// unchanged. The same text without them, in any script, is fine.
func TestMessagingTextsRefuseControlCharacters(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Messaging Control Org")
		settings := func(program, help string) map[string]any {
			return map[string]any{"programName": program, "helpContact": help,
				"reminderPolicy": map[string]any{"validityMinutes": 30, "channels": []string{"sms"}}}
		}
		e.mustDo("PUT", "/v1/settings/messaging", admin, settings("Heart Care", "555-0100"), 200)
		for _, v := range []string{"Heart\nCare", "Heart\rCare", "Heart\tCare", "Heart Care\x1b[2J", "Heart\u0085Care", "Heart Care\n(main)"} {
			for _, c := range []struct {
				field string
				body  map[string]any
			}{
				{"programName", settings(v, "555-0100")},
				{"helpContact", settings("Heart Care", v)},
			} {
				r := e.do("PUT", "/v1/settings/messaging", admin, c.body)
				if r.status != 400 || r.json(t)["field"] != c.field {
					t.Errorf("%s %q = %d %s, want 400 naming %s", c.field, v, r.status, r.body, c.field)
				}
			}
		}
		if got := e.mustDo("GET", "/v1/settings/messaging", admin, nil, 200); got["programName"] != "Heart Care" || got["helpContact"] != "555-0100" {
			t.Errorf("settings after the refusals = %v", got)
		}
		got := e.mustDo("PUT", "/v1/settings/messaging", admin, settings("Сердце — Heart Care", "https://care.example.org/help"), 200)
		if got["programName"] != "Сердце — Heart Care" || got["helpContact"] != "https://care.example.org/help" {
			t.Errorf("settings without control characters = %v", got)
		}
	})
}
