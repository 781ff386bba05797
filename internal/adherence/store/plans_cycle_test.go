package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
)

// everyOtherDay is a timing of one dose every two days at 08:00, its
// cycle counted from boundsStart (or the plan's startAt when empty).
func everyOtherDay(boundsStart string) schedule.Timing {
	one, two := 1, 2.0
	r := &schedule.Repeat{Frequency: &one, Period: &two, PeriodUnit: "d", TimeOfDay: []string{"08:00"}}
	if boundsStart != "" {
		r.BoundsPeriod = &schedule.Period{Start: boundsStart}
	}
	return schedule.Timing{Repeat: r}
}

// TestEveryOtherDayAnchorChange moves the cycle of an every-other-day plan
// by a day (by its startAt or its boundsPeriod.start) after the next
// dose, on the old cycle, was skipped in advance: from the change on,
// exactly the doses of the new cycle exist. The skipped dose of a day no
// longer a dosing day stands for no new dose and is deleted, its skip
// orphaned; it was taken for the new cycle's dose of its Seq, a day
// later, which was not scheduled.
func TestEveryOtherDayAnchorChange(t *testing.T) {
	cases := []struct {
		name   string
		change func(pl *adherence.Plan)
	}{
		{name: "startAt", change: func(pl *adherence.Plan) { pl.StartAt = start.Add(day) }},
		{name: "boundsPeriod.start", change: func(pl *adherence.Plan) { pl.Timing = everyOtherDay("2026-03-02") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("UTC")
				pl := f.plan(p.ID, everyOtherDay(""))   // 03-01, 03-03, 03-05, 03-07 …
				f.now = start.Add(5*day + 10*time.Hour) // 03-06 10:00
				var next adherence.DoseInstance
				for _, d := range f.allDoses(pl.ID) {
					if d.LocalTime == "2026-03-07T08:00" {
						next = d
					}
				}
				skip := f.ev(p.ID, pl.ID, adherence.EventSkipped, f.now, "c-1")
				skip.Event.RequestedDose = next.ID
				if out := f.record(skip); out[0].Err != nil || out[0].Event.Result != adherence.ResultScored {
					t.Fatalf("record skip: %+v", out[0])
				}
				tc.change(&pl)
				f.updatePlanTwice(&pl, f.now.Add(-2*day), f.now.Add(6*day), localAndStatus, []string{"2026-03-05T08:00 scheduled",
					"2026-03-08T08:00 scheduled", "2026-03-10T08:00 scheduled", "2026-03-12T08:00 scheduled"})
				// The skip is kept, an orphan: its dose is no longer part
				// of the plan.
				if n := f.count(`SELECT COUNT(*) FROM events WHERE client_event_id = 'c-1' AND result = 'orphan'`); n != 1 {
					t.Errorf("the skip of the dose of 03-07 is not an orphan")
				}
			})
		})
	}
}

