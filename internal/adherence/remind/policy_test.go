package remind_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones of the tests, whatever the machine has

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func quiet(start, end string) adherence.QuietHours {
	s, err := schedule.ParseClock(start)
	if err != nil {
		panic(err)
	}
	e, err := schedule.ParseClock(end)
	if err != nil {
		panic(err)
	}
	return adherence.QuietHours{Start: s, End: e, Set: true}
}

// checkInvalid asserts that err is an invalid-input *errs.Error on field
// whose text contains want.
func checkInvalid(t *testing.T, err error, field, want string) {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want an *errs.Error", err)
	}
	if e.Code != errs.CodeInvalid || e.Field != field {
		t.Errorf("error code %q field %q, want invalid on %q (%v)", e.Code, e.Field, field, err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func TestPolicyValidate(t *testing.T) {
	with := func(change func(p *remind.Policy)) remind.Policy {
		p := remind.DefaultPolicy
		p.Channels = append([]notify.Channel(nil), p.Channels...)
		change(&p)
		return p
	}
	tests := []struct {
		name   string
		policy remind.Policy
		field  string // "" means valid
		want   string
	}{
		{name: "default", policy: remind.DefaultPolicy},
		{name: "bounds", policy: with(func(p *remind.Policy) {
			p.FirstOffset, p.RepeatEvery, p.MaxReminders, p.Validity = -60*time.Minute, 5*time.Minute, 24, 4*time.Hour
		})},
		{name: "other bounds", policy: with(func(p *remind.Policy) {
			p.FirstOffset, p.RepeatEvery, p.MaxReminders, p.Validity = 120*time.Minute, 0, 0, time.Minute
			p.Channels = []notify.Channel{notify.Email}
		})},
		{name: "offset too early", policy: with(func(p *remind.Policy) { p.FirstOffset = -61 * time.Minute }),
			field: "firstOffsetMinutes", want: "between -60 and 120"},
		{name: "offset too late", policy: with(func(p *remind.Policy) { p.FirstOffset = 121 * time.Minute }),
			field: "firstOffsetMinutes", want: "between -60 and 120"},
		{name: "offset not whole minutes", policy: with(func(p *remind.Policy) { p.FirstOffset = 90 * time.Second }),
			field: "firstOffsetMinutes", want: "whole number of minutes"},
		{name: "repeat too often", policy: with(func(p *remind.Policy) { p.RepeatEvery = 4 * time.Minute }),
			field: "repeatEveryMinutes", want: "at least 5"},
		{name: "repeat negative", policy: with(func(p *remind.Policy) { p.RepeatEvery = -5 * time.Minute }),
			field: "repeatEveryMinutes", want: "at least 5"},
		{name: "max negative", policy: with(func(p *remind.Policy) { p.MaxReminders = -1 }),
			field: "maxReminders", want: "between 0"},
		{name: "max too many", policy: with(func(p *remind.Policy) { p.MaxReminders = 25 }),
			field: "maxReminders", want: "24"},
		{name: "validity zero", policy: with(func(p *remind.Policy) { p.Validity = 0 }),
			field: "validityMinutes", want: "between 1 and 240"},
		{name: "validity too long", policy: with(func(p *remind.Policy) { p.Validity = 4*time.Hour + time.Minute }),
			field: "validityMinutes", want: "between 1 and 240"},
		{name: "no channels", policy: with(func(p *remind.Policy) { p.Channels = nil }),
			field: "channels", want: "at least one"},
		{name: "webhook channel", policy: with(func(p *remind.Policy) { p.Channels = []notify.Channel{notify.SMS, notify.Webhook} }),
			field: "channels[1]", want: `"webhook" is not sms, push or email`},
		{name: "duplicate channel", policy: with(func(p *remind.Policy) { p.Channels = []notify.Channel{notify.SMS, notify.Push, notify.SMS} }),
			field: "channels[2]", want: `"sms" is listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			checkInvalid(t, err, tt.field, tt.want)
		})
	}
}

func TestPolicyJSON(t *testing.T) {
	j := remind.DefaultPolicy.ToJSON()
	want := remind.PolicyJSON{FirstOffsetMinutes: 0, RepeatEveryMinutes: 30, MaxReminders: 3, ValidityMinutes: 30, Channels: []string{"push", "sms", "email"}}
	if diff := cmp.Diff(want, j); diff != "" {
		t.Errorf("ToJSON (-want +got):\n%s", diff)
	}
	j.Channels[0] = "changed"
	if remind.DefaultPolicy.Channels[0] != notify.Push {
		t.Fatal("ToJSON shares its channel slice with the policy")
	}

	p := remind.Policy{FirstOffset: -15 * time.Minute, RepeatEvery: 20 * time.Minute, MaxReminders: 0, Validity: 2 * time.Hour, Channels: []notify.Channel{notify.SMS}}
	back, err := remind.FromJSON(p.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}

	bad := []struct {
		name  string
		j     remind.PolicyJSON
		field string
		want  string
	}{
		{"unknown channel", remind.PolicyJSON{RepeatEveryMinutes: 30, MaxReminders: 3, ValidityMinutes: 30, Channels: []string{"fax"}}, "channels[0]", `"fax"`},
		{"upper-case channel", remind.PolicyJSON{ValidityMinutes: 30, Channels: []string{"SMS"}}, "channels[0]", `"SMS"`},
		{"empty or null channel", remind.PolicyJSON{ValidityMinutes: 30, Channels: []string{"sms", ""}}, "channels[1]", "got an empty string or null"},
		{"no channels", remind.PolicyJSON{ValidityMinutes: 30}, "channels", "at least one"},
		{"overflowing offset", remind.PolicyJSON{FirstOffsetMinutes: 1 << 40, ValidityMinutes: 30, Channels: []string{"sms"}}, "firstOffsetMinutes", "between"},
		{"overflowing repeat", remind.PolicyJSON{RepeatEveryMinutes: 1 << 50, ValidityMinutes: 30, Channels: []string{"sms"}}, "repeatEveryMinutes", "at most"},
		{"overflowing validity", remind.PolicyJSON{ValidityMinutes: 1<<62 + 1, Channels: []string{"sms"}}, "validityMinutes", "between"},
		{"missing validity", remind.PolicyJSON{Channels: []string{"sms"}}, "validityMinutes", "between"},
		{"max", remind.PolicyJSON{MaxReminders: 99, ValidityMinutes: 30, Channels: []string{"sms"}}, "maxReminders", "24"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := remind.FromJSON(tt.j)
			checkInvalid(t, err, tt.field, tt.want)
		})
	}
}

// TestPolicyChannelNotEchoedWhole: an unknown channel is quoted back in
// the 400 clipped to its first 40 characters: the whole string the client
// sent came back, a megabyte of it in a 1 MiB body.
func TestPolicyChannelNotEchoedWhole(t *testing.T) {
	long := "fax" + strings.Repeat("x", 1<<20)
	_, err := remind.FromJSON(remind.PolicyJSON{ValidityMinutes: 30, Channels: []string{"sms", long}})
	checkInvalid(t, err, "channels[1]", `"faxxxxxxxx`)
	if n := len(err.Error()); n > 200 {
		t.Errorf("error of %d bytes, want the channel clipped: %.120s…", n, err)
	}
	if !strings.Contains(err.Error(), "is not sms, push or email") {
		t.Errorf("error %.200q does not say which channels are taken", err)
	}
}

func TestDecide(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, ny)
		if err != nil {
			panic(err)
		}
		return v
	}
	night := quiet("22:00", "07:00")
	due := at("2026-06-10 08:00")
	closes := at("2026-06-10 12:00")
	open := func(sent int, remindAt time.Time) remind.Dose {
		return remind.Dose{DueAt: due, WindowCloses: closes, RemindAt: remindAt, Sent: sent, Open: true}
	}
	noRepeat := remind.DefaultPolicy
	noRepeat.RepeatEvery = 0
	untilClose := remind.DefaultPolicy
	untilClose.MaxReminders = 0
	longValidity := remind.DefaultPolicy
	longValidity.Validity = 4 * time.Hour

	tests := []struct {
		name   string
		policy remind.Policy
		quiet  adherence.QuietHours
		loc    *time.Location
		dose   remind.Dose
		now    time.Time
		want   remind.Decision
	}{
		{
			name: "first reminder at the due time",
			dose: open(0, due), now: due,
			want: remind.Decision{Action: remind.Send, Next: at("2026-06-10 08:30"), ValidUntil: at("2026-06-10 08:30")},
		},
		{
			name: "second reminder while still open",
			dose: open(1, at("2026-06-10 08:30")), now: at("2026-06-10 08:30"),
			want: remind.Decision{Action: remind.Send, Next: at("2026-06-10 09:00"), ValidUntil: at("2026-06-10 09:00")},
		},
		{
			// The dispatcher runs every few seconds: the repeats keep the
			// cadence of the due time, not of the job's delay.
			name: "a reminder sent seconds late keeps the cadence",
			dose: open(1, at("2026-06-10 08:30")), now: at("2026-06-10 08:30").Add(4 * time.Second),
			want: remind.Decision{Action: remind.Send, Next: at("2026-06-10 09:00"), ValidUntil: at("2026-06-10 09:00").Add(4 * time.Second)},
		},
		{
			name: "a reminder sent half an interval late plans the next from now",
			dose: open(1, at("2026-06-10 08:30")), now: at("2026-06-10 08:45"),
			want: remind.Decision{Action: remind.Send, Next: at("2026-06-10 09:15"), ValidUntil: at("2026-06-10 09:15")},
		},
		{
			name: "last reminder plans no next one",
			dose: open(2, at("2026-06-10 09:00")), now: at("2026-06-10 09:00"),
			want: remind.Decision{Action: remind.Send, ValidUntil: at("2026-06-10 09:30")},
		},
		{
			name: "max reminders reached",
			dose: open(3, at("2026-06-10 09:30")), now: at("2026-06-10 09:30"),
			want: remind.Decision{Action: remind.Stop, Reason: remind.ReasonMaxReminders},
		},
		{
			name: "acknowledged: taken or skipped",
			dose: remind.Dose{DueAt: due, WindowCloses: closes, RemindAt: due, Sent: 1}, now: at("2026-06-10 08:30"),
			want: remind.Decision{Action: remind.Stop, Reason: remind.ReasonAcknowledged},
		},
		{
			name: "acknowledged wins over a closed window",
			dose: remind.Dose{DueAt: due, WindowCloses: closes}, now: at("2026-06-10 13:00"),
			want: remind.Decision{Action: remind.Stop, Reason: remind.ReasonAcknowledged},
		},
		{
			name: "no reminder at the instant the window closes",
			dose: open(0, closes), now: closes,
			want: remind.Decision{Action: remind.Stop, Reason: remind.ReasonWindowClosed},
		},
		{
			name: "no reminder after the window",
			dose: open(1, due), now: closes.Add(time.Nanosecond),
			want: remind.Decision{Action: remind.Stop, Reason: remind.ReasonWindowClosed},
		},
		{
			name: "window closes before max reminders",
			dose: open(1, due), now: at("2026-06-10 12:30"),
			want: remind.Decision{Action: remind.Stop, Reason: remind.ReasonWindowClosed},
		},
		{
			name: "validity clamped to the window",
			dose: open(1, at("2026-06-10 11:50")), now: at("2026-06-10 11:50"),
			want: remind.Decision{Action: remind.Send, ValidUntil: closes},
		},
		{
			name:   "long validity clamped to the window",
			policy: longValidity,
			dose:   open(0, due), now: due,
			want: remind.Decision{Action: remind.Send, Next: at("2026-06-10 08:30"), ValidUntil: closes},
		},
		{
			name:   "no repeats",
			policy: noRepeat,
			dose:   open(0, due), now: due,
			want: remind.Decision{Action: remind.Send, ValidUntil: at("2026-06-10 08:30")},
		},
		{
			name:   "until the window closes: many sent",
			policy: untilClose,
			dose:   open(7, at("2026-06-10 11:29")), now: at("2026-06-10 11:29"),
			want: remind.Decision{Action: remind.Send, Next: at("2026-06-10 11:59"), ValidUntil: at("2026-06-10 11:59")},
		},
		{
			name:   "until the window closes: next would fall on the close",
			policy: untilClose,
			dose:   open(7, at("2026-06-10 11:30")), now: at("2026-06-10 11:30"),
			want: remind.Decision{Action: remind.Send, ValidUntil: closes},
		},
		{
			name: "snoozed reminder not due yet: an earlier job holds",
			dose: open(1, at("2026-06-10 08:45")), now: at("2026-06-10 08:30"),
			want: remind.Decision{Action: remind.Hold, Next: at("2026-06-10 08:45"), Reason: remind.ReasonNotDue},
		},
		{
			name: "reminder moved to the window close stops",
			dose: open(1, closes), now: at("2026-06-10 11:00"),
			want: remind.Decision{Action: remind.Stop, Reason: remind.ReasonWindowClosed},
		},
		{
			name:  "quiet hours hold until they end",
			quiet: night, loc: ny,
			dose: remind.Dose{DueAt: at("2026-06-10 06:00"), WindowCloses: at("2026-06-10 10:00"), RemindAt: at("2026-06-10 06:00"), Open: true},
			now:  at("2026-06-10 06:00"),
			want: remind.Decision{Action: remind.Hold, Next: at("2026-06-10 07:00"), Reason: remind.ReasonQuietHours},
		},
		{
			name:  "quiet hours released",
			quiet: night, loc: ny,
			dose: remind.Dose{DueAt: at("2026-06-10 06:00"), WindowCloses: at("2026-06-10 10:00"), RemindAt: at("2026-06-10 07:00"), Open: true},
			now:  at("2026-06-10 07:00"),
			want: remind.Decision{Action: remind.Send, Next: at("2026-06-10 07:30"), ValidUntil: at("2026-06-10 07:30")},
		},
		{
			name:  "quiet hours outlast the window: drop",
			quiet: night, loc: ny,
			dose: remind.Dose{DueAt: at("2026-06-10 23:00"), WindowCloses: at("2026-06-11 03:00"), RemindAt: at("2026-06-10 23:00"), Open: true},
			now:  at("2026-06-10 23:00"),
			want: remind.Decision{Action: remind.Drop, Reason: remind.ReasonQuietHoursWindowClosed},
		},
		{
			name:  "quiet hours end as the window closes: drop",
			quiet: night, loc: ny,
			dose: remind.Dose{DueAt: at("2026-06-11 05:00"), WindowCloses: at("2026-06-11 07:00"), RemindAt: at("2026-06-11 05:00"), Open: true},
			now:  at("2026-06-11 05:00"),
			want: remind.Decision{Action: remind.Drop, Reason: remind.ReasonQuietHoursWindowClosed},
		},
		{
			name:  "quiet hours in the patient's zone, not UTC",
			quiet: night, loc: ny,
			// 23:30 UTC is 19:30 in New York: not quiet there.
			dose: remind.Dose{DueAt: at("2026-06-10 19:30"), WindowCloses: at("2026-06-10 21:30"), RemindAt: at("2026-06-10 19:30"), Open: true},
			now:  time.Date(2026, 6, 10, 23, 30, 0, 0, time.UTC),
			want: remind.Decision{Action: remind.Send, Next: at("2026-06-10 20:00"), ValidUntil: at("2026-06-10 20:00")},
		},
		{
			name:  "nil location means UTC",
			quiet: night,
			dose:  remind.Dose{WindowCloses: time.Date(2026, 6, 11, 12, 0, 0, 0, time.UTC), Open: true},
			now:   time.Date(2026, 6, 11, 6, 0, 0, 0, time.UTC),
			want:  remind.Decision{Action: remind.Hold, Next: time.Date(2026, 6, 11, 7, 0, 0, 0, time.UTC), Reason: remind.ReasonQuietHours},
		},
		{
			name: "no quiet hours set: send at night",
			loc:  ny,
			dose: remind.Dose{DueAt: at("2026-06-11 03:00"), WindowCloses: at("2026-06-11 04:00"), RemindAt: at("2026-06-11 03:00"), Open: true},
			now:  at("2026-06-11 03:00"),
			want: remind.Decision{Action: remind.Send, Next: at("2026-06-11 03:30"), ValidUntil: at("2026-06-11 03:30")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.policy
			if p.Channels == nil {
				p = remind.DefaultPolicy
			}
			got := remind.Decide(p, tt.quiet, tt.loc, tt.dose, tt.now)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecideNeverSendsAfterTheWindow runs the reminder loop the worker
// runs (Decide, then Decide again at Next) for doses due every 7 minutes
// over days that include both daylight-saving changes, and checks the
// invariants: every send is before the window closes and valid no longer,
// the count respects the maximum, and the loop ends.
func TestDecideNeverSendsAfterTheWindow(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	policies := []remind.Policy{
		remind.DefaultPolicy,
		{FirstOffset: -60 * time.Minute, RepeatEvery: 5 * time.Minute, MaxReminders: 0, Validity: 4 * time.Hour, Channels: []notify.Channel{notify.SMS}},
		{FirstOffset: 120 * time.Minute, RepeatEvery: 0, MaxReminders: 1, Validity: time.Minute, Channels: []notify.Channel{notify.SMS}},
		{FirstOffset: 10 * time.Minute, RepeatEvery: 45 * time.Minute, MaxReminders: 24, Validity: 30 * time.Minute, Channels: []notify.Channel{notify.SMS}},
	}
	quiets := []adherence.QuietHours{{}, quiet("22:00", "07:00"), quiet("01:30", "02:30"), remind.DefaultCaregiverHours}
	days := []time.Time{
		time.Date(2026, 3, 7, 12, 0, 0, 0, ny),
		time.Date(2026, 10, 31, 12, 0, 0, 0, ny),
	}
	for _, start := range days {
		for due := start; due.Before(start.Add(48 * time.Hour)); due = due.Add(7 * time.Minute) {
			closes := due.Add(3 * time.Hour)
			for pi, p := range policies {
				for qi, q := range quiets {
					d := remind.Dose{DueAt: due, WindowCloses: closes, RemindAt: remind.FirstRemindAt(p, due), Open: true}
					now := d.RemindAt
					for step := 0; ; step++ {
						if step > 100 {
							t.Fatalf("policy %d quiet %d due %v: the loop does not end", pi, qi, due)
						}
						dec := remind.Decide(p, q, ny, d, now)
						if dec.Action == remind.Send {
							if !now.Before(closes) || dec.ValidUntil.After(closes) || !dec.ValidUntil.After(now) {
								t.Fatalf("policy %d quiet %d due %v: send at %v valid until %v, window closes %v", pi, qi, due, now, dec.ValidUntil, closes)
							}
							if in, _ := remind.InQuiet(q, ny, now); in {
								t.Fatalf("policy %d quiet %d due %v: send at %v in quiet hours", pi, qi, due, now)
							}
							d.Sent++
						}
						if dec.Next.IsZero() {
							break
						}
						if !dec.Next.After(now) || !dec.Next.Before(closes) {
							t.Fatalf("policy %d quiet %d due %v: at %v next %v, window closes %v", pi, qi, due, now, dec.Next, closes)
						}
						now = dec.Next
						d.RemindAt = now
					}
					if p.MaxReminders > 0 && d.Sent > p.MaxReminders {
						t.Fatalf("policy %d due %v: %d sent, max %d", pi, due, d.Sent, p.MaxReminders)
					}
				}
			}
		}
	}
}

func TestFirstRemindAt(t *testing.T) {
	due := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		offset time.Duration
		want   time.Time
	}{
		{0, due},
		{-10 * time.Minute, due.Add(-10 * time.Minute)},
		{2 * time.Hour, due.Add(2 * time.Hour)},
	}
	for _, tt := range tests {
		p := remind.DefaultPolicy
		p.FirstOffset = tt.offset
		if got := remind.FirstRemindAt(p, due); !got.Equal(tt.want) {
			t.Errorf("FirstRemindAt(%v) = %v, want %v", tt.offset, got, tt.want)
		}
	}
}

func TestSnooze(t *testing.T) {
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	dose := remind.Dose{DueAt: now.Add(-time.Hour), WindowCloses: now.Add(3 * time.Hour), RemindAt: now, Sent: 1, Open: true}
	tests := []struct {
		name    string
		minutes int
		dose    remind.Dose
		want    time.Time
	}{
		{"default", 0, dose, now.Add(15 * time.Minute)},
		{"negative means default", -3, dose, now.Add(15 * time.Minute)},
		{"asked", 30, dose, now.Add(30 * time.Minute)},
		{"too short", 1, dose, now.Add(5 * time.Minute)},
		{"too long: 240 minutes pass the 3-hour window", 1000, dose, time.Time{}},
		{"just before the window closes", 179, dose, now.Add(179 * time.Minute)},
		{"at the window close", 180, dose, time.Time{}},
		{"past the window close", 200, dose, time.Time{}},
		{"dose already answered", 30, remind.Dose{WindowCloses: dose.WindowCloses}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := remind.Snooze(now, tt.minutes, tt.dose); !got.Equal(tt.want) {
				t.Errorf("Snooze(%d) = %v, want %v", tt.minutes, got, tt.want)
			}
		})
	}

	// The snoozed time becomes RemindAt: a repeat planned before the snooze
	// holds, and the reminder goes at the snoozed time.
	long := dose
	long.WindowCloses = now.Add(6 * time.Hour)
	if got := remind.Snooze(now, 1000, long); !got.Equal(now.Add(240 * time.Minute)) {
		t.Errorf("Snooze(1000) = %v, want capped at 240 minutes", got)
	}
	d := dose
	d.RemindAt = remind.Snooze(now, 45, d)
	early := remind.Decide(remind.DefaultPolicy, adherence.QuietHours{}, time.UTC, d, now.Add(30*time.Minute))
	if early.Action != remind.Hold || !early.Next.Equal(d.RemindAt) {
		t.Errorf("repeat before the snoozed time: %+v, want hold until %v", early, d.RemindAt)
	}
	onTime := remind.Decide(remind.DefaultPolicy, adherence.QuietHours{}, time.UTC, d, d.RemindAt)
	if onTime.Action != remind.Send {
		t.Errorf("at the snoozed time: %+v, want send", onTime)
	}
}

func TestDecideSnoozeAfterTheMaximum(t *testing.T) {
	due := time.Date(2026, 3, 2, 13, 0, 0, 0, time.UTC)
	p := remind.DefaultPolicy
	d := remind.Dose{DueAt: due, WindowCloses: due.Add(3 * time.Hour), RemindAt: due.Add(85 * time.Minute), Sent: 3, Open: true}
	if got := remind.Decide(p, adherence.QuietHours{}, nil, d, due.Add(85*time.Minute)); got.Action != remind.Stop || got.Reason != remind.ReasonMaxReminders {
		t.Fatalf("maximum reached, no snooze: %+v", got)
	}
	d.Snoozed = true
	if got := remind.Decide(p, adherence.QuietHours{}, nil, d, due.Add(80*time.Minute)); got.Action != remind.Hold || !got.Next.Equal(d.RemindAt) {
		t.Fatalf("snoozed, before its time: %+v", got)
	}
	got := remind.Decide(p, adherence.QuietHours{}, nil, d, due.Add(85*time.Minute))
	if got.Action != remind.Send || !got.Next.IsZero() {
		t.Fatalf("snoozed after the maximum: %+v, want a send with no repeat", got)
	}
}
