package store_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/adherence/store"
)

// TestTimingChangeKeepsOneDosePerOccurrence changes the timing of a plan
// whose next dose already has an outcome (a skip recorded in advance, a
// taking reported a little ahead of its due time): the dose with the
// outcome is kept and stands for its occurrence, so the new schedule does
// not add a second dose with the same seq beside it.
func TestTimingChangeKeepsOneDosePerOccurrence(t *testing.T) {
	cases := []struct {
		name    string
		now     time.Duration // clock, after start, when the outcome is recorded
		kind    adherence.EventKind
		at      time.Duration // occurredAt, after start
		outcome adherence.DoseStatus
	}{
		{name: "skip in advance", now: 10 * time.Hour, kind: adherence.EventSkipped, at: 10 * time.Hour, outcome: adherence.DoseSkipped},
		{name: "future-dated taking", now: 19*time.Hour + 30*time.Minute, kind: adherence.EventTaken, at: 19*time.Hour + 45*time.Minute,
			outcome: adherence.DoseTakenOnTime},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				f.now = start.Add(10 * time.Hour)
				p := f.patient("UTC")
				pl := f.plan(p.ID, timeOfDay("08:00", "20:00"))
				next := f.allDoses(pl.ID)[0]
				if next.Seq != 1 || next.LocalTime != "2026-03-01T20:00" {
					t.Fatalf("first dose = %+v, want seq 1 at 20:00", next)
				}
				f.now = start.Add(tc.now)
				e := adherence.Event{
					OrgID: f.org, PatientID: p.ID, PlanID: pl.ID, RequestedDose: next.ID, Kind: tc.kind,
					OccurredAt: start.Add(tc.at), ReceivedAt: f.now, Source: adherence.SourceClinician, ClientEventID: "c-1",
				}
				if tc.kind == adherence.EventSkipped {
					e.Reason = "doctor_advised"
				}
				out := f.record(store.EventInput{Actor: f.actor, Event: e})
				if out[0].Err != nil || out[0].Event.Result != adherence.ResultScored {
					t.Fatalf("record %s: %+v", tc.kind, out[0])
				}

				pl.Timing = timeOfDay("09:00", "21:00")
				// Day 1: only the 20:00 dose with its outcome. Then 09:00
				// and 21:00 every day up to now+14 days, numbered on.
				want := []string{fmt.Sprintf("1 2026-03-01T20:00 %s", tc.outcome)}
				seq := 2
				for day := 2; day <= 15; day++ {
					for _, hm := range []string{"09:00", "21:00"} {
						due := time.Date(2026, 3, day, 0, 0, 0, 0, time.UTC).Add(clock(hm))
						if !due.Before(f.now.Add(14 * 24 * time.Hour)) {
							continue
						}
						want = append(want, fmt.Sprintf("%d 2026-03-%02dT%s scheduled", seq, day, hm))
						seq++
					}
				}
				f.updatePlanTwice(&pl, time.Time{}, time.Time{}, func(d adherence.DoseInstance) string {
					return fmt.Sprintf("%d %s %s", d.Seq, d.LocalTime, d.Status)
				}, want)

				c, err := f.s.DoseCounts(f.ctx, f.org, store.ReportFilter{PlanID: pl.ID, From: start, To: start.Add(24 * time.Hour)})
				if err != nil {
					t.Fatal(err)
				}
				if c.Scheduled != 1 || c.Pending != 0 || c.Skipped+c.OnTime != 1 {
					t.Errorf("day 1 adherence = %+v, want one scheduled dose with its outcome", c)
				}
			})
		})
	}
}

// TestTimeZoneChangeKeepsOneDosePerOccurrence moves the patient to another
// zone after a skip recorded in advance: 20:00 in the new zone is the same
// occurrence as the skipped 20:00 in the old one.
func TestTimeZoneChangeKeepsOneDosePerOccurrence(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = start.Add(18 * time.Hour) // 13:00 in New York
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00", "20:00"))
		next := f.allDoses(pl.ID)[0]
		skip := f.ev(p.ID, pl.ID, adherence.EventSkipped, f.now, "c-1")
		skip.Event.RequestedDose = next.ID
		if out := f.record(skip); out[0].Err != nil || out[0].Event.Result != adherence.ResultScored {
			t.Fatalf("record skip: %+v", out[0])
		}

		p.TimeZone = "America/Los_Angeles"
		if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
			t.Fatal(err)
		}
		perSeq := map[int]int{}
		for _, d := range f.allDoses(pl.ID) {
			perSeq[d.Seq]++
			if perSeq[d.Seq] > 1 {
				t.Errorf("second dose with seq %d: %+v", d.Seq, d)
			}
			if d.Seq == next.Seq && d.ID != next.ID {
				t.Errorf("dose %+v replaces the skipped one %+v", d, next)
			}
		}
		if perSeq[next.Seq+1] != 1 {
			t.Errorf("the next occurrence (seq %d) is missing", next.Seq+1)
		}
	})
}

// TestTimingChangeRenumberedSeq changes three doses a day to one: the seq
// of a dose skipped in advance now falls days later, on a different
// occurrence, which must still be scheduled. The skipped 20:00 dose
// itself stands for no dose of the new timing (the day's one dose, at
// 08:00, is past): it is deleted and its skip orphaned, as a dose skipped
// in advance on a day that is no longer a dosing day is. It stayed
// skipped and was counted in the reports, an occurrence the plan no
// longer has.
func TestTimingChangeRenumberedSeq(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC")
		pl := f.plan(p.ID, timeOfDay("08:00", "14:00", "20:00")) // created at 00:00 on day 1
		f.now = start.Add(24*time.Hour + 15*time.Hour)           // day 2, 15:00
		var evening adherence.DoseInstance
		for _, d := range f.allDoses(pl.ID) {
			if d.LocalTime == "2026-03-02T20:00" {
				evening = d
			}
		}
		if evening.Seq != 6 {
			t.Fatalf("day 2 20:00 dose = %+v, want seq 6", evening)
		}
		skip := f.ev(p.ID, pl.ID, adherence.EventSkipped, f.now, "c-1")
		skip.Event.RequestedDose = evening.ID
		if out := f.record(skip); out[0].Err != nil || out[0].Event.Result != adherence.ResultScored {
			t.Fatalf("record skip: %+v", out[0])
		}

		pl.Timing = timeOfDay("08:00")
		if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
			t.Fatal(err)
		}
		var future []string
		for _, d := range f.doses(pl.ID, f.now, time.Time{}) {
			future = append(future, fmt.Sprintf("%d %s %s", d.Seq, d.LocalTime, d.Status))
		}
		var want []string
		for day := 3; day <= 16; day++ {
			want = append(want, fmt.Sprintf("%d 2026-03-%02dT08:00 scheduled", day, day))
		}
		if strings.Join(future, "\n") != strings.Join(want, "\n") {
			t.Errorf("future doses:\n%s\nwant:\n%s", strings.Join(future, "\n"), strings.Join(want, "\n"))
		}
		if n := f.count(`SELECT COUNT(*) FROM events WHERE client_event_id = 'c-1' AND result = 'orphan'`); n != 1 {
			t.Errorf("the skip of the 20:00 dose is not an orphan")
		}
	})
}

// TestTimingChangeOnTheFirstDayRenumberedSeq: on a plan's first day, a
// dose skipped in advance whose Seq a timing change renumbered onto the
// next day stands for no dose there. Two doses a day (07:50, 16:50)
// became one at 07:50: the evening dose's Seq (2) named tomorrow's 07:50,
// which lay "between its neighbours" (today's 07:50 and the day after's),
// so the skip stood for it, tomorrow had no dose, and the skip of a dose
// the plan no longer has counted (QA); so with 08:00 and 22:00, tomorrow's
// 08:00 ten hours after the skipped dose (QA re-test). Every 6 h changed
// to every 8 h, the 19:00 dose skipped stood for tomorrow's 01:00, six
// hours later, while 17:00 stayed: it stands for 17:00, within 3 h.
// Tomorrow's doses are scheduled; a skip that stands for no new dose is
// orphaned, its dose deleted.
func TestTimingChangeOnTheFirstDayRenumberedSeq(t *testing.T) {
	one, six, eight := 1, 6.0, 8.0
	every := func(hours *float64) schedule.Timing {
		return schedule.Timing{Repeat: &schedule.Repeat{Frequency: &one, Period: hours, PeriodUnit: "h"}}
	}
	cases := []struct {
		name             string
		created, skipped time.Duration // after start (day 1, 00:00 UTC)
		before, after    schedule.Timing
		skip             string // local time of the dose skipped in advance
		orphan           bool   // the skip stands for no new dose
		want             []string
	}{
		{"two a day to one, 15 h", 6*time.Hour + 50*time.Minute, 8 * time.Hour, timeOfDay("07:50", "16:50"), timeOfDay("07:50"),
			"2026-03-01T16:50", true, []string{"2026-03-01T07:50 scheduled", "2026-03-02T07:50 scheduled", "2026-03-03T07:50 scheduled"}},
		{"two a day to one, 10 h", 7 * time.Hour, 10 * time.Hour, timeOfDay("08:00", "22:00"), timeOfDay("08:00"),
			"2026-03-01T22:00", true, []string{"2026-03-01T08:00 scheduled", "2026-03-02T08:00 scheduled", "2026-03-03T08:00 scheduled"}},
		{"every 6 h to every 8 h", time.Hour, 10 * time.Hour, every(&six), every(&eight),
			"2026-03-01T19:00", false, []string{"2026-03-01T01:00 scheduled", "2026-03-01T07:00 scheduled", "2026-03-01T19:00 skipped",
				"2026-03-02T01:00 scheduled", "2026-03-02T09:00 scheduled", "2026-03-02T17:00 scheduled", "2026-03-03T01:00 scheduled"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("UTC")
				f.now = start.Add(c.created)
				pl := f.plan(p.ID, c.before)
				var skipped adherence.DoseInstance
				for _, d := range f.allDoses(pl.ID) {
					if d.LocalTime == c.skip {
						skipped = d
					}
				}
				if skipped.ID == 0 {
					t.Fatalf("no dose at %s", c.skip)
				}
				f.now = start.Add(c.skipped)
				skip := f.ev(p.ID, pl.ID, adherence.EventSkipped, f.now, "c-1")
				skip.Event.RequestedDose = skipped.ID
				if out := f.record(skip); out[0].Err != nil || out[0].Event.Result != adherence.ResultScored {
					t.Fatalf("record skip: %+v", out[0])
				}

				pl.Timing = c.after
				if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, d := range f.doses(pl.ID, start, start.Add(2*day+9*time.Hour)) {
					got = append(got, fmt.Sprintf("%s %s", d.LocalTime, d.Status))
				}
				if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
					t.Errorf("doses after the timing change:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
				}
				if n := f.count(`SELECT COUNT(*) FROM events WHERE client_event_id = 'c-1' AND result = 'orphan'`); (n == 1) != c.orphan {
					t.Errorf("the skip of the %s dose orphaned: %v, want %v", c.skip, n == 1, c.orphan)
				}
			})
		})
	}
}

