package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/phi"
)

// sid returns a Twilio-shaped message id numbered n.
func sid(n int) string { return fmt.Sprintf("SM%032x", n) }

// sentNotification inserts a notification in status, with the provider
// and message id given, accepted at accepted (not accepted when zero) and
// last updated at updated.
func (f *fixture) sentNotification(status, provider, messageID string, accepted, updated time.Time) int64 {
	f.t.Helper()
	var acc any
	if !accepted.IsZero() {
		acc = accepted
	}
	var id int64
	err := f.d.SQL.QueryRowContext(f.ctx, `INSERT INTO notifications (org_id, idempotency_key, kind, template, channels,
			status, due_at, provider, provider_message_id, accepted_at, created_at, updated_at)
		VALUES ($1, $2, 'reminder', 'reminder', 'sms', $3, $4, $5, $6, $7, $4, $8) RETURNING id`,
		f.org, fmt.Sprintf("test:%d", time.Now().UnixNano()), status, f.now, provider, messageID, acc, updated).Scan(&id)
	if err != nil {
		f.t.Fatalf("insert notification: %v", err)
	}
	return id
}

// notificationState is a notification's delivery columns.
type notificationState struct {
	status, providerStatus, provider, messageID, reason string
	accepted                                            bool
}

func (f *fixture) notificationState(id int64) notificationState {
	f.t.Helper()
	var st notificationState
	var accepted *time.Time
	err := f.d.SQL.QueryRowContext(f.ctx, `SELECT status, provider_status, provider, provider_message_id, reason, accepted_at
		FROM notifications WHERE id = $1`, id).Scan(&st.status, &st.providerStatus, &st.provider, &st.messageID, &st.reason, &accepted)
	if err != nil {
		f.t.Fatalf("read notification: %v", err)
	}
	st.accepted = accepted != nil
	return st
}

// deliveryStatus records a Twilio status report and fails on error.
func (f *fixture) deliveryStatus(nid int64, messageID, status, code string) store.StatusResult {
	f.t.Helper()
	res, err := f.s.RecordDeliveryStatus(f.ctx, store.StatusInput{
		Provider: "twilio", ProviderMessageID: messageID, NotificationID: nid, Status: status, ErrorCode: code,
		Source: store.StatusSourceCallback, At: f.now,
	})
	if err != nil {
		f.t.Fatalf("record delivery status %s: %v", status, err)
	}
	return res
}

func TestDeliveryStatusMonotonic(t *testing.T) {
	cases := []struct {
		name           string
		reports        []string // status or status:code
		status, reason string
		provider       string
	}{
		{name: "in order", reports: []string{"queued", "sent", "delivered"}, status: store.NotificationDelivered, provider: "delivered"},
		{name: "out of order", reports: []string{"delivered", "sent", "queued"}, status: store.NotificationDelivered, provider: "delivered"},
		{name: "duplicates", reports: []string{"sent", "sent", "delivered", "delivered"}, status: store.NotificationDelivered, provider: "delivered"},
		{name: "failed after delivered keeps delivered", reports: []string{"delivered", "failed:30008"}, status: store.NotificationDelivered, provider: "delivered"},
		{name: "delivered after undelivered wins", reports: []string{"undelivered:30003", "delivered"}, status: store.NotificationDelivered, provider: "delivered"},
		{name: "failed", reports: []string{"sent", "failed:30008"}, status: store.NotificationFailed, reason: "provider_error:30008", provider: "failed"},
		{name: "sent after failed", reports: []string{"failed:30008", "sent"}, status: store.NotificationFailed, reason: "provider_error:30008", provider: "failed"},
		{name: "undelivered", reports: []string{"undelivered:30003"}, status: store.NotificationUndelivered, reason: "provider_error:30003", provider: "undelivered"},
		{name: "read", reports: []string{"read", "delivered"}, status: store.NotificationDelivered, provider: "read"},
		{name: "intermediate only", reports: []string{"accepted", "queued"}, status: store.NotificationSent, provider: "queued"},
		{name: "an unknown status changes nothing", reports: []string{"bogus"}, status: store.NotificationSent, provider: ""},
	}
	each(t, func(t *testing.T, f *fixture) {
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				msg := sid(100 + i)
				id := f.sentNotification(store.NotificationSent, "twilio", msg, f.now, f.now)
				for _, r := range c.reports {
					status, code, _ := strings.Cut(r, ":")
					f.deliveryStatus(id, msg, status, code)
				}
				got := f.notificationState(id)
				if got.status != c.status || got.reason != c.reason || got.providerStatus != c.provider {
					t.Errorf("after %v: status %q reason %q provider status %q, want %q %q %q",
						c.reports, got.status, got.reason, got.providerStatus, c.status, c.reason, c.provider)
				}
				if n := f.count(`SELECT COUNT(*) FROM notification_status_events WHERE notification_id = $1`, id); n != len(c.reports) {
					t.Errorf("status events = %d, want every report (%d)", n, len(c.reports))
				}
			})
		}
	})
}

