package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// Delivery is a claimed notification with everything needed to render and
// send it. Contact details are revealed values: keep them out of logs.
type Delivery struct {
	ID             int64
	OrgID          string
	Kind           string
	Template       remind.Kind
	Channels       []notify.Channel
	Urgent         bool
	DueAt          time.Time
	ValidUntil     *time.Time
	Attempts       int
	Level          int
	PatientID      string
	MemberID       string
	EscalationID   string
	DoseInstanceID int64
	Address        string // explicit recipient (reply number, webhook URL)
	// Trigger is the trigger kind of an escalation message's policy (""
	// for other messages): it picks the title of the built-in texts.
	Trigger adherence.TriggerKind

	// Still wanted: a reminder's dose has no outcome yet (and its plan and
	// patient are active); an escalation message's escalation is open or
	// exhausted (nobody acknowledged it and nothing resolved it: its last
	// level's messages still go when a new miss exhausted it).
	DoseOpen       bool
	EscalationOpen bool
	// DoseClosed says why a reminder's dose no longer wants it, when it
	// does not: patient_deactivated, plan_paused, plan_stopped,
	// dose_excluded, or dose_recorded (the dose has an outcome).
	DoseClosed string
	// MemberLinked says a message to a member is to one still in the
	// patient's circle of care (linked to the patient); false for
	// messages to no member.
	MemberLinked bool

	// The recipient.
	ToMember   bool
	MemberKind adherence.MemberKind
	Phone      string
	Email      string
	PushToken  string
	Language   string
	TimeZone   string // the recipient's: a member's own zone, else the patient's
	Quiet      adherence.QuietHours
	// SMSConsent is the patient's consent to texts (members: true); the
	// consent ledger's opt-outs are in OptedOut (the number) and
	// EmailOptedOut (the email address).
	SMSConsent    bool
	OptedOut      bool
	EmailOptedOut bool

	Values    remind.Values
	Overrides []remind.Template // the org's own templates of this kind
}

// AddressKey is the consent ledger's key of an address: the hex SHA-256 of
// it, so the ledger is searchable by number without keeping numbers.
func AddressKey(address string) string {
	sum := sha256.Sum256([]byte(address))
	return hex.EncodeToString(sum[:])
}

