package store_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/phi"
)

// notificationRow is what the reminder tests read back.
type notificationRow struct {
	key, status, reason string
	due                 time.Time
}

func (f *fixture) notifications(doseID int64) []notificationRow {
	f.t.Helper()
	rows, err := f.d.SQL.QueryContext(f.ctx, `SELECT idempotency_key, status, reason, due_at FROM notifications
		WHERE dose_instance_id = $1 ORDER BY id`, doseID)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []notificationRow
	for rows.Next() {
		var r notificationRow
		if err := rows.Scan(&r.key, &r.status, &r.reason, &r.due); err != nil {
			f.t.Fatal(err)
		}
		r.due = r.due.UTC()
		out = append(out, r)
	}
	return out
}

// reminderPatient enrols a New York patient with the given quiet hours
// ("" for none) and an 08:00 plan, and returns the dose due on 2026-03-02
// at 08:00 New York (13:00 UTC).
func (f *fixture) reminderPatient(quietStart, quietEnd string) (adherence.Patient, adherence.Plan, adherence.DoseInstance) {
	f.t.Helper()
	p := adherence.Patient{
		OrgID: f.org, GivenName: phi.New("Ana"), Phone: phi.New("+15551234567"),
		TimeZone: "America/New_York", Language: "en", SMSConsent: true,
	}
	if quietStart != "" {
		s, _ := schedule.ParseClock(quietStart)
		e, _ := schedule.ParseClock(quietEnd)
		p.Quiet = adherence.QuietHours{Start: s, End: e, Set: true}
	}
	if err := f.s.CreatePatient(f.ctx, f.actor, &p); err != nil {
		f.t.Fatal(err)
	}
	pl := f.plan(p.ID, timeOfDay("08:00"))
	due := time.Date(2026, 3, 2, 13, 0, 0, 0, time.UTC)
	ds := f.doses(pl.ID, due, due.Add(time.Minute))
	if len(ds) != 1 {
		f.t.Fatalf("want the 08:00 dose of 2026-03-02, got %d doses", len(ds))
	}
	return p, pl, ds[0]
}

func (f *fixture) arm(at time.Time) {
	f.t.Helper()
	f.now = at
	if _, err := f.s.ArmReminders(f.ctx, at); err != nil {
		f.t.Fatalf("arm: %v", err)
	}
}

func (f *fixture) dispatch(at time.Time) store.DispatchResult {
	f.t.Helper()
	f.now = at
	res, err := f.s.DispatchReminders(f.ctx, at)
	if err != nil {
		f.t.Fatalf("dispatch: %v", err)
	}
	return res
}

// snooze records, at at, the patient's snooze of the plan's dose for
// minutes minutes (from source) and returns the recorded event.
func (f *fixture) snooze(p adherence.Patient, pl adherence.Plan, at time.Time, minutes int, source adherence.EventSource, clientID string) adherence.Event {
	f.t.Helper()
	f.now = at
	out, err := f.s.RecordEvents(f.ctx, []store.EventInput{{Actor: f.actor, Event: adherence.Event{
		OrgID: f.org, PatientID: p.ID, PlanID: pl.ID, Kind: adherence.EventSnoozed, SnoozeMinutes: minutes,
		OccurredAt: at, Source: source, ClientEventID: clientID,
	}}})
	if err != nil || out[0].Err != nil {
		f.t.Fatalf("record snooze: %v %v", err, out[0].Err)
	}
	return out[0].Event
}

func utc(h, m int) time.Time { return time.Date(2026, 3, 2, h, m, 0, 0, time.UTC) }

