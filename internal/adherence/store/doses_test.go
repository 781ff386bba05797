package store_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/phi"
)

func TestPlanDosesInPatientZone(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00:00"))
		if pl.GeneratedUntil == nil || !pl.GeneratedUntil.Equal(start.Add(14*day)) {
			t.Fatalf("generated until %v", pl.GeneratedUntil)
		}
		got, err := f.s.GetPlan(f.ctx, f.org, pl.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(pl, got); diff != "" {
			t.Errorf("plan (-created +read):\n%s", diff)
		}
		ds := f.allDoses(pl.ID)
		if len(ds) != 14 {
			t.Fatalf("%d doses, want 14", len(ds))
		}
		for i, d := range ds {
			date := start.AddDate(0, 0, i)
			hour := 13 // 08:00 EST
			if date.Day() >= 8 {
				hour = 12 // 08:00 EDT from 2026-03-08
			}
			want := time.Date(2026, 3, date.Day(), hour, 0, 0, 0, time.UTC)
			if !d.DueAt.Equal(want) || d.LocalTime != date.Format("2006-01-02")+"T08:00" || d.Status != adherence.DoseScheduled ||
				d.PlanID != pl.ID || d.PatientID != p.ID || d.Seq != i+1 {
				t.Errorf("dose %d = %+v, want due %v", i, d, want)
			}
		}
		byPatient, err := f.s.ListDoses(f.ctx, f.org, store.DoseFilter{PatientID: p.ID, From: start.Add(6 * day), To: start.Add(8 * day)})
		if err != nil {
			t.Fatal(err)
		}
		if len(byPatient) != 2 || byPatient[0].DueAt.Hour() != 13 || byPatient[1].DueAt.Hour() != 12 {
			t.Errorf("doses around the DST change = %+v", byPatient)
		}
		if limited, err := f.s.ListDoses(f.ctx, f.org, store.DoseFilter{PlanID: pl.ID, Limit: 3}); err != nil || len(limited) != 3 {
			t.Errorf("limited = %d, %v", len(limited), err)
		}
	})
}

func TestRegenerationIsIdempotent(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/Denver")
		pl := f.plan(p.ID, timeOfDay("08:00:00", "14:00:00", "20:00:00"))
		before := f.allDoses(pl.ID)
		for range 2 {
			if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, f.allDoses(pl.ID)); diff != "" {
				t.Fatalf("doses after regeneration (-before +after):\n%s", diff)
			}
		}
		res, err := f.s.ExtendHorizon(f.ctx, f.now)
		if err != nil {
			t.Fatal(err)
		}
		if res != (store.ExtendResult{}) {
			t.Errorf("ExtendHorizon right after creation = %+v", res)
		}
		if diff := cmp.Diff(before, f.allDoses(pl.ID)); diff != "" {
			t.Errorf("doses after ExtendHorizon (-before +after):\n%s", diff)
		}
	})
}

func TestTimingChangeKeepsOutcomes(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00:00"))
		ds := f.allDoses(pl.ID)
		past, future := ds[0], ds[5]
		f.exec(`UPDATE dose_instances SET status = 'taken_on_time' WHERE id = $1`, past.ID)
		f.exec(`UPDATE dose_instances SET status = 'taken_late' WHERE id = $1`, future.ID)
		f.now = start.Add(2*day + time.Hour)

		pl.Timing = timeOfDay("09:00:00")
		if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
			t.Fatal(err)
		}
		after := f.allDoses(pl.ID)
		kept := map[int64]adherence.DoseStatus{}
		for _, d := range after {
			kept[d.ID] = d.Status
			if d.DueAt.Before(f.now) || d.ID == future.ID {
				if !strings.HasSuffix(d.LocalTime, "T08:00") {
					t.Errorf("past or taken dose rewritten: %+v", d)
				}
				continue
			}
			if !strings.HasSuffix(d.LocalTime, "T09:00") || d.Status != adherence.DoseScheduled {
				t.Errorf("future dose = %+v, want scheduled at 09:00", d)
			}
		}
		if kept[past.ID] != "taken_on_time" || kept[future.ID] != "taken_late" {
			t.Errorf("outcomes after timing change: past %q, future %q", kept[past.ID], kept[future.ID])
		}
		// 2 past 08:00 doses + the taken one + 09:00 doses for 14 days from
		// now but the one of the taken dose's day: the taken dose is that
		// occurrence (same seq), so it is not scheduled a second time.
		if want := 2 + 1 + 13; len(after) != want {
			t.Errorf("%d doses after timing change, want %d", len(after), want)
		}
		if pl.GeneratedUntil == nil || !pl.GeneratedUntil.Equal(f.now.Add(14*day)) {
			t.Errorf("generated until %v", pl.GeneratedUntil)
		}
	})
}