// TestEveryOtherDayAnchorChangeEndsTheDueDose moves the cycle of an
// every-other-day plan by a day an hour after the day's 08:00 dose, on the
// old cycle, fell due: that date is no longer a dosing day, and its dose,
// still without an outcome, stands for none. It is excluded, as the rest
// of the old cycle is deleted: a taking reported for it scores nothing,
// and it is never marked missed. It stayed scheduled, so a taking scored
// it and, without one, the missed-dose job marked it missed and escalated
// a dose the plan no longer has. Taken before the change, it keeps its
// outcome.
func TestEveryOtherDayAnchorChangeEndsTheDueDose(t *testing.T) {
	cases := []struct {
		name   string
		change func(pl *adherence.Plan)
		taken  bool // the 08:00 dose of 03-05 taken before the change
		want   string
	}{
		{name: "startAt", change: func(pl *adherence.Plan) { pl.StartAt = start.Add(day) }, want: "excluded"},
		{name: "boundsPeriod.start", change: func(pl *adherence.Plan) { pl.Timing = everyOtherDay("2026-03-02") }, want: "excluded"},
		{name: "taken before the change", change: func(pl *adherence.Plan) { pl.StartAt = start.Add(day) }, taken: true, want: "taken_on_time"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("UTC")
				pl := f.plan(p.ID, everyOtherDay(""))  // 03-01, 03-03, 03-05, 03-07 …
				f.now = start.Add(4*day + 9*time.Hour) // 03-05 09:00
				if tc.taken {
					if out := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, start.Add(4*day+8*time.Hour+10*time.Minute), "c-0")); out[0].Event.Result != adherence.ResultScored {
						t.Fatalf("record taking: %+v", out[0])
					}
				}
				tc.change(&pl)
				f.updatePlanTwice(&pl, start.Add(4*day), start.Add(10*day), localAndStatus, []string{"2026-03-05T08:00 " + tc.want,
					"2026-03-06T08:00 scheduled", "2026-03-08T08:00 scheduled", "2026-03-10T08:00 scheduled"})
				if tc.taken {
					return
				}
				// A taking reported now scores no dose, and nothing is
				// marked missed once the old dose's window has closed.
				f.now = f.now.Add(20 * time.Minute)
				if out := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "c-1")); out[0].Err != nil || out[0].Event.Result == adherence.ResultScored {
					t.Errorf("a taking at 09:20 was %s (dose %d), want it to score no dose", out[0].Event.Result, out[0].Event.DoseInstanceID)
				}
				f.now = start.Add(4*day + 12*time.Hour)
				if _, err := f.s.MarkMissed(f.ctx, f.now); err != nil {
					t.Fatal(err)
				}
				if n := f.count(`SELECT COUNT(*) FROM dose_instances WHERE plan_id = $1 AND status = 'missed' AND due_at >= $2`, pl.ID, start.Add(4*day)); n != 0 {
					t.Errorf("%d doses from 03-05 on marked missed, want none", n)
				}
			})
		})
	}
}

// TestTimingChangeFarFromTheDoseOfTheDay changes a twice-daily plan from
// 08:00 and 20:00 to 13:00 and 21:00 at noon: the morning dose, five
// hours from its new time, stands for the day's first dose by its rank.
// Taken, it ends that occurrence, and the day has two doses; still
// without an outcome, it moves to 13:00 and is excluded, as a pending
// dose does after a move of zone. Beyond 3 h it stood for nothing, and a
// third dose was scheduled at 13:00 beside it.
func TestTimingChangeFarFromTheDoseOfTheDay(t *testing.T) {
	cases := []struct {
		name  string
		taken bool
		want  []string // doses of 2026-03-04
	}{
		{name: "taken", taken: true, want: []string{"08:00 taken_on_time", "21:00 scheduled"}},
		{name: "pending", want: []string{"08:00 excluded", "13:00 scheduled", "21:00 scheduled"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("UTC")
				pl := f.plan(p.ID, timeOfDay("08:00", "20:00"))
				today := start.Add(3 * day) // 2026-03-04
				if tc.taken {
					f.now = today.Add(8*time.Hour + 5*time.Minute)
					if out := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "c-1")); out[0].Event.DoseStatus != adherence.DoseTakenOnTime {
						t.Fatalf("taking: %+v", out[0])
					}
				}
				f.now = today.Add(12 * time.Hour)
				pl.Timing = timeOfDay("13:00", "21:00")
				f.updatePlanTwice(&pl, today, today.Add(day), clockAndStatus, tc.want)
			})
		})
	}
}