func TestRemindersRepeatUntilAcknowledged(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p, pl, dose := f.reminderPatient("", "")
		f.arm(utc(11, 30))
		if res := f.dispatch(utc(12, 59)); res.Sent != 0 {
			t.Fatalf("a reminder went before its time: %+v", res)
		}
		if res := f.dispatch(utc(13, 0)); res.Sent != 1 {
			t.Fatalf("first reminder at the due time: %+v", res)
		}
		// Dispatching again at the same instant sends nothing more.
		if res := f.dispatch(utc(13, 0)); res.Sent != 0 {
			t.Fatalf("second dispatch at the same time sent again: %+v", res)
		}
		if res := f.dispatch(utc(13, 30)); res.Sent != 1 {
			t.Fatalf("repeat after 30 minutes: %+v", res)
		}
		// The patient takes the dose: no further reminder.
		f.now = utc(13, 40)
		out, err := f.s.RecordEvents(f.ctx, []store.EventInput{{Actor: f.actor, Event: adherence.Event{
			OrgID: f.org, PatientID: p.ID, PlanID: pl.ID, Kind: adherence.EventTaken, OccurredAt: utc(13, 38),
			Source: adherence.SourceApp, ClientEventID: "tap-1",
		}}})
		if err != nil || out[0].Err != nil {
			t.Fatalf("record taken: %v %v", err, out[0].Err)
		}
		if res := f.dispatch(utc(14, 0)); res.Sent != 0 || res.Examined != 0 {
			t.Fatalf("reminded after the dose was taken: %+v", res)
		}
		got := f.notifications(dose.ID)
		if len(got) != 2 || got[0].key != "reminder:"+itoa(dose.ID)+":1" || got[1].key != "reminder:"+itoa(dose.ID)+":2" {
			t.Fatalf("notifications: %+v", got)
		}
		if !got[0].due.Equal(utc(13, 0)) || !got[1].due.Equal(utc(13, 30)) {
			t.Fatalf("due times: %+v", got)
		}
	})
}

func TestRemindersStopAtWindowAndMaximum(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		_, _, dose := f.reminderPatient("", "")
		f.arm(utc(11, 30))
		sent := 0
		for at := utc(13, 0); at.Before(utc(18, 0)); at = at.Add(5 * time.Minute) {
			sent += f.dispatch(at).Sent
		}
		// The default policy: 3 reminders, 30 minutes apart.
		if sent != 3 {
			t.Fatalf("sent %d reminders, want 3", sent)
		}
		for _, n := range f.notifications(dose.ID) {
			if !n.due.Before(utc(16, 0)) {
				t.Fatalf("a reminder after the window closed (16:00 UTC): %+v", n)
			}
		}
	})
}

// TestRemindersQuietHoursEastOfUTC holds a reminder for quiet hours in a
// zone east of UTC. On SQLite the hold was stored in the patient's offset
// (remind_at 08:30+13:00) and compared as text with a UTC now, so it ran
// 13 hours too long: the window closed first and the reminder never went
// out, without even a dropped notification (QA).
func TestRemindersQuietHoursEastOfUTC(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := adherence.Patient{
			OrgID: f.org, GivenName: phi.New("Ana"), Phone: phi.New("+15551234567"),
			TimeZone: "Pacific/Auckland", Language: "en", SMSConsent: true,
		}
		qs, _ := schedule.ParseClock("22:00")
		qe, _ := schedule.ParseClock("08:30")
		p.Quiet = adherence.QuietHours{Start: qs, End: qe, Set: true}
		if err := f.s.CreatePatient(f.ctx, f.actor, &p); err != nil {
			t.Fatal(err)
		}
		pl := f.plan(p.ID, timeOfDay("08:00"))
		due := time.Date(2026, 3, 2, 19, 0, 0, 0, time.UTC) // 08:00 on the 3rd in Auckland (UTC+13)
		ds := f.doses(pl.ID, due, due.Add(time.Minute))
		if len(ds) != 1 {
			t.Fatalf("want the 08:00 dose of 2026-03-03 Auckland, got %d doses", len(ds))
		}
		f.arm(due.Add(-time.Hour))
		if res := f.dispatch(due); res.Sent != 0 || res.Held != 1 {
			t.Fatalf("in quiet hours: %+v", res)
		}
		if res := f.dispatch(due.Add(29 * time.Minute)); res.Sent != 0 {
			t.Fatalf("sent before quiet hours ended: %+v", res)
		}
		if res := f.dispatch(due.Add(30 * time.Minute)); res.Sent != 1 {
			t.Fatalf("at the end of quiet hours (08:30 Auckland, 19:30 UTC): %+v", res)
		}
		if got := f.notifications(ds[0].ID); len(got) != 1 || got[0].status != store.NotificationQueued {
			t.Fatalf("notifications: %+v", got)
		}
	})
}