func TestPlanStatusTransitions(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/Chicago")
		pl := f.plan(p.ID, timeOfDay("08:00:00", "20:00:00"))
		initial := f.allDoses(pl.ID)
		// A dose already due and taken keeps its outcome through pause
		// and stop (one decided before it was due does not:
		// TestOutcomesInAdvanceGoWithTheirDose).
		taken := initial[2]
		f.exec(`UPDATE dose_instances SET status = 'taken_on_time' WHERE id = $1`, taken.ID)
		f.now = start.Add(3 * day)
		isFuture := func(d adherence.DoseInstance) bool { return !d.DueAt.Before(f.now) }
		setStatus := func(st adherence.PlanStatus) adherence.Plan {
			t.Helper()
			got, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, st)
			if err != nil {
				t.Fatalf("set %s: %v", st, err)
			}
			return got
		}

		paused := setStatus(adherence.PlanPaused)
		if paused.Status != adherence.PlanPaused || paused.Version != 2 {
			t.Fatalf("paused plan = %+v", paused)
		}
		for _, d := range f.allDoses(pl.ID) {
			want := adherence.DoseScheduled
			switch {
			case d.ID == taken.ID:
				want = "taken_on_time"
			case isFuture(d):
				want = adherence.DoseExcluded
			}
			if d.Status != want {
				t.Errorf("after pause: %+v, want %s", d, want)
			}
		}
		if again := setStatus(adherence.PlanPaused); again.Version != 2 {
			t.Errorf("pausing a paused plan bumped the version to %d", again.Version)
		}
		if res, err := f.s.ExtendHorizon(f.ctx, f.now); err != nil || res.Plans != 0 {
			t.Errorf("ExtendHorizon on a paused plan = %+v, %v", res, err)
		}

		resumed := setStatus(adherence.PlanActive)
		if resumed.Status != adherence.PlanActive || resumed.Version != 3 {
			t.Fatalf("resumed plan = %+v", resumed)
		}
		afterResume := f.allDoses(pl.ID)
		for _, d := range afterResume {
			if d.Status == adherence.DoseExcluded {
				t.Errorf("excluded after resume: %+v", d)
			}
		}
		// The revived instances are the same rows; the horizon now reaches
		// 14 days past the resume.
		if len(afterResume) != len(initial)+6 || afterResume[0].ID != initial[0].ID || afterResume[27].ID != initial[27].ID {
			t.Errorf("%d doses after resume (%d before)", len(afterResume), len(initial))
		}

		stopped := setStatus(adherence.PlanStopped)
		if stopped.Status != adherence.PlanStopped {
			t.Fatalf("stopped plan = %+v", stopped)
		}
		for _, d := range f.allDoses(pl.ID) {
			if isFuture(d) && d.ID != taken.ID {
				t.Errorf("future dose left after stop: %+v", d)
			}
		}
		if n := len(f.allDoses(pl.ID)); n != 6 {
			t.Errorf("%d doses after stop, want the 6 past", n)
		}
		for _, d := range f.allDoses(pl.ID) {
			if d.ID == taken.ID && d.Status != adherence.DoseTakenOnTime {
				t.Errorf("the past dose taken, after stop: %+v", d)
			}
		}
		for _, st := range []adherence.PlanStatus{adherence.PlanActive, adherence.PlanPaused} {
			_, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, st)
			wantCode(t, err, errs.CodeConflict)
		}
		if again := setStatus(adherence.PlanStopped); again.Version != stopped.Version {
			t.Errorf("stopping a stopped plan bumped the version")
		}
		wantCode(t, f.s.UpdatePlan(f.ctx, f.actor, &stopped, stopped.Version), errs.CodeConflict)
		_, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, "finished")
		wantCode(t, err, errs.CodeInvalid)
	})
}

