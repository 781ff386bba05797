package schedule_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

func TestDecodeTimingRoundTrip(t *testing.T) {
	inputs := []string{
		`{"repeat":{"timeOfDay":["08:00:00","20:00:00"]}}`,
		`{"event":["2026-03-01T08:00:00-05:00"],"code":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation","code":"BID","display":"BID"}],"text":"twice a day"}}`,
		// Element ids, extensions, and a coding's version and userSelected
		// are valid FHIR: kept as given.
		`{"id":"t1","extension":[{"url":"http://example.org/fhir/StructureDefinition/note","valueString":"with food"}],"repeat":{"id":"r1","extension":[{"url":"http://example.org/x","valueBoolean":true}],"timeOfDay":["08:00:00"]},"code":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation","version":"2.0.0","code":"QD","userSelected":false}]}}`,
		`{"repeat":{"boundsPeriod":{"start":"2026-03-01","end":"2026-03-01T08:00:00-05:00"},"count":10,"countMax":12,"duration":30,"durationMax":45,"durationUnit":"min","frequency":2,"frequencyMax":3,"period":1,"periodMax":1.5,"periodUnit":"d","dayOfWeek":["mon","fri"],"when":["ACM","PCV"],"offset":0}}`,
	}
	for _, in := range inputs {
		tm, err := schedule.DecodeTiming([]byte(in))
		if err != nil {
			t.Fatalf("DecodeTiming(%s): %v", in, err)
		}
		out, err := json.Marshal(tm)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != in {
			t.Errorf("round trip:\n got %s\nwant %s", out, in)
		}
	}
}

func TestDecodeTimingErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		field string
		msg   string // substring of the message
	}{
		{"unknown field", `{"repeat":{"timeOfDay":["08:00:00"],"bogus":1}}`, "repeat.bogus", "unknown field"},
		{"unknown top-level field", `{"resourceType":"Timing"}`, "resourceType", "unknown field"},
		{"field names are case-sensitive", `{"repeat":{"TimeOfDay":["08:00:00"]}}`, "repeat.TimeOfDay", "unknown field"},
		{"repeated field", `{"repeat":{"count":1,"count":2}}`, "repeat.count", "twice"},
		{"wrong type: string for integer", `{"repeat":{"count":"2"}}`, "repeat.count", "got JSON string, want integer"},
		{"wrong type: decimal for integer", `{"repeat":{"frequency":1.5}}`, "repeat.frequency", "integer"},
		// Out of any range: not said as a range the field does not take.
		{"huge integer", `{"repeat":{"frequency":1000000000000}}`, "repeat.frequency", "far above the largest value"},
		{"huge negative integer", `{"repeat":{"count":-9223372036854775808}}`, "repeat.count", "far below the smallest value"},
		{"wrong type in array", `{"repeat":{"timeOfDay":["08:00:00",800]}}`, "repeat.timeOfDay[1]", "got JSON number, want string"},
		{"wrong type: object for array", `{"repeat":{"when":{"code":"HS"}}}`, "repeat.when", "want array"},
		{"wrong type: top level", `["08:00:00"]`, "", "want object"},
		{"null", `{"repeat":null}`, "repeat", "null"},
		// The other choices of FHIR's repeat.bounds[x] are valid FHIR, not
		// misspellings: refused as unsupported, pointing to boundsPeriod.
		{"boundsDuration", `{"repeat":{"timeOfDay":["08:00:00"],"boundsDuration":{"value":7,"unit":"d"}}}`, "repeat.boundsDuration", "is not supported: bound the schedule with boundsPeriod"},
		{"boundsRange", `{"repeat":{"timeOfDay":["08:00:00"],"boundsRange":{"low":{"value":7,"unit":"d"}}}}`, "repeat.boundsRange", "is not supported: bound the schedule with boundsPeriod"},
		{"boundsDuration null", `{"repeat":{"boundsDuration":null}}`, "repeat.boundsDuration", "not supported"},
		{"misspelt boundsPeriod", `{"repeat":{"boundsPerod":{"start":"2026-03-01"}}}`, "repeat.boundsPerod", "unknown field"},
		{"boundsDuration outside repeat", `{"boundsDuration":{"value":7,"unit":"d"}}`, "boundsDuration", "unknown field"},
		{"modifierExtension", `{"modifierExtension":[{"url":"http://example.org/x","valueBoolean":true}],"repeat":{"timeOfDay":["08:00:00"]}}`, "modifierExtension", "unknown field"},
		{"extension not an array", `{"extension":{"url":"http://example.org/x"}}`, "extension", "want array"},
		{"null in an extension", `{"extension":[{"url":"http://example.org/x","valueString":null}]}`, "extension", "null"},
		{"userSelected not a boolean", `{"code":{"coding":[{"code":"QD","userSelected":"yes"}]}}`, "code.coding[0].userSelected", "want boolean"},
		{"malformed JSON", `{"repeat":{"count":1,}}`, "", "near byte offset 21"},
		{"malformed JSON on a later line", "{\n  \"repeat\": {\n    \"count\": 1 2\n  }\n}", "", "(line 3, column"},
		{"truncated JSON", `{"repeat":{"count":`, "", "unexpected end of input"},
		{"trailing data", `{"repeat":{"count":1}} {}`, "", "after the Timing object"},
		// A file edited by hand: where the input ends or the extra data
		// starts is given as a line and column too, as for other
		// malformed JSON.
		{"truncated JSON on a later line", "{\n  \"repeat\": {\n    \"count\": 1", "", "unexpected end of input at byte offset 30 (line 3, column 15)"},
		{"trailing data on a later line", "{\n  \"repeat\": {\"count\": 1}\n}\n  ]", "", "unexpected data after the Timing object at byte offset 31 (line 4, column 3)"},
		{"empty input", ` `, "", "empty input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := schedule.DecodeTiming([]byte(tt.input))
			var e *errs.Error
			if !errors.As(err, &e) {
				t.Fatalf("DecodeTiming: %v (%T), want *errs.Error", err, err)
			}
			if e.Code != errs.CodeInvalid || e.Field != tt.field || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("got code %s field %q message %q; want invalid, %q, containing %q", e.Code, e.Field, e.Message, tt.field, tt.msg)
			}
		})
	}
}