// ClaimNotifications moves the notifications ids that are queued or
// retrying to claimed (one more attempt) and returns them with their
// recipients; ids in any other state are skipped, so a delivery job that
// runs twice sends nothing twice. A claimed notification moves to sending
// only when it is about to be handed to a provider (see
// RecordDeliveryProgress), so a job that dies mid-batch leaves the ones it
// never handed over claimed, and RequeueClaimed sends them again; one left
// in sending is never claimed again (see MarkUnknownSending).
func (s *Store) ClaimNotifications(ctx context.Context, ids []int64) ([]Delivery, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	now := s.clock()
	var out []Delivery
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		args := []any{now}
		for _, id := range ids {
			args = append(args, id)
		}
		rows, err := tx.QueryContext(ctx, `UPDATE notifications SET status = 'claimed', reason = '', attempts = attempts + 1, updated_at = $1
			WHERE status IN ('queued', 'retrying') AND id IN `+db.Placeholders(tx.Dialect, 2, len(ids))+` RETURNING id`, args...)
		if err != nil {
			return fmt.Errorf("claim notifications: %w", err)
		}
		var claimed []any
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("claim notifications: %w", err)
			}
			claimed = append(claimed, id)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("claim notifications: %w", err)
		}
		if len(claimed) == 0 {
			return nil
		}
		out, err = s.loadDeliveries(ctx, tx, claimed)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) loadDeliveries(ctx context.Context, tx *db.Tx, ids []any) ([]Delivery, error) {
	rows, err := tx.QueryContext(ctx, `SELECT n.id, n.org_id, n.kind, n.template, n.channels, n.urgent, n.due_at, n.valid_until,
			n.attempts, n.level, COALESCE(CAST(n.patient_id AS TEXT), ''), COALESCE(CAST(n.member_id AS TEXT), ''), COALESCE(CAST(n.escalation_id AS TEXT), ''),
			COALESCE(n.dose_instance_id, 0), n.address,
			COALESCE(d.status, ''), COALESCE(d.local_time, ''), d.due_at, COALESCE(pl.status, ''), COALESCE(pl.rxnorm_display, ''), COALESCE(e.status, ''),
			COALESCE(pa.given_name, ''), COALESCE(pa.family_name, ''), COALESCE(pa.phone, ''), COALESCE(pa.email, ''),
			COALESCE(pa.push_token, ''), COALESCE(pa.language, 'en'), COALESCE(pa.time_zone, 'UTC'), pa.quiet_start, pa.quiet_end,
			pa.sms_consent, pa.medication_in_messages, pa.share_medication, pa.active,
			COALESCE(m.kind, ''), COALESCE(m.phone, ''), COALESCE(m.email, ''), m.active, COALESCE(m.time_zone, ''),
			EXISTS (SELECT 1 FROM patient_links l WHERE l.org_id = n.org_id AND l.patient_id = n.patient_id AND l.member_id = n.member_id)
		FROM notifications n
		LEFT JOIN dose_instances d ON d.id = n.dose_instance_id
		LEFT JOIN plans pl ON pl.id = d.plan_id
		LEFT JOIN escalations e ON e.id = n.escalation_id
		LEFT JOIN patients pa ON pa.id = n.patient_id
		LEFT JOIN members m ON m.id = n.member_id
		WHERE n.id IN `+db.Placeholders(tx.Dialect, 1, len(ids)), ids...)
	if err != nil {
		return nil, fmt.Errorf("load notifications: %w", err)
	}
	var out []Delivery
	zones := map[string]*time.Location{} // patients' and members' zones, each loaded once
	for rows.Next() {
		var (
			dl                                  Delivery
			tmpl, chans                         string
			valid                               sql.NullTime
			doseStatus, localTime, planStatus   string
			drug, escStatus, given, family      string
			qs, qe                              sql.NullString
			smsConsent, medInMessages, shareMed sql.NullBool // NULL: no patient (a reply to a number)
			patientActive                       sql.NullBool
			memberKind, mPhone, mEmail, mZone   string
			memberActive                        sql.NullBool
			doseDue                             sql.NullTime
		)
		if err := rows.Scan(&dl.ID, &dl.OrgID, &dl.Kind, &tmpl, &chans, &dl.Urgent, &dl.DueAt, &valid,
			&dl.Attempts, &dl.Level, &dl.PatientID, &dl.MemberID, &dl.EscalationID, &dl.DoseInstanceID, &dl.Address,
			&doseStatus, &localTime, &doseDue, &planStatus, &drug, &escStatus,
			&given, &family, &dl.Phone, &dl.Email, &dl.PushToken, &dl.Language, &dl.TimeZone, &qs, &qe,
			&smsConsent, &medInMessages, &shareMed, &patientActive,
			&memberKind, &mPhone, &mEmail, &memberActive, &mZone, &dl.MemberLinked); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load notifications: %w", err)
		}
		dl.Template, dl.Channels, dl.ValidUntil = remind.Kind(tmpl), channelsOf(chans), timePtr(valid)
		dl.DueAt = dl.DueAt.UTC()
		dl.SMSConsent = smsConsent.Bool
		dl.DoseOpen = doseStatus == string(adherence.DoseScheduled) && planStatus == string(adherence.PlanActive) && patientActive.Bool
		switch {
		case dl.DoseOpen || dl.Kind != KindReminder:
		case !patientActive.Bool:
			dl.DoseClosed = "patient_deactivated"
		case doseStatus == "":
			// Deleted by a change of the plan's schedule (its timing,
			// the patient's zone, its end, a stop): nothing was
			// recorded (QA: "dose_recorded").
			dl.DoseClosed = "dose_removed"
		case planStatus != "" && planStatus != string(adherence.PlanActive):
			dl.DoseClosed = "plan_" + planStatus
		case doseStatus == string(adherence.DoseExcluded):
			dl.DoseClosed = "dose_excluded"
		default:
			dl.DoseClosed = "dose_recorded"
		}
		// Exhausted is no answer: the messages of its last level, held for
		// quiet hours or retried when the next miss exhausted it, were
		// cancelled with it before, and that level then reached no one.
		dl.EscalationOpen = escStatus == string(adherence.EscalationOpen) || escStatus == string(adherence.EscalationExhausted)
		if q, err := quietOf(qs, qe); err == nil {
			dl.Quiet = q
		}
		// The dose's time on the patient's clock now: its instant in the
		// patient's zone. Its local_time is the wall time of the zone it
		// was scheduled in, which a dose kept at its old instant after a
		// move east still carries (QA: a New York 22:16 dose kept after a
		// move to Halifax was announced at 23:16 Halifax time as "your
		// 22:16 dose").
		doseTime := clockOf(localTime)
		if loc := cachedZone(zones, dl.TimeZone); loc != nil && doseDue.Valid {
			doseTime = doseDue.Time.In(loc).Format("15:04")
		}
		if dl.MemberID != "" {
			dl.ToMember, dl.MemberKind = true, adherence.MemberKind(memberKind)
			dl.Phone, dl.Email, dl.PushToken = mPhone, mEmail, ""
			dl.SMSConsent = memberActive.Bool
			if mZone != "" && mZone != dl.TimeZone {
				// Quiet hours are the recipient's: a member's own zone
				// wins over the patient's. So is the dose time: a
				// caregiver in London reads the Los Angeles 08:00 dose as
				// 16:00 GMT, not as an 08:00 of their own clock.
				if loc := cachedZone(zones, mZone); loc != nil && doseDue.Valid {
					doseTime = doseDue.Time.In(loc).Format("15:04 MST")
				}
				dl.TimeZone = mZone
			}
		}
		if dl.Address != "" && dl.Kind == KindReply {
			dl.Phone, dl.Email, dl.PushToken, dl.SMSConsent = dl.Address, "", "", true
		}
		dl.Values = remind.Values{
			FirstName: given, PatientName: strings.TrimSpace(given + " " + family), PatientRef: shortRef(dl.PatientID),
			Medication: drug, DoseTime: doseTime, Level: dl.Level,
		}
		switch {
		case dl.Template == remind.KindEscalationCaregiver:
			dl.Values.MedicationAllowed = shareMed.Bool
		case dl.Template == remind.KindEscalationClinician:
			dl.Values.MedicationAllowed = true // care team: treatment is their need to know
		default:
			dl.Values.MedicationAllowed = medInMessages.Bool
		}
		out = append(out, dl)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("load notifications: %w", err)
	}
	if err := fillEscalations(ctx, tx, out); err != nil {
		return nil, err
	}
	if err := s.fillMessaging(ctx, tx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// fillEscalations adds to escalation messages their policy's trigger
// kind and the number of missed doses that opened the escalation
// ({{missed_count}}): missed_dose, the one dose; missed_count, the misses
// due in the trigger's window ending at the dose that opened it;
// low_adherence, the misses due in the LowAdherencePeriod before it
// opened. The counts are anchored on the opening, as the trigger was
// evaluated then, so every level of one escalation reports the same
// number (a dose recorded late since then is no longer counted). The
// trigger is the policy's as it is now: an edited policy speaks of its
// new trigger.
func fillEscalations(ctx context.Context, tx *db.Tx, out []Delivery) error {
	type info struct {
		trigger adherence.TriggerKind
		missed  int
	}
	seen := map[string]info{}
	for i := range out {
		dl := &out[i]
		if dl.EscalationID == "" {
			continue
		}
		in, ok := seen[dl.EscalationID]
		if !ok {
			var err error
			if in.trigger, in.missed, err = escalationMisses(ctx, tx, dl.EscalationID); err != nil {
				return err
			}
			seen[dl.EscalationID] = in
		}
		dl.Trigger, dl.Values.MissedCount = in.trigger, in.missed
	}
	return nil
}

// escalationMisses returns the trigger kind of escalation id's policy and
// how many missed doses opened it (at least 1: the dose that opened it).
func escalationMisses(ctx context.Context, tx *db.Tx, id string) (adherence.TriggerKind, int, error) {
	var (
		orgID, patientID, kind string
		windowMin              int
		openedAt               time.Time
		doseDue                sql.NullTime
	)
	err := tx.QueryRowContext(ctx, `SELECT e.org_id, e.patient_id, e.opened_at, p.trigger_kind, p.trigger_window_minutes, d.due_at
		FROM escalations e
		JOIN escalation_policies p ON p.id = e.policy_id
		LEFT JOIN dose_instances d ON d.id = e.dose_instance_id
		WHERE e.id = $1`, id).Scan(&orgID, &patientID, &openedAt, &kind, &windowMin, &doseDue)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 1, nil
	} else if err != nil {
		return "", 0, fmt.Errorf("read escalation trigger: %w", err)
	}
	trigger := adherence.TriggerKind(kind)
	var from, to time.Time
	var toInclusive bool
	switch trigger {
	case adherence.TriggerMissedCount:
		if !doseDue.Valid {
			return trigger, 1, nil
		}
		// As triggerHolds counts: due in (due − Window, due].
		to = doseDue.Time.UTC()
		from, toInclusive = to.Add(-time.Duration(windowMin)*time.Minute), true
	case adherence.TriggerLowAdherence:
		// As triggerHolds counts (patientCounts): due in [opened − period, opened).
		to = openedAt.UTC()
		from = to.Add(-adherence.LowAdherencePeriod)
	default:
		return trigger, 1, nil
	}
	// Of active scheduled plans only, as the trigger counts them
	// (activePlanDose): the misses of a plan put on hold were told to
	// caregivers with the others (QA: "missed 5" where 2 opened it).
	q := `SELECT COUNT(*) FROM dose_instances d
		WHERE d.org_id = $1 AND d.patient_id = $2 AND d.status = 'missed' AND d.due_at > $3 AND d.due_at <= $4` + activePlanDose
	if !toInclusive {
		q = `SELECT COUNT(*) FROM dose_instances d
		WHERE d.org_id = $1 AND d.patient_id = $2 AND d.status = 'missed' AND d.due_at >= $3 AND d.due_at < $4` + activePlanDose
	}
	var n int
	if err := tx.QueryRowContext(ctx, q, orgID, patientID, db.UTC(from), db.UTC(to)).Scan(&n); err != nil {
		return "", 0, fmt.Errorf("count missed doses: %w", err)
	}
	return trigger, max(n, 1), nil
}