func TestDeactivationKeepsHistory(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00:00", "20:00:00"))
		first := f.allDoses(pl.ID)[0]
		f.exec(`UPDATE dose_instances SET status = 'missed' WHERE id = $1`, first.ID)
		total := len(f.allDoses(pl.ID))
		f.now = start.Add(2 * day)

		got, err := f.s.SetPatientActive(f.ctx, f.actor, f.org, p.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		if got.Active || got.DeactivatedAt == nil || !got.DeactivatedAt.Equal(f.now) || got.Version != 2 {
			t.Fatalf("deactivated patient = %+v", got)
		}
		after := f.allDoses(pl.ID)
		if len(after) != total {
			t.Fatalf("%d doses after deactivation, want %d (nothing deleted)", len(after), total)
		}
		for _, d := range after {
			want := adherence.DoseScheduled
			switch {
			case d.ID == first.ID:
				want = "missed"
			case !d.DueAt.Before(f.now):
				want = adherence.DoseExcluded
			}
			if d.Status != want {
				t.Errorf("after deactivation: %+v, want %s", d, want)
			}
		}
		if _, err := f.s.GetPatient(f.ctx, f.org, p.ID); err != nil {
			t.Errorf("deactivated patient is gone: %v", err)
		}
		if _, err := f.s.GetPlan(f.ctx, f.org, pl.ID); err != nil {
			t.Errorf("plan of deactivated patient is gone: %v", err)
		}
		wantCode(t, f.s.CreatePlan(f.ctx, f.actor, &adherence.Plan{OrgID: f.org, PatientID: p.ID, Timing: timeOfDay("09:00")}), errs.CodeConflict)
		if res, err := f.s.ExtendHorizon(f.ctx, f.now.Add(day)); err != nil || res.Plans != 0 {
			t.Errorf("ExtendHorizon for an inactive patient = %+v, %v", res, err)
		}
		var deleted bool
		for _, r := range f.auditRecords() {
			deleted = deleted || (r.Action == "D" && r.ResourceType == "Patient" && r.ResourceID == p.ID)
		}
		if !deleted {
			t.Error("no D audit record for the deactivation")
		}

		f.now = start.Add(3 * day)
		got, err = f.s.SetPatientActive(f.ctx, f.actor, f.org, p.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Active || got.DeactivatedAt != nil || got.Version != 3 {
			t.Fatalf("reactivated patient = %+v", got)
		}
		for _, d := range f.allDoses(pl.ID) {
			if d.Status == adherence.DoseExcluded && !d.DueAt.Before(f.now) {
				t.Errorf("future dose still excluded after reactivation: %+v", d)
			}
		}
		if n := len(f.doses(pl.ID, f.now, f.now.Add(14*day))); n != 28 {
			t.Errorf("%d doses in the 14 days after reactivation, want 28", n)
		}
	})
}

func TestTimeZoneAndAnchorChangesRegenerate(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00:00"))
		meal := f.plan(p.ID, schedule.Timing{Repeat: &schedule.Repeat{When: []string{"CM"}}})
		f.now = start.Add(day + time.Hour)

		p.TimeZone = "America/Los_Angeles"
		if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
			t.Fatal(err)
		}
		for _, d := range f.allDoses(pl.ID) {
			if !strings.HasSuffix(d.LocalTime, "T08:00") {
				t.Errorf("dose %+v not at 08:00", d)
			}
			date, _ := time.Parse("2006-01-02", d.LocalTime[:10])
			loc := time.UTC
			if !d.DueAt.Before(f.now) {
				loc, _ = time.LoadLocation("America/Los_Angeles")
			} else {
				loc, _ = time.LoadLocation("America/New_York")
			}
			if want := time.Date(date.Year(), date.Month(), date.Day(), 8, 0, 0, 0, loc); !d.DueAt.Equal(want) {
				t.Errorf("dose %+v due %v, want %v", d, d.DueAt, want.UTC())
			}
		}

		p.Anchors.Breakfast = 6*60 + 45
		if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
			t.Fatal(err)
		}
		for _, d := range f.allDoses(meal.ID) {
			wantClock := "T07:30" // before the change, in New York
			if !d.DueAt.Before(f.now) {
				wantClock = "T06:45"
			}
			if !strings.HasSuffix(d.LocalTime, wantClock) {
				t.Errorf("meal dose %+v, want %s", d, wantClock)
			}
		}
		if n := len(f.doses(meal.ID, f.now, f.now.Add(14*day))); n != 14 {
			t.Errorf("%d meal doses in the next 14 days, want 14", n)
		}
	})
}

