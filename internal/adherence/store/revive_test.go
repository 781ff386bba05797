package store_test

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
)

// TestEventsForExcludedDosesScoreWhenRevived: a taking reported while its
// dose was excluded (plan paused, patient deactivated) is only recorded;
// once the dose is scheduled again (plan resumed, patient reactivated) it
// scores the dose, as it would have had the dose been scheduled, so the
// missed-dose job does not mark a dose the patient took as missed.
func TestEventsForExcludedDosesScoreWhenRevived(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		at := func(d, hh, mm int) time.Time { return time.Date(2026, 3, d, hh, mm, 0, 0, time.UTC) }
		p := f.patient("UTC")
		pl := f.plan(p.ID, timeOfDay("12:00:00"))
		dose := func(day int) adherence.DoseInstance {
			t.Helper()
			ds := f.doses(pl.ID, at(day, 0, 0), at(day+1, 0, 0))
			if len(ds) != 1 {
				t.Fatalf("%d doses on March %d, want 1", len(ds), day)
			}
			return ds[0]
		}
		setPlan := func(st adherence.PlanStatus) {
			t.Helper()
			if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, st); err != nil {
				t.Fatalf("set plan %s: %v", st, err)
			}
		}
		setPatient := func(active bool) {
			t.Helper()
			if _, err := f.s.SetPatientActive(f.ctx, f.actor, f.org, p.ID, active); err != nil {
				t.Fatalf("set patient active=%v: %v", active, err)
			}
		}

		// March 2: paused at 08:00, taken at 11:30 (early, inside the
		// on-time window of the 12:00 dose), resumed at 11:40, before the
		// dose is due (doses due before a resume stay excluded).
		f.now = at(2, 8, 0)
		setPlan(adherence.PlanPaused)
		f.now = at(2, 11, 32)
		taken := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, at(2, 11, 30), "paused-taken"))[0]
		if taken.Err != nil || taken.Event.Result != adherence.ResultRecorded || taken.Event.DoseInstanceID != dose(2).ID {
			t.Fatalf("taking while paused: %+v", taken)
		}
		// A second report of the same taking, a minute later, is then a
		// duplicate.
		again := f.record(f.ev(p.ID, pl.ID, adherence.EventOpened, at(2, 11, 31), "paused-open"))[0]
		f.now = at(2, 11, 40)
		setPlan(adherence.PlanActive)
		d2 := dose(2)
		if d2.Status != adherence.DoseTakenOnTime || d2.EventID != taken.Event.ID || d2.TakenAt == nil || !d2.TakenAt.Equal(at(2, 11, 30)) {
			t.Errorf("March 2 after resume: %+v, want taken on time at 11:30 by %s", d2, taken.Event.ID)
		}

		// March 3: patient deactivated at 08:00, a skip at 11:50,
		// reactivated at 11:55.
		f.now = at(3, 8, 0)
		setPatient(false)
		f.now = at(3, 11, 52)
		skipped := f.record(f.ev(p.ID, pl.ID, adherence.EventSkipped, at(3, 11, 50), "inactive-skip"))[0]
		if skipped.Err != nil || skipped.Event.Result != adherence.ResultRecorded {
			t.Fatalf("skip while deactivated: %+v", skipped)
		}
		f.now = at(3, 11, 55)
		setPatient(true)

		if d3 := dose(3); d3.Status != adherence.DoseSkipped || d3.EventID != skipped.Event.ID || d3.SkipReason != "side_effects" {
			t.Errorf("March 3 after reactivation: %+v, want skipped (side_effects) by %s", d3, skipped.Event.ID)
		}
		for _, c := range []struct {
			id, result, status string
		}{
			{taken.Event.ID, "scored", "taken_on_time"},
			{again.Event.ID, "duplicate", ""},
			{skipped.Event.ID, "scored", "skipped"},
		} {
			if n := f.count(`SELECT COUNT(*) FROM events WHERE id = $1 AND result = $2 AND dose_status = $3`, c.id, c.result, c.status); n != 1 {
				t.Errorf("event %s: not %s/%q", c.id, c.result, c.status)
			}
		}

		// Nothing left for the missed-dose job on those two days.
		if _, err := f.s.MarkMissed(f.ctx, at(4, 0, 0)); err != nil {
			t.Fatal(err)
		}
		if d := dose(2); d.Status != adherence.DoseTakenOnTime {
			t.Errorf("March 2 after the missed-dose job: %s", d.Status)
		}
		if d := dose(3); d.Status != adherence.DoseSkipped {
			t.Errorf("March 3 after the missed-dose job: %s", d.Status)
		}
	})
}

