package store_test

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
)

// TestTimeZoneMoveWestAcrossTheDateLineKeepsAWeeklyDose: a once-weekly
// dose (Sunday 19:54) taken early in Auckland, then a move to Honolulu,
// 23 hours west: Sunday 19:54 in Honolulu, 23 hours after the taking, is
// the week's dose the patient took, not another one. A daily plan's new
// dose that far away is the patient's next day (see
// TestTimeZoneMoveWestAcrossTheDateLineAfterADoseTakenEarly); a weekly
// drug such as methotrexate was asked for twice within a day (QA).
func TestTimeZoneMoveWestAcrossTheDateLineKeepsAWeeklyDose(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
		p := f.patient("Pacific/Auckland")
		pl := f.plan(p.ID, schedule.Timing{Repeat: &schedule.Repeat{TimeOfDay: []string{"19:54"}, DayOfWeek: []string{"sun"}}})
		f.now = time.Date(2026, 2, 15, 6, 24, 0, 0, time.UTC) // Sunday 19:24 in Auckland, Saturday 20:24 in Honolulu
		f.takeNextEarly(p.ID, pl.ID, "early")
		p.TimeZone = "Pacific/Honolulu"
		f.updatePatientTwice(&p, pl.ID, f.now.Add(-time.Hour), f.now.Add(9*24*time.Hour), utcLocalAndStatus, []string{
			"2026-02-15T06:54:00Z 2026-02-15T19:54 taken_on_time",
			// not 2026-02-16T05:54Z, Sunday 19:54 in Honolulu
			"2026-02-23T05:54:00Z 2026-02-22T19:54 scheduled", // a week later
		})
	})
}

// TestTimeZoneMoveThereAndBackKeepsTheDaysDoses: three doses a day at
// 06:19, 12:19 and 20:19, a move from London to New York 20 seconds after
// 06:19 (the dose not yet taken moves to 06:19 New York time), then back
// to London a second later. London's 06:19, excluded by the first move,
// is the day's first dose again, and New York's 06:19 is deleted. Kept
// for the day's first dose, it came an hour before London's 12:19; giving
// way to 12:19 without the revival lost the day's first dose (QA).
func TestTimeZoneMoveThereAndBackKeepsTheDaysDoses(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
		p := f.patient("Europe/London")
		pl := f.plan(p.ID, timeOfDay("06:19", "12:19", "20:19"))
		f.now = time.Date(2026, 2, 11, 6, 19, 20, 0, time.UTC)
		day := func(d adherence.DoseInstance) string { return utcLocalAndStatus(d) }
		p.TimeZone = "America/New_York"
		f.updatePatientTwice(&p, pl.ID, time.Date(2026, 2, 11, 6, 0, 0, 0, time.UTC), time.Date(2026, 2, 12, 0, 0, 0, 0, time.UTC), day, []string{
			"2026-02-11T06:19:00Z 2026-02-11T06:19 excluded",
			"2026-02-11T11:19:00Z 2026-02-11T06:19 scheduled",
			"2026-02-11T17:19:00Z 2026-02-11T12:19 scheduled",
		})
		f.now = f.now.Add(time.Second)
		p.TimeZone = "Europe/London"
		f.updatePatientTwice(&p, pl.ID, time.Date(2026, 2, 11, 6, 0, 0, 0, time.UTC), time.Date(2026, 2, 12, 0, 0, 0, 0, time.UTC), day, []string{
			"2026-02-11T06:19:00Z 2026-02-11T06:19 scheduled",
			"2026-02-11T12:19:00Z 2026-02-11T12:19 scheduled",
			"2026-02-11T20:19:00Z 2026-02-11T20:19 scheduled",
		})
	})
}