// fillMessaging adds the org's program name, help contact and template
// overrides, and the consent ledger's opt-outs of the SMS numbers and
// email addresses.
func (s *Store) fillMessaging(ctx context.Context, tx *db.Tx, out []Delivery) error {
	pc := newPolicyCache(tx)
	overrides := map[string][]remind.Template{}
	orgNames := map[string]string{}
	phones, emails := map[string]bool{}, map[string]bool{}
	for i := range out {
		dl := &out[i]
		m, err := pc.messaging(ctx, dl.OrgID)
		if err != nil {
			return err
		}
		dl.Values.Program, dl.Values.HelpContact = m.program, m.helpContact
		if strings.TrimSpace(m.program) == "" {
			// Every message names its sender ("{{program}}: …"): an org
			// that set no program name sends under its own name, not ": ".
			name, ok := orgNames[dl.OrgID]
			if !ok {
				if err := tx.QueryRowContext(ctx, `SELECT name FROM orgs WHERE id = $1`, dl.OrgID).Scan(&name); err != nil {
					return fmt.Errorf("read org name: %w", err)
				}
				orgNames[dl.OrgID] = name
			}
			dl.Values.Program = name
		}
		key := dl.OrgID + "|" + string(dl.Template)
		ts, ok := overrides[key]
		if !ok {
			if ts, err = s.templatesOf(ctx, tx, dl.OrgID, dl.Template); err != nil {
				return err
			}
			overrides[key] = ts
		}
		dl.Overrides = ts
		if dl.Phone != "" {
			phones[AddressKey(dl.Phone)] = true
		}
		if dl.Email != "" {
			emails[AddressKey(consentAddress("email", dl.Email))] = true
		}
	}
	smsState, err := consentStates(ctx, tx, tx.Dialect, "sms", phones)
	if err != nil {
		return err
	}
	emailState, err := consentStates(ctx, tx, tx.Dialect, "email", emails)
	if err != nil {
		return err
	}
	for i := range out {
		if out[i].Phone != "" && smsState.of(out[i].OrgID, AddressKey(out[i].Phone)) == ConsentOptOut {
			out[i].OptedOut = true
		}
		if out[i].Email != "" && emailState.of(out[i].OrgID, AddressKey(consentAddress("email", out[i].Email))) == ConsentOptOut {
			out[i].EmailOptedOut = true
		}
	}
	return nil
}

