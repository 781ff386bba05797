package store_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// ny is the zone of the matching tests' patients.
var ny = mustZone("America/New_York")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// local is a wall time in New York.
func local(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, ny)
}

// ev builds an event input of the fixture's org.
func (f *fixture) ev(patientID, planID string, kind adherence.EventKind, at time.Time, clientID string) store.EventInput {
	src := adherence.SourceApp
	if kind == adherence.EventOpened {
		src = adherence.SourceDevice
	}
	e := adherence.Event{
		OrgID: f.org, PatientID: patientID, PlanID: planID, Kind: kind, OccurredAt: at.UTC(),
		ReceivedAt: f.now, Source: src, ClientEventID: clientID,
	}
	if kind == adherence.EventSkipped {
		e.Reason = "side_effects"
	}
	return store.EventInput{Actor: f.actor, Event: e}
}

// record records inputs and fails on a whole-group error.
func (f *fixture) record(in ...store.EventInput) []store.EventOutcome {
	f.t.Helper()
	out, err := f.s.RecordEvents(f.ctx, in)
	if err != nil {
		f.t.Fatalf("record events: %v", err)
	}
	return out
}

// step is one thing that happens in a matching scenario.
type step struct {
	kind  adherence.EventKind // "" means: run the missed-dose job at `at`
	at    time.Time
	check adherence.EventResult
	dbl   bool
}

func TestMatchingAndScoring(t *testing.T) {
	march2 := func(hh, mm int) time.Time { return local(2026, 3, 2, hh, mm) }
	missedJob := func(at time.Time) step { return step{at: at} }
	cases := []struct {
		name   string
		times  []string
		steps  []step
		want   map[string]adherence.DoseStatus // local due time → status
		outbox map[string]int                  // topic → records
	}{
		{
			name:  "on time",
			times: []string{"08:00"},
			steps: []step{{kind: adherence.EventTaken, at: march2(8, 40), check: adherence.ResultScored}},
			want:  map[string]adherence.DoseStatus{"2026-03-02T08:00": adherence.DoseTakenOnTime},
		},
		{
			name:  "early within on-time window",
			times: []string{"08:00"},
			steps: []step{{kind: adherence.EventTaken, at: march2(7, 0), check: adherence.ResultScored}},
			want:  map[string]adherence.DoseStatus{"2026-03-02T08:00": adherence.DoseTakenOnTime},
		},
		{
			name:  "late",
			times: []string{"08:00"},
			steps: []step{{kind: adherence.EventTaken, at: march2(10, 59), check: adherence.ResultScored}},
			want:  map[string]adherence.DoseStatus{"2026-03-02T08:00": adherence.DoseTakenLate},
		},
		{
			name:  "skipped",
			times: []string{"08:00"},
			steps: []step{{kind: adherence.EventSkipped, at: march2(7, 30), check: adherence.ResultScored}},
			want:  map[string]adherence.DoseStatus{"2026-03-02T08:00": adherence.DoseSkipped},
		},
		{
			name:  "taken after a skip wins",
			times: []string{"08:00"},
			steps: []step{
				{kind: adherence.EventSkipped, at: march2(8, 0), check: adherence.ResultScored},
				{kind: adherence.EventTaken, at: march2(9, 30), check: adherence.ResultScored},
				{kind: adherence.EventSkipped, at: march2(9, 45), check: adherence.ResultRecorded},
			},
			want: map[string]adherence.DoseStatus{"2026-03-02T08:00": adherence.DoseTakenLate},
		},
		{
			name:   "missed when the window closes",
			times:  []string{"08:00"},
			steps:  []step{missedJob(march2(10, 59)), missedJob(march2(11, 0)), missedJob(march2(12, 0))},
			want:   map[string]adherence.DoseStatus{"2026-03-02T08:00": adherence.DoseMissed, "2026-03-01T08:00": adherence.DoseMissed},
			outbox: map[string]int{store.TopicDoseMissed: 2},
		},
		{
			name:  "not missed before the window closes",
			times: []string{"08:00"},
			steps: []step{missedJob(march2(10, 59))},
			want:  map[string]adherence.DoseStatus{"2026-03-02T08:00": adherence.DoseScheduled},
		},
		{
			name:  "orphans outside every window",
			times: []string{"08:00"},
			steps: []step{
				{kind: adherence.EventTaken, at: march2(6, 59), check: adherence.ResultOrphan},
				{kind: adherence.EventTaken, at: march2(11, 1), check: adherence.ResultOrphan},
			},
			want: map[string]adherence.DoseStatus{"2026-03-02T08:00": adherence.DoseScheduled},
		},
		{
			name:  "repeated openings count once, a later one is a possible double dose",
			times: []string{"08:00"},
			steps: []step{
				{kind: adherence.EventOpened, at: march2(8, 5), check: adherence.ResultScored},
				{kind: adherence.EventOpened, at: march2(8, 12), check: adherence.ResultDuplicate},
				{kind: adherence.EventOpened, at: march2(9, 30), check: adherence.ResultRecorded, dbl: true},
			},
			want: map[string]adherence.DoseStatus{"2026-03-02T08:00": adherence.DoseTakenOnTime},
		},
		{
			// Four doses a day: the 08:00 window closes at 11:00, where the
			// 12:00 one opens. A cap opened again 4 minutes after the late
			// taking is that same taking, not the 12:00 dose taken early.
			name:  "a repeated opening just past the window is the same taking, not the next dose",
			times: []string{"08:00", "12:00", "16:00", "20:00"},
			steps: []step{
				{kind: adherence.EventOpened, at: march2(10, 58), check: adherence.ResultScored},
				{kind: adherence.EventOpened, at: march2(11, 2), check: adherence.ResultDuplicate},
			},
			want: map[string]adherence.DoseStatus{"2026-03-02T08:00": adherence.DoseTakenLate, "2026-03-02T12:00": adherence.DoseScheduled},
		},
		{
			// The same two openings arriving the other way round end the
			// same: the first to arrive scored the 12:00 dose; the earlier
			// one, 4 minutes before it and inside the 08:00 window, takes
			// the 08:00 dose, and the 11:02 opening becomes its repeat, as
			// had they arrived in the order they happened (the 12:00 dose
			// is open again).
			name:  "a repeated opening just before the window arriving late takes the earlier dose",
			times: []string{"08:00", "12:00", "16:00", "20:00"},
			steps: []step{
				{kind: adherence.EventOpened, at: march2(11, 2), check: adherence.ResultScored},
				{kind: adherence.EventOpened, at: march2(10, 58), check: adherence.ResultScored},
			},
			want: map[string]adherence.DoseStatus{"2026-03-02T08:00": adherence.DoseTakenLate, "2026-03-02T12:00": adherence.DoseScheduled},
		},
		{
			name:  "late sync re-scores a missed dose",
			times: []string{"08:00"},
			steps: []step{
				missedJob(march2(13, 0)),
				{kind: adherence.EventOpened, at: march2(8, 30), check: adherence.ResultScored},
			},
			want:   map[string]adherence.DoseStatus{"2026-03-02T08:00": adherence.DoseTakenOnTime, "2026-03-01T08:00": adherence.DoseMissed},
			outbox: map[string]int{store.TopicDoseMissed: 2, store.TopicDoseResolved: 1},
		},
		{
			name:  "a skip reported after the dose was marked missed resolves the miss",
			times: []string{"08:00"},
			steps: []step{
				missedJob(march2(13, 0)),
				{kind: adherence.EventSkipped, at: march2(9, 0), check: adherence.ResultScored},
			},
			want:   map[string]adherence.DoseStatus{"2026-03-02T08:00": adherence.DoseSkipped, "2026-03-01T08:00": adherence.DoseMissed},
			outbox: map[string]int{store.TopicDoseMissed: 2, store.TopicDoseResolved: 1},
		},
		{
			name:  "an earlier taking reported later becomes the taking",
			times: []string{"08:00"},
			steps: []step{
				{kind: adherence.EventTaken, at: march2(10, 0), check: adherence.ResultScored},
				{kind: adherence.EventOpened, at: march2(8, 10), check: adherence.ResultScored, dbl: true},
			},
			want: map[string]adherence.DoseStatus{"2026-03-02T08:00": adherence.DoseTakenOnTime},
		},
		{
			name:  "snooze changes nothing",
			times: []string{"08:00"},
			steps: []step{{kind: adherence.EventSnoozed, at: march2(8, 0), check: adherence.ResultRecorded}},
			want:  map[string]adherence.DoseStatus{"2026-03-02T08:00": adherence.DoseScheduled},
		},
		{
			// 2026-03-08: clocks in New York go from 02:00 EST to 03:00 EDT.
			name:  "twice daily across the daylight-saving change",
			times: []string{"08:00", "20:00"},
			steps: []step{
				{kind: adherence.EventTaken, at: local(2026, 3, 7, 8, 10), check: adherence.ResultScored},
				{kind: adherence.EventTaken, at: local(2026, 3, 7, 21, 30), check: adherence.ResultScored},
				{kind: adherence.EventTaken, at: local(2026, 3, 8, 7, 55), check: adherence.ResultScored},
				{kind: adherence.EventTaken, at: local(2026, 3, 8, 20, 5), check: adherence.ResultScored},
				// 09:30 EST would be 10:30 EDT: taken_late only if the window follows wall time.
				{kind: adherence.EventTaken, at: local(2026, 3, 9, 9, 30), check: adherence.ResultScored},
				missedJob(local(2026, 3, 10, 0, 0)),
			},
			want: map[string]adherence.DoseStatus{
				"2026-03-07T08:00": adherence.DoseTakenOnTime, "2026-03-07T20:00": adherence.DoseTakenLate,
				"2026-03-08T08:00": adherence.DoseTakenOnTime, "2026-03-08T20:00": adherence.DoseTakenOnTime,
				"2026-03-09T08:00": adherence.DoseTakenLate, "2026-03-09T20:00": adherence.DoseMissed,
			},
		},
	}
	each(t, func(t *testing.T, f *fixture) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f.t = t
				f.now = start
				pat := f.patient("America/New_York")
				pl := f.plan(pat.ID, timeOfDay(tc.times...))
				for i, st := range tc.steps {
					if st.kind == "" {
						if _, err := f.s.MarkMissed(f.ctx, st.at); err != nil {
							t.Fatalf("step %d: mark missed: %v", i, err)
						}
						continue
					}
					f.now = st.at.Add(time.Minute).UTC()
					out := f.record(f.ev(pat.ID, pl.ID, st.kind, st.at, fmt.Sprintf("%s-%d", tc.name, i)))
					if out[0].Err != nil {
						t.Fatalf("step %d: %v", i, out[0].Err)
					}
					if got := out[0].Event.Result; got != st.check || out[0].Event.DoubleDose != st.dbl {
						t.Errorf("step %d (%s at %s): result %s double=%v, want %s double=%v",
							i, st.kind, st.at.Format("01-02 15:04"), got, out[0].Event.DoubleDose, st.check, st.dbl)
					}
				}
				got := map[string]adherence.DoseStatus{}
				for _, d := range f.allDoses(pl.ID) {
					if _, ok := tc.want[d.LocalTime]; ok {
						got[d.LocalTime] = d.Status
					}
				}
				for k, want := range tc.want {
					if got[k] != want {
						t.Errorf("dose %s: status %q, want %q", k, got[k], want)
					}
				}
				for topic, n := range tc.outbox {
					if c := f.count(`SELECT COUNT(*) FROM outbox WHERE topic = $1 AND patient_id = $2`, topic, pat.ID); c != n {
						t.Errorf("outbox %s: %d records, want %d", topic, c, n)
					}
				}
			})
		}
	})
}