// clock parses "hh:mm" as a duration after midnight.
func clock(hm string) time.Duration {
	t, err := time.Parse("15:04", hm)
	if err != nil {
		panic(err)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
}

// TestTimingChangeMovedAndRenumbered changes two doses a day (08:00,
// 20:00) to three at other times (07:00, 13:00, 19:00) after tonight's
// 20:00 dose was skipped in advance: its Seq now names 13:00, but the
// occurrence it stands for is the evening one, due at 19:00, which must not
// be scheduled beside it. Today keeps three doses, as the new timing says.
func TestTimingChangeMovedAndRenumbered(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC")
		pl := f.plan(p.ID, timeOfDay("08:00", "20:00")) // created at 00:00 on day 1
		f.now = start.Add(10 * time.Hour)               // day 1, 10:00
		var evening adherence.DoseInstance
		for _, d := range f.allDoses(pl.ID) {
			if d.LocalTime == "2026-03-01T20:00" {
				evening = d
			}
		}
		skip := f.ev(p.ID, pl.ID, adherence.EventSkipped, f.now, "c-1")
		skip.Event.RequestedDose = evening.ID
		if out := f.record(skip); out[0].Err != nil || out[0].Event.Result != adherence.ResultScored {
			t.Fatalf("record skip: %+v", out[0])
		}

		pl.Timing = timeOfDay("07:00", "13:00", "19:00")
		f.updatePlanTwice(&pl, start, start.Add(2*day), localAndStatus, []string{ // days 1 and 2 in UTC, the patient's zone
			"2026-03-01T08:00 scheduled", "2026-03-01T13:00 scheduled", "2026-03-01T20:00 skipped",
			"2026-03-02T07:00 scheduled", "2026-03-02T13:00 scheduled", "2026-03-02T19:00 scheduled",
		})
	})
}

// TestTimingChangeKeepsPendingDose changes the timing while today's dose
// is due and its window still open, with no outcome yet: that dose stands
// for today's occurrence, as one with an outcome does. A second instance
// of the occurrence at the new time made one of the two a certain miss:
// the patient's taking scored one, the missed-dose job marked the other
// and announced it for escalation.
func TestTimingChangeKeepsPendingDose(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00"))
		f.now = local(2026, 3, 2, 8, 30).UTC() // the 08:00 dose is pending
		pl.Timing = timeOfDay("08:45")
		if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 4, 0, 0)) {
			got = append(got, fmt.Sprintf("%d %s %s", d.Seq, d.LocalTime, d.Status))
		}
		want := []string{"2 2026-03-02T08:00 scheduled", "3 2026-03-03T08:45 scheduled"}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("doses after the timing change:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		f.now = local(2026, 3, 2, 8, 51).UTC()
		if out := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 50), "taken")); out[0].Event.DoseStatus != adherence.DoseTakenOnTime {
			t.Fatalf("taking at 08:50: %+v", out[0].Event)
		}
		if _, err := f.s.MarkMissed(f.ctx, local(2026, 3, 2, 12, 0)); err != nil {
			t.Fatal(err)
		}
		c, err := f.s.DoseCounts(f.ctx, f.org, store.ReportFilter{PlanID: pl.ID, From: local(2026, 3, 2, 0, 0), To: local(2026, 3, 3, 0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if c.Scheduled != 1 || c.OnTime != 1 || c.Missed != 0 {
			t.Errorf("2026-03-02 = %+v, want one dose, taken on time", c)
		}
	})
}

// TestTimeZoneChangeMovesPendingDose moves the patient while today's dose
// is due and still without an outcome. Three hours and more west, the
// occurrence moves to the dose at the same wall time in the new zone and
// the pending instance is excluded: the patient who flies from London to
// New York takes the morning dose at 08:00 there, past the London
// instance's late window. Two instances made one a certain miss, and
// keeping only the London one made the taking an orphan and the dose a
// miss. One hour west the pending instance stands for the occurrence, as
// after a small timing change.
func TestTimeZoneChangeMovesPendingDose(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("Europe/London")
		pl := f.plan(p.ID, timeOfDay("08:00"))
		f.now = time.Date(2026, 3, 2, 8, 30, 0, 0, london).UTC() // the 08:00 London dose is pending
		p.TimeZone = "America/New_York"
		if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range f.doses(pl.ID, local(2026, 3, 2, 0, 0).Add(-6*time.Hour), local(2026, 3, 4, 0, 0)) {
			got = append(got, fmt.Sprintf("%d %s %s %s", d.Seq, d.DueAt.UTC().Format(time.RFC3339), d.LocalTime, d.Status))
		}
		want := []string{
			"2 2026-03-02T08:00:00Z 2026-03-02T08:00 excluded",
			"2 2026-03-02T13:00:00Z 2026-03-02T08:00 scheduled",
			"3 2026-03-03T13:00:00Z 2026-03-03T08:00 scheduled",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("doses after the move:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		f.now = local(2026, 3, 2, 8, 6).UTC()
		if out := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 5), "taken")); out[0].Event.DoseStatus != adherence.DoseTakenOnTime {
			t.Fatalf("taking at 08:05 in New York: %+v", out[0].Event)
		}
		if _, err := f.s.MarkMissed(f.ctx, local(2026, 3, 2, 23, 0)); err != nil {
			t.Fatal(err)
		}
		c, err := f.s.DoseCounts(f.ctx, f.org, store.ReportFilter{PlanID: pl.ID, From: local(2026, 3, 2, 0, 0).Add(-6 * time.Hour), To: local(2026, 3, 3, 0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if c.Scheduled != 2 || c.Excluded != 1 || c.OnTime != 1 || c.Missed != 0 || c.Pending != 0 {
			t.Errorf("2026-03-02 = %+v, want the moved dose excluded and the other taken on time", c)
		}

		// One hour west, the next morning: the pending dose stays.
		f.now = local(2026, 3, 3, 8, 30).UTC()
		p, err = f.s.GetPatient(f.ctx, f.org, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		p.TimeZone = "America/Chicago"
		if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, d := range f.doses(pl.ID, local(2026, 3, 3, 0, 0), local(2026, 3, 5, 0, 0)) {
			got = append(got, fmt.Sprintf("%d %s %s %s", d.Seq, d.DueAt.UTC().Format(time.RFC3339), d.LocalTime, d.Status))
		}
		want = []string{
			"3 2026-03-03T13:00:00Z 2026-03-03T08:00 scheduled",
			"4 2026-03-04T14:00:00Z 2026-03-04T08:00 scheduled",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("doses after the move to Chicago:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// TestFutureStartAtBeforeBoundsStart creates a plan whose startAt lies
// five days ahead while its timing's boundsPeriod began earlier: no dose
// is scheduled before startAt (events before it are refused, so such a
// dose could only be missed), and seq still counts from the bounds start.
func TestFutureStartAtBeforeBoundsStart(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		startAt := start.Add(5 * 24 * time.Hour) // 2026-03-06T00:00Z, 2026-03-05 19:00 local
		pl := adherence.Plan{
			OrgID: f.org, PatientID: p.ID, Medication: adherence.Medication{RxNorm: "314076", Display: "lisinopril 10 MG Oral Tablet"},
			Dose: "1 tablet", DaysSupply: 30, StartAt: startAt,
			Timing: schedule.Timing{Repeat: &schedule.Repeat{TimeOfDay: []string{"08:00:00"},
				BoundsPeriod: &schedule.Period{Start: "2026-02-20"}}},
		}
		if err := f.s.CreatePlan(f.ctx, f.actor, &pl); err != nil {
			t.Fatal(err)
		}
		ds := f.allDoses(pl.ID)
		if len(ds) == 0 {
			t.Fatal("no doses")
		}
		for _, d := range ds {
			if d.DueAt.Before(startAt) {
				t.Errorf("dose seq %d at %s is due before startAt %s", d.Seq, d.LocalTime, startAt)
			}
		}
		if first := ds[0]; first.Seq != 15 || first.LocalTime != "2026-03-06T08:00" {
			t.Errorf("first dose = seq %d at %s, want seq 15 at 2026-03-06T08:00", first.Seq, first.LocalTime)
		}
		// The hourly job changes nothing.
		f.now = start.Add(time.Hour)
		if _, err := f.s.ExtendHorizon(f.ctx, f.now); err != nil {
			t.Fatal(err)
		}
		for _, d := range f.allDoses(pl.ID) {
			if d.DueAt.Before(startAt) {
				t.Errorf("after extension: dose seq %d at %s is due before startAt", d.Seq, d.LocalTime)
			}
		}
	})
}

// TestElapsedPlanCreatedMidSecondKeepsFirstDose creates a q8h plan with
// count 3 and no startAt at an instant with a fraction of a second (as the
// API's clock gives): the schedule counts from the start truncated to the
// second, and its first dose, due then, is scheduled with the other two.
func TestElapsedPlanCreatedMidSecondKeepsFirstDose(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = start.Add(10*time.Hour + 400*time.Millisecond)
		p := f.patient("UTC")
		one, eight, three := 1, 8.0, 3
		pl := f.plan(p.ID, schedule.Timing{Repeat: &schedule.Repeat{Frequency: &one, Period: &eight, PeriodUnit: "h", Count: &three}})
		var got []string
		for _, d := range f.allDoses(pl.ID) {
			got = append(got, fmt.Sprintf("%d %s", d.Seq, d.LocalTime))
		}
		want := []string{"1 2026-03-01T10:00", "2 2026-03-01T18:00", "3 2026-03-02T02:00"}
		if strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Errorf("doses = %v, want %v", got, want)
		}
	})
}

// TestChangeAfterTakenDoseKeepsOneDosePerOccurrence changes a plan's
// timing, the patient's anchors or the patient's zone half an hour after
// today's dose was taken: the taking stands for today's occurrence, as a
// pending dose does, so the new schedule gives no second dose today. A
// second one asked the patient to take the morning dose twice, and without
// that second taking was marked missed and escalated.
func TestChangeAfterTakenDoseKeepsOneDosePerOccurrence(t *testing.T) {
	cases := []struct {
		name   string
		timing schedule.Timing
		change func(f *fixture, p *adherence.Patient, pl *adherence.Plan) error
		want   []string // doses of 2026-03-02 and 2026-03-03, New York wall times
	}{
		{
			name:   "timing 08:00 to 09:00",
			timing: timeOfDay("08:00"),
			change: func(f *fixture, p *adherence.Patient, pl *adherence.Plan) error {
				pl.Timing = timeOfDay("09:00")
				return f.s.UpdatePlan(f.ctx, f.actor, pl, pl.Version)
			},
			want: []string{"2 2026-03-02T08:00 taken_on_time", "3 2026-03-03T09:00 scheduled"},
		},
		{
			name:   "breakfast 07:30 to 09:00",
			timing: schedule.Timing{Repeat: &schedule.Repeat{When: []string{"CM"}}},
			change: func(f *fixture, p *adherence.Patient, pl *adherence.Plan) error {
				p.Anchors = schedule.DefaultAnchors()
				p.Anchors.Breakfast = 9 * 60
				return f.s.UpdatePatient(f.ctx, f.actor, p, p.Version)
			},
			want: []string{"2 2026-03-02T07:30 taken_on_time", "3 2026-03-03T09:00 scheduled"},
		},
		{
			name:   "London to New York",
			timing: timeOfDay("08:00"),
			change: func(f *fixture, p *adherence.Patient, pl *adherence.Plan) error {
				p.TimeZone = "America/New_York"
				return f.s.UpdatePatient(f.ctx, f.actor, p, p.Version)
			},
			want: []string{"2 2026-03-02T08:00 taken_on_time", "3 2026-03-03T08:00 scheduled"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				zone := "America/New_York"
				if strings.Contains(tc.name, "London") {
					zone = "Europe/London"
				}
				p := f.patient(zone)
				pl := f.plan(p.ID, tc.timing)
				first := f.doses(pl.ID, start.Add(24*time.Hour), time.Time{})[0] // day 2's dose
				f.now = first.DueAt.Add(5 * time.Minute)
				taken := f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "taken")
				if out := f.record(taken); out[0].Err != nil || out[0].Event.DoseStatus != adherence.DoseTakenOnTime {
					t.Fatalf("taking: %+v", out[0])
				}
				f.now = first.DueAt.Add(30 * time.Minute)
				if err := tc.change(f, &p, &pl); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, d := range f.doses(pl.ID, first.DueAt.Add(-time.Hour), local(2026, 3, 4, 0, 0)) {
					got = append(got, fmt.Sprintf("%d %s %s", d.Seq, d.LocalTime, d.Status))
				}
				if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
					t.Fatalf("doses after the change:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
				}
			})
		})
	}
}