func TestExtendHorizon(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.s.ChunkSize = 2
		zones := []string{"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Phoenix"}
		var plans []adherence.Plan
		for _, z := range zones {
			p := f.patient(z)
			plans = append(plans, f.plan(p.ID, timeOfDay("08:00:00", "13:00:00", "19:00:00")))
		}
		prn := adherence.Plan{OrgID: f.org, PatientID: f.patient("America/New_York").ID, AsNeeded: true}
		if err := f.s.CreatePlan(f.ctx, f.actor, &prn); err != nil {
			t.Fatal(err)
		}
		snapshot := func() map[int64]adherence.DoseInstance {
			m := map[int64]adherence.DoseInstance{}
			for _, pl := range plans {
				for _, d := range f.allDoses(pl.ID) {
					m[d.ID] = d
				}
			}
			return m
		}
		before := snapshot()

		res, err := f.s.ExtendHorizon(f.ctx, f.now)
		if err != nil || res != (store.ExtendResult{}) {
			t.Fatalf("first run = %+v, %v; want nothing to do", res, err)
		}

		f.now = start.Add(day)
		res, err = f.s.ExtendHorizon(f.ctx, f.now)
		if err != nil {
			t.Fatal(err)
		}
		if want := (store.ExtendResult{Plans: 5, Instances: 15}); res != want {
			t.Errorf("after a day = %+v, want %+v", res, want)
		}
		after := snapshot()
		for id, d := range before {
			if diff := cmp.Diff(d, after[id]); diff != "" {
				t.Errorf("existing dose changed (-before +after):\n%s", diff)
			}
		}
		for id, d := range after {
			if _, old := before[id]; !old && (d.DueAt.Before(start.Add(14*day)) || !d.DueAt.Before(start.Add(15*day))) {
				t.Errorf("new dose outside the new day: %+v", d)
			}
		}
		if res, err := f.s.ExtendHorizon(f.ctx, f.now); err != nil || res != (store.ExtendResult{}) {
			t.Errorf("second run the same day = %+v, %v", res, err)
		}

		// Two runs at once share the work and create no duplicates.
		f.now = start.Add(2 * day)
		var wg sync.WaitGroup
		results := make([]store.ExtendResult, 2)
		errors := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errors[i] = f.s.ExtendHorizon(f.ctx, f.now)
			}()
		}
		wg.Wait()
		if errors[0] != nil || errors[1] != nil {
			t.Fatal(errors)
		}
		if sum := results[0].Instances + results[1].Instances; sum != 15 || results[0].Plans+results[1].Plans != 5 {
			t.Errorf("concurrent runs = %+v", results)
		}
		if n := f.count(`SELECT COUNT(*) FROM (SELECT plan_id, due_at FROM dose_instances GROUP BY plan_id, due_at HAVING COUNT(*) > 1) AS dup`); n != 0 {
			t.Errorf("%d duplicated doses", n)
		}
		for _, pl := range plans {
			got, err := f.s.GetPlan(f.ctx, f.org, pl.ID)
			if err != nil || got.GeneratedUntil == nil || !got.GeneratedUntil.Equal(f.now.Add(14*day)) {
				t.Errorf("plan generated until %v, %v", got.GeneratedUntil, err)
			}
		}
		if n := len(f.allDoses(prn.ID)); n != 0 {
			t.Errorf("PRN plan has %d doses", n)
		}
	})
}

func TestPRNPlanHasNoDoses(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		for _, timing := range []schedule.Timing{{}, timeOfDay("08:00:00")} {
			pl := adherence.Plan{OrgID: f.org, PatientID: p.ID, AsNeeded: true, Timing: timing,
				Medication: adherence.Medication{RxNorm: "198211", Display: "albuterol"}}
			if err := f.s.CreatePlan(f.ctx, f.actor, &pl); err != nil {
				t.Fatal(err)
			}
			if n := len(f.allDoses(pl.ID)); n != 0 {
				t.Errorf("PRN plan has %d doses at creation", n)
			}
		}
		if res, err := f.s.ExtendHorizon(f.ctx, f.now.Add(day)); err != nil || res.Instances != 0 || res.Plans != 0 {
			t.Errorf("ExtendHorizon with only PRN plans = %+v, %v", res, err)
		}
	})
}

