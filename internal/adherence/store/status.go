package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/notify/twilio"
)

// Delivery status: what providers tell us about messages after accepting
// them, through status callbacks (webhooks) and through reconciliation
// (fetching the status of messages whose callbacks went missing).
//
// Every report is kept in notification_status_events, duplicates and
// reports about messages unknown here included. The notification itself
// only moves forward (see RecordDeliveryStatus).

// Status sources.
const (
	StatusSourceCallback  = "callback"
	StatusSourceReconcile = "reconcile"
)

// StatusInput is one delivery status report from a provider.
type StatusInput struct {
	Provider          string // "twilio"
	ProviderMessageID string // the provider's message id (Twilio MessageSid)
	// NotificationID is the notification named by the callback URL's nid
	// parameter; 0 when absent.
	NotificationID int64
	Status         string // the provider's status (Twilio MessageStatus)
	ErrorCode      string // the provider's error code, "" when none
	Source         string // StatusSourceCallback or StatusSourceReconcile
	At             time.Time
}

// StatusResult says what a status report did.
type StatusResult struct {
	// NotificationID is the notification the report is about, 0 when it
	// names no notification known here (the report is kept all the same).
	NotificationID int64
	// Status is the notification's status after the report.
	Status string
	// ProviderStatus is the provider status stored after the report.
	ProviderStatus string
	// Changed is set when the notification's status moved.
	Changed bool
	// Repaired is set when the report filled in the provider message id of
	// a notification that had none (the sender stopped between the
	// provider accepting the message and recording it).
	Repaired bool
}

// Limits on what a report may carry; longer values are refused (they are
// not what a provider sends).
const (
	maxProviderMessageID = 64
	maxProviderStatus    = 32
	maxErrorCode         = 16
)

// ourStatus maps a Twilio message status to a notification status: the
// statuses on the way (accepted, scheduled, queued, sending, sent) all
// mean the provider has the message (sent); delivered and read mean it
// arrived; undelivered and failed are the provider's failures (canceled, a
// scheduled message cancelled at the provider, counts as failed). Other
// statuses (the receiving/received of inbound messages, anything new) map
// to "" and change no notification.
func ourStatus(providerStatus string) string {
	switch providerStatus {
	case twilio.StatusAccepted, twilio.StatusScheduled, twilio.StatusQueued, twilio.StatusSending, twilio.StatusSent:
		return NotificationSent
	case twilio.StatusDelivered, twilio.StatusRead:
		return NotificationDelivered
	case twilio.StatusUndelivered:
		return NotificationUndelivered
	case twilio.StatusFailed, twilio.StatusCanceled:
		return NotificationFailed
	}
	return ""
}

// isProviderFinal reports whether a notification status is one of the
// provider's final answers.
func isProviderFinal(status string) bool {
	return status == NotificationDelivered || status == NotificationUndelivered || status == NotificationFailed
}

