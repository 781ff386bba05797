package store_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
)

// TestReopenedDoseKeepsItsOtherEvents: an opening that arrives late but
// happened before the 20:00 dose's recorded taking takes the 16:00 dose
// (late until 19:00) and makes that taking its repeat, which reopens the
// 20:00 dose. What else the 20:00 dose had recorded then scores it, as it
// would have had the events arrived in the order they happened: a skip in
// advance that the lost taking had set aside, or a later taking flagged
// as a possible double dose of it. Before, the dose was left open and
// marked missed (and escalated) although the patient had skipped or taken
// it (QA).
func TestReopenedDoseKeepsItsOtherEvents(t *testing.T) {
	type ev struct {
		kind   adherence.EventKind
		hh, mm int
		named  bool // names the 20:00 dose
	}
	opened1855, opened1905 := ev{adherence.EventOpened, 18, 55, false}, ev{adherence.EventOpened, 19, 5, false}
	taken2030, skip1800 := ev{adherence.EventTaken, 20, 30, false}, ev{adherence.EventSkipped, 18, 0, true}
	type want struct {
		status   adherence.DoseStatus
		skip     string
		taken    int // minute of the hour 20 it was taken at, when taken
		double   bool
		eventsOn map[string]adherence.EventResult // "hh:mm" → result, the events matched to the 20:00 dose
	}
	cases := []struct {
		name   string
		events []ev
		group  int // the last group events are recorded together, in one group
		want   want
	}{
		{"a later taking, in order", []ev{opened1855, opened1905, taken2030}, 0,
			want{status: adherence.DoseTakenOnTime, taken: 30, eventsOn: map[string]adherence.EventResult{"20:30": adherence.ResultScored}}},
		{"a later taking, the first opening last", []ev{opened1905, taken2030, opened1855}, 0,
			want{status: adherence.DoseTakenOnTime, taken: 30, eventsOn: map[string]adherence.EventResult{"20:30": adherence.ResultScored}}},
		{"a skip in advance, in order", []ev{skip1800, opened1855, opened1905}, 0,
			want{status: adherence.DoseSkipped, skip: "side_effects", eventsOn: map[string]adherence.EventResult{"18:00": adherence.ResultScored}}},
		{"a skip in advance, the first opening last", []ev{skip1800, opened1905, opened1855}, 0,
			want{status: adherence.DoseSkipped, skip: "side_effects", eventsOn: map[string]adherence.EventResult{"18:00": adherence.ResultScored}}},
		// In one group with the opening that reopens the dose: the skip,
		// decided first (it happened first) against the taken dose, was
		// not stored yet when the dose was decided again, and was lost
		// (QA: the dose was missed, and escalated).
		{"a skip in advance with the first opening, in one group", []ev{opened1905, skip1800, opened1855}, 2,
			want{status: adherence.DoseSkipped, skip: "side_effects", eventsOn: map[string]adherence.EventResult{"18:00": adherence.ResultScored}}},
		{"all three in one group", []ev{opened1905, skip1800, opened1855}, 3,
			want{status: adherence.DoseSkipped, skip: "side_effects", eventsOn: map[string]adherence.EventResult{"18:00": adherence.ResultScored}}},
		{"a later taking with the first opening, in one group", []ev{opened1905, taken2030, opened1855}, 2,
			want{status: adherence.DoseTakenOnTime, taken: 30, eventsOn: map[string]adherence.EventResult{"20:30": adherence.ResultScored}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				pat := f.patient("America/New_York")
				pl := f.plan(pat.ID, timeOfDay("16:00", "20:00"))
				day := f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))
				four, eight := day[0].ID, day[1].ID
				var group []store.EventInput
				for i, e := range c.events {
					in := f.ev(pat.ID, pl.ID, e.kind, local(2026, 3, 2, e.hh, e.mm), fmt.Sprintf("e%d", i))
					if e.named {
						in.Event.RequestedDose = eight
					}
					if i >= len(c.events)-c.group {
						group = append(group, in)
						continue
					}
					if out := f.record(in); out[0].Err != nil {
						t.Fatal(out[0].Err)
					}
				}
				answered := map[string]adherence.Event{}
				if len(group) > 0 {
					for _, o := range f.record(group...) {
						if o.Err != nil {
							t.Fatal(o.Err)
						}
						answered[o.Event.ID] = o.Event
					}
				}
				f.now = local(2026, 3, 2, 23, 5)
				if _, err := f.s.MarkMissed(f.ctx, f.now); err != nil {
					t.Fatal(err)
				}
				day = f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))
				if d := day[0]; d.Status != adherence.DoseTakenLate || d.TakenAt == nil || !d.TakenAt.Equal(local(2026, 3, 2, 18, 55)) || d.DoubleDose {
					t.Errorf("16:00 dose = %s taken %v double %v, want taken_late at 18:55", d.Status, d.TakenAt, d.DoubleDose)
				}
				d := day[1]
				if d.Status != c.want.status || d.SkipReason != c.want.skip || d.DoubleDose != c.want.double {
					t.Errorf("20:00 dose = %s (skip %q, double %v), want %s (skip %q, double %v)",
						d.Status, d.SkipReason, d.DoubleDose, c.want.status, c.want.skip, c.want.double)
				}
				if c.want.taken != 0 && (d.TakenAt == nil || !d.TakenAt.Equal(local(2026, 3, 2, 20, c.want.taken))) {
					t.Errorf("20:00 dose taken at %v, want 20:%02d", d.TakenAt, c.want.taken)
				}
				events, err := f.s.ListEvents(f.ctx, f.org, pat.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0), "", 100)
				if err != nil {
					t.Fatal(err)
				}
				if len(events) != len(c.events) {
					t.Fatalf("%d events listed, want %d", len(events), len(c.events))
				}
				for _, e := range events {
					at := e.OccurredAt.In(ny).Format("15:04")
					// The group's answer is what was stored: it told
					// of a result a later decision of the group changed.
					if a, ok := answered[e.ID]; ok && (a.Result != e.Result || a.DoseStatus != e.DoseStatus ||
						a.DoseInstanceID != e.DoseInstanceID || a.DoubleDose != e.DoubleDose) {
						t.Errorf("event at %s answered %s/%s on dose %d (double %v), stored %s/%s on dose %d (double %v)", at,
							a.Result, a.DoseStatus, a.DoseInstanceID, a.DoubleDose, e.Result, e.DoseStatus, e.DoseInstanceID, e.DoubleDose)
					}
					switch e.DoseInstanceID {
					case eight:
						if want, ok := c.want.eventsOn[at]; !ok || e.Result != want || e.DoubleDose {
							t.Errorf("event at %s on the 20:00 dose: %s double %v, want %s (%v)", at, e.Result, e.DoubleDose, want, ok)
						}
						if e.Result == adherence.ResultScored && e.DoseStatus != c.want.status {
							t.Errorf("event at %s says %s, want %s", at, e.DoseStatus, c.want.status)
						}
					case four:
						want := adherence.ResultDuplicate
						if at == "18:55" {
							want = adherence.ResultScored
						}
						if e.Result != want {
							t.Errorf("event at %s on the 16:00 dose: %s, want %s", at, e.Result, want)
						}
					default:
						t.Errorf("event at %s matched to dose %d", at, e.DoseInstanceID)
					}
				}
			})
		})
	}
}

