package schedule_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// fieldOf returns the Field of the *errs.Error in err, failing the test when
// err is nil or not invalid.
func fieldOf(t *testing.T, err error) string {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *errs.Error", err, err)
	}
	if e.Code != errs.CodeInvalid {
		t.Fatalf("code = %s, want invalid", e.Code)
	}
	return e.Field
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		timing   string
		asNeeded bool
		field    string // "" means valid
	}{
		{"timeOfDay", `{"repeat":{"timeOfDay":["08:00:00","20:00"]}}`, false, ""},
		{"when with offset", `{"repeat":{"when":["ACM","HS"],"offset":30}}`, false, ""},
		{"BID", `{"repeat":{"frequency":2,"period":1,"periodUnit":"d"}}`, false, ""},
		{"q8h", `{"repeat":{"frequency":1,"period":8,"periodUnit":"h"}}`, false, ""},
		{"period without frequency is once per period", `{"repeat":{"period":1,"periodUnit":"wk"}}`, false, ""},
		{"frequency matches timeOfDay", `{"repeat":{"timeOfDay":["08:00:00","20:00:00"],"frequency":2,"period":1,"periodUnit":"d"}}`, false, ""},
		{"frequency matches when", `{"repeat":{"when":["C"],"frequency":3,"period":1,"periodUnit":"d"}}`, false, ""},
		{"weekly on listed days", `{"repeat":{"frequency":3,"period":1,"periodUnit":"wk","dayOfWeek":["mon","wed","fri"]}}`, false, ""},
		{"events", `{"event":["2026-03-01T08:00:00Z","2026-03-02T08:00:00"]}`, false, ""},
		{"PRN without schedule", `{}`, true, ""},
		{"PRN with nothing schedulable", `{"repeat":{"frequencyMax":4}}`, true, ""},
		{"accepted but unused elements", `{"repeat":{"timeOfDay":["08:00:00"],"duration":30,"durationUnit":"min","count":10,"countMax":12},"code":{"text":"QD"}}`, false, ""},

		{"timeOfDay and when", `{"repeat":{"timeOfDay":["08:00:00"],"when":["MORN"]}}`, false, "repeat.when"},
		// FHIR JSON has no empty arrays; an empty one was dropped unsaid.
		{"empty dayOfWeek", `{"repeat":{"timeOfDay":["08:00"],"dayOfWeek":[]}}`, false, "repeat.dayOfWeek"},
		{"empty timeOfDay", `{"repeat":{"timeOfDay":[],"frequency":1,"period":1,"periodUnit":"d"}}`, false, "repeat.timeOfDay"},
		{"empty when", `{"repeat":{"when":[],"frequency":1,"period":1,"periodUnit":"d"}}`, false, "repeat.when"},
		{"empty event", `{"event":[],"repeat":{"timeOfDay":["08:00"]}}`, false, "event"},
		{"offset without when", `{"repeat":{"timeOfDay":["08:00:00"],"offset":30}}`, false, "repeat.offset"},
		{"offset with C (tim-9)", `{"repeat":{"when":["CM"],"offset":30}}`, false, "repeat.offset"},
		{"negative offset", `{"repeat":{"when":["PCM"],"offset":-5}}`, false, "repeat.offset"},
		{"period without periodUnit", `{"repeat":{"frequency":1,"period":1}}`, false, "repeat.periodUnit"},
		{"periodUnit without period", `{"repeat":{"timeOfDay":["08:00:00"],"periodUnit":"d"}}`, false, "repeat.period"},
		{"frequency without period", `{"repeat":{"frequency":2}}`, false, "repeat.period"},
		{"frequency 0", `{"repeat":{"frequency":0,"period":1,"periodUnit":"d"}}`, false, "repeat.frequency"},
		{"period 0", `{"repeat":{"frequency":1,"period":0,"periodUnit":"d"}}`, false, "repeat.period"},
		{"unknown periodUnit", `{"repeat":{"frequency":1,"period":1,"periodUnit":"day"}}`, false, "repeat.periodUnit"},
		{"fractional days", `{"repeat":{"frequency":1,"period":0.5,"periodUnit":"d"}}`, false, "repeat.period"},
		{"too many doses a day (interval)", `{"repeat":{"frequency":1,"period":15,"periodUnit":"min"}}`, false, "repeat.period"},
		{"too many doses a day (frequency)", `{"repeat":{"frequency":49,"period":1,"periodUnit":"d"}}`, false, "repeat.frequency"},
		{"bad timeOfDay", `{"repeat":{"timeOfDay":["08:00:00","25:00:00"]}}`, false, "repeat.timeOfDay[1]"},
		{"duplicate timeOfDay", `{"repeat":{"timeOfDay":["08:00:00","08:00"]}}`, false, "repeat.timeOfDay[1]"},
		{"unknown when code", `{"repeat":{"when":["MORN","BRUNCH"]}}`, false, "repeat.when[1]"},
		{"bad dayOfWeek", `{"repeat":{"timeOfDay":["08:00:00"],"dayOfWeek":["mon","monday"]}}`, false, "repeat.dayOfWeek[1]"},
		{"duplicate dayOfWeek", `{"repeat":{"timeOfDay":["08:00:00"],"dayOfWeek":["mon","mon"]}}`, false, "repeat.dayOfWeek[1]"},
		{"dayOfWeek with a 3-day period", `{"repeat":{"timeOfDay":["08:00:00"],"period":3,"periodUnit":"d","dayOfWeek":["mon"]}}`, false, "repeat.dayOfWeek"},
		{"count 0", `{"repeat":{"timeOfDay":["08:00:00"],"count":0}}`, false, "repeat.count"},
		{"countMax without count", `{"repeat":{"timeOfDay":["08:00:00"],"countMax":3}}`, false, "repeat.countMax"},
		{"start after end", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"start":"2026-03-02","end":"2026-03-01"}}}`, false, "repeat.boundsPeriod.end"},
		{"start after end, dateTimes", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"start":"2026-03-02T08:00:00Z","end":"2026-03-02T07:00:00Z"}}}`, false, "repeat.boundsPeriod.end"},
		{"unparseable start", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"start":"2026-3-1"}}}`, false, "repeat.boundsPeriod.start"},
		{"partial date end", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"end":"2026-03"}}}`, false, "repeat.boundsPeriod.end"},
		// Strictly RFC 3339: time.Parse took an offset of 24 hours or more
		// (a whole day off), a comma before the fraction and a one-digit hour.
		{"start offset +24:00", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"start":"2026-03-07T20:00:00+24:00"}}}`, false, "repeat.boundsPeriod.start"},
		{"end offset -23:60", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"end":"2026-03-07T20:00:00-23:60"}}}`, false, "repeat.boundsPeriod.end"},
		{"start comma fraction", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"start":"2026-03-07T20:00:00,5Z"}}}`, false, "repeat.boundsPeriod.start"},
		{"local start comma fraction", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"start":"2026-03-07T20:00:00,5"}}}`, false, "repeat.boundsPeriod.start"},
		{"local end one-digit hour", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"end":"2026-03-07T8:00:00.5"}}}`, false, "repeat.boundsPeriod.end"},
		// A bound in the year 1 (or 0) can be 0001-01-01T00:00:00Z, Go's zero
		// time, read as no bound: in UTC the start was dropped (the plan
		// started at its creation), in New York it was a start in the year
		// 1; an end of the zero instant made the schedule ongoing.
		{"start 0001-01-01", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"start":"0001-01-01"}}}`, false, "repeat.boundsPeriod.start"},
		{"start 0001-01-01T00:00:00Z", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"start":"0001-01-01T00:00:00Z"}}}`, false, "repeat.boundsPeriod.start"},
		{"start 0001-01-01T00:00:00 local", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"start":"0001-01-01T00:00:00"}}}`, false, "repeat.boundsPeriod.start"},
		{"start zero instant with an offset", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"start":"0001-01-01T01:00:00+01:00"}}}`, false, "repeat.boundsPeriod.start"},
		{"start late in the year 1", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"start":"0001-12-31","end":"2026-03-01"}}}`, false, "repeat.boundsPeriod.start"},
		{"start in the year 0", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"start":"0000-12-31T19:03:58"}}}`, false, "repeat.boundsPeriod.start"},
		{"end 0001-01-01", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"end":"0001-01-01"}}}`, false, "repeat.boundsPeriod.end"},
		{"end just before the zero instant", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"end":"0000-12-31T23:59:59.999999999Z"}}}`, false, "repeat.boundsPeriod.end"},
		{"end the day before the zero instant", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"end":"0000-12-31"}}}`, false, "repeat.boundsPeriod.end"},
		{"bounds in the year 2", `{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"start":"0002-01-01","end":"0002-01-01T00:00:00+14:00"}}}`, false, ""},
		{"event offset +24:00", `{"event":["2026-03-01T08:00:00Z","2026-03-07T20:00:00+24:00"]}`, false, "event[1]"},
		{"event comma fraction", `{"event":["2026-03-07T20:00:00,5"]}`, false, "event[0]"},
		{"event one-digit hour", `{"event":["2026-03-07T8:00:00.25Z"]}`, false, "event[0]"},
		{"strict offsets and fractions", `{"event":["2026-03-07T20:00:00.5+13:45","2026-03-08T20:00:00.25"]}`, false, ""},
		{"nothing schedulable", `{"repeat":{"dayOfWeek":["mon"]}}`, false, "repeat"},
		{"no repeat and no event", `{"code":{"text":"BID"}}`, false, "repeat"},
		{"frequency contradicts timeOfDay", `{"repeat":{"timeOfDay":["08:00:00"],"frequency":2,"period":1,"periodUnit":"d"}}`, false, "repeat.frequency"},
		{"elapsed interval with clock times", `{"repeat":{"timeOfDay":["08:00:00"],"frequency":1,"period":8,"periodUnit":"h"}}`, false, "repeat.periodUnit"},
		{"uneven spread", `{"repeat":{"frequency":3,"period":2,"periodUnit":"d"}}`, false, "repeat.frequency"},
		{"event with repeat", `{"event":["2026-03-01T08:00:00Z"],"repeat":{"timeOfDay":["08:00:00"]}}`, false, "event"},
		{"event without time", `{"event":["2026-03-01T08:00:00Z","2026-03-02"]}`, false, "event[1]"},
		{"durationUnit missing", `{"repeat":{"timeOfDay":["08:00:00"],"duration":5}}`, false, "repeat.durationUnit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := decode(t, tt.timing).Validate(tt.asNeeded)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want valid", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: valid, want error on %s", tt.field)
			}
			if got := fieldOf(t, err); got != tt.field {
				t.Errorf("Field = %q, want %q (error: %v)", got, tt.field, err)
			}
		})
	}
}