// RecordDeliveryStatus stores a provider's status report and applies it to
// its notification, in one transaction.
//
// The notification is the one named by in.NotificationID when its provider
// message id is in.ProviderMessageID or still empty, else the one carrying
// in.ProviderMessageID. An empty provider message id is repaired here: the
// sender stopped between the provider accepting the message and recording
// it (the notification is left in sending, or unknown once the sweep has
// seen it), and the callback — which names the notification in its URL —
// is the proof that the provider has it.
//
// The rule, because callbacks arrive out of order and repeat:
//
//   - The provider status stored on the notification is replaced only by
//     one of higher twilio.StatusRank: it only moves forward, duplicates
//     and late intermediate reports (a sent after delivered) change
//     nothing. Among the final answers Twilio ranks failed < undelivered <
//     delivered < read: evidence that the message arrived outranks a
//     failure (carriers do report delivery after an undelivered receipt),
//     while a failure reported after delivery changes nothing — the
//     message did arrive, so the notification stays delivered.
//   - When the provider status moves, the notification status becomes the
//     mapped status (see ourStatus) if the notification is in a state a
//     provider report may end: not sent yet as far as we know (queued,
//     retrying, sending, unknown — the provider's report proves it was),
//     sent, or one of the provider's final answers (ranked as above). A
//     lost notification yields only to a final answer (a late delivered
//     after we gave up). States decided without the provider (dropped,
//     cancelled, undeliverable) are left alone.
//
// A report about a message unknown here is stored with no notification.
func (s *Store) RecordDeliveryStatus(ctx context.Context, in StatusInput) (StatusResult, error) {
	if in.Provider == "" || in.ProviderMessageID == "" || in.Status == "" {
		return StatusResult{}, errs.Invalid("", "provider, provider message id and status are required")
	}
	if len(in.ProviderMessageID) > maxProviderMessageID || len(in.Status) > maxProviderStatus || len(in.ErrorCode) > maxErrorCode {
		return StatusResult{}, errs.Invalid("", "provider message id, status or error code too long")
	}
	if in.Source != StatusSourceCallback && in.Source != StatusSourceReconcile {
		return StatusResult{}, errs.Invalid("source", "must be callback or reconcile")
	}
	now := s.clock()
	at := now
	if !in.At.IsZero() {
		at = db.UTC(in.At)
	}
	var res StatusResult
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		res = StatusResult{}
		n, err := findStatusTarget(ctx, tx, in)
		if err != nil {
			return err
		}
		var nid any
		if n != nil {
			nid = n.id
			res = applyStatus(n, in)
			if in.ErrorCode == twilioUnsubscribed && in.Provider == "twilio" && res.Changed &&
				(res.Status == NotificationFailed || res.Status == NotificationUndelivered) {
				if err := s.unsubscribedByCallback(ctx, tx, n.id); err != nil {
					return err
				}
			}
			if res.Changed || res.Repaired || res.ProviderStatus != n.providerStatus {
				if _, err := tx.ExecContext(ctx, `UPDATE notifications SET status = $1, provider_status = $2,
						provider = $3, provider_message_id = $4, accepted_at = COALESCE(accepted_at, $5),
						reason = $6, channel = $7, updated_at = $8 WHERE id = $9`,
					res.Status, res.ProviderStatus, in.Provider, in.ProviderMessageID, at,
					n.reasonAfter, n.channelAfter, now, n.id); err != nil {
					return fmt.Errorf("update notification status: %w", err)
				}
			} else {
				// Nothing moved: note only that we heard about it, which
				// spaces out reconciliation (see StuckMessages).
				if _, err := tx.ExecContext(ctx, `UPDATE notifications SET updated_at = $1 WHERE id = $2`, now, n.id); err != nil {
					return fmt.Errorf("update notification status: %w", err)
				}
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO notification_status_events
				(notification_id, provider, provider_message_id, status, error_code, source, received_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			nid, in.Provider, in.ProviderMessageID, in.Status, in.ErrorCode, in.Source, at); err != nil {
			return fmt.Errorf("insert status event: %w", err)
		}
		return nil
	})
	if err != nil {
		return StatusResult{}, fmt.Errorf("record delivery status: %w", err)
	}
	return res, nil
}

// twilioUnsubscribed is Twilio's error code for a number that texted STOP
// to the sending number (or Messaging Service).
const twilioUnsubscribed = "21610"