// TestGroupAnswersWhatIsStored: a group whose later decision changes the
// result of an event decided before it (a taking sets aside the skip that
// had scored the dose) answers each event as stored, and a replay answers
// the same: the batch answered the skip scored/skipped while it was stored
// recorded (QA).
func TestGroupAnswersWhatIsStored(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("20:00"))
		f.now = local(2026, 3, 2, 19, 40)
		group := []store.EventInput{
			f.ev(pat.ID, pl.ID, adherence.EventSkipped, local(2026, 3, 2, 19, 10), "skip"),
			f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 19, 30), "taken-late"),
			f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 19, 20), "taken-early"),
		}
		first := f.record(group...)
		events, err := f.s.ListEvents(f.ctx, f.org, pat.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0), "", 100)
		if err != nil {
			t.Fatal(err)
		}
		stored := map[string]adherence.Event{}
		for _, e := range events {
			stored[e.ID] = e
		}
		replay := f.record(group...)
		for i, o := range first {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			s := stored[o.Event.ID]
			if o.Event.Result != s.Result || o.Event.DoseStatus != s.DoseStatus || o.Event.DoubleDose != s.DoubleDose || o.Event.DoseInstanceID != s.DoseInstanceID {
				t.Errorf("%s answered %s/%q (double %v), stored %s/%q (double %v)", group[i].Event.ClientEventID,
					o.Event.Result, o.Event.DoseStatus, o.Event.DoubleDose, s.Result, s.DoseStatus, s.DoubleDose)
			}
			if r := replay[i].Event; !replay[i].Replayed || r.Result != s.Result || r.DoseStatus != s.DoseStatus {
				t.Errorf("%s replayed %s/%q (replayed %v), stored %s/%q", group[i].Event.ClientEventID, r.Result, r.DoseStatus, replay[i].Replayed, s.Result, s.DoseStatus)
			}
		}
		if s := stored[first[0].Event.ID]; s.Result != adherence.ResultRecorded {
			t.Errorf("the skip set aside by the taking is %s, want recorded", s.Result)
		}
	})
}