// TestBoundsStartMovedLaterExcludesEarlierDoses moves the start of a
// daily plan two days ahead, by startAt or by boundsPeriod.start (a date
// in the patient's zone): the doses already materialised before the new
// start, due or not, are excluded, so none is marked missed. Moving
// boundsPeriod.start left the ones already due scheduled, to be missed
// and escalated.
func TestBoundsStartMovedLaterExcludesEarlierDoses(t *testing.T) {
	cases := []struct {
		name   string
		change func(pl *adherence.Plan)
	}{
		{name: "startAt", change: func(pl *adherence.Plan) { pl.StartAt = local(2026, 3, 6, 0, 0) }},
		{name: "boundsPeriod.start", change: func(pl *adherence.Plan) {
			pl.Timing = schedule.Timing{Repeat: &schedule.Repeat{TimeOfDay: []string{"08:00"},
				BoundsPeriod: &schedule.Period{Start: "2026-03-06"}}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("America/New_York")
				pl := f.plan(p.ID, timeOfDay("08:00"))
				f.now = local(2026, 3, 4, 10, 0)
				tc.change(&pl)
				if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
					t.Fatal(err)
				}
				if _, err := f.s.MarkMissed(f.ctx, f.now); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, d := range f.doses(pl.ID, local(2026, 3, 3, 0, 0), local(2026, 3, 8, 0, 0)) {
					got = append(got, d.LocalTime+" "+string(d.Status))
				}
				want := []string{"2026-03-03T08:00 excluded", "2026-03-04T08:00 excluded",
					"2026-03-06T08:00 scheduled", "2026-03-07T08:00 scheduled"}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Fatalf("doses:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			})
		})
	}
}

// TestSkipInAdvanceOfAFuturePlansFirstDose skips, the evening before, the
// first dose of a plan that starts at midnight: a skip naming its dose is
// accepted up to a day ahead, the plan's first dose too, and scores it.
// It was refused as before the plan started. A taking that early is
// still refused.
func TestSkipInAdvanceOfAFuturePlansFirstDose(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC")
		pl := adherence.Plan{
			OrgID: f.org, PatientID: p.ID, Medication: adherence.Medication{RxNorm: "314076", Display: "lisinopril 10 MG Oral Tablet"},
			Dose: "1 tablet", DaysSupply: 30, StartAt: start.Add(2 * day), Timing: timeOfDay("08:00"),
		}
		if err := f.s.CreatePlan(f.ctx, f.actor, &pl); err != nil {
			t.Fatal(err)
		}
		first := f.allDoses(pl.ID)[0]
		if first.LocalTime != "2026-03-03T08:00" {
			t.Fatalf("first dose = %+v, want 2026-03-03T08:00", first)
		}
		f.now = start.Add(day + 20*time.Hour) // 2026-03-02 20:00
		taken := f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "taken")
		taken.Event.RequestedDose = first.ID
		if out := f.record(taken); out[0].Err == nil {
			t.Errorf("a taking before the plan's start was accepted: %+v", out[0].Event)
		}
		skip := f.ev(p.ID, pl.ID, adherence.EventSkipped, f.now, "skip")
		skip.Event.RequestedDose = first.ID
		out := f.record(skip)
		if out[0].Err != nil || out[0].Event.DoseStatus != adherence.DoseSkipped {
			t.Fatalf("skip in advance of the first dose: %+v, want it scored skipped", out[0])
		}
	})
}

// TestTimeZoneMoveEastKeepsTheDaysDose moves a patient from Los Angeles
// to Tokyo at 06:00 Los Angeles time, before the day's 08:00 dose: 08:00
// of that date in Tokyo is already past, so the Los Angeles dose is kept
// for the day's occurrence rather than deleted. It was deleted as not in
// the new schedule, and the date had no dose at all.
func TestTimeZoneMoveEastKeepsTheDaysDose(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/Los_Angeles")
		pl := f.plan(p.ID, timeOfDay("08:00"))
		f.now = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC) // 06:00 in Los Angeles, 23:00 in Tokyo
		p.TimeZone = "Asia/Tokyo"
		f.updatePatientTwice(&p, pl.ID, f.now.Add(-2*time.Hour), time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), utcLocalAndStatus, []string{
			"2026-03-02T16:00:00Z 2026-03-02T08:00 scheduled",
			"2026-03-02T23:00:00Z 2026-03-03T08:00 scheduled",
			"2026-03-03T23:00:00Z 2026-03-04T08:00 scheduled",
		})
	})
}