// unsubscribedByCallback keeps, as the number's opt-out at the provider,
// a 21610 that Twilio reported in a status callback rather than in its
// answer to the send: through a Messaging Service a message is accepted
// (201) and fails afterwards. Recorded as the send's 21610 is (see
// recordUnsubscribed), so no later message tries the number until it
// texts START; it went on trying, each message failing (QA). The caller
// calls it once, when the report first moves the notification. The
// number is the one the notification was addressed to: its reply
// address, else its patient's phone — unless the patient's record changed
// after the message was accepted (the phone may be a new number, which
// must not be opted out for the old one's STOP; a member's record keeps
// no change time, so a member's message is left out), or the number
// texted START since (a callback arriving late must not undo it). An
// opt-in recorded through the API is no START: it counts for its org
// only, and the carrier keeps blocking the number whatever staff record;
// counted, another org's opt-in kept the 21610 from being recorded.
func (s *Store) unsubscribedByCallback(ctx context.Context, tx *db.Tx, id int64) error {
	var (
		address, phone           string
		member                   bool
		accepted, patientUpdated sql.NullTime
		created                  time.Time
	)
	err := tx.QueryRowContext(ctx, `SELECT n.address, n.member_id IS NOT NULL, COALESCE(p.phone, ''), p.updated_at, n.accepted_at, n.created_at
		FROM notifications n LEFT JOIN patients p ON p.id = n.patient_id
		WHERE n.id = $1 AND n.channel IN ('sms', '')`, id).Scan(&address, &member, &phone, &patientUpdated, &accepted, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the number of an unsubscribed message: %w", err)
	}
	sent := created
	if accepted.Valid {
		sent = accepted.Time
	}
	number := address
	if number == "" && !member && !(patientUpdated.Valid && patientUpdated.Time.After(sent)) {
		number = phone
	}
	if number == "" {
		return nil
	}
	var since int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM consent_ledger
		WHERE channel = 'sms' AND address_key = $1 AND action = 'opt_in' AND source = $3 AND recorded_at > $2`,
		AddressKey(consentAddress("sms", number)), sent, ConsentSourceSMSKeyword).Scan(&since); err != nil {
		return fmt.Errorf("read the consent of an unsubscribed message: %w", err)
	}
	if since > 0 {
		return nil
	}
	return s.recordUnsubscribed(ctx, tx, number)
}

// statusTarget is the notification a status report applies to.
type statusTarget struct {
	id                int64
	status            string
	provider          string
	providerMessageID string
	providerStatus    string
	reason, channel   string
	reasonAfter       string
	channelAfter      string
	repair            bool // the provider message id is filled in
}

// findStatusTarget locks and returns the notification in is about, or nil.
func findStatusTarget(ctx context.Context, tx *db.Tx, in StatusInput) (*statusTarget, error) {
	const cols = `SELECT id, status, provider, provider_message_id, provider_status, reason, channel FROM notifications`
	scan := func(row *sql.Row) (*statusTarget, error) {
		var n statusTarget
		err := row.Scan(&n.id, &n.status, &n.provider, &n.providerMessageID, &n.providerStatus, &n.reason, &n.channel)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("find notification of status report: %w", err)
		}
		return &n, nil
	}
	if in.NotificationID > 0 {
		n, err := scan(tx.QueryRowContext(ctx, cols+` WHERE id = $1`+forUpdate(tx.Dialect), in.NotificationID))
		if err != nil {
			return nil, err
		}
		if n != nil && (n.provider == "" || n.provider == in.Provider) {
			switch n.providerMessageID {
			case in.ProviderMessageID:
				return n, nil
			case "":
				n.repair = true
				return n, nil
			}
		}
		// The nid names another message (or none): fall back to the
		// provider's id, which is what the provider vouches for.
	}
	return scan(tx.QueryRowContext(ctx, cols+` WHERE provider_message_id = $1 AND provider = $2 ORDER BY id LIMIT 1`+forUpdate(tx.Dialect),
		in.ProviderMessageID, in.Provider))
}

// applyStatus computes the notification's state after the report (see
// RecordDeliveryStatus for the rule).
func applyStatus(n *statusTarget, in StatusInput) StatusResult {
	res := StatusResult{NotificationID: n.id, Status: n.status, ProviderStatus: n.providerStatus, Repaired: n.repair}
	n.reasonAfter, n.channelAfter = n.reason, n.channel
	if n.repair && n.channel == "" {
		n.channelAfter = "sms"
	}
	if twilio.StatusRank(in.Status) <= twilio.StatusRank(n.providerStatus) {
		return res // not a step forward: a duplicate, a late report, or unknown
	}
	res.ProviderStatus = in.Status
	next := ourStatus(in.Status)
	if next == "" || next == n.status {
		return res
	}
	move := false
	switch n.status {
	case NotificationQueued, NotificationRetrying, NotificationClaimed, NotificationSending, NotificationUnknown, NotificationSent:
		move = true
	case NotificationDelivered, NotificationUndelivered, NotificationFailed:
		// The provider status rank went up, and the final answers are
		// ranked as the provider ranks them: the mapped status follows.
		move = isProviderFinal(next)
	case NotificationLost:
		move = isProviderFinal(next)
	}
	if !move {
		return res
	}
	res.Status, res.Changed = next, true
	switch {
	case (next == NotificationFailed || next == NotificationUndelivered) && in.ErrorCode != "":
		n.reasonAfter = "provider_error:" + in.ErrorCode
	case next == NotificationDelivered || next == NotificationSent:
		// A reason left by an earlier state (unknown, lost, a failure) no
		// longer describes the notification.
		if n.status != NotificationSent {
			n.reasonAfter = ""
		}
	}
	return res
}

// Stuck is a message the provider accepted whose final status has not
// arrived.
type Stuck struct {
	NotificationID    int64
	ProviderMessageID string
	AcceptedAt        time.Time
	// CheckedAt is when we last heard about it (a callback, a fetch, or the
	// send itself).
	CheckedAt time.Time
}

// StuckMessages lists up to limit notifications of provider in status sent,
// accepted more than olderThan before now, that are due for a check, the
// longest unchecked first. Checks back off as a message ages, so a
// destination whose carrier never reports delivery does not cost a fetch
// every olderThan for a whole day: a message accepted less than
// 4×olderThan ago is due every olderThan, then every 4×olderThan until
// 24×olderThan, then every 16×olderThan (with olderThan = 15 min: every
// 15 min in the first hour, hourly until 6 h, then every 4 h). Messages
// accepted 24 h ago or more are always due, so the caller can give up on
// them (MarkLost). Each report recorded for a notification counts as a
// check (RecordDeliveryStatus updates updated_at).
func (s *Store) StuckMessages(ctx context.Context, provider string, olderThan time.Duration, now time.Time, limit int) ([]Stuck, error) {
	if olderThan <= 0 {
		return nil, errs.Invalid("olderThan", "must be positive")
	}
	limit = max(1, min(limit, 1000))
	now = db.UTC(now)
	o := olderThan
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT id, provider_message_id, accepted_at, created_at, updated_at
		FROM notifications
		WHERE status = 'sent' AND provider = $1 AND provider_message_id <> ''
		  AND COALESCE(accepted_at, created_at) <= $2
		  AND (
		        (COALESCE(accepted_at, created_at) > $3 AND updated_at <= $2)
		     OR (COALESCE(accepted_at, created_at) <= $3 AND COALESCE(accepted_at, created_at) > $4 AND updated_at <= $3)
		     OR (COALESCE(accepted_at, created_at) <= $4 AND COALESCE(accepted_at, created_at) > $5 AND updated_at <= $6)
		     OR COALESCE(accepted_at, created_at) <= $5)
		ORDER BY updated_at, id LIMIT $7`,
		provider, now.Add(-o), now.Add(-4*o), now.Add(-24*o), now.Add(-24*time.Hour), now.Add(-16*o), limit)
	if err != nil {
		return nil, fmt.Errorf("list stuck messages: %w", err)
	}
	defer rows.Close()
	var out []Stuck
	for rows.Next() {
		var st Stuck
		var accepted sql.NullTime
		var created time.Time
		if err := rows.Scan(&st.NotificationID, &st.ProviderMessageID, &accepted, &created, &st.CheckedAt); err != nil {
			return nil, fmt.Errorf("list stuck messages: %w", err)
		}
		st.AcceptedAt, st.CheckedAt = created.UTC(), st.CheckedAt.UTC()
		if accepted.Valid {
			st.AcceptedAt = accepted.Time.UTC()
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list stuck messages: %w", err)
	}
	return out, nil
}