// TestBoundsInYearOne: a boundsPeriod.start of 0001-01-01 was Go's zero
// time in UTC, so Expand and Bounds read it as no start and the schedule
// started at Params.Start (the plan's creation), while in New York the
// same Timing started in the year 1. Both are refused, in every zone, with
// a message saying why.
func TestBoundsInYearOne(t *testing.T) {
	for _, tt := range []struct {
		timing, field, msg string
	}{
		{`{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"start":"0001-01-01"}}}`, "repeat.boundsPeriod.start", "year 0001 is not a real start date"},
		{`{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"start":"0001-01-01T00:00:00Z"}}}`, "repeat.boundsPeriod.start", "year 0001 is not a real start date"},
		{`{"repeat":{"timeOfDay":["08:00:00"],"boundsPeriod":{"end":"0000-12-31T23:59:59.999999999Z"}}}`, "repeat.boundsPeriod.end", "year 0000 is not a real end date"},
	} {
		tm := decode(t, tt.timing)
		for _, zone := range []string{"UTC", "America/New_York"} {
			loc := loadZone(t, zone)
			from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
			_, err := schedule.Expand(tm, schedule.Params{Location: loc, Start: from, From: from, To: from.AddDate(0, 0, 2)})
			var e *errs.Error
			if !errors.As(err, &e) || e.Field != tt.field || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("Expand(%s) in %s: %v, want %s: …%s…", tt.timing, zone, err, tt.field, tt.msg)
			}
			if _, _, err := schedule.Bounds(tm, loc); fieldOf(t, err) != tt.field {
				t.Errorf("Bounds(%s) in %s: %v, want an error on %s", tt.timing, zone, err, tt.field)
			}
		}
	}
}

