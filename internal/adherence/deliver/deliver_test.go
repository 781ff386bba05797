package deliver_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/deliver"
	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/notify"
	"github.com/medplatform/medplatform/internal/platform/notify/email"
	"github.com/medplatform/medplatform/internal/platform/notify/email/smtptest"
	"github.com/medplatform/medplatform/internal/platform/notify/fcm"
	"github.com/medplatform/medplatform/internal/platform/notify/fcm/fcmtest"
	"github.com/medplatform/medplatform/internal/platform/notify/sns"
	"github.com/medplatform/medplatform/internal/platform/notify/sns/snstest"
	"github.com/medplatform/medplatform/internal/platform/notify/twilio"
	"github.com/medplatform/medplatform/internal/platform/notify/twilio/twiliotest"
	"github.com/medplatform/medplatform/internal/platform/notify/webhook"
	"github.com/medplatform/medplatform/internal/platform/phi"
)

var sets = []migrate.Set{audit.Migrations, store.Migrations}

// due is when every test dose is due: 08:00 UTC.
var due = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

// pipeline is a store with n patients, each with one reminder queued for
// the dose due at 08:00, and an SMS route of Twilio (primary) and SNS
// (fallback) backed by local servers.
type pipeline struct {
	t        *testing.T
	ctx      context.Context
	d        *db.DB
	st       *store.Store
	tw       *twiliotest.Server
	sn       *snstest.Server
	twc, snc notify.Provider // the Twilio and SNS clients of the SMS route
	router   *notify.Router
	deliv    *deliver.Deliverer
	ids      []int64
	phones   []string
	attempts atomic.Int64
	now      atomic.Int64 // the clock of store, router and providers (Unix µs)
}

func (p *pipeline) clock() time.Time { return time.UnixMicro(p.now.Load()).UTC() }

// advance moves the clock on (breaker cooldowns run on it).
func (p *pipeline) advance(d time.Duration) { p.now.Add(d.Microseconds()) }

func newPipeline(t *testing.T, d *db.DB, n int) *pipeline {
	t.Helper()
	ctx := context.Background()
	p := &pipeline{t: t, ctx: ctx, d: d}
	p.now.Store(due.Add(-24 * time.Hour).UnixMicro())
	clock := p.clock
	st := store.New(d, audit.New(d, clock, nil), clock)
	p.st = st
	org, err := st.CreateOrg(ctx, "Delivery Org")
	if err != nil {
		t.Fatal(err)
	}
	admin := adherence.Actor{ID: "key-admin", Role: "admin", OrgID: org.ID}
	if err := st.SetMessaging(ctx, admin, org.ID, store.MessagingSettings{Policy: policy()}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		phone := fmt.Sprintf("+1555%07d", i)
		pat := adherence.Patient{OrgID: org.ID, GivenName: phi.New("Pat"), Phone: phi.New(phone), TimeZone: "UTC", Language: "en", SMSConsent: true}
		if err := st.CreatePatient(ctx, admin, &pat); err != nil {
			t.Fatal(err)
		}
		plan := adherence.Plan{OrgID: org.ID, PatientID: pat.ID, Medication: adherence.Medication{RxNorm: "314076", Display: "lisinopril"},
			Timing: schedule.Timing{Repeat: &schedule.Repeat{TimeOfDay: []string{"08:00"}}}}
		if err := st.CreatePlan(ctx, admin, &plan); err != nil {
			t.Fatal(err)
		}
		p.phones = append(p.phones, phone)
	}
	p.now.Store(due.Add(-time.Hour).UnixMicro())
	if _, err := st.ArmReminders(ctx, p.clock()); err != nil {
		t.Fatal(err)
	}
	p.now.Store(due.UnixMicro())
	if res, err := st.DispatchReminders(ctx, p.clock()); err != nil || res.Sent != n {
		t.Fatalf("dispatch: %+v %v", res, err)
	}
	rows, err := d.SQL.QueryContext(ctx, `SELECT id FROM notifications WHERE status = 'queued' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		p.ids = append(p.ids, id)
	}
	rows.Close()
	p.now.Store(due.Add(time.Minute).UnixMicro())

	p.tw, err = twiliotest.New(twiliotest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.tw.Close)
	p.sn, err = snstest.New(snstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.sn.Close)
	tc, err := twilio.New(twilio.Config{BaseURL: p.tw.URL, AccountSID: p.tw.AccountSID, AuthToken: p.tw.AuthToken, From: "+15550009999", Now: clock,
		StatusCallback: "https://adherence.example.org/v1/webhooks/twilio/status"})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sns.New(ctx, sns.Config{Region: "us-east-1", Endpoint: p.sn.URL, Now: clock,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")})
	if err != nil {
		t.Fatal(err)
	}
	p.twc, p.snc = tc, sc
	breaker := notify.BreakerConfig{Failures: 3, Cooldown: 300 * time.Millisecond}
	p.router, err = notify.NewRouter(notify.RouterConfig{
		Routes: map[notify.Channel][]notify.Route{notify.SMS: {
			{Provider: tc, Breaker: breaker}, {Provider: sc, Breaker: breaker},
		}},
		AttemptTimeout: 300 * time.Millisecond,
		Now:            clock,
		Observe:        func(notify.Attempt) { p.attempts.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	p.deliv = &deliver.Deliverer{Store: st, Sender: p.router, Now: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Concurrency: 4}
	return p
}

// policy sends one SMS per dose.
func policy() remind.Policy {
	return remind.Policy{MaxReminders: 1, Validity: 30 * time.Minute, Channels: []notify.Channel{notify.SMS}}
}

func (p *pipeline) statuses() map[string]int {
	p.t.Helper()
	rows, err := p.d.SQL.QueryContext(p.ctx, `SELECT status, COUNT(*) FROM notifications GROUP BY status`)
	if err != nil {
		p.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			p.t.Fatal(err)
		}
		out[s] = n
	}
	return out
}

// awaitStatuses waits (up to 20 s) until the notifications' statuses are
// want, a job working in another goroutine, and returns the last ones read.
func (p *pipeline) awaitStatuses(want map[string]int) map[string]int {
	p.t.Helper()
	var st map[string]int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st = p.statuses(); fmt.Sprint(st) == fmt.Sprint(want) {
			break
		}
	}
	return st
}

// deliveredOnce checks that across both providers every notification was
// accepted exactly once and that the store agrees.
func (p *pipeline) deliveredOnce(want int) {
	p.t.Helper()
	seen := map[string]int{}
	for nid, c := range p.tw.Deliveries() {
		seen[nid] += c
	}
	for nid, c := range p.sn.Deliveries() {
		seen[nid] += c
	}
	for nid, c := range seen {
		if c != 1 {
			p.t.Errorf("notification %s delivered %d times", nid, c)
		}
	}
	if len(seen) != want {
		p.t.Errorf("%d notifications delivered, want %d", len(seen), want)
	}
	if st := p.statuses(); st[store.NotificationSent] != want {
		p.t.Errorf("statuses %v, want %d sent", st, want)
	}
}

func TestProviderOutageFallsBackAndRecovers(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 30)
		batch := func(ids []int64) {
			t.Helper()
			if _, err := p.deliv.Deliver(p.ctx, ids); err != nil {
				t.Fatalf("deliver: %v", err)
			}
		}
		// Twilio answers 500: every message goes to SNS in the same
		// attempt (no retry backoff in between).
		p.tw.SetFailure(twiliotest.FailHTTP500)
		batch(p.ids[:10])
		// Twilio hangs: each call gives up after the attempt timeout, the
		// breaker opens, and the rest skip Twilio altogether.
		p.tw.SetFailure(twiliotest.FailHang)
		batch(p.ids[10:20])
		if got := p.router.BreakerState("twilio"); got != notify.BreakerOpen {
			t.Fatalf("breaker after the outage: %s", got)
		}
		if p.tw.Accepted() != 0 || p.sn.Accepted() != 20 {
			t.Fatalf("during the outage: twilio %d, sns %d", p.tw.Accepted(), p.sn.Accepted())
		}
		// Twilio recovers: after the cooldown a probe goes through and
		// traffic returns to it.
		p.tw.SetFailure(twiliotest.FailNone)
		p.advance(time.Second)
		batch(p.ids[20:21]) // the half-open probe closes the breaker
		batch(p.ids[21:])
		if p.tw.Accepted() != 10 {
			t.Fatalf("after recovery twilio took %d of 10", p.tw.Accepted())
		}
		p.deliveredOnce(30)
		var retried int
		if err := d.SQL.QueryRowContext(p.ctx, `SELECT COUNT(*) FROM notifications WHERE attempts <> 1`).Scan(&retried); err != nil {
			t.Fatal(err)
		}
		if retried != 0 {
			t.Fatalf("%d notifications needed a second attempt: fallback should be immediate", retried)
		}
		// A delivery job run again (River retry, duplicate job) sends
		// nothing more.
		batch(p.ids)
		p.deliveredOnce(30)
	})
}

func TestEveryProviderDownRetriesWithoutDuplicates(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 6)
		p.tw.SetFailure(twiliotest.FailHTTP500)
		p.sn.SetFailure(snstest.FailHTTP500)
		_, err := p.deliv.Deliver(p.ctx, p.ids)
		if !errors.Is(err, deliver.ErrRetry) {
			t.Fatalf("want ErrRetry, got %v", err)
		}
		if st := p.statuses(); st[store.NotificationRetrying] != 6 {
			t.Fatalf("statuses %v", st)
		}
		p.tw.SetFailure(twiliotest.FailNone)
		p.sn.SetFailure(snstest.FailNone)
		// River runs the job again with backoff; each run claims only what
		// is still retrying. While the breakers are half-open a run may
		// leave some for the next one.
		for round := 0; ; round++ {
			p.advance(time.Second) // past the breaker cooldown
			_, err := p.deliv.Deliver(p.ctx, p.ids)
			if err == nil {
				break
			}
			if !errors.Is(err, deliver.ErrRetry) || round == 5 {
				t.Fatalf("retry round %d: %v", round, err)
			}
		}
		p.deliveredOnce(6)
	})
}

func TestOptedOutNumberIsNotTexted(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 2)
		if _, err := d.SQL.ExecContext(p.ctx, `INSERT INTO consent_ledger (channel, address_key, action, source, recorded_at)
			VALUES ('sms', $1, 'opt_out', 'sms_keyword', $2)`, store.AddressKey(p.phones[0]), due); err != nil {
			t.Fatal(err)
		}
		if _, err := p.deliv.Deliver(p.ctx, p.ids); err != nil {
			t.Fatal(err)
		}
		if st := p.statuses(); st[store.NotificationSent] != 1 || st[store.NotificationUndeliverable] != 1 {
			t.Fatalf("statuses %v", st)
		}
		for _, m := range p.tw.Messages() {
			if m.To == p.phones[0] {
				t.Fatal("an opted-out number was texted")
			}
		}
	})
}

// TestNumberUnsubscribedAtTheProviderIsKept: Twilio refuses a number that
// texted STOP to the sending number (21610), a STOP this platform never
// received. The message is undeliverable (opted_out, not tried on SNS) and
// the number's opt-out is kept in the consent ledger, once, so that no
// later message tries it (it was tried again on every reminder: QA).
func TestNumberUnsubscribedAtTheProviderIsKept(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 2)
		p.tw.OptOut(p.phones[0])
		if _, err := p.deliv.Deliver(p.ctx, p.ids); err != nil {
			t.Fatal(err)
		}
		if st := p.statuses(); st[store.NotificationSent] != 1 || st[store.NotificationUndeliverable] != 1 {
			t.Fatalf("statuses %v", st)
		}
		var n int
		if err := d.SQL.QueryRowContext(p.ctx, `SELECT COUNT(*) FROM notifications WHERE status = 'undeliverable' AND reason = 'opted_out'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d undeliverable (opted_out) notifications, want 1 (%v)", n, err)
		}
		if p.sn.Accepted() != 0 {
			t.Fatalf("SNS took %d messages: the unsubscribed number was tried on the fallback", p.sn.Accepted())
		}
		ledger := func() int {
			t.Helper()
			var n int
			if err := d.SQL.QueryRowContext(p.ctx, `SELECT COUNT(*) FROM consent_ledger WHERE channel = 'sms' AND address_key = $1
				AND action = 'opt_out' AND source = 'provider' AND org_id IS NULL AND patient_id IS NULL`, store.AddressKey(p.phones[0])).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if got := ledger(); got != 1 {
			t.Fatalf("%d provider opt-outs of the number in the ledger, want 1", got)
		}
		if out, err := p.st.OptedOut(p.ctx, "", "sms", p.phones[0]); err != nil || !out {
			t.Fatalf("OptedOut = %v, %v; want true", out, err)
		}
		if out, err := p.st.OptedOut(p.ctx, "", "sms", p.phones[1]); err != nil || out {
			t.Fatalf("the other number: OptedOut = %v, %v; want false", out, err)
		}
		// The delivery job run again changes nothing.
		if _, err := p.deliv.Deliver(p.ctx, p.ids); err != nil {
			t.Fatal(err)
		}
		if got := ledger(); got != 1 {
			t.Fatalf("%d provider opt-outs after the job ran again, want 1", got)
		}
	})
}