// TestTimeZoneChangeWithRenumberedSeq moves a patient from London to New
// York with a twice-daily plan created at midnight UTC: in New York that
// start is 19:00 the day before, whose 20:00 dose is Seq 1, so every dose
// has a Seq one higher than in London. The wall time names the occurrence:
// the pending (or skipped in advance) London 08:00 dose is the New York
// 08:00 dose, which must not be scheduled a second time. Matched by Seq,
// a second 08:00 dose was scheduled beside it and the skip stood for the
// evening dose before, which was not scheduled.
func TestTimeZoneChangeWithRenumberedSeq(t *testing.T) {
	cases := []struct {
		name string
		now  time.Time
		skip bool // skip the London 08:00 dose of 2026-03-03 in advance
		want []string
	}{
		{
			name: "pending dose", now: time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC),
			want: []string{
				"2026-03-03T08:00:00Z 2026-03-03T08:00 excluded",
				"2026-03-03T13:00:00Z 2026-03-03T08:00 scheduled",
				"2026-03-04T01:00:00Z 2026-03-03T20:00 scheduled",
			},
		},
		{
			name: "skipped in advance", now: time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC), skip: true,
			want: []string{
				"2026-03-03T01:00:00Z 2026-03-02T20:00 scheduled",
				"2026-03-03T08:00:00Z 2026-03-03T08:00 skipped",
				"2026-03-04T01:00:00Z 2026-03-03T20:00 scheduled",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("Europe/London")
				pl := f.plan(p.ID, timeOfDay("08:00", "20:00")) // created at 00:00 UTC
				f.now = tc.now
				if tc.skip {
					var morning adherence.DoseInstance
					for _, d := range f.allDoses(pl.ID) {
						if d.LocalTime == "2026-03-03T08:00" {
							morning = d
						}
					}
					skip := f.ev(p.ID, pl.ID, adherence.EventSkipped, f.now, "c-1")
					skip.Event.RequestedDose = morning.ID
					if out := f.record(skip); out[0].Err != nil || out[0].Event.Result != adherence.ResultScored {
						t.Fatalf("record skip: %+v", out[0])
					}
				}
				p.TimeZone = "America/New_York"
				if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, d := range f.doses(pl.ID, time.Date(2026, 3, 2, 21, 0, 0, 0, time.UTC), time.Date(2026, 3, 4, 2, 0, 0, 0, time.UTC)) {
					got = append(got, fmt.Sprintf("%s %s %s", d.DueAt.UTC().Format(time.RFC3339), d.LocalTime, d.Status))
				}
				if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
					t.Fatalf("doses after the move:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
				}
			})
		})
	}
}

// TestTimingChangeBetweenTheDosesOfADay changes a twice-daily plan's times
// between the morning and the evening dose of a day, for a plan created
// during a day: its first day had fewer doses under the old timing than
// under the new one (or more), which shifts every later seq by one. The
// morning dose stands for the new morning dose and the evening dose for
// the new evening dose, by their rank in the day: a skip in advance of the
// 20:00 dose was taken for the morning dose and a second evening dose was
// scheduled at 23:00, and a morning dose taken at 08:00 was taken for the
// new evening dose at 10:00, which was not scheduled.
func TestTimingChangeBetweenTheDosesOfADay(t *testing.T) {
	cases := []struct {
		name    string
		created time.Duration // after start
		now     time.Duration // on 2026-03-04
		event   adherence.EventKind
		timing  schedule.Timing
		want    []string // doses of 2026-03-04
	}{
		{name: "evening skipped in advance", created: 10 * time.Hour, now: 12 * time.Hour, event: adherence.EventSkipped,
			timing: timeOfDay("11:00", "23:00"), want: []string{"08:00 scheduled", "20:00 skipped"}},
		{name: "evening skipped in advance, now earlier", created: 15 * time.Hour, now: 12 * time.Hour, event: adherence.EventSkipped,
			timing: timeOfDay("09:00", "13:00"), want: []string{"08:00 scheduled", "20:00 skipped"}},
		{name: "morning taken", created: 7 * time.Hour, now: 9 * time.Hour, event: adherence.EventTaken,
			timing: timeOfDay("06:00", "10:00"), want: []string{"08:00 taken_on_time", "10:00 scheduled"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				f.now = start.Add(tc.created)
				p := f.patient("UTC")
				pl := f.plan(p.ID, timeOfDay("08:00", "20:00"))
				day := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
				f.now = day.Add(tc.now)
				in := f.ev(p.ID, pl.ID, tc.event, day.Add(8*time.Hour+5*time.Minute), "c-1")
				if tc.event == adherence.EventSkipped {
					in.Event.OccurredAt = f.now
					for _, d := range f.allDoses(pl.ID) {
						if d.LocalTime == "2026-03-04T20:00" {
							in.Event.RequestedDose = d.ID
						}
					}
				}
				if out := f.record(in); out[0].Err != nil || out[0].Event.Result != adherence.ResultScored {
					t.Fatalf("record %s: %+v", tc.event, out[0])
				}
				pl.Timing = tc.timing
				f.updatePlanTwice(&pl, day, day.Add(24*time.Hour), clockAndStatus, tc.want)
				// The next day has the new timing's two doses.
				if n := len(f.doses(pl.ID, day.Add(24*time.Hour), day.Add(48*time.Hour))); n != 2 {
					t.Errorf("2026-03-05 has %d doses, want 2", n)
				}
			})
		})
	}
}

// TestEarlySkipWhilePausedKeptForItsOccurrence skips tomorrow's dose in
// advance while the plan is paused (the skip is recorded against the
// excluded dose and scores nothing), changes the plan's time and resumes
// it: the skip stands for its occurrence. The dose comes back skipped, at
// its old time, as a change of time keeps an active plan's dose skipped in
// advance (see reviveAsGenerated); a plan paused before its dose basis was
// recorded (legacy: dose_basis empty) has the skip carried to the new
// dose instead. The excluded dose was deleted with the change, its skip
// orphaned, and the new dose was missed (and escalated).
func TestEarlySkipWhilePausedKeptForItsOccurrence(t *testing.T) {
	for _, c := range []struct {
		newTime string
		legacy  bool
	}{{"08:30", false}, {"09:00", false}, {"08:30", true}, {"09:00", true}} {
		newTime := c.newTime
		t.Run(fmt.Sprintf("%s legacy %v", newTime, c.legacy), func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("UTC")
				pl := f.plan(p.ID, timeOfDay("08:00"))
				f.now = start.Add(24*time.Hour + 10*time.Hour) // 2026-03-02 10:00
				var tomorrow adherence.DoseInstance
				for _, d := range f.allDoses(pl.ID) {
					if d.LocalTime == "2026-03-03T08:00" {
						tomorrow = d
					}
				}
				pl, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanPaused)
				if err != nil {
					t.Fatal(err)
				}
				f.now = f.now.Add(time.Hour)
				skip := f.ev(p.ID, pl.ID, adherence.EventSkipped, f.now, "skip")
				skip.Event.RequestedDose = tomorrow.ID
				if out := f.record(skip); out[0].Err != nil || out[0].Event.Result != adherence.ResultRecorded {
					t.Fatalf("skip while paused: %+v", out[0])
				}
				f.now = f.now.Add(time.Hour)
				pl.Timing = timeOfDay(newTime)
				if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
					t.Fatal(err)
				}
				f.now = f.now.Add(time.Hour)
				if c.legacy {
					f.exec(`UPDATE plans SET dose_basis = '' WHERE id = $1`, pl.ID)
				}
				if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanActive); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, d := range f.doses(pl.ID, start.Add(2*24*time.Hour), start.Add(4*24*time.Hour)) {
					got = append(got, d.LocalTime+" "+string(d.Status))
				}
				skipped := "2026-03-03T08:00 skipped"
				if c.legacy {
					skipped = "2026-03-03T" + newTime + " skipped"
				}
				want := []string{skipped, "2026-03-04T" + newTime + " scheduled"}
				if strings.Join(got, ", ") != strings.Join(want, ", ") {
					t.Fatalf("doses = %s, want %s", strings.Join(got, ", "), strings.Join(want, ", "))
				}
				if n := f.count(`SELECT COUNT(*) FROM events WHERE client_event_id = 'skip' AND result = 'scored' AND dose_status = 'skipped'`); n != 1 {
					t.Errorf("the skip is not scored against the new dose")
				}
			})
		})
	}
}