// TestPlanSwitchedToAsNeededLeavesNoOpenDose switches a plan to as needed
// while a dose is due and its window still open. Events of a PRN plan are
// logged only (as_needed), so that dose could never be scored: left
// scheduled, the missed-dose job marked it missed, and announced it to the
// escalation engine, although the patient reported taking it. A PRN dose
// is excluded, as the future ones are when regeneration deletes them.
func TestPlanSwitchedToAsNeededLeavesNoOpenDose(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00"))
		f.now = local(2026, 3, 2, 8, 30).UTC() // the 08:00 dose is pending
		pl.AsNeeded = true
		if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
			t.Fatal(err)
		}
		f.now = local(2026, 3, 2, 8, 46).UTC()
		out := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 45), "prn-taken"))
		if out[0].Err != nil || out[0].Event.Result != adherence.ResultAsNeeded {
			t.Fatalf("taking = %+v, want as_needed", out[0])
		}
		if _, err := f.s.MarkMissed(f.ctx, local(2026, 3, 2, 12, 0)); err != nil {
			t.Fatal(err)
		}
		ds := f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))
		if len(ds) != 1 || ds[0].Status != adherence.DoseExcluded {
			t.Fatalf("doses of 2026-03-02 = %+v, want the 08:00 dose excluded", ds)
		}
		if n := f.count(`SELECT COUNT(*) FROM outbox WHERE topic = 'dose.missed' AND dedupe_key = $1`, fmt.Sprint(ds[0].ID)); n != 0 {
			t.Errorf("%d dose.missed records for the PRN dose, want none", n)
		}
		if n := len(f.doses(pl.ID, f.now, time.Time{})); n != 0 {
			t.Errorf("%d future doses of the PRN plan, want none", n)
		}
	})
}

// TestPlanStartMovedLaterExcludesEarlierDoses moves a plan's start past a
// dose that is due and still open. Events before the new start are refused
// ("before the plan started") and doses are never scheduled before a
// plan's start, so that dose could only be missed: the missed-dose job
// marked it and announced it for escalation. It is excluded, as a dose
// before enrolment is.
func TestPlanStartMovedLaterExcludesEarlierDoses(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00"))
		f.now = local(2026, 3, 2, 8, 30).UTC() // the 08:00 dose is pending
		pl.StartAt = local(2026, 3, 3, 0, 0).UTC()
		if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
			t.Fatal(err)
		}
		f.now = local(2026, 3, 2, 8, 46).UTC()
		out := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 45), "before-start"))
		if e, ok := out[0].Err.(*errs.Error); !ok || e.Field != "occurredAt" {
			t.Fatalf("taking before the new start = %+v, want refused naming occurredAt", out[0])
		}
		if _, err := f.s.MarkMissed(f.ctx, local(2026, 3, 2, 12, 0)); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 4, 0, 0)) {
			got = append(got, fmt.Sprintf("%s %s", d.LocalTime, d.Status))
		}
		want := []string{"2026-03-02T08:00 excluded", "2026-03-03T08:00 scheduled"}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("doses:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if n := f.count(`SELECT COUNT(*) FROM outbox WHERE topic = 'dose.missed' AND patient_id = $1 AND created_at > $2`, p.ID, local(2026, 3, 2, 8, 0).UTC()); n != 0 {
			t.Errorf("%d dose.missed records after the start moved, want none", n)
		}
	})
}

// TestPlanStartMovedLaterExcludesEarlierMisses moves a plan's start past
// a dose already marked missed: it was no dose of the plan, so it is
// excluded and announced as dose.resolved (an escalation about it ends),
// while the miss after the new start stays.
func TestPlanStartMovedLaterExcludesEarlierMisses(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00"))
		f.now = local(2026, 3, 2, 12, 0).UTC()
		if _, err := f.s.MarkMissed(f.ctx, f.now); err != nil {
			t.Fatal(err)
		}
		pl.StartAt = local(2026, 3, 2, 0, 0).UTC()
		if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range f.doses(pl.ID, local(2026, 3, 1, 0, 0), local(2026, 3, 3, 0, 0)) {
			got = append(got, fmt.Sprintf("%s %s", d.LocalTime, d.Status))
		}
		want := []string{"2026-03-01T08:00 excluded", "2026-03-02T08:00 missed"}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("doses:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if n := f.count(`SELECT COUNT(*) FROM outbox WHERE topic = 'dose.resolved' AND patient_id = $1 AND payload LIKE '%"status":"excluded"%'`, p.ID); n != 1 {
			t.Errorf("%d dose.resolved records of an excluded dose, want 1", n)
		}
	})
}

