package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// JobInserter enqueues River jobs inside a store transaction, so a job
// exists if and only if the change that caused it commits
// (jobs.Client.InsertManyTx).
type JobInserter interface {
	InsertManyTx(ctx context.Context, tx *db.Tx, params []river.InsertManyParams) error
}

// Notification states. A notification only moves forward: queued →
// sending → sent → delivered / undelivered / failed (the provider's
// terminal answers), or to one of the end states decided here: dropped
// (never sent: quiet hours outlasted the dose window, or its validity
// passed), cancelled (no longer needed: the dose was recorded),
// undeliverable (no channel could reach the person: no address, no
// consent, or every provider refused it for good), unknown (the process
// stopped between handing it to a provider and recording the answer; it
// is never sent again) and lost (the provider has no record of it, or it
// never reached a final state). retrying is queued again after every
// provider failed for a reason that may pass.
const (
	NotificationQueued        = "queued"
	NotificationRetrying      = "retrying"
	NotificationSending       = "sending"
	NotificationSent          = "sent"
	NotificationDelivered     = "delivered"
	NotificationUndelivered   = "undelivered"
	NotificationFailed        = "failed"
	NotificationDropped       = "dropped"
	NotificationCancelled     = "cancelled"
	NotificationUndeliverable = "undeliverable"
	NotificationUnknown       = "unknown"
	NotificationLost          = "lost"
)

// Notification kinds.
const (
	KindReminder   = "reminder"
	KindEscalation = "escalation"
	KindReply      = "reply"
)

// NotificationInput is one logical message to enqueue.
type NotificationInput struct {
	OrgID string
	// IdempotencyKey is unique per org: an input whose key exists already
	// is skipped, so a logical message is never created twice.
	IdempotencyKey string
	Kind           string      // KindReminder, KindEscalation, KindReply
	Template       remind.Kind // what the message says
	PatientID      string      // the patient it is about
	MemberID       string      // the recipient when a member; "" = the patient (or Address)
	DoseInstanceID int64
	EscalationID   string
	Level          int    // escalation level, for the template
	Address        string // explicit recipient: a webhook URL, or the number a reply goes to
	// Channels are tried in order until one accepts the message.
	Channels []notify.Channel
	// Urgent messages ignore the recipient's quiet hours.
	Urgent     bool
	DueAt      time.Time
	ValidUntil *time.Time
	// Status is the initial state: NotificationQueued (default) or, to
	// record a message that will not be sent, NotificationDropped.
	Status string
	Reason string
}

// deliverBatch is how many notifications one delivery job carries.
const deliverBatch = 50

// enqueueNotifications inserts the notification rows of in (skipping
// idempotency keys that already exist) and, for the queued ones, the River
// delivery jobs, all inside tx. It returns the ids inserted. With no
// JobInserter configured the rows are written without jobs (tests of the
// decisions alone).
func (s *Store) enqueueNotifications(ctx context.Context, tx *db.Tx, in []NotificationInput) ([]int64, error) {
	if len(in) == 0 {
		return nil, nil
	}
	now := s.clock()
	var ids, queued []int64
	for i := range in {
		n := &in[i]
		if n.Status == "" {
			n.Status = NotificationQueued
		}
		chans := make([]string, len(n.Channels))
		for j, c := range n.Channels {
			chans[j] = string(c)
		}
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO notifications (org_id, idempotency_key, kind, template, patient_id, member_id,
				dose_instance_id, escalation_id, address, channels, urgent, status, reason, due_at, valid_until, level, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)
			ON CONFLICT (org_id, idempotency_key) DO NOTHING RETURNING id`,
			n.OrgID, n.IdempotencyKey, n.Kind, string(n.Template), nullString(n.PatientID), nullString(n.MemberID),
			nullInt(n.DoseInstanceID), nullString(n.EscalationID), n.Address, strings.Join(chans, ","), n.Urgent,
			n.Status, n.Reason, db.UTC(n.DueAt), nullTime(n.ValidUntil), n.Level, now).Scan(&id)
		if err == sql.ErrNoRows {
			continue // the message exists already
		}
		if err != nil {
			return nil, fmt.Errorf("enqueue notification: %w", err)
		}
		ids = append(ids, id)
		if n.Status == NotificationQueued {
			queued = append(queued, id)
		}
	}
	if err := s.enqueueDelivery(ctx, tx, queued, time.Time{}); err != nil {
		return nil, err
	}
	return ids, nil
}

// enqueueDelivery adds the delivery jobs of ids (deliverBatch per job) to
// tx, to run at at (now when zero).
func (s *Store) enqueueDelivery(ctx context.Context, tx *db.Tx, ids []int64, at time.Time) error {
	if s.Jobs == nil || len(ids) == 0 {
		return nil
	}
	var opts *river.InsertOpts
	if !at.IsZero() {
		opts = &river.InsertOpts{ScheduledAt: at}
	}
	params := make([]river.InsertManyParams, 0, (len(ids)+deliverBatch-1)/deliverBatch)
	for len(ids) > 0 {
		part := ids[:min(deliverBatch, len(ids))]
		ids = ids[len(part):]
		params = append(params, river.InsertManyParams{Args: adherence.DeliverArgs{IDs: part}, InsertOpts: opts})
	}
	return s.Jobs.InsertManyTx(ctx, tx, params)
}

// channelsOf parses a stored channel list.
func channelsOf(s string) []notify.Channel {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	out := make([]notify.Channel, len(parts))
	for i, p := range parts {
		out[i] = notify.Channel(p)
	}
	return out
}