// TestZoneChangeOnThePlansFirstDayKeepsTheDaysDose: a plan created the
// same day, its daily dose still ahead, whose patient then moves east so
// that the day's dose in the new zone would fall before the plan was
// created. The day's dose is kept at its old time, as it is for a plan
// created earlier (see overtaken): it was deleted, and the day had none,
// since the new zone's dose of the day, before the plan's start, was no
// dose of the plan for it to stand for. (A move within minutes of the
// plan's creation is a correction instead: see
// TestZoneCorrectedRightAfterThePlanWasCreated.)
func TestZoneChangeOnThePlansFirstDayKeepsTheDaysDose(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/Los_Angeles")
		f.now = time.Date(2026, 3, 2, 8, 18, 0, 0, time.UTC) // 00:18 in Los Angeles
		pl := f.plan(p.ID, timeOfDay("08:00"))
		f.now = time.Date(2026, 3, 2, 13, 20, 0, 0, time.UTC) // 05:20 in Los Angeles, 22:20 in Tokyo: its 08:00 was before the plan
		p.TimeZone = "Asia/Tokyo"
		if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range f.doses(pl.ID, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)) {
			got = append(got, fmt.Sprintf("%s %s %s", d.DueAt.UTC().Format(time.RFC3339), d.LocalTime, d.Status))
		}
		want := []string{"2026-03-02T16:00:00Z 2026-03-02T08:00 scheduled", "2026-03-02T23:00:00Z 2026-03-03T08:00 scheduled", "2026-03-03T23:00:00Z 2026-03-04T08:00 scheduled"}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("doses after the move:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// TestTimingChangeOnThePlansFirstDayKeepsTheDaysDose: a plan created at
// 07:30 with a daily dose at 08:00, its time moved to 06:00 at 07:45. The
// day's new dose would fall before the plan was created, so the 08:00
// dose, still ahead, stands for it and is kept, as it is for a plan
// created a day earlier (where the new 06:00 dose of the day is past; see
// passedByRank): it was deleted, and the plan's first day had no dose. A
// skip recorded in advance for it is kept with it, not orphaned as the
// skip of a dose the plan no longer has.
func TestTimingChangeOnThePlansFirstDayKeepsTheDaysDose(t *testing.T) {
	for _, skipped := range []bool{false, true} {
		t.Run(fmt.Sprintf("skipped=%t", skipped), func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("America/New_York")
				f.now = time.Date(2026, 3, 2, 12, 30, 0, 0, time.UTC) // 07:30 in New York
				pl := f.plan(p.ID, timeOfDay("08:00"))
				status := "scheduled"
				if skipped {
					e := f.ev(p.ID, pl.ID, adherence.EventSkipped, f.now.Add(5*time.Minute), "skip")
					if out := f.record(e); out[0].Err != nil || out[0].Event.DoseStatus != adherence.DoseSkipped {
						t.Fatalf("record skip: %+v", out[0])
					}
					status = "skipped"
				}
				f.now = f.now.Add(15 * time.Minute) // 07:45
				pl.Timing = timeOfDay("06:00")
				if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, d := range f.doses(pl.ID, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)) {
					got = append(got, fmt.Sprintf("%s %s", d.LocalTime, d.Status))
				}
				want := []string{"2026-03-02T08:00 " + status, "2026-03-03T06:00 scheduled", "2026-03-04T06:00 scheduled"}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Fatalf("doses after the change:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				if skipped {
					if n := f.count(`SELECT COUNT(*) FROM events WHERE client_event_id = 'skip' AND result = 'scored' AND dose_status = 'skipped'`); n != 1 {
						t.Errorf("the skip is no longer scored against the day's dose")
					}
				}
			})
		})
	}
}

// TestCountPlanKeepsItsCountAfterATimingChange changes the timing of a
// plan with repeat.count on its first day, after the new time of that day
// (before the plan's start) but before the old one: the day keeps its dose
// at the old time, and the course still has count doses, not one more
// (QA: three doses, daily 12:58 changed to 10:58 at 11:38, gave four). A
// course longer than the horizon ends a dose earlier when the horizon
// extension reaches its end; one changed three doses a day to two after
// the first day's three loses the dose the new numbering adds.
func TestCountPlanKeepsItsCountAfterATimingChange(t *testing.T) {
	cases := []struct {
		name          string
		created, at   time.Time
		from, to      schedule.Timing
		extendTo      time.Time // ExtendHorizon at this instant (zero: none)
		live          int       // doses not excluded, in all
		first, second string    // local times of the first two doses after the change
	}{
		{name: "course inside the horizon", created: start.Add(11*time.Hour + 38*time.Minute), at: start.Add(11*time.Hour + 38*time.Minute + time.Second),
			from: countedTimeOfDay(3, "12:58"), to: countedTimeOfDay(3, "10:58"), live: 3, first: "2026-03-01T12:58", second: "2026-03-02T10:58"},
		{name: "course beyond the horizon", created: start.Add(11*time.Hour + 38*time.Minute), at: start.Add(11*time.Hour + 39*time.Minute),
			from: countedTimeOfDay(20, "12:58"), to: countedTimeOfDay(20, "10:58"), extendTo: start.Add(10 * day), live: 20, first: "2026-03-01T12:58", second: "2026-03-02T10:58"},
		{name: "three a day to two", created: start.Add(7 * time.Hour), at: start.Add(day + 7*time.Hour),
			from: countedTimeOfDay(6, "08:00", "14:00", "20:00"), to: countedTimeOfDay(6, "09:00", "21:00"), live: 6, first: "2026-03-01T20:00", second: "2026-03-02T09:00"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				f.now = tc.created
				p := f.patient("UTC")
				pl := f.plan(p.ID, tc.from)
				f.now = tc.at
				if _, err := f.s.MarkMissed(f.ctx, f.now); err != nil {
					t.Fatal(err)
				}
				pl.Timing = tc.to
				if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
					t.Fatal(err)
				}
				if !tc.extendTo.IsZero() {
					f.now = tc.extendTo
					if _, err := f.s.ExtendHorizon(f.ctx, f.now); err != nil {
						t.Fatal(err)
					}
					f.now = tc.extendTo.Add(20 * day)
					if _, err := f.s.ExtendHorizon(f.ctx, f.now); err != nil {
						t.Fatal(err)
					}
				}
				var live []string
				for _, d := range f.allDoses(pl.ID) {
					if d.Status != adherence.DoseExcluded {
						live = append(live, d.LocalTime)
					}
				}
				if len(live) != tc.live {
					t.Fatalf("%d doses, want %d: %v", len(live), tc.live, live)
				}
				var after []string
				for _, l := range live {
					if l >= "2026-03-01T11:40" && (tc.name != "three a day to two" || l >= "2026-03-01T15:00") {
						after = append(after, l)
					}
				}
				if len(after) < 2 || after[0] != tc.first || after[1] != tc.second {
					t.Errorf("doses after the change begin %v, want %s, %s", after, tc.first, tc.second)
				}
			})
		})
	}
}

// TestPauseKeepsTheDoseATimingChangeKeptForItsDay: a daily 12:58 dose
// changed to 10:58 at 11:38 is kept for that day at 12:58 (10:58 being
// past), and taken early; pausing the plan, or deactivating the patient,
// and bringing it back before 12:58 gives the day its dose back, scored by
// the taking, as the pause of any dose decided in advance does (QA: the
// resume deleted it, the day had no dose and the taking became an orphan).
func TestPauseKeepsTheDoseATimingChangeKeptForItsDay(t *testing.T) {
	for _, how := range []string{"plan paused", "patient deactivated"} {
		t.Run(how, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("UTC")
				pl := f.plan(p.ID, timeOfDay("12:58"))
				f.now = start.Add(day + 11*time.Hour + 38*time.Minute)
				pl.Timing = timeOfDay("10:58")
				if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
					t.Fatal(err)
				}
				out := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, start.Add(day+12*time.Hour+50*time.Minute), "early"))
				if out[0].Err != nil || out[0].Event.DoseStatus != adherence.DoseTakenOnTime {
					t.Fatalf("early taking = %+v", out[0])
				}
				f.now = f.now.Add(time.Minute)
				switch how {
				case "plan paused":
					for _, st := range []adherence.PlanStatus{adherence.PlanPaused, adherence.PlanActive} {
						if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, st); err != nil {
							t.Fatal(err)
						}
					}
				default:
					for _, active := range []bool{false, true} {
						if _, err := f.s.SetPatientActive(f.ctx, f.actor, f.org, p.ID, active); err != nil {
							t.Fatal(err)
						}
					}
				}
				var got []string
				for _, d := range f.doses(pl.ID, start.Add(day), start.Add(3*day)) {
					got = append(got, fmt.Sprintf("%s %s", d.LocalTime, d.Status))
				}
				want := []string{"2026-03-02T12:58 taken_on_time", "2026-03-03T10:58 scheduled"}
				if strings.Join(got, ", ") != strings.Join(want, ", ") {
					t.Fatalf("doses after the %s and back = %v, want %v", how, got, want)
				}
				f.eventIs(out[0].Event.ID, "scored", "taken_on_time", false)
			})
		})
	}
}