func TestDeliveryStatusLookupByMessageID(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		id := f.sentNotification(store.NotificationSent, "twilio", sid(1), f.now, f.now)
		// No nid (a callback URL without it): found by the message id.
		res := f.deliveryStatus(0, sid(1), "delivered", "")
		if res.NotificationID != id || !res.Changed || res.Status != store.NotificationDelivered {
			t.Fatalf("result = %+v", res)
		}
		// A nid naming another message does not move that one.
		other := f.sentNotification(store.NotificationSent, "twilio", sid(2), f.now, f.now)
		res = f.deliveryStatus(other, sid(3), "delivered", "")
		if res.NotificationID != 0 {
			t.Fatalf("a report for message 3 was applied to notification %d", res.NotificationID)
		}
		if st := f.notificationState(other); st.status != store.NotificationSent || st.messageID != sid(2) {
			t.Fatalf("the other notification changed: %+v", st)
		}
	})
}

func TestDeliveryStatusUnknownMessageIsKept(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		for range 2 {
			res := f.deliveryStatus(0, sid(9), "delivered", "")
			if res.NotificationID != 0 || res.Changed {
				t.Fatalf("result = %+v", res)
			}
		}
		if n := f.count(`SELECT COUNT(*) FROM notification_status_events WHERE provider_message_id = $1 AND notification_id IS NULL`, sid(9)); n != 2 {
			t.Fatalf("stored %d reports of the unknown message, want 2", n)
		}
	})
}

func TestDeliveryStatusInvalid(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		for _, in := range []store.StatusInput{
			{Provider: "twilio", Status: "sent", Source: store.StatusSourceCallback},
			{Provider: "twilio", ProviderMessageID: sid(1), Source: store.StatusSourceCallback},
			{Provider: "twilio", ProviderMessageID: sid(1), Status: "sent", Source: "push"},
			{Provider: "twilio", ProviderMessageID: sid(1) + sid(2), Status: "sent", Source: store.StatusSourceCallback},
		} {
			if _, err := f.s.RecordDeliveryStatus(f.ctx, in); err == nil {
				t.Errorf("%+v accepted", in)
			}
		}
		if n := f.count(`SELECT COUNT(*) FROM notification_status_events`); n != 0 {
			t.Fatalf("%d events stored from invalid reports", n)
		}
	})
}

// A process killed after Twilio accepted a message but before recording
// it leaves the notification in sending with no message id; the callback,
// which names the notification in its URL, repairs it — also after the
// sweep moved it to unknown.
func TestDeliveryStatusRepairsInterruptedSend(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		id := f.sentNotification(store.NotificationSending, "", "", time.Time{}, f.now)
		res := f.deliveryStatus(id, sid(5), "sent", "")
		if !res.Repaired || !res.Changed || res.Status != store.NotificationSent {
			t.Fatalf("result = %+v", res)
		}
		st := f.notificationState(id)
		if st.status != store.NotificationSent || st.messageID != sid(5) || st.provider != "twilio" || !st.accepted {
			t.Fatalf("after the callback: %+v", st)
		}
		// Later reports find it by message id.
		f.deliveryStatus(0, sid(5), "delivered", "")
		if st := f.notificationState(id); st.status != store.NotificationDelivered {
			t.Fatalf("after delivered: %+v", st)
		}

		// The sweep ran first: unknown, then the callback arrives.
		id2 := f.sentNotification(store.NotificationSending, "", "", time.Time{}, f.now)
		f.now = f.now.Add(11 * time.Minute)
		if n, err := f.s.MarkUnknownSending(f.ctx, 10*time.Minute, f.now); err != nil || n != 1 {
			t.Fatalf("mark unknown = %d, %v", n, err)
		}
		if st := f.notificationState(id2); st.status != store.NotificationUnknown {
			t.Fatalf("after the sweep: %+v", st)
		}
		f.deliveryStatus(id2, sid(6), "delivered", "")
		if st := f.notificationState(id2); st.status != store.NotificationDelivered || st.messageID != sid(6) || st.reason != "" {
			t.Fatalf("after the late callback: %+v", st)
		}
	})
}