// TestTimingChangeOnTheFirstDayAfterADoseTakenEarly: a plan of three doses
// a day at 01:53, 07:53 and 15:53 created at 01:23, its 01:53 dose taken
// early, changed to 00:53, 06:53 and 14:53. The taken dose stands for
// 00:53, before the plan started; 06:53, which the change numbered as the
// plan's first dose, five hours after the taking, is scheduled. It was
// dropped for the taken dose, and the day had 13 hours between two doses
// of a plan whose longest interval is 10 (QA).
func TestTimingChangeOnTheFirstDayAfterADoseTakenEarly(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = time.Date(2026, 2, 10, 6, 23, 0, 0, time.UTC) // 01:23 in New York
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("01:53", "07:53", "15:53"))
		f.now = f.now.Add(27 * time.Second)
		f.takeNextEarly(p.ID, pl.ID, "early")
		pl.Timing = timeOfDay("00:53", "06:53", "14:53")
		f.updatePlanTwice(&pl, time.Date(2026, 2, 10, 5, 0, 0, 0, time.UTC), time.Date(2026, 2, 11, 5, 0, 0, 0, time.UTC), localAndStatus, []string{
			"2026-02-10T01:53 taken_on_time",
			"2026-02-10T06:53 scheduled",
			"2026-02-10T14:53 scheduled",
		})
	})
}

// TestTimingChangeOnTheFirstDayKeepsTheDoseOfAPastRank: the plan of
// TestTimingChangeOnTheFirstDayAfterADoseTakenEarly changed before its
// 01:53 dose, still ahead, has an outcome: 01:53 is the day's first dose,
// whose new time, 00:53, is past (before the plan's start), so it stays
// due for the day, as a daily 08:00 dose moved to 06:00 at 07:00 does. It
// was deleted, and the day's first dose came at 06:53 (QA). A skip in
// advance is kept for it too.
func TestTimingChangeOnTheFirstDayKeepsTheDoseOfAPastRank(t *testing.T) {
	for _, skip := range []bool{false, true} {
		t.Run(map[bool]string{false: "open", true: "skipped"}[skip], func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				f.now = time.Date(2026, 2, 10, 6, 23, 0, 0, time.UTC) // 01:23 in New York
				p := f.patient("America/New_York")
				pl := f.plan(p.ID, timeOfDay("01:53", "07:53", "15:53"))
				want := "2026-02-10T01:53 scheduled"
				if skip {
					ds := f.doses(pl.ID, f.now, f.now.Add(time.Hour))
					ev := f.ev(p.ID, pl.ID, adherence.EventSkipped, f.now, "skip")
					ev.Event.RequestedDose, ev.Event.Reason = ds[0].ID, "forgot"
					if out := f.record(ev); out[0].Err != nil || out[0].Event.Result != adherence.ResultScored {
						t.Fatalf("skip in advance: %+v", out[0])
					}
					want = "2026-02-10T01:53 skipped"
				}
				pl.Timing = timeOfDay("00:53", "06:53", "14:53")
				f.updatePlanTwice(&pl, time.Date(2026, 2, 10, 5, 0, 0, 0, time.UTC), time.Date(2026, 2, 11, 5, 0, 0, 0, time.UTC), localAndStatus, []string{
					want,
					"2026-02-10T06:53 scheduled",
					"2026-02-10T14:53 scheduled",
				})
			})
		})
	}
}