func TestRemindersQuietHours(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		// Quiet until 09:00 New York (14:00 UTC): held, then sent.
		_, _, dose := f.reminderPatient("22:00", "09:00")
		f.arm(utc(11, 30))
		if res := f.dispatch(utc(13, 0)); res.Sent != 0 || res.Held != 1 {
			t.Fatalf("in quiet hours: %+v", res)
		}
		if res := f.dispatch(utc(13, 59)); res.Sent != 0 {
			t.Fatalf("sent before quiet hours ended: %+v", res)
		}
		if res := f.dispatch(utc(14, 0)); res.Sent != 1 {
			t.Fatalf("at the end of quiet hours: %+v", res)
		}
		if got := f.notifications(dose.ID); len(got) != 1 || got[0].status != store.NotificationQueued {
			t.Fatalf("notifications: %+v", got)
		}
	})
	each(t, func(t *testing.T, f *fixture) {
		// Quiet until noon New York: the dose window (until 11:00) closes
		// first, so the reminder is dropped, never sent late.
		_, _, dose := f.reminderPatient("22:00", "12:00")
		f.arm(utc(11, 30))
		if res := f.dispatch(utc(13, 0)); res.Sent != 0 || res.Dropped != 1 {
			t.Fatalf("quiet hours outlasting the window: %+v", res)
		}
		got := f.notifications(dose.ID)
		if len(got) != 1 || got[0].status != store.NotificationDropped || got[0].reason != "quiet_hours_window_closed" {
			t.Fatalf("notifications: %+v", got)
		}
		if res := f.dispatch(utc(17, 0)); res.Examined != 0 {
			t.Fatalf("a dropped reminder came back: %+v", res)
		}
	})
}

func TestRemindersValidityAndSnooze(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		// The dispatcher was down from 13:00 to 13:40: the first reminder
		// (valid 30 minutes) is recorded as dropped, not sent late.
		_, _, dose := f.reminderPatient("", "")
		f.arm(utc(11, 30))
		if res := f.dispatch(utc(13, 40)); res.Dropped != 1 || res.Expired != 1 || res.Sent != 0 {
			t.Fatalf("stale reminder: %+v", res)
		}
		got := f.notifications(dose.ID)
		if len(got) != 1 || got[0].status != store.NotificationDropped || got[0].reason != "validity_passed" {
			t.Fatalf("notifications: %+v", got)
		}
	})
	// Snoozed at 13:05 (from the app or an SMS reply): the next reminder
	// goes when the snooze ends. An app snooze is held to the lengths an
	// SMS SNOOZE is (5 to 240 minutes): one minute reminds again after five.
	for _, c := range []struct {
		minutes     int
		quiet, next time.Time // the last minute without a reminder, then the reminder
	}{{10, utc(13, 14), utc(13, 15)}, {1, utc(13, 9), utc(13, 10)}} {
		each(t, func(t *testing.T, f *fixture) {
			p, pl, dose := f.reminderPatient("", "")
			f.arm(utc(11, 30))
			f.dispatch(utc(13, 0))
			f.snooze(p, pl, utc(13, 5), c.minutes, adherence.SourceApp, "snooze-1")
			if res := f.dispatch(c.quiet); res.Sent != 0 {
				t.Fatalf("%d-minute snooze: reminded at %s: %+v", c.minutes, c.quiet.Format("15:04"), res)
			}
			if res := f.dispatch(c.next); res.Sent != 1 {
				t.Fatalf("%d-minute snooze: no reminder at %s: %+v", c.minutes, c.next.Format("15:04"), res)
			}
			if got := f.notifications(dose.ID); len(got) != 2 || !got[1].due.Equal(c.next) {
				t.Fatalf("notifications: %+v", got)
			}
		})
	}
}