// SNS's OptedOut (the number replied STOP to the account's texts) is kept
// in the ledger as Twilio's 21610 is: the fallback provider's refusal
// marks the number, and later messages do not try it (QA).
func TestNumberOptedOutAtSNSIsKept(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 2)
		p.tw.SetFailure(twiliotest.FailHTTP500) // Twilio is down: SNS is tried
		p.sn.OptOut(p.phones[0])
		if _, err := p.deliv.Deliver(p.ctx, p.ids); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := d.SQL.QueryRowContext(p.ctx, `SELECT COUNT(*) FROM notifications WHERE status = 'undeliverable' AND reason = 'opted_out'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d undeliverable (opted_out) notifications, want 1 (%v)", n, err)
		}
		if err := d.SQL.QueryRowContext(p.ctx, `SELECT COUNT(*) FROM consent_ledger WHERE channel = 'sms' AND address_key = $1
			AND action = 'opt_out' AND source = 'provider'`, store.AddressKey(p.phones[0])).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d provider opt-outs of the number in the ledger, want 1 (%v)", n, err)
		}
		if out, err := p.st.OptedOut(p.ctx, "", "sms", p.phones[1]); err != nil || out {
			t.Fatalf("the other number: OptedOut = %v, %v; want false", out, err)
		}
	})
}

// recorder is a Sender that accepts every message on its channels and
// keeps them (sent is read once Deliver has returned).
type recorder struct {
	chans []notify.Channel
	mu    sync.Mutex
	sent  []notify.Message
}

func (r *recorder) Has(ch notify.Channel) bool {
	for _, c := range r.chans {
		if c == ch {
			return true
		}
	}
	return false
}

func (r *recorder) Send(_ context.Context, m notify.Message) (notify.Receipt, error) {
	if err := m.HandOver(); err != nil {
		return notify.Receipt{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, m)
	return notify.Receipt{Provider: "recorder", ProviderID: "r-" + m.ID}, nil
}

// An email address opted out in the consent ledger (the API takes email
// opt-outs) gets no email, as an opted-out number gets no text.
func TestOptedOutEmailIsNotEmailed(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 2)
		var org string
		var pats []string
		rows, err := d.SQL.QueryContext(p.ctx, `SELECT org_id, id FROM patients ORDER BY phone`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&org, &id); err != nil {
				t.Fatal(err)
			}
			pats = append(pats, id)
		}
		rows.Close()
		for i, id := range pats {
			if _, err := d.SQL.ExecContext(p.ctx, `UPDATE patients SET email = $1 WHERE id = $2`, fmt.Sprintf("pat%d@example.org", i), id); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.SQL.ExecContext(p.ctx, `UPDATE notifications SET channels = 'email'`); err != nil {
			t.Fatal(err)
		}
		if err := p.st.RecordConsent(p.ctx, store.ConsentInput{OrgID: org, PatientID: pats[0], Channel: "email", Address: "Pat0@example.org",
			Action: store.ConsentOptOut, Source: store.ConsentSourceAPI, Actor: adherence.Actor{ID: "key-admin", Role: "admin", OrgID: org}}); err != nil {
			t.Fatal(err)
		}
		rec := &recorder{chans: []notify.Channel{notify.Email}}
		dv := &deliver.Deliverer{Store: p.st, Sender: rec, Now: p.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if _, err := dv.Deliver(p.ctx, p.ids); err != nil {
			t.Fatal(err)
		}
		for _, m := range rec.sent {
			if m.To == "pat0@example.org" {
				t.Fatal("an opted-out email address was emailed")
			}
		}
		if st := p.statuses(); st[store.NotificationSent] != 1 || st[store.NotificationUndeliverable] != 1 {
			t.Fatalf("statuses %v", st)
		}
	})
}

// Caregivers' quiet hours are the recipient's local time (the reference's
// rule): a caregiver with a zone of their own is held by their night, not
// the patient's; one without follows the patient's zone. The clock is
// 08:01 UTC: night in Los Angeles, morning in London.
func TestCaregiverQuietHoursInTheirOwnZone(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 0)
		var org string
		if err := d.SQL.QueryRowContext(p.ctx, `SELECT id FROM orgs`).Scan(&org); err != nil {
			t.Fatal(err)
		}
		admin := adherence.Actor{ID: "key-admin", Role: "admin", OrgID: org}
		cases := []struct {
			name, patientZone, carerZone string
			held                         bool
		}{
			{"patient asleep, caregiver awake", "America/Los_Angeles", "Europe/London", false},
			{"patient awake, caregiver asleep", "Europe/London", "America/Los_Angeles", true},
			{"caregiver without a zone follows the patient", "America/Los_Angeles", "", true},
		}
		var ids []int64
		for i, c := range cases {
			pat := adherence.Patient{OrgID: org, GivenName: phi.New("Pat"), TimeZone: c.patientZone, Language: "en"}
			if err := p.st.CreatePatient(p.ctx, admin, &pat); err != nil {
				t.Fatal(err)
			}
			m := adherence.Member{OrgID: org, Kind: adherence.MemberCaregiver, Name: phi.New("Carer"),
				Phone: phi.New(fmt.Sprintf("+1555800%04d", i)), TimeZone: c.carerZone}
			if err := p.st.CreateMember(p.ctx, admin, &m); err != nil {
				t.Fatal(err)
			}
			if err := p.st.LinkMember(p.ctx, admin, org, adherence.Link{PatientID: pat.ID, MemberID: m.ID}); err != nil {
				t.Fatal(err)
			}
			policy, esc := fmt.Sprintf("0190c0de-0000-7000-8000-00000000010%d", i), fmt.Sprintf("0190c0de-0000-7000-8000-00000000020%d", i)
			now := p.clock()
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`INSERT INTO escalation_policies (id, org_id, name, trigger_kind, levels, created_at, updated_at)
					VALUES ($1, $2, $3, 'missed_dose', '[]', $4, $4)`, []any{policy, org, c.name, now}},
				{`INSERT INTO escalations (id, org_id, patient_id, policy_id, status, level, opened_at)
					VALUES ($1, $2, $3, $4, 'open', 1, $5)`, []any{esc, org, pat.ID, policy, now}},
				{`INSERT INTO notifications (org_id, idempotency_key, kind, template, patient_id, member_id, escalation_id, channels, status, due_at, created_at, updated_at)
					VALUES ($1, $2, 'escalation', 'escalation_caregiver', $3, $4, $5, 'sms', 'queued', $6, $6, $6)`,
					[]any{org, "esc-" + c.name, pat.ID, m.ID, esc, now}},
			} {
				if _, err := d.SQL.ExecContext(p.ctx, q.sql, q.args...); err != nil {
					t.Fatal(err)
				}
			}
			var id int64
			if err := d.SQL.QueryRowContext(p.ctx, `SELECT id FROM notifications WHERE idempotency_key = $1`, "esc-"+c.name).Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		if _, err := p.deliv.Deliver(p.ctx, ids); err != nil {
			t.Fatal(err)
		}
		for i, c := range cases {
			var status, reason string
			if err := d.SQL.QueryRowContext(p.ctx, `SELECT status, COALESCE(reason, '') FROM notifications WHERE id = $1`, ids[i]).Scan(&status, &reason); err != nil {
				t.Fatal(err)
			}
			if held := status == store.NotificationQueued && reason == "quiet_hours"; held != c.held {
				t.Errorf("%s: status %s (%s), want held=%v", c.name, status, reason, c.held)
			}
		}
		if got := len(p.tw.Messages()); got != 1 {
			t.Errorf("%d texts sent, want 1 (to the caregiver who is awake)", got)
		}
	})
}

// A reminder that every provider refused just before the patient's quiet
// hours is not texted during them when the providers come back: it waits
// for their end if it is still valid then, and is dropped otherwise, as
// the dispatcher would have decided.
func TestRetriedReminderRespectsPatientQuietHours(t *testing.T) {
	for _, tc := range []struct {
		name       string
		quietEnd   string
		wantStatus string
	}{
		{"quiet hours outlast the validity", "07:00", store.NotificationDropped},
		{"quiet hours end within the validity", "08:20", store.NotificationQueued},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
				p := newPipeline(t, d, 1)
				if _, err := d.SQL.ExecContext(p.ctx, `UPDATE patients SET quiet_start = '08:10', quiet_end = $1`, tc.quietEnd); err != nil {
					t.Fatal(err)
				}
				// 08:01: every provider is down.
				p.tw.SetFailure(twiliotest.FailHTTP500)
				p.sn.SetFailure(snstest.FailHTTP500)
				if _, err := p.deliv.Deliver(p.ctx, p.ids); !errors.Is(err, deliver.ErrRetry) {
					t.Fatalf("want ErrRetry, got %v", err)
				}
				// 08:15, inside the quiet hours (08:10–): the providers are
				// back and the job runs again.
				p.tw.SetFailure(twiliotest.FailNone)
				p.sn.SetFailure(snstest.FailNone)
				p.advance(14 * time.Minute)
				if _, err := p.deliv.Deliver(p.ctx, p.ids); err != nil {
					t.Fatalf("retry: %v", err)
				}
				if n := p.tw.Accepted() + p.sn.Accepted(); n != 0 {
					t.Fatalf("%d reminders texted during the patient's quiet hours", n)
				}
				var status, reason string
				if err := d.SQL.QueryRowContext(p.ctx, `SELECT status, reason FROM notifications WHERE id = $1`, p.ids[0]).Scan(&status, &reason); err != nil {
					t.Fatal(err)
				}
				if status != tc.wantStatus || reason != "quiet_hours" {
					t.Fatalf("notification %s (%s), want %s (quiet_hours)", status, reason, tc.wantStatus)
				}
				if status == store.NotificationQueued {
					// Its job runs again when the quiet hours end.
					p.advance(5 * time.Minute)
					if _, err := p.deliv.Deliver(p.ctx, p.ids); err != nil {
						t.Fatalf("after the quiet hours: %v", err)
					}
					p.deliveredOnce(1)
				}
			})
		})
	}
}

// The reason recorded with an outcome is the failure that decided it: a
// notification left retrying because every SMS provider failed says so,
// even when a later channel of its order could not be used at all.
func TestRetryingReasonNamesTheProviderFailure(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 1)
		// SMS first, then email; the patient has no email address.
		if _, err := d.SQL.ExecContext(p.ctx, `UPDATE notifications SET channels = 'sms,email'`); err != nil {
			t.Fatal(err)
		}
		p.tw.SetFailure(twiliotest.FailHTTP500)
		p.sn.SetFailure(snstest.FailHTTP500)
		if _, err := p.deliv.Deliver(p.ctx, p.ids); !errors.Is(err, deliver.ErrRetry) {
			t.Fatalf("want ErrRetry, got %v", err)
		}
		var status, reason string
		if err := d.SQL.QueryRowContext(p.ctx, `SELECT status, reason FROM notifications WHERE id = $1`, p.ids[0]).Scan(&status, &reason); err != nil {
			t.Fatal(err)
		}
		if status != store.NotificationRetrying || reason != "providers_failed" {
			t.Fatalf("notification %s (%s), want retrying (providers_failed)", status, reason)
		}
	})
}

// A reminder queued before its plan was paused or its patient deactivated
// is cancelled with a reason that says so, not as if the dose had been
// recorded.
func TestCancelledReminderSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(p *pipeline, admin adherence.Actor, org, patient, plan string) error
		reason string
	}{
		{"plan paused", func(p *pipeline, admin adherence.Actor, org, _, plan string) error {
			_, err := p.st.SetPlanStatus(p.ctx, admin, org, plan, adherence.PlanPaused)
			return err
		}, "plan_paused"},
		{"patient deactivated", func(p *pipeline, admin adherence.Actor, org, patient, _ string) error {
			_, err := p.st.SetPatientActive(p.ctx, admin, org, patient, false)
			return err
		}, "patient_deactivated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
				p := newPipeline(t, d, 1)
				var org, patient, plan string
				if err := d.SQL.QueryRowContext(p.ctx, `SELECT CAST(org_id AS TEXT), CAST(patient_id AS TEXT), CAST(id AS TEXT) FROM plans`).
					Scan(&org, &patient, &plan); err != nil {
					t.Fatal(err)
				}
				admin := adherence.Actor{ID: "key-admin", Role: "admin", OrgID: org}
				if err := tc.change(p, admin, org, patient, plan); err != nil {
					t.Fatal(err)
				}
				if _, err := p.deliv.Deliver(p.ctx, p.ids); err != nil {
					t.Fatal(err)
				}
				if n := p.tw.Accepted() + p.sn.Accepted(); n != 0 {
					t.Fatalf("%d reminders sent", n)
				}
				var status, reason string
				if err := d.SQL.QueryRowContext(p.ctx, `SELECT status, reason FROM notifications WHERE id = $1`, p.ids[0]).Scan(&status, &reason); err != nil {
					t.Fatal(err)
				}
				if status != store.NotificationCancelled || reason != tc.reason {
					t.Fatalf("notification %s (%s), want cancelled (%s)", status, reason, tc.reason)
				}
			})
		})
	}
}

// An escalation message waits for the caregiver's daytime hours; a
// caregiver removed from the patient's circle of care in the meantime is
// no longer told about the patient: the held message is cancelled
// (member_unlinked), while the caregiver still linked gets theirs.
func TestHeldEscalationToUnlinkedMemberIsCancelled(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 0)
		n := newNightEscalation(t, p, d) // 00:01 in Los Angeles, the caregivers' night
		org, admin := n.org, n.admin
		var members []string
		var ids []int64
		for i := range 2 {
			m, id := n.caregiverMessage(t, fmt.Sprintf("+1555810%04d", i))
			members, ids = append(members, m), append(ids, id)
		}
		if _, err := p.deliv.Deliver(p.ctx, ids); err != nil {
			t.Fatal(err)
		}
		if got := len(p.tw.Messages()); got != 0 {
			t.Fatalf("%d texts sent in the caregivers' night", got)
		}
		// At 07:00 in Los Angeles the second caregiver leaves the circle of
		// care; at 08:01 the held messages are due.
		p.advance(7 * time.Hour)
		if err := p.st.UnlinkMember(p.ctx, admin, org, n.patientID, members[1]); err != nil {
			t.Fatal(err)
		}
		p.advance(time.Hour)
		if _, err := p.deliv.Deliver(p.ctx, ids); err != nil {
			t.Fatal(err)
		}
		for i, want := range []struct{ status, reason string }{
			{store.NotificationSent, ""},
			{store.NotificationCancelled, "member_unlinked"},
		} {
			var status, reason string
			if err := d.SQL.QueryRowContext(p.ctx, `SELECT status, COALESCE(reason, '') FROM notifications WHERE id = $1`, ids[i]).Scan(&status, &reason); err != nil {
				t.Fatal(err)
			}
			if status != want.status || reason != want.reason {
				t.Errorf("notification to caregiver %d: %s (%s), want %s (%s)", i, status, reason, want.status, want.reason)
			}
		}
		if got := len(p.tw.Messages()); got != 1 {
			t.Errorf("%d texts sent, want 1 (to the caregiver still linked)", got)
		}
	})
}

// nightEscalation is an open escalation of a patient in Los Angeles,
// opened at the pipeline's clock (08:01 UTC: 00:01 there, caregivers'
// quiet hours).
type nightEscalation struct {
	p         *pipeline
	d         *db.DB
	org, esc  string
	admin     adherence.Actor
	patientID string
	now       time.Time
}

func newNightEscalation(t *testing.T, p *pipeline, d *db.DB) nightEscalation {
	t.Helper()
	n := nightEscalation{p: p, d: d, now: p.clock(), esc: "0190c0de-0000-7000-8000-000000000302"}
	if err := d.SQL.QueryRowContext(p.ctx, `SELECT id FROM orgs`).Scan(&n.org); err != nil {
		t.Fatal(err)
	}
	n.admin = adherence.Actor{ID: "key-admin", Role: "admin", OrgID: n.org}
	pat := adherence.Patient{OrgID: n.org, GivenName: phi.New("Pat"), TimeZone: "America/Los_Angeles", Language: "en"}
	if err := p.st.CreatePatient(p.ctx, n.admin, &pat); err != nil {
		t.Fatal(err)
	}
	n.patientID = pat.ID
	policy := "0190c0de-0000-7000-8000-000000000301"
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO escalation_policies (id, org_id, name, trigger_kind, levels, created_at, updated_at)
			VALUES ($1, $2, 'Missed dose', 'missed_dose', '[]', $3, $3)`, []any{policy, n.org, n.now}},
		{`INSERT INTO escalations (id, org_id, patient_id, policy_id, status, level, opened_at)
			VALUES ($1, $2, $3, $4, 'open', 1, $5)`, []any{n.esc, n.org, pat.ID, policy, n.now}},
	} {
		if _, err := d.SQL.ExecContext(p.ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// caregiverMessage links a new caregiver in Los Angeles with phone to the
// patient and queues the escalation's message to them; it returns the
// caregiver's id and the message's.
func (n nightEscalation) caregiverMessage(t *testing.T, phone string) (string, int64) {
	t.Helper()
	m := adherence.Member{OrgID: n.org, Kind: adherence.MemberCaregiver, Name: phi.New("Carer"),
		Phone: phi.New(phone), TimeZone: "America/Los_Angeles"}
	if err := n.p.st.CreateMember(n.p.ctx, n.admin, &m); err != nil {
		t.Fatal(err)
	}
	if err := n.p.st.LinkMember(n.p.ctx, n.admin, n.org, adherence.Link{PatientID: n.patientID, MemberID: m.ID}); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := n.d.SQL.QueryRowContext(n.p.ctx, `INSERT INTO notifications (org_id, idempotency_key, kind, template, patient_id, member_id,
			escalation_id, channels, status, due_at, created_at, updated_at)
		VALUES ($1, $2, 'escalation', 'escalation_caregiver', $3, $4, $5, 'sms', 'queued', $6, $6, $6) RETURNING id`,
		n.org, "esc-"+phone, n.patientID, m.ID, n.esc, n.now).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return m.ID, id
}

// TestHeldEscalationCancelledAtAcknowledgement: a caregiver's message held
// for their quiet hours is cancelled when the escalation is acknowledged,
// not hours later when its delivery job runs: until then it showed as
// queued on the acknowledged escalation (QA). It is never sent.
func TestHeldEscalationCancelledAtAcknowledgement(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 0)
		n := newNightEscalation(t, p, d) // 00:01 in Los Angeles, the caregiver's night
		org, admin, esc := n.org, n.admin, n.esc
		_, id := n.caregiverMessage(t, "+15558200001")
		status := func() (string, string) {
			t.Helper()
			var status, reason string
			if err := d.SQL.QueryRowContext(p.ctx, `SELECT status, COALESCE(reason, '') FROM notifications WHERE id = $1`, id).Scan(&status, &reason); err != nil {
				t.Fatal(err)
			}
			return status, reason
		}
		if _, err := p.deliv.Deliver(p.ctx, []int64{id}); err != nil {
			t.Fatal(err)
		}
		if st, reason := status(); st != store.NotificationQueued || reason != "quiet_hours" {
			t.Fatalf("in the caregiver's night: %s (%s), want queued (quiet_hours)", st, reason)
		}

		p.advance(time.Minute)
		acked, err := p.st.AcknowledgeEscalation(p.ctx, admin, org, esc, "clinician on call", p.clock())
		if err != nil {
			t.Fatal(err)
		}
		if st, reason := status(); st != store.NotificationCancelled || reason != "escalation_closed" {
			t.Errorf("after the acknowledgement: %s (%s), want cancelled (escalation_closed)", st, reason)
		}
		if len(acked.NotificationIDs) != 1 || acked.NotificationIDs[0] != id {
			t.Errorf("the acknowledged escalation lists notifications %v, want [%d]", acked.NotificationIDs, id)
		}
		// At 08:00 in Los Angeles the hold ends: nothing is sent.
		p.advance(8 * time.Hour)
		if _, err := p.deliv.Deliver(p.ctx, []int64{id}); err != nil {
			t.Fatal(err)
		}
		if got := len(p.tw.Messages()); got != 0 {
			t.Errorf("%d texts sent for an acknowledged escalation", got)
		}
	})
}