// TestPlanEndMovedEarlierExcludesLaterDoses moves a plan's end before a
// dose that is due and still open (the clinician records that the patient
// stopped the medication this morning). A plan has no dose after its end,
// so that dose could only be missed: the missed-dose job marked it and
// announced it for escalation. It is excluded, as a dose before the
// plan's start is.
func TestPlanEndMovedEarlierExcludesLaterDoses(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00"))
		f.now = local(2026, 3, 2, 8, 30).UTC() // the 08:00 dose is pending
		end := local(2026, 3, 2, 7, 0).UTC()
		pl.EndAt = &end
		if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.MarkMissed(f.ctx, local(2026, 3, 2, 12, 0)); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range f.doses(pl.ID, local(2026, 3, 1, 0, 0), local(2026, 3, 4, 0, 0)) {
			got = append(got, fmt.Sprintf("%s %s", d.LocalTime, d.Status))
		}
		want := []string{"2026-03-01T08:00 missed", "2026-03-02T08:00 excluded"}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("doses:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if n := f.count(`SELECT COUNT(*) FROM outbox WHERE topic = 'dose.missed' AND patient_id = $1`, p.ID); n != 1 {
			t.Errorf("%d dose.missed records, want 1 (the dose before the end)", n)
		}
	})
}

// decidedInAdvance creates a New York patient with a daily 08:00 plan,
// takes the 2026-03-02 dose ten minutes early (f.now is 07:50 then) and
// skips the next day's a day ahead ("take-early", "skip-ahead").
func (f *fixture) decidedInAdvance() adherence.Plan {
	f.t.Helper()
	p := f.patient("America/New_York")
	pl := f.plan(p.ID, timeOfDay("08:00"))
	f.now = local(2026, 3, 2, 7, 50).UTC()
	f.takeNextEarly(p.ID, pl.ID, "take-early")
	skip := f.ev(p.ID, pl.ID, adherence.EventSkipped, local(2026, 3, 3, 8, 0), "skip-ahead")
	ds := f.doses(pl.ID, local(2026, 3, 3, 0, 0), local(2026, 3, 4, 0, 0))
	skip.Event.RequestedDose = ds[0].ID
	if out := f.record(skip); out[0].Err != nil || out[0].Event.Result != adherence.ResultScored {
		f.t.Fatalf("skip a day ahead: %+v", out[0])
	}
	return pl
}

// decidedInAdvanceOrphaned checks that the events decidedInAdvance
// recorded on plan planID are orphans, and that the report counts neither.
func (f *fixture) decidedInAdvanceOrphaned(planID string) {
	f.t.Helper()
	for _, id := range []string{"take-early", "skip-ahead"} {
		if n := f.count(`SELECT COUNT(*) FROM events WHERE client_event_id = $1 AND result = 'orphan' AND dose_instance_id IS NULL`, id); n != 1 {
			f.t.Errorf("event %s is not an orphan", id)
		}
	}
	rep, err := f.s.DoseCounts(f.ctx, f.org, store.ReportFilter{PlanID: planID, From: local(2026, 3, 1, 0, 0), To: local(2026, 3, 4, 0, 0)})
	if err != nil {
		f.t.Fatal(err)
	}
	if rep.OnTime != 0 || rep.Skipped != 0 || rep.Orphans != 2 {
		f.t.Errorf("report: %+v, want no taking or skip counted, two orphans", rep)
	}
}

// TestBoundsMovedPastDosesDecidedInAdvance moves a plan's end before (and
// its start after) doses not yet due that were decided in advance: a
// taking early inside the on-time window, a skip a day ahead. They are no
// doses of the plan any more: deleted, their events orphans, as a stop
// does. Regeneration kept them, each standing for its occurrence, and the
// reports counted the taking (QA: the end of a daily 08:00 plan moved
// before a dose taken ten minutes early left the dose taken).
func TestBoundsMovedPastDosesDecidedInAdvance(t *testing.T) {
	for _, bound := range []string{"endAt", "startAt"} {
		t.Run(bound, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				pl := f.decidedInAdvance()
				switch bound {
				case "endAt": // the patient stopped this morning
					end := local(2026, 3, 2, 6, 0).UTC()
					pl.EndAt = &end
				case "startAt": // the course starts on the 4th after all
					pl.StartAt = local(2026, 3, 4, 0, 0).UTC()
				}
				if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
					t.Fatal(err)
				}
				if ds := f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 4, 0, 0)); len(ds) != 0 {
					t.Errorf("doses of the 2nd and 3rd after %s moved past them: %+v, want none", bound, ds)
				}
				f.decidedInAdvanceOrphaned(pl.ID)
			})
		})
	}
}

