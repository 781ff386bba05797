// Package deliver sends claimed notifications: for each one it checks that
// it is still wanted (the dose still open, the escalation still open or
// exhausted, the validity period not passed), holds caregiver messages
// during the caregiver's quiet hours, renders the org's template (or the
// built-in one) in the recipient's language with no more PHI than allowed, and
// hands it to the notify.Router channel by channel in the recipient's
// order until one accepts it, or one accepts it with an answer that
// cannot be read (recorded unknown: it is neither retried nor sent on
// another channel). Each notification is claimed once
// (store.ClaimNotifications), so a delivery job that runs twice never
// sends a message twice.
package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// Sender sends one message through the providers of its channel
// (notify.Router). It calls the message's HandOver before handing it to a
// provider, and stops with HandOver's error when it returns one.
type Sender interface {
	Send(ctx context.Context, m notify.Message) (notify.Receipt, error)
	Has(ch notify.Channel) bool
}

// Deliverer delivers notifications.
type Deliverer struct {
	Store  *store.Store
	Sender Sender
	Now    func() time.Time
	Logger *slog.Logger
	// Metrics is optional.
	Metrics *Metrics
	// Concurrency is how many messages of one batch are in flight at once
	// (default 16): provider calls take tens of milliseconds each.
	Concurrency int
	// PublicURL is the public base URL of the API (PUBLIC_URL, without a
	// trailing slash). Escalation messages link to the escalation under it
	// ({{link}} = PublicURL + "/v1/escalations/{id}"); when it is empty they
	// carry no link, and the line that would show it is left out.
	PublicURL string

	// The journal shared by the Deliver calls running now (see journal).
	journalMu    sync.Mutex
	journal      *journal
	journalUsers int
}

// closedError stops the send of a notification no longer wanted when it
// was about to be handed over (store.RecordDeliveryProgress): it is
// cancelled with reason.
type closedError struct{ reason string }

func (e *closedError) Error() string { return "the notification is no longer wanted: " + e.reason }

// Why a notification's HandOver stopped its send.
var (
	errNotOurs     = errors.New("the notification is no longer claimed by this job")
	errMarkFailed  = errors.New("the notification could not be marked sending")
	errInterrupted = errors.New("the delivery job is ending")
)

// ErrRetry is returned (wrapped) when some notifications of a batch could
// not be sent for a reason that may pass (every provider failed); they are
// left in state retrying for the job's next attempt.
var ErrRetry = errors.New("some notifications will be retried")

// Result counts what a Deliver call did.
type Result struct {
	Sent, Retrying, Ended int
}

// Deliver sends the notifications ids that are waiting to be sent.
func (d *Deliverer) Deliver(ctx context.Context, ids []int64) (Result, error) {
	var res Result
	claimed, err := d.Store.ClaimNotifications(ctx, ids)
	if err != nil {
		return res, err
	}
	if len(claimed) == 0 {
		return res, nil
	}
	results := make([]store.DeliveryResult, len(claimed))
	n := d.Concurrency
	if n <= 0 {
		n = 16
	}
	j := d.openJournal(ctx)
	defer d.closeJournal()
	acks := make([]<-chan error, len(claimed))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i := range claimed {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = d.deliverOne(ctx, &claimed[i], j)
			if results[i].Status != "" {
				acks[i] = j.record(results[i])
			}
		}()
	}
	wg.Wait()
	var recordErr error
	for _, ack := range acks {
		if ack == nil {
			continue
		}
		if err := <-ack; err != nil && recordErr == nil {
			recordErr = err
		}
	}
	if recordErr != nil {
		return res, fmt.Errorf("record deliveries: %w", recordErr)
	}
	for i, r := range results {
		switch r.Status {
		case "":
			continue // no longer this job's (see deliverOne)
		case store.NotificationSent:
			res.Sent++
		case store.NotificationRetrying:
			res.Retrying++
		default:
			res.Ended++
		}
		if d.Metrics != nil {
			d.Metrics.observe(&claimed[i], r)
		}
	}
	if res.Retrying > 0 {
		return res, fmt.Errorf("%d of %d: %w", res.Retrying, len(results), ErrRetry)
	}
	return res, nil
}