func TestPlanCreatedCloseToDoseIsArmed(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		// The arming pass has already run past the dose's due time when the
		// plan is created: the plan arms its own doses.
		f.arm(utc(11, 30))
		f.now = utc(12, 0)
		_, _, dose := f.reminderPatient("", "")
		if res := f.dispatch(utc(13, 0)); res.Sent != 1 {
			t.Fatalf("dose of a plan created after arming: %+v", res)
		}
		if got := f.notifications(dose.ID); len(got) != 1 {
			t.Fatalf("notifications: %+v", got)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A snooze answering the last reminder the policy allows is honoured: the
// patient asked to be reminded again, and the reminder offered SNOOZE.
func TestSnoozeAfterTheLastReminder(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p, pl, dose := f.reminderPatient("", "")
		f.arm(utc(11, 30))
		for _, at := range []time.Time{utc(13, 0), utc(13, 30), utc(14, 0)} {
			if res := f.dispatch(at); res.Sent != 1 {
				t.Fatalf("reminder at %s: %+v", at.Format("15:04"), res)
			}
		}
		f.snooze(p, pl, utc(14, 5), 20, adherence.SourceSMS, "snooze-after-last")
		if res := f.dispatch(utc(14, 24)); res.Sent != 0 {
			t.Fatalf("reminded during the snooze: %+v", res)
		}
		if res := f.dispatch(utc(14, 25)); res.Sent != 1 {
			t.Fatalf("no reminder when the snooze after the last reminder ended: %+v", res)
		}
		// That was the one asked for: no repeats after it.
		for at := utc(14, 30); at.Before(utc(16, 0)); at = at.Add(5 * time.Minute) {
			if res := f.dispatch(at); res.Sent != 0 {
				t.Fatalf("a repeat after the snoozed reminder at %s: %+v", at.Format("15:04"), res)
			}
		}
		got := f.notifications(dose.ID)
		if len(got) != 4 || !got[3].due.Equal(utc(14, 25)) || got[3].key != "reminder:"+itoa(dose.ID)+":4" {
			t.Fatalf("notifications: %+v", got)
		}
	})
}