func TestDoubleDoseFlagsTheInstance(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00"))
		f.record(f.ev(pat.ID, pl.ID, adherence.EventOpened, local(2026, 3, 2, 8, 0), "a"))
		f.record(f.ev(pat.ID, pl.ID, adherence.EventOpened, local(2026, 3, 2, 9, 0), "b"))
		ds := f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))
		if len(ds) != 1 || !ds[0].DoubleDose || ds[0].TakenAt == nil || !ds[0].TakenAt.Equal(local(2026, 3, 2, 8, 0)) {
			t.Fatalf("instance = %+v, want double dose flagged and taken at 08:00", ds)
		}
		c, err := f.s.DoseCounts(f.ctx, f.org, store.ReportFilter{PatientID: pat.ID, From: local(2026, 3, 2, 0, 0), To: local(2026, 3, 3, 0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if c.DoubleDoses != 1 || c.OnTime != 1 {
			t.Fatalf("counts = %+v", c)
		}
	})
}

func TestPlanWindowOverride(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00"))
		on, late := 10, 30
		pl.OnTimeMinutes, pl.LateMaxMinutes = &on, &late
		if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
			t.Fatal(err)
		}
		out := f.record(
			f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 20), "late"),
			f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 3, 8, 45), "orphan"),
		)
		if out[0].Event.DoseStatus != adherence.DoseTakenLate || out[1].Event.Result != adherence.ResultOrphan {
			t.Fatalf("outcomes = %+v / %+v", out[0].Event, out[1].Event)
		}
		// The missed-dose job uses the plan's 30 minutes, not the org's 3 hours.
		res, err := f.s.MarkMissed(f.ctx, local(2026, 3, 3, 8, 31))
		if err != nil {
			t.Fatal(err)
		}
		if res.Marked != 2 { // 2026-03-01 and 2026-03-03
			t.Fatalf("marked %d, want 2", res.Marked)
		}
		// Org windows apply to plans without an override.
		if err := f.s.SetWindows(f.ctx, f.actor, f.org, adherence.Windows{OnTime: 5 * time.Minute, LateMax: 20 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		pl2 := f.plan(pat.ID, timeOfDay("12:00"))
		out = f.record(f.ev(pat.ID, pl2.ID, adherence.EventTaken, local(2026, 3, 2, 12, 15), "org-window"))
		if out[0].Event.DoseStatus != adherence.DoseTakenLate {
			t.Fatalf("org window: %+v", out[0].Event)
		}
		if err := f.s.SetWindows(f.ctx, f.actor, f.org, adherence.Windows{OnTime: 30 * time.Minute, LateMax: 20 * time.Minute}); errs.CodeOf(err) != errs.CodeInvalid {
			t.Fatalf("late < on time accepted: %v", err)
		}
	})
}