// TestTimingChangeOnTheDayDosesBeganKeepsOneDoseARank: a plan whose start
// is two days before it was created has doses from its creation on: three
// a day at 06:31, 16:31 and 22:31 in Tokyo, created at 15:59, so its first
// day holds 16:31 and 22:31 only. 16:31 taken early, the timing changes at
// 16:01 to 05:31, 15:31 and 21:31: the day keeps one dose of each rank,
// never 21:31 and 22:31 an hour apart (QA: a rule that let 21:31 be
// scheduled while 22:31, ranked by the instances of a day that lacks its
// 06:31, was kept for 15:31).
func TestTimingChangeOnTheDayDosesBeganKeepsOneDoseARank(t *testing.T) {
	for _, skip := range []bool{false, true} {
		t.Run(map[bool]string{false: "taken", true: "skipped"}[skip], func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				f.now = time.Date(2026, 2, 10, 6, 59, 0, 0, time.UTC) // 15:59 in Tokyo
				p := f.patient("Asia/Tokyo")
				pl := adherence.Plan{OrgID: f.org, PatientID: p.ID, StartAt: f.now.Add(-48 * time.Hour),
					Medication: adherence.Medication{RxNorm: "314076", Display: "lisinopril 10 MG Oral Tablet"},
					Dose:       "1 tablet", Timing: timeOfDay("06:31", "16:31", "22:31")}
				if err := f.s.CreatePlan(f.ctx, f.actor, &pl); err != nil {
					t.Fatal(err)
				}
				f.now = f.now.Add(2 * time.Minute)
				ds := f.doses(pl.ID, f.now, f.now.Add(time.Hour))
				if len(ds) != 1 {
					t.Fatalf("doses in the next hour: %+v", ds)
				}
				kind, status := adherence.EventTaken, "taken_on_time"
				if skip {
					kind, status = adherence.EventSkipped, "skipped"
				}
				ev := f.ev(p.ID, pl.ID, kind, f.now, "c-1")
				ev.Event.RequestedDose = ds[0].ID
				if skip {
					ev.Event.Reason = "forgot"
				}
				if out := f.record(ev); out[0].Err != nil || out[0].Event.Result != adherence.ResultScored {
					t.Fatalf("%s early: %+v", kind, out[0])
				}
				pl.Timing = timeOfDay("05:31", "15:31", "21:31")
				f.updatePlanTwice(&pl, time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 10, 15, 0, 0, 0, time.UTC), localAndStatus, []string{
					"2026-02-10T16:31 " + status,
					"2026-02-10T22:31 scheduled",
				})
			})
		})
	}
}

// TestTimeZoneMoveOfAnEveryOtherDayPlanAfterADoseTakenEarly: 23:24 every
// other day in Los Angeles, the dose taken 30 minutes early, then a move
// to Tokyo, where the cycle's dates fall on other days: the dose taken is
// the cycle's, and no new dose comes within a day of it. 23:24 in Tokyo
// came 7 hours after it (QA).
func TestTimeZoneMoveOfAnEveryOtherDayPlanAfterADoseTakenEarly(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = time.Date(2026, 2, 6, 0, 0, 0, 0, time.UTC)
		p := f.patient("America/Los_Angeles")
		timing := everyOtherDay("")
		timing.Repeat.TimeOfDay = []string{"23:24"}
		pl := f.plan(p.ID, timing)
		ds := f.doses(pl.ID, time.Date(2026, 2, 9, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 11, 0, 0, 0, 0, time.UTC))
		if len(ds) != 1 {
			t.Fatalf("doses of 02-09 and 02-10 (UTC): %+v, want one", ds)
		}
		f.now = ds[0].DueAt.Add(-30 * time.Minute)
		f.takeNextEarly(p.ID, pl.ID, "early")
		p.TimeZone = "Asia/Tokyo"
		p2 := p
		if err := f.s.UpdatePatient(f.ctx, f.actor, &p2, p2.Version); err != nil {
			t.Fatal(err)
		}
		var prev time.Time
		for _, d := range f.doses(pl.ID, f.now.Add(-time.Hour), f.now.Add(10*24*time.Hour)) {
			if !prev.IsZero() && d.DueAt.Sub(prev) < 24*time.Hour {
				t.Errorf("dose at %s (%s) %v after the one before it, want a day or more", d.DueAt.UTC().Format(time.RFC3339), d.LocalTime, d.DueAt.Sub(prev))
			}
			prev = d.DueAt
		}
	})
}