// TestTimeZoneMoveAcrossTheDateLineKeepsOneDoseADay moves patients east
// across most of the day: a dose still ahead whose wall time is past in
// the new zone is kept for its day, unless the next day's new dose falls
// within 3 hours of it, which then is the day's dose. Honolulu to
// Auckland (23 hours) put that dose an hour after the kept one, and Pago
// Pago to Kiritimati (25 hours) an hour before it: a once-daily plan due
// twice in an hour (QA).
func TestTimeZoneMoveAcrossTheDateLineKeepsOneDoseADay(t *testing.T) {
	for _, c := range []struct {
		from, to string
		at       []string
		now      time.Time
		want     []string
	}{
		{"Pacific/Honolulu", "Pacific/Auckland", []string{"15:18"}, time.Date(2026, 3, 3, 3, 18, 0, 0, time.UTC), []string{
			"2026-03-03T01:18:00Z 2026-03-02T15:18", // due two hours ago
			"2026-03-04T02:18:00Z 2026-03-04T15:18", // not also 2026-03-04T01:18Z, Honolulu's 15:18 of 03-03
			"2026-03-05T02:18:00Z 2026-03-05T15:18",
		}},
		{"Pacific/Pago_Pago", "Pacific/Kiritimati", []string{"16:20"}, time.Date(2026, 3, 3, 3, 17, 0, 0, time.UTC), []string{
			"2026-03-03T03:20:00Z 2026-03-02T16:20", // 3 minutes ahead, kept: 16:20 of 03-03 in Kiritimati was an hour ago
			"2026-03-04T02:20:00Z 2026-03-04T16:20", // not also 2026-03-04T03:20Z, Pago Pago's 16:20 of 03-03
			"2026-03-05T02:20:00Z 2026-03-05T16:20",
		}},
		// Twice a day: each Honolulu dose kept for its day had Auckland's
		// dose of the same time an hour later.
		{"Pacific/Honolulu", "Pacific/Auckland", []string{"09:00", "21:00"}, time.Date(2026, 3, 3, 3, 18, 0, 0, time.UTC), []string{
			"2026-03-03T08:00:00Z 2026-03-03T21:00", // not also 2026-03-03T07:00Z, Honolulu's 21:00 of 03-02
			"2026-03-03T20:00:00Z 2026-03-04T09:00", // not also 2026-03-03T19:00Z, Honolulu's 09:00 of 03-03
			"2026-03-04T08:00:00Z 2026-03-04T21:00",
			"2026-03-04T20:00:00Z 2026-03-05T09:00",
			"2026-03-05T08:00:00Z 2026-03-05T21:00",
		}},
	} {
		t.Run(c.to+" "+strings.Join(c.at, ","), func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				f.now = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
				p := f.patient(c.from)
				pl := f.plan(p.ID, timeOfDay(c.at...))
				f.now = c.now
				p.TimeZone = c.to
				f.updatePatientTwice(&p, pl.ID, f.now.Add(-3*time.Hour), time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC), func(d adherence.DoseInstance) string {
					if d.Status != adherence.DoseScheduled {
						t.Errorf("dose %s is %s", d.DueAt.UTC().Format(time.RFC3339), d.Status)
					}
					return d.DueAt.UTC().Format(time.RFC3339) + " " + d.LocalTime
				}, c.want)
			})
		})
	}
}

// TestTimingChangeAfterAMoveEastKeepsTheDaysDose changes the time of the
// daily dose after the move of TestTimeZoneMoveEastKeepsTheDaysDose,
// before the Los Angeles dose kept for the day is due: that dose is the
// day's, whose new time in Tokyo is past as well, so it stays, as a dose
// of the last 24 h does. It was deleted as not in the new schedule, and
// the day had no dose again.
func TestTimingChangeAfterAMoveEastKeepsTheDaysDose(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/Los_Angeles")
		pl := f.plan(p.ID, timeOfDay("08:00"))
		f.now = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC) // 06:00 in Los Angeles, 23:00 in Tokyo
		p.TimeZone = "Asia/Tokyo"
		if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(90 * time.Minute) // 00:30 in Tokyo, the Los Angeles dose due at 16:00
		pl.Timing = timeOfDay("09:00")
		f.updatePlanTwice(&pl, f.now.Add(-2*time.Hour), time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC), utcLocalAndStatus, []string{
			"2026-03-02T16:00:00Z 2026-03-02T08:00 scheduled",
			"2026-03-03T00:00:00Z 2026-03-03T09:00 scheduled",
			"2026-03-04T00:00:00Z 2026-03-04T09:00 scheduled",
		})
	})
}