// TestEscalationAcknowledgedWhileItsMessageIsClaimed: the acknowledgement
// comes after a delivery job claimed the caregiver's message and before it
// records the hold for their quiet hours. The job's hold is not left
// standing: the message is cancelled when the job records it. It stayed
// queued until the hold's end (QA re-test).
func TestEscalationAcknowledgedWhileItsMessageIsClaimed(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 0)
		n := newNightEscalation(t, p, d) // 00:01 in Los Angeles, the caregiver's night
		_, id := n.caregiverMessage(t, "+15558300001")
		clock, acked := p.deliv.Now, false
		p.deliv.Now = func() time.Time {
			// The job asks the time once it holds its claims.
			if !acked {
				acked = true
				if _, err := p.st.AcknowledgeEscalation(p.ctx, n.admin, n.org, n.esc, "clinician on call", clock()); err != nil {
					t.Errorf("acknowledge: %v", err)
				}
			}
			return clock()
		}
		if _, err := p.deliv.Deliver(p.ctx, []int64{id}); err != nil {
			t.Fatal(err)
		}
		if !acked {
			t.Fatal("the job never asked the time")
		}
		var status, reason string
		if err := d.SQL.QueryRowContext(p.ctx, `SELECT status, COALESCE(reason, '') FROM notifications WHERE id = $1`, id).Scan(&status, &reason); err != nil {
			t.Fatal(err)
		}
		if status != store.NotificationCancelled || reason != "escalation_closed" {
			t.Errorf("after the job: %s (%s), want cancelled (escalation_closed)", status, reason)
		}
	})
}