// TestReminderWithoutProgramNameNamesTheOrg: an org that set no program
// name sends under its own name ("Org A: Hi Ana, …"), not ": Hi Ana"; its
// messaging settings still say no program name was set.
func TestReminderWithoutProgramNameNamesTheOrg(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		_, _, dose := f.reminderPatient("", "")
		f.arm(utc(12, 0))
		if res := f.dispatch(utc(13, 0)); res.Sent != 1 {
			t.Fatalf("dispatch = %+v, want one reminder", res)
		}
		var id int64
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT id FROM notifications WHERE dose_instance_id = $1`, dose.ID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		dls, err := f.s.ClaimNotifications(f.ctx, []int64{id})
		if err != nil || len(dls) != 1 {
			t.Fatalf("claim = %d, %v", len(dls), err)
		}
		if got := dls[0].Values.Program; got != "Org A" {
			t.Errorf("program = %q, want the org's name", got)
		}
		m, err := f.s.Messaging(f.ctx, f.org)
		if err != nil || m.ProgramName != "" {
			t.Errorf("messaging settings = %+v, %v: want no program name set", m, err)
		}
	})
}

// A new reminder policy whose first reminder falls at or after the close
// of the dose's window re-arms the doses not reminded yet to no reminder,
// as arming them under it would: the time armed under the old policy does
// not stay.
func TestPolicyChangePastTheWindowDisarms(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		w := adherence.DefaultWindows
		w.OnTime, w.LateMax = 30*time.Minute, 60*time.Minute
		if err := f.s.SetWindows(f.ctx, f.actor, f.org, w); err != nil {
			t.Fatal(err)
		}
		_, _, dose := f.reminderPatient("", "")
		f.arm(utc(11, 30)) // armed at the due time, 13:00, under the default policy
		pol := remind.DefaultPolicy
		pol.FirstOffset = 90 * time.Minute // 14:30: after the window closes at 14:00
		if err := f.s.SetMessaging(f.ctx, f.actor, f.org, store.MessagingSettings{Policy: pol}); err != nil {
			t.Fatal(err)
		}
		for _, at := range []time.Time{utc(13, 0), utc(13, 30), utc(14, 30)} {
			if res := f.dispatch(at); res.Sent != 0 {
				t.Fatalf("dispatch at %s sent a reminder the policy places after the window: %+v", at.Format("15:04"), res)
			}
		}
		if got := f.notifications(dose.ID); len(got) != 0 {
			t.Fatalf("notifications: %+v", got)
		}
	})
}

// A reminder policy change keeps a snooze the patient asked for before the
// dose's first reminder: re-arming set the dose back to the policy's first
// reminder time, so the patient was reminded when they had asked not to be.
func TestPolicyChangeKeepsAnEarlierSnooze(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p, pl, dose := f.reminderPatient("", "")
		f.arm(utc(11, 30)) // first reminder at the due time, 13:00
		if e := f.snooze(p, pl, utc(12, 50), 30, adherence.SourceApp, "snooze-early"); e.DoseInstanceID != dose.ID {
			t.Fatalf("the snooze matched dose %d, want %d", e.DoseInstanceID, dose.ID)
		}
		pol := remind.DefaultPolicy
		pol.RepeatEvery = 20 * time.Minute // any change re-arms the doses not reminded yet
		if err := f.s.SetMessaging(f.ctx, f.actor, f.org, store.MessagingSettings{Policy: pol}); err != nil {
			t.Fatal(err)
		}
		if res := f.dispatch(utc(13, 0)); res.Sent != 0 {
			t.Fatalf("reminded at 13:00 though the patient snoozed until 13:20: %+v", res)
		}
		if res := f.dispatch(utc(13, 20)); res.Sent != 1 {
			t.Fatalf("no reminder when the snooze ended: %+v", res)
		}
	})
}

// A reminder policy change that re-arms a dose while its first reminder is
// being dispatched leaves the dose as the dispatch left it: re-arming
// applies to doses that have had no reminder. On PostgreSQL the dispatch
// holds the dose's row (here a transaction stands in for it) and the
// change, having read the dose before, waits for it; it set the dose back
// to its first reminder's time, so that reminder went again at once.
// SQLite has one writer: the change runs after the dispatch.
func TestPolicyChangeDuringDispatchKeepsTheNextRepeat(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		_, _, dose := f.reminderPatient("", "")
		f.arm(utc(11, 30))
		f.now = utc(13, 0)
		next := utc(13, 30)
		dispatch, err := f.d.SQL.BeginTx(f.ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer dispatch.Rollback()
		if _, err := dispatch.ExecContext(f.ctx, `UPDATE dose_instances SET reminders_sent = 1, remind_at = $1 WHERE id = $2`, next, dose.ID); err != nil {
			t.Fatal(err)
		}
		changed := make(chan error, 1)
		if f.d.Dialect == db.Postgres {
			go func() {
				changed <- f.s.SetMessaging(f.ctx, f.actor, f.org, store.MessagingSettings{Policy: remind.DefaultPolicy})
			}()
			// Wait until the change waits for the dose's row.
			deadline := time.Now().Add(10 * time.Second)
			for {
				var waiting int
				if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT COUNT(*) FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
					t.Fatal(err)
				}
				if waiting > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the policy change never waited for the dispatch")
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		if err := dispatch.Commit(); err != nil {
			t.Fatal(err)
		}
		if f.d.Dialect == db.Postgres {
			err = <-changed
		} else {
			err = f.s.SetMessaging(f.ctx, f.actor, f.org, store.MessagingSettings{Policy: remind.DefaultPolicy})
		}
		if err != nil {
			t.Fatal(err)
		}
		var at time.Time
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT remind_at FROM dose_instances WHERE id = $1`, dose.ID).Scan(&at); err != nil {
			t.Fatal(err)
		}
		if !at.Equal(next) {
			t.Fatalf("remind_at = %s after the policy change, want the next repeat %s", at.UTC().Format(time.TimeOnly), next.Format(time.TimeOnly))
		}
	})
}

// Doses the horizon job creates late — its window lagged behind the
// arming cursor (a worker outage longer than the horizon, or a plan whose
// extension failed for a while) — are armed as they are created: the
// periodic arming pass never goes back over times it has covered, so such
// a dose due within the next two hours got no reminder.
func TestLateHorizonDosesAreArmed(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		_, pl, _ := f.reminderPatient("", "")
		f.arm(utc(11, 30)) // the cursor is at 13:30
		// The plan's doses from noon on were never generated.
		if _, err := f.d.SQL.ExecContext(f.ctx, `DELETE FROM dose_instances WHERE plan_id = $1 AND due_at >= $2`, pl.ID, utc(12, 0)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.d.SQL.ExecContext(f.ctx, `UPDATE plans SET generated_until = $1 WHERE id = $2`, utc(12, 0), pl.ID); err != nil {
			t.Fatal(err)
		}
		f.now = utc(12, 30)
		if res, err := f.s.ExtendHorizon(f.ctx, utc(12, 30)); err != nil || res.Instances == 0 {
			t.Fatalf("extend horizon: %+v %v", res, err)
		}
		f.arm(utc(12, 30))
		if res := f.dispatch(utc(13, 0)); res.Sent != 1 {
			t.Fatalf("the 13:00 dose the horizon job created at 12:30 was not reminded: %+v", res)
		}
	})
}

