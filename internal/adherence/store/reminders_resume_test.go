package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
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