// An escalation whose every level fired becomes exhausted when the
// patient misses another dose. Its last level's messages still held for
// the caregivers' night go out in the morning all the same: nobody
// acknowledged it. Those of an acknowledged escalation are cancelled.
func TestExhaustedEscalationMessagesStillGo(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 0)
		var org string
		if err := d.SQL.QueryRowContext(p.ctx, `SELECT id FROM orgs`).Scan(&org); err != nil {
			t.Fatal(err)
		}
		admin := adherence.Actor{ID: "key-admin", Role: "admin", OrgID: org}
		now := p.clock() // 08:01 UTC: 00:01 in Los Angeles, the caregivers' night
		var escs []string
		var ids []int64
		for i, name := range []string{"exhausted", "acknowledged"} {
			pat := adherence.Patient{OrgID: org, GivenName: phi.New("Pat"), TimeZone: "America/Los_Angeles", Language: "en"}
			if err := p.st.CreatePatient(p.ctx, admin, &pat); err != nil {
				t.Fatal(err)
			}
			m := adherence.Member{OrgID: org, Kind: adherence.MemberCaregiver, Name: phi.New("Carer"),
				Phone: phi.New(fmt.Sprintf("+1555820%04d", i)), TimeZone: "America/Los_Angeles"}
			if err := p.st.CreateMember(p.ctx, admin, &m); err != nil {
				t.Fatal(err)
			}
			if err := p.st.LinkMember(p.ctx, admin, org, adherence.Link{PatientID: pat.ID, MemberID: m.ID}); err != nil {
				t.Fatal(err)
			}
			policy, esc := fmt.Sprintf("0190c0de-0000-7000-8000-00000000040%d", i), fmt.Sprintf("0190c0de-0000-7000-8000-00000000050%d", i)
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`INSERT INTO escalation_policies (id, org_id, name, trigger_kind, levels, created_at, updated_at)
					VALUES ($1, $2, $3, 'missed_dose', '[]', $4, $4)`, []any{policy, org, name, now}},
				{`INSERT INTO escalations (id, org_id, patient_id, policy_id, status, level, opened_at)
					VALUES ($1, $2, $3, $4, 'open', 1, $5)`, []any{esc, org, pat.ID, policy, now}},
			} {
				if _, err := d.SQL.ExecContext(p.ctx, q.sql, q.args...); err != nil {
					t.Fatal(err)
				}
			}
			var id int64
			if err := d.SQL.QueryRowContext(p.ctx, `INSERT INTO notifications (org_id, idempotency_key, kind, template, patient_id, member_id,
					escalation_id, channels, status, due_at, created_at, updated_at)
				VALUES ($1, $2, 'escalation', 'escalation_caregiver', $3, $4, $5, 'sms', 'queued', $6, $6, $6) RETURNING id`,
				org, "esc-"+name, pat.ID, m.ID, esc, now).Scan(&id); err != nil {
				t.Fatal(err)
			}
			escs, ids = append(escs, esc), append(ids, id)
		}
		if _, err := p.deliv.Deliver(p.ctx, ids); err != nil {
			t.Fatal(err)
		}
		if got := len(p.tw.Messages()); got != 0 {
			t.Fatalf("%d texts sent in the caregivers' night", got)
		}
		// During the night the patient misses another dose (the escalation
		// engine moves the first escalation to exhausted) and the other
		// escalation is acknowledged.
		p.advance(time.Hour)
		if _, err := d.SQL.ExecContext(p.ctx, `UPDATE escalations SET status = 'exhausted', closed_at = $1, closed_by = 'system', reason = 'new_miss'
			WHERE id = $2`, p.clock(), escs[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := p.st.AcknowledgeEscalation(p.ctx, admin, org, escs[1], "key-admin", p.clock()); err != nil {
			t.Fatal(err)
		}
		p.advance(7 * time.Hour) // 08:01 in Los Angeles
		if _, err := p.deliv.Deliver(p.ctx, ids); err != nil {
			t.Fatal(err)
		}
		for i, want := range []struct{ status, reason string }{
			{store.NotificationSent, ""},
			{store.NotificationCancelled, "escalation_closed"},
		} {
			var status, reason string
			if err := d.SQL.QueryRowContext(p.ctx, `SELECT status, COALESCE(reason, '') FROM notifications WHERE id = $1`, ids[i]).Scan(&status, &reason); err != nil {
				t.Fatal(err)
			}
			if status != want.status || reason != want.reason {
				t.Errorf("held message of escalation %d: %s (%s), want %s (%s)", i, status, reason, want.status, want.reason)
			}
		}
		if got := len(p.tw.Messages()); got != 1 {
			t.Errorf("%d texts sent, want 1 (about the exhausted escalation)", got)
		}
	})
}