func TestEventIdempotency(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00"))
		in := f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 0), "retry-me")
		first := f.record(in)[0]
		again := f.record(in)[0]
		if first.Err != nil || again.Err != nil || !again.Replayed || again.Event.ID != first.Event.ID {
			t.Fatalf("first %+v, again %+v", first, again)
		}
		// The same key with different content is a conflict, not a replay.
		other := in
		other.Event.OccurredAt = other.Event.OccurredAt.Add(time.Minute)
		wantCode(t, f.record(other)[0].Err, errs.CodeConflict)
		// The key is per source and per org.
		sms := in
		sms.Event.Source = adherence.SourceSMS
		if o := f.record(sms)[0]; o.Err != nil || o.Replayed {
			t.Fatalf("same client id from another source: %+v", o)
		}
		// Repeats inside one batch share the first item's outcome.
		dup := f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 3, 8, 0), "twice")
		out := f.record(dup, dup)
		if out[0].Event.ID == "" || out[1].Event.ID != out[0].Event.ID || !out[1].Replayed {
			t.Fatalf("batch repeat: %+v", out)
		}
		if n := f.count(`SELECT COUNT(*) FROM events WHERE org_id = $1`, f.org); n != 3 {
			t.Fatalf("%d events stored, want 3", n)
		}
		// A record per recording, a read for the replay of another request
		// (the repeat inside one batch is that request's own event); the
		// conflict is a failed attempt on the patient.
		if n := f.count(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'AdherenceEvent' AND action = 'C' AND outcome = 0`); n != 3 {
			t.Fatalf("%d audit records, want 3", n)
		}
		if n := f.count(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'AdherenceEvent' AND action = 'R' AND outcome = 0 AND resource_id = $1`, first.Event.ID); n != 1 {
			t.Fatalf("%d read records of the replayed event, want 1", n)
		}
		if n := f.count(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'AdherenceEvent' AND outcome = 4 AND patient_id = $1`, pat.ID); n != 1 {
			t.Fatalf("%d failed-attempt records, want 1 (the conflict)", n)
		}
	})
}

func TestEventIdempotencyUnderConcurrency(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00"))
		in := f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 0), "racing")
		const n = 50
		ids := make([]string, n)
		errors := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := f.s.RecordEvents(f.ctx, []store.EventInput{in})
				if err != nil {
					errors[i] = err
					return
				}
				ids[i], errors[i] = out[0].Event.ID, out[0].Err
			}()
		}
		wg.Wait()
		for i := range n {
			if errors[i] != nil {
				t.Fatalf("caller %d: %v", i, errors[i])
			}
			if ids[i] == "" || ids[i] != ids[0] {
				t.Fatalf("caller %d got id %q, caller 0 got %q", i, ids[i], ids[0])
			}
		}
		if c := f.count(`SELECT COUNT(*) FROM events WHERE client_event_id = 'racing'`); c != 1 {
			t.Fatalf("%d rows, want 1", c)
		}
	})
}

func TestEventValidation(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00"))
		other := f.patient("America/New_York")
		otherOrg, otherActor := f.otherOrg()

		good := f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 0), "good")
		unknownPlan := f.ev(pat.ID, "01890000-0000-7000-8000-000000000000", adherence.EventTaken, local(2026, 3, 2, 8, 0), "unknown-plan")
		wrongPatient := f.ev(other.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 0), "wrong-patient")
		beforeStart := f.ev(pat.ID, pl.ID, adherence.EventTaken, start.Add(-3*time.Hour), "before-start")
		foreign := f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 0), "foreign")
		foreign.Event.OrgID, foreign.Actor = otherOrg, otherActor
		unknownDose := f.ev(pat.ID, "", adherence.EventTaken, local(2026, 3, 2, 8, 0), "unknown-dose")
		unknownDose.Event.RequestedDose = 987654321

		out := f.record(good, unknownPlan, wrongPatient, beforeStart, foreign, unknownDose)
		want := []struct {
			code  errs.Code
			field string
		}{{"", ""}, {errs.CodeNotFound, "planId"}, {errs.CodeInvalid, "patientId"}, {errs.CodeInvalid, "occurredAt"}, {errs.CodeNotFound, "planId"}, {errs.CodeNotFound, "doseId"}}
		for i, w := range want {
			if errs.CodeOf(out[i].Err) != w.code {
				t.Errorf("item %d: error %v, want code %q", i, out[i].Err, w.code)
				continue
			}
			if w.field != "" {
				if e, ok := out[i].Err.(*errs.Error); !ok || e.Field != w.field {
					t.Errorf("item %d: error %v, want field %s", i, out[i].Err, w.field)
				}
			}
		}
		if n := f.count(`SELECT COUNT(*) FROM events`); n != 1 {
			t.Fatalf("%d events stored, want only the valid one", n)
		}

		// A patient (or caregiver) naming another patient's plan gets
		// exactly the answer of a plan that does not exist.
		for _, role := range []string{"patient", "caregiver"} {
			probe := f.ev(other.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 0), "probe-"+role)
			probe.Actor.Role = role
			missing := f.ev(other.ID, "01890000-0000-7000-8000-000000000000", adherence.EventTaken, local(2026, 3, 2, 8, 0), "missing-"+role)
			missing.Actor.Role = role
			got := f.record(probe, missing)
			if got[0].Err == nil || got[1].Err == nil || got[0].Err.Error() != got[1].Err.Error() || errs.CodeOf(got[0].Err) != errs.CodeNotFound {
				t.Errorf("%s: another patient's plan answered %v, a missing plan %v; want the same not-found answer", role, got[0].Err, got[1].Err)
			}
			// So does a dose instance of another patient named by its id
			// alone, compared with a dose id that does not exist.
			otherPlan := f.plan(other.ID, timeOfDay("08:00"))
			otherDose := f.doses(otherPlan.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))[0]
			byDose := f.ev(pat.ID, "", adherence.EventTaken, local(2026, 3, 2, 8, 0), "dose-probe-"+role)
			byDose.Event.RequestedDose, byDose.Actor.Role = otherDose.ID, role
			noDose := f.ev(pat.ID, "", adherence.EventTaken, local(2026, 3, 2, 8, 0), "dose-missing-"+role)
			noDose.Event.RequestedDose, noDose.Actor.Role = 987654321, role
			got = f.record(byDose, noDose)
			if got[0].Err == nil || got[1].Err == nil || got[0].Err.Error() != got[1].Err.Error() || errs.CodeOf(got[0].Err) != errs.CodeNotFound {
				t.Errorf("%s: another patient's dose answered %v, a missing dose %v; want the same not-found answer", role, got[0].Err, got[1].Err)
			}
			if e, ok := got[0].Err.(*errs.Error); !ok || e.Field != "doseId" {
				t.Errorf("%s: another patient's dose answered %v, want field doseId", role, got[0].Err)
			}
			// The caller audits the attempt on the owner's record.
			if got[0].RefusedPatientID != other.ID || got[1].RefusedPatientID != "" {
				t.Errorf("%s: refused patients %q and %q, want %s and none", role, got[0].RefusedPatientID, got[1].RefusedPatientID, other.ID)
			}
			// And with the patient's own plan named beside it.
			withPlan := f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 0), "dose-plan-probe-"+role)
			withPlan.Event.RequestedDose, withPlan.Actor.Role = otherDose.ID, role
			noDoseWithPlan := f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 0), "dose-plan-missing-"+role)
			noDoseWithPlan.Event.RequestedDose, noDoseWithPlan.Actor.Role = 987654321, role
			got = f.record(withPlan, noDoseWithPlan)
			if got[0].Err == nil || got[1].Err == nil || got[0].Err.Error() != got[1].Err.Error() || errs.CodeOf(got[0].Err) != errs.CodeNotFound {
				t.Errorf("%s: another patient's dose with the own plan answered %v, a missing dose %v; want the same not-found answer", role, got[0].Err, got[1].Err)
			}
		}
	})
}

func TestEventByDoseID(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00", "20:00"))
		ds := f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))
		evening := ds[1]
		// Skip tonight's dose in the morning, naming it.
		in := f.ev(pat.ID, "", adherence.EventSkipped, local(2026, 3, 2, 9, 0), "skip-tonight")
		in.Event.RequestedDose = evening.ID
		out := f.record(in)[0]
		if out.Err != nil || out.Event.DoseInstanceID != evening.ID || out.Event.DoseStatus != adherence.DoseSkipped || out.Event.PlanID != pl.ID {
			t.Fatalf("outcome %+v", out)
		}
		ds = f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))
		if ds[0].Status != adherence.DoseScheduled || ds[1].Status != adherence.DoseSkipped || ds[1].SkipReason != "side_effects" {
			t.Fatalf("doses %+v", ds)
		}

		// A retry that adds the dose's own plan is the same event, in the
		// same group as in a later one.
		morning := ds[0]
		first := f.ev(pat.ID, "", adherence.EventTaken, local(2026, 3, 2, 8, 5), "take-morning")
		first.Event.RequestedDose = morning.ID
		again := first
		again.Event.PlanID = pl.ID
		outs := f.record(first, again)
		if outs[0].Err != nil || outs[1].Err != nil || !outs[1].Replayed || outs[1].Event.ID != outs[0].Event.ID {
			t.Fatalf("in one group: %+v / %+v, want the second a replay of the first", outs[0], outs[1])
		}
		if later := f.record(again)[0]; later.Err != nil || !later.Replayed || later.Event.ID != outs[0].Event.ID {
			t.Fatalf("in a later group: %+v, want a replay", later)
		}
		// Naming another plan than the dose's is still a different event.
		other := f.plan(pat.ID, timeOfDay("12:00"))
		wrong := first
		wrong.Event.ClientEventID, wrong.Event.PlanID = "wrong-plan", other.ID
		wrongToo := wrong
		wrongToo.Event.PlanID = ""
		outs = f.record(wrongToo, wrong)
		if outs[0].Err != nil || outs[1].Err == nil {
			t.Fatalf("dose-only then another plan: %+v / %+v, want the second refused", outs[0], outs[1])
		}
	})
}

func TestMarkMissedExactlyOnceConcurrently(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		for range 5 {
			pat := f.patient("America/New_York")
			f.plan(pat.ID, timeOfDay("08:00", "12:00", "18:00"))
		}
		at := local(2026, 3, 9, 0, 0)
		var wg sync.WaitGroup
		marked := make([]int, 4)
		for i := range marked {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := f.s.MarkMissed(f.ctx, at)
				if err != nil {
					t.Errorf("mark missed: %v", err)
				}
				marked[i] = res.Marked
			}()
		}
		wg.Wait()
		total := 0
		for _, n := range marked {
			total += n
		}
		// 5 patients × 3 doses × 8 days (March 1–8).
		if total != 120 {
			t.Fatalf("marked %d in total (%v), want 120", total, marked)
		}
		if n := f.count(`SELECT COUNT(*) FROM outbox WHERE topic = 'dose.missed'`); n != 120 {
			t.Fatalf("%d outbox records, want 120", n)
		}
		if n := f.count(`SELECT COUNT(DISTINCT dedupe_key) FROM outbox WHERE topic = 'dose.missed'`); n != 120 {
			t.Fatalf("%d distinct outbox keys, want 120", n)
		}
		if recs := f.outbox(store.OutboxFilter{Topic: store.TopicDoseMissed, Limit: 1000}, 120); len(recs) != 120 {
			t.Fatalf("list outbox: %d records, want 120", len(recs))
		}
	})
}

// TestEventAuditPerRequestAndPatient writes one audit record per request
// and patient, counting that request's events of the patient; the events
// carry the request id that joins them to it.
func TestEventAuditPerRequestAndPatient(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		a, b := f.patient("America/New_York"), f.patient("Europe/London")
		pa, pb := f.plan(a.ID, timeOfDay("08:00")), f.plan(b.ID, timeOfDay("09:00"))
		var batch []store.EventInput
		for i := range 5 {
			batch = append(batch, f.ev(a.ID, pa.ID, adherence.EventTaken, local(2026, 3, 2+i, 8, 0), fmt.Sprint("a-", i)))
		}
		for i := range 2 {
			batch = append(batch, f.ev(b.ID, pb.ID, adherence.EventTaken, local(2026, 3, 2+i, 9, 0), fmt.Sprint("b-", i)))
		}
		// A second request (another request id) for patient a.
		other := f.ev(a.ID, pa.ID, adherence.EventTaken, local(2026, 3, 9, 8, 0), "a-other")
		other.Actor.RequestID = "req-2"
		for _, o := range f.record(append(batch, other)...) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
		}
		got := map[string]string{}
		rows, err := f.d.SQL.Query(`SELECT request_id, CAST(patient_id AS TEXT), detail FROM audit_log WHERE resource_type = 'AdherenceEvent'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var req, patient, detail string
			if err := rows.Scan(&req, &patient, &detail); err != nil {
				t.Fatal(err)
			}
			got[req+"/"+patient] = detail
		}
		want := map[string]string{"req-1/" + a.ID: "events=5", "req-1/" + b.ID: "events=2", "req-2/" + a.ID: "events=1"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("audit records (-want +got):\n%s", diff)
		}
		if n := f.count(`SELECT COUNT(*) FROM events WHERE request_id = 'req-1'`); n != 7 {
			t.Fatalf("%d events carry request req-1, want 7", n)
		}
	})
}

// TestOneSidedWindowOverride: a plan that overrides only the late limit,
// below the org's on-time window, still gets a late window at least as long
// as the on-time one, for matching and for the missed-dose job alike.
func TestOneSidedWindowOverride(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		if err := f.s.SetWindows(f.ctx, f.actor, f.org, adherence.Windows{OnTime: 60 * time.Minute, LateMax: 180 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00"))
		late := 20 // below the org's 60-minute on-time window
		pl.LateMaxMinutes = &late
		if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
			t.Fatal(err)
		}
		// 08:40 is inside the effective on-time window (60 minutes).
		out := f.record(f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 40), "inside"))
		if out[0].Err != nil || out[0].Event.DoseStatus != adherence.DoseTakenOnTime {
			t.Fatalf("taking at 08:40 = %+v, want taken on time", out[0])
		}
		// At 08:30 on 03-03 the dose is still within the effective window:
		// not missed yet; at 09:01 it is.
		if res, err := f.s.MarkMissed(f.ctx, local(2026, 3, 3, 8, 30)); err != nil || res.Marked != 1 { // only 03-01
			t.Fatalf("at 08:30: marked %d, %v; want 1 (03-01 only)", res.Marked, err)
		}
		if res, err := f.s.MarkMissed(f.ctx, local(2026, 3, 3, 9, 1)); err != nil || res.Marked != 1 {
			t.Fatalf("at 09:01: marked %d, %v; want 1 (03-03)", res.Marked, err)
		}
	})
}

