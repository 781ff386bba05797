package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// Two openings of a bottle ten minutes apart, between a 16:00 dose (late
// until 19:00 with the default windows) and a 20:00 dose (on time from
// 19:00): in the order they happened, 18:55 takes the 16:00 dose late and
// 19:05 repeats it, and the 20:00 dose stays open. The outcome must be
// that whatever order they arrive in, one by one or in one batch; before,
// 19:05 arriving first took the 20:00 dose and 18:55, arriving later, was
// counted its repeat, leaving the 16:00 dose to be marked missed.
func TestEarlierOpeningArrivingLaterTakesItsOwnDose(t *testing.T) {
	early, late := local(2026, 3, 2, 18, 55), local(2026, 3, 2, 19, 5)
	orders := []struct {
		name     string
		together bool
		first    time.Time
	}{
		{"later one first, separately", false, late},
		{"earlier one first, separately", false, early},
		{"later one first, one batch", true, late},
		{"earlier one first, one batch", true, early},
	}
	for _, o := range orders {
		t.Run(o.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				pat := f.patient("America/New_York")
				pl := f.plan(pat.ID, timeOfDay("16:00", "20:00"))
				second := early
				if o.first.Equal(early) {
					second = late
				}
				a := f.ev(pat.ID, pl.ID, adherence.EventOpened, o.first, "first")
				b := f.ev(pat.ID, pl.ID, adherence.EventOpened, second, "second")
				var out []store.EventOutcome
				if o.together {
					out = f.record(a, b)
				} else {
					out = append(f.record(a), f.record(b)...)
				}
				ids := map[time.Time]string{}
				for i, at := range []time.Time{o.first, second} {
					if out[i].Err != nil {
						t.Fatalf("event at %s: %v", at, out[i].Err)
					}
					ids[at] = out[i].Event.ID
				}
				ds := f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))
				if len(ds) != 2 {
					t.Fatalf("doses = %+v", ds)
				}
				four, eight := ds[0], ds[1]
				if four.Status != adherence.DoseTakenLate || four.TakenAt == nil || !four.TakenAt.Equal(early) || four.EventID != ids[early] {
					t.Errorf("16:00 dose = %s taken at %v by %s, want taken late at 18:55 by %s", four.Status, four.TakenAt, four.EventID, ids[early])
				}
				if eight.Status != adherence.DoseScheduled || eight.TakenAt != nil || eight.EventID != "" {
					t.Errorf("20:00 dose = %s taken at %v by %q, want still scheduled", eight.Status, eight.TakenAt, eight.EventID)
				}
				f.eventIs(ids[early], string(adherence.ResultScored), string(adherence.DoseTakenLate), false)
				f.eventIs(ids[late], string(adherence.ResultDuplicate), "", false)
				if n := f.count(`SELECT COUNT(*) FROM events WHERE id = $1 AND dose_instance_id = $2`, ids[late], four.ID); n != 1 {
					t.Errorf("the 19:05 opening is not recorded against the 16:00 dose")
				}
				// The 20:00 dose is open again: the missed-dose job marks
				// it once its window closes, and it alone.
				f.now = local(2026, 3, 2, 23, 1)
				if _, err := f.s.MarkMissed(f.ctx, f.now); err != nil {
					t.Fatal(err)
				}
				ds = f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))
				if ds[0].Status != adherence.DoseTakenLate || ds[1].Status != adherence.DoseMissed {
					t.Errorf("after the missed-dose job: 16:00 %s, 20:00 %s; want taken_late, missed", ds[0].Status, ds[1].Status)
				}
			})
		})
	}
}