// deliverOne decides what becomes of dl and sends it, moving it to sending
// through j just before it first hands it to a provider. It returns a
// result with no Status when dl is no longer claimed by this job (nothing
// to record).
func (d *Deliverer) deliverOne(ctx context.Context, dl *store.Delivery, j *journal) store.DeliveryResult {
	now := d.Now()
	r := store.DeliveryResult{ID: dl.ID, Attempt: dl.Attempts}
	end := func(status, reason string) store.DeliveryResult {
		r.Status, r.Reason = status, reason
		return r
	}
	switch {
	case dl.ValidUntil != nil && !now.Before(*dl.ValidUntil):
		return end(store.NotificationDropped, store.ReasonValidityPassed)
	case dl.Kind == store.KindReminder && !dl.DoseOpen:
		return end(store.NotificationCancelled, dl.DoseClosed)
	case dl.Kind == store.KindEscalation && !dl.EscalationOpen:
		return end(store.NotificationCancelled, "escalation_closed")
	case dl.Kind == store.KindEscalation && dl.ToMember && !dl.MemberLinked:
		// The member left the patient's circle of care after the level
		// fired (the message was held for their quiet hours, or retried):
		// they are no longer told about the patient.
		return end(store.NotificationCancelled, "member_unlinked")
	}
	if q, ok := quietHoursOf(dl); ok {
		// Non-urgent messages to caregivers wait for their daytime hours,
		// in the caregiver's own zone (the patient's when they gave none).
		// A reminder is checked against the patient's quiet hours again: a
		// retry after every provider failed may fall inside them. It waits
		// for their end when it is still valid then, else it is dropped.
		if in, until := remind.InQuiet(q, zoneOf(dl), now); in {
			if dl.Kind == store.KindReminder && dl.ValidUntil != nil && !until.Before(*dl.ValidUntil) {
				return end(store.NotificationDropped, "quiet_hours")
			}
			r.Status, r.Reason, r.RetryAt = store.NotificationQueued, "quiet_hours", until
			return r
		}
	}
	var retryable, handed bool
	reason, retryReason := "no_channel", ""
	for _, ch := range dl.Channels {
		to, why := address(dl, ch)
		if why != "" {
			reason = tellingReason(reason, why)
			continue
		}
		if !d.Sender.Has(ch) {
			reason = tellingReason(reason, "channel_not_configured")
			continue
		}
		t := pickTemplate(dl, ch)
		v := dl.Values
		v.Link = d.escalationLink(dl)
		if dl.Template == remind.KindReminder && ch == notify.SMS {
			v.ReplyHint = remind.ReplyHintEN
			if t.Language == "es" {
				v.ReplyHint = remind.ReplyHintES
			}
		}
		subject, body, err := remind.Render(t, v)
		if err != nil {
			reason = tellingReason(reason, "template_error")
			d.Logger.ErrorContext(ctx, "render notification", "notification_id", dl.ID, "template", string(dl.Template), "error", err)
			continue
		}
		m := notify.Message{ID: strconv.FormatInt(dl.ID, 10), Channel: ch, To: to, Subject: subject, Body: body,
			Data: map[string]string{"kind": dl.Kind}}
		if dl.ValidUntil != nil {
			m.ValidUntil = *dl.ValidUntil
		}
		// The notification moves to sending when a provider is about to
		// be given it, after any wait for the provider's rate limit: a
		// process killed while it waited leaves it claimed, to be sent
		// again, not sending, never to be.
		m.HandOver = func() error {
			if handed {
				return nil
			}
			if ctx.Err() != nil {
				// The job is ending (its timeout): do not start a send
				// that could not finish. It is retried with the job.
				return errInterrupted
			}
			if err := j.markSending(store.Claim{ID: dl.ID, Attempt: dl.Attempts}); err != nil {
				return err
			}
			handed = true
			return nil
		}
		rc, err := d.Sender.Send(ctx, m)
		var closed *closedError
		switch {
		case errors.Is(err, errNotOurs):
			return store.DeliveryResult{ID: dl.ID}
		case errors.As(err, &closed):
			return end(store.NotificationCancelled, closed.reason)
		case errors.Is(err, errMarkFailed):
			return end(store.NotificationRetrying, "record_failed")
		case errors.Is(err, errInterrupted):
			return end(store.NotificationRetrying, "interrupted")
		}
		if err == nil {
			at := d.Now()
			r.Status, r.Reason, r.Channel, r.Provider, r.ProviderMessageID, r.ProviderStatus, r.AcceptedAt =
				store.NotificationSent, "", ch, rc.Provider, rc.ProviderID, rc.Status, &at
			return r
		}
		if errors.Is(err, notify.ErrExpired) {
			return end(store.NotificationDropped, store.ReasonValidityPassed)
		}
		if errors.Is(err, notify.ErrOutcomeUnknown) {
			// The provider took the message but its answer could not be
			// read: it very likely went out. Another channel, or a retry,
			// would reach the person twice.
			d.Logger.WarnContext(ctx, "notification outcome unknown", "notification_id", dl.ID, "channel", string(ch), "error", err)
			r.Status, r.Reason, r.Channel, r.Provider = store.NotificationUnknown, store.ReasonAcceptanceUnreadable, ch, providerOf(err)
			return r
		}
		switch {
		case notify.IsRetryable(err) && errors.Is(err, notify.ErrRateLimited) && retryReason != "providers_failed":
			// The channel's last provider was skipped for its rate limit
			// (a wait longer than the attempt allows), not failed: the
			// spike outran TWILIO_RATE, the providers are fine.
			retryable, retryReason = true, "rate_limited"
		case notify.IsRetryable(err):
			retryable, retryReason = true, "providers_failed"
		case errors.Is(err, notify.ErrRedirect):
			// A webhook that redirects is a policy to correct: say so.
			reason = tellingReason(reason, "redirected")
		case errors.Is(err, notify.ErrUnsubscribed) && ch == notify.SMS:
			// The number texted STOP to the provider's number, not to
			// us: kept as its opt-out, so no later message tries it.
			reason = tellingReason(reason, "opted_out")
			r.Unsubscribed = to
		case errors.Is(err, notify.ErrUnregistered) && ch == notify.Push:
			// The app was uninstalled or its token replaced: the token is
			// forgotten, so later messages skip push (no_address) rather
			// than being refused by FCM one by one.
			reason = tellingReason(reason, "push_unregistered")
			r.UnregisteredToken = to
		default:
			reason = tellingReason(reason, "rejected")
		}
		d.Logger.WarnContext(ctx, "notification channel failed", "notification_id", dl.ID, "channel", string(ch), "error", err)
	}
	if retryable {
		// Retried because providers failed (or were rate limited),
		// whatever a later channel reported (no address, no consent).
		return end(store.NotificationRetrying, retryReason)
	}
	return end(store.NotificationUndeliverable, reason)
}