// TestRevivedDoseKeepsDoubleDose: a second taking reported while the dose
// was excluded, later than the de-duplication window after the first,
// flags a possible double dose once the dose is revived, as it would have
// had the dose been scheduled.
func TestRevivedDoseKeepsDoubleDose(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		at := func(hh, mm int) time.Time { return time.Date(2026, 3, 2, hh, mm, 0, 0, time.UTC) }
		p := f.patient("UTC")
		pl := f.plan(p.ID, timeOfDay("12:00:00"))
		f.now = at(8, 0)
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanPaused); err != nil {
			t.Fatal(err)
		}
		f.now = at(11, 40)
		f.record(f.ev(p.ID, pl.ID, adherence.EventOpened, at(11, 5), "first-open"))
		second := f.record(f.ev(p.ID, pl.ID, adherence.EventOpened, at(11, 35), "second-open"))[0]
		if second.Err != nil || second.Event.Result != adherence.ResultRecorded {
			t.Fatalf("second opening while paused: %+v", second)
		}
		f.now = at(11, 45)
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanActive); err != nil {
			t.Fatal(err)
		}
		ds := f.doses(pl.ID, at(0, 0), at(23, 59))
		if len(ds) != 1 || ds[0].Status != adherence.DoseTakenOnTime || !ds[0].DoubleDose || ds[0].TakenAt == nil || !ds[0].TakenAt.Equal(at(11, 5)) {
			t.Fatalf("dose after resume: %+v, want taken on time at 11:05 with a possible double dose", ds)
		}
		if n := f.count(`SELECT COUNT(*) FROM events WHERE id = $1 AND double_dose`, second.Event.ID); n != 1 {
			t.Errorf("the second opening is not flagged as a possible double dose")
		}
	})
}