// TestMarkMissedAtWindowClose runs the missed-dose job at the very instant
// a dose's late window closes (due + lateMax). The window is closed at that
// end — a taking at due + lateMax is taken late (match.Decide, Windows.
// Contains) — so the dose is not missed yet: it was marked missed and
// announced for escalation, and the taking of that same instant then
// re-scored it with a dose.resolved record. It is missed once the instant
// has passed.
func TestMarkMissedAtWindowClose(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00"))
		closes := local(2026, 3, 2, 8, 0).Add(adherence.DefaultWindows.LateMax)       // 11:00
		if res, err := f.s.MarkMissed(f.ctx, closes); err != nil || res.Marked != 1 { // 03-01 only
			t.Fatalf("at the window's close: marked %d, %v; want 1 (03-01 only)", res.Marked, err)
		}
		f.now = closes.UTC()
		out := f.record(f.ev(pat.ID, pl.ID, adherence.EventTaken, closes, "at-close"))
		if out[0].Err != nil || out[0].Event.Result != adherence.ResultScored || out[0].Event.DoseStatus != adherence.DoseTakenLate {
			t.Fatalf("taking at the window's close = %+v, want scored taken_late", out[0])
		}
		if n := f.count(`SELECT COUNT(*) FROM outbox WHERE patient_id = $1`, pat.ID); n != 1 {
			t.Errorf("%d outbox records, want 1 (the dose.missed of 03-01)", n)
		}
		// A dose nobody took is missed once its close has passed.
		if res, err := f.s.MarkMissed(f.ctx, local(2026, 3, 3, 11, 0).Add(time.Microsecond)); err != nil || res.Marked != 1 {
			t.Fatalf("after 03-03's close: marked %d, %v; want 1", res.Marked, err)
		}
	})
}