// TestReopeningDecidesAsInTimeOrder: the events of a 16:00/20:00 day
// (16:00 late until 19:00) are recorded, some alone first, the rest in one
// group; an opening at 18:55 takes the 16:00 dose and reopens the 20:00 one.
// The doses and every event's result are those of the events recorded one
// by one in the order they happened (QA re-test): the group's skip set
// aside before the reopening scores the dose, not a later skip of the
// group; a possible double dose of the lost taking becomes a duplicate of
// the group's taking; a third opening within minutes of the 18:55 one
// repeats it on the 16:00 dose rather than taking the 20:00 one.
func TestReopeningDecidesAsInTimeOrder(t *testing.T) {
	type ev struct {
		name   string // its client event id, and how want names it
		kind   adherence.EventKind
		hh, mm int
		reason string // a skip's; it names the 20:00 dose
		named  bool   // a taking naming the 20:00 dose
	}
	type result struct {
		result adherence.EventResult
		dose   string // "16:00", "20:00"
	}
	a1905, b1855 := ev{"a", adherence.EventOpened, 19, 5, "", false}, ev{"b", adherence.EventOpened, 18, 55, "", false}
	cases := []struct {
		name          string
		stored, group []ev
		eight         adherence.DoseStatus // the 20:00 dose after the missed-dose job
		results       map[string]result
	}{
		{
			name:   "a skip before the reopening, another after",
			stored: []ev{a1905},
			group:  []ev{{"s1", adherence.EventSkipped, 18, 10, "side_effects", false}, b1855, {"s2", adherence.EventSkipped, 18, 57, "forgot", false}},
			eight:  adherence.DoseSkipped,
			results: map[string]result{"a": {adherence.ResultDuplicate, "16:00"}, "b": {adherence.ResultScored, "16:00"},
				"s1": {adherence.ResultScored, "20:00"}, "s2": {adherence.ResultDuplicate, "20:00"}},
		},
		{
			name:   "a possible double dose of the lost taking",
			stored: []ev{a1905, {"d", adherence.EventTaken, 19, 40, "", false}},
			group:  []ev{b1855, {"c", adherence.EventTaken, 19, 30, "", false}},
			eight:  adherence.DoseTakenOnTime,
			results: map[string]result{"a": {adherence.ResultDuplicate, "16:00"}, "b": {adherence.ResultScored, "16:00"},
				"c": {adherence.ResultScored, "20:00"}, "d": {adherence.ResultDuplicate, "20:00"}},
		},
		// Named: the 20:00 dose's, as matching decides a named event
		// (QA re-test: moved to the 16:00 dose, and 20:00 missed).
		{
			name:   "a taking naming the reopened dose within minutes",
			stored: []ev{a1905, {"c", adherence.EventTaken, 19, 8, "", true}},
			group:  []ev{b1855},
			eight:  adherence.DoseTakenOnTime,
			results: map[string]result{"a": {adherence.ResultDuplicate, "16:00"}, "b": {adherence.ResultScored, "16:00"},
				"c": {adherence.ResultScored, "20:00"}},
		},
		{
			name:   "a third opening within minutes",
			stored: []ev{a1905, {"e", adherence.EventOpened, 19, 8, "", false}},
			group:  []ev{b1855},
			eight:  adherence.DoseMissed,
			results: map[string]result{"a": {adherence.ResultDuplicate, "16:00"}, "b": {adherence.ResultScored, "16:00"},
				"e": {adherence.ResultDuplicate, "16:00"}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, mode := range []string{"one by one", "grouped"} {
				each(t, func(t *testing.T, f *fixture) {
					pat := f.patient("America/New_York")
					pl := f.plan(pat.ID, timeOfDay("16:00", "20:00"))
					day := f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))
					doseName := map[int64]string{day[0].ID: "16:00", day[1].ID: "20:00"}
					input := func(e ev) store.EventInput {
						in := f.ev(pat.ID, pl.ID, e.kind, local(2026, 3, 2, e.hh, e.mm), e.name)
						if e.kind == adherence.EventSkipped {
							in.Event.RequestedDose, in.Event.Reason = day[1].ID, e.reason
						}
						if e.named {
							in.Event.RequestedDose = day[1].ID
						}
						return in
					}
					var all []ev
					if mode == "one by one" {
						all = append(append(all, c.stored...), c.group...)
						slices.SortFunc(all, func(x, y ev) int { return (x.hh*60 + x.mm) - (y.hh*60 + y.mm) })
						for _, e := range all {
							if out := f.record(input(e)); out[0].Err != nil {
								t.Fatal(out[0].Err)
							}
						}
					} else {
						for _, e := range c.stored {
							if out := f.record(input(e)); out[0].Err != nil {
								t.Fatal(out[0].Err)
							}
						}
						var group []store.EventInput
						for _, e := range c.group {
							group = append(group, input(e))
						}
						for _, o := range f.record(group...) {
							if o.Err != nil {
								t.Fatal(o.Err)
							}
						}
					}
					f.now = local(2026, 3, 2, 23, 5)
					if _, err := f.s.MarkMissed(f.ctx, f.now); err != nil {
						t.Fatal(err)
					}
					if d := f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))[1]; d.Status != c.eight {
						t.Errorf("%s: 20:00 dose %s, want %s", mode, d.Status, c.eight)
					}
					events, err := f.s.ListEvents(f.ctx, f.org, pat.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0), "", 100)
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range events {
						want := c.results[e.ClientEventID]
						if got := (result{e.Result, doseName[e.DoseInstanceID]}); got != want {
							t.Errorf("%s: event %s is %s on the %s dose, want %s on the %s dose", mode, e.ClientEventID, got.result, got.dose, want.result, want.dose)
						}
					}
				})
			}
		})
	}
}

