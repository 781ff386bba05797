package api_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestActionsRefuseABody: the actions that take no body (a plan's pause,
// resume and stop, a patient's deactivation and reactivation) refuse a
// malformed body or one with a field, as every other request does, and
// change nothing; an empty body or {} is fine. They ignored it and carried
// the action out.
func TestActionsRefuseABody(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		state := func(path, field string) string {
			resource := path[:strings.LastIndex(path, "/")]
			return fmt.Sprint(e.mustDo("GET", resource, w.admin, nil, 200)[field])
		}
		for _, c := range []struct{ path, field, want string }{
			{"/v1/plans/" + w.plan + "/pause", "status", "paused"},
			{"/v1/plans/" + w.plan + "/resume", "status", "active"},
			{"/v1/patients/" + w.patient + "/deactivate", "active", "false"},
			{"/v1/patients/" + w.patient + "/reactivate", "active", "true"},
			{"/v1/plans/" + w.plan + "/stop", "status", "stopped"},
		} {
			for _, bad := range []struct{ body, field string }{{"{bad", ""}, {`{"reason":"moved away"}`, "reason"}, {"[]", ""}} {
				r := e.do("POST", c.path, w.admin, bad.body)
				if r.status != 400 || (bad.field != "" && r.json(t)["field"] != bad.field) {
					t.Errorf("POST %s with body %s = %d %s, want 400 naming %q", c.path, bad.body, r.status, r.body, bad.field)
				}
			}
			if v := state(c.path, c.field); v == c.want {
				t.Errorf("after the refused POST %s: %s = %s already", c.path, c.field, v)
			}
			e.mustDo("POST", c.path, w.admin, "{}", 200)
			if v := state(c.path, c.field); v != c.want {
				t.Errorf("POST %s {}: %s = %s, want %s", c.path, c.field, v, c.want)
			}
		}
		// Without a body at all (no Content-Type either).
		e.mustDo("POST", "/v1/patients/"+w.patient+"/deactivate", w.admin, nil, 200)
	})
}