func TestMarkUnknownSending(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		old := f.sentNotification(store.NotificationSending, "", "", time.Time{}, f.now.Add(-11*time.Minute))
		recent := f.sentNotification(store.NotificationSending, "", "", time.Time{}, f.now.Add(-5*time.Minute))
		sent := f.sentNotification(store.NotificationSent, "twilio", sid(1), f.now.Add(-time.Hour), f.now.Add(-time.Hour))
		n, err := f.s.MarkUnknownSending(f.ctx, 10*time.Minute, f.now)
		if err != nil || n != 1 {
			t.Fatalf("MarkUnknownSending = %d, %v; want 1", n, err)
		}
		for id, want := range map[int64]string{old: store.NotificationUnknown, recent: store.NotificationSending, sent: store.NotificationSent} {
			if got := f.notificationState(id).status; got != want {
				t.Errorf("notification %d: %s, want %s", id, got, want)
			}
		}
	})
}

// A claimed notification that was never handed to a provider goes back to
// delivery once its claim is older than the job that took it can live; one
// in sending, or claimed recently, stays.
func TestRequeueClaimed(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		old := f.sentNotification(store.NotificationClaimed, "", "", time.Time{}, f.now.Add(-4*time.Minute))
		recent := f.sentNotification(store.NotificationClaimed, "", "", time.Time{}, f.now.Add(-time.Minute))
		sending := f.sentNotification(store.NotificationSending, "", "", time.Time{}, f.now.Add(-4*time.Minute))
		n, err := f.s.RequeueClaimed(f.ctx, 3*time.Minute, f.now)
		if err != nil || n != 1 {
			t.Fatalf("RequeueClaimed = %d, %v; want 1", n, err)
		}
		for id, want := range map[int64]string{old: store.NotificationRetrying, recent: store.NotificationClaimed, sending: store.NotificationSending} {
			if got := f.notificationState(id).status; got != want {
				t.Errorf("notification %d: %s, want %s", id, got, want)
			}
		}
		if got := f.notificationState(old).reason; got != store.ReasonInterruptedBeforeSending {
			t.Errorf("requeued notification's reason = %q", got)
		}
		// Claimed again, it no longer says why it was given back.
		if got, err := f.s.ClaimNotifications(f.ctx, []int64{old}); err != nil || len(got) != 1 {
			t.Fatalf("ClaimNotifications = %d, %v", len(got), err)
		}
		if st := f.notificationState(old); st.status != store.NotificationClaimed || st.reason != "" {
			t.Errorf("claimed again: %+v, want claimed with no reason", st)
		}
	})
}