// TestEventGroupsKeepTheAuditChain records small groups (which read the
// audit chain head with their candidate instances and commit with their
// writes) and large ones (which read the head after their writes and
// append in one more batch) concurrently, beside plain audited writes:
// every group must take the head lock, or the chain forks.
func TestEventGroupsKeepTheAuditChain(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		var plans [][2]string
		for range 4 {
			pat := f.patient("America/New_York")
			plans = append(plans, [2]string{pat.ID, f.plan(pat.ID, timeOfDay("08:00", "20:00")).ID})
		}
		f.now = local(2026, 3, 5, 12, 0)
		const workers, rounds = 6, 4
		var wg sync.WaitGroup
		errc := make(chan error, 64)
		var recorded atomic.Int64
		for w := range workers {
			wg.Go(func() {
				for round := range rounds {
					size := 3 // a small group
					if w%2 == 1 {
						size = 150 // a large one: over earlyHeadMax
					}
					var in []store.EventInput
					for i := range size {
						p := plans[(w+i)%len(plans)]
						ev := f.ev(p[0], p[1], adherence.EventSnoozed, local(2026, 3, 4, 7, 0).Add(time.Duration(i)*time.Minute),
							fmt.Sprintf("w%d-r%d-%d", w, round, i))
						ev.Event.SnoozeMinutes = 10
						ev.Actor.RequestID = fmt.Sprintf("req-w%d-r%d-%d", w, round, i%7)
						in = append(in, ev)
					}
					out, err := f.s.RecordEvents(f.ctx, in)
					if err != nil {
						errc <- err
						return
					}
					for i, o := range out {
						if o.Err != nil {
							errc <- fmt.Errorf("worker %d round %d item %d: %w", w, round, i, o.Err)
							return
						}
					}
					recorded.Add(int64(size))
				}
			})
		}
		// Plain appends of other requests, at the same time.
		wg.Go(func() {
			for i := range 50 {
				rec := audit.Record{OrgID: f.org, ActorID: "key-admin", ActorRole: "admin", Action: audit.ActionRead,
					ResourceType: "Patient", ResourceID: plans[0][0], PatientID: plans[0][0], Outcome: audit.OutcomeSuccess,
					RequestID: fmt.Sprintf("read-%d", i)}
				if _, err := f.log.AppendNow(f.ctx, rec); err != nil {
					errc <- err
					return
				}
			}
		})
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		if got := f.count(`SELECT COUNT(*) FROM events`); got != int(recorded.Load()) || got != workers/2*rounds*(3+150) {
			t.Fatalf("%d events stored, %d recorded", got, recorded.Load())
		}
		res, err := f.log.Verify(f.ctx)
		if err != nil || !res.OK {
			t.Fatalf("audit chain: %+v, %v", res, err)
		}
		// One record per request and patient of each group: a small group
		// has 3, a large one 7 requests × 4 patients. More would mean a
		// group failed and RecordEvents fell back to recording its items
		// one by one (which hides a forked chain from the callers).
		var n int
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT COUNT(*) FROM audit_log WHERE resource_type = 'AdherenceEvent'`).Scan(&n); err != nil || n != workers/2*rounds*(3+7*4) {
			t.Fatalf("%d event audit records (%v), want %d", n, err, workers/2*rounds*(3+7*4))
		}
	})
}

// TestEventsDeferredForeignKey: on SQLite, migration 4 rebuilds events
// with its plan foreign key checked at COMMIT (no statement journal for
// multi-row INSERTs) and keeps the rows, both ways; a row naming no plan
// still fails, at COMMIT.
func TestEventsDeferredForeignKey(t *testing.T) {
	d := dbtest.SQLite(t, sets...)
	f := newFixture(t, d)
	pat := f.patient("America/New_York")
	pl := f.plan(pat.ID, timeOfDay("08:00"))
	f.record(f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 5), "kept"))
	deferred := func() bool {
		t.Helper()
		var ddl string
		if err := d.SQL.QueryRowContext(f.ctx, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'`).Scan(&ddl); err != nil {
			t.Fatal(err)
		}
		return strings.Contains(ddl, "DEFERRABLE INITIALLY DEFERRED")
	}
	if !deferred() {
		t.Fatal("events' foreign key is not deferred after the migrations")
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, d.SQL, store.Migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(f.ctx, 3); err != nil {
		t.Fatal(err)
	}
	if deferred() || f.count(`SELECT COUNT(*) FROM events WHERE client_event_id = 'kept'`) != 1 {
		t.Fatal("down to 3: want the immediate foreign key back and the event kept")
	}
	if _, err := p.UpTo(f.ctx, 4); err != nil {
		t.Fatal(err)
	}
	if !deferred() || f.count(`SELECT COUNT(*) FROM events WHERE client_event_id = 'kept'`) != 1 {
		t.Fatal("up to 4: want the deferred foreign key and the event kept")
	}
	var indexes int
	if err := d.SQL.QueryRowContext(f.ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND name IN ('events_patient_time', 'events_instance')`).Scan(&indexes); err != nil || indexes != 2 {
		t.Fatalf("%d of the 2 events indexes after the rebuild (%v)", indexes, err)
	}

	err = d.InTx(f.ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(f.ctx, `INSERT INTO events (id, org_id, patient_id, plan_id, kind, occurred_at, received_at, source,
			client_event_id, result, actor_id) VALUES ('e-orphan', $1, $2, 'no-such-plan', 'taken', $3, $3, 'app', 'orphan', 'scored', 'x')`,
			f.org, pat.ID, f.now)
		if err != nil {
			return fmt.Errorf("the INSERT itself failed, want the COMMIT to: %w", err)
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") || !strings.Contains(err.Error(), "commit") {
		t.Fatalf("InTx = %v, want the COMMIT refused by the foreign key", err)
	}
}

// TestRejectedItemHoldsNoKey: an item refused against stored data records
// nothing, so a later item of the group with the same key — a corrected
// one in the same batch, or another request's — is recorded on its own,
// and a conflict between requests is not called a repeat in one request.
func TestRejectedItemHoldsNoKey(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00"))
		at := local(2026, 3, 2, 8, 0)

		wrong := f.ev(pat.ID, "01900000-0000-7000-8000-000000000000", adherence.EventTaken, at, "fixed")
		good := f.ev(pat.ID, pl.ID, adherence.EventTaken, at, "fixed")
		out := f.record(wrong, good, good)
		wantCode(t, out[0].Err, errs.CodeNotFound)
		if out[1].Err != nil || out[1].Event.ID == "" || out[1].Replayed {
			t.Fatalf("corrected item after a rejected one: %+v", out[1])
		}
		if out[2].Err != nil || !out[2].Replayed || out[2].Event.ID != out[1].Event.ID {
			t.Fatalf("repeat of the corrected item: %+v, want a replay of %s", out[2], out[1].Event.ID)
		}

		// Two requests in one group: the second reuses the first's key
		// with other content.
		first := f.ev(pat.ID, pl.ID, adherence.EventTaken, at.Add(time.Hour), "shared")
		second := f.ev(pat.ID, pl.ID, adherence.EventSnoozed, at.Add(time.Hour), "shared")
		second.Actor.RequestID = "req-2"
		out = f.record(first, second)
		if out[0].Err != nil {
			t.Fatalf("first request: %v", out[0].Err)
		}
		wantCode(t, out[1].Err, errs.CodeConflict)
		if strings.Contains(out[1].Err.Error(), "same request") {
			t.Fatalf("conflict between two requests reads %q", out[1].Err)
		}
		if n := f.count(`SELECT COUNT(*) FROM events WHERE org_id = $1`, f.org); n != 2 {
			t.Fatalf("%d events stored, want 2", n)
		}
	})
}

// TestDoseWithUnseenPlan: an event naming a dose instance of its org and a
// plan the caller cannot see (none such, another org's, to a patient or
// caregiver another patient's) is 404 planId, as the plan alone is; only
// a visible plan the dose is not of is 400 doseId.
func TestDoseWithUnseenPlan(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00"))
		dose := f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))[0]
		other := f.patient("America/New_York")
		otherPlan := f.plan(other.ID, timeOfDay("08:00"))
		ownOther := f.plan(pat.ID, timeOfDay("12:00"))
		otherOrg, otherActor := f.otherOrg()
		foreignPat := adherence.Patient{OrgID: otherOrg, TimeZone: "UTC", Language: "en"}
		if err := f.s.CreatePatient(f.ctx, otherActor, &foreignPat); err != nil {
			t.Fatal(err)
		}
		foreignPlan := adherence.Plan{OrgID: otherOrg, PatientID: foreignPat.ID, Medication: adherence.Medication{RxNorm: "314076", Display: "x"}, Timing: timeOfDay("08:00")}
		if err := f.s.CreatePlan(f.ctx, otherActor, &foreignPlan); err != nil {
			t.Fatal(err)
		}
		item := func(planID, role, id string) store.EventInput {
			in := f.ev(pat.ID, planID, adherence.EventTaken, local(2026, 3, 2, 8, 0), id)
			in.Event.RequestedDose = dose.ID
			if role != "" {
				in.Actor.Role = role
			}
			return in
		}
		out := f.record(
			item("01890000-0000-7000-8000-000000000000", "", "unknown-plan"),
			item(foreignPlan.ID, "", "foreign-plan"),
			item(otherPlan.ID, "patient", "other-patients-plan"),
			item(ownOther.ID, "", "own-other-plan"),
		)
		want := []struct {
			code    errs.Code
			field   string
			refused string
		}{{errs.CodeNotFound, "planId", ""}, {errs.CodeNotFound, "planId", ""}, {errs.CodeNotFound, "planId", other.ID}, {errs.CodeInvalid, "doseId", ""}}
		for i, w := range want {
			e, ok := out[i].Err.(*errs.Error)
			if !ok || e.Code != w.code || e.Field != w.field || out[i].RefusedPatientID != w.refused {
				t.Errorf("item %d: %v (refused %q), want %s on %s (refused %q)", i, out[i].Err, out[i].RefusedPatientID, w.code, w.field, w.refused)
			}
		}
		if n := f.count(`SELECT COUNT(*) FROM events`); n != 0 {
			t.Fatalf("%d events stored", n)
		}
	})
}

// TestEventsOfDeletedDosesBecomeOrphans: when a plan is stopped or its
// schedule changes, its future instances are deleted; the events matched to
// them (a taking recorded against a dose excluded while the plan was
// paused, a snooze) are then outside every window of the plan: orphans,
// counted in reports, not left pointing at an instance that is gone.
func TestEventsOfDeletedDosesBecomeOrphans(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		day := func() store.ReportFilter {
			return store.ReportFilter{PatientID: "", From: local(2026, 3, 2, 0, 0), To: local(2026, 3, 3, 0, 0)}
		}
		check := func(what string, ev adherence.Event, patientID string) {
			t.Helper()
			list, err := f.s.ListEvents(f.ctx, f.org, patientID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0), "", 100)
			if err != nil || len(list) != 1 || list[0].ID != ev.ID {
				t.Fatalf("%s: events %+v, %v", what, list, err)
			}
			if got := list[0]; got.Result != adherence.ResultOrphan || got.DoseInstanceID != 0 || got.DoseStatus != "" {
				t.Errorf("%s: event result %q instance %d status %q, want an orphan", what, got.Result, got.DoseInstanceID, got.DoseStatus)
			}
			if n := f.count(`SELECT COUNT(*) FROM dose_instances WHERE id = $1`, ev.DoseInstanceID); n != 0 {
				t.Fatalf("%s: instance %d still there", what, ev.DoseInstanceID)
			}
			flt := day()
			flt.PatientID = patientID
			c, err := f.s.DoseCounts(f.ctx, f.org, flt)
			if err != nil || c.Orphans != 1 {
				t.Errorf("%s: counts %+v, %v; want one orphan", what, c, err)
			}
		}

		// Paused at noon; taken 20 minutes before the excluded 20:00
		// dose; stopped at 19:45, before it was due.
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00", "20:00"))
		f.now = local(2026, 3, 2, 12, 0).UTC()
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanPaused); err != nil {
			t.Fatal(err)
		}
		f.now = local(2026, 3, 2, 19, 41).UTC()
		out := f.record(f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 19, 40), "paused-taking"))
		if out[0].Err != nil || out[0].Event.Result != adherence.ResultRecorded || out[0].Event.DoseInstanceID == 0 {
			t.Fatalf("taking while paused: %+v", out[0])
		}
		f.now = local(2026, 3, 2, 19, 45).UTC()
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanStopped); err != nil {
			t.Fatal(err)
		}
		check("stopped", out[0].Event, pat.ID)

		// A snooze of the 20:00 dose, then the evening time moves to 21:00.
		pat2 := f.patient("America/New_York")
		pl2 := f.plan(pat2.ID, timeOfDay("08:00", "20:00"))
		f.now = local(2026, 3, 2, 19, 50).UTC()
		snooze := f.ev(pat2.ID, pl2.ID, adherence.EventSnoozed, local(2026, 3, 2, 19, 50), "snooze")
		out = f.record(snooze)
		if out[0].Err != nil || out[0].Event.DoseInstanceID == 0 {
			t.Fatalf("snooze: %+v", out[0])
		}
		pl2.Timing = timeOfDay("08:00", "21:00")
		if err := f.s.UpdatePlan(f.ctx, f.actor, &pl2, pl2.Version); err != nil {
			t.Fatal(err)
		}
		check("rescheduled", out[0].Event, pat2.ID)
	})
}

// TestLateSyncAfterSwitchToAsNeeded: a device syncs, after its plan became
// as needed, a taking of a dose scheduled (and marked missed) before the
// switch: the taking re-scores that dose, as a late sync does. Takings
// after the switch, and a snooze, are still logged as_needed.
func TestLateSyncAfterSwitchToAsNeeded(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00"))
		f.now = local(2026, 3, 3, 12, 0).UTC()
		if _, err := f.s.MarkMissed(f.ctx, f.now); err != nil {
			t.Fatal(err)
		}
		missed := f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))[0]
		if missed.Status != adherence.DoseMissed {
			t.Fatalf("dose of 03-02 = %+v, want missed", missed)
		}
		pl.AsNeeded = true
		if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
			t.Fatal(err)
		}
		f.now = local(2026, 3, 3, 14, 0).UTC()
		late := f.ev(p.ID, pl.ID, adherence.EventOpened, local(2026, 3, 2, 8, 10), "synced-late")
		now := f.ev(p.ID, pl.ID, adherence.EventTaken, local(2026, 3, 3, 13, 50), "prn-now")
		snooze := f.ev(p.ID, pl.ID, adherence.EventSnoozed, local(2026, 3, 2, 8, 5), "old-snooze")
		out := f.record(late, now, snooze)
		if out[0].Err != nil || out[0].Event.Result != adherence.ResultScored || out[0].Event.DoseInstanceID != missed.ID || out[0].Event.DoseStatus != adherence.DoseTakenOnTime {
			t.Errorf("late taking = %+v, want it to score the missed dose on time", out[0])
		}
		if out[1].Err != nil || out[1].Event.Result != adherence.ResultAsNeeded || out[2].Err != nil || out[2].Event.Result != adherence.ResultAsNeeded {
			t.Errorf("PRN taking %+v, snooze %+v; want both as_needed", out[1], out[2])
		}
		if got := f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0))[0]; got.Status != adherence.DoseTakenOnTime {
			t.Errorf("dose of 03-02 = %s after the late sync, want taken_on_time", got.Status)
		}
	})
}

// TestEventKeyLookupUsesTheWholeKey: the idempotency lookup of a group
// finds each key through all three columns of the unique index, on a table
// that has never been analysed (a new deployment, autovacuum not yet run).
// On PostgreSQL, conditions on constants (org_id = $1 AND source = $2 AND
// client_event_id IN (…)) were planned without statistics as an index
// search by org and source alone that filtered every event of the org: a
// cost of each group that grew with the table.
func TestEventKeyLookupUsesTheWholeKey(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00"))
		var keys []store.EventInput
		for b := range 2 {
			var in []store.EventInput
			for i := range 1000 {
				at := start.Add(time.Duration(b*1000+i) * 30 * time.Second)
				in = append(in, f.ev(pat.ID, pl.ID, adherence.EventOpened, at, fmt.Sprintf("k-%d-%d", b, i)))
			}
			for i, o := range f.record(in...) {
				if o.Err != nil {
					t.Fatalf("event %d: %v", i, o.Err)
				}
			}
			keys = append(keys, in[7])
		}
		keys = append(keys, f.ev(pat.ID, pl.ID, adherence.EventOpened, start, "not-recorded"))

		stmts := store.EventKeyLookup(f.d.Dialect, keys)
		if len(stmts) != 1 {
			t.Fatalf("%d lookup statements for 3 keys, want 1", len(stmts))
		}
		if f.d.Dialect == db.SQLite {
			plan := f.sqlitePlan(stmts[0].SQL, stmts[0].Args...)
			if !strings.Contains(strings.Join(plan, "\n"), "client_event_id=?") {
				t.Fatalf("the lookup does not search the index by client_event_id:\n%s", strings.Join(plan, "\n"))
			}
			return
		}
		var out string
		if err := f.d.SQL.QueryRowContext(f.ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+stmts[0].SQL, stmts[0].Args...).Scan(&out); err != nil {
			t.Fatal(err)
		}
		var plans []struct{ Plan map[string]any }
		if err := json.Unmarshal([]byte(out), &plans); err != nil || len(plans) != 1 {
			t.Fatalf("EXPLAIN output %s: %v", out, err)
		}
		// Every row the plan reads and throws away is an event of another
		// key: three keys need none.
		var walk func(n map[string]any)
		walk = func(n map[string]any) {
			for _, k := range []string{"Rows Removed by Filter", "Rows Removed by Join Filter", "Rows Removed by Index Recheck"} {
				if v, _ := n[k].(float64); v > 0 {
					t.Errorf("%s reads and discards %v rows (%s): the key lookup does not use the whole key\n%s", n["Node Type"], v, k, out)
				}
			}
			children, _ := n["Plans"].([]any)
			for _, c := range children {
				if m, ok := c.(map[string]any); ok {
					walk(m)
				}
			}
		}
		walk(plans[0].Plan)
	})
}

// TestEventKeyLookupProbesTheIndexWhenStatisticsAreStale: on PostgreSQL
// the key lookup of a group probes the unique index even when the table's
// statistics describe it as far smaller than it is (taken while it was
// young), the case where the planner chose a hash join over a sequential
// scan of every event; and RecordEvents' own transaction runs under those
// settings. SQLite has no such statistics (see
// TestEventKeyLookupUsesTheWholeKey for its plan).
func TestEventKeyLookupProbesTheIndexWhenStatisticsAreStale(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		if f.d.Dialect != db.Postgres {
			if n := len(store.IndexedPlans(f.d.Dialect)); n != 0 {
				t.Fatalf("%d planner statements on SQLite, want none", n)
			}
			return
		}
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00"))
		var in []store.EventInput
		for i := range 10 {
			in = append(in, f.ev(pat.ID, pl.ID, adherence.EventOpened, start.Add(time.Duration(i)*time.Minute), fmt.Sprintf("young-%d", i)))
		}
		for i, o := range f.record(in...) {
			if o.Err != nil {
				t.Fatalf("event %d: %v", i, o.Err)
			}
		}
		// Statistics of 10 events; then the table grows to 20,010.
		f.exec(`ANALYZE events`)
		f.exec(`INSERT INTO events (id, org_id, patient_id, plan_id, kind, occurred_at, received_at, source, client_event_id, result, actor_id)
			SELECT gen_random_uuid(), org_id, patient_id, plan_id, kind, occurred_at, received_at, source, 'grown-' || g || '-' || client_event_id, 'orphan', actor_id
			FROM events CROSS JOIN generate_series(1, 2000) AS g`)
		if n := f.count(`SELECT count(*) FROM events`); n != 20010 {
			t.Fatalf("%d events, want 20010", n)
		}
		var keys []store.EventInput
		for i := range 2000 {
			keys = append(keys, f.ev(pat.ID, pl.ID, adherence.EventOpened, start, fmt.Sprintf("grown-%d-young-%d", i+1, i%10)))
		}
		stmts := store.EventKeyLookup(f.d.Dialect, keys)
		if len(stmts) != 1 {
			t.Fatalf("%d lookup statements, want 1", len(stmts))
		}

		tx, err := f.d.SQL.BeginTx(f.ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		for _, st := range store.IndexedPlans(f.d.Dialect) {
			if _, err := tx.ExecContext(f.ctx, st.SQL, st.Args...); err != nil {
				t.Fatal(err)
			}
		}
		var out string
		if err := tx.QueryRowContext(f.ctx, "EXPLAIN (FORMAT JSON) "+stmts[0].SQL, stmts[0].Args...).Scan(&out); err != nil {
			t.Fatal(err)
		}
		var plans []struct{ Plan map[string]any }
		if err := json.Unmarshal([]byte(out), &plans); err != nil || len(plans) != 1 {
			t.Fatalf("EXPLAIN output %s: %v", out, err)
		}
		probes := false
		var walk func(n map[string]any)
		walk = func(n map[string]any) {
			node, _ := n["Node Type"].(string)
			rel, _ := n["Relation Name"].(string)
			switch {
			case node == "Hash Join" || node == "Merge Join":
				t.Errorf("the key lookup is a %s, not index probes:\n%s", node, out)
			case rel == "events" && node != "Index Scan":
				t.Errorf("the key lookup reads events by %s, not by probes of its unique index:\n%s", node, out)
			case rel == "events":
				probes = true
			}
			children, _ := n["Plans"].([]any)
			for _, c := range children {
				if m, ok := c.(map[string]any); ok {
					walk(m)
				}
			}
		}
		walk(plans[0].Plan)
		if !probes {
			t.Errorf("the key lookup does not read events by an index scan:\n%s", out)
		}
		tx.Rollback()

		// RecordEvents plans its own transaction so: a trigger of this
		// test reads the settings while the events are inserted.
		f.exec(`CREATE TABLE planner_seen (seqscan TEXT, hashjoin TEXT, mergejoin TEXT)`)
		f.exec(`CREATE FUNCTION planner_seen() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				INSERT INTO planner_seen VALUES (current_setting('enable_seqscan'),
					current_setting('enable_hashjoin'), current_setting('enable_mergejoin'));
				RETURN NULL;
			END $$`)
		f.exec(`CREATE TRIGGER events_planner_seen AFTER INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION planner_seen()`)
		if o := f.record(f.ev(pat.ID, pl.ID, adherence.EventOpened, start, "planned")); o[0].Err != nil {
			t.Fatal(o[0].Err)
		}
		var seq, hash, merge string
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT seqscan, hashjoin, mergejoin FROM planner_seen`).Scan(&seq, &hash, &merge); err != nil {
			t.Fatal(err)
		}
		if seq != "off" || hash != "off" || merge != "off" {
			t.Errorf("RecordEvents' transaction ran with enable_seqscan=%s, enable_hashjoin=%s, enable_mergejoin=%s, want all off", seq, hash, merge)
		}
	})
}