// TestTimeZoneRoundTripRestoresTheSchedule: a move from Tokyo to Los
// Angeles just after a dose was due, then back a second later (the
// patient's zone corrected), leaves the doses Tokyo had: the Los Angeles
// doses of the day the patient relived, still ahead, are not kept for
// days Tokyo has already passed. They were, and a twice-daily plan had
// four doses in 17 hours (QA).
func TestTimeZoneRoundTripRestoresTheSchedule(t *testing.T) {
	cases := []struct {
		name  string
		times []string
		now   time.Time
	}{
		{"twice a day, just after the morning dose", []string{"08:00", "20:00"}, time.Date(2026, 2, 10, 23, 0, 20, 0, time.UTC)},
		{"twice a day, just after the evening dose", []string{"08:00", "20:00"}, time.Date(2026, 2, 11, 11, 0, 20, 0, time.UTC)},
		{"four times a day", []string{"08:00", "14:00", "20:00", "23:00"}, time.Date(2026, 2, 10, 23, 0, 20, 0, time.UTC)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				f.now = time.Date(2026, 2, 9, 0, 0, 0, 0, time.UTC)
				p := f.patient("Asia/Tokyo")
				pl := f.plan(p.ID, timeOfDay(c.times...))
				from, to := c.now.Add(-14*time.Hour), c.now.Add(36*time.Hour)
				var want []string
				for _, d := range f.doses(pl.ID, from, to) {
					want = append(want, utcLocalAndStatus(d))
				}
				f.now = c.now
				f.roundTrip(&p, "America/Los_Angeles", pl.ID, from, to, func(d adherence.DoseInstance) string {
					if d.Status == adherence.DoseExcluded {
						return "" // dropped below: a moved dose may stay excluded
					}
					return utcLocalAndStatus(d)
				}, want)
			})
		})
	}
}

// TestTimeZoneMoveEastJustAfterADoseDropsItsDaysLaterDose: twice a day at
// 08:00 and 20:00, a move from Los Angeles to Tokyo 20 seconds after the
// 08:00 dose was due. Los Angeles's 20:00 of that day is 13:00 the next
// day in Tokyo, after Tokyo's 08:00 of that day: the day has moved on
// past it, and it is not kept. It was, and the plan had four doses in 19
// hours (QA).
func TestTimeZoneMoveEastJustAfterADoseDropsItsDaysLaterDose(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = time.Date(2026, 2, 9, 0, 0, 0, 0, time.UTC)
		p := f.patient("America/Los_Angeles")
		pl := f.plan(p.ID, timeOfDay("08:00", "20:00"))
		f.now = time.Date(2026, 2, 11, 16, 0, 20, 0, time.UTC) // 08:00:20 in Los Angeles
		p.TimeZone = "Asia/Tokyo"
		f.updatePatientTwice(&p, pl.ID, time.Date(2026, 2, 11, 12, 0, 0, 0, time.UTC), time.Date(2026, 2, 12, 20, 0, 0, 0, time.UTC), utcLocalAndStatus, []string{
			"2026-02-11T16:00:00Z 2026-02-11T08:00 scheduled", // due, Los Angeles time
			"2026-02-11T23:00:00Z 2026-02-12T08:00 scheduled",
			// not 2026-02-12T04:00Z, Los Angeles's 20:00 of the 11th
			"2026-02-12T11:00:00Z 2026-02-12T20:00 scheduled",
		})
	})
}

// TestTimeZoneRoundTripAfterADoseTakenEarly: twice a day at 06:07 and
// 18:07 in Tokyo, the plan created at 18:00, its 18:07 dose taken early,
// then a move to Los Angeles and back a second later. Los Angeles's 06:07
// of the same date, added by the first move, is not kept on the way back:
// the taking, Tokyo's 18:07 of that date, has passed that day. It was,
// and the patient was asked again five hours after the taking (QA).
func TestTimeZoneRoundTripAfterADoseTakenEarly(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC) // Sunday 18:00 in Tokyo
		p := f.patient("Asia/Tokyo")
		pl := f.plan(p.ID, timeOfDay("06:07", "18:07"))
		f.now = f.now.Add(2 * time.Minute)
		f.takeNextEarly(p.ID, pl.ID, "early")
		from, to := f.now.Add(-time.Hour), f.now.Add(36*time.Hour)
		var want []string
		for _, d := range f.doses(pl.ID, from, to) {
			want = append(want, utcLocalAndStatus(d))
		}
		f.roundTrip(&p, "America/Los_Angeles", pl.ID, from, to, utcLocalAndStatus, want)
	})
}