// TestBackFromAPauseAfterAFirstDayTimingChange: plans created at 12:24
// and changed at once to earlier times, so that the first day keeps doses
// at their old times; then paused and resumed, or the patient deactivated
// and reactivated, a minute later. The day's doses come back as they
// were, outcomes recorded in advance on them included, and nothing moves
// to another dose (QA: the kept dose was deleted, a skip in advance moved
// to the evening dose, and a day whose first dose was taken late lost its
// evening dose to the day after the course).
func TestBackFromAPauseAfterAFirstDayTimingChange(t *testing.T) {
	day1 := start.Add(day)
	at := func(h, m int) time.Time { return day1.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	cases := []struct {
		name     string
		from, to schedule.Timing
		late     bool                                                     // windows of 1 and 3 minutes, the first dose taken late before the change
		before   []string                                                 // the first day's doses right after the change, when not want
		outcome  func(f *fixture, p adherence.Patient, pl adherence.Plan) // recorded after the change
		first    func(f *fixture, p adherence.Patient, pl adherence.Plan) // recorded before it
		want     []string                                                 // the first day's doses after the way back
	}{
		{name: "once a day, taken early", from: countedTimeOfDay(3, "13:39"), to: countedTimeOfDay(3, "11:39"),
			outcome: func(f *fixture, p adherence.Patient, pl adherence.Plan) {
				f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, at(13, 34), "early"))
			}, want: []string{"2026-03-02T13:39 taken_on_time"}},
		{name: "twice a day", from: countedTimeOfDay(6, "13:44", "17:24"), to: countedTimeOfDay(6, "11:44", "17:04"),
			want: []string{"2026-03-02T13:44 scheduled", "2026-03-02T17:04 scheduled"}},
		{name: "twice a day, first skipped in advance", from: countedTimeOfDay(6, "13:44", "17:24"), to: countedTimeOfDay(6, "11:44", "17:04"),
			outcome: func(f *fixture, p adherence.Patient, pl adherence.Plan) {
				f.record(f.ev(p.ID, pl.ID, adherence.EventSkipped, at(13, 44), "skip"))
			}, want: []string{"2026-03-02T13:44 skipped", "2026-03-02T17:04 scheduled"}},
		{name: "three a day, second skipped in advance", from: countedTimeOfDay(7, "13:26", "17:26", "21:26"), to: countedTimeOfDay(7, "11:26", "16:26", "20:26"),
			before: []string{"2026-03-02T13:26 scheduled", "2026-03-02T17:26 skipped", "2026-03-02T20:26 scheduled"},
			first: func(f *fixture, p adherence.Patient, pl adherence.Plan) {
				// Named by its dose, as the app does.
				in := f.ev(p.ID, pl.ID, adherence.EventSkipped, at(17, 26), "skip")
				for _, d := range f.doses(pl.ID, at(17, 0), at(18, 0)) {
					in.Event.RequestedDose = d.ID
				}
				if out := f.record(in); out[0].Err != nil || out[0].Event.DoseStatus != adherence.DoseSkipped {
					f.t.Fatalf("skip in advance = %+v", out[0])
				}
			}, want: []string{"2026-03-02T13:26 scheduled", "2026-03-02T16:26 skipped", "2026-03-02T20:26 scheduled"}},
		{name: "three a day, second taken early", from: countedTimeOfDay(7, "13:32", "17:32", "21:32"), to: countedTimeOfDay(7, "11:32", "16:32", "20:32"),
			before: []string{"2026-03-02T13:32 scheduled", "2026-03-02T17:32 taken_on_time", "2026-03-02T20:32 scheduled"},
			first: func(f *fixture, p adherence.Patient, pl adherence.Plan) {
				f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, at(17, 27), "early"))
			}, want: []string{"2026-03-02T13:32 scheduled", "2026-03-02T16:32 taken_on_time", "2026-03-02T20:32 scheduled"}},
		{name: "twice a day, first taken late before the change", from: countedTimeOfDay(5, "12:27", "19:08"), to: countedTimeOfDay(5, "11:28", "18:48"),
			late: true,
			want: []string{"2026-03-02T12:27 taken_late", "2026-03-02T18:48 scheduled"}},
	}
	for _, tc := range cases {
		for _, how := range []string{"plan paused", "patient deactivated"} {
			t.Run(tc.name+", "+how, func(t *testing.T) {
				each(t, func(t *testing.T, f *fixture) {
					f.now = at(12, 24)
					p := f.patient("UTC")
					pl := adherence.Plan{OrgID: f.org, PatientID: p.ID, Medication: adherence.Medication{RxNorm: "314076", Display: "lisinopril"},
						Timing: tc.from}
					if tc.late {
						one, three := 1, 3
						pl.OnTimeMinutes, pl.LateMaxMinutes = &one, &three
					}
					if err := f.s.CreatePlan(f.ctx, f.actor, &pl); err != nil {
						t.Fatal(err)
					}
					if tc.late {
						f.now = at(12, 28).Add(40 * time.Second)
						if out := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "late")); out[0].Event.DoseStatus != adherence.DoseTakenLate {
							t.Fatalf("late taking = %+v", out[0])
						}
					}
					if tc.first != nil {
						tc.first(f, p, pl)
					}
					f.now = f.now.Add(time.Minute)
					pl.Timing = tc.to
					if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
						t.Fatal(err)
					}
					if tc.outcome != nil {
						tc.outcome(f, p, pl)
					}
					list := func() []string {
						var got []string
						for _, d := range f.doses(pl.ID, day1, day1.Add(day)) {
							got = append(got, fmt.Sprintf("%s %s", d.LocalTime, d.Status))
						}
						return got
					}
					wantBefore := tc.want
					if tc.before != nil {
						// A dose decided in advance that stands for a new dose
						// of its rank comes back as that dose, its outcome with
						// it: the same occurrence, at the new time.
						wantBefore = tc.before
					}
					if got := list(); strings.Join(got, ", ") != strings.Join(wantBefore, ", ") {
						t.Fatalf("first day after the change = %v, want %v", got, wantBefore)
					}
					f.now = f.now.Add(time.Minute)
					if how == "plan paused" {
						for _, st := range []adherence.PlanStatus{adherence.PlanPaused, adherence.PlanActive} {
							if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, st); err != nil {
								t.Fatal(err)
							}
						}
					} else {
						for _, active := range []bool{false, true} {
							if _, err := f.s.SetPatientActive(f.ctx, f.actor, f.org, p.ID, active); err != nil {
								t.Fatal(err)
							}
						}
					}
					if got := list(); strings.Join(got, ", ") != strings.Join(tc.want, ", ") {
						t.Fatalf("first day after the %s and back = %v, want %v", how, got, tc.want)
					}
					var live int
					for _, d := range f.allDoses(pl.ID) {
						if d.Status != adherence.DoseExcluded {
							live++
						}
					}
					if want := *tc.to.Repeat.Count; live != want {
						t.Errorf("%d doses in all, want the count, %d", live, want)
					}
				})
			})
		}
	}
}

// TestZoneChangeDuringAPause: a patient moves from New York to Tokyo while
// a plan of 09:00 and 21:00 is paused; resumed, the plan has Tokyo's
// doses only, as after the same move while the patient was inactive or
// the plan active. The resume regenerated as if the zone had stayed, and
// the old zone's excluded 09:00 came back two hours after Tokyo's 21:00:
// two doses of one day two hours apart (QA).
func TestZoneChangeDuringAPause(t *testing.T) {
	for _, how := range []string{"plan paused", "patient deactivated"} {
		t.Run(how, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("America/New_York")
				pl := f.plan(p.ID, timeOfDay("09:00", "21:00"))
				// Monday 2 March, 10:00 UTC: New York's 09:00 (14:00 UTC)
				// and Tokyo's 21:00 (12:00 UTC) are ahead, Tokyo's 09:00
				// past.
				f.now = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
				off := func() {
					var err error
					if how == "plan paused" {
						_, err = f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanPaused)
					} else {
						_, err = f.s.SetPatientActive(f.ctx, f.actor, f.org, p.ID, false)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				on := func() {
					var err error
					if how == "plan paused" {
						_, err = f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanActive)
					} else {
						_, err = f.s.SetPatientActive(f.ctx, f.actor, f.org, p.ID, true)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				off()
				pat, err := f.s.GetPatient(f.ctx, f.org, p.ID)
				if err != nil {
					t.Fatal(err)
				}
				pat.TimeZone = "Asia/Tokyo"
				if err := f.s.UpdatePatient(f.ctx, f.actor, &pat, pat.Version); err != nil {
					t.Fatal(err)
				}
				on()
				var got []string
				for _, d := range f.doses(pl.ID, f.now, f.now.Add(2*day)) {
					got = append(got, fmt.Sprintf("%s %s %s", d.DueAt.UTC().Format("01-02T15:04Z"), d.LocalTime, d.Status))
				}
				want := []string{
					"03-02T12:00Z 2026-03-02T21:00 scheduled",
					"03-03T00:00Z 2026-03-03T09:00 scheduled",
					"03-03T12:00Z 2026-03-03T21:00 scheduled",
					"03-04T00:00Z 2026-03-04T09:00 scheduled",
				}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("doses after the move and the %s ended:\n%s\nwant:\n%s", how, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			})
		})
	}
}