// TestTimingChangeToAnHourAlreadyPastKeepsTheDaysDose moves a daily dose
// still ahead to an hour already past that day: at 07:00 the 08:00 dose
// becomes 06:00. The new dose of its rank that day is past, so the 08:00
// dose is kept for the day's occurrence, as after a move east, and the
// new time starts the next day; a change twice as far, two doses a day
// moved before 07:00, keeps both. The dose was deleted as not in the new
// schedule and the 06:00 one was never created, so the day had no dose.
func TestTimingChangeToAnHourAlreadyPastKeepsTheDaysDose(t *testing.T) {
	cases := []struct {
		name          string
		before, after schedule.Timing
		want          []string // doses of 2026-03-04 and 2026-03-05
	}{
		{name: "one dose", before: timeOfDay("08:00"), after: timeOfDay("06:00"),
			want: []string{"2026-03-04T08:00 scheduled", "2026-03-05T06:00 scheduled"}},
		{name: "two doses", before: timeOfDay("08:00", "20:00"), after: timeOfDay("05:00", "06:00"),
			want: []string{"2026-03-04T08:00 scheduled", "2026-03-04T20:00 scheduled",
				"2026-03-05T05:00 scheduled", "2026-03-05T06:00 scheduled"}},
		{name: "one of two doses", before: timeOfDay("08:00", "20:00"), after: timeOfDay("06:00", "19:00"),
			want: []string{"2026-03-04T08:00 scheduled", "2026-03-04T19:00 scheduled",
				"2026-03-05T06:00 scheduled", "2026-03-05T19:00 scheduled"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("America/New_York")
				pl := f.plan(p.ID, tc.before)
				f.now = local(2026, 3, 4, 7, 0).UTC()
				pl.Timing = tc.after
				f.updatePlanTwice(&pl, local(2026, 3, 4, 0, 0), local(2026, 3, 6, 0, 0), localAndStatus, tc.want)
			})
		})
	}
}

// TestTimingChangeOfTheDosesADayToHoursAlreadyPastKeepsTheDaysDose
// changes the number of doses a day to times already past that day. At
// 19:00 one dose a day at 20:00 becomes two, at 08:00 and 18:00: the
// 20:00 dose, first of its day as 08:00 is, stands for that new dose,
// already past, and is kept; skipped in advance, it keeps its skip. Three
// doses a day at 08:00, 14:00 and 20:00 becoming one at 06:00 at 07:00
// keep the 08:00 dose for the day's one dose, and drop 14:00 and 20:00,
// which stand for no new dose; at 15:00, to 08:00, the day's one dose was
// the 08:00 one, already due, and 20:00 is dropped (as its skip in
// advance is, see TestTimingChangeRenumberedSeq). The rank rule held only
// for a date that keeps its number of doses: the 20:00 dose was deleted as
// not in the new schedule and the new doses of the day were past, so the
// day had no dose left though the patient was due to take one that night.
func TestTimingChangeOfTheDosesADayToHoursAlreadyPastKeepsTheDaysDose(t *testing.T) {
	cases := []struct {
		name          string
		before, after schedule.Timing
		at            int      // hour of 2026-03-04 of the change
		skip          bool     // the 20:00 dose of 2026-03-04 skipped in advance
		want          []string // doses of 2026-03-04 and 2026-03-05
	}{
		{name: "one to two a day", before: timeOfDay("20:00"), after: timeOfDay("08:00", "18:00"), at: 19,
			want: []string{"2026-03-04T20:00 scheduled", "2026-03-05T08:00 scheduled", "2026-03-05T18:00 scheduled"}},
		{name: "one to two a day, skipped", before: timeOfDay("20:00"), after: timeOfDay("08:00", "18:00"), at: 19, skip: true,
			want: []string{"2026-03-04T20:00 skipped", "2026-03-05T08:00 scheduled", "2026-03-05T18:00 scheduled"}},
		{name: "three to one a day before the first", before: timeOfDay("08:00", "14:00", "20:00"), after: timeOfDay("06:00"), at: 7,
			want: []string{"2026-03-04T08:00 scheduled", "2026-03-05T06:00 scheduled"}},
		{name: "three to one a day after two", before: timeOfDay("08:00", "14:00", "20:00"), after: timeOfDay("08:00"), at: 15,
			want: []string{"2026-03-04T08:00 scheduled", "2026-03-04T14:00 scheduled", "2026-03-05T08:00 scheduled"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("America/New_York")
				pl := f.plan(p.ID, tc.before)
				f.now = local(2026, 3, 4, tc.at, 0).UTC()
				if tc.skip {
					var evening adherence.DoseInstance
					for _, d := range f.allDoses(pl.ID) {
						if d.LocalTime == "2026-03-04T20:00" {
							evening = d
						}
					}
					skip := f.ev(p.ID, pl.ID, adherence.EventSkipped, f.now, "c-1")
					skip.Event.RequestedDose = evening.ID
					if out := f.record(skip); out[0].Err != nil || out[0].Event.Result != adherence.ResultScored {
						t.Fatalf("record skip: %+v", out[0])
					}
				}
				pl.Timing = tc.after
				f.updatePlanTwice(&pl, local(2026, 3, 4, 0, 0), local(2026, 3, 6, 0, 0), localAndStatus, tc.want)
				if tc.skip {
					if n := f.count(`SELECT COUNT(*) FROM events WHERE client_event_id = 'c-1' AND result = 'scored'`); n != 1 {
						t.Errorf("the skip of the 20:00 dose is no longer scored")
					}
				}
			})
		})
	}
}