// TestTimingChangeOnTheFirstDayAfterTheEveningDoseTakenEarly: a plan of
// 06:10 and 18:10 created at 18:05 in Tokyo, its 18:10 dose taken early,
// changed to 04:05 and 16:05. Both new times of that day are before the
// plan's start; the taking, the day's last dose, stands for the new
// day's last one, 16:05, and the next day's 04:05 is scheduled. Numbered
// as the plan's first dose, the taking stood for that 04:05, which was
// not scheduled: 22 hours until the next dose (QA).
func TestTimingChangeOnTheFirstDayAfterTheEveningDoseTakenEarly(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = time.Date(2026, 12, 6, 9, 5, 0, 0, time.UTC) // Sunday 18:05 in Tokyo
		p := f.patient("Asia/Tokyo")
		pl := f.plan(p.ID, timeOfDay("06:10", "18:10"))
		f.takeNextEarly(p.ID, pl.ID, "early")
		pl.Timing = timeOfDay("04:05", "16:05")
		f.updatePlanTwice(&pl, f.now.Add(-time.Hour), f.now.Add(30*time.Hour), localAndStatus, []string{
			"2026-12-06T18:10 taken_on_time",
			"2026-12-07T04:05 scheduled",
			"2026-12-07T16:05 scheduled",
		})
	})
}

// TestTimeZoneMoveEastKeepsNoDoseBesideANewDoseOfItsDay: four doses a day
// at 02:02, 08:02, 14:02 and 20:02, a move from Los Angeles at 01:00 to
// Tokyo, where it is 18:00. Los Angeles's 02:02 of the day, whose Tokyo
// time is past, would be kept for the day, but Tokyo's 20:02 of that same
// day comes an hour after it: it gives way, as it does to a dose of
// another day. It was kept, two doses an hour apart (QA).
func TestTimeZoneMoveEastKeepsNoDoseBesideANewDoseOfItsDay(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		p := f.patient("America/Los_Angeles")
		pl := f.plan(p.ID, timeOfDay("02:02", "08:02", "14:02", "20:02"))
		f.now = time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC) // 01:00 in Los Angeles
		p.TimeZone = "Asia/Tokyo"
		f.updatePatientTwice(&p, pl.ID, time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC), utcLocalAndStatus, []string{
			"2026-12-06T04:02:00Z 2026-12-05T20:02 scheduled", // due, Los Angeles time
			// not 2026-12-06T10:02Z, Los Angeles's 02:02
			"2026-12-06T11:02:00Z 2026-12-06T20:02 scheduled",
			"2026-12-06T17:02:00Z 2026-12-07T02:02 scheduled",
			"2026-12-06T23:02:00Z 2026-12-07T08:02 scheduled",
			"2026-12-07T05:02:00Z 2026-12-07T14:02 scheduled",
		})
	})
}

// TestTimeZoneRoundTripRevivesNoDoseAPauseExcluded: a dose excluded by a
// pause stays excluded through a move and back, while one a move excluded
// is the dose again (TestTimeZoneMoveThereAndBackKeepsTheDaysDoses): only
// an instance a change of zone excluded is revived by another.
func TestTimeZoneRoundTripRevivesNoDoseAPauseExcluded(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
		p := f.patient("Europe/London")
		pl := f.plan(p.ID, timeOfDay("06:19", "12:19", "20:19"))
		f.now = time.Date(2026, 2, 11, 6, 0, 0, 0, time.UTC)
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanPaused); err != nil {
			t.Fatal(err)
		}
		f.now = time.Date(2026, 2, 11, 6, 30, 0, 0, time.UTC)
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanActive); err != nil {
			t.Fatal(err)
		}
		from, to := time.Date(2026, 2, 11, 6, 0, 0, 0, time.UTC), time.Date(2026, 2, 12, 0, 0, 0, 0, time.UTC)
		want := []string{
			"2026-02-11T06:19:00Z 2026-02-11T06:19 excluded",
			"2026-02-11T12:19:00Z 2026-02-11T12:19 scheduled",
			"2026-02-11T20:19:00Z 2026-02-11T20:19 scheduled",
		}
		f.dosesAre("after the pause", pl.ID, from, to, utcLocalAndStatus, want)
		f.now = time.Date(2026, 2, 11, 6, 40, 0, 0, time.UTC)
		f.roundTrip(&p, "America/New_York", pl.ID, from, to, utcLocalAndStatus, want)
	})
}

