package api_test

import (
	"testing"
)

// TestReminderChannelNamedWithIndex: a channel that is not sms, push or
// email, or is listed twice, in the organization's reminder policy, a
// plan's own policy or a patient's messaging preferences is a 400 naming
// the channel down to its index (reminderPolicy.channels[2]), as a
// timing's lists and an escalation level's channels are; it was named
// "reminderPolicy.channels" or "channels", whatever its place. Nothing is
// changed.
func TestReminderChannelNamedWithIndex(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		policy := func(channels ...string) map[string]any {
			return map[string]any{"firstOffsetMinutes": 0, "repeatEveryMinutes": 30, "maxReminders": 2, "validityMinutes": 30, "channels": channels}
		}
		for _, c := range []struct {
			name, path, field string
			body              map[string]any
		}{
			{"org policy, unknown", "/v1/settings/messaging", "reminderPolicy.channels[2]", map[string]any{"reminderPolicy": policy("sms", "push", "fax")}},
			{"org policy, twice", "/v1/settings/messaging", "reminderPolicy.channels[2]", map[string]any{"reminderPolicy": policy("sms", "push", "sms")}},
			{"plan policy, unknown", "/v1/plans/" + w.plan + "/reminder-policy", "channels[1]", policy("sms", "webhook")},
			{"plan policy, twice", "/v1/plans/" + w.plan + "/reminder-policy", "channels[1]", policy("email", "email")},
			{"preferences, unknown", "/v1/patients/" + w.patient + "/messaging-preferences", "channels[1]", map[string]any{"channels": []string{"push", "fax"}}},
			{"preferences, twice", "/v1/patients/" + w.patient + "/messaging-preferences", "channels[2]", map[string]any{"channels": []string{"push", "sms", "push"}}},
		} {
			r := e.do("PUT", c.path, w.admin, c.body)
			if r.status != 400 || r.json(t)["field"] != c.field {
				t.Errorf("%s = %d %s, want 400 naming %s", c.name, r.status, r.body, c.field)
			}
		}
		if got := e.mustDo("GET", "/v1/plans/"+w.plan+"/reminder-policy", w.admin, nil, 200); got["own"] != nil {
			t.Errorf("plan policy after the refusals = %v, want none of its own", got)
		}
		if got := e.mustDo("GET", "/v1/patients/"+w.patient+"/messaging-preferences", w.admin, nil, 200)["channels"].([]any); len(got) != 0 {
			t.Errorf("preferred channels after the refusals = %v, want none", got)
		}
	})
}