// Progress is written for the claim it names: a job whose claim was given
// back (RequeueClaimed) and taken by another job with the next attempt may
// neither move the notification to sending nor set its outcome.
func TestDeliveryProgressIsTheClaimsOwn(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		id := f.sentNotification(store.NotificationClaimed, "", "", time.Time{}, f.now)
		// A reply (to a number) is always wanted: this test is about whose
		// claim it is (a reminder of no dose is not wanted any more).
		if _, err := f.d.SQL.ExecContext(f.ctx, `UPDATE notifications SET attempts = 2, kind = 'reply' WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		started, _, err := f.s.RecordDeliveryProgress(f.ctx, nil, []store.Claim{{ID: id, Attempt: 1}})
		if err != nil || started[id] {
			t.Fatalf("an earlier claim moved to sending: %v, %v", started, err)
		}
		stale := store.DeliveryResult{ID: id, Attempt: 1, Status: store.NotificationCancelled, Reason: "dose_recorded"}
		if _, _, err := f.s.RecordDeliveryProgress(f.ctx, []store.DeliveryResult{stale}, nil); err != nil {
			t.Fatal(err)
		}
		if st := f.notificationState(id); st.status != store.NotificationClaimed {
			t.Fatalf("an earlier claim's outcome was recorded: %+v", st)
		}
		started, _, err = f.s.RecordDeliveryProgress(f.ctx, nil, []store.Claim{{ID: id, Attempt: 2}})
		if err != nil || !started[id] {
			t.Fatalf("the claim's own job could not move it to sending: %v, %v", started, err)
		}
		if st := f.notificationState(id); st.status != store.NotificationSending {
			t.Fatalf("after the mark: %+v", st)
		}
		at := f.now
		sent := store.DeliveryResult{ID: id, Attempt: 2, Status: store.NotificationSent, Channel: "sms", Provider: "twilio",
			ProviderMessageID: sid(9), ProviderStatus: "queued", AcceptedAt: &at}
		if _, _, err := f.s.RecordDeliveryProgress(f.ctx, []store.DeliveryResult{sent}, nil); err != nil {
			t.Fatal(err)
		}
		if st := f.notificationState(id); st.status != store.NotificationSent || st.messageID != sid(9) {
			t.Fatalf("after the outcome: %+v", st)
		}
	})
}

func TestStuckMessagesAndMarkLost(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		now := f.now
		ago := func(d time.Duration) time.Time { return now.Add(-d) }
		due := []int64{
			f.sentNotification(store.NotificationSent, "twilio", sid(1), ago(20*time.Minute), ago(20*time.Minute)),
			f.sentNotification(store.NotificationSent, "twilio", sid(2), ago(2*time.Hour), ago(61*time.Minute)),  // hourly tier
			f.sentNotification(store.NotificationSent, "twilio", sid(3), ago(8*time.Hour), ago(5*time.Hour)),     // 4-hourly tier
			f.sentNotification(store.NotificationSent, "twilio", sid(4), ago(25*time.Hour), ago(10*time.Minute)), // past 24 h: always
		}
		notDue := []int64{
			f.sentNotification(store.NotificationSent, "twilio", sid(10), ago(5*time.Minute), ago(5*time.Minute)),  // too young
			f.sentNotification(store.NotificationSent, "twilio", sid(11), ago(20*time.Minute), ago(5*time.Minute)), // checked recently
			f.sentNotification(store.NotificationSent, "twilio", sid(12), ago(2*time.Hour), ago(30*time.Minute)),   // hourly tier
			f.sentNotification(store.NotificationSent, "twilio", sid(13), ago(8*time.Hour), ago(3*time.Hour)),      // 4-hourly tier
			f.sentNotification(store.NotificationDelivered, "twilio", sid(14), ago(time.Hour), ago(time.Hour)),     // final
			f.sentNotification(store.NotificationSent, "sns", sid(15), ago(time.Hour), ago(time.Hour)),             // other provider
			f.sentNotification(store.NotificationSending, "", "", time.Time{}, ago(time.Hour)),                     // no message id
			f.sentNotification(store.NotificationSent, "twilio", "", ago(time.Hour), ago(time.Hour)),               // no message id
		}
		got, err := f.s.StuckMessages(f.ctx, "twilio", 15*time.Minute, now, 100)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[int64]bool{}
		for _, st := range got {
			ids[st.NotificationID] = true
			if st.ProviderMessageID == "" || st.AcceptedAt.IsZero() {
				t.Errorf("incomplete: %+v", st)
			}
		}
		if len(got) != len(due) {
			t.Errorf("stuck = %+v, want the %d due ones", got, len(due))
		}
		for _, id := range due {
			if !ids[id] {
				t.Errorf("notification %d is due for a check but not listed", id)
			}
		}
		if got[0].NotificationID != due[2] {
			t.Errorf("first listed = %d, want the longest unchecked (%d)", got[0].NotificationID, due[2])
		}
		// A report counts as a check: listed again only after the interval.
		f.deliveryStatus(0, sid(1), "sent", "")
		got, _ = f.s.StuckMessages(f.ctx, "twilio", 15*time.Minute, now, 100)
		for _, st := range got {
			if st.NotificationID == due[0] {
				t.Error("listed again right after a check")
			}
		}
		if lim, _ := f.s.StuckMessages(f.ctx, "twilio", 15*time.Minute, now, 1); len(lim) != 1 {
			t.Errorf("limit 1 listed %d", len(lim))
		}

		ok, err := f.s.MarkLost(f.ctx, due[3], store.LostNoFinalStatus, now)
		if err != nil || !ok {
			t.Fatalf("MarkLost = %v, %v", ok, err)
		}
		if st := f.notificationState(due[3]); st.status != store.NotificationLost || st.reason != store.LostNoFinalStatus {
			t.Fatalf("after MarkLost: %+v", st)
		}
		if ok, _ := f.s.MarkLost(f.ctx, due[3], store.LostNoFinalStatus, now); ok {
			t.Error("MarkLost twice changed it twice")
		}
		if ok, _ := f.s.MarkLost(f.ctx, notDue[4], store.LostNotFound, now); ok {
			t.Error("MarkLost changed a delivered notification")
		}
		// A late sent does not revive a lost message; a late delivered does.
		f.deliveryStatus(0, sid(4), "sent", "")
		if st := f.notificationState(due[3]); st.status != store.NotificationLost {
			t.Fatalf("a late sent revived a lost notification: %+v", st)
		}
		f.deliveryStatus(0, sid(4), "delivered", "")
		if st := f.notificationState(due[3]); st.status != store.NotificationDelivered {
			t.Fatalf("a late delivered did not apply to a lost notification: %+v", st)
		}
	})
}

// A Twilio callback can arrive while the delivery job is still sending:
// Twilio accepted the message but the call timed out on our side, and the
// job goes on to another provider or gives up. The job's outcome then
// only fills in what is missing; it does not rewrite the provider, channel
// and reason of the message the callback vouched for.
func TestDeliveryOutcomeAfterCallbackKeepsTheCallbacksProvider(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		for _, tc := range []struct {
			name    string
			outcome store.DeliveryResult
		}{
			{"every provider failed", store.DeliveryResult{Status: store.NotificationRetrying, Reason: "providers_failed", Channel: "sms"}},
			{"the fallback accepted it", store.DeliveryResult{Status: store.NotificationSent, Channel: "sms", Provider: "sns",
				ProviderMessageID: "sns-1", ProviderStatus: "accepted"}},
		} {
			id := f.sentNotification(store.NotificationSending, "", "", time.Time{}, f.now)
			f.deliveryStatus(id, sid(int(id)), "sent", "")
			out := tc.outcome
			out.ID = id
			if out.Status == store.NotificationSent {
				at := f.now
				out.AcceptedAt = &at
			}
			if _, _, err := f.s.RecordDeliveryProgress(f.ctx, []store.DeliveryResult{out}, nil); err != nil {
				t.Fatal(err)
			}
			st := f.notificationState(id)
			if st.status != store.NotificationSent || st.provider != "twilio" || st.messageID != sid(int(id)) || st.reason != "" {
				t.Errorf("%s: %+v, want sent through twilio as the callback said", tc.name, st)
			}
		}
	})
}

// TestCallback21610KeepsTheOptOut: through a Messaging Service Twilio
// accepts a message to a number that texted STOP to it and reports error
// 21610 in the status callback. The number is kept as opted out at the
// provider, as a 21610 answer to the send is, so no later message tries
// it; the callback changed only the notification, and every later
// message was tried and failed the same way. Another error code keeps
// nothing.
func TestCallback21610KeepsTheOptOut(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p, _, dose := f.remindedDose()
		number := p.Phone.Reveal()
		var id int64
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT id FROM notifications WHERE dose_instance_id = $1`, dose.ID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		f.exec(`UPDATE notifications SET provider = 'twilio', provider_message_id = $1, channel = 'sms' WHERE id = $2`, sid(7), id)
		f.deliveryStatus(id, sid(7), "failed", "30008")
		if out, err := f.s.OptedOut(f.ctx, f.org, "sms", number); err != nil || out {
			t.Fatalf("OptedOut after a 30008 = %v, %v; want false", out, err)
		}
		f.deliveryStatus(id, sid(7), "undelivered", "21610")
		if out, err := f.s.OptedOut(f.ctx, f.org, "sms", number); err != nil || !out {
			t.Fatalf("OptedOut after a 21610 callback = %v, %v; want true", out, err)
		}
		// A repeated callback adds no second ledger row.
		f.deliveryStatus(id, sid(7), "undelivered", "21610")
		if n := f.count(`SELECT COUNT(*) FROM consent_ledger WHERE action = 'opt_out'`); n != 1 {
			t.Errorf("%d opt-out ledger rows, want 1", n)
		}
		// The number texts START; the same callback, repeated or late,
		// does not opt it out again (QA re-test: it did).
		f.now = f.now.Add(5 * time.Minute)
		if res := f.text(1, number, "START"); res.Result != store.InboundOptedIn {
			t.Fatalf("START = %+v", res)
		}
		f.now = f.now.Add(time.Minute)
		f.deliveryStatus(id, sid(7), "undelivered", "21610")
		if out, err := f.s.OptedOut(f.ctx, f.org, "sms", number); err != nil || out {
			t.Fatalf("OptedOut after START and a repeated callback = %v, %v; want false", out, err)
		}
	})
}