// An org's own text replaces the built-in one for its language only: a
// patient whose language has a built-in text (Spanish) gets that, not the
// org's English text; a patient whose language has none (Vietnamese)
// gets the org's English text rather than the built-in English one.
func TestOrgTemplateReplacesOnlyItsLanguage(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 3)
		var org string
		if err := d.SQL.QueryRowContext(p.ctx, `SELECT id FROM orgs`).Scan(&org); err != nil {
			t.Fatal(err)
		}
		admin := adherence.Actor{ID: "key-admin", Role: "admin", OrgID: org}
		if err := p.st.PutTemplate(p.ctx, admin, org, remind.Template{Kind: remind.KindReminder, Language: "en", Channel: notify.SMS,
			Body: "{{program}}: custom English reminder. {{reply_hint}}"}); err != nil {
			t.Fatal(err)
		}
		langs := []string{"es", "vi", "en"}
		for i, lang := range langs {
			if _, err := d.SQL.ExecContext(p.ctx, `UPDATE patients SET language = $1 WHERE phone = $2`, lang, p.phones[i]); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.deliv.Deliver(p.ctx, p.ids); err != nil {
			t.Fatal(err)
		}
		bodies := map[string]string{}
		for _, m := range p.tw.Messages() {
			bodies[m.To] = m.Body
		}
		for i, want := range []string{"Hola Pat", "custom English reminder", "custom English reminder"} {
			if got := bodies[p.phones[i]]; !strings.Contains(got, want) {
				t.Errorf("patient speaking %s got %q, want a text with %q", langs[i], got, want)
			}
		}
		if got := bodies[p.phones[0]]; !strings.Contains(got, remind.ReplyHintES) {
			t.Errorf("Spanish text %q without the Spanish reply hint", got)
		}
	})
}

// TestReminderDoseTimeOnThePatientsClock: {{dose_time}} of a reminder is
// the dose's instant on the patient's clock, not its local_time, the wall
// time of the zone it was scheduled in: a dose kept at its old instant
// after a move east (TestTimeZoneMoveEastKeepsTheDaysDose in the store)
// keeps that, and a New York 22:16 dose kept after a move to Halifax was
// announced at 23:16 there as "your 22:16 dose" (QA).
func TestReminderDoseTimeOnThePatientsClock(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 1) // a UTC patient, dose due 2026-03-02 08:00 UTC
		// The wall time a dose of a New York patient due then has, kept
		// as it is after the patient moved to UTC.
		if _, err := d.SQL.ExecContext(p.ctx, `UPDATE dose_instances SET local_time = '2026-03-02T03:00'
			WHERE id = (SELECT dose_instance_id FROM notifications WHERE id = $1)`, p.ids[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := p.deliv.Deliver(p.ctx, p.ids); err != nil {
			t.Fatal(err)
		}
		msgs := p.tw.Messages()
		if len(msgs) != 1 || !strings.Contains(msgs[0].Body, "your 08:00 dose") {
			t.Errorf("messages %+v, want one saying 'your 08:00 dose'", msgs)
		}
	})
}

