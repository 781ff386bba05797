package store_test

import (
	"fmt"
	"testing"

	"github.com/medplatform/medplatform/internal/adherence"
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
		want   want
	}{
		{"a later taking, in order", []ev{opened1855, opened1905, taken2030},
			want{status: adherence.DoseTakenOnTime, taken: 30, eventsOn: map[string]adherence.EventResult{"20:30": adherence.ResultScored}}},
		{"a later taking, the first opening last", []ev{opened1905, taken2030, opened1855},
			want{status: adherence.DoseTakenOnTime, taken: 30, eventsOn: map[string]adherence.EventResult{"20:30": adherence.ResultScored}}},
		{"a skip in advance, in order", []ev{skip1800, opened1855, opened1905},
			want{status: adherence.DoseSkipped, skip: "side_effects", eventsOn: map[string]adherence.EventResult{"18:00": adherence.ResultScored}}},
		{"a skip in advance, the first opening last", []ev{skip1800, opened1905, opened1855},
			want{status: adherence.DoseSkipped, skip: "side_effects", eventsOn: map[string]adherence.EventResult{"18:00": adherence.ResultScored}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				pat := f.patient("America/New_York")
				pl := f.plan(pat.ID, timeOfDay("16:00", "20:00"))
				day := f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))
				four, eight := day[0].ID, day[1].ID
				for i, e := range c.events {
					in := f.ev(pat.ID, pl.ID, e.kind, local(2026, 3, 2, e.hh, e.mm), fmt.Sprintf("e%d", i))
					if e.named {
						in.Event.RequestedDose = eight
					}
					if out := f.record(in); out[0].Err != nil {
						t.Fatal(out[0].Err)
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