// TestZoneCorrectedRightAfterThePlanWasCreated: a change of zone within
// minutes of a plan's creation, before any of its doses was due, corrects
// the zone the plan was created in: the plan has the doses it would have
// had had it been created there. A daily 08:00 plan created at 05:18 in
// Los Angeles and moved to Tokyo two minutes later (22:20 there) starts at
// Tokyo's next 08:00, not at Los Angeles's 08:00 seven hours earlier; a
// daily 06:09 plan created at 18:29 in Tokyo, moved to Los Angeles and
// back a second later, keeps no Los Angeles 06:09 of that day, 7 hours
// before Tokyo's first dose (QA: a once-daily drug asked for twice).
func TestZoneCorrectedRightAfterThePlanWasCreated(t *testing.T) {
	t.Run("one way", func(t *testing.T) {
		each(t, func(t *testing.T, f *fixture) {
			p := f.patient("America/Los_Angeles")
			f.now = time.Date(2026, 3, 2, 13, 18, 0, 0, time.UTC) // 05:18 in Los Angeles
			pl := f.plan(p.ID, timeOfDay("08:00"))
			f.now = f.now.Add(2 * time.Minute)
			p.TimeZone = "Asia/Tokyo"
			f.updatePatientTwice(&p, pl.ID, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), utcLocalAndStatus, []string{
				"2026-03-02T23:00:00Z 2026-03-03T08:00 scheduled",
				"2026-03-03T23:00:00Z 2026-03-04T08:00 scheduled",
			})
		})
	})
	t.Run("round trip", func(t *testing.T) {
		each(t, func(t *testing.T, f *fixture) {
			p := f.patient("Asia/Tokyo")
			f.now = time.Date(2026, 12, 6, 9, 29, 18, 0, time.UTC) // 18:29 in Tokyo
			pl := f.plan(p.ID, timeOfDay("06:09"))
			f.now = f.now.Add(time.Second)
			f.roundTrip(&p, "America/Los_Angeles", pl.ID, f.now, f.now.Add(48*time.Hour), utcLocalAndStatus, []string{
				"2026-12-06T21:09:00Z 2026-12-07T06:09 scheduled",
				"2026-12-07T21:09:00Z 2026-12-08T06:09 scheduled",
			})
		})
	})
}

// TestTimeZoneRoundTripAfterAPauseExcludedTheDaysDose: Tokyo's daily 18:37
// dose excluded by a pause, the plan resumed, then a move to Los Angeles
// and back: the day's dose is over (excluded), and Los Angeles's 18:37 of
// that day, which the first move added 7 hours later, is not kept for it
// (QA).
func TestTimeZoneRoundTripAfterAPauseExcludedTheDaysDose(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		p := f.patient("Asia/Tokyo")
		pl := f.plan(p.ID, timeOfDay("18:37"))
		f.now = time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC)
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanPaused); err != nil {
			t.Fatal(err)
		}
		f.now = time.Date(2026, 12, 6, 9, 40, 0, 0, time.UTC) // 18:40 in Tokyo
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanActive); err != nil {
			t.Fatal(err)
		}
		f.roundTrip(&p, "America/Los_Angeles", pl.ID, time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC), utcLocalAndStatus, []string{
			"2026-12-06T09:37:00Z 2026-12-06T18:37 excluded",
			// not 2026-12-07T02:37Z, Los Angeles's 18:37 of the 6th
			"2026-12-07T09:37:00Z 2026-12-07T18:37 scheduled",
		})
	})
}