// The same, with the 16:00 dose already marked missed when the earlier
// opening arrives (a bottle syncing after its window closed): it is
// re-scored late and its miss resolved, and the 20:00 dose the later
// opening had taken is open again.
func TestEarlierOpeningArrivingAfterTheMissReScores(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("16:00", "20:00"))
		late := f.record(f.ev(pat.ID, pl.ID, adherence.EventOpened, local(2026, 3, 2, 19, 5), "late"))[0]
		f.now = local(2026, 3, 2, 19, 30)
		if _, err := f.s.MarkMissed(f.ctx, f.now); err != nil {
			t.Fatal(err)
		}
		early := f.record(f.ev(pat.ID, pl.ID, adherence.EventOpened, local(2026, 3, 2, 18, 55), "early"))[0]
		if early.Err != nil || early.Event.Result != adherence.ResultScored || early.Event.DoseStatus != adherence.DoseTakenLate {
			t.Fatalf("early opening = %+v", early)
		}
		ds := f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))
		if ds[0].Status != adherence.DoseTakenLate || ds[1].Status != adherence.DoseScheduled {
			t.Fatalf("doses: 16:00 %s, 20:00 %s; want taken_late, scheduled", ds[0].Status, ds[1].Status)
		}
		f.eventIs(late.Event.ID, string(adherence.ResultDuplicate), "", false)
		if n := f.count(`SELECT COUNT(*) FROM outbox WHERE topic = $1`, store.TopicDoseResolved); n != 1 {
			t.Errorf("dose.resolved records = %d, want 1", n)
		}
	})
}

// An event before the plan's start is refused, the start being the later
// of startAt and the timing's boundsPeriod.start (a date in the
// patient's zone): one before a boundsPeriod.start still ahead was kept
// as an orphan, while one before startAt was refused. The on-time window
// before the first dose still counts.
func TestEventBeforeBoundsStartRefused(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		timing := timeOfDay("08:00")
		timing.Repeat.BoundsPeriod = &schedule.Period{Start: "2026-03-05"}
		pl := f.plan(pat.ID, timing)
		out := f.record(
			f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 4, 8, 0), "day-before"),
			f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 4, 22, 30), "evening-before"),
			f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 5, 7, 30), "first-dose"),
		)
		for _, i := range []int{0, 1} {
			if e, ok := out[i].Err.(*errs.Error); !ok || e.Field != "occurredAt" || !strings.Contains(e.Message, "before the plan started") {
				t.Errorf("event %d before boundsPeriod.start: %+v, want a refusal naming occurredAt", i, out[i])
			}
		}
		if out[2].Err != nil || out[2].Event.DoseStatus != adherence.DoseTakenOnTime {
			t.Errorf("taking of the first dose: %+v", out[2])
		}
		if n := f.count(`SELECT COUNT(*) FROM events WHERE plan_id = $1`, pl.ID); n != 1 {
			t.Errorf("events stored = %d, want 1", n)
		}
	})
}

// A dose reopened because its taking turned out to repeat an earlier one
// (see TestEarlierOpeningArrivingLaterTakesItsOwnDose) is reminded again:
// its reminder was cleared when it was taken, and left so it would be
// missed without the patient being told.
func TestReopenedDoseIsRemindedAgain(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("16:00", "20:00"))
		f.arm(local(2026, 3, 2, 18, 30)) // arms up to 20:30: both doses
		f.now = local(2026, 3, 2, 19, 6)
		f.record(f.ev(pat.ID, pl.ID, adherence.EventOpened, local(2026, 3, 2, 19, 5), "late"))
		ds := f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))
		if ds[1].Status != adherence.DoseTakenOnTime {
			t.Fatalf("20:00 dose after the 19:05 opening: %s", ds[1].Status)
		}
		f.now = local(2026, 3, 2, 19, 10)
		f.record(f.ev(pat.ID, pl.ID, adherence.EventOpened, local(2026, 3, 2, 18, 55), "early"))
		due := local(2026, 3, 2, 20, 0).UTC()
		if n := f.count(`SELECT COUNT(*) FROM dose_instances WHERE plan_id = $1 AND status = 'scheduled' AND remind_at = $2`, pl.ID, due); n != 1 {
			t.Errorf("the reopened 20:00 dose is not armed for its reminder at 20:00")
		}
	})
}