// TestChangeDuringAPauseKeepsOutcomesInAdvance changes, while a plan is
// paused or its patient inactive, what its doses are made from — the
// patient's zone, the patient's breakfast time, the plan's timing — after
// today's dose was taken ten minutes early and tomorrow's skipped in
// advance: on resume (reactivation) the plan's doses are those the same
// change makes of an active plan's, and no event is orphaned. The excluded
// doses were made at once from the new settings, their events matched by
// wall time alone: the taking, three hours early for Los Angeles's 08:00,
// was orphaned and the dose reminded again, the skip lost after a move
// east (QA); the re-test found the same for a breakfast moved from 07:30
// to 09:00 and for a timing changed from 08:00 to 09:00.
func TestChangeDuringAPauseKeepsOutcomesInAdvance(t *testing.T) {
	line := func(d adherence.DoseInstance) string {
		return fmt.Sprintf("%s %s %s", d.DueAt.UTC().Format("01-02T15:04Z"), d.LocalTime, d.Status)
	}
	// breakfastInAdvance is decidedInAdvance for a dose at breakfast
	// (07:30 by default): taken at 07:20, tomorrow's skipped.
	breakfastInAdvance := func(f *fixture) adherence.Plan {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, schedule.Timing{Repeat: &schedule.Repeat{When: []string{"CM"}}})
		f.now = local(2026, 3, 2, 7, 20).UTC()
		f.takeNextEarly(p.ID, pl.ID, "take-early")
		skip := f.ev(p.ID, pl.ID, adherence.EventSkipped, local(2026, 3, 3, 7, 30), "skip-ahead")
		skip.Event.RequestedDose = f.doses(pl.ID, local(2026, 3, 3, 0, 0), local(2026, 3, 4, 0, 0))[0].ID
		if out := f.record(skip); out[0].Err != nil || out[0].Event.Result != adherence.ResultScored {
			f.t.Fatalf("skip a day ahead: %+v", out[0])
		}
		return pl
	}
	zone := func(name string) func(*adherence.Patient, *adherence.Plan) {
		return func(p *adherence.Patient, _ *adherence.Plan) { p.TimeZone = name }
	}
	cases := []struct {
		name          string
		setup         func(*fixture) adherence.Plan
		patient, plan func(*adherence.Patient, *adherence.Plan) // the change
		resumeAfter   time.Duration                             // from the change to the resume
	}{
		{name: "to Los Angeles", setup: (*fixture).decidedInAdvance, patient: zone("America/Los_Angeles")},
		{name: "to London", setup: (*fixture).decidedInAdvance, patient: zone("Europe/London")},
		{name: "to Tokyo", setup: (*fixture).decidedInAdvance, patient: zone("Asia/Tokyo")},
		{name: "breakfast at 09:00", setup: breakfastInAdvance,
			patient: func(p *adherence.Patient, _ *adherence.Plan) { p.Anchors.Breakfast = 9 * 60 }},
		{name: "breakfast at 09:00 in Los Angeles", setup: breakfastInAdvance,
			patient: func(p *adherence.Patient, _ *adherence.Plan) {
				p.Anchors.Breakfast, p.TimeZone = 9*60, "America/Los_Angeles"
			}},
		{name: "timing 09:00", setup: (*fixture).decidedInAdvance,
			plan: func(_ *adherence.Patient, pl *adherence.Plan) { pl.Timing = timeOfDay("09:00") }},
		{name: "timing 09:00 and to London", setup: (*fixture).decidedInAdvance,
			patient: zone("Europe/London"),
			plan:    func(_ *adherence.Patient, pl *adherence.Plan) { pl.Timing = timeOfDay("09:00") }},
		// Resumed once New York's 08:00, taken early, is past and
		// Los Angeles's still ahead: the taken dose stands for its day,
		// which got Los Angeles's 08:00 reminded (QA re-test).
		{name: "to Los Angeles, resumed at 07:30 there", setup: (*fixture).decidedInAdvance,
			patient: zone("America/Los_Angeles"), resumeAfter: 2*time.Hour + 35*time.Minute},
		{name: "timing 09:00, resumed at 08:30", setup: (*fixture).decidedInAdvance,
			plan: func(_ *adherence.Patient, pl *adherence.Plan) { pl.Timing = timeOfDay("09:00") }, resumeAfter: 35 * time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				var want []string
				base := f.now
				for _, how := range []string{"active", "plan paused", "patient deactivated"} {
					if how != "active" { // the setup's client event ids are the org's
						f.org, f.actor = f.otherOrg()
					}
					f.now = base // the plan is created then
					pl := c.setup(f)
					f.now = f.now.Add(5 * time.Minute)
					setPlan := func(st adherence.PlanStatus) {
						if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, st); err != nil {
							t.Fatal(err)
						}
					}
					setPatient := func(active bool) {
						if _, err := f.s.SetPatientActive(f.ctx, f.actor, f.org, pl.PatientID, active); err != nil {
							t.Fatal(err)
						}
					}
					switch how {
					case "plan paused":
						setPlan(adherence.PlanPaused)
					case "patient deactivated":
						setPatient(false)
					}
					if c.plan != nil {
						cur, err := f.s.GetPlan(f.ctx, f.org, pl.ID)
						if err != nil {
							t.Fatal(err)
						}
						c.plan(nil, &cur)
						if err := f.s.UpdatePlan(f.ctx, f.actor, &cur, cur.Version); err != nil {
							t.Fatal(err)
						}
					}
					if c.patient != nil {
						pat, err := f.s.GetPatient(f.ctx, f.org, pl.PatientID)
						if err != nil {
							t.Fatal(err)
						}
						c.patient(&pat, nil)
						if err := f.s.UpdatePatient(f.ctx, f.actor, &pat, pat.Version); err != nil {
							t.Fatal(err)
						}
					}
					f.now = f.now.Add(c.resumeAfter)
					switch how {
					case "plan paused":
						setPlan(adherence.PlanActive)
					case "patient deactivated":
						setPatient(true)
					}
					var got []string
					for _, d := range f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 5, 0, 0)) {
						got = append(got, line(d))
					}
					if n := f.count(`SELECT COUNT(*) FROM events WHERE plan_id = $1 AND result = 'orphan'`, pl.ID); n != 0 {
						t.Errorf("%s: %d events orphaned by the change, want none", how, n)
					}
					if how == "active" {
						want = got
						// Once a day, moved at most half a day: one dose
						// a local date. A timing change and a move left
						// the skipped New York 08:00 dose beside the new
						// London 09:00 one (QA re-test).
						perDate := map[string]int{}
						for _, l := range got {
							if _, wall, ok := strings.Cut(l, " "); ok && c.name != "to Tokyo" {
								if perDate[wall[:10]]++; perDate[wall[:10]] > 1 {
									t.Errorf("two doses on %s:\n%s", wall[:10], strings.Join(got, "\n"))
								}
							}
						}
						if !slices.ContainsFunc(got, func(l string) bool { return strings.HasPrefix(l, "03-02T") && strings.HasSuffix(l, " taken_on_time") }) ||
							!slices.ContainsFunc(got, func(l string) bool { return strings.HasPrefix(l, "03-03T") && strings.HasSuffix(l, " skipped") }) {
							t.Fatalf("an active plan's change lost an outcome decided in advance:\n%s", strings.Join(got, "\n"))
						}
						continue
					}
					if strings.Join(got, "\n") != strings.Join(want, "\n") {
						t.Errorf("doses after the change with the %s:\n%s\nwant, as for an active plan:\n%s",
							how, strings.Join(got, "\n"), strings.Join(want, "\n"))
					}
				}
			})
		})
	}
}

// TestPlanPausedBeforeTheDoseBasis: a plan already paused when migration
// 00018 runs gets its patient's zone as the zone its doses were made in,
// so a move during the pause keeps the outcomes recorded in advance
// (TestChangeDuringAPauseKeepsOutcomesInAdvance). The migration gave
// paused plans no zone at all, and the move orphaned them (QA re-test).
func TestPlanPausedBeforeTheDoseBasis(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pl := f.decidedInAdvance()
		f.now = f.now.Add(5 * time.Minute)
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanPaused); err != nil {
			t.Fatal(err)
		}
		p, err := store.Migrations.Provider(f.d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.DownTo(f.ctx, 17); err != nil {
			t.Fatal(err)
		}
		if _, err := p.UpTo(f.ctx, 18); err != nil {
			t.Fatal(err)
		}
		pat, err := f.s.GetPatient(f.ctx, f.org, pl.PatientID)
		if err != nil {
			t.Fatal(err)
		}
		pat.TimeZone = "America/Los_Angeles"
		if err := f.s.UpdatePatient(f.ctx, f.actor, &pat, pat.Version); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanActive); err != nil {
			t.Fatal(err)
		}
		if n := f.count(`SELECT COUNT(*) FROM events WHERE plan_id = $1 AND result = 'orphan'`, pl.ID); n != 0 {
			t.Errorf("%d events orphaned by the move, want none", n)
		}
		var got []string
		for _, d := range f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 4, 0, 0)) {
			got = append(got, fmt.Sprintf("%s %s", d.DueAt.UTC().Format("01-02T15:04Z"), d.Status))
		}
		want := []string{"03-02T13:00Z taken_on_time", "03-03T13:00Z skipped"}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("doses of the 2nd and 3rd:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// TestPausingAPlanMadeWithoutADoseBasis: a plan made by the release before
// dose_basis (an API task of that release still serving during a
// blue/green deploy) has none; paused or its patient deactivated, it now
// gets its patient's zone, so a move during the pause keeps the outcomes
// recorded in advance. It stayed empty, and the move orphaned them.
func TestPausingAPlanMadeWithoutADoseBasis(t *testing.T) {
	for _, how := range []string{"plan paused", "patient deactivated"} {
		t.Run(how, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				pl := f.decidedInAdvance()
				f.exec(`UPDATE plans SET dose_basis = '' WHERE id = $1`, pl.ID)
				f.now = f.now.Add(5 * time.Minute)
				pause := func(stop bool) {
					var err error
					if how == "plan paused" {
						st := adherence.PlanActive
						if stop {
							st = adherence.PlanPaused
						}
						_, err = f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, st)
					} else {
						_, err = f.s.SetPatientActive(f.ctx, f.actor, f.org, pl.PatientID, !stop)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				pause(true)
				pat, err := f.s.GetPatient(f.ctx, f.org, pl.PatientID)
				if err != nil {
					t.Fatal(err)
				}
				pat.TimeZone = "America/Los_Angeles"
				if err := f.s.UpdatePatient(f.ctx, f.actor, &pat, pat.Version); err != nil {
					t.Fatal(err)
				}
				pause(false)
				if n := f.count(`SELECT COUNT(*) FROM events WHERE plan_id = $1 AND result = 'orphan'`, pl.ID); n != 0 {
					t.Errorf("%d events orphaned by the move, want none", n)
				}
				var got []string
				for _, d := range f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 4, 0, 0)) {
					got = append(got, fmt.Sprintf("%s %s", d.DueAt.UTC().Format("01-02T15:04Z"), d.Status))
				}
				want := []string{"03-02T13:00Z taken_on_time", "03-03T13:00Z skipped"}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("doses of the 2nd and 3rd:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			})
		})
	}
}

// TestTakingDuringAPauseAfterAMoveWest: paused at 06:00 in New York, the
// patient moves to Los Angeles and takes the morning dose at 07:50 there,
// recorded against New York's excluded 08:00 (13:00Z); the plan resumes at
// 07:55. The taking scores Los Angeles's 08:00, as it does when the plan
// stays active through the move. It stayed recorded on the past New York
// dose, and the Los Angeles one was reminded, missed and escalated (QA).
func TestTakingDuringAPauseAfterAMoveWest(t *testing.T) {
	for _, paused := range []bool{false, true} {
		t.Run(fmt.Sprintf("paused %v", paused), func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("America/New_York")
				pl := f.plan(p.ID, timeOfDay("08:00"))
				f.now = time.Date(2026, 3, 2, 11, 0, 0, 0, time.UTC) // 06:00 in New York
				if paused {
					if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanPaused); err != nil {
						t.Fatal(err)
					}
				}
				p.TimeZone = "America/Los_Angeles"
				if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
					t.Fatal(err)
				}
				f.now = time.Date(2026, 3, 2, 15, 50, 0, 0, time.UTC) // 07:50 in Los Angeles
				taken := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "taken"))[0]
				if taken.Err != nil {
					t.Fatal(taken.Err)
				}
				f.now = f.now.Add(5 * time.Minute)
				if paused {
					if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanActive); err != nil {
						t.Fatal(err)
					}
				}
				f.eventIs(taken.Event.ID, string(adherence.ResultScored), string(adherence.DoseTakenOnTime), false)
				var la *adherence.DoseInstance
				for _, d := range f.doses(pl.ID, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)) {
					if d.DueAt.Equal(time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC)) {
						la = &d
					}
				}
				if la == nil || la.Status != adherence.DoseTakenOnTime || la.EventID != taken.Event.ID {
					t.Errorf("Los Angeles's 08:00 of the 2nd: %+v, want taken on time by the taking", la)
				}
			})
		})
	}
}

