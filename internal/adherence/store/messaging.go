package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// MessagingSettings are an org's patient-messaging settings.
type MessagingSettings struct {
	Policy      remind.Policy // the org's default reminder policy
	ProgramName string        // named in HELP answers and templates ({{program}})
	HelpContact string        // e.g. a phone number or URL of the program ({{help_contact}})
	UpdatedAt   *time.Time
}

// Messaging returns the org's messaging settings (the built-in default
// policy when none is set).
func (s *Store) Messaging(ctx context.Context, orgID string) (MessagingSettings, error) {
	m, err := newPolicyCache(s.db.SQL).messaging(ctx, orgID)
	if err != nil {
		return MessagingSettings{}, err
	}
	return MessagingSettings{Policy: m.policy, ProgramName: m.program, HelpContact: m.helpContact, UpdatedAt: m.updatedAt}, nil
}

// SetMessaging replaces the org's messaging settings. The new policy's
// first-reminder offset applies at once to every armed dose that has had
// no reminder yet.
func (s *Store) SetMessaging(ctx context.Context, a adherence.Actor, orgID string, m MessagingSettings) error {
	if !isID(orgID) {
		return errs.NotFound("org") // a token's org_id naming none
	}
	if err := m.Policy.Validate(); err != nil {
		return err
	}
	if utf8.RuneCountInString(m.ProgramName) > 100 {
		return errs.Invalid("programName", "must be at most 100 characters")
	}
	if utf8.RuneCountInString(m.HelpContact) > 100 {
		return errs.Invalid("helpContact", "must be at most 100 characters")
	}
	// Both are one line of text set into messages ({{program}} also into
	// e-mail subjects): a line break there splits a subject header or a
	// message's sentence, and an escape can rewrite a terminal's display.
	// A name of invisible characters only would show as nothing, as every
	// name of the API refuses (empty: none).
	if m.ProgramName != "" && adherence.Blank(m.ProgramName) {
		return errs.Invalid("programName", "must have a visible character, or be empty")
	}
	if m.HelpContact != "" && adherence.Blank(m.HelpContact) {
		return errs.Invalid("helpContact", "must have a visible character, or be empty")
	}
	if adherence.HasControl(m.ProgramName) {
		return errs.Invalid("programName", adherence.ControlRule)
	}
	if adherence.HasControl(m.HelpContact) {
		return errs.Invalid("helpContact", adherence.ControlRule)
	}
	js, err := json.Marshal(m.Policy.ToJSON())
	if err != nil {
		return err
	}
	now := s.clock()
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO org_messaging (org_id, reminder_policy, program_name, help_contact, updated_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (org_id) DO UPDATE SET reminder_policy = excluded.reminder_policy, program_name = excluded.program_name,
				help_contact = excluded.help_contact, updated_at = excluded.updated_at`,
			orgID, string(js), m.ProgramName, m.HelpContact, now); err != nil {
			if isForeignKeyViolation(err) {
				return errs.NotFound("org")
			}
			return fmt.Errorf("set messaging settings: %w", err)
		}
		if err := s.rearm(ctx, tx, orgID, "", now, false); err != nil {
			return err
		}
		return s.record(ctx, tx, a, orgID, "U", "MessagingSettings", orgID, "")
	})
}

// SetPlanReminderPolicy sets (or, with nil, removes) a plan's own reminder
// policy, and re-arms its doses that had no reminder yet.
func (s *Store) SetPlanReminderPolicy(ctx context.Context, a adherence.Actor, orgID, planID string, p *remind.Policy) error {
	if !isID(planID) {
		return errs.NotFound("plan")
	}
	var js any
	if p != nil {
		if err := p.Validate(); err != nil {
			return err
		}
		b, err := json.Marshal(p.ToJSON())
		if err != nil {
			return err
		}
		js = string(b)
	}
	now := s.clock()
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		var patientID string
		err := tx.QueryRowContext(ctx, `UPDATE plans SET reminder_policy = $1, updated_at = $2, version = version + 1
			WHERE org_id = $3 AND id = $4 RETURNING patient_id`, js, now, orgID, planID).Scan(&patientID)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.NotFound("plan")
		}
		if err != nil {
			return fmt.Errorf("set plan reminder policy: %w", err)
		}
		if err := s.rearm(ctx, tx, orgID, planID, now, false); err != nil {
			return err
		}
		// A change of the plan, recorded as its other accesses are.
		return s.record(ctx, tx, a, orgID, "U", "MedicationRequest", planID, patientID)
	})
}

// PlanReminderPolicy returns the plan's own policy (nil when it follows
// the org's) and the policy in effect.
func (s *Store) PlanReminderPolicy(ctx context.Context, orgID, planID string) (own *remind.Policy, effective remind.Policy, err error) {
	if !isID(planID) {
		return nil, effective, errs.NotFound("plan")
	}
	var js sql.NullString
	err = s.db.SQL.QueryRowContext(ctx, `SELECT reminder_policy FROM plans WHERE org_id = $1 AND id = $2`, orgID, planID).Scan(&js)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, effective, errs.NotFound("plan")
	}
	if err != nil {
		return nil, effective, fmt.Errorf("read plan reminder policy: %w", err)
	}
	effective, err = newPolicyCache(s.db.SQL).policy(ctx, orgID, js)
	if err != nil {
		return nil, effective, err
	}
	if js.Valid {
		own = &effective
	}
	return own, effective, nil
}

// Templates lists the org's own message templates.
func (s *Store) Templates(ctx context.Context, orgID string) ([]remind.Template, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT kind, language, channel, subject, body FROM message_templates
		WHERE org_id = $1 ORDER BY kind, language, channel`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	defer rows.Close()
	var out []remind.Template
	for rows.Next() {
		var t remind.Template
		var k, ch string
		if err := rows.Scan(&k, &t.Language, &ch, &t.Subject, &t.Body); err != nil {
			return nil, fmt.Errorf("list templates: %w", err)
		}
		t.Kind, t.Channel = remind.Kind(k), notify.Channel(ch)
		out = append(out, t)
	}
	return out, rows.Err()
}

// PutTemplate saves one of the org's templates. It is validated here, when
// saved: a template that names an unknown field is refused, so sending
// never meets one.
func (s *Store) PutTemplate(ctx context.Context, a adherence.Actor, orgID string, t remind.Template) error {
	if !isID(orgID) {
		return errs.NotFound("org") // a token's org_id naming none
	}
	if err := t.Validate(); err != nil {
		return err
	}
	// The subject is one line, set into an e-mail's Subject header or a
	// push title. Validate refuses only its line breaks, and delivery runs
	// it too: a template saved with a tab or an escape in its subject
	// before this check must still send, so the rest are refused here,
	// when saved.
	if adherence.HasControl(t.Subject) {
		return errs.Invalid("subject", adherence.ControlRule)
	}
	now := s.clock()
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO message_templates (org_id, kind, language, channel, subject, body, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (org_id, kind, language, channel) DO UPDATE SET subject = excluded.subject, body = excluded.body,
				updated_at = excluded.updated_at`,
			orgID, string(t.Kind), t.Language, string(t.Channel), t.Subject, t.Body, now); err != nil {
			if isForeignKeyViolation(err) {
				return errs.NotFound("org")
			}
			return fmt.Errorf("save template: %w", err)
		}
		return s.record(ctx, tx, a, orgID, "U", "MessageTemplate", string(t.Kind)+"/"+t.Language+"/"+string(t.Channel), "")
	})
}

// DeleteTemplate removes one of the org's templates (the built-in one
// applies again).
func (s *Store) DeleteTemplate(ctx context.Context, a adherence.Actor, orgID string, kind remind.Kind, language string, ch notify.Channel) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM message_templates WHERE org_id = $1 AND kind = $2 AND language = $3 AND channel = $4`,
			orgID, string(kind), language, string(ch))
		if err != nil {
			return fmt.Errorf("delete template: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.NotFound("template")
		}
		return s.record(ctx, tx, a, orgID, "D", "MessageTemplate", string(kind)+"/"+language+"/"+string(ch), "")
	})
}