// TestReplayInAGroupAnswersItsNewResult: a retry of a stored opening sent
// in one batch with an earlier opening that moves its taking to the 16:00
// dose is answered as the group leaves it, a duplicate on the 16:00 dose,
// as what is stored and a later replay say; it was answered scored on the
// 20:00 dose (QA).
func TestReplayInAGroupAnswersItsNewResult(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("16:00", "20:00"))
		day := f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))
		a := f.ev(pat.ID, pl.ID, adherence.EventOpened, local(2026, 3, 2, 19, 5), "a")
		if out := f.record(a); out[0].Err != nil || out[0].Event.DoseInstanceID != day[1].ID {
			t.Fatalf("opening at 19:05: %+v", out[0])
		}
		b := f.ev(pat.ID, pl.ID, adherence.EventOpened, local(2026, 3, 2, 18, 55), "b")
		out := f.record(a, b)
		if got := out[0]; got.Err != nil || !got.Replayed || got.Event.Result != adherence.ResultDuplicate || got.Event.DoseInstanceID != day[0].ID {
			t.Errorf("the retry in the group: %+v, want replayed, a duplicate on the 16:00 dose", got)
		}
		if got := f.record(a)[0]; got.Event.Result != adherence.ResultDuplicate || got.Event.DoseInstanceID != day[0].ID {
			t.Errorf("a later replay: %+v, want a duplicate on the 16:00 dose", got)
		}
	})
}

// TestSnoozeOfADoseReopenedInTheSameGroup: at 20:15, reminders armed, the
// 20:00 dose taken by a 19:05 opening is reopened by an 18:55 one and
// snoozed at 20:10 for 10 minutes in the same group: its next reminder is
// at 20:20, as when the snooze arrives after the reopening. The snooze
// was dropped and the first reminder given again at once (QA).
func TestSnoozeOfADoseReopenedInTheSameGroup(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("16:00", "20:00"))
		eight := f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))[1]
		f.arm(local(2026, 3, 2, 15, 0).UTC())
		if out := f.record(f.ev(pat.ID, pl.ID, adherence.EventOpened, local(2026, 3, 2, 19, 5), "a")); out[0].Err != nil {
			t.Fatal(out[0].Err)
		}
		f.now = local(2026, 3, 2, 20, 15).UTC()
		snooze := f.ev(pat.ID, pl.ID, adherence.EventSnoozed, local(2026, 3, 2, 20, 10), "z")
		snooze.Event.SnoozeMinutes = 10
		for _, o := range f.record(f.ev(pat.ID, pl.ID, adherence.EventOpened, local(2026, 3, 2, 18, 55), "b"), snooze) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
		}
		if n := f.count(`SELECT COUNT(*) FROM dose_instances WHERE id = $1 AND status = 'scheduled' AND remind_at = $2`,
			eight.ID, local(2026, 3, 2, 20, 20).UTC()); n != 1 {
			t.Errorf("the reopened 20:00 dose is not reminded at 20:20, the snooze's time")
		}
	})
}