// A reminder whose stored settings cannot be read (its plan's reminder
// policy is not JSON, its patient's time zone or quiet hours are not
// valid) is dropped on its own, with reason settings_unreadable, and gets
// no further reminders; the other reminders of the batch go as usual.
func TestUnreadableReminderSettingsDoNotStopDispatch(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		_, _, good := f.reminderPatient("", "")
		_, badPolicy, policyDose := f.reminderPatient("", "")
		zonePatient, _, zoneDose := f.reminderPatient("", "")
		quietPatient, _, quietDose := f.reminderPatient("22:00", "07:00")
		f.arm(utc(11, 30))
		f.exec(`UPDATE plans SET reminder_policy = $1 WHERE id = $2`, `{"firstOffsetMinutes":`, badPolicy.ID)
		f.exec(`UPDATE patients SET time_zone = $1 WHERE id = $2`, "Mars/Olympus_Mons", zonePatient.ID)
		f.exec(`UPDATE patients SET quiet_start = $1 WHERE id = $2`, "25:99", quietPatient.ID)

		res := f.dispatch(utc(13, 0))
		if res.Examined != 4 || res.Sent != 1 || res.Dropped != 3 || res.Unreadable != 3 {
			t.Fatalf("dispatch = %+v, want 1 sent and 3 dropped as unreadable", res)
		}
		if got := f.notifications(good.ID); len(got) != 1 || got[0].status != store.NotificationQueued {
			t.Fatalf("the reminder with readable settings: %+v", got)
		}
		for _, d := range []adherence.DoseInstance{policyDose, zoneDose, quietDose} {
			got := f.notifications(d.ID)
			if len(got) != 1 || got[0].status != store.NotificationDropped || got[0].reason != store.ReasonSettingsUnreadable ||
				got[0].key != "reminder:"+itoa(d.ID)+":1" {
				t.Errorf("dose %d: notifications %+v, want one dropped as settings_unreadable", d.ID, got)
			}
			if n := f.count(`SELECT COUNT(*) FROM dose_instances WHERE id = $1 AND remind_at IS NULL`, d.ID); n != 1 {
				t.Errorf("dose %d still has a reminder time", d.ID)
			}
		}
		// The next repeat of the readable one goes; the others get nothing.
		if res := f.dispatch(utc(13, 40)); res.Examined != 1 || res.Sent != 1 || res.Unreadable != 0 {
			t.Fatalf("second dispatch = %+v", res)
		}
	})
}

// A plan whose reminder policy cannot be read is left out of arming (its
// doses get no reminder time, and it is counted); the other plans' doses
// are armed and reminded as usual.
func TestUnreadablePlanPolicyDoesNotStopArming(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		_, badPlan, badDose := f.reminderPatient("", "")
		_, _, good := f.reminderPatient("", "")
		f.exec(`UPDATE plans SET reminder_policy = $1 WHERE id = $2`, `not json`, badPlan.ID)
		f.now = utc(11, 30)
		res, err := f.s.ArmReminders(f.ctx, f.now)
		if err != nil {
			t.Fatalf("arm: %v", err)
		}
		// The unreadable plan has two doses in the range (yesterday's and
		// today's 08:00).
		if res.Armed < 1 || res.Unreadable != 2 || !res.Until.Equal(utc(13, 30)) {
			t.Fatalf("arm = %+v, want the good plan armed, two doses unreadable, the cursor moved on", res)
		}
		if n := f.count(`SELECT COUNT(*) FROM dose_instances WHERE id = $1 AND remind_at IS NOT NULL`, good.ID); n != 1 {
			t.Fatal("the dose of the readable plan was not armed")
		}
		if n := f.count(`SELECT COUNT(*) FROM dose_instances WHERE id = $1 AND remind_at IS NULL`, badDose.ID); n != 1 {
			t.Fatal("the dose of the unreadable plan was armed")
		}
		if res := f.dispatch(utc(13, 0)); res.Sent != 1 {
			t.Fatalf("dispatch = %+v, want the readable plan's reminder sent", res)
		}
	})
}