// TestPlanSwitchedToAsNeededDropsDosesDecidedInAdvance switches a plan to
// as needed after a dose not yet due was taken early and the next day's
// skipped in advance. A PRN plan has no schedule: they are deleted, their
// events orphans, as a stop or a bound moved past them does. The switch
// deleted only the doses ahead without an outcome, so the taking stayed a
// dose of the PRN plan, counted as on time once due (QA).
func TestPlanSwitchedToAsNeededDropsDosesDecidedInAdvance(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pl := f.decidedInAdvance()
		pl.AsNeeded = true
		if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
			t.Fatal(err)
		}
		if ds := f.doses(pl.ID, f.now, time.Time{}); len(ds) != 0 {
			t.Errorf("doses ahead of the PRN plan: %+v, want none", ds)
		}
		f.decidedInAdvanceOrphaned(pl.ID)
	})
}

func TestPlanEndBoundsDoses(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC")
		end := start.Add(3*day + 12*time.Hour)
		pl := adherence.Plan{OrgID: f.org, PatientID: p.ID, Timing: timeOfDay("08:00:00", "20:00:00"), EndAt: &end}
		if err := f.s.CreatePlan(f.ctx, f.actor, &pl); err != nil {
			t.Fatal(err)
		}
		if n := len(f.allDoses(pl.ID)); n != 7 {
			t.Errorf("%d doses before the end, want 7", n)
		}
		if res, err := f.s.ExtendHorizon(f.ctx, start.Add(5*day)); err != nil || res.Instances != 0 {
			t.Errorf("ExtendHorizon past the end = %+v, %v", res, err)
		}
		// Moving the end earlier removes the doses after it.
		earlier := start.Add(day + 12*time.Hour)
		pl.EndAt = &earlier
		if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
			t.Fatal(err)
		}
		if n := len(f.allDoses(pl.ID)); n != 3 {
			t.Errorf("%d doses after moving the end, want 3", n)
		}
		bad := pl
		bad.Timing = schedule.Timing{Repeat: &schedule.Repeat{TimeOfDay: []string{"25:00"}}}
		wantCode(t, f.s.UpdatePlan(f.ctx, f.actor, &bad, pl.Version), errs.CodeInvalid)
	})
}

// TestExtendHorizonOverExistingDoses covers the fallback of the fast path:
// when a plan's generated_until lags behind instances that exist, the
// extension upserts them instead of failing or duplicating.
func TestExtendHorizonOverExistingDoses(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00:00", "20:00:00"))
		before := f.allDoses(pl.ID)
		f.exec(`UPDATE dose_instances SET status = 'excluded' WHERE id = $1`, before[20].ID)
		f.exec(`UPDATE dose_instances SET status = 'skipped' WHERE id = $1`, before[21].ID)
		f.exec(`UPDATE plans SET generated_until = $1 WHERE id = $2`, start.Add(day), pl.ID)

		f.now = start.Add(day)
		res, err := f.s.ExtendHorizon(f.ctx, f.now)
		if err != nil {
			t.Fatal(err)
		}
		if want := (store.ExtendResult{Plans: 1, Instances: 1 + 2}); res != want {
			t.Errorf("result = %+v, want %+v (one revived, one new day)", res, want)
		}
		after := f.allDoses(pl.ID)
		if len(after) != len(before)+2 {
			t.Fatalf("%d doses, want %d", len(after), len(before)+2)
		}
		for i, d := range before {
			want := d
			if i == 21 {
				want.Status = "skipped"
			}
			if diff := cmp.Diff(want, after[i]); diff != "" {
				t.Errorf("dose %d (-want +got):\n%s", i, diff)
			}
		}
	})
}

