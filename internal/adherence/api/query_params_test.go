package api_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocumentedParametersAreTaken reads every `GET /v1/…?…` of
// docs/api.md and asks its route with each parameter it names (empty: as
// if absent, so no value is judged): none may be refused as a parameter
// the route does not take (answers 200 but for required ones left out). A parameter no route takes is a 400 naming it
// (QA: audit?patientId=… answered the organization's whole trail), and
// nothing is read: no audit record of a read is written.
func TestDocumentedParametersAreTaken(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	routes := regexp.MustCompile("`GET (/v1/[^`?\\[ ]+)\\[?\\?([^`]*)`").FindAllStringSubmatch(string(doc), -1)
	if len(routes) < 15 {
		t.Fatalf("found %d documented GET routes with parameters in docs/api.md, want the 15 or more it lists", len(routes))
	}
	forEachEngine(t, func(t *testing.T, e *env) {
		_, admin := e.org("Params Org")
		pid, plid := e.patientWithPlan(admin)
		for _, m := range routes {
			path := strings.NewReplacer("/patients/{id}", "/patients/"+pid, "/plans/{id}", "/plans/"+plid).Replace(m[1])
			for _, name := range regexp.MustCompile(`([A-Za-z_]+)=`).FindAllStringSubmatch(m[2], -1) {
				// Some routes require another parameter (pdc: from and
				// to): a 400 about it is fine, one about this one is not.
				r := e.do("GET", path+"?"+name[1]+"=", admin, nil)
				if r.status != 200 && (r.status != 400 || strings.Contains(string(r.body), "not a parameter of this route")) {
					t.Errorf("GET %s?%s= (documented) = %d %s, want it taken", path, name[1], r.status, r.body)
				}
			}
		}

		count := func() int {
			return len(e.mustDo("GET", "/v1/audit?limit=1000", admin, nil, 200)["records"].([]any))
		}
		before := count()
		for _, target := range []string{"/v1/audit?patientId=" + pid, "/v1/patients/" + pid + "/events?form=2026-01-01T00:00:00Z", "/v1/patients?LIMIT=1", "/v1/patients/" + pid + "?fields=name"} {
			r := e.do("GET", target, admin, nil)
			name := target[strings.Index(target, "?")+1 : strings.Index(target, "=")]
			if r.status != 400 || r.json(t)["field"] != name {
				t.Errorf("GET %s = %d %s, want 400 naming %s", target, r.status, r.body, name)
			}
		}
		// The count's own reads are audited: one more per call of count.
		if after := count(); after != before+1 {
			t.Errorf("audit records %d after the refused requests, want %d: a refused request read something", after, before+1)
		}
	})
}