// TestTimeZoneMoveKeepsTheDoseKeptForItsDay moves the patient of
// TestTimingChangeToAnHourAlreadyPastKeepsTheDaysDose, whose 08:00 dose
// was kept for 2026-03-04 when the time became 06:00 at 07:00 in New
// York, ten minutes later, before that dose is due. Where 06:00 of that
// date is already past in the new zone (Chicago, London, Tokyo), the New
// York dose stands for it, by rank on its date, and is kept at its old
// instant; where 06:00 is still ahead (Los Angeles), or falls at the kept
// dose's instant (Denver), the day's dose is the new one, and the kept
// one gives way to it. The kept dose was deleted as not in the new
// schedule, its wall time naming no new dose, and with 06:00 past the
// day had no dose left.
func TestTimeZoneMoveKeepsTheDoseKeptForItsDay(t *testing.T) {
	cases := []struct {
		zone string
		want []string // doses due from 2026-03-04 to 2026-03-06 UTC
	}{
		{zone: "America/Chicago", want: []string{ // 06:10 there
			"2026-03-04T13:00:00Z 2026-03-04T08:00 scheduled",
			"2026-03-05T12:00:00Z 2026-03-05T06:00 scheduled"}},
		{zone: "Europe/London", want: []string{ // 12:10 there
			"2026-03-04T13:00:00Z 2026-03-04T08:00 scheduled",
			"2026-03-05T06:00:00Z 2026-03-05T06:00 scheduled"}},
		{zone: "Asia/Tokyo", want: []string{ // 21:10 there
			"2026-03-04T13:00:00Z 2026-03-04T08:00 scheduled",
			"2026-03-04T21:00:00Z 2026-03-05T06:00 scheduled",
			"2026-03-05T21:00:00Z 2026-03-06T06:00 scheduled"}},
		{zone: "America/Los_Angeles", want: []string{ // 04:10 there
			"2026-03-04T14:00:00Z 2026-03-04T06:00 scheduled",
			"2026-03-05T14:00:00Z 2026-03-05T06:00 scheduled"}},
		{zone: "America/Denver", want: []string{ // 05:10 there
			"2026-03-04T13:00:00Z 2026-03-04T06:00 scheduled",
			"2026-03-05T13:00:00Z 2026-03-05T06:00 scheduled"}},
	}
	for _, tc := range cases {
		t.Run(tc.zone, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("America/New_York")
				pl := f.plan(p.ID, timeOfDay("08:00"))
				f.now = local(2026, 3, 4, 7, 0).UTC()
				pl.Timing = timeOfDay("06:00")
				if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
					t.Fatal(err)
				}
				f.now = f.now.Add(10 * time.Minute)
				p.TimeZone = tc.zone
				f.updatePatientTwice(&p, pl.ID, time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC), utcLocalAndStatus, tc.want)
			})
		})
	}
}

// TestTimingChangeKeepsTheRankOfADayBesideANearNewDose: three doses a day
// at 08:00, 14:00 and 20:00 changed at 13:00 to 06:00, 12:00 and 16:00:
// the day's second dose is the 14:00 one, kept since 12:00 has passed,
// beside the new 16:00, so the day keeps its three doses. Dropping a kept
// dose for a new one within 3 hours is for zone moves (see
// TestTimeZoneMoveAcrossTheDateLineKeepsOneDoseADay); applied to timing
// changes too, it left this day two doses.
func TestTimingChangeKeepsTheRankOfADayBesideANearNewDose(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00", "14:00", "20:00"))
		f.now = time.Date(2026, 3, 3, 18, 0, 0, 0, time.UTC) // 13:00 in New York
		pl.Timing = timeOfDay("06:00", "12:00", "16:00")
		if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range f.doses(pl.ID, time.Date(2026, 3, 3, 5, 0, 0, 0, time.UTC), time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)) {
			got = append(got, d.LocalTime)
		}
		want := []string{"2026-03-03T08:00", "2026-03-03T14:00", "2026-03-03T16:00"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("doses of 2026-03-03 after the change: %v, want %v", got, want)
		}
	})
}

