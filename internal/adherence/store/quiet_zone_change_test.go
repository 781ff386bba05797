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