// Reasons a notification is marked lost.
const (
	LostNotFound      = "provider_not_found" // the provider has no record of it
	LostNoFinalStatus = "no_final_status"    // no final status 24 h after acceptance
)

// MarkLost marks the notification id lost, if it is still in status sent,
// with reason (a short code, no personal data). It reports whether it
// changed the notification.
func (s *Store) MarkLost(ctx context.Context, id int64, reason string, now time.Time) (bool, error) {
	if strings.TrimSpace(reason) == "" || len(reason) > 64 {
		return false, errs.Invalid("reason", "must be a short code")
	}
	r, err := s.db.SQL.ExecContext(ctx, `UPDATE notifications SET status = 'lost', reason = $1, updated_at = $2
		WHERE id = $3 AND status = 'sent'`, reason, db.UTC(now), id)
	if err != nil {
		return false, fmt.Errorf("mark notification lost: %w", err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("mark notification lost: %w", err)
	}
	return n > 0, nil
}

// ReasonInterruptedBeforeSending is the reason of a notification that
// RequeueClaimed gave back to delivery: the job that claimed it stopped
// before handing it to any provider.
const ReasonInterruptedBeforeSending = "interrupted_before_sending"

// RequeueClaimed moves notifications that have been claimed for more than
// olderThan, and never handed to a provider, back to retrying with a
// delivery job, and returns how many: the job that claimed them stopped
// (its process was killed) before it sent them. A job lives at most a few
// minutes (worker.DeliverWorker's Timeout): a claim older than olderThan
// is one nobody is working on.
func (s *Store) RequeueClaimed(ctx context.Context, olderThan time.Duration, now time.Time) (int, error) {
	if olderThan <= 0 {
		return 0, errs.Invalid("olderThan", "must be positive")
	}
	now = db.UTC(now)
	var ids []int64
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE notifications SET status = 'retrying', reason = $1, updated_at = $2
			WHERE status = 'claimed' AND updated_at <= $3 RETURNING id`, ReasonInterruptedBeforeSending, now, now.Add(-olderThan))
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		return s.enqueueDelivery(ctx, tx, ids, time.Time{})
	})
	if err != nil {
		return 0, fmt.Errorf("requeue interrupted notifications: %w", err)
	}
	return len(ids), nil
}

// MarkUnknownSending moves notifications that have been in status sending
// for more than olderThan to unknown and returns how many: the process
// sending them stopped between handing them to a provider and recording
// the answer, so whether they went out is unknown. They are never sent
// again (a patient must not get a reminder twice); a status callback that
// names one later repairs it (see RecordDeliveryStatus).
func (s *Store) MarkUnknownSending(ctx context.Context, olderThan time.Duration, now time.Time) (int, error) {
	if olderThan <= 0 {
		return 0, errs.Invalid("olderThan", "must be positive")
	}
	now = db.UTC(now)
	r, err := s.db.SQL.ExecContext(ctx, `UPDATE notifications SET status = 'unknown', reason = 'interrupted_while_sending', updated_at = $1
		WHERE status = 'sending' AND updated_at <= $2`, now, now.Add(-olderThan))
	if err != nil {
		return 0, fmt.Errorf("mark interrupted notifications unknown: %w", err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("mark interrupted notifications unknown: %w", err)
	}
	return int(n), nil
}