// TestEscalationDoseTimeInTheCaregiversZone: {{dose_time}} of an escalation
// message is the dose's time on the recipient's clock, with the zone's
// abbreviation when the member lives in another zone than the patient: a
// New York caregiver of a UTC patient read the 08:00 UTC dose as "08:00",
// an hour of their own clock five hours off.
func TestEscalationDoseTimeInTheCaregiversZone(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 1) // a UTC patient, dose due 2026-03-02 08:00 UTC
		var org, patient string
		var dose int64
		if err := d.SQL.QueryRowContext(p.ctx, `SELECT org_id, patient_id, dose_instance_id FROM notifications WHERE id = $1`, p.ids[0]).Scan(&org, &patient, &dose); err != nil {
			t.Fatal(err)
		}
		admin := adherence.Actor{ID: "key-admin", Role: "admin", OrgID: org}
		policy, esc := "0190c0de-0000-7000-8000-000000000301", "0190c0de-0000-7000-8000-000000000302"
		now := p.clock()
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO escalation_policies (id, org_id, name, trigger_kind, levels, created_at, updated_at)
				VALUES ($1, $2, 'zones', 'missed_dose', '[]', $3, $3)`, []any{policy, org, now}},
			{`INSERT INTO escalations (id, org_id, patient_id, policy_id, dose_instance_id, status, level, opened_at)
				VALUES ($1, $2, $3, $4, $5, 'open', 1, $6)`, []any{esc, org, patient, policy, dose, now}},
		} {
			if _, err := d.SQL.ExecContext(p.ctx, q.sql, q.args...); err != nil {
				t.Fatal(err)
			}
		}
		want := map[string]string{ // caregiver zone → dose time in the message
			"America/New_York": "03:00 EST",
			"":                 "08:00", // no zone of their own: the patient's
			"UTC":              "08:00", // the patient's zone
		}
		phones := map[string]string{}
		var ids []int64
		i := 0
		for zone := range want {
			i++
			phone := fmt.Sprintf("+1555810%04d", i)
			phones[zone] = phone
			m := adherence.Member{OrgID: org, Kind: adherence.MemberCaregiver, Name: phi.New("Carer"), Phone: phi.New(phone), TimeZone: zone}
			if err := p.st.CreateMember(p.ctx, admin, &m); err != nil {
				t.Fatal(err)
			}
			if err := p.st.LinkMember(p.ctx, admin, org, adherence.Link{PatientID: patient, MemberID: m.ID}); err != nil {
				t.Fatal(err)
			}
			// Urgent: sent now, whatever the caregiver's quiet hours.
			var id int64
			if err := d.SQL.QueryRowContext(p.ctx, `INSERT INTO notifications (org_id, idempotency_key, kind, template, patient_id, member_id,
					escalation_id, dose_instance_id, channels, status, urgent, due_at, created_at, updated_at)
				VALUES ($1, $2, 'escalation', 'escalation_caregiver', $3, $4, $5, $6, 'sms', 'queued', true, $7, $7, $7) RETURNING id`,
				org, "zone-"+zone, patient, m.ID, esc, dose, now).Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		if _, err := p.deliv.Deliver(p.ctx, ids); err != nil {
			t.Fatal(err)
		}
		bodies := map[string]string{}
		for _, m := range p.tw.Messages() {
			bodies[m.To] = m.Body
		}
		for zone, at := range want {
			if got := bodies[phones[zone]]; !strings.Contains(got, "due at "+at+".") {
				t.Errorf("caregiver in zone %q got %q, want the dose due at %s", zone, got, at)
			}
		}
	})
}

// A webhook that answers with a redirect is not retried: the redirect is
// never followed, so every retry would meet it again (for as long as the
// delivery job's attempts last). The message is undeliverable, recorded
// as redirected, after one request.
func TestRedirectingWebhookIsUndeliverable(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 0)
		var requests atomic.Int64
		rv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			http.Redirect(w, r, "https://care.example.org/hooks/new", http.StatusMovedPermanently)
		}))
		t.Cleanup(rv.Close)
		wh, err := webhook.New(webhook.Config{Secret: "s3cret", AllowHTTP: true, AllowPrivate: true, Now: p.clock})
		if err != nil {
			t.Fatal(err)
		}
		router, err := notify.NewRouter(notify.RouterConfig{
			Routes:         map[notify.Channel][]notify.Route{notify.Webhook: {{Provider: wh}}},
			AttemptTimeout: 5 * time.Second, Now: p.clock,
		})
		if err != nil {
			t.Fatal(err)
		}
		deliv := &deliver.Deliverer{Store: p.st, Sender: router, Now: p.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Concurrency: 1}

		var org string
		if err := d.SQL.QueryRowContext(p.ctx, `SELECT id FROM orgs`).Scan(&org); err != nil {
			t.Fatal(err)
		}
		admin := adherence.Actor{ID: "key-admin", Role: "admin", OrgID: org}
		pat := adherence.Patient{OrgID: org, GivenName: phi.New("Pat"), TimeZone: "UTC", Language: "en"}
		if err := p.st.CreatePatient(p.ctx, admin, &pat); err != nil {
			t.Fatal(err)
		}
		now := p.clock()
		const policy, esc = "0190c0de-0000-7000-8000-000000000601", "0190c0de-0000-7000-8000-000000000602"
		if _, err := d.SQL.ExecContext(p.ctx, `INSERT INTO escalation_policies (id, org_id, name, trigger_kind, levels, created_at, updated_at)
			VALUES ($1, $2, 'hook', 'missed_dose', '[]', $3, $3)`, policy, org, now); err != nil {
			t.Fatal(err)
		}
		if _, err := d.SQL.ExecContext(p.ctx, `INSERT INTO escalations (id, org_id, patient_id, policy_id, status, level, opened_at)
			VALUES ($1, $2, $3, $4, 'open', 1, $5)`, esc, org, pat.ID, policy, now); err != nil {
			t.Fatal(err)
		}
		var id int64
		if err := d.SQL.QueryRowContext(p.ctx, `INSERT INTO notifications (org_id, idempotency_key, kind, template, patient_id,
				escalation_id, address, channels, urgent, status, due_at, created_at, updated_at)
			VALUES ($1, 'esc-hook', 'escalation', 'escalation_clinician', $2, $3, $4, 'webhook', TRUE, 'queued', $5, $5, $5) RETURNING id`,
			org, pat.ID, esc, rv.URL+"/hooks/old", now).Scan(&id); err != nil {
			t.Fatal(err)
		}
		res, err := deliv.Deliver(p.ctx, []int64{id})
		if err != nil {
			t.Fatalf("Deliver = %+v, %v; want no retry", res, err)
		}
		var status, reason string
		if err := d.SQL.QueryRowContext(p.ctx, `SELECT status, reason FROM notifications WHERE id = $1`, id).Scan(&status, &reason); err != nil {
			t.Fatal(err)
		}
		if status != store.NotificationUndeliverable || reason != "redirected" {
			t.Errorf("notification %s (%s), want undeliverable (redirected)", status, reason)
		}
		if n := requests.Load(); n != 1 {
			t.Errorf("%d requests to the webhook, want 1", n)
		}
	})
}

// pushPipeline is p with a push route of FCM (backed by a local fcmtest
// server) beside p's SMS route, the SMS providers in the order given, and
// a push token for every patient; the reminders try push, then SMS.
func pushPipeline(t *testing.T, p *pipeline, sms ...notify.Provider) (*fcmtest.Server, *deliver.Deliverer) {
	t.Helper()
	fs, err := fcmtest.New(fcmtest.Options{Now: p.clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fs.Close)
	fc, err := fcm.New(fcm.Config{BaseURL: fs.URL, ServiceAccountJSON: fs.ServiceAccountJSON(""), Now: p.clock})
	if err != nil {
		t.Fatal(err)
	}
	routes := map[notify.Channel][]notify.Route{notify.Push: {{Provider: fc}}}
	for _, pr := range sms {
		routes[notify.SMS] = append(routes[notify.SMS], notify.Route{Provider: pr})
	}
	m := deliver.NewMetrics(prometheus.NewRegistry())
	router, err := notify.NewRouter(notify.RouterConfig{Routes: routes, AttemptTimeout: 5 * time.Second, Now: p.clock, Observe: m.ObserveAttempt})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.d.SQL.ExecContext(p.ctx, `UPDATE patients SET push_token = 'fcm-token-' || phone`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.d.SQL.ExecContext(p.ctx, `UPDATE notifications SET channels = 'push,sms'`); err != nil {
		t.Fatal(err)
	}
	return fs, &deliver.Deliverer{Store: p.st, Sender: router, Now: p.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Concurrency: 1, Metrics: m}
}

// notificationOf reads what is recorded of notification id.
func notificationOf(t *testing.T, d *db.DB, id int64) (status, reason, channel, provider string) {
	t.Helper()
	if err := d.SQL.QueryRowContext(context.Background(), `SELECT status, reason, channel, provider FROM notifications WHERE id = $1`, id).
		Scan(&status, &reason, &channel, &provider); err != nil {
		t.Fatal(err)
	}
	return status, reason, channel, provider
}

// A provider that accepted a message but whose answer could not be read
// (Twilio's 201 or FCM's 200 broken off, SNS's 200 not well-formed) has
// very likely sent it: the notification is recorded as unknown, with the
// channel and provider that took it, and is neither sent through the next
// provider or channel nor retried. A definite refusal still falls back.
func TestUnreadableAcceptanceIsNotSentAgain(t *testing.T) {
	tests := []struct {
		name string
		// fail makes the first provider tried accept the message
		// unreadably (or, for the last case, refuse it).
		fail     func(p *pipeline, fs *fcmtest.Server)
		snsFirst bool
		// status, channel and provider recorded; sent counts the
		// copies the providers accepted (FCM, Twilio, SNS).
		status, channel, provider string
		sent                      [3]int
	}{
		{"fcm 200 cut short", func(p *pipeline, fs *fcmtest.Server) { fs.SetFailure(fcmtest.FailAcceptCutShort) }, false,
			store.NotificationUnknown, "push", "fcm", [3]int{1, 0, 0}},
		{"twilio 201 cut short", func(p *pipeline, fs *fcmtest.Server) {
			fs.Unregister("fcm-token-" + p.phones[0])
			p.tw.SetFailure(twiliotest.FailAcceptCutShort)
		}, false, store.NotificationUnknown, "sms", "twilio", [3]int{0, 1, 0}},
		{"sns 200 malformed", func(p *pipeline, fs *fcmtest.Server) {
			fs.Unregister("fcm-token-" + p.phones[0])
			p.sn.SetFailure(snstest.FailAcceptMalformed)
		}, true, store.NotificationUnknown, "sms", "sns", [3]int{0, 0, 1}},
		// A definite refusal is not an unknown outcome: FCM's 503
		// falls back to SMS, Twilio's 500 to SNS, as before.
		{"fcm 503, twilio 500", func(p *pipeline, fs *fcmtest.Server) {
			fs.SetFailure(fcmtest.FailUnavailable)
			p.tw.SetFailure(twiliotest.FailHTTP500)
		}, false, store.NotificationSent, "sms", "sns", [3]int{0, 0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
				p := newPipeline(t, d, 1)
				sms := []notify.Provider{p.twc, p.snc}
				if tt.snsFirst {
					sms = []notify.Provider{p.snc, p.twc}
				}
				fs, dv := pushPipeline(t, p, sms...)
				tt.fail(p, fs)
				res, err := dv.Deliver(p.ctx, p.ids)
				if err != nil {
					t.Fatalf("Deliver = %+v, %v; want no retry", res, err)
				}
				// The delivery job run again sends nothing more.
				if _, err := dv.Deliver(p.ctx, p.ids); err != nil {
					t.Fatal(err)
				}
				if got := [3]int{len(fs.Messages()), p.tw.Accepted(), p.sn.Accepted()}; got != tt.sent {
					t.Errorf("copies accepted by fcm, twilio, sns: %v, want %v", got, tt.sent)
				}
				status, reason, channel, provider := notificationOf(t, d, p.ids[0])
				if status != tt.status || channel != tt.channel || provider != tt.provider {
					t.Errorf("notification %s (%s) on %s by %s, want %s on %s by %s", status, reason, channel, provider, tt.status, tt.channel, tt.provider)
				}
				if tt.status == store.NotificationUnknown && reason != store.ReasonAcceptanceUnreadable {
					t.Errorf("reason %q, want %q", reason, store.ReasonAcceptanceUnreadable)
				}
				// An operator sees it in the metrics, by channel and provider.
				wantOutcome := map[string]string{store.NotificationUnknown: notify.OutcomeUnknown, store.NotificationSent: notify.OutcomeAccepted}[tt.status]
				if v := testutil.ToFloat64(dv.Metrics.Attempts.WithLabelValues(tt.channel, tt.provider, wantOutcome)); v != 1 {
					t.Errorf("attempts %s/%s/%s = %v, want 1", tt.channel, tt.provider, wantOutcome, v)
				}
				if v := testutil.ToFloat64(dv.Metrics.Notifications.WithLabelValues(tt.channel, tt.provider, tt.status)); v != 1 {
					t.Errorf("notifications %s/%s/%s = %v, want 1", tt.channel, tt.provider, tt.status, v)
				}
				if tt.provider != "twilio" || tt.status != store.NotificationUnknown {
					return
				}
				// Twilio's status callback names the notification (nid):
				// it fills in what the broken answer did not tell.
				sid := p.tw.Messages()[0].SID
				if _, err := dv.Store.RecordDeliveryStatus(p.ctx, store.StatusInput{Provider: "twilio", ProviderMessageID: sid,
					NotificationID: p.ids[0], Status: twilio.StatusDelivered, Source: store.StatusSourceCallback, At: p.clock()}); err != nil {
					t.Fatal(err)
				}
				var got, gotSID string
				if err := d.SQL.QueryRowContext(p.ctx, `SELECT status, provider_message_id FROM notifications WHERE id = $1`, p.ids[0]).Scan(&got, &gotSID); err != nil {
					t.Fatal(err)
				}
				if got != store.NotificationDelivered || gotSID != sid {
					t.Errorf("after Twilio's callback: %s with sid %q, want delivered with %q", got, gotSID, sid)
				}
			})
		})
	}
}

// A caregiver's escalation message goes by the same rule: a text Twilio
// accepted unreadably is not followed by an email of the same alert
// (recorded unknown), while a text every SMS provider refused is (sent by
// email).
func TestUnreadableAcceptanceOfAnEscalation(t *testing.T) {
	for _, tt := range []struct {
		name                      string
		fail                      func(p *pipeline)
		status, channel, provider string
		texts, emails             int
	}{
		{"twilio 201 cut short", func(p *pipeline) { p.tw.SetFailure(twiliotest.FailAcceptCutShort) },
			store.NotificationUnknown, "sms", "twilio", 1, 0},
		{"every sms provider down", func(p *pipeline) {
			p.tw.SetFailure(twiliotest.FailHTTP500)
			p.sn.SetFailure(snstest.FailHTTP500)
		}, store.NotificationSent, "email", "smtp", 0, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
				p := newPipeline(t, d, 0)
				ms, err := smtptest.New(smtptest.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ms.Close() })
				ec, err := email.New(email.Config{Addr: ms.Addr(), From: "Care <care@example.org>", TLSConfig: ms.ClientTLSConfig(), Now: p.clock})
				if err != nil {
					t.Fatal(err)
				}
				router, err := notify.NewRouter(notify.RouterConfig{
					Routes: map[notify.Channel][]notify.Route{
						notify.SMS:   {{Provider: p.twc}, {Provider: p.snc}},
						notify.Email: {{Provider: ec}},
					},
					AttemptTimeout: 5 * time.Second, Now: p.clock,
				})
				if err != nil {
					t.Fatal(err)
				}
				dv := &deliver.Deliverer{Store: p.st, Sender: router, Now: p.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Concurrency: 1}

				var org string
				if err := d.SQL.QueryRowContext(p.ctx, `SELECT id FROM orgs`).Scan(&org); err != nil {
					t.Fatal(err)
				}
				admin := adherence.Actor{ID: "key-admin", Role: "admin", OrgID: org}
				pat := adherence.Patient{OrgID: org, GivenName: phi.New("Pat"), TimeZone: "UTC", Language: "en"}
				if err := p.st.CreatePatient(p.ctx, admin, &pat); err != nil {
					t.Fatal(err)
				}
				m := adherence.Member{OrgID: org, Kind: adherence.MemberCaregiver, Name: phi.New("Carer"),
					Phone: phi.New("+15558300001"), Email: phi.New("carer@example.org"), TimeZone: "UTC"}
				if err := p.st.CreateMember(p.ctx, admin, &m); err != nil {
					t.Fatal(err)
				}
				if err := p.st.LinkMember(p.ctx, admin, org, adherence.Link{PatientID: pat.ID, MemberID: m.ID}); err != nil {
					t.Fatal(err)
				}
				now := p.clock()
				const policy, esc = "0190c0de-0000-7000-8000-000000000701", "0190c0de-0000-7000-8000-000000000702"
				if _, err := d.SQL.ExecContext(p.ctx, `INSERT INTO escalation_policies (id, org_id, name, trigger_kind, levels, created_at, updated_at)
					VALUES ($1, $2, 'missed', 'missed_dose', '[]', $3, $3)`, policy, org, now); err != nil {
					t.Fatal(err)
				}
				if _, err := d.SQL.ExecContext(p.ctx, `INSERT INTO escalations (id, org_id, patient_id, policy_id, status, level, opened_at)
					VALUES ($1, $2, $3, $4, 'open', 1, $5)`, esc, org, pat.ID, policy, now); err != nil {
					t.Fatal(err)
				}
				var id int64
				if err := d.SQL.QueryRowContext(p.ctx, `INSERT INTO notifications (org_id, idempotency_key, kind, template, patient_id, member_id,
						escalation_id, channels, urgent, status, due_at, created_at, updated_at)
					VALUES ($1, 'esc-carer', 'escalation', 'escalation_caregiver', $2, $3, $4, 'sms,email', TRUE, 'queued', $5, $5, $5) RETURNING id`,
					org, pat.ID, m.ID, esc, now).Scan(&id); err != nil {
					t.Fatal(err)
				}
				tt.fail(p)
				if res, err := dv.Deliver(p.ctx, []int64{id}); err != nil {
					t.Fatalf("Deliver = %+v, %v; want no retry", res, err)
				}
				if _, err := dv.Deliver(p.ctx, []int64{id}); err != nil {
					t.Fatal(err)
				}
				if texts, emails := p.tw.Accepted()+p.sn.Accepted(), len(ms.Messages()); texts != tt.texts || emails != tt.emails {
					t.Errorf("%d texts and %d emails accepted, want %d and %d", texts, emails, tt.texts, tt.emails)
				}
				status, reason, channel, provider := notificationOf(t, d, id)
				if status != tt.status || channel != tt.channel || provider != tt.provider {
					t.Errorf("notification %s (%s) on %s by %s, want %s on %s by %s", status, reason, channel, provider, tt.status, tt.channel, tt.provider)
				}
			})
		})
	}
}

// gate is an SMS Sender that accepts the first open messages at once and
// holds every later one until release is closed: a job caught mid-batch.
type gate struct {
	open    int
	release chan struct{}
	mu      sync.Mutex
	calls   int
	sent    map[string]int
}

func (g *gate) Has(ch notify.Channel) bool { return ch == notify.SMS }

func (g *gate) Send(_ context.Context, m notify.Message) (notify.Receipt, error) {
	if err := m.HandOver(); err != nil {
		return notify.Receipt{}, err
	}
	g.mu.Lock()
	g.calls++
	held := g.calls > g.open
	g.mu.Unlock()
	if held {
		<-g.release
	}
	g.mu.Lock()
	g.sent[m.ID]++
	g.mu.Unlock()
	return notify.Receipt{Provider: "gate", ProviderID: "g-" + m.ID}, nil
}

// A delivery job writes as it goes: caught mid-batch (as when its process
// is killed), what it sent is recorded, only the messages in a provider's
// hands are in sending, and those it never handed over are still claimed.
// The sweep then marks the ones in sending unknown (never sent again) and
// gives the claimed ones back to delivery, and another job sends exactly
// those: nobody gets a reminder twice, and none is lost. The job, when it
// resumes, leaves alone what is no longer its own.
func TestJobCaughtMidBatchLosesOnlyWhatWasInFlight(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 10)
		g := &gate{open: 3, release: make(chan struct{}), sent: map[string]int{}}
		first := &deliver.Deliverer{Store: p.st, Sender: g, Now: p.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Concurrency: 4}
		done := make(chan error, 1)
		go func() {
			_, err := first.Deliver(p.ctx, p.ids)
			done <- err
		}()
		released := false
		defer func() {
			if !released {
				close(g.release)
				<-done
			}
		}()
		want := map[string]int{store.NotificationSent: 3, store.NotificationSending: 4, store.NotificationClaimed: 3}
		if st := p.awaitStatuses(want); fmt.Sprint(st) != fmt.Sprint(want) {
			t.Fatalf("mid-batch statuses %v, want %v", st, want)
		}

		// The process is gone: the sweep runs.
		p.advance(11 * time.Minute)
		if n, err := p.st.RequeueClaimed(p.ctx, 3*time.Minute, p.clock()); err != nil || n != 3 {
			t.Fatalf("RequeueClaimed = %d, %v; want 3", n, err)
		}
		if n, err := p.st.MarkUnknownSending(p.ctx, 10*time.Minute, p.clock()); err != nil || n != 4 {
			t.Fatalf("MarkUnknownSending = %d, %v; want 4", n, err)
		}
		requeued := map[string]bool{}
		rows, err := d.SQL.QueryContext(p.ctx, `SELECT id FROM notifications WHERE status = 'retrying'`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			requeued[fmt.Sprint(id)] = true
		}
		rows.Close()

		rec := &recorder{chans: []notify.Channel{notify.SMS}}
		second := &deliver.Deliverer{Store: p.st, Sender: rec, Now: p.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if res, err := second.Deliver(p.ctx, p.ids); err != nil || res.Sent != 3 {
			t.Fatalf("second job: %+v, %v; want 3 sent", res, err)
		}
		for _, m := range rec.sent {
			if !requeued[m.ID] {
				t.Errorf("the second job sent notification %s, which was not given back", m.ID)
			}
		}

		released = true
		close(g.release)
		if err := <-done; err != nil {
			t.Fatalf("first job: %v", err)
		}
		if g.calls != 7 {
			t.Errorf("the first job handed %d messages over, want 7 (3 sent, 4 in flight)", g.calls)
		}
		seen := map[string]int{}
		for id, n := range g.sent {
			seen[id] += n
		}
		for _, m := range rec.sent {
			seen[m.ID]++
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("notification %s sent %d times", id, n)
			}
		}
		if len(seen) != 10 {
			t.Errorf("%d notifications sent, want 10", len(seen))
		}
		// The four in flight stay unknown (their late answers fill in the
		// message id), the others are sent.
		if st := p.statuses(); st[store.NotificationSent] != 6 || st[store.NotificationUnknown] != 4 {
			t.Errorf("final statuses %v, want 6 sent and 4 unknown", st)
		}
	})
}

// acceptAll is an SMS provider that accepts every message.
type acceptAll struct {
	mu   sync.Mutex
	sent map[string]int
}

func (a *acceptAll) Name() string            { return "accept-all" }
func (a *acceptAll) Channel() notify.Channel { return notify.SMS }

func (a *acceptAll) Send(_ context.Context, m notify.Message) (notify.Receipt, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sent[m.ID]++
	return notify.Receipt{Provider: a.Name(), ProviderID: "a-" + m.ID}, nil
}

// A message waiting for its provider's rate limit has not been handed
// over: a job caught then leaves it claimed (sent again after the sweep),
// not sending (marked unknown and never sent). In QA a worker killed
// while TWILIO_RATE held messages back lost them this way.
func TestMessagesWaitingForTheRateLimitStayClaimed(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 10)
		provider := &acceptAll{sent: map[string]int{}}
		release := make(chan struct{})
		waiting := make(chan struct{}, 10)
		router, err := notify.NewRouter(notify.RouterConfig{
			Routes: map[notify.Channel][]notify.Route{notify.SMS: {{Provider: provider, RatePerSecond: 1, Burst: 2}}},
			Now:    p.clock,
			Sleep: func(ctx context.Context, _ time.Duration) error {
				waiting <- struct{}{}
				select {
				case <-release:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		dv := &deliver.Deliverer{Store: p.st, Sender: router, Now: p.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Concurrency: 4}
		done := make(chan error, 1)
		go func() {
			_, err := dv.Deliver(p.ctx, p.ids)
			done <- err
		}()
		released := false
		defer func() {
			if !released {
				close(release)
				<-done
			}
		}()
		// Two go at once (the burst); the next two wait for tokens.
		for range 2 {
			select {
			case <-waiting:
			case <-time.After(20 * time.Second):
				t.Fatal("no message waited for the rate limit")
			}
		}
		want := map[string]int{store.NotificationSent: 2, store.NotificationClaimed: 8}
		if st := p.awaitStatuses(want); fmt.Sprint(st) != fmt.Sprint(want) {
			t.Fatalf("statuses while two messages wait for the rate limit: %v, want %v", st, want)
		}
		released = true
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if st := p.statuses(); st[store.NotificationSent] != 10 {
			t.Errorf("final statuses %v, want 10 sent", st)
		}
		for id, n := range provider.sent {
			if n != 1 {
				t.Errorf("notification %s sent %d times", id, n)
			}
		}
	})
}

// A message whose only provider was skipped for its rate limit (the wait
// would outlast the attempt) is retried with reason rate_limited, not
// providers_failed: the providers did not fail.
func TestRateLimitedRetryingSaysSo(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 2)
		provider := &acceptAll{sent: map[string]int{}}
		router, err := notify.NewRouter(notify.RouterConfig{
			Routes:         map[notify.Channel][]notify.Route{notify.SMS: {{Provider: provider, RatePerSecond: 1, Burst: 1}}},
			Now:            p.clock,
			AttemptTimeout: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		dv := &deliver.Deliverer{Store: p.st, Sender: router, Now: p.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Concurrency: 1}
		if _, err := dv.Deliver(p.ctx, p.ids); !errors.Is(err, deliver.ErrRetry) {
			t.Fatalf("want ErrRetry, got %v", err)
		}
		var reasons []string
		rows, err := d.SQL.QueryContext(p.ctx, `SELECT status, reason FROM notifications ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var status, reason string
			if err := rows.Scan(&status, &reason); err != nil {
				t.Fatal(err)
			}
			reasons = append(reasons, status+"/"+reason)
		}
		rows.Close()
		if want := []string{"sent/", "retrying/rate_limited"}; fmt.Sprint(reasons) != fmt.Sprint(want) {
			t.Errorf("notifications %v, want %v", reasons, want)
		}
	})
}