// TestTimeZoneMovesInQuickSuccession: several changes of zone within a
// second, after a dose was due (or taken), a few minutes after the plan
// was created (QA). The doses ahead are those of the last zone, the dose
// due (or taken) stays, and no dose is kept for a day beside the next
// day's new dose: each case had a dose kept exactly 3 hours before the
// next one (within 3 h), three doses in 7 hours for twice a day. A dose
// that a move excluded is due again when the patient comes back before
// the zone it moved to has a dose at its wall time (New York to Auckland
// to Los Angeles and back to Auckland: New York's 05:15, not Los
// Angeles's 05:15 three hours before Auckland's next dose).
func TestTimeZoneMovesInQuickSuccession(t *testing.T) {
	cases := []struct {
		name         string
		home         string
		times        []string
		created, now time.Time
		take         bool
		hops         []string
		want         []string
	}{
		{"Los Angeles, Tokyo, London, Tokyo after a taking", "America/Los_Angeles", []string{"02:18", "14:18"},
			time.Date(2026, 12, 6, 10, 17, 12, 0, time.UTC), time.Date(2026, 12, 6, 10, 18, 30, 0, time.UTC), true,
			[]string{"Asia/Tokyo", "Europe/London", "Asia/Tokyo"}, []string{
				"2026-12-06T10:18:00Z 2026-12-06T02:18 taken_on_time",
				// not 2026-12-06T14:18Z, London's 14:18
				"2026-12-06T17:18:00Z 2026-12-07T02:18 scheduled",
				"2026-12-07T05:18:00Z 2026-12-07T14:18 scheduled",
			}},
		{"Los Angeles, London, Tokyo", "America/Los_Angeles", []string{"02:16", "14:16"},
			time.Date(2026, 12, 6, 10, 10, 0, 0, time.UTC), time.Date(2026, 12, 6, 10, 16, 30, 0, time.UTC), false,
			[]string{"Europe/London", "Asia/Tokyo"}, []string{
				"2026-12-06T10:16:00Z 2026-12-06T02:16 scheduled",
				"2026-12-06T17:16:00Z 2026-12-07T02:16 scheduled",
				"2026-12-07T05:16:00Z 2026-12-07T14:16 scheduled",
			}},
		{"New York, London, Auckland, three a day", "America/New_York", []string{"05:16", "13:16", "21:16"},
			time.Date(2026, 12, 6, 10, 15, 23, 0, time.UTC), time.Date(2026, 12, 6, 10, 16, 5, 0, time.UTC), false,
			[]string{"Europe/London", "Pacific/Auckland"}, []string{
				"2026-12-06T10:16:00Z 2026-12-06T05:16 scheduled",
				// not 2026-12-06T13:16Z, London's 13:16
				"2026-12-06T16:16:00Z 2026-12-07T05:16 scheduled",
				"2026-12-07T00:16:00Z 2026-12-07T13:16 scheduled",
				"2026-12-07T08:16:00Z 2026-12-07T21:16 scheduled",
			}},
		{"New York, Auckland, Los Angeles, Auckland", "America/New_York", []string{"05:15", "11:15", "19:15"},
			time.Date(2026, 12, 6, 10, 14, 6, 0, time.UTC), time.Date(2026, 12, 6, 10, 15, 30, 0, time.UTC), false,
			[]string{"Pacific/Auckland", "America/Los_Angeles", "Pacific/Auckland"}, []string{
				"2026-12-06T10:15:00Z 2026-12-06T05:15 scheduled", // due again, not excluded
				// not 2026-12-06T13:15Z, Los Angeles's 05:15
				"2026-12-06T16:15:00Z 2026-12-07T05:15 scheduled",
				"2026-12-06T22:15:00Z 2026-12-07T11:15 scheduled",
				"2026-12-07T06:15:00Z 2026-12-07T19:15 scheduled",
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				f.now = c.created
				p := f.patient(c.home)
				pl := f.plan(p.ID, timeOfDay(c.times...))
				f.now = c.now
				if c.take {
					ds := f.doses(pl.ID, f.now.Add(-time.Hour), f.now)
					if len(ds) != 1 {
						t.Fatalf("doses due in the last hour: %+v, want one", ds)
					}
					taken := f.ev(p.ID, pl.ID, adherence.EventTaken, ds[0].DueAt, "on-time")
					taken.Event.RequestedDose = ds[0].ID
					if out := f.record(taken); out[0].Err != nil {
						t.Fatal(out[0].Err)
					}
				}
				for _, z := range c.hops {
					p.TimeZone = z
					if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
						t.Fatal(err)
					}
					stored, err := f.s.GetPatient(f.ctx, f.org, p.ID)
					if err != nil {
						t.Fatal(err)
					}
					p = stored
					f.now = f.now.Add(200 * time.Millisecond)
				}
				f.dosesAre("after the moves", pl.ID, c.now.Add(-time.Hour), c.now.Add(22*time.Hour), utcLocalAndStatus, c.want)
			})
		})
	}
}