func TestValidateProgrammaticValues(t *testing.T) {
	nan := 0.0
	nan /= nan
	tm := schedule.Timing{Repeat: &schedule.Repeat{Frequency: ptr(1), Period: &nan, PeriodUnit: "d"}}
	if got := fieldOf(t, tm.Validate(false)); got != "repeat.period" {
		t.Errorf("NaN period: Field = %q, want repeat.period", got)
	}
}

func TestExpandParams(t *testing.T) {
	ny := loadZone(t, "America/New_York")
	tm := decode(t, `{"repeat":{"timeOfDay":["08:00:00"]}}`)
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, ny)
	ok := schedule.Params{Location: ny, Start: from, From: from, To: from.AddDate(0, 0, 1)}
	tests := []struct {
		name  string
		edit  func(p *schedule.Params)
		field string
	}{
		{"no location", func(p *schedule.Params) { p.Location = nil }, "location"},
		{"to before from", func(p *schedule.Params) { p.To = p.From.Add(-time.Hour) }, "to"},
		{"window too long", func(p *schedule.Params) { p.To = p.From.AddDate(2, 0, 0) }, "to"},
		{"no start", func(p *schedule.Params) { p.Start = time.Time{} }, "start"},
		{"bad anchor", func(p *schedule.Params) {
			p.Anchors = schedule.DefaultAnchors()
			p.Anchors.Dinner = 25 * 60
		}, "anchors.dinner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.edit(&p)
			_, err := schedule.Expand(tm, p)
			if err == nil {
				t.Fatalf("Expand: no error, want one on %s", tt.field)
			}
			if got := fieldOf(t, err); got != tt.field {
				t.Errorf("Field = %q, want %q (error: %v)", got, tt.field, err)
			}
		})
	}
	if _, err := schedule.Expand(tm, ok); err != nil {
		t.Fatalf("valid params: %v", err)
	}
	if _, err := schedule.Expand(decode(t, `{"repeat":{"offset":5}}`), ok); fieldOf(t, err) != "repeat.offset" {
		t.Errorf("Expand of an invalid Timing: %v, want the Validate error", err)
	}
}

func ptr[T any](v T) *T { return &v }