// TestRevivedEventsMatchAsIfScheduled: doses at 08:00 and 09:00; takings at
// 08:00 and 08:20 reported while the plan was paused went both to the
// 08:00 dose (the nearest: no excluded dose counts as taken). Once the plan
// is resumed they are decided as on an active plan: the second taking is
// the 09:00 dose's (taken on time), not a double dose of the 08:00 one
// with the 09:00 dose left to be missed.
func TestRevivedEventsMatchAsIfScheduled(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.now = local(2026, 3, 2, 6, 0).UTC()
		p := f.patient("America/New_York")
		paused := f.plan(p.ID, timeOfDay("08:00", "09:00"))
		active := f.plan(p.ID, timeOfDay("08:00", "09:00"))
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, paused.ID, adherence.PlanPaused); err != nil {
			t.Fatal(err)
		}
		var second [2]store.EventOutcome
		for k, pl := range []adherence.Plan{paused, active} {
			f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 0), "first-"+pl.ID))
			second[k] = f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 20), "second-"+pl.ID))[0]
		}
		f.now = local(2026, 3, 2, 7, 0).UTC()
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, paused.ID, adherence.PlanActive); err != nil {
			t.Fatal(err)
		}
		for k, pl := range []adherence.Plan{paused, active} {
			ds := f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))
			if len(ds) != 2 || ds[0].Status != adherence.DoseTakenOnTime || ds[0].DoubleDose ||
				ds[1].Status != adherence.DoseTakenOnTime || ds[1].EventID != second[k].Event.ID {
				t.Errorf("plan %d: doses %+v, want both taken on time, the 09:00 one by the second taking", k, ds)
			}
		}
		var result string
		var instance int64
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT result, dose_instance_id FROM events WHERE id = $1`, second[0].Event.ID).Scan(&result, &instance); err != nil {
			t.Fatal(err)
		}
		if ds := f.doses(paused.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0)); result != "scored" || len(ds) != 2 || instance != ds[1].ID {
			t.Errorf("second taking: result %s, instance %d; want scored on the 09:00 dose", result, instance)
		}
	})
}

// TestOutcomesInAdvanceGoWithTheirDose: a dose decided before it was due
// (skipped in advance, taken inside its on-time window before the due
// time) follows its dose when the plan is paused or stopped or the
// patient deactivated before that time: excluded, its events recorded
// (and scoring it again when a resume or a reactivation brings it back
// before it is due), or deleted with the stopped plan's future doses, its
// events orphans. The outcome stayed on the dose: a plan stopped after a
// skip in advance reported a skipped dose that would never fall due.
func TestOutcomesInAdvanceGoWithTheirDose(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		at := func(d, hh, mm int) time.Time { return time.Date(2026, 3, d, hh, mm, 0, 0, time.UTC) }
		p := f.patient("UTC")
		pl := f.plan(p.ID, timeOfDay("12:00:00"))
		dose := func(plan string, day int) adherence.DoseInstance {
			t.Helper()
			ds := f.doses(plan, at(day, 0, 0), at(day+1, 0, 0))
			if len(ds) != 1 {
				t.Fatalf("%d doses of plan %s on March %d, want 1", len(ds), plan, day)
			}
			return ds[0]
		}
		skipAhead := func(plan string, day int, key string) adherence.Event {
			t.Helper()
			in := f.ev(p.ID, plan, adherence.EventSkipped, f.now, key)
			in.Event.RequestedDose = dose(plan, day).ID
			o := f.record(in)[0]
			if o.Err != nil || o.Event.Result != adherence.ResultScored || dose(plan, day).Status != adherence.DoseSkipped {
				t.Fatalf("skip in advance: %+v, dose %+v", o, dose(plan, day))
			}
			return o.Event
		}
		counts := func(plan string, day int) adherence.DoseCounts {
			t.Helper()
			c, err := f.s.DoseCounts(f.ctx, f.org, store.ReportFilter{PlanID: plan, From: at(day, 0, 0), To: at(day+1, 0, 0)})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		setPlan := func(plan string, st adherence.PlanStatus) {
			t.Helper()
			if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, plan, st); err != nil {
				t.Fatalf("set plan %s: %v", st, err)
			}
		}

		// Paused after a skip in advance: excluded, the skip recorded;
		// resumed before the dose is due: skipped again.
		f.now = at(2, 9, 0)
		skip := skipAhead(pl.ID, 2, "skip-ahead")
		f.now = at(2, 9, 10)
		setPlan(pl.ID, adherence.PlanPaused)
		if d := dose(pl.ID, 2); d.Status != adherence.DoseExcluded || d.EventID != "" || d.SkipReason != "" {
			t.Errorf("dose skipped in advance, plan paused: %+v, want excluded without the skip", d)
		}
		if c := counts(pl.ID, 2); c.Skipped != 0 || c.Excluded != 1 {
			t.Errorf("report of the paused plan's day: %+v, want the dose excluded, not skipped", c)
		}
		f.eventIs(skip.ID, "recorded", "", false)
		f.now = at(2, 9, 20)
		setPlan(pl.ID, adherence.PlanActive)
		if d := dose(pl.ID, 2); d.Status != adherence.DoseSkipped || d.EventID != skip.ID || d.SkipReason != "side_effects" {
			t.Errorf("plan resumed before the dose: %+v, want skipped by %s again", d, skip.ID)
		}
		f.eventIs(skip.ID, "scored", "skipped", false)

		// Patient deactivated after a skip in advance, then reactivated.
		f.now = at(3, 9, 0)
		skip3 := skipAhead(pl.ID, 3, "skip-ahead-3")
		f.now = at(3, 9, 5)
		if _, err := f.s.SetPatientActive(f.ctx, f.actor, f.org, p.ID, false); err != nil {
			t.Fatal(err)
		}
		if d := dose(pl.ID, 3); d.Status != adherence.DoseExcluded {
			t.Errorf("dose skipped in advance, patient deactivated: %+v, want excluded", d)
		}
		f.eventIs(skip3.ID, "recorded", "", false)
		f.now = at(3, 9, 10)
		if _, err := f.s.SetPatientActive(f.ctx, f.actor, f.org, p.ID, true); err != nil {
			t.Fatal(err)
		}
		if d := dose(pl.ID, 3); d.Status != adherence.DoseSkipped || d.EventID != skip3.ID {
			t.Errorf("patient reactivated before the dose: %+v, want skipped by %s again", d, skip3.ID)
		}

		// Stopped after a taking inside the on-time window, before the
		// due time: the dose goes, the taking is an orphan.
		f.now = at(4, 11, 35)
		taken := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, at(4, 11, 30), "taken-ahead"))[0]
		if taken.Err != nil || dose(pl.ID, 4).Status != adherence.DoseTakenOnTime {
			t.Fatalf("taking before the due time: %+v, dose %+v", taken, dose(pl.ID, 4))
		}
		f.now = at(4, 11, 40)
		setPlan(pl.ID, adherence.PlanStopped)
		if ds := f.doses(pl.ID, at(4, 0, 0), at(5, 0, 0)); len(ds) != 0 {
			t.Errorf("doses of the stopped plan due after the stop: %+v, want none", ds)
		}
		if c := counts(pl.ID, 4); c.Scheduled != 0 || c.OnTime != 0 || c.Orphans != 1 {
			t.Errorf("report of the stopped plan's day: %+v, want no dose and the taking an orphan", c)
		}
		f.eventIs(taken.Event.ID, "orphan", "", false)
	})
}
