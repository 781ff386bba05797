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
// claimed (a delivery job took it) → sending (handed to a provider) →
// sent → delivered / undelivered / failed (the provider's
// terminal answers), or to one of the end states decided here: dropped
// (never sent: quiet hours outlasted the dose window, or its validity
// passed), cancelled (no longer needed: the dose was recorded),
// undeliverable (no channel could reach the person: no address, no
// consent, or every provider refused it for good), unknown (the process
// stopped between handing it to a provider and recording the answer, or a
// provider accepted it with an answer that could not be read; it is never
// sent again) and lost (the provider has no record of it, or it
// never reached a final state). retrying is queued again after every
// provider failed for a reason that may pass, or after the job that
// claimed it stopped before handing it over (store.RequeueClaimed).
const (
	NotificationQueued        = "queued"
	NotificationRetrying      = "retrying"
	NotificationClaimed       = "claimed"
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

	// ReasonValidityPassed is the reason of a notification dropped
	// because its validity passed before it could be sent.
	ReasonValidityPassed = "validity_passed"
	// ReasonAcceptanceUnreadable is the reason of a notification recorded
	// unknown because the provider accepted it (a 2xx) with an answer that
	// could not be read (notify.ErrOutcomeUnknown): it very likely went
	// out, so it is neither retried nor sent through another provider or
	// channel.
	ReasonAcceptanceUnreadable = "acceptance_unreadable"
	// ReasonSettingsUnreadable is the reason of a reminder dropped because
	// its stored settings (reminder policy, the patient's time zone or
	// quiet hours) could not be read.
	ReasonSettingsUnreadable = "settings_unreadable"
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
// delivery jobs, all inside tx. It returns the ids inserted, in the order
// of in. With no JobInserter configured the rows are written without jobs
// (tests of the decisions alone).
//
// The rows go in with one statement per batch, not one per row: the
// morning spike dispatches a thousand reminders per transaction, and on
// PostgreSQL a round trip per row made the dispatcher the bottleneck
// (bench/spike: 200,000 reminders dispatched in 115 s, p99 latency 66 s).
func (s *Store) enqueueNotifications(ctx context.Context, tx *db.Tx, in []NotificationInput) ([]int64, error) {
	if len(in) == 0 {
		return nil, nil
	}
	now := s.clock()
	for i := range in {
		if in[i].Status == "" {
			in[i].Status = NotificationQueued
		}
	}
	var got map[notificationKey]int64
	var err error
	if tx.Dialect == db.Postgres {
		got, err = insertNotificationsPostgres(ctx, tx, in, now)
	} else {
		got, err = insertNotificationsSQLite(ctx, tx, in, now)
	}
	if err != nil {
		return nil, fmt.Errorf("enqueue notification: %w", err)
	}
	var ids, queued []int64
	for i := range in {
		k := notificationKey{in[i].OrgID, in[i].IdempotencyKey}
		id, ok := got[k]
		if !ok {
			continue // the message exists already
		}
		delete(got, k) // a key given twice is one message: the first
		ids = append(ids, id)
		if in[i].Status == NotificationQueued {
			queued = append(queued, id)
		}
	}
	if err := s.enqueueDelivery(ctx, tx, queued, time.Time{}); err != nil {
		return nil, err
	}
	return ids, nil
}

// notificationKey is a notification's idempotency key within its org.
type notificationKey struct{ org, key string }

const notificationInsertColumns = `org_id, idempotency_key, kind, template, patient_id, member_id,
	dose_instance_id, escalation_id, address, channels, urgent, status, reason, due_at, valid_until, level, created_at, updated_at`

// insertNotificationsPostgres inserts in with one statement, the columns
// as parallel arrays expanded by unnest (in order: with ON CONFLICT DO
// NOTHING the first of two equal keys is the one inserted), and returns
// the ids of the rows inserted by key.
func insertNotificationsPostgres(ctx context.Context, tx *db.Tx, in []NotificationInput, now time.Time) (map[notificationKey]int64, error) {
	n := len(in)
	var (
		orgs, keys, kinds, templates   = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		patients, members, escalations = make([]*string, n), make([]*string, n), make([]*string, n)
		doses                          = make([]*int64, n)
		addresses, chans               = make([]string, n), make([]string, n)
		urgent                         = make([]bool, n)
		statuses, reasons              = make([]string, n), make([]string, n)
		due                            = make([]time.Time, n)
		valid                          = make([]*time.Time, n)
		levels                         = make([]int32, n)
	)
	for i := range in {
		x := &in[i]
		orgs[i], keys[i], kinds[i], templates[i] = x.OrgID, x.IdempotencyKey, x.Kind, string(x.Template)
		patients[i], members[i], escalations[i] = optString(x.PatientID), optString(x.MemberID), optString(x.EscalationID)
		if x.DoseInstanceID != 0 {
			doses[i] = &x.DoseInstanceID
		}
		addresses[i], chans[i], urgent[i] = x.Address, joinChannels(x.Channels), x.Urgent
		statuses[i], reasons[i], due[i], levels[i] = x.Status, x.Reason, db.UTC(x.DueAt), int32(x.Level)
		if x.ValidUntil != nil {
			v := db.UTC(*x.ValidUntil)
			valid[i] = &v
		}
	}
	rows, err := tx.QueryContext(ctx, `INSERT INTO notifications (`+notificationInsertColumns+`)
		SELECT u.org_id::uuid, u.key, u.kind, u.template, u.patient_id::uuid, u.member_id::uuid, u.dose_id, u.escalation_id::uuid,
			u.address, u.channels, u.urgent, u.status, u.reason, u.due_at, u.valid_until, u.level, $17, $17
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[],
			$9::text[], $10::text[], $11::boolean[], $12::text[], $13::text[], $14::timestamptz[], $15::timestamptz[], $16::int[])
			AS u (org_id, key, kind, template, patient_id, member_id, dose_id, escalation_id,
				address, channels, urgent, status, reason, due_at, valid_until, level)
		ON CONFLICT (org_id, idempotency_key) DO NOTHING
		RETURNING id, CAST(org_id AS TEXT), idempotency_key`,
		orgs, keys, kinds, templates, patients, members, doses, escalations,
		addresses, chans, urgent, statuses, reasons, due, valid, levels, now)
	if err != nil {
		return nil, err
	}
	return scanInserted(rows, n)
}

// sqliteNotificationRows is how many rows one INSERT carries on SQLite
// (18 parameters each).
const sqliteNotificationRows = 200

// insertNotificationsSQLite inserts in with multi-row INSERTs and returns
// the ids of the rows inserted by key.
func insertNotificationsSQLite(ctx context.Context, tx *db.Tx, in []NotificationInput, now time.Time) (map[notificationKey]int64, error) {
	got := make(map[notificationKey]int64, len(in))
	const cols = 18
	for lo := 0; lo < len(in); lo += sqliteNotificationRows {
		part := in[lo:min(lo+sqliteNotificationRows, len(in))]
		var b strings.Builder
		b.WriteString(`INSERT INTO notifications (` + notificationInsertColumns + `) VALUES `)
		args := make([]any, 0, len(part)*cols)
		for i := range part {
			x := &part[i]
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(db.Placeholders(tx.Dialect, 1, cols))
			args = append(args, x.OrgID, x.IdempotencyKey, x.Kind, string(x.Template), nullString(x.PatientID), nullString(x.MemberID),
				nullInt(x.DoseInstanceID), nullString(x.EscalationID), x.Address, joinChannels(x.Channels), x.Urgent,
				x.Status, x.Reason, db.UTC(x.DueAt), nullTime(x.ValidUntil), x.Level, now, now)
		}
		b.WriteString(` ON CONFLICT (org_id, idempotency_key) DO NOTHING RETURNING id, org_id, idempotency_key`)
		rows, err := tx.QueryContext(ctx, b.String(), args...)
		if err != nil {
			return nil, err
		}
		m, err := scanInserted(rows, len(part))
		if err != nil {
			return nil, err
		}
		for k, id := range m {
			got[k] = id
		}
	}
	return got, nil
}

// scanInserted reads (id, org_id, idempotency_key) rows.
func scanInserted(rows *sql.Rows, n int) (map[notificationKey]int64, error) {
	got := make(map[notificationKey]int64, n)
	for rows.Next() {
		var id int64
		var k notificationKey
		if err := rows.Scan(&id, &k.org, &k.key); err != nil {
			rows.Close()
			return nil, err
		}
		got[k] = id
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, err
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	return got, nil
}

// joinChannels is the stored form of a channel list.
func joinChannels(cs []notify.Channel) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = string(c)
	}
	return strings.Join(parts, ",")
}

// DeliverPriority is the River priority of delivery jobs: one below the
// default (1) of every other job. River fetches by priority first, so the
// periodic jobs that feed deliveries (dispatch_reminders, escalation steps)
// and other housekeeping are never queued behind a backlog of deliveries.
// With one priority, at the morning spike each dispatch run waited for the
// thousands of delivery jobs the previous run had enqueued (bench/spike:
// 30 s between dispatch runs of 16 s).
const DeliverPriority = 2

// enqueueDelivery adds the delivery jobs of ids (deliverBatch per job) to
// tx, to run at at (now when zero).
func (s *Store) enqueueDelivery(ctx context.Context, tx *db.Tx, ids []int64, at time.Time) error {
	if s.Jobs == nil || len(ids) == 0 {
		return nil
	}
	opts := &river.InsertOpts{Priority: DeliverPriority}
	if !at.IsZero() {
		opts.ScheduledAt = at
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