// consentRow is one consent ledger row of an address, as consentStates
// reads it.
type consentRow struct{ org, source, action string }

// ledgerRows are the consent ledger rows of address keys, oldest first.
type ledgerRows map[string][]consentRow

// of returns the consent action of address key key for orgID, or "" when
// none counts for it: the address's own newest row when it is an opt-out,
// else the newest row that counts for orgID (see counts). It is the one
// place the consent ledger's rule (consent.go) is applied.
func (l ledgerRows) of(orgID, key string) string {
	rows := l[key]
	newest := ""
	for i := len(rows) - 1; i >= 0; i-- {
		if !counts(rows[i].source, rows[i].org, orgID) {
			continue
		}
		if newest == "" {
			newest = rows[i].action
		}
		if rows[i].source != ConsentSourceAPI {
			if rows[i].action == ConsentOptOut {
				return ConsentOptOut
			}
			break // older rows of the org's are outranked by newest already
		}
	}
	return newest
}

// consentStates returns the consent ledger rows of channel ("sms" or
// "email") of each of the address keys that has some, read with q on a
// database of dialect.
func consentStates(ctx context.Context, q db.Querier, dialect db.Dialect, channel string, keys map[string]bool) (ledgerRows, error) {
	state := ledgerRows{}
	if len(keys) == 0 {
		return state, nil
	}
	if channel != "sms" && channel != "email" {
		return nil, fmt.Errorf("read consent ledger: unknown channel %q", channel)
	}
	args := make([]any, 0, len(keys))
	for k := range keys {
		args = append(args, k)
	}
	// The channel is one of two constants, written in the statement: the
	// keys' placeholders start at 1 on both engines.
	rows, err := q.QueryContext(ctx, `SELECT address_key, action, source, COALESCE(CAST(org_id AS TEXT), '') FROM consent_ledger
		WHERE channel = '`+channel+`' AND address_key IN `+db.Placeholders(dialect, 1, len(keys))+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read consent ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var r consentRow
		if err := rows.Scan(&k, &r.action, &r.source, &r.org); err != nil {
			return nil, fmt.Errorf("read consent ledger: %w", err)
		}
		state[k] = append(state[k], r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read consent ledger: %w", err)
	}
	return state, nil
}

func (s *Store) templatesOf(ctx context.Context, q db.Querier, orgID string, kind remind.Kind) ([]remind.Template, error) {
	rows, err := q.QueryContext(ctx, `SELECT kind, language, channel, subject, body FROM message_templates
		WHERE org_id = $1 AND kind = $2`, orgID, string(kind))
	if err != nil {
		return nil, fmt.Errorf("read message templates: %w", err)
	}
	defer rows.Close()
	var out []remind.Template
	for rows.Next() {
		var t remind.Template
		var k, ch string
		if err := rows.Scan(&k, &t.Language, &ch, &t.Subject, &t.Body); err != nil {
			return nil, fmt.Errorf("read message templates: %w", err)
		}
		t.Kind, t.Channel = remind.Kind(k), notify.Channel(ch)
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeliveryResult is the outcome of one claimed notification.
type DeliveryResult struct {
	ID int64
	// Attempt is the claim's (Delivery.Attempts): an outcome sets the
	// status of its own claim only, not of a later one (the notification
	// given back by RequeueClaimed and claimed again).
	Attempt           int
	Status            string // NotificationSent, …Retrying, …Dropped, …Cancelled, …Undeliverable, …Unknown
	Reason            string
	Channel           notify.Channel
	Provider          string
	ProviderMessageID string
	ProviderStatus    string
	AcceptedAt        *time.Time
	// RetryAt, for NotificationQueued, re-enqueues the delivery job at that
	// time (a caregiver message held until quiet hours end).
	RetryAt time.Time
	// Unsubscribed is the number an SMS provider refused because it
	// unsubscribed at the provider's end (notify.ErrUnsubscribed): kept
	// as the number's opt-out in the consent ledger (by its AddressKey
	// only), so that no later message tries it until it texts START.
	Unsubscribed string
	// UnregisteredToken is the push token of the notification's patient
	// that the push provider said is no longer registered
	// (notify.ErrUnregistered): cleared from the patient, unless the app
	// has registered another since.
	UnregisteredToken string
}

// RecordDeliveryProgress writes down, in one transaction, what a delivery
// job has done since it last wrote: the outcomes results (each notification
// once), then the claimed notifications sending that it is about to hand to
// a provider, moved to sending. It returns those of sending it moved: one
// no longer claimed (RequeueClaimed gave it to another job) must not be
// handed over. A job writes as it goes, so that a process killed mid-batch
// leaves recorded what it sent, in sending only the messages a provider
// may have taken, and claimed those it never handed over.
//
// A notification still claimed whose purpose has gone since it was claimed
// (a reminder's dose taken, skipped or excluded, its plan paused or
// stopped, its patient deactivated; an escalation closed) is not moved
// either: closed gives it with the reason to cancel it with. The wait for
// a provider's rate limit in a spike comes between claim and hand-over,
// and reminders went out seconds after the dose was taken or the plan
// paused (QA).
//
// A status callback may have arrived before an outcome and moved its
// notification on: the outcome then only fills in what is missing, and the
// provider, channel and reason stay those of the message the callback is
// about (a Twilio call that timed out after Twilio accepted it).
func (s *Store) RecordDeliveryProgress(ctx context.Context, results []DeliveryResult, sending []Claim) (started map[int64]bool, closed map[int64]string, err error) {
	if len(results) == 0 && len(sending) == 0 {
		return nil, nil, nil
	}
	now := s.clock()
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		var cancelled map[int64]bool
		if len(results) > 0 {
			var err error
			if tx.Dialect == db.Postgres {
				err = recordDeliveriesPostgres(ctx, tx, results, now)
			} else {
				err = recordDeliveriesSQLite(ctx, tx, results, now)
			}
			if err != nil {
				return fmt.Errorf("record delivery: %w", err)
			}
			if cancelled, err = cancelUnwantedWaits(ctx, tx, results, now); err != nil {
				return err
			}
		}
		for _, r := range results {
			if r.Unsubscribed != "" {
				if err := s.recordUnsubscribed(ctx, tx, r.Unsubscribed); err != nil {
					return err
				}
			}
			if r.UnregisteredToken != "" {
				if err := s.forgetPushToken(ctx, tx, r.ID, r.UnregisteredToken, now); err != nil {
					return err
				}
			}
		}
		var deferred = map[time.Time][]int64{}
		for _, r := range results {
			if r.Status == NotificationQueued && !r.RetryAt.IsZero() && !cancelled[r.ID] {
				deferred[db.UTC(r.RetryAt)] = append(deferred[db.UTC(r.RetryAt)], r.ID)
			}
		}
		for at, ids := range deferred {
			if err := s.enqueueDelivery(ctx, tx, ids, at); err != nil {
				return err
			}
		}
		var err error
		if started, err = markSending(ctx, tx, sending, now); err != nil {
			return err
		}
		closed, err = closedClaims(ctx, tx, sending, started)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return started, closed, nil
}

// recordUnsubscribed keeps number's opt-out at the provider in the consent
// ledger, for the number alone (as a STOP from a number on no record is),
// unless the ledger already has it opted out.
func (s *Store) recordUnsubscribed(ctx context.Context, tx *db.Tx, number string) error {
	key := AddressKey(consentAddress("sms", number))
	if err := lockAddress(ctx, tx, key); err != nil {
		return err
	}
	last, err := lastOwnConsent(ctx, tx, "sms", key)
	if err != nil {
		return err
	}
	if last.Action == ConsentOptOut {
		return nil
	}
	_, err = s.appendConsent(ctx, tx, ConsentInput{Channel: "sms", Address: number, Action: ConsentOptOut,
		Source: ConsentSourceProvider, Actor: adherence.Actor{ID: "provider"}}, key)
	return err
}

// forgetPushToken clears the push token of notification id's patient if it
// is still token, and audits the change (actor "provider").
func (s *Store) forgetPushToken(ctx context.Context, tx *db.Tx, id int64, token string, now time.Time) error {
	var orgID, patientID string
	err := tx.QueryRowContext(ctx, `UPDATE patients SET push_token = '', updated_at = $1, version = version + 1
		WHERE push_token = $2 AND id = (SELECT patient_id FROM notifications WHERE id = $3)
		RETURNING CAST(org_id AS TEXT), CAST(id AS TEXT)`, now, token, id).Scan(&orgID, &patientID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // another token registered since, or none
	}
	if err != nil {
		return fmt.Errorf("forget unregistered push token: %w", err)
	}
	return s.record(ctx, tx, adherence.Actor{ID: "provider", Role: "system"}, orgID, "U", "Patient", patientID, patientID)
}

// stillWanted is the condition on a notification n that it is still
// wanted: a reminder's dose open (scheduled, its plan active, its patient
// active), an escalation message's escalation open; other kinds always.
// In parentheses, so that a NOT before it applies to all of it.
const stillWanted = `((n.kind <> 'reminder' OR EXISTS (SELECT 1 FROM dose_instances d
		JOIN plans pl ON pl.id = d.plan_id JOIN patients pa ON pa.id = d.patient_id
		WHERE d.id = n.dose_instance_id AND d.status = 'scheduled' AND pl.status = 'active' AND pa.active))
	AND (n.kind <> 'escalation' OR EXISTS (SELECT 1 FROM escalations e
		WHERE e.id = n.escalation_id AND e.status IN ('open', 'exhausted'))))`

// unwantedReason selects, from notifications n (the FROM and joins it
// ends with), the reason to cancel n with once it is no longer wanted
// (see stillWanted).
const unwantedReason = `CASE
				WHEN n.kind = 'escalation' THEN 'escalation_closed'
				WHEN NOT COALESCE(pa.active, FALSE) THEN 'patient_deactivated'
				WHEN d.id IS NULL THEN 'dose_removed'
				WHEN pl.status <> 'active' THEN 'plan_' || pl.status
				WHEN d.status = 'excluded' THEN 'dose_excluded'
				ELSE 'dose_recorded' END
			FROM notifications n
			LEFT JOIN dose_instances d ON d.id = n.dose_instance_id
			LEFT JOIN plans pl ON pl.id = d.plan_id
			LEFT JOIN patients pa ON pa.id = n.patient_id`

// cancelUnwantedWaits cancels, of the notifications results has just left
// waiting (queued with a retry time: held for quiet hours; retrying), those
// no longer wanted, with the reason unwantedReason gives. Their purpose may
// have gone while the job held its claim: closeEscalation cancels the
// messages waiting, not those claimed, and an escalation acknowledged
// meanwhile left its held message queued until its next delivery job,
// hours later (QA). A status callback that moved one on since is left
// alone. It returns the notifications it cancelled: their deferred
// delivery job is not enqueued.
func cancelUnwantedWaits(ctx context.Context, tx *db.Tx, results []DeliveryResult, now time.Time) (map[int64]bool, error) {
	var args []any
	for _, r := range results {
		if r.Status == NotificationQueued || r.Status == NotificationRetrying {
			args = append(args, r.ID)
		}
	}
	if len(args) == 0 {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT n.id, `+unwantedReason+`
		WHERE n.id IN `+db.Placeholders(tx.Dialect, 1, len(args))+` AND n.status IN ('queued', 'retrying') AND NOT `+stillWanted, args...)
	if err != nil {
		return nil, fmt.Errorf("read notifications no longer wanted: %w", err)
	}
	unwanted := map[int64]string{}
	for rows.Next() {
		var id int64
		var reason string
		if err := rows.Scan(&id, &reason); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read notifications no longer wanted: %w", err)
		}
		unwanted[id] = reason
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, fmt.Errorf("read notifications no longer wanted: %w", err)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("read notifications no longer wanted: %w", err)
	}
	cancelled := make(map[int64]bool, len(unwanted))
	for id, reason := range unwanted {
		if _, err := tx.ExecContext(ctx, `UPDATE notifications SET status = 'cancelled', reason = $1, updated_at = $2
			WHERE id = $3 AND status IN ('queued', 'retrying')`, reason, now, id); err != nil {
			return nil, fmt.Errorf("cancel a notification no longer wanted: %w", err)
		}
		cancelled[id] = true
	}
	return cancelled, nil
}

// closedClaims returns, of the claims markSending did not start, those
// still claimed for their attempt, which it left because they are no
// longer wanted, with the reason to cancel each with (the reasons
// loadDeliveries gives).
func closedClaims(ctx context.Context, tx *db.Tx, claims []Claim, started map[int64]bool) (map[int64]string, error) {
	closed := map[int64]string{}
	for _, c := range claims {
		if started[c.ID] {
			continue
		}
		var reason string
		err := tx.QueryRowContext(ctx, `SELECT `+unwantedReason+`
			WHERE n.id = $1 AND n.attempts = $2 AND n.status = 'claimed'`, c.ID, c.Attempt).Scan(&reason)
		if errors.Is(err, sql.ErrNoRows) {
			continue // no longer this job's
		}
		if err != nil {
			return nil, fmt.Errorf("read why a notification is no longer wanted: %w", err)
		}
		closed[c.ID] = reason
	}
	return closed, nil
}

// Claim names a claimed notification and the attempt it was claimed for
// (Delivery.Attempts): a claim given back by RequeueClaimed and taken by
// another job is that job's, with the next attempt.
type Claim struct {
	ID      int64
	Attempt int
}

// markSending moves the notifications of claims that are still claimed for
// that attempt to sending and returns those it moved.
func markSending(ctx context.Context, tx *db.Tx, claims []Claim, now time.Time) (map[int64]bool, error) {
	started := make(map[int64]bool, len(claims))
	if len(claims) == 0 {
		return started, nil
	}
	if tx.Dialect == db.Postgres {
		ids, attempts := make([]int64, len(claims)), make([]int32, len(claims))
		for i, c := range claims {
			ids[i], attempts[i] = c.ID, int32(c.Attempt)
		}
		rows, err := tx.QueryContext(ctx, `UPDATE notifications n SET status = 'sending', updated_at = $1
			FROM unnest($2::bigint[], $3::integer[]) AS c (id, attempt)
			WHERE n.id = c.id AND n.attempts = c.attempt AND n.status = 'claimed' AND `+stillWanted+` RETURNING n.id`, now, ids, attempts)
		if err != nil {
			return nil, fmt.Errorf("mark notifications sending: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return nil, fmt.Errorf("mark notifications sending: %w", err)
			}
			started[id] = true
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("mark notifications sending: %w", err)
		}
		return started, nil
	}
	// SQLite: one statement per claim (in process, a statement costs no
	// round trip), prepared once.
	upd, err := tx.PrepareContext(ctx, `UPDATE notifications AS n SET status = 'sending', updated_at = $1
		WHERE n.id = $2 AND n.attempts = $3 AND n.status = 'claimed' AND `+stillWanted)
	if err != nil {
		return nil, fmt.Errorf("mark notifications sending: %w", err)
	}
	defer upd.Close()
	for _, c := range claims {
		r, err := upd.ExecContext(ctx, now, c.ID, c.Attempt)
		if err != nil {
			return nil, fmt.Errorf("mark notifications sending: %w", err)
		}
		if n, err := r.RowsAffected(); err != nil {
			return nil, fmt.Errorf("mark notifications sending: %w", err)
		} else if n > 0 {
			started[c.ID] = true
		}
	}
	return started, nil
}

// The outcome of one notification, and its 'send' status event.
const (
	recordDeliverySet = `
		status = CASE WHEN status IN ('claimed', 'sending') AND attempts = $10 THEN $1 ELSE status END,
		reason = CASE WHEN status IN ('claimed', 'sending') AND attempts = $10 THEN $2 ELSE reason END,
		channel = CASE WHEN (status IN ('claimed', 'sending') AND attempts = $10) OR channel = '' THEN $3 ELSE channel END,
		provider = CASE WHEN (status IN ('claimed', 'sending') AND attempts = $10) OR provider = '' THEN $4 ELSE provider END,
		provider_message_id = CASE WHEN provider_message_id = '' THEN $5 ELSE provider_message_id END,
		provider_status = CASE WHEN provider_status = '' THEN $6 ELSE provider_status END,
		accepted_at = COALESCE(accepted_at, $7), updated_at = $8`
	recordSendEvent = `INSERT INTO notification_status_events
		(notification_id, provider, provider_message_id, status, source, received_at) VALUES ($1, $2, $3, $4, 'send', $5)`
)

// recordDeliveriesPostgres writes the outcomes with one UPDATE and one
// INSERT, the values as parallel arrays: a statement per notification made
// recording cost a hundred round trips per delivery job of 50.
func recordDeliveriesPostgres(ctx context.Context, tx *db.Tx, results []DeliveryResult, now time.Time) error {
	n := len(results)
	ids := make([]int64, n)
	statuses, reasons, channels, providers := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	msgIDs, provStatuses := make([]string, n), make([]string, n)
	accepted := make([]*time.Time, n)
	attempts := make([]int32, n)
	var evIDs []int64
	var evProviders, evMsgIDs, evStatuses []string
	for i, r := range results {
		ids[i], statuses[i], reasons[i], channels[i], providers[i] = r.ID, r.Status, r.Reason, string(r.Channel), r.Provider
		msgIDs[i], provStatuses[i], attempts[i] = r.ProviderMessageID, r.ProviderStatus, int32(r.Attempt)
		if r.AcceptedAt != nil {
			t := db.UTC(*r.AcceptedAt)
			accepted[i] = &t
		}
		if r.ProviderMessageID != "" {
			evIDs = append(evIDs, r.ID)
			evProviders, evMsgIDs, evStatuses = append(evProviders, r.Provider), append(evMsgIDs, r.ProviderMessageID), append(evStatuses, r.ProviderStatus)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE notifications n SET
			status = CASE WHEN n.status IN ('claimed', 'sending') AND n.attempts = u.attempt THEN u.status ELSE n.status END,
			reason = CASE WHEN n.status IN ('claimed', 'sending') AND n.attempts = u.attempt THEN u.reason ELSE n.reason END,
			channel = CASE WHEN (n.status IN ('claimed', 'sending') AND n.attempts = u.attempt) OR n.channel = '' THEN u.channel ELSE n.channel END,
			provider = CASE WHEN (n.status IN ('claimed', 'sending') AND n.attempts = u.attempt) OR n.provider = '' THEN u.provider ELSE n.provider END,
			provider_message_id = CASE WHEN n.provider_message_id = '' THEN u.msg_id ELSE n.provider_message_id END,
			provider_status = CASE WHEN n.provider_status = '' THEN u.prov_status ELSE n.provider_status END,
			accepted_at = COALESCE(n.accepted_at, u.accepted_at), updated_at = $9
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $10::integer[])
			AS u (id, status, reason, channel, provider, msg_id, prov_status, accepted_at, attempt)
		WHERE n.id = u.id`,
		ids, statuses, reasons, channels, providers, msgIDs, provStatuses, accepted, now, attempts); err != nil {
		return err
	}
	if len(evIDs) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO notification_status_events
			(notification_id, provider, provider_message_id, status, source, received_at)
		SELECT u.id, u.provider, u.msg_id, u.status, 'send', $5
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS u (id, provider, msg_id, status)`,
		evIDs, evProviders, evMsgIDs, evStatuses, now)
	return err
}

// recordDeliveriesSQLite writes the outcomes one by one (in process, a
// statement costs no round trip) through statements prepared once.
func recordDeliveriesSQLite(ctx context.Context, tx *db.Tx, results []DeliveryResult, now time.Time) error {
	upd, err := tx.PrepareContext(ctx, `UPDATE notifications SET`+recordDeliverySet+` WHERE id = $9`)
	if err != nil {
		return err
	}
	defer upd.Close()
	var ev *sql.Stmt
	for _, r := range results {
		if _, err := upd.ExecContext(ctx, r.Status, r.Reason, string(r.Channel), r.Provider, r.ProviderMessageID, r.ProviderStatus,
			nullTime(r.AcceptedAt), now, r.ID, r.Attempt); err != nil {
			return err
		}
		if r.ProviderMessageID == "" {
			continue
		}
		if ev == nil {
			if ev, err = tx.PrepareContext(ctx, recordSendEvent); err != nil {
				return err
			}
			defer ev.Close()
		}
		if _, err := ev.ExecContext(ctx, r.ID, r.Provider, r.ProviderMessageID, r.ProviderStatus, now); err != nil {
			return err
		}
	}
	return nil
}

// shortRef is a non-identifying reference to a patient for messages to
// the care team ({{patient_ref}}): the last group of the patient's id, 12
// hex digits. Patient ids are UUIDv7: their first groups are a
// millisecond timestamp, shared by every patient created in the same
// minute and revealing when the patient was enrolled, while the last group
// is 48 random bits (a collision is unlikely below millions of patients in
// one org). So the reference tells an outsider nothing, and the portal
// finds the patient as the one whose id ends with it. An id without
// groups (not a UUID) gives the first 12 hex digits of its SHA-256.
func shortRef(id string) string {
	if id == "" {
		return ""
	}
	if i := strings.LastIndexByte(id, '-'); i >= 0 && len(id)-i-1 >= 8 {
		return id[i+1:]
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:6])
}

// clockOf returns the HH:MM of a stored local wall time
// (2006-01-02T15:04).
func clockOf(local string) string {
	if i := strings.IndexByte(local, 'T'); i >= 0 {
		return local[i+1:]
	}
	return local
}

// cachedZone returns the location of the IANA zone name from zones,
// loading it there first; nil (times not converted) for a zone that is
// no longer known.
func cachedZone(zones map[string]*time.Location, name string) *time.Location {
	loc, ok := zones[name]
	if !ok {
		loc, _ = loadZone(name)
		zones[name] = loc
	}
	return loc
}