// TestTimeZoneRoundTripAfterASkipInAdvanceRevivesTheDueDose: twice a day
// at 10:43 and 15:43 in London, the 15:43 dose skipped in advance just
// after 10:43 was due, then a move to New York and back. The first move
// put the due dose's occurrence at New York's 10:43, the instant of the
// skipped 15:43 instance; back in London, the due dose is due again. It
// stayed excluded, and the day lost it (QA).
func TestTimeZoneRoundTripAfterASkipInAdvanceRevivesTheDueDose(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = time.Date(2026, 12, 6, 10, 41, 44, 0, time.UTC)
		p := f.patient("Europe/London")
		pl := f.plan(p.ID, timeOfDay("10:43", "15:43"))
		f.now = time.Date(2026, 12, 6, 10, 43, 6, 0, time.UTC)
		ds := f.doses(pl.ID, f.now.Add(4*time.Hour), f.now.Add(6*time.Hour))
		if len(ds) != 1 {
			t.Fatalf("doses around 15:43: %+v, want one", ds)
		}
		skip := f.ev(p.ID, pl.ID, adherence.EventSkipped, f.now, "skip-15:43")
		skip.Event.RequestedDose = ds[0].ID
		if out := f.record(skip); out[0].Err != nil || out[0].Event.DoseStatus != adherence.DoseSkipped {
			t.Fatalf("skip in advance: %+v", out[0])
		}
		f.roundTrip(&p, "America/New_York", pl.ID, f.now.Add(-time.Hour), f.now.Add(30*time.Hour), utcLocalAndStatus, []string{
			"2026-12-06T10:43:00Z 2026-12-06T10:43 scheduled", // due again, not excluded
			"2026-12-06T15:43:00Z 2026-12-06T15:43 skipped",
			"2026-12-07T10:43:00Z 2026-12-07T10:43 scheduled",
			"2026-12-07T15:43:00Z 2026-12-07T15:43 scheduled",
		})
	})
}

// TestTimeZoneMoveKeepsTheDueDoseWhenItsNewTimeIsThreeHoursLater: a daily
// 05:43 dose in New York, due a few seconds before a move to Los Angeles,
// where 05:43 comes exactly 3 hours later: within 3 h, the due dose stays
// and stands for the day's. It was excluded and moved to 3 hours later.
func TestTimeZoneMoveKeepsTheDueDoseWhenItsNewTimeIsThreeHoursLater(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = time.Date(2026, 12, 6, 10, 41, 44, 0, time.UTC)
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("05:43"))
		f.now = time.Date(2026, 12, 6, 10, 43, 6, 0, time.UTC)
		p.TimeZone = "America/Los_Angeles"
		f.updatePatientTwice(&p, pl.ID, f.now.Add(-time.Hour), f.now.Add(30*time.Hour), utcLocalAndStatus, []string{
			"2026-12-06T10:43:00Z 2026-12-06T05:43 scheduled",
			// not 2026-12-06T13:43Z, Los Angeles's 05:43 of the day
			"2026-12-07T13:43:00Z 2026-12-07T05:43 scheduled",
		})
	})
}