// TestTakingInTheNewZoneBeforeTheMoveReachesThePlan: a patient of Los
// Angeles flies to New York and takes the 08:00 dose there at 07:55
// (12:55Z), three hours early for Los Angeles's 08:00 (16:00Z): an orphan.
// The move reaches the plan at 08:55 New York time, by a change of zone on
// an active plan, or during a pause and the plan resumed. The day's dose
// is New York's 08:00, taken by the taking; Los Angeles's was kept for the
// day, as if nothing had been taken, reminded at 11:00 New York time and
// missed, the taking left an orphan (QA re-test).
func TestTakingInTheNewZoneBeforeTheMoveReachesThePlan(t *testing.T) {
	for _, how := range []string{"active", "paused before the flight"} {
		t.Run(how, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("America/Los_Angeles")
				pl := f.plan(p.ID, timeOfDay("08:00"))
				f.now = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC) // 00:00 in Los Angeles
				paused := how != "active"
				if paused {
					if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanPaused); err != nil {
						t.Fatal(err)
					}
				}
				f.now = time.Date(2026, 3, 2, 12, 55, 0, 0, time.UTC) // 07:55 in New York
				taken := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "taken"))[0]
				if taken.Err != nil || taken.Event.Result != adherence.ResultOrphan {
					t.Fatalf("the taking before the move: %+v, want an orphan", taken)
				}
				f.now = time.Date(2026, 3, 2, 13, 55, 0, 0, time.UTC)
				if paused {
					p.TimeZone = "America/New_York"
					if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
						t.Fatal(err)
					}
					f.now = f.now.Add(time.Minute)
					if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanActive); err != nil {
						t.Fatal(err)
					}
				} else {
					p.TimeZone = "America/New_York"
					if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
						t.Fatal(err)
					}
				}
				f.eventIs(taken.Event.ID, string(adherence.ResultScored), string(adherence.DoseTakenOnTime), false)
				var got []string
				for _, d := range f.doses(pl.ID, time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)) {
					got = append(got, fmt.Sprintf("%s %s %s", d.DueAt.UTC().Format("01-02T15:04Z"), d.LocalTime, d.Status))
				}
				want := []string{"03-02T13:00Z 2026-03-02T08:00 taken_on_time"}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("doses of the 2nd:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				if n := f.count(`SELECT COUNT(*) FROM dose_instances WHERE plan_id = $1 AND remind_at IS NOT NULL AND due_at < $2`,
					pl.ID, time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)); n != 0 {
					t.Errorf("%d doses of the 2nd still to be reminded", n)
				}
			})
		})
	}
}

