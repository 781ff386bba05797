package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// TestRemindersAfterAPauseOfADueDose: a dose reminded once, then paused
// (or its patient deactivated) while a dispatch ran, and resumed with its
// window still open gets the reminders it has left: the next at once,
// then every repeat. The dispatch that met it while inactive stopped its
// reminders, and arming takes only doses never reminded: it got none
// more, though it was open and active again (QA).
func TestRemindersAfterAPauseOfADueDose(t *testing.T) {
	for _, how := range []string{"plan paused", "patient deactivated"} {
		t.Run(how, func(t *testing.T) {
			each(t, func(t *testing.T, f *fixture) {
				p, pl, dose := f.reminderPatient("", "")
				set := func(on bool) {
					var err error
					switch {
					case how == "plan paused" && on:
						_, err = f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanActive)
					case how == "plan paused":
						_, err = f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanPaused)
					default:
						_, err = f.s.SetPatientActive(f.ctx, f.actor, f.org, p.ID, on)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				tick := func(from, to time.Time) {
					for at := from; at.Before(to); at = at.Add(time.Minute) {
						f.arm(at)
						f.dispatch(at)
					}
				}
				tick(utc(11, 0), utc(13, 10)) // the first reminder at 13:00
				f.now = utc(13, 10)
				set(false)
				tick(utc(13, 10), utc(13, 40)) // the 13:30 one meets the pause
				f.now = utc(13, 40)
				set(true)
				tick(utc(13, 40), utc(16, 30))

				rows, err := f.d.SQL.QueryContext(f.ctx, `SELECT idempotency_key, due_at FROM notifications
					WHERE dose_instance_id = $1 AND status <> 'dropped' ORDER BY id`, dose.ID)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				var got []string
				for rows.Next() {
					var key string
					var due time.Time
					if err := rows.Scan(&key, &due); err != nil {
						t.Fatal(err)
					}
					got = append(got, fmt.Sprintf("%s %s", key, due.UTC().Format("15:04")))
				}
				want := []string{
					fmt.Sprintf("reminder:%d:1 13:00", dose.ID),
					fmt.Sprintf("reminder:%d:2 13:40", dose.ID),
					fmt.Sprintf("reminder:%d:3 14:10", dose.ID),
				}
				if strings.Join(got, ", ") != strings.Join(want, ", ") {
					t.Errorf("reminders of the dose = %v, want %v", got, want)
				}
			})
		})
	}
}

// TestQueuedReminderOfARemovedDose: a reminder queued for a dose that a
// change of the patient's zone then deleted is cancelled as dose_removed:
// it said dose_recorded, and the history told staff of a recording the
// patient never made (QA).
func TestQueuedReminderOfARemovedDose(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		pol := remind.DefaultPolicy
		pol.Channels = append([]notify.Channel(nil), pol.Channels...)
		pol.FirstOffset = -60 * time.Minute
		if err := f.s.SetMessaging(f.ctx, f.actor, f.org, store.MessagingSettings{Policy: pol}); err != nil {
			t.Fatal(err)
		}
		p, _, dose := f.reminderPatient("", "")
		for at := utc(11, 0); at.Before(utc(12, 1)); at = at.Add(time.Minute) {
			f.arm(at)
			f.dispatch(at)
		}
		var id int64
		if err := f.d.SQL.QueryRow(`SELECT id FROM notifications WHERE dose_instance_id = $1 AND status = 'queued'`, dose.ID).Scan(&id); err != nil {
			t.Fatalf("the queued reminder: %v", err)
		}
		f.now = utc(12, 5)
		cur, err := f.s.GetPatient(f.ctx, f.org, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		cur.TimeZone = "America/Chicago"
		if err := f.s.UpdatePatient(f.ctx, f.actor, &cur, cur.Version); err != nil {
			t.Fatal(err)
		}
		if n := f.count(`SELECT COUNT(*) FROM dose_instances WHERE id = $1`, dose.ID); n != 0 {
			t.Fatalf("the 08:00 New York dose is still there after the move")
		}
		ds, err := f.s.ClaimNotifications(f.ctx, []int64{id})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].DoseOpen || ds[0].DoseClosed != "dose_removed" {
			t.Fatalf("claimed = %+v, want the reminder closed as dose_removed", ds)
		}
	})
}
