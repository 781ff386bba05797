package httpx

import "testing"

// TestUncleanPath checks the reasons uncleanPath gives, and that a clean
// path, which every request has, costs no allocation.
func TestUncleanPath(t *testing.T) {
	for path, want := range map[string]string{
		"/":                      "",
		"/v1/patients":           "",
		"/v1/patients/":          "",
		"/v1/patients/p-1/plans": "",
		"/v1/a.b/..c/.d":         "",
		"":                       "does not start with /",
		"v1/patients":            "does not start with /",
		"//v1":                   "has an empty segment (//)",
		"/v1//patients":          "has an empty segment (//)",
		"/v1/patients//":         "has an empty segment (//)",
		"/.":                     "has a . segment",
		"/v1/./patients":         "has a . segment",
		"/v1/..":                 "has a .. segment",
		"/v1/../admin/":          "has a .. segment",
	} {
		if got := uncleanPath(path); got != want {
			t.Errorf("uncleanPath(%q) = %q, want %q", path, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = uncleanPath("/v1/patients/0192f7e4-5b6c-7d8e-9f00-112233445566/plans/") }); n != 0 {
		t.Errorf("uncleanPath of a clean path allocated %v times per call, want 0", n)
	}
}