// TestRefusedEventsAreAuditedWithTheGroup: an item refused for access (a
// caregiver naming another patient's plan, staff naming another
// organization's patient) is audited as a failed attempt on that patient
// by RecordEvents itself, in the transaction that commits the accepted
// items, so the two commit together. The caller audited refusals in a
// transaction of its own after the group's commit: a crash between the two
// left the committed events without the record of the refused attempts.
func TestRefusedEventsAreAuditedWithTheGroup(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00"))
		other := f.patient("America/New_York")
		otherPlan := f.plan(other.ID, timeOfDay("08:00"))
		otherOrg, otherActor := f.otherOrg()
		foreign := adherence.Patient{OrgID: otherOrg, TimeZone: "UTC", Language: "en"}
		if err := f.s.CreatePatient(f.ctx, otherActor, &foreign); err != nil {
			t.Fatal(err)
		}
		at := local(2026, 3, 2, 8, 0)
		ok := f.ev(pat.ID, pl.ID, adherence.EventTaken, at, "accepted")
		probe := f.ev(pat.ID, otherPlan.ID, adherence.EventTaken, at, "probe")
		probe.Actor.Role = "caregiver"
		foreignProbe := f.ev(foreign.ID, pl.ID, adherence.EventTaken, at, "foreign")
		for _, in := range []*store.EventInput{&ok, &probe, &foreignProbe} {
			in.Actor.RequestID = "batch-1"
		}
		// refusals counts the failed-access records on patient by request.
		refusals := func(patient, request string) int {
			return f.count(`SELECT COUNT(*) FROM audit_log WHERE resource_type = 'AdherenceEvent' AND action = 'C'
				AND outcome = 4 AND patient_id = $1 AND request_id = $2 AND org_id = $3`, patient, request, f.org)
		}

		out := f.record(ok, probe, foreignProbe)
		if out[0].Err != nil || out[1].Err == nil || out[2].Err == nil {
			t.Fatalf("outcomes: %v, %v, %v; want the first accepted, the others refused", out[0].Err, out[1].Err, out[2].Err)
		}
		if a, b := refusals(other.ID, "batch-1"), refusals(foreign.ID, "batch-1"); a != 1 || b != 1 {
			t.Errorf("refused attempts on another patient and another org's patient: %d and %d audit records, want 1 and 1", a, b)
		}
		// Appended with the accepted item's record, in one transaction:
		// consecutive records of the chain.
		var lo, hi, n int64
		if err := f.d.SQL.QueryRow(`SELECT MIN(seq), MAX(seq), COUNT(*) FROM audit_log WHERE request_id = 'batch-1'`).Scan(&lo, &hi, &n); err != nil {
			t.Fatal(err)
		}
		if n != 3 || hi-lo != 2 {
			t.Errorf("request's audit records: %d, seq %d to %d; want 3 consecutive", n, lo, hi)
		}

		// A group of refused items only is audited too.
		alone := f.ev(pat.ID, otherPlan.ID, adherence.EventTaken, at, "probe-alone")
		alone.Actor.Role, alone.Actor.RequestID = "patient", "batch-2"
		if out := f.record(alone); out[0].Err == nil {
			t.Fatal("a patient's event on another patient's plan was accepted")
		}
		if n := refusals(other.ID, "batch-2"); n != 1 {
			t.Errorf("group of one refused item: %d audit records, want 1", n)
		}
	})
}

// TestCallerRefusedEventIsAuditedWithTheGroup: an item its caller refused
// (EventInput.Refusal: a patient or caregiver naming a patient it may not
// reach) is answered with the caller's refusal (not found on patientId)
// and audited as a failed attempt on that patient in the group's
// transaction, after the accepted items' records, one record for the
// request's refusals on that patient; it is never a replay of the event
// its key names, and holds no key: a later item with its key is recorded.
func TestCallerRefusedEventIsAuditedWithTheGroup(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00"))
		other := f.patient("America/New_York")
		otherPlan := f.plan(other.ID, timeOfDay("08:00"))
		at := local(2026, 3, 2, 8, 0)
		first := f.ev(other.ID, otherPlan.ID, adherence.EventTaken, at, "taken-1")
		if out := f.record(first); out[0].Err != nil {
			t.Fatal(out[0].Err)
		}

		ok := f.ev(pat.ID, pl.ID, adherence.EventTaken, at, "accepted")
		probe := f.ev(other.ID, otherPlan.ID, adherence.EventTaken, at, "taken-1") // the key of first
		notFound := &errs.Error{Code: errs.CodeNotFound, Field: "patientId", Message: "patient not found"}
		probe.Refusal = notFound
		later := f.ev(pat.ID, pl.ID, adherence.EventSnoozed, at, "probe-key")
		probeKey := f.ev(other.ID, otherPlan.ID, adherence.EventTaken, at, "probe-key")
		probeKey.Refusal = notFound
		for _, in := range []*store.EventInput{&ok, &probe, &probeKey, &later} {
			in.Actor.Role, in.Actor.RequestID = "caregiver", "batch-r"
		}
		out := f.record(ok, probe, probeKey, later)
		if out[0].Err != nil || out[3].Err != nil {
			t.Fatalf("accepted items: %v, %v", out[0].Err, out[3].Err)
		}
		for _, i := range []int{1, 2} {
			if e, isErr := out[i].Err.(*errs.Error); !isErr || e.Code != errs.CodeNotFound || e.Field != "patientId" || out[i].Replayed || out[i].RefusedPatientID != other.ID {
				t.Errorf("refused item %d: %+v, want not found on patientId, refused on the other patient, no replay", i, out[i])
			}
		}
		var lo, hi, n int64
		if err := f.d.SQL.QueryRow(`SELECT MIN(seq), MAX(seq), COUNT(*) FROM audit_log WHERE request_id = 'batch-r'`).Scan(&lo, &hi, &n); err != nil {
			t.Fatal(err)
		}
		refusals := f.count(`SELECT COUNT(*) FROM audit_log WHERE request_id = 'batch-r' AND resource_type = 'AdherenceEvent'
			AND action = 'C' AND outcome = 4 AND patient_id = $1`, other.ID)
		if n != 2 || hi-lo != 1 || refusals != 1 {
			t.Errorf("request's audit records: %d (%d refusals), seq %d to %d; want 2 consecutive, 1 refusal", n, refusals, lo, hi)
		}
		if last := f.count(`SELECT COUNT(*) FROM audit_log WHERE seq = $1 AND outcome = 4`, hi); last != 1 {
			t.Errorf("the last record of the group is not a refusal: refusals follow the accepted items")
		}
	})
}

