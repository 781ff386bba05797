package schedule_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/adherence/schedule"
)

func loadZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load zone %s: %v", name, err)
	}
	return loc
}

func decode(t testing.TB, js string) schedule.Timing {
	t.Helper()
	tm, err := schedule.DecodeTiming([]byte(js))
	if err != nil {
		t.Fatalf("DecodeTiming(%s): %v", js, err)
	}
	return tm
}

// local returns the wall time s ("2006-01-02T15:04") in loc.
func local(t testing.TB, loc *time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02T15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// dose is a compact expectation: UTC instant, Local and Seq.
type dose struct {
	Due   string
	Local string
	Seq   int
}

func compact(ds []schedule.Dose) []dose {
	out := []dose{}
	for _, d := range ds {
		if d.Due.Location() != time.UTC {
			panic("Due not in UTC")
		}
		out = append(out, dose{d.Due.Format(time.RFC3339), d.Local, d.Seq})
	}
	return out
}

func TestExpandDaylightSaving(t *testing.T) {
	const threeTimes = `{"repeat":{"timeOfDay":["01:30:00","02:30:00","08:00"]}}`
	tests := []struct {
		name string
		zone string
		from string // local day; the window is two local days
		want []dose
	}{
		{
			name: "New York spring forward: 02:30 moves to 03:30 EDT",
			zone: "America/New_York", from: "2026-03-07T00:00",
			want: []dose{
				{"2026-03-07T06:30:00Z", "2026-03-07T01:30", 19},
				{"2026-03-07T07:30:00Z", "2026-03-07T02:30", 20},
				{"2026-03-07T13:00:00Z", "2026-03-07T08:00", 21},
				{"2026-03-08T06:30:00Z", "2026-03-08T01:30", 22}, // 01:30 EST
				{"2026-03-08T07:30:00Z", "2026-03-08T02:30", 23}, // 03:30 EDT
				{"2026-03-08T12:00:00Z", "2026-03-08T08:00", 24}, // 08:00 EDT
			},
		},
		{
			name: "New York fall back: 01:30 once, at the EDT occurrence",
			zone: "America/New_York", from: "2026-10-31T00:00",
			want: []dose{
				{"2026-10-31T05:30:00Z", "2026-10-31T01:30", 733},
				{"2026-10-31T06:30:00Z", "2026-10-31T02:30", 734},
				{"2026-10-31T12:00:00Z", "2026-10-31T08:00", 735},
				{"2026-11-01T05:30:00Z", "2026-11-01T01:30", 736}, // 01:30 EDT, not EST
				{"2026-11-01T07:30:00Z", "2026-11-01T02:30", 737}, // 02:30 EST
				{"2026-11-01T13:00:00Z", "2026-11-01T08:00", 738}, // 08:00 EST
			},
		},
		{
			name: "London spring forward: 01:30 moves onto 02:30 BST and the 02:30 dose collapses into it",
			zone: "Europe/London", from: "2026-03-28T00:00",
			want: []dose{
				{"2026-03-28T01:30:00Z", "2026-03-28T01:30", 82},
				{"2026-03-28T02:30:00Z", "2026-03-28T02:30", 83},
				{"2026-03-28T08:00:00Z", "2026-03-28T08:00", 84},
				{"2026-03-29T01:30:00Z", "2026-03-29T01:30", 85}, // 02:30 BST
				{"2026-03-29T07:00:00Z", "2026-03-29T08:00", 87}, // Seq 86 shared 85's instant
			},
		},
		{
			name: "London fall back: 01:30 once, at the BST occurrence",
			zone: "Europe/London", from: "2026-10-24T00:00",
			want: []dose{
				{"2026-10-24T00:30:00Z", "2026-10-24T01:30", 712},
				{"2026-10-24T01:30:00Z", "2026-10-24T02:30", 713},
				{"2026-10-24T07:00:00Z", "2026-10-24T08:00", 714},
				{"2026-10-25T00:30:00Z", "2026-10-25T01:30", 715}, // 01:30 BST
				{"2026-10-25T02:30:00Z", "2026-10-25T02:30", 716}, // 02:30 GMT
				{"2026-10-25T08:00:00Z", "2026-10-25T08:00", 717},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc := loadZone(t, tt.zone)
			from := local(t, loc, tt.from)
			got, err := schedule.Expand(decode(t, threeTimes), schedule.Params{
				Location: loc,
				Start:    time.Date(2026, 3, 1, 0, 0, 0, 0, loc),
				From:     from,
				To:       from.AddDate(0, 0, 2),
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, compact(got)); diff != "" {
				t.Errorf("doses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExpandElapsedIntervalIgnoresDST(t *testing.T) {
	ny := loadZone(t, "America/New_York")
	tm := decode(t, `{"repeat":{"frequency":1,"period":8,"periodUnit":"h"}}`)
	got, err := schedule.Expand(tm, schedule.Params{
		Location: ny,
		Start:    local(t, ny, "2026-03-07T20:00"),
		From:     local(t, ny, "2026-03-07T00:00"),
		To:       local(t, ny, "2026-03-09T00:00"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []dose{
		{"2026-03-08T01:00:00Z", "2026-03-07T20:00", 1},
		{"2026-03-08T09:00:00Z", "2026-03-08T05:00", 2}, // 04:00 EST would be 05:00 EDT
		{"2026-03-08T17:00:00Z", "2026-03-08T13:00", 3},
		{"2026-03-09T01:00:00Z", "2026-03-08T21:00", 4},
	}
	if diff := cmp.Diff(want, compact(got)); diff != "" {
		t.Errorf("doses (-want +got):\n%s", diff)
	}
	for i := 1; i < len(got); i++ {
		if d := got[i].Due.Sub(got[i-1].Due); d != 8*time.Hour {
			t.Errorf("dose %d is %v after the previous one, want 8h", i, d)
		}
	}
}

func TestExpandRules(t *testing.T) {
	ny := loadZone(t, "America/New_York")
	custom := schedule.Anchors{Wake: 6 * 60, Breakfast: 6*60 + 30, Lunch: 11*60 + 30, Dinner: 17*60 + 30, Bed: 21*60 + 30}
	tests := []struct {
		name     string
		timing   string
		anchors  schedule.Anchors
		start    string // local, Params.Start
		from, to string // local
		asNeeded bool
		want     []dose
	}{
		{
			name:    "before-meal offset with custom anchors",
			timing:  `{"repeat":{"when":["ACM","ACV"],"offset":30}}`,
			anchors: custom,
			start:   "2026-03-02T00:00", from: "2026-03-02T00:00", to: "2026-03-03T00:00",
			want: []dose{
				{"2026-03-02T11:00:00Z", "2026-03-02T06:00", 1},
				{"2026-03-02T22:00:00Z", "2026-03-02T17:00", 2},
			},
		},
		{
			name:    "after-meal offset with custom anchors",
			timing:  `{"repeat":{"when":["PC"],"offset":60}}`,
			anchors: custom,
			start:   "2026-03-02T00:00", from: "2026-03-02T00:00", to: "2026-03-03T00:00",
			want: []dose{
				{"2026-03-02T12:30:00Z", "2026-03-02T07:30", 1},
				{"2026-03-02T17:30:00Z", "2026-03-02T12:30", 2},
				{"2026-03-02T23:30:00Z", "2026-03-02T18:30", 3},
			},
		},
		{
			name:    "HS offset counts before bed, WAKE after waking",
			timing:  `{"repeat":{"when":["WAKE","HS"],"offset":15}}`,
			anchors: custom,
			start:   "2026-03-02T00:00", from: "2026-03-02T00:00", to: "2026-03-03T00:00",
			want: []dose{
				{"2026-03-02T11:15:00Z", "2026-03-02T06:15", 1},
				{"2026-03-03T02:15:00Z", "2026-03-02T21:15", 2},
			},
		},
		{
			name:   "coinciding event times collapse (C covers CM, MORN is breakfast)",
			timing: `{"repeat":{"when":["C","CM","MORN"]}}`,
			start:  "2026-03-02T00:00", from: "2026-03-02T00:00", to: "2026-03-03T00:00",
			want: []dose{
				{"2026-03-02T12:30:00Z", "2026-03-02T07:30", 1},
				{"2026-03-02T17:00:00Z", "2026-03-02T12:00", 2},
				{"2026-03-02T23:00:00Z", "2026-03-02T18:00", 3},
			},
		},
		{
			name:   "IC: between meals",
			timing: `{"repeat":{"when":["IC"]}}`,
			start:  "2026-03-02T00:00", from: "2026-03-02T00:00", to: "2026-03-03T00:00",
			want: []dose{
				{"2026-03-02T14:45:00Z", "2026-03-02T09:45", 1},
				{"2026-03-02T20:00:00Z", "2026-03-02T15:00", 2},
				{"2026-03-03T01:00:00Z", "2026-03-02T20:00", 3},
			},
		},
		{
			name:   "timeOfDay in any order",
			timing: `{"repeat":{"timeOfDay":["20:00:00","08:00:00"]}}`,
			start:  "2026-03-02T00:00", from: "2026-03-02T00:00", to: "2026-03-03T00:00",
			want: []dose{
				{"2026-03-02T13:00:00Z", "2026-03-02T08:00", 1},
				{"2026-03-03T01:00:00Z", "2026-03-02T20:00", 2},
			},
		},
		{
			name:   "elapsed interval filtered by local weekday, Seq counting only kept doses",
			timing: `{"repeat":{"frequency":1,"period":12,"periodUnit":"h","dayOfWeek":["sat","sun"]}}`,
			start:  "2026-03-06T08:00", from: "2026-03-08T00:00", to: "2026-03-10T00:00",
			want: []dose{
				{"2026-03-08T13:00:00Z", "2026-03-08T09:00", 3}, // Fri 08:00 and 20:00 not counted; Sat 08:00, 20:00 are 1, 2
				{"2026-03-09T01:00:00Z", "2026-03-08T21:00", 4},
			},
		},
		{
			name:   "dayOfWeek filters days and Seq counts only dosing days",
			timing: `{"repeat":{"timeOfDay":["09:00:00"],"dayOfWeek":["mon","thu"]}}`,
			start:  "2026-03-01T00:00", from: "2026-03-09T00:00", to: "2026-03-16T00:00",
			want: []dose{
				{"2026-03-09T13:00:00Z", "2026-03-09T09:00", 3}, // Mon; Mar 2 and Mar 5 were 1 and 2
				{"2026-03-12T13:00:00Z", "2026-03-12T09:00", 4},
			},
		},
		{
			name:   "count counts from a start in the middle of the day",
			timing: `{"repeat":{"timeOfDay":["08:00:00","20:00:00"],"count":5}}`,
			start:  "2026-03-01T10:00", from: "2026-03-01T00:00", to: "2026-03-10T00:00",
			want: []dose{
				{"2026-03-02T01:00:00Z", "2026-03-01T20:00", 1},
				{"2026-03-02T13:00:00Z", "2026-03-02T08:00", 2},
				{"2026-03-03T01:00:00Z", "2026-03-02T20:00", 3},
				{"2026-03-03T13:00:00Z", "2026-03-03T08:00", 4},
				{"2026-03-04T01:00:00Z", "2026-03-03T20:00", 5},
			},
		},
		{
			name:   "count partly used before From",
			timing: `{"repeat":{"timeOfDay":["08:00:00","20:00:00"],"count":5}}`,
			start:  "2026-03-01T10:00", from: "2026-03-03T00:00", to: "2026-03-10T00:00",
			want: []dose{
				{"2026-03-03T13:00:00Z", "2026-03-03T08:00", 4},
				{"2026-03-04T01:00:00Z", "2026-03-03T20:00", 5},
			},
		},
		{
			name:   "count reached before From",
			timing: `{"repeat":{"timeOfDay":["08:00:00","20:00:00"],"count":5}}`,
			start:  "2026-03-01T10:00", from: "2026-03-04T00:00", to: "2026-03-10T00:00",
			want: []dose{},
		},
		{
			name:   "count with an elapsed interval",
			timing: `{"repeat":{"frequency":1,"period":12,"periodUnit":"h","count":3}}`,
			start:  "2026-03-01T09:00", from: "2026-03-01T12:00", to: "2026-03-10T00:00",
			want: []dose{
				{"2026-03-02T02:00:00Z", "2026-03-01T21:00", 2}, // Seq 1 was 09:00, before From
				{"2026-03-02T14:00:00Z", "2026-03-02T09:00", 3},
			},
		},
		{
			name:   "boundsPeriod of dates: local midnight to the end of the local day",
			timing: `{"repeat":{"timeOfDay":["00:00:00","23:59:00"],"boundsPeriod":{"start":"2026-03-02","end":"2026-03-03"}}}`,
			start:  "2026-01-01T00:00", from: "2026-03-01T00:00", to: "2026-03-10T00:00",
			want: []dose{
				{"2026-03-02T05:00:00Z", "2026-03-02T00:00", 1},
				{"2026-03-03T04:59:00Z", "2026-03-02T23:59", 2},
				{"2026-03-03T05:00:00Z", "2026-03-03T00:00", 3},
				{"2026-03-04T04:59:00Z", "2026-03-03T23:59", 4},
			},
		},
		{
			name:   "boundsPeriod of dateTimes: end inclusive",
			timing: `{"repeat":{"timeOfDay":["08:00:00","20:00:00"],"boundsPeriod":{"start":"2026-03-02T12:00:00-05:00","end":"2026-03-03T13:00:00Z"}}}`,
			from:   "2026-03-01T00:00", to: "2026-03-10T00:00",
			want: []dose{
				{"2026-03-03T01:00:00Z", "2026-03-02T20:00", 1},
				{"2026-03-03T13:00:00Z", "2026-03-03T08:00", 2},
			},
		},
		{
			name:   "BID default times: breakfast and dinner",
			timing: `{"repeat":{"frequency":2,"period":1,"periodUnit":"d"}}`,
			start:  "2026-03-02T00:00", from: "2026-03-02T00:00", to: "2026-03-03T00:00",
			want: []dose{
				{"2026-03-02T12:30:00Z", "2026-03-02T07:30", 1},
				{"2026-03-02T23:00:00Z", "2026-03-02T18:00", 2},
			},
		},
		{
			name:   "TID default times: the three meals",
			timing: `{"repeat":{"frequency":3,"period":1,"periodUnit":"d"}}`,
			start:  "2026-03-02T00:00", from: "2026-03-02T00:00", to: "2026-03-03T00:00",
			want: []dose{
				{"2026-03-02T12:30:00Z", "2026-03-02T07:30", 1},
				{"2026-03-02T17:00:00Z", "2026-03-02T12:00", 2},
				{"2026-03-02T23:00:00Z", "2026-03-02T18:00", 3},
			},
		},
		{
			name:    "QID default times follow custom anchors",
			timing:  `{"repeat":{"frequency":4,"period":1,"periodUnit":"d"}}`,
			anchors: custom,
			start:   "2026-03-02T00:00", from: "2026-03-02T00:00", to: "2026-03-03T00:00",
			want: []dose{
				{"2026-03-02T11:30:00Z", "2026-03-02T06:30", 1},
				{"2026-03-02T16:30:00Z", "2026-03-02T11:30", 2},
				{"2026-03-02T22:30:00Z", "2026-03-02T17:30", 3},
				{"2026-03-03T02:30:00Z", "2026-03-02T21:30", 4},
			},
		},
		{
			name:   "five a day spread from wake to bed",
			timing: `{"repeat":{"frequency":5,"period":1,"periodUnit":"d"}}`,
			start:  "2026-03-02T00:00", from: "2026-03-02T00:00", to: "2026-03-03T00:00",
			want: []dose{
				{"2026-03-02T12:00:00Z", "2026-03-02T07:00", 1},
				{"2026-03-02T15:45:00Z", "2026-03-02T10:45", 2},
				{"2026-03-02T19:30:00Z", "2026-03-02T14:30", 3},
				{"2026-03-02T23:15:00Z", "2026-03-02T18:15", 4},
				{"2026-03-03T03:00:00Z", "2026-03-02T22:00", 5},
			},
		},
		{
			name:     "PRN has no doses",
			timing:   `{"repeat":{"frequency":1,"period":4,"periodUnit":"h"}}`,
			asNeeded: true,
			start:    "2026-03-02T00:00", from: "2026-03-02T00:00", to: "2026-03-03T00:00",
			want: []dose{},
		},
		{
			name:   "every 2 days counted from the start date",
			timing: `{"repeat":{"frequency":1,"period":2,"periodUnit":"d"}}`,
			start:  "2026-03-01T00:00", from: "2026-03-04T00:00", to: "2026-03-09T00:00",
			want: []dose{
				{"2026-03-05T12:30:00Z", "2026-03-05T07:30", 3},
				{"2026-03-07T12:30:00Z", "2026-03-07T07:30", 4},
			},
		},
		{
			name:   "every 2 days at two clock times",
			timing: `{"repeat":{"timeOfDay":["08:00:00","20:00:00"],"frequency":2,"period":2,"periodUnit":"d"}}`,
			start:  "2026-03-01T00:00", from: "2026-03-03T00:00", to: "2026-03-05T00:00",
			want: []dose{
				{"2026-03-03T13:00:00Z", "2026-03-03T08:00", 3},
				{"2026-03-04T01:00:00Z", "2026-03-03T20:00", 4},
			},
		},
		{
			name:   "three times a week spread over the week from the start day",
			timing: `{"repeat":{"frequency":3,"period":1,"periodUnit":"wk"}}`,
			start:  "2026-03-02T00:00", from: "2026-03-02T00:00", to: "2026-03-10T00:00",
			want: []dose{
				{"2026-03-02T12:30:00Z", "2026-03-02T07:30", 1}, // Monday
				{"2026-03-04T12:30:00Z", "2026-03-04T07:30", 2}, // Wednesday
				{"2026-03-06T12:30:00Z", "2026-03-06T07:30", 3}, // Friday
				{"2026-03-09T11:30:00Z", "2026-03-09T07:30", 4}, // Monday, EDT
			},
		},
		{
			name:   "every other week on listed weekdays",
			timing: `{"repeat":{"timeOfDay":["09:00:00"],"period":2,"periodUnit":"wk","dayOfWeek":["tue"]}}`,
			start:  "2026-03-04T00:00", from: "2026-03-01T00:00", to: "2026-04-01T00:00",
			want: []dose{
				{"2026-03-17T13:00:00Z", "2026-03-17T09:00", 1}, // Mar 3 is before the start
				{"2026-03-31T13:00:00Z", "2026-03-31T09:00", 2},
			},
		},
		{
			name:   "monthly on the start day, clamped to short months",
			timing: `{"repeat":{"timeOfDay":["09:00:00"],"period":1,"periodUnit":"mo"}}`,
			start:  "2026-01-31T00:00", from: "2026-02-01T00:00", to: "2026-05-01T00:00",
			want: []dose{
				{"2026-02-28T14:00:00Z", "2026-02-28T09:00", 2},
				{"2026-03-31T13:00:00Z", "2026-03-31T09:00", 3},
				{"2026-04-30T13:00:00Z", "2026-04-30T09:00", 4},
			},
		},
		{
			name:   "events are one-off doses",
			timing: `{"event":["2026-03-03T09:00:00","2026-03-02T08:00:00-05:00","2026-03-02T13:00:00Z","2026-04-01T09:00:00Z"]}`,
			from:   "2026-03-01T00:00", to: "2026-03-10T00:00",
			want: []dose{
				{"2026-03-02T13:00:00Z", "2026-03-02T08:00", 1}, // two spellings of one instant
				{"2026-03-03T14:00:00Z", "2026-03-03T09:00", 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := schedule.Params{
				Location: ny,
				Anchors:  tt.anchors,
				From:     local(t, ny, tt.from),
				To:       local(t, ny, tt.to),
				AsNeeded: tt.asNeeded,
			}
			if tt.start != "" {
				p.Start = local(t, ny, tt.start)
			}
			got, err := schedule.Expand(decode(t, tt.timing), p)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, compact(got)); diff != "" {
				t.Errorf("doses (-want +got):\n%s", diff)
			}
		})
	}
}
