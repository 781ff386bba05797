package store_test

import (
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/platform/phi"
)

// TestQuietHoldDecidedAgainAfterAMove: a reminder held until the end of
// the patient's quiet hours is decided again when the patient's zone or
// quiet hours change. Held until 07:00 in Lord Howe (20:00Z), it went at
// 20:00Z although the patient had moved to Chatham, where quiet hours had
// ended (QA); it now goes at the next dispatch. A change that leaves the
// patient in quiet hours holds it again until the new end.
func TestQuietHoldDecidedAgainAfterAMove(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 12, 4, h, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name      string
		change    func(p *adherence.Patient)
		wantSent  int
		wantHeldT time.Time // when still held: the new end (zero: sent)
	}{
		{"moved out of quiet hours", func(p *adherence.Patient) { p.TimeZone = "Pacific/Chatham" }, 1, time.Time{}},
		{"quiet hours ending later", func(p *adherence.Patient) {
			s, _ := schedule.ParseClock("22:00")
			e, _ := schedule.ParseClock("07:30")
			p.Quiet = adherence.QuietHours{Start: s, End: e, Set: true}
		}, 0, at(20, 30)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				f.now = at(0, 0)
				s, _ := schedule.ParseClock("22:00")
				e, _ := schedule.ParseClock("07:00")
				p := adherence.Patient{OrgID: f.org, GivenName: phi.New("Ana"), Phone: phi.New("+15551234567"),
					TimeZone: "Australia/Lord_Howe", Language: "en", SMSConsent: true,
					Quiet: adherence.QuietHours{Start: s, End: e, Set: true}}
				if err := f.s.CreatePatient(f.ctx, f.actor, &p); err != nil {
					t.Fatal(err)
				}
				pl := f.plan(p.ID, timeOfDay("06:00")) // 19:00Z, in quiet hours until 07:00 (20:00Z)
				f.arm(at(18, 30))
				if res := f.dispatch(at(19, 0)); res.Held != 1 {
					t.Fatalf("dispatch at the due time: %+v, want the reminder held", res)
				}
				f.now = at(19, 5)
				cur, err := f.s.GetPatient(f.ctx, f.org, p.ID)
				if err != nil {
					t.Fatal(err)
				}
				tc.change(&cur)
				if err := f.s.UpdatePatient(f.ctx, f.actor, &cur, cur.Version); err != nil {
					t.Fatal(err)
				}
				f.arm(at(19, 6))
				res := f.dispatch(at(19, 6))
				if res.Sent != tc.wantSent {
					t.Errorf("dispatch after the change: %+v, want %d sent", res, tc.wantSent)
				}
				if !tc.wantHeldT.IsZero() {
					ds := f.doses(pl.ID, at(18, 0), at(20, 0))
					if len(ds) != 1 {
						t.Fatalf("%d doses", len(ds))
					}
					var remindAt time.Time
					if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT remind_at FROM dose_instances WHERE id = $1`, ds[0].ID).Scan(&remindAt); err != nil {
						t.Fatal(err)
					}
					if !remindAt.Equal(tc.wantHeldT) {
						t.Errorf("held until %s, want the new end %s", remindAt.UTC(), tc.wantHeldT)
					}
				}
			})
		})
	}
}

// TestQuietChangeLeavesOtherRemindersAlone: only a first reminder that a
// dispatch held for quiet hours is decided again after a change of zone or
// quiet hours; a reminder whose time merely equals the old quiet end was
// sent early (QA re-test): a dose due at the quiet end, armed for then, 2
// hours early; a snooze ending at the quiet end; a repeat planned for it.
func TestQuietChangeLeavesOtherRemindersAlone(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 12, 4, h, m, 0, 0, time.UTC) }
	quiet := func(start, end string) adherence.QuietHours {
		if start == "" {
			return adherence.QuietHours{}
		}
		s, _ := schedule.ParseClock(start)
		e, _ := schedule.ParseClock(end)
		return adherence.QuietHours{Start: s, End: e, Set: true}
	}
	enrol := func(f *fixture, q adherence.QuietHours) adherence.Patient {
		f.now = at(0, 0)
		p := adherence.Patient{OrgID: f.org, GivenName: phi.New("Ana"), Phone: phi.New("+15551234567"),
			TimeZone: "Australia/Lord_Howe", Language: "en", SMSConsent: true, Quiet: q}
		if err := f.s.CreatePatient(f.ctx, f.actor, &p); err != nil {
			f.t.Fatal(err)
		}
		return p
	}
	change := func(f *fixture, id string, when time.Time, fn func(p *adherence.Patient)) {
		f.now = when
		cur, err := f.s.GetPatient(f.ctx, f.org, id)
		if err != nil {
			f.t.Fatal(err)
		}
		fn(&cur)
		if err := f.s.UpdatePatient(f.ctx, f.actor, &cur, cur.Version); err != nil {
			f.t.Fatal(err)
		}
	}
	t.Run("dose due at the quiet end", func(t *testing.T) {
		each(t, func(t *testing.T, f *fixture) {
			p := enrol(f, quiet("21:00", "08:00"))
			f.plan(p.ID, timeOfDay("08:00")) // 21:00Z, the quiet end
			f.arm(at(19, 0))
			change(f, p.ID, at(19, 1), func(p *adherence.Patient) { p.Quiet = quiet("22:00", "06:00") })
			if res := f.dispatch(at(19, 2)); res.Sent != 0 {
				t.Errorf("the 08:00 dose's reminder at 06:02: %+v, want none before it is due", res)
			}
		})
	})
	t.Run("snooze ending at the quiet end", func(t *testing.T) {
		each(t, func(t *testing.T, f *fixture) {
			p := enrol(f, quiet("22:00", "07:00"))
			pl := f.plan(p.ID, timeOfDay("06:00")) // 19:00Z, held to 20:00Z
			f.arm(at(18, 30))
			if res := f.dispatch(at(19, 0)); res.Held != 1 {
				t.Fatalf("dispatch: %+v, want held", res)
			}
			f.snooze(p, pl, at(19, 40), 20, adherence.SourceApp, "snz-1") // until 20:00Z
			change(f, p.ID, at(19, 45), func(p *adherence.Patient) { p.TimeZone = "Pacific/Chatham" })
			if res := f.dispatch(at(19, 46)); res.Sent != 0 {
				t.Errorf("the snoozed reminder at 19:46Z: %+v, want none before 20:00Z", res)
			}
		})
	})
	t.Run("repeat planned at the quiet end", func(t *testing.T) {
		each(t, func(t *testing.T, f *fixture) {
			p := enrol(f, quiet("22:00", "06:00"))
			f.plan(p.ID, timeOfDay("06:30")) // 19:30Z
			f.arm(at(19, 0))
			if res := f.dispatch(at(19, 30)); res.Sent != 1 {
				t.Fatalf("first reminder: %+v", res)
			}
			change(f, p.ID, at(19, 40), func(p *adherence.Patient) { p.Quiet = quiet("22:00", "07:00") })
			change(f, p.ID, at(19, 45), func(p *adherence.Patient) { p.Quiet = quiet("", "") })
			if res := f.dispatch(at(19, 46)); res.Sent != 0 {
				t.Errorf("the repeat at 19:46Z: %+v, want it at 20:00Z", res)
			}
		})
	})
}