// closingSender is a recorder that, before handing a message over, runs
// close for it: what happens while a send waits for its provider's rate
// limit.
type closingSender struct {
	recorder
	close func(m notify.Message)
}

func (c *closingSender) Send(ctx context.Context, m notify.Message) (notify.Receipt, error) {
	c.close(m)
	return c.recorder.Send(ctx, m)
}

// TestReminderClosedBeforeHandOverIsCancelled: a reminder whose dose is
// taken, or whose plan is paused, after the job claimed it but before it
// is handed to a provider (the wait for the provider's rate limit in the
// 08:00 spike) is cancelled, not sent. Reminders reached the provider up
// to ten seconds after the taking was stored (QA, three workers at
// CONSOLE_RATE=15).
func TestReminderClosedBeforeHandOverIsCancelled(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 3)
		closing := map[string]string{} // notification id → what happens to it
		for i, id := range p.ids[:2] {
			closing[strconv.FormatInt(id, 10)] = []string{"taken", "paused"}[i]
		}
		sender := &closingSender{recorder: recorder{chans: []notify.Channel{notify.SMS}}, close: func(m notify.Message) {
			var q string
			switch closing[m.ID] {
			case "taken":
				q = `UPDATE dose_instances SET status = 'taken_on_time' WHERE id = (SELECT dose_instance_id FROM notifications WHERE id = $1)`
			case "paused":
				q = `UPDATE plans SET status = 'paused' WHERE id = (SELECT d.plan_id FROM notifications n JOIN dose_instances d ON d.id = n.dose_instance_id WHERE n.id = $1)`
			default:
				return
			}
			if _, err := d.SQL.ExecContext(p.ctx, q, m.ID); err != nil {
				t.Error(err)
			}
		}}
		dv := &deliver.Deliverer{Store: p.st, Sender: sender, Now: p.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		res, err := dv.Deliver(p.ctx, p.ids)
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != 1 || res.Ended != 2 || len(sender.sent) != 1 {
			t.Fatalf("Deliver = %+v with %d handed over, want 1 sent and 2 ended", res, len(sender.sent))
		}
		for i, want := range []string{"dose_recorded", "plan_paused"} {
			var status, reason string
			if err := d.SQL.QueryRowContext(p.ctx, `SELECT status, COALESCE(reason, '') FROM notifications WHERE id = $1`, p.ids[i]).Scan(&status, &reason); err != nil {
				t.Fatal(err)
			}
			if status != store.NotificationCancelled || reason != want {
				t.Errorf("notification %d: %s (%s), want cancelled (%s)", p.ids[i], status, reason, want)
			}
		}
	})
}