// A dose revived as scheduled (its plan resumed, its patient reactivated)
// is reminded from scratch per its policy: it kept the reminder count of
// its earlier life, so it got fewer reminders than the policy gives, or
// none at all once the dispatcher had stopped it while it was excluded.
func TestRevivedDoseIsRearmedFromScratch(t *testing.T) {
	for _, tt := range []struct {
		name string
		// exclude excludes the dose, revive brings it back.
		exclude, revive func(f *fixture, p adherence.Patient, pl adherence.Plan)
	}{
		{
			name: "plan paused and resumed",
			exclude: func(f *fixture, _ adherence.Patient, pl adherence.Plan) {
				if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanPaused); err != nil {
					f.t.Fatal(err)
				}
			},
			revive: func(f *fixture, _ adherence.Patient, pl adherence.Plan) {
				if _, err := f.s.SetPlanStatus(f.ctx, f.actor, f.org, pl.ID, adherence.PlanActive); err != nil {
					f.t.Fatal(err)
				}
			},
		},
		{
			name: "patient deactivated and reactivated",
			exclude: func(f *fixture, p adherence.Patient, _ adherence.Plan) {
				if _, err := f.s.SetPatientActive(f.ctx, f.actor, f.org, p.ID, false); err != nil {
					f.t.Fatal(err)
				}
			},
			revive: func(f *fixture, p adherence.Patient, _ adherence.Plan) {
				if _, err := f.s.SetPatientActive(f.ctx, f.actor, f.org, p.ID, true); err != nil {
					f.t.Fatal(err)
				}
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, stopped := range []bool{true, false} {
				each(t, func(t *testing.T, f *fixture) {
					// Reminders from 30 minutes before the 13:00 UTC dose,
					// every 10 minutes, three in all.
					pol := remind.DefaultPolicy
					pol.FirstOffset, pol.RepeatEvery, pol.MaxReminders = -30*time.Minute, 10*time.Minute, 3
					if err := f.s.SetMessaging(f.ctx, f.actor, f.org, store.MessagingSettings{Policy: pol}); err != nil {
						t.Fatal(err)
					}
					p, pl, dose := f.reminderPatient("", "")
					f.arm(utc(11, 30))
					if res := f.dispatch(utc(12, 30)); res.Sent != 1 {
						t.Fatalf("first reminder: %+v", res)
					}
					if res := f.dispatch(utc(12, 40)); res.Sent != 1 {
						t.Fatalf("second reminder: %+v", res)
					}
					f.now = utc(12, 45)
					tt.exclude(f, p, pl)
					if stopped {
						// The dispatcher meets the excluded dose and stops it.
						if res := f.dispatch(utc(12, 50)); res.Sent != 0 {
							t.Fatalf("reminded an excluded dose: %+v", res)
						}
					}
					f.now = utc(12, 52)
					tt.revive(f, p, pl)
					if ds := f.doses(pl.ID, dose.DueAt, dose.DueAt.Add(time.Minute)); len(ds) != 1 || ds[0].ID != dose.ID || ds[0].Status != adherence.DoseScheduled {
						t.Fatalf("the dose was not revived: %+v", ds)
					}
					sent := 0
					for at := utc(12, 52); at.Before(utc(17, 0)); at = at.Add(5 * time.Minute) {
						f.arm(at)
						sent += f.dispatch(at).Sent
					}
					if sent != 3 {
						t.Errorf("dispatcher stopped it while excluded %v: the revived dose got %d reminders, want the policy's 3", stopped, sent)
					}
					got := f.notifications(dose.ID)
					keys := map[string]bool{}
					for _, n := range got {
						if keys[n.key] {
							t.Errorf("notification key %s twice", n.key)
						}
						keys[n.key] = true
					}
					if len(got) != 5 || !got[2].due.Equal(utc(12, 52)) {
						t.Errorf("notifications (2 before the exclusion, 3 after; the first at the revival): %+v", got)
					}
				})
			}
		})
	}
}