// providerOf is the name of the provider err came from, "" when it names
// none.
func providerOf(err error) string {
	var ne *notify.Error
	if errors.As(err, &ne) {
		return ne.Provider
	}
	return ""
}

// heldInCaregiverQuiet reports whether dl waits out the caregivers' quiet
// hours (remind.DefaultCaregiverHours) instead of going at once: a
// non-urgent escalation message to a caregiver.
func heldInCaregiverQuiet(dl *store.Delivery) bool {
	return dl.Kind == store.KindEscalation && dl.ToMember && dl.MemberKind == adherence.MemberCaregiver && !dl.Urgent
}

// quietHoursOf returns the quiet hours dl must not be sent in, if any: the
// caregivers' for a non-urgent caregiver message, the patient's own for a
// dose reminder.
func quietHoursOf(dl *store.Delivery) (adherence.QuietHours, bool) {
	switch {
	case heldInCaregiverQuiet(dl):
		return remind.DefaultCaregiverHours, true
	case dl.Kind == store.KindReminder && !dl.ToMember && !dl.Urgent:
		return dl.Quiet, dl.Quiet.Set
	}
	return adherence.QuietHours{}, false
}

// zoneOf is the time zone of dl's recipient: a member's own, else the
// patient's (UTC when unknown).
func zoneOf(dl *store.Delivery) *time.Location {
	loc, err := time.LoadLocation(dl.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// sendableAt is when dl could first be sent: its due time, or, for a
// message held through quiet hours (the caregivers', or a retried
// reminder's patient's), the end of the latest quiet period that ended
// after its due time and by at (when it was sent). A deliberate hold is
// not delivery latency.
func sendableAt(dl *store.Delivery, at time.Time) time.Time {
	q, ok := quietHoursOf(dl)
	if !ok {
		return dl.DueAt
	}
	if end := remind.LastQuietEnd(q, zoneOf(dl), at); end.After(dl.DueAt) {
		return end
	}
	return dl.DueAt
}

// escalationLink is the API address of dl's escalation, or "" when dl is
// not about an escalation or no public URL is configured. The escalation
// id is opaque: the link carries no personal data.
func (d *Deliverer) escalationLink(dl *store.Delivery) string {
	if d.PublicURL == "" || dl.EscalationID == "" {
		return ""
	}
	return strings.TrimRight(d.PublicURL, "/") + "/v1/escalations/" + url.PathEscape(dl.EscalationID)
}

// reasonWeight ranks why a channel could not take a message, by how much
// it tells: a provider's refusal or a broken setup over the person's
// consent over a missing address.
var reasonWeight = map[string]int{
	"no_channel": 0, "no_address": 1, "unknown_channel": 1, "no_consent": 2, "opted_out": 2,
	"channel_not_configured": 3, "template_error": 4, "redirected": 4, "rejected": 4, "push_unregistered": 4,
}

// tellingReason returns the reason an undeliverable notification records
// of the one so far and why, the next channel's: the more telling one, or
// the earlier channel's (the preferred one) when they tell as much. The
// last channel's reason alone said "no_address" of a patient with a phone
// who had texted STOP and had no e-mail address.
func tellingReason(so, why string) string {
	if reasonWeight[why] > reasonWeight[so] {
		return why
	}
	return so
}

// address returns where a message on ch goes, or why it cannot go there.
func address(dl *store.Delivery, ch notify.Channel) (to, why string) {
	switch ch {
	case notify.SMS:
		switch {
		case dl.Phone == "":
			return "", "no_address"
		case dl.OptedOut && dl.Template != remind.KindOptOutConfirmation && dl.Template != remind.KindHelp:
			// STOP is honoured at once; its single confirmation still
			// goes, and HELP is always answered (carrier rules). Said
			// before no_consent, which a STOP also sets: the number's
			// opt-out is why (QA: a patient who texted STOP read
			// no_consent, and nothing ever read opted_out).
			return "", "opted_out"
		case !dl.SMSConsent:
			return "", "no_consent"
		}
		return dl.Phone, ""
	case notify.Email:
		switch {
		case dl.Email == "":
			return "", "no_address"
		case dl.EmailOptedOut:
			return "", "opted_out"
		}
		return dl.Email, ""
	case notify.Push:
		if dl.PushToken == "" {
			return "", "no_address"
		}
		return dl.PushToken, ""
	case notify.Webhook:
		if dl.Address == "" {
			return "", "no_address"
		}
		return dl.Address, ""
	}
	return "", "unknown_channel"
}

// pickTemplate returns the org's template for the recipient's language and
// the channel, else the built-in one in that language (titled by the
// escalation's trigger). For a language with no built-in text the org's
// English template comes before the built-in English one. A webhook
// carries the email text.
func pickTemplate(dl *store.Delivery, ch notify.Channel) remind.Template {
	tch := ch
	if ch == notify.Webhook {
		tch = notify.Email
	}
	lang := dl.Language
	if len(lang) > 2 {
		lang = lang[:2]
	}
	builtin := remind.DefaultFor(dl.Template, dl.Trigger, lang, tch)
	wants := []string{lang}
	if builtin.Language != lang {
		// No built-in text in the recipient's language: the org's
		// English text is as close as the built-in English one.
		wants = append(wants, "en")
	}
	for _, want := range wants {
		for _, t := range dl.Overrides {
			if t.Language == want && t.Channel == tch {
				return t
			}
		}
	}
	return builtin
}