// TestTakingPrefersLiveDoseOverExcluded pauses a plan with doses at 08:00
// and 09:00 and resumes it at 08:20: the 08:00 dose stays excluded, the
// 09:00 one is live again. A taking at 08:25 is in both windows and
// nearer the excluded dose; it belongs to the live one. Matched to the
// excluded dose it was only recorded, and the 09:00 dose was missed.
func TestTakingPrefersLiveDoseOverExcluded(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00", "09:00"))
		f.now = local(2026, 3, 2, 7, 0).UTC()
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanPaused); err != nil {
			t.Fatal(err)
		}
		f.now = local(2026, 3, 2, 8, 20).UTC()
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanActive); err != nil {
			t.Fatal(err)
		}
		f.now = local(2026, 3, 2, 8, 26).UTC()
		out := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 25), "taken"))
		if out[0].Err != nil || out[0].Event.Result != adherence.ResultScored || out[0].Event.DoseStatus != adherence.DoseTakenOnTime {
			t.Fatalf("taking at 08:25: %+v", out[0])
		}
		got := map[string]adherence.DoseStatus{}
		for _, d := range f.doses(pl.ID, local(2026, 3, 2, 0, 0), local(2026, 3, 3, 0, 0)) {
			got[d.LocalTime[11:]] = d.Status
		}
		want := map[string]adherence.DoseStatus{"08:00": adherence.DoseExcluded, "09:00": adherence.DoseTakenOnTime}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("doses of 2026-03-02 (-want +got):\n%s", diff)
		}
	})
}

// A small group reads its candidate instances with the windows its store
// remembers for the plan, in the round trip that reads the plan; when the
// plan's or the org's windows have changed since, the instances are those
// of the new windows, widened or narrowed.
func TestRememberedWindowsChanged(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pat := f.patient("America/New_York")
		pl := f.plan(pat.ID, timeOfDay("08:00"))
		setLateMax := func(minutes int) {
			t.Helper()
			on := 10
			pl.OnTimeMinutes, pl.LateMaxMinutes = &on, &minutes
			if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
				t.Fatal(err)
			}
		}
		setLateMax(30)
		// The store remembers the 30-minute window.
		if out := f.record(f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 2, 8, 5), "warm")); out[0].Event.DoseStatus != adherence.DoseTakenOnTime {
			t.Fatalf("warm-up: %+v", out[0].Event)
		}
		// Widened: 2 hours late is late, not an orphan of the old window.
		setLateMax(240)
		out := f.record(f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 3, 10, 0), "widened"))
		if out[0].Err != nil || out[0].Event.DoseStatus != adherence.DoseTakenLate {
			t.Fatalf("after widening: %+v %v", out[0].Event, out[0].Err)
		}
		// Narrowed: 2 hours late is now outside every window.
		setLateMax(30)
		out = f.record(f.ev(pat.ID, pl.ID, adherence.EventTaken, local(2026, 3, 4, 10, 0), "narrowed"))
		if out[0].Err != nil || out[0].Event.Result != adherence.ResultOrphan {
			t.Fatalf("after narrowing: %+v %v", out[0].Event, out[0].Err)
		}
		// The org's windows, for a plan without its own.
		pl2 := f.plan(pat.ID, timeOfDay("12:00"))
		if err := f.s.SetWindows(f.ctx, f.actor, f.org, adherence.Windows{OnTime: 5 * time.Minute, LateMax: 20 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		if out := f.record(f.ev(pat.ID, pl2.ID, adherence.EventTaken, local(2026, 3, 2, 12, 0), "warm-org")); out[0].Event.DoseStatus != adherence.DoseTakenOnTime {
			t.Fatalf("warm-up (org): %+v", out[0].Event)
		}
		if err := f.s.SetWindows(f.ctx, f.actor, f.org, adherence.Windows{OnTime: 5 * time.Minute, LateMax: 180 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		out = f.record(f.ev(pat.ID, pl2.ID, adherence.EventTaken, local(2026, 3, 3, 14, 0), "org-widened"))
		if out[0].Err != nil || out[0].Event.DoseStatus != adherence.DoseTakenLate {
			t.Fatalf("after widening the org's windows: %+v %v", out[0].Event, out[0].Err)
		}
		// Each event is stored once, whatever attempt recorded it.
		var n int
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT count(*) FROM events WHERE client_event_id IN ('warm', 'widened', 'narrowed', 'warm-org', 'org-widened')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 5 {
			t.Fatalf("%d events stored, want 5", n)
		}
	})
}

// TestEarlierTakingSupersedesTheRecordedOne: a taking reported after
// another but earlier than it replaces it on the dose (the earliest
// evidence wins), and the replaced event becomes what it would have been
// had it come second: a duplicate within the de-duplication window, else
// a taking recorded as a possible double dose. It stayed "scored", so two
// events each said they had scored the dose.
func TestEarlierTakingSupersedesTheRecordedOne(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		at := func(hh, mm int) time.Time { return time.Date(2026, 3, 2, hh, mm, 0, 0, time.UTC) }
		p := f.patient("UTC")
		pl := f.plan(p.ID, timeOfDay("08:00:00"))
		p2 := f.patient("UTC")
		pl2 := f.plan(p2.ID, timeOfDay("08:00:00", "20:00:00"))
		f.now = at(10, 0)
		take := func(hh, mm int, key string) adherence.Event {
			t.Helper()
			o := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, at(hh, mm), key))[0]
			if o.Err != nil || o.Event.Result != adherence.ResultScored {
				t.Fatalf("taking at %02d:%02d: %+v", hh, mm, o)
			}
			return o.Event
		}
		last := take(9, 30, "late")
		earlier := take(9, 20, "earlier") // 10 minutes before: the same taking
		f.eventIs(last.ID, "duplicate", "", false)
		f.eventIs(earlier.ID, "scored", "taken_late", false)
		first := take(8, 30, "first") // 50 minutes before: a possible double dose
		f.eventIs(earlier.ID, "recorded", "", true)
		f.eventIs(first.ID, "scored", "taken_on_time", true)
		f.eventIs(last.ID, "duplicate", "", false)
		ds := f.doses(pl.ID, at(0, 0), at(23, 0))
		if len(ds) != 1 || ds[0].Status != adherence.DoseTakenOnTime || ds[0].EventID != first.ID || !ds[0].DoubleDose {
			t.Errorf("dose: %+v, want taken on time by %s, a possible double dose", ds, first.ID)
		}
		if n := f.count(`SELECT COUNT(*) FROM events WHERE dose_instance_id = $1 AND result = 'scored'`, ds[0].ID); n != 1 {
			t.Errorf("%d events say they scored the dose, want 1", n)
		}

		// One group replacing the takings of several doses (a device
		// syncing a day late): each replaced event gets its own outcome.
		f.now = at(22, 0)
		var recorded []adherence.Event
		for _, tm := range [][2]int{{9, 30}, {21, 0}} {
			o := f.record(f.ev(p2.ID, pl2.ID, adherence.EventTaken, at(tm[0], tm[1]), fmt.Sprintf("p2-%02d", tm[0])))[0]
			if o.Err != nil || o.Event.Result != adherence.ResultScored {
				t.Fatalf("taking at %02d:%02d: %+v", tm[0], tm[1], o)
			}
			recorded = append(recorded, o.Event)
		}
		outs := f.record(
			f.ev(p2.ID, pl2.ID, adherence.EventTaken, at(9, 25), "p2-sync-morning"), // 5 minutes before: the same taking
			f.ev(p2.ID, pl2.ID, adherence.EventTaken, at(20, 0), "p2-sync-evening"), // an hour before: a possible double dose
		)
		for _, o := range outs {
			if o.Err != nil || o.Event.Result != adherence.ResultScored {
				t.Fatalf("synced taking: %+v", o)
			}
		}
		f.eventIs(recorded[0].ID, "duplicate", "", false)
		f.eventIs(recorded[1].ID, "recorded", "", true)
		f.eventIs(outs[0].Event.ID, "scored", "taken_late", false)
		f.eventIs(outs[1].Event.ID, "scored", "taken_on_time", true)
	})
}