// A snooze postpones. Made before the dose's first reminder, it does not
// bring that reminder forward (a snooze at 12:10 of a dose due 13:00 sent
// a reminder at 12:25; QA); one that ends after it moves it later.
func TestSnoozeBeforeTheFirstReminderPostponesOnly(t *testing.T) {
	for _, c := range []struct {
		minutes int
		next    time.Time
	}{{15, utc(13, 0)}, {60, utc(13, 10)}} {
		each(t, func(t *testing.T, f *fixture) {
			p, pl, dose := f.reminderPatient("", "")
			f.arm(utc(11, 30))
			f.now = utc(12, 10)
			f.snooze(p, pl, utc(12, 10), c.minutes, adherence.SourceApp, "snooze-early")
			if res := f.dispatch(c.next.Add(-time.Minute)); res.Sent != 0 {
				t.Fatalf("%d-minute snooze at 12:10: reminded at %s: %+v", c.minutes, c.next.Add(-time.Minute).Format("15:04"), res)
			}
			if res := f.dispatch(c.next); res.Sent != 1 {
				t.Fatalf("%d-minute snooze at 12:10: no reminder at %s: %+v", c.minutes, c.next.Format("15:04"), res)
			}
			if got := f.notifications(dose.ID); len(got) != 1 || !got[0].due.Equal(c.next) {
				t.Fatalf("notifications: %+v", got)
			}
		})
	}
}

// A snooze synced after a later reminder went (made offline at 13:05,
// synced at 13:40, after the 13:30 repeat) changes nothing: the next
// reminder is the policy's 14:00 repeat, not one at once (QA).
func TestSnoozeSyncedAfterALaterReminder(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p, pl, dose := f.reminderPatient("", "")
		f.arm(utc(11, 30))
		f.dispatch(utc(13, 0))
		f.dispatch(utc(13, 30))
		f.now = utc(13, 40)
		f.snooze(p, pl, utc(13, 5), 15, adherence.SourceApp, "snooze-offline")
		if res := f.dispatch(utc(13, 59)); res.Sent != 0 {
			t.Fatalf("a snooze made before the 13:30 reminder reminded at once: %+v", res)
		}
		if res := f.dispatch(utc(14, 0)); res.Sent != 1 {
			t.Fatalf("no 14:00 repeat: %+v", res)
		}
		if got := f.notifications(dose.ID); len(got) != 3 || !got[2].due.Equal(utc(14, 0)) {
			t.Fatalf("notifications: %+v", got)
		}
	})
}

// A snooze of a dose not armed yet (due more than ArmLead ahead, matched
// inside an on-time window of hours) leaves the first reminder to arming:
// it went at the snooze's end, 3 h 45 min before the dose, and nothing at
// the due time (QA).
func TestSnoozeBeforeArmingPostponesOnly(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := adherence.Patient{OrgID: f.org, GivenName: phi.New("Ana"), Phone: phi.New("+15551234567"),
			TimeZone: "America/New_York", Language: "en", SMSConsent: true}
		if err := f.s.CreatePatient(f.ctx, f.actor, &p); err != nil {
			t.Fatal(err)
		}
		onTime := 300
		pl := adherence.Plan{OrgID: f.org, PatientID: p.ID,
			Medication: adherence.Medication{RxNorm: "314076", Display: "lisinopril 10 MG Oral Tablet"},
			Dose:       "1 tablet", DaysSupply: 30, Timing: timeOfDay("08:00"), OnTimeMinutes: &onTime}
		if err := f.s.CreatePlan(f.ctx, f.actor, &pl); err != nil {
			t.Fatal(err)
		}
		dose := f.doses(pl.ID, utc(13, 0), utc(13, 1))[0]
		f.arm(utc(9, 0)) // the 13:00 dose is beyond ArmLead: not armed
		f.snooze(p, pl, utc(9, 0), 15, adherence.SourceApp, "snooze-early")
		f.arm(utc(11, 30))
		if res := f.dispatch(utc(12, 59)); res.Sent != 0 {
			t.Fatalf("reminded before the dose was due: %+v, %+v", res, f.notifications(dose.ID))
		}
		if res := f.dispatch(utc(13, 0)); res.Sent != 1 {
			t.Fatalf("no reminder at 13:00: %+v, %+v", res, f.notifications(dose.ID))
		}
	})
}