func TestClockAndAnchors(t *testing.T) {
	c, err := schedule.ParseClock("07:05")
	if err != nil || c != 7*60+5 || c.String() != "07:05" {
		t.Fatalf("ParseClock(07:05) = %d, %v", c, err)
	}
	for _, bad := range []string{"", "7:05", "24:00", "12:60", "12-00", "12:00:00", "ab:cd"} {
		if _, err := schedule.ParseClock(bad); err == nil {
			t.Errorf("ParseClock(%q): no error", bad)
		}
	}

	a, err := schedule.ParseAnchors("wake=06:00, bed=23:30")
	if err != nil {
		t.Fatal(err)
	}
	want := schedule.DefaultAnchors()
	want.Wake, want.Bed = 6*60, 23*60+30
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("ParseAnchors (-want +got):\n%s", diff)
	}
	if a, err := schedule.ParseAnchors(""); err != nil || a != schedule.DefaultAnchors() {
		t.Errorf("ParseAnchors(\"\") = %v, %v; want the defaults", a, err)
	}
	for in, field := range map[string]string{
		"wake=07:00,brunch=10:00": "brunch",
		"lunch=noon":              "lunch",
		"dinner":                  "dinner",
		"bed=22:00,bed=23:00":     "bed",
	} {
		_, err := schedule.ParseAnchors(in)
		if got := fieldOf(t, err); got != field {
			t.Errorf("ParseAnchors(%q): Field = %q, want %q", in, got, field)
		}
	}

	js, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(js) != `{"wake":"06:00","breakfast":"07:30","lunch":"12:00","dinner":"18:00","bed":"23:30"}` {
		t.Errorf("Anchors JSON = %s", js)
	}
	var back schedule.Anchors
	if err := json.Unmarshal([]byte(`{"wake":"06:00","bed":"23:30"}`), &back); err != nil {
		t.Fatal(err)
	}
	if back != want {
		t.Errorf("partial Anchors JSON decoded to %+v, want %+v (omitted keys keep defaults)", back, want)
	}
	if err := json.Unmarshal([]byte(`{"wake":"6am"}`), &back); err == nil {
		t.Error("Anchors JSON with a bad clock: no error")
	}
	if err := json.Unmarshal([]byte(`{"brunch":"10:00"}`), &back); err == nil {
		t.Error("Anchors JSON with an unknown key: no error")
	}
}

func TestPreview(t *testing.T) {
	ny := loadZone(t, "America/New_York")
	from := time.Date(2026, 3, 7, 0, 0, 0, 0, ny)
	p := schedule.Params{Location: ny, Start: from, From: from, To: from.AddDate(0, 0, 2)}
	var out bytes.Buffer
	if err := schedule.Preview(&out, []byte(`{"repeat":{"timeOfDay":["08:00:00"]}}`), p); err != nil {
		t.Fatal(err)
	}
	want := "2026-03-07T08:00:00-05:00\n2026-03-08T08:00:00-04:00\n"
	if out.String() != want {
		t.Errorf("Preview wrote\n%s\nwant\n%s", out.String(), want)
	}

	err := schedule.Preview(&out, []byte(`{"repeat":{"when":["XYZ"]}}`), p)
	if got := fieldOf(t, err); got != "repeat.when[0]" {
		t.Errorf("Preview of an invalid Timing: Field = %q, want repeat.when[0]", got)
	}
	err = schedule.Preview(&out, []byte(`{"repeat":{"when":["HS"],"extra":true}}`), p)
	if got := fieldOf(t, err); got != "repeat.extra" {
		t.Errorf("Preview of an unknown field: Field = %q, want repeat.extra", got)
	}
}