// TestCallback21610AfterAnAPIOptIn: an opt-in recorded through the API
// after the message was accepted, by another org for its own patient of
// the number, is no START the number texted: the 21610 callback still
// keeps the number opted out (it counted as one, and the number went on
// being tried).
func TestCallback21610AfterAnAPIOptIn(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p, _, dose := f.remindedDose()
		number := p.Phone.Reveal()
		var id int64
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT id FROM notifications WHERE dose_instance_id = $1`, dose.ID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		f.exec(`UPDATE notifications SET provider = 'twilio', provider_message_id = $1, channel = 'sms', accepted_at = $2 WHERE id = $3`, sid(9), f.now, id)
		orgB, actorB := f.otherOrg()
		other := adherence.Patient{OrgID: orgB, GivenName: phi.New("Bo"), Phone: phi.New(number), TimeZone: "UTC", Language: "en", SMSConsent: true}
		if err := f.s.CreatePatient(f.ctx, actorB, &other); err != nil {
			t.Fatal(err)
		}
		for _, action := range []string{store.ConsentOptOut, store.ConsentOptIn} {
			f.now = f.now.Add(time.Minute)
			if err := f.s.RecordConsent(f.ctx, store.ConsentInput{OrgID: orgB, PatientID: other.ID, Channel: "sms", Address: number,
				Action: action, Source: store.ConsentSourceAPI, Actor: actorB}); err != nil {
				t.Fatal(err)
			}
		}
		f.now = f.now.Add(time.Minute)
		f.deliveryStatus(id, sid(9), "undelivered", "21610")
		if out, err := f.s.OptedOut(f.ctx, f.org, "sms", number); err != nil || !out {
			t.Fatalf("OptedOut after the 21610 callback = %v, %v; want true: another org's API opt-in is no START", out, err)
		}
	})
}

// TestCallback21610AfterAPhoneChange: a 21610 callback about a reminder
// whose patient has changed phone since the message was accepted opts out
// neither number: the patient's phone now is another number (QA re-test:
// the new number was opted out for the old one's STOP).
func TestCallback21610AfterAPhoneChange(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p, _, dose := f.remindedDose()
		var id int64
		if err := f.d.SQL.QueryRowContext(f.ctx, `SELECT id FROM notifications WHERE dose_instance_id = $1`, dose.ID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		f.exec(`UPDATE notifications SET provider = 'twilio', provider_message_id = $1, channel = 'sms', accepted_at = $2 WHERE id = $3`, sid(8), f.now, id)
		f.now = f.now.Add(time.Minute)
		p.Phone = phi.New("+15559990000")
		if err := f.s.UpdatePatient(f.ctx, f.actor, &p, p.Version); err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(time.Minute)
		f.deliveryStatus(id, sid(8), "undelivered", "21610")
		if out, err := f.s.OptedOut(f.ctx, f.org, "sms", "+15559990000"); err != nil || out {
			t.Fatalf("the new number after the old one's 21610 callback: opted out %v, %v; want not", out, err)
		}
	})
}