// MessagingPreferences are a patient's own messaging choices.
type MessagingPreferences struct {
	// Channels overrides the policy's channel order; empty follows it.
	Channels []notify.Channel
	// PushToken is the FCM registration token of the patient's app.
	PushToken string
	// MedicationInMessages lets reminders name the drug.
	MedicationInMessages bool
}

// Preferences returns a patient's messaging preferences.
func (s *Store) Preferences(ctx context.Context, orgID, patientID string) (MessagingPreferences, error) {
	var p MessagingPreferences
	if !isID(patientID) {
		return p, errs.NotFound("patient")
	}
	var order string
	err := s.db.SQL.QueryRowContext(ctx, `SELECT channel_order, push_token, medication_in_messages FROM patients
		WHERE org_id = $1 AND id = $2`, orgID, patientID).Scan(&order, &p.PushToken, &p.MedicationInMessages)
	if errors.Is(err, sql.ErrNoRows) {
		return p, errs.NotFound("patient")
	}
	if err != nil {
		return p, fmt.Errorf("read messaging preferences: %w", err)
	}
	p.Channels = channelsOf(order)
	return p, nil
}

// PreferencesChange is a change to a patient's messaging preferences: a
// nil field keeps its value.
type PreferencesChange struct {
	Channels             *[]notify.Channel
	PushToken            *string
	MedicationInMessages *bool
}