// TestUnregisteredPushTokenIsForgotten: FCM answering UNREGISTERED (the app
// was uninstalled, its token replaced) clears the patient's push token,
// audited, and the reminder goes on to SMS; the token was kept, and every
// later message went on being refused by FCM.
func TestUnregisteredPushTokenIsForgotten(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		p := newPipeline(t, d, 2)
		fs, dv := pushPipeline(t, p, p.twc)
		token := "fcm-token-" + p.phones[0]
		fs.Unregister(token)
		if _, err := dv.Deliver(p.ctx, p.ids); err != nil {
			t.Fatal(err)
		}
		status, _, channel, _ := notificationOf(t, d, p.ids[0])
		if status != store.NotificationSent || channel != "sms" {
			t.Fatalf("the reminder of the unregistered token: %s on %s, want sent by SMS", status, channel)
		}
		tokens := map[string]string{}
		rows, err := d.SQL.QueryContext(p.ctx, `SELECT phone, push_token FROM patients`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var phone, tok string
			if err := rows.Scan(&phone, &tok); err != nil {
				t.Fatal(err)
			}
			tokens[phone] = tok
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if tokens[p.phones[0]] != "" {
			t.Errorf("the unregistered token is still the patient's")
		}
		if tokens[p.phones[1]] != "fcm-token-"+p.phones[1] {
			t.Errorf("the other patient's token = %q, want it kept", tokens[p.phones[1]])
		}
		var audited int
		if err := d.SQL.QueryRowContext(p.ctx, `SELECT COUNT(*) FROM audit_log WHERE actor_id = 'provider' AND resource_type = 'Patient' AND action = 'U'`).Scan(&audited); err != nil {
			t.Fatal(err)
		}
		if audited != 1 {
			t.Errorf("%d audit records of the cleared token, want 1", audited)
		}
	})
}