// TestTimeZoneMoveAfterADoseTakenEarly: a once-daily dose taken 20
// minutes early in Honolulu, still due ahead, stands for its day; after a
// move to Auckland the next day's dose there would fall an hour after it,
// and gives way: the patient who had just taken the pill was reminded an
// hour later, and marked missed without a second one (QA).
func TestTimeZoneMoveAfterADoseTakenEarly(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		p := f.patient("Pacific/Honolulu")
		pl := f.plan(p.ID, timeOfDay("17:38"))
		f.now = time.Date(2026, 3, 3, 3, 18, 0, 0, time.UTC) // 17:18 in Honolulu, 16:18 in Auckland
		ds := f.doses(pl.ID, f.now, f.now.Add(time.Hour))
		if len(ds) != 1 {
			t.Fatalf("doses in the next hour: %+v, want the 17:38 one", ds)
		}
		taken := f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "early")
		taken.Event.RequestedDose = ds[0].ID
		if out := f.record(taken); out[0].Err != nil || out[0].Event.DoseStatus != adherence.DoseTakenOnTime {
			t.Fatalf("taking 20 minutes early: %+v", out[0])
		}
		p.TimeZone = "Pacific/Auckland"
		f.updatePatientTwice(&p, pl.ID, f.now.Add(-time.Hour), time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC), utcLocalAndStatus, []string{
			"2026-03-03T03:38:00Z 2026-03-02T17:38 taken_on_time",
			// not 2026-03-03T04:38Z, Auckland's 17:38 of 03-03, an hour after
			"2026-03-04T04:38:00Z 2026-03-04T17:38 scheduled",
			"2026-03-05T04:38:00Z 2026-03-05T17:38 scheduled",
		})
	})
}

// TestTimeZoneMoveKeepsTheDosesItsScheduleSpacesClosely: four doses a day
// at 01:16, 05:16, 09:16 and 21:16, the 21:16 one taken 30 minutes early
// in Los Angeles, then a move to Chicago: the taken dose stands for
// Saturday's 21:16 (23:16 in Chicago), and Sunday's 01:16, 2 hours after
// it, is a dose the schedule itself spaces 4 hours from its neighbours: it
// stays. With 3 hours as the distance a new dose must keep from a dose
// that stays, Sunday had three doses (QA).
func TestTimeZoneMoveKeepsTheDosesItsScheduleSpacesClosely(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
		p := f.patient("America/Los_Angeles")
		pl := f.plan(p.ID, timeOfDay("01:16", "05:16", "09:16", "21:16"))
		f.now = time.Date(2026, 2, 15, 4, 46, 0, 0, time.UTC) // Saturday 20:46 in Los Angeles
		f.takeNextEarly(p.ID, pl.ID, "early")
		p.TimeZone = "America/Chicago"
		if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
			t.Fatal(err)
		}
		chicago, _ := time.LoadLocation("America/Chicago")
		var sunday []string
		for _, d := range f.doses(pl.ID, time.Date(2026, 2, 15, 0, 0, 0, 0, chicago), time.Date(2026, 2, 16, 0, 0, 0, 0, chicago)) {
			sunday = append(sunday, d.DueAt.In(chicago).Format("15:04"))
		}
		if want := []string{"01:16", "05:16", "09:16", "21:16"}; strings.Join(sunday, " ") != strings.Join(want, " ") {
			t.Fatalf("Sunday in Chicago: doses at %v, want %v", sunday, want)
		}
	})
}