// UpdatePreferences applies change to a patient's messaging preferences
// and returns them as stored. The read, the change and the write are one
// transaction with the patient's row locked, so two concurrent changes of
// different fields both take effect.
func (s *Store) UpdatePreferences(ctx context.Context, a adherence.Actor, orgID, patientID string, change PreferencesChange) (MessagingPreferences, error) {
	var p MessagingPreferences
	if !isID(patientID) {
		return p, errs.NotFound("patient")
	}
	now := s.clock()
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		var order string
		err := tx.QueryRowContext(ctx, `SELECT channel_order, push_token, medication_in_messages FROM patients
			WHERE org_id = $1 AND id = $2`+forUpdate(tx.Dialect), orgID, patientID).Scan(&order, &p.PushToken, &p.MedicationInMessages)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.NotFound("patient")
		}
		if err != nil {
			return fmt.Errorf("read messaging preferences: %w", err)
		}
		p.Channels = channelsOf(order)
		if change.Channels != nil {
			p.Channels = *change.Channels
		}
		if change.PushToken != nil {
			p.PushToken = *change.PushToken
		}
		if change.MedicationInMessages != nil {
			p.MedicationInMessages = *change.MedicationInMessages
		}
		seen := map[notify.Channel]bool{}
		names := make([]string, 0, len(p.Channels))
		for i, c := range p.Channels {
			field := fmt.Sprintf("channels[%d]", i)
			if c != notify.SMS && c != notify.Push && c != notify.Email {
				// Not quoted back, as an escalation level's channel is
				// not: the field names it, and the client's string may
				// be as long as the body.
				return errs.Invalid(field, "must be sms, push or email")
			}
			if seen[c] {
				return errs.Invalid(field, "channel %q is listed twice", c)
			}
			seen[c] = true
			names = append(names, string(c))
		}
		if len(p.PushToken) > 4096 {
			return errs.Invalid("pushToken", "must be at most 4096 characters")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE patients SET channel_order = $1, push_token = $2, medication_in_messages = $3,
				updated_at = $4, version = version + 1 WHERE org_id = $5 AND id = $6`,
			strings.Join(names, ","), p.PushToken, p.MedicationInMessages, now, orgID, patientID); err != nil {
			return fmt.Errorf("set messaging preferences: %w", err)
		}
		return s.record(ctx, tx, a, orgID, "U", "Patient", patientID, patientID)
	})
	if err != nil {
		return MessagingPreferences{}, err
	}
	return p, nil
}

// NotificationRecord is one notification in a patient's history, with its
// delivery status events.
type NotificationRecord struct {
	ID                int64
	Kind              string
	Template          string
	DoseInstanceID    int64
	EscalationID      string
	MemberID          string
	Status            string
	Reason            string
	Channel           string
	Provider          string
	ProviderMessageID string
	ProviderStatus    string
	Attempts          int
	DueAt             time.Time
	AcceptedAt        *time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
	Events            []StatusEvent
}

// StatusEvent is one delivery status report of a notification.
type StatusEvent struct {
	Status     string
	ErrorCode  string
	Source     string
	ReceivedAt time.Time
}

// ListNotifications returns a patient's notifications, newest first,
// before the id before (0: from the newest), at most limit (default 50,
// at most PageMax+1).
func (s *Store) ListNotifications(ctx context.Context, orgID, patientID string, before int64, limit int) ([]NotificationRecord, error) {
	if !isID(patientID) {
		return nil, errs.NotFound("patient")
	}
	limit = min(max(limit, 0), PageMax+1)
	if limit == 0 {
		limit = 50
	}
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT id, kind, template, COALESCE(dose_instance_id, 0), COALESCE(CAST(escalation_id AS TEXT), ''),
			COALESCE(CAST(member_id AS TEXT), ''), status, reason, channel, provider, provider_message_id, provider_status, attempts,
			due_at, accepted_at, created_at, updated_at
		FROM notifications WHERE org_id = $1 AND patient_id = $2 AND id < $3 ORDER BY id DESC LIMIT $4`,
		orgID, patientID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	var out []NotificationRecord
	index := map[int64]int{}
	for rows.Next() {
		var n NotificationRecord
		var acc sql.NullTime
		if err := rows.Scan(&n.ID, &n.Kind, &n.Template, &n.DoseInstanceID, &n.EscalationID, &n.MemberID, &n.Status, &n.Reason,
			&n.Channel, &n.Provider, &n.ProviderMessageID, &n.ProviderStatus, &n.Attempts, &n.DueAt, &acc, &n.CreatedAt, &n.UpdatedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list notifications: %w", err)
		}
		n.DueAt, n.CreatedAt, n.UpdatedAt, n.AcceptedAt = n.DueAt.UTC(), n.CreatedAt.UTC(), n.UpdatedAt.UTC(), timePtr(acc)
		index[n.ID] = len(out)
		out = append(out, n)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]any, 0, len(out))
	for _, n := range out {
		ids = append(ids, n.ID)
	}
	ev, err := s.db.SQL.QueryContext(ctx, `SELECT notification_id, status, error_code, source, received_at FROM notification_status_events
		WHERE notification_id IN `+db.Placeholders(s.db.Dialect, 1, len(ids))+` ORDER BY id`, ids...)
	if err != nil {
		return nil, fmt.Errorf("list notification status events: %w", err)
	}
	defer ev.Close()
	for ev.Next() {
		var id int64
		var e StatusEvent
		if err := ev.Scan(&id, &e.Status, &e.ErrorCode, &e.Source, &e.ReceivedAt); err != nil {
			return nil, fmt.Errorf("list notification status events: %w", err)
		}
		e.ReceivedAt = e.ReceivedAt.UTC()
		out[index[id]].Events = append(out[index[id]].Events, e)
	}
	return out, ev.Err()
}