// TestRetryAfterItsDoseWasRegenerated: a skip in advance naming its dose,
// then the plan paused, its time changed and resumed, the plan paused
// before its dose basis was recorded (dose_basis empty: its doses cannot
// be revived as they were, see reviveAsGenerated): the dose named is
// deleted and the skip carried to the new dose of the same occurrence
// (carryEvents rewrites the event's requested dose). The client's retry of
// the same request, naming the old dose id, is the same event and replays;
// it was a 409 "already used for a different event".
func TestRetryAfterItsDoseWasRegenerated(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC")
		f.now = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
		pl := f.plan(p.ID, timeOfDay("12:00"))
		ds := f.doses(pl.ID, f.now, f.now.Add(12*time.Hour))
		if len(ds) != 1 {
			t.Fatalf("doses before noon: %d", len(ds))
		}
		skip := f.ev(p.ID, pl.ID, adherence.EventSkipped, f.now, "skip-noon")
		skip.Event.RequestedDose = ds[0].ID
		first := f.record(skip)
		if first[0].Err != nil {
			t.Fatal(first[0].Err)
		}
		pl, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanPaused)
		if err != nil {
			t.Fatal(err)
		}
		pl.Timing = timeOfDay("13:00")
		if err := f.s.UpdatePlan(f.ctx, f.actor, &pl, pl.Version); err != nil {
			t.Fatal(err)
		}
		f.exec(`UPDATE plans SET dose_basis = '' WHERE id = $1`, pl.ID)
		if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanActive); err != nil {
			t.Fatal(err)
		}
		if n := f.count(`SELECT COUNT(*) FROM dose_instances WHERE id = ` + fmt.Sprint(ds[0].ID)); n != 0 {
			t.Fatalf("the dose named was not regenerated (the test does not test what it says)")
		}
		again := f.record(skip)
		if again[0].Err != nil || !again[0].Replayed || again[0].Event.ID != first[0].Event.ID {
			t.Fatalf("retry = %+v, want the first event replayed", again[0])
		}
		changed := skip
		changed.Event.Reason = "forgot"
		if out := f.record(changed); errs.CodeOf(out[0].Err) != errs.CodeConflict {
			t.Fatalf("the same key with another reason = %+v, want a conflict", out[0])
		}
		// Another dose id that does not exist is another event: a
		// conflict, as a dose that exists would be (QA: it replayed, and
		// the 201 against a 409 told which dose ids exist).
		for _, dose := range []int64{ds[0].ID + 1_000_000, ds[0].ID - 1} {
			other := skip
			other.Event.RequestedDose = dose
			if out := f.record(other); errs.CodeOf(out[0].Err) != errs.CodeConflict {
				t.Fatalf("the same key naming dose %d = %+v, want a conflict", dose, out[0])
			}
		}
	})
}

// TestRetryNamingADoseThatNeverExisted: the same key with a dose id that
// never existed is a conflict, exactly as with a dose of another patient
// or organization: a replay (201) there would tell a client which dose
// ids exist.
func TestRetryNamingADoseThatNeverExisted(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC")
		f.now = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
		pl := f.plan(p.ID, timeOfDay("12:00"))
		ds := f.doses(pl.ID, f.now, f.now.Add(12*time.Hour))
		if len(ds) != 1 {
			t.Fatalf("doses before noon: %d", len(ds))
		}
		taken := f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "take-noon")
		taken.Event.RequestedDose = ds[0].ID
		if out := f.record(taken); out[0].Err != nil {
			t.Fatal(out[0].Err)
		}
		if again := f.record(taken); again[0].Err != nil || !again[0].Replayed {
			t.Fatalf("the same request again = %+v, want a replay", again[0])
		}
		other := taken
		other.Event.RequestedDose = ds[0].ID + 424242
		if out := f.record(other); errs.CodeOf(out[0].Err) != errs.CodeConflict {
			t.Fatalf("the same key naming a dose that never existed = %+v, want a conflict", out[0])
		}
	})
}

// TestMarkMissedWithinStopsAtItsBudget: a run given a budget stops after
// the chunk it is in once the budget has passed, saying More, and the
// next run goes on where it stopped, so a periodic job's run ends well
// within its short Timeout (worker.PeriodicTimeout) however large the
// backlog: 1,500 overdue doses, a budget that has passed after the first
// chunk of 1,000.
func TestMarkMissedWithinStopsAtItsBudget(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC")
		pl := f.plan(p.ID, timeOfDay("08:00"))
		// 1,500 more instances of the plan, a minute apart, due a week
		// before its start (the window of each long closed).
		tx, err := f.d.SQL.BeginTx(f.ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		first := f.now.Add(-7 * 24 * time.Hour)
		for i := range 1500 {
			due := first.Add(time.Duration(i) * time.Minute)
			if _, err := tx.ExecContext(f.ctx, `INSERT INTO dose_instances (org_id, patient_id, plan_id, seq, due_at, local_time, status, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, 'scheduled', $7)`,
				f.org, p.ID, pl.ID, 10000+i, db.UTC(due), due.Format("2006-01-02T15:04"), db.UTC(f.now)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		res, err := f.s.MarkMissedWithin(f.ctx, f.now, time.Nanosecond)
		if err != nil {
			t.Fatal(err)
		}
		if res.Marked != 1000 || !res.More {
			t.Fatalf("first run = %+v, want 1000 marked and more to do", res)
		}
		res, err = f.s.MarkMissedWithin(f.ctx, f.now, time.Nanosecond)
		if err != nil {
			t.Fatal(err)
		}
		if res.Marked != 500 || res.More {
			t.Fatalf("second run = %+v, want the other 500 marked and nothing more", res)
		}
		if n := f.count(`SELECT COUNT(*) FROM outbox WHERE topic = 'dose.missed'`); n != 1500 {
			t.Fatalf("%d dose.missed records, want 1500", n)
		}
	})
}

// TestMarkMissedReadsOnlyClosedWindows: a run reads (and, on PostgreSQL,
// locks) only the open doses whose window has closed, not every open dose
// past its due time: at a spike of 100,000 doses due at once, each run
// inside their windows read and locked them all and marked none, 15 to
// 31 s a run (QA). 300 doses due half an hour ago (their windows open for
// hours) and one whose window closed: one examined, one marked.
func TestMarkMissedReadsOnlyClosedWindows(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC")
		pl := f.plan(p.ID, timeOfDay("08:00"))
		if _, err := f.s.MarkMissed(f.ctx, f.now); err != nil { // what the plan made that is closed
			t.Fatal(err)
		}
		tx, err := f.d.SQL.BeginTx(f.ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		insert := func(seq int, due time.Time) {
			if _, err := tx.ExecContext(f.ctx, `INSERT INTO dose_instances (org_id, patient_id, plan_id, seq, due_at, local_time, status, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, 'scheduled', $7)`,
				f.org, p.ID, pl.ID, seq, db.UTC(due), due.Format("2006-01-02T15:04"), db.UTC(f.now)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 300 {
			insert(20000+i, f.now.Add(-30*time.Minute).Add(time.Duration(i)*time.Second))
		}
		insert(30000, f.now.Add(-adherence.DefaultWindows.LateMax-time.Hour))
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		res, err := f.s.MarkMissed(f.ctx, f.now)
		if err != nil {
			t.Fatal(err)
		}
		if res.Marked != 1 || res.Examined > 2 {
			t.Fatalf("run = %+v, want 1 marked and only it examined (at most one more, closing within the minute), not the 300 in their windows", res)
		}
	})
}

// TestTakingAfterASkipLeavesOneScoringEvent: a taking of a dose the patient
// had skipped scores it, and the skip is kept as recorded (matched,
// changing nothing), as a skip after a taking is: both said "scored",
// where one event at a time says it scored a dose (QA).
func TestTakingAfterASkipLeavesOneScoringEvent(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC")
		pl := f.plan(p.ID, timeOfDay("08:00"))
		due := start.Add(8 * time.Hour)
		f.now = due.Add(5 * time.Minute)
		skip := f.record(f.ev(p.ID, pl.ID, adherence.EventSkipped, due.Add(time.Minute), "skip"))[0]
		if skip.Err != nil || skip.Event.Result != adherence.ResultScored || skip.Event.DoseStatus != adherence.DoseSkipped {
			t.Fatalf("skip = %+v", skip)
		}
		f.now = due.Add(10 * time.Minute)
		taken := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, due.Add(9*time.Minute), "take"))[0]
		if taken.Err != nil || taken.Event.Result != adherence.ResultScored || taken.Event.DoseStatus != adherence.DoseTakenOnTime {
			t.Fatalf("taking = %+v", taken)
		}
		f.eventIs(skip.Event.ID, string(adherence.ResultRecorded), "", false)
		f.eventIs(taken.Event.ID, string(adherence.ResultScored), string(adherence.DoseTakenOnTime), false)
		if n := f.count(`SELECT COUNT(*) FROM events WHERE plan_id = $1 AND result = 'scored'`, pl.ID); n != 1 {
			t.Errorf("%d events say they scored the dose, want 1", n)
		}
	})
}

// TestSkipThenTakingReplayedByAResume: a skip and then a taking of one dose,
// the plan paused and resumed before the dose is due: the events are
// decided again in order, and still only the taking says it scored the
// dose; both said "scored" again (QA).
func TestSkipThenTakingReplayedByAResume(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("UTC")
		pl := f.plan(p.ID, timeOfDay("08:00"))
		due := start.Add(24*time.Hour + 8*time.Hour)
		f.now = due.Add(-20 * time.Minute)
		ds := f.doses(pl.ID, due, due.Add(time.Minute))
		if len(ds) != 1 {
			t.Fatalf("doses at %v: %+v", due, ds)
		}
		skipIn := f.ev(p.ID, pl.ID, adherence.EventSkipped, f.now, "skip")
		skipIn.Event.RequestedDose = ds[0].ID
		skip := f.record(skipIn)[0]
		f.now = f.now.Add(time.Minute)
		taken := f.record(f.ev(p.ID, pl.ID, adherence.EventTaken, f.now, "take"))[0]
		if skip.Err != nil || taken.Err != nil || taken.Event.DoseStatus != adherence.DoseTakenOnTime {
			t.Fatalf("skip %+v, taking %+v", skip, taken)
		}
		for _, st := range []adherence.PlanStatus{adherence.PlanPaused, adherence.PlanActive} {
			if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, st); err != nil {
				t.Fatal(err)
			}
		}
		f.eventIs(skip.Event.ID, string(adherence.ResultRecorded), "", false)
		f.eventIs(taken.Event.ID, string(adherence.ResultScored), string(adherence.DoseTakenOnTime), false)
	})
}