// TestDoseInstancesReferenceTheirPlan checks the foreign key by which a
// dose instance names a plan of the same org and patient, and that a plan
// with dose instances cannot be removed.
func TestDoseInstancesReferenceTheirPlan(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00:00"))
		other := f.patient("America/New_York")
		b, actorB := f.otherOrg()
		pb := adherence.Patient{OrgID: b, GivenName: phi.New("B"), TimeZone: "UTC"}
		if err := f.s.CreatePatient(f.ctx, actorB, &pb); err != nil {
			t.Fatal(err)
		}
		insert := `INSERT INTO dose_instances (org_id, patient_id, plan_id, seq, due_at, local_time, status, created_at)
			VALUES ($1, $2, $3, 1, $4, '2026-04-01T08:00', 'scheduled', $4)`
		due := start.Add(40 * day)
		for name, args := range map[string][]any{
			"other org":     {b, p.ID, pl.ID, due},
			"other patient": {f.org, other.ID, pl.ID, due},
			"no such plan":  {f.org, p.ID, "0190a8e4-0000-7000-8000-000000000000", due},
		} {
			_, err := f.d.SQL.ExecContext(f.ctx, insert, args...)
			wantFKViolation(t, "insert referencing "+name, err)
		}
		if _, err := f.d.SQL.ExecContext(f.ctx, insert, f.org, p.ID, pl.ID, due); err != nil {
			t.Errorf("valid insert: %v", err)
		}
		_, err := f.d.SQL.ExecContext(f.ctx, `UPDATE dose_instances SET org_id = $1 WHERE plan_id = $2`, b, pl.ID)
		wantFKViolation(t, "moving dose instances to another org", err)
		// On PostgreSQL migration 13's trigger refuses deleting any plan
		// before the foreign key is checked (SQLSTATE 23001).
		_, err = f.d.SQL.ExecContext(f.ctx, `DELETE FROM plans WHERE id = $1`, pl.ID)
		if err == nil || !(strings.Contains(err.Error(), "SQLSTATE 23001") || strings.Contains(err.Error(), "FOREIGN KEY constraint failed")) {
			t.Errorf("deleting a plan with dose instances: %v, want it refused", err)
		}
		if n := len(f.allDoses(pl.ID)); n != 15 {
			t.Errorf("%d doses, want 14 generated + 1 inserted", n)
		}
	})
}

// wantFKViolation fails unless err is a foreign-key violation on either
// engine.
func wantFKViolation(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil || !(strings.Contains(err.Error(), "SQLSTATE 23503") || strings.Contains(err.Error(), "FOREIGN KEY constraint failed")) {
		t.Errorf("%s: %v, want a foreign-key violation", what, err)
	}
}

// A dose instance id names one dose for good: events, notification keys
// ("reminder:<dose>:<n>") and clients hold on to it. Deleting the newest
// doses (a plan stopped) must not hand their ids to another plan's doses.
func TestDoseInstanceIDsAreNotReused(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		a := f.patient("America/New_York")
		pa := f.plan(a.ID, timeOfDay("08:00:00"))
		f.now = start.Add(3 * day)
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pa.ID, adherence.PlanPaused); err != nil {
			t.Fatal(err)
		}
		doses := f.allDoses(pa.ID)
		last := doses[len(doses)-1]
		// A taking reported for the last (excluded) dose is kept against it.
		ev := f.ev(a.ID, pa.ID, adherence.EventTaken, last.DueAt, "paused-take")
		out := f.record(ev)
		if out[0].Err != nil || out[0].Event.DoseInstanceID != last.ID {
			t.Fatalf("event on the excluded dose = %+v", out[0])
		}
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pa.ID, adherence.PlanStopped); err != nil {
			t.Fatal(err)
		}

		b := f.patient("America/New_York")
		pb := f.plan(b.ID, timeOfDay("09:00:00"))
		for _, d := range f.allDoses(pb.ID) {
			if d.ID <= last.ID {
				t.Errorf("dose %d of another patient's plan reuses the id of a deleted dose (ids up to %d were given out)", d.ID, last.ID)
			}
		}
		// Were an id reused, patient a's taking would now point at b's
		// dose, and resuming b's plan would score b's dose with it.
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pb.ID, adherence.PlanPaused); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pb.ID, adherence.PlanActive); err != nil {
			t.Fatal(err)
		}
		for _, d := range f.allDoses(pb.ID) {
			if d.Status != adherence.DoseScheduled || d.EventID != "" {
				t.Errorf("dose %d of patient b = %s by event %q: another patient's event scored it", d.ID, d.Status, d.EventID)
			}
		}
	})
}

// TestGetDose reads one dose instance by id, only in its own organization.
func TestGetDose(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00:00"))
		want := f.allDoses(pl.ID)[2]
		got, err := f.s.GetDose(f.ctx, f.org, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("dose (-listed +read):\n%s", diff)
		}
		other, _ := f.otherOrg()
		for _, c := range []struct {
			org string
			id  int64
		}{{other, want.ID}, {f.org, 0}, {f.org, -1}, {f.org, 1 << 40}, {"not-an-id", want.ID}} {
			if _, err := f.s.GetDose(f.ctx, c.org, c.id); !errs.Is(err, errs.CodeNotFound) {
				t.Errorf("GetDose(%s, %d) = %v, want not found", c.org, c.id, err)
			}
		}
	})
}