// TestTimeZoneMoveEastDoesNotKeepADoseAfterItsDaysNext: twice a day at
// 09:16 and 21:16, the Saturday 21:16 dose taken 30 minutes early in Los
// Angeles (13:46 on Sunday in Tokyo), then a move to Tokyo. Sunday's
// Los Angeles 09:16 dose, still ahead (Monday 02:16 in Tokyo), was kept
// for its day since Sunday 09:16 in Tokyo had passed, though Sunday's
// 21:16 there is still ahead and comes first: three doses in 12 hours
// (QA). It gives way.
func TestTimeZoneMoveEastDoesNotKeepADoseAfterItsDaysNext(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
		p := f.patient("America/Los_Angeles")
		pl := f.plan(p.ID, timeOfDay("09:16", "21:16"))
		f.now = time.Date(2026, 2, 15, 4, 46, 0, 0, time.UTC) // Saturday 20:46 in Los Angeles
		f.takeNextEarly(p.ID, pl.ID, "early")
		p.TimeZone = "Asia/Tokyo"
		tokyo, _ := time.LoadLocation("Asia/Tokyo")
		f.updatePatientTwice(&p, pl.ID, f.now.Add(-time.Hour), f.now.Add(36*time.Hour), func(d adherence.DoseInstance) string {
			return d.DueAt.In(tokyo).Format("Mon 15:04") + " " + string(d.Status)
		}, []string{"Sun 14:16 taken_on_time", "Sun 21:16 scheduled", "Mon 09:16 scheduled", "Mon 21:16 scheduled"})
	})
}

// TestTimeZoneMoveWestAcrossTheDateLineAfterADoseTakenEarly: a once-daily
// 18:16 dose taken 30 minutes early in Auckland, then a move to Honolulu,
// 23 hours west: the new dose of the same wall time, Saturday 18:16 in
// Honolulu, is 23 hours later, the patient's next day, not the dose they
// took. It was dropped as the same occurrence, and the next pill came
// 47 hours after the last (QA).
func TestTimeZoneMoveWestAcrossTheDateLineAfterADoseTakenEarly(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
		p := f.patient("Pacific/Auckland")
		pl := f.plan(p.ID, timeOfDay("18:16"))
		f.now = time.Date(2026, 2, 14, 4, 46, 0, 0, time.UTC) // Saturday 17:46 in Auckland, Friday 18:46 in Honolulu
		f.takeNextEarly(p.ID, pl.ID, "early")
		p.TimeZone = "Pacific/Honolulu"
		f.updatePatientTwice(&p, pl.ID, f.now.Add(-time.Hour), f.now.Add(50*time.Hour), utcLocalAndStatus, []string{
			"2026-02-14T05:16:00Z 2026-02-14T18:16 taken_on_time",
			"2026-02-15T04:16:00Z 2026-02-14T18:16 scheduled", // 23 h later: Saturday in Honolulu
			"2026-02-16T04:16:00Z 2026-02-15T18:16 scheduled",
		})
	})
}

// TestResumeAfterAZoneMoveKeepsATakingInAdvance: a dose taken early, its
// plan paused, the patient's zone moved an hour west, the plan resumed:
// the taking stays scored on the dose it was for, which stands for its
// day, as when an active plan's patient moves (see
// TestZoneChangeDuringAPauseKeepsOutcomesInAdvance). It stayed "recorded"
// on the revived dose, which was reminded and would have been missed (QA);
// then it was orphaned, 90 minutes before Chicago's 08:00, and the patient
// reminded to take the dose again.
func TestResumeAfterAZoneMoveKeepsATakingInAdvance(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00"))
		f.now = time.Date(2026, 3, 2, 12, 30, 0, 0, time.UTC) // 07:30 in New York
		taken := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "early"))[0]
		if taken.Err != nil || taken.Event.DoseStatus != adherence.DoseTakenOnTime {
			t.Fatalf("taking 30 minutes early: %+v", taken)
		}
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanPaused); err != nil {
			t.Fatal(err)
		}
		p.TimeZone = "America/Chicago"
		if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanActive); err != nil {
			t.Fatal(err)
		}
		f.eventIs(taken.Event.ID, string(adherence.ResultScored), string(adherence.DoseTakenOnTime), false)
		ds := f.doses(pl.ID, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC))
		if len(ds) != 1 || ds[0].Status != adherence.DoseTakenOnTime || !ds[0].DueAt.Equal(time.Date(2026, 3, 2, 13, 0, 0, 0, time.UTC)) ||
			ds[0].EventID != taken.Event.ID {
			t.Errorf("doses of 2026-03-02: %+v, want New York's 08:00 taken by the event, alone", ds)
		}
	})
}