// TestOrphanDecidesTheNewZonesPastDose: the neighbours of
// TestTakingInTheNewZoneBeforeTheMoveReachesThePlan (QA re-test), each on
// an active plan whose patient moves east:
//   - a skip that named tonight's dose, orphaned by a timing change,
//     decides no other dose: the day keeps Los Angeles's 08:00 to take;
//   - a plan created after New York's 08:00 has no dose that day to make
//     (the taking stays an orphan), and a course of two keeps two doses;
//   - three a day, Los Angeles to London: London's 08:00, taken, is made
//     although London's 14:00 comes before Los Angeles's 08:00;
//   - the move reaching the plan when Los Angeles's 08:00 is already due:
//     New York's 08:00 is made and taken, Los Angeles's excluded;
//   - twice a day to Tokyo, the evening dose taken there: made, and Los
//     Angeles's 08:00 of that day, still ahead, no longer comes after it;
//   - one taking in the windows of London's 08:00 and 10:00 makes one
//     dose, the one matching picks, not both (the other missed);
//   - Tokyo's 08:00 taken more than 13 hours before the move reaches the
//     plan is still found;
//   - Los Angeles's dose already due is the plan's last (a course of two,
//     an end tonight): New York's is made all the same;
//   - two orphans, the first picking a dose of a day whose old dose was
//     skipped in advance: the second's dose is made, scored by the second;
//   - an orphan of the day before, in a late window of 24 h, makes no dose
//     of that day;
//   - a repeat opening of the orphan that made London's 08:00 is its
//     duplicate, and takes no later dose (active, or paused and resumed);
//   - an orphan whose pick is a past dose not made (its day skipped in
//     advance) stays an orphan, and takes no later dose;
//   - New York's 08:00 made and taken, Los Angeles's excluded, then a
//     move back to Los Angeles: the day keeps one dose, the one taken.
//
// In the last two, the patient's real taking of London's 10:00 then
// scores it, not flagged a possible double dose.
func TestOrphanDecidesTheNewZonesPastDose(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 3, 2, h, m, 0, 0, time.UTC) }
	move := func(f *fixture, p *adherence.Patient, zone string) {
		cur, err := f.s.GetPatient(f.ctx, f.org, p.ID)
		if err != nil {
			f.t.Fatal(err)
		}
		cur.TimeZone = zone
		if err := f.s.UpdatePatient(f.ctx, f.actor, &cur, cur.Version); err != nil {
			f.t.Fatal(err)
		}
	}
	dosesOfThe2nd := func(f *fixture, planID string) []string {
		var got []string
		for _, d := range f.doses(planID, at(0, 0), at(23, 59)) {
			got = append(got, fmt.Sprintf("%s %s %s", d.DueAt.UTC().Format("15:04Z"), d.LocalTime, d.Status))
		}
		return got
	}
	check := func(f *fixture, planID string, want ...string) {
		f.t.Helper()
		if got := dosesOfThe2nd(f, planID); strings.Join(got, "\n") != strings.Join(want, "\n") {
			f.t.Errorf("doses of the 2nd:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	t.Run("named skip", func(t *testing.T) {
		each(t, func(t *testing.T, f *fixture) {
			p := f.patient("America/Los_Angeles")
			pl := f.plan(p.ID, timeOfDay("08:00", "20:00"))
			f.now = at(12, 55) // 07:55 in New York
			skip := f.ev(p.ID, pl.ID, adherence.EventSkipped, f.now, "skip-evening")
			skip.Event.RequestedDose = f.doses(pl.ID, at(23, 0).Add(5*time.Hour), at(23, 0).Add(6*time.Hour))[0].ID // 20:00 in Los Angeles
			if out := f.record(skip)[0]; out.Err != nil || out.Event.Result != adherence.ResultScored {
				t.Fatalf("skip of tonight's dose: %+v", out)
			}
			f.now = at(13, 0)
			cur, err := f.s.GetPlan(f.ctx, f.org, pl.ID)
			if err != nil {
				t.Fatal(err)
			}
			cur.Timing = timeOfDay("08:00") // tonight's dose is gone, its skip an orphan
			if err := f.s.UpdatePlan(f.ctx, f.actor, &cur, cur.Version); err != nil {
				t.Fatal(err)
			}
			f.now = at(13, 55)
			move(f, &p, "America/New_York")
			check(f, pl.ID, "04:00Z 2026-03-01T20:00 scheduled", "16:00Z 2026-03-02T08:00 scheduled")
			if n := f.count(`SELECT COUNT(*) FROM events WHERE client_event_id = 'skip-evening' AND result = 'orphan'`); n != 1 {
				t.Errorf("the skip of tonight's dose is no longer an orphan")
			}
		})
	})
	for _, count := range []int{0, 2} {
		t.Run(fmt.Sprintf("created after the dose, count %d", count), func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("America/Los_Angeles")
				f.now = at(13, 10) // 08:10 in New York
				tm := timeOfDay("08:00")
				if count > 0 {
					tm = countedTimeOfDay(count, "08:00")
				}
				pl := f.plan(p.ID, tm)
				f.now = at(13, 15)
				taken := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "taken"))[0]
				f.now = at(13, 40) // past the plan's first minutes: no zone correction
				move(f, &p, "America/New_York")
				if n := f.count(`SELECT COUNT(*) FROM dose_instances WHERE plan_id = $1 AND (due_at < $2 OR seq = 0)`, pl.ID, pl.StartAt.UTC()); n != 0 {
					t.Errorf("%d doses before the plan's start", n)
				}
				f.eventIs(taken.Event.ID, string(adherence.ResultOrphan), "", false)
				if count > 0 {
					if n := f.count(`SELECT COUNT(*) FROM dose_instances WHERE plan_id = $1 AND status <> 'excluded'`, pl.ID); n != count {
						t.Errorf("%d doses for a course of %d", n, count)
					}
				}
			})
		})
	}
	t.Run("three a day to London", func(t *testing.T) {
		each(t, func(t *testing.T, f *fixture) {
			p := f.patient("America/Los_Angeles")
			pl := f.plan(p.ID, timeOfDay("08:00", "14:00", "20:00"))
			f.now = at(7, 55) // 07:55 in London
			taken := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "taken"))[0]
			f.now = at(8, 30)
			move(f, &p, "Europe/London")
			f.eventIs(taken.Event.ID, string(adherence.ResultScored), string(adherence.DoseTakenOnTime), false)
			check(f, pl.ID, "04:00Z 2026-03-01T20:00 scheduled", "08:00Z 2026-03-02T08:00 taken_on_time",
				"14:00Z 2026-03-02T14:00 scheduled", "20:00Z 2026-03-02T20:00 scheduled")
		})
	})
	t.Run("twice a day to Tokyo, evening taken", func(t *testing.T) {
		each(t, func(t *testing.T, f *fixture) {
			p := f.patient("America/Los_Angeles")
			pl := f.plan(p.ID, timeOfDay("08:00", "20:00"))
			f.now = at(11, 0) // 20:00 in Tokyo
			taken := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "taken"))[0]
			f.now = at(11, 30)
			move(f, &p, "Asia/Tokyo")
			f.eventIs(taken.Event.ID, string(adherence.ResultScored), string(adherence.DoseTakenOnTime), false)
			if n := f.count(`SELECT COUNT(*) FROM dose_instances WHERE plan_id = $1 AND status = 'scheduled' AND local_time LIKE '2026-03-02%' AND due_at > $2`, pl.ID, at(11, 0)); n != 0 {
				t.Errorf("%d doses of the 2nd still ahead after its 20:00 was taken:\n%s", n, strings.Join(dosesOfThe2nd(f, pl.ID), "\n"))
			}
		})
	})
	t.Run("one taking, two doses in reach", func(t *testing.T) {
		each(t, func(t *testing.T, f *fixture) {
			p := f.patient("America/Los_Angeles")
			pl := f.plan(p.ID, timeOfDay("08:00", "10:00"))
			f.now = at(9, 30) // in London
			taken := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "taken"))[0]
			f.now = at(10, 30)
			move(f, &p, "Europe/London")
			f.eventIs(taken.Event.ID, string(adherence.ResultScored), string(adherence.DoseTakenOnTime), false)
			if n := f.count(`SELECT COUNT(*) FROM dose_instances WHERE plan_id = $1 AND due_at >= $2 AND due_at < $3 AND status = 'scheduled'`, pl.ID, at(0, 0), f.now); n != 0 {
				t.Errorf("%d past doses made without an outcome:\n%s", n, strings.Join(dosesOfThe2nd(f, pl.ID), "\n"))
			}
		})
	})
	t.Run("Tokyo's 08:00 taken 13.5 h before the move", func(t *testing.T) {
		each(t, func(t *testing.T, f *fixture) {
			p := f.patient("America/Los_Angeles")
			pl := f.plan(p.ID, timeOfDay("08:00"))
			f.now = at(0, 0).Add(-time.Hour) // 08:00 of the 2nd in Tokyo
			taken := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "taken"))[0]
			f.now = at(12, 30)
			move(f, &p, "Asia/Tokyo")
			f.eventIs(taken.Event.ID, string(adherence.ResultScored), string(adherence.DoseTakenOnTime), false)
			if n := f.count(`SELECT COUNT(*) FROM dose_instances WHERE plan_id = $1 AND status = 'scheduled' AND local_time LIKE '2026-03-02%'`, pl.ID); n != 0 {
				t.Errorf("%d doses of the 2nd still to take after Tokyo's was taken:\n%s", n, strings.Join(dosesOfThe2nd(f, pl.ID), "\n"))
			}
		})
	})
	for _, how := range []string{"count 2", "end tonight"} {
		t.Run("the plan's last dose already due, "+how, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("America/Los_Angeles")
				pl := adherence.Plan{OrgID: f.org, PatientID: p.ID,
					Medication: adherence.Medication{RxNorm: "314076", Display: "lisinopril 10 MG Oral Tablet"},
					Dose:       "1 tablet", DaysSupply: 30, Timing: timeOfDay("08:00")}
				if how == "count 2" {
					pl.Timing = countedTimeOfDay(2, "08:00")
				} else {
					end := at(23, 0).Add(8 * time.Hour) // 23:00 in Los Angeles
					pl.EndAt = &end
				}
				if err := f.s.CreatePlan(f.ctx, f.actor, &pl); err != nil {
					t.Fatal(err)
				}
				f.now = at(12, 55) // 07:55 in New York
				taken := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "taken"))[0]
				if taken.Event.Result != adherence.ResultOrphan {
					t.Fatalf("the taking: %+v, want an orphan", taken)
				}
				f.now = at(16, 30) // 08:30 in Los Angeles: its 08:00 due, without an outcome
				move(f, &p, "America/New_York")
				f.eventIs(taken.Event.ID, string(adherence.ResultScored), string(adherence.DoseTakenOnTime), false)
				check(f, pl.ID, "13:00Z 2026-03-02T08:00 taken_on_time", "16:00Z 2026-03-02T08:00 excluded")
			})
		})
	}
	t.Run("two orphans, the first's day skipped in advance", func(t *testing.T) {
		each(t, func(t *testing.T, f *fixture) {
			p := f.patient("America/Los_Angeles")
			pl := f.plan(p.ID, timeOfDay("08:00", "09:30"))
			f.now = at(5, 0)
			skip := f.ev(p.ID, pl.ID, adherence.EventSkipped, f.now, "skip-0800")
			skip.Event.RequestedDose = f.doses(pl.ID, at(16, 0), at(16, 1))[0].ID // 08:00 in Los Angeles
			if out := f.record(skip)[0]; out.Err != nil || out.Event.Result != adherence.ResultScored {
				t.Fatalf("skip in advance: %+v", out)
			}
			f.now = at(8, 40) // in London
			o1 := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "o1"))[0]
			f.now = at(9, 35)
			o2 := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "o2"))[0]
			if o1.Event.Result != adherence.ResultOrphan || o2.Event.Result != adherence.ResultOrphan {
				t.Fatalf("the takings: %+v %+v, want orphans", o1, o2)
			}
			f.now = at(10, 0)
			move(f, &p, "Europe/London")
			f.eventIs(o2.Event.ID, string(adherence.ResultScored), string(adherence.DoseTakenOnTime), false)
			f.eventIs(o1.Event.ID, string(adherence.ResultOrphan), "", false)
			if n := f.count(`SELECT COUNT(*) FROM events WHERE plan_id = $1 AND double_dose`, pl.ID); n != 0 {
				t.Errorf("%d events flagged as possible double doses", n)
			}
		})
	})
	t.Run("an orphan of the day before", func(t *testing.T) {
		each(t, func(t *testing.T, f *fixture) {
			if err := f.s.SetWindows(f.ctx, f.actor, f.org, adherence.Windows{OnTime: time.Hour, LateMax: 24 * time.Hour, OpenDedupe: 15 * time.Minute}); err != nil {
				t.Fatal(err)
			}
			p := f.patient("America/Los_Angeles")
			pl := f.plan(p.ID, timeOfDay("08:00"))
			f.now = at(13, 0).Add(-24 * time.Hour) // 05:00 on the 1st in Los Angeles, three hours early
			taken := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "taken"))[0]
			if taken.Event.Result != adherence.ResultOrphan {
				t.Fatalf("the taking: %+v, want an orphan", taken)
			}
			f.now = at(13, 55) // the 2nd, 08:55 in New York
			move(f, &p, "America/New_York")
			f.eventIs(taken.Event.ID, string(adherence.ResultOrphan), "", false)
			if n := f.count(`SELECT COUNT(*) FROM dose_instances WHERE plan_id = $1 AND due_at = $2`, pl.ID, at(13, 0).Add(-24*time.Hour)); n != 0 {
				t.Errorf("New York's 08:00 of the 1st made for the taking of that day in Los Angeles")
			}
		})
	})
	realTakingOf1000 := func(f *fixture, p adherence.Patient, pl adherence.Plan) {
		f.t.Helper()
		f.now = at(10, 5)
		real := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "real-1000"))[0]
		if real.Err != nil || real.Event.Result != adherence.ResultScored || real.Event.DoubleDose {
			f.t.Errorf("the taking of London's 10:00: %+v, want it scored, no double dose", real)
		}
	}
	for _, paused := range []bool{false, true} {
		t.Run(fmt.Sprintf("a repeat opening, paused %v", paused), func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p := f.patient("America/Los_Angeles")
				pl := f.plan(p.ID, timeOfDay("08:00", "10:00"))
				setPlan := func(st adherence.PlanStatus) {
					if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, st); err != nil {
						t.Fatal(err)
					}
				}
				f.now = at(6, 0)
				if paused {
					setPlan(adherence.PlanPaused)
				}
				f.now = at(8, 50) // in London
				o1 := f.record(f.ev(p.ID, pl.ID, adherence.EventOpened, f.now, "o1"))[0]
				f.now = at(9, 2)
				o2 := f.record(f.ev(p.ID, pl.ID, adherence.EventOpened, f.now, "o2"))[0]
				if o1.Event.Result != adherence.ResultOrphan || o2.Event.Result != adherence.ResultOrphan {
					t.Fatalf("the openings: %+v %+v, want orphans", o1, o2)
				}
				f.now = at(9, 5)
				move(f, &p, "Europe/London")
				if paused {
					f.now = at(9, 6)
					setPlan(adherence.PlanActive)
				}
				f.eventIs(o1.Event.ID, string(adherence.ResultScored), string(adherence.DoseTakenOnTime), false)
				f.eventIs(o2.Event.ID, string(adherence.ResultDuplicate), "", false)
				realTakingOf1000(f, p, pl)
			})
		})
	}
	t.Run("an orphan whose pick is not made", func(t *testing.T) {
		each(t, func(t *testing.T, f *fixture) {
			p := f.patient("America/Los_Angeles")
			pl := f.plan(p.ID, timeOfDay("08:00", "10:00"))
			f.now = at(5, 0)
			skip := f.ev(p.ID, pl.ID, adherence.EventSkipped, f.now, "skip-0800")
			skip.Event.RequestedDose = f.doses(pl.ID, at(16, 0), at(16, 1))[0].ID // 08:00 in Los Angeles
			if out := f.record(skip)[0]; out.Err != nil || out.Event.Result != adherence.ResultScored {
				t.Fatalf("skip in advance: %+v", out)
			}
			f.now = at(9, 0) // in London, as far from 08:00 as from 10:00
			o := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "o"))[0]
			f.now = at(9, 1)
			move(f, &p, "Europe/London")
			f.eventIs(o.Event.ID, string(adherence.ResultOrphan), "", false)
			realTakingOf1000(f, p, pl)
		})
	})
	t.Run("back to Los Angeles", func(t *testing.T) {
		each(t, func(t *testing.T, f *fixture) {
			p := f.patient("America/Los_Angeles")
			pl := f.plan(p.ID, timeOfDay("08:00"))
			f.now = at(12, 55) // 07:55 in New York
			taken := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "taken"))[0]
			f.now = at(16, 30) // Los Angeles's 08:00 due
			move(f, &p, "America/New_York")
			f.now = at(16, 40)
			move(f, &p, "America/Los_Angeles")
			f.eventIs(taken.Event.ID, string(adherence.ResultScored), string(adherence.DoseTakenOnTime), false)
			check(f, pl.ID, "13:00Z 2026-03-02T08:00 taken_on_time", "16:00Z 2026-03-02T08:00 excluded")
		})
	})
	t.Run("Los Angeles's dose already due", func(t *testing.T) {
		each(t, func(t *testing.T, f *fixture) {
			p := f.patient("America/Los_Angeles")
			pl := f.plan(p.ID, timeOfDay("08:00"))
			f.now = at(12, 55) // 07:55 in New York
			taken := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "taken"))[0]
			f.now = at(16, 30) // 08:30 in Los Angeles
			move(f, &p, "America/New_York")
			f.eventIs(taken.Event.ID, string(adherence.ResultScored), string(adherence.DoseTakenOnTime), false)
			check(f, pl.ID, "13:00Z 2026-03-02T08:00 taken_on_time", "16:00Z 2026-03-02T08:00 excluded")
			if n := f.count(`SELECT COUNT(*) FROM dose_instances WHERE plan_id = $1 AND remind_at IS NOT NULL AND due_at < $2`, pl.ID, at(23, 0)); n != 0 {
				t.Errorf("%d doses of the 2nd still to be reminded", n)
			}
		})
	})
}
