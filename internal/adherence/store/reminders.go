package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// Reminders work in two steps.
//
// Arming gives each scheduled dose its first reminder time (remind_at =
// due + the policy's offset) a little ahead of time: ArmReminders walks the
// doses whose due time entered the arming lead since its last run (a cursor
// in reminder_arming), and plan changes arm their own doses at once. Only
// armed doses are looked at again, through a partial index on remind_at,
// so the morning spike costs one indexed read per reminder.
//
// Dispatching (DispatchReminders) takes the armed doses whose time has
// come, decides with remind.Decide (send, hold for quiet hours, drop,
// stop) and, for a send, writes the notification and its delivery job in
// the same transaction as it moves remind_at to the next repeat.

// ArmLead is how far ahead of their due time doses are armed. The
// earliest allowed first-reminder offset (-60 minutes) must fit in it.
const ArmLead = 2 * time.Hour

// armChunk is how many doses one arming transaction handles.
const armChunk = 2000

// ArmResult says what ArmReminders did.
type ArmResult struct {
	Armed int
	// Unreadable counts the doses left unarmed because their reminder
	// policy (the plan's, or the org's) could not be read;
	// UnreadablePlans are those doses' plans, for the log.
	Unreadable      int
	UnreadablePlans []string
	Until           time.Time
}

// ArmReminders arms the reminders of every scheduled dose due up to now +
// ArmLead that is not armed yet, and moves the arming cursor there.
func (s *Store) ArmReminders(ctx context.Context, now time.Time) (ArmResult, error) {
	now = db.UTC(now)
	to := now.Add(ArmLead)
	var res ArmResult
	from, err := armedUntil(ctx, s.db.SQL)
	if err != nil {
		return res, err
	}
	if from.IsZero() || from.Before(now.Add(-24*time.Hour)) {
		// First run, or a long outage: doses whose window may still be
		// open are at most a day old.
		from = now.Add(-24 * time.Hour)
	}
	if !from.Before(to) {
		return ArmResult{Until: from}, nil
	}
	afterDue, afterID := from, int64(0)
	seenPlan := map[string]bool{}
	for {
		var c armed
		err := s.db.InTx(ctx, func(tx *db.Tx) error {
			var err error
			c, err = s.armRange(ctx, tx, armFilter{afterDue: afterDue, afterID: afterID, to: to, now: now, onlyUnarmed: true})
			if err != nil {
				return err
			}
			if c.seen < armChunk {
				_, err = tx.ExecContext(ctx, `INSERT INTO reminder_arming (id, armed_until) VALUES (1, $1)
					ON CONFLICT (id) DO UPDATE SET armed_until = excluded.armed_until`, to)
			}
			return err
		})
		if err != nil {
			return res, fmt.Errorf("arm reminders: %w", err)
		}
		res.Armed += c.armed
		res.Unreadable += len(c.unreadable)
		for _, p := range c.unreadable {
			if !seenPlan[p] {
				seenPlan[p] = true
				res.UnreadablePlans = append(res.UnreadablePlans, p)
			}
		}
		if c.seen < armChunk {
			res.Until = to
			return res, nil
		}
		afterDue, afterID = c.lastDue, c.lastID
	}
}

// armedUntil reads the arming cursor: doses due up to it are armed (zero
// before the first pass).
func armedUntil(ctx context.Context, q db.Querier) (time.Time, error) {
	var t sql.NullTime
	err := q.QueryRowContext(ctx, `SELECT armed_until FROM reminder_arming WHERE id = 1`).Scan(&t)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("read reminder arming cursor: %w", err)
	}
	if !t.Valid {
		return time.Time{}, nil
	}
	return t.Time.UTC(), nil
}

// armFilter selects the doses an arming pass looks at.
type armFilter struct {
	afterDue    time.Time // due_at > afterDue (or = with id > afterID)
	afterID     int64
	to          time.Time // due_at <= to
	now         time.Time
	orgID       string // only this org's doses, when set
	planID      string // only this plan's doses, when set
	onlyUnarmed bool   // leave doses that have a reminder time alone
}

// armed is what armRange did with one chunk.
type armed struct {
	armed, seen int // how many it armed, how many it looked at
	// unreadable are the plans of the doses left alone because their
	// reminder policy could not be read, one entry per dose.
	unreadable []string
	lastDue    time.Time // the last dose's position
	lastID     int64
}

// armRange arms (or re-arms) one chunk of scheduled doses that have had no
// reminder yet (since they were last revived), in due order. A dose whose reminder policy cannot be read
// is left alone (and reported): one plan's unreadable policy stopped the
// arming of every other plan before.
func (s *Store) armRange(ctx context.Context, tx *db.Tx, f armFilter) (armed, error) {
	q := `SELECT d.id, d.due_at, d.org_id, d.plan_id, p.reminder_policy, p.late_max_minutes, p.on_time_minutes
		FROM dose_instances d JOIN plans p ON p.id = d.plan_id
		WHERE d.status = 'scheduled' AND d.reminders_sent = d.reminders_before AND NOT p.as_needed
		  AND (d.due_at > $1 OR (d.due_at = $1 AND d.id > $2)) AND d.due_at <= $3
		  AND (d.remind_at IS NULL OR NOT EXISTS (SELECT 1 FROM events e WHERE e.dose_instance_id = d.id AND e.kind = 'snoozed'))`
	// (A dose the patient snoozed keeps the reminder time the snooze set:
	// re-arming after a policy change put it back to the policy's first
	// reminder, before the time the patient asked for. A dose without a
	// reminder time has none to keep: a revived dose snoozed in its
	// earlier life is armed.)
	args := []any{db.UTC(f.afterDue), f.afterID, db.UTC(f.to)}
	if f.onlyUnarmed {
		q += ` AND d.remind_at IS NULL`
	}
	if f.orgID != "" {
		args = append(args, f.orgID)
		q += fmt.Sprintf(` AND d.org_id = $%d`, len(args))
	}
	if f.planID != "" {
		args = append(args, f.planID)
		q += fmt.Sprintf(` AND d.plan_id = $%d`, len(args))
	}
	args = append(args, armChunk)
	q += fmt.Sprintf(` ORDER BY d.due_at, d.id LIMIT $%d`, len(args))
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return armed{}, fmt.Errorf("select doses to arm: %w", err)
	}
	type dose struct {
		id          int64
		due         time.Time
		orgID       string
		planID      string
		planPolicy  sql.NullString
		late, onTim sql.NullInt64
	}
	var doses []dose
	for rows.Next() {
		var d dose
		if err := rows.Scan(&d.id, &d.due, &d.orgID, &d.planID, &d.planPolicy, &d.late, &d.onTim); err != nil {
			rows.Close()
			return armed{}, fmt.Errorf("select doses to arm: %w", err)
		}
		d.due = d.due.UTC()
		doses = append(doses, d)
	}
	if err := rows.Close(); err != nil {
		return armed{}, err
	}
	if len(doses) == 0 {
		return armed{}, nil
	}
	res := armed{seen: len(doses), lastDue: doses[len(doses)-1].due, lastID: doses[len(doses)-1].id}
	pc := newPolicyCache(tx)
	ids := make([]int64, 0, len(doses))
	times := make([]time.Time, 0, len(doses))
	for _, d := range doses {
		pol, err := pc.policy(ctx, d.orgID, d.planPolicy)
		if errors.Is(err, errUnreadableSettings) {
			res.unreadable = append(res.unreadable, d.planID)
			continue
		}
		if err != nil {
			return armed{}, err
		}
		w, err := pc.windows(ctx, d.orgID, d.late, d.onTim)
		if err != nil {
			return armed{}, err
		}
		at, ok := firstReminder(pol, d.due, f.now, w)
		if !ok {
			if f.onlyUnarmed {
				continue
			}
			// Re-arming under a policy whose first reminder falls after
			// the window: no reminder, as arming under it would give,
			// not the time armed under the old policy.
			at = time.Time{}
		}
		ids = append(ids, d.id)
		times = append(times, db.UTC(at))
	}
	if err := setRemindAt(ctx, tx, ids, times, nil); err != nil {
		return armed{}, err
	}
	res.armed = len(ids)
	return res, nil
}

// firstReminder is when the first reminder of a dose due at due goes
// under pol, armed at now: the policy's time, or now when that is past
// (armed late: a plan created minutes before the dose, an outage), and
// false once that is not before the dose's window closes.
func firstReminder(pol remind.Policy, due, now time.Time, w adherence.Windows) (time.Time, bool) {
	at := remind.FirstRemindAt(pol, due)
	if at.Before(now) {
		at = now
	}
	return at, at.Before(due.Add(w.LateMax))
}

// armPlan arms the plan's doses that are due before the arming cursor (the
// periodic pass will not see them): called when a plan is created, changed
// or resumed.
func (s *Store) armPlan(ctx context.Context, tx *db.Tx, orgID, planID string, now time.Time) error {
	return s.rearm(ctx, tx, orgID, planID, now, true)
}

// rearm recomputes the first reminder time of the org's (or one plan's)
// doses that had no reminder yet, up to the arming cursor: after a policy
// change the new offset applies to every reminder not yet sent.
func (s *Store) rearm(ctx context.Context, tx *db.Tx, orgID, planID string, now time.Time, onlyUnarmed bool) error {
	until, err := armedUntil(ctx, tx)
	if err != nil {
		return err
	}
	if until.IsZero() {
		return nil // nothing armed yet: the first periodic pass arms them
	}
	f := armFilter{afterDue: db.UTC(now).Add(-24 * time.Hour), to: until, now: db.UTC(now), orgID: orgID, planID: planID, onlyUnarmed: onlyUnarmed}
	for {
		c, err := s.armRange(ctx, tx, f)
		if err != nil {
			return err
		}
		if c.seen < armChunk {
			return nil
		}
		f.afterDue, f.afterID = c.lastDue, c.lastID
	}
}

// resumeReminders gives the next reminder time back to the open doses of
// a plan (or of a patient's plans) that a pause or the patient's
// deactivation stopped between two reminders: a dispatch that met such a
// dose while it was inactive stopped its reminders (remind_at NULL), and
// arming takes only doses with no reminder yet, so a dose reminded once
// and paused for one dispatch tick got no more reminders after the
// resume, its window still open (QA). The next reminder goes when the
// policy planned it (the first reminder plus RepeatEvery per reminder
// sent), or at once when that has passed; none when the repeats are off,
// the maximum is reached or the window has closed. Called on resume and
// reactivation, after the plan's doses were regenerated; column is
// plan_id or patient_id.
func (s *Store) resumeReminders(ctx context.Context, tx *db.Tx, column, orgID, id string, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `SELECT d.id, d.due_at, d.reminders_sent - d.reminders_before, d.org_id,
			p.reminder_policy, p.late_max_minutes, p.on_time_minutes
		FROM dose_instances d JOIN plans p ON p.id = d.plan_id
		WHERE d.org_id = $1 AND d.`+column+` = $2 AND d.status = 'scheduled' AND d.remind_at IS NULL
		  AND d.reminders_sent > d.reminders_before AND NOT p.as_needed AND p.status = 'active' AND d.due_at > $3`,
		orgID, id, db.UTC(now.Add(-24*time.Hour)))
	if err != nil {
		return fmt.Errorf("select stopped reminders: %w", err)
	}
	type dose struct {
		id          int64
		due         time.Time
		sent        int
		orgID       string
		planPolicy  sql.NullString
		late, onTim sql.NullInt64
	}
	var doses []dose
	for rows.Next() {
		var d dose
		if err := rows.Scan(&d.id, &d.due, &d.sent, &d.orgID, &d.planPolicy, &d.late, &d.onTim); err != nil {
			rows.Close()
			return fmt.Errorf("select stopped reminders: %w", err)
		}
		d.due = d.due.UTC()
		doses = append(doses, d)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	pc := newPolicyCache(tx)
	for _, d := range doses {
		pol, err := pc.policy(ctx, d.orgID, d.planPolicy)
		if errors.Is(err, errUnreadableSettings) {
			continue // the dispatch drops its reminders too
		}
		if err != nil {
			return err
		}
		w, err := pc.windows(ctx, d.orgID, d.late, d.onTim)
		if err != nil {
			return err
		}
		if pol.RepeatEvery <= 0 || (pol.MaxReminders > 0 && d.sent >= pol.MaxReminders) {
			continue
		}
		at := remind.FirstRemindAt(pol, d.due).Add(time.Duration(d.sent) * pol.RepeatEvery)
		if at.Before(now) {
			at = now
		}
		if !at.Before(d.due.Add(w.LateMax)) {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE dose_instances SET remind_at = $1 WHERE id = $2 AND remind_at IS NULL AND status = 'scheduled'`,
			db.UTC(at), d.id); err != nil {
			return fmt.Errorf("resume reminders: %w", err)
		}
	}
	return nil
}

// setRemindAt sets remind_at (and, when sent is not nil, reminders_sent)
// of the doses ids. Without sent it arms doses that have had no reminder
// (since they were last revived) and leaves alone any that got one since they were read: a dispatch
// that committed meanwhile (PostgreSQL re-checks the condition on the
// row it waited for) has moved remind_at to the next repeat, and
// re-arming it to the first reminder's time would send that reminder
// again at once.
func setRemindAt(ctx context.Context, tx *db.Tx, ids []int64, at []time.Time, sent []int) error {
	if len(ids) == 0 {
		return nil
	}
	if tx.Dialect == db.Postgres {
		ts := make([]*time.Time, len(at))
		for i := range at {
			if !at[i].IsZero() {
				ts[i] = &at[i]
			}
		}
		var err error
		if sent == nil {
			_, err = tx.ExecContext(ctx, `UPDATE dose_instances d SET remind_at = u.at
				FROM unnest($1::bigint[], $2::timestamptz[]) AS u (id, at) WHERE d.id = u.id AND d.reminders_sent = d.reminders_before`, ids, ts)
		} else {
			s32 := make([]int32, len(sent))
			for i, v := range sent {
				s32[i] = int32(v)
			}
			_, err = tx.ExecContext(ctx, `UPDATE dose_instances d SET remind_at = u.at, reminders_sent = u.sent
				FROM unnest($1::bigint[], $2::timestamptz[], $3::int[]) AS u (id, at, sent) WHERE d.id = u.id`, ids, ts, s32)
		}
		if err != nil {
			return fmt.Errorf("set reminder times: %w", err)
		}
		return nil
	}
	q := `UPDATE dose_instances SET remind_at = ? WHERE id = ? AND reminders_sent = reminders_before`
	if sent != nil {
		q = `UPDATE dose_instances SET remind_at = ?, reminders_sent = ? WHERE id = ?`
	}
	st, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return fmt.Errorf("set reminder times: %w", err)
	}
	defer st.Close()
	for i, id := range ids {
		var t any
		if !at[i].IsZero() {
			t = db.UTC(at[i])
		}
		if sent == nil {
			_, err = st.ExecContext(ctx, t, id)
		} else {
			_, err = st.ExecContext(ctx, t, sent[i], id)
		}
		if err != nil {
			return fmt.Errorf("set reminder times: %w", err)
		}
	}
	return nil
}

// policyCache resolves reminder policies and matching windows for one
// transaction: org defaults are read once per org.
type policyCache struct {
	q        db.Querier
	org      map[string]remind.Policy
	orgWin   map[string]adherence.Windows
	messages map[string]orgMessaging
}

type orgMessaging struct {
	policy      remind.Policy
	program     string
	helpContact string
	updatedAt   *time.Time // nil: never set
}

func newPolicyCache(q db.Querier) *policyCache {
	return &policyCache{q: q, org: map[string]remind.Policy{}, orgWin: map[string]adherence.Windows{}, messages: map[string]orgMessaging{}}
}

// messaging returns the org's messaging settings (defaults when unset).
func (c *policyCache) messaging(ctx context.Context, orgID string) (orgMessaging, error) {
	if m, ok := c.messages[orgID]; ok {
		return m, nil
	}
	m := orgMessaging{policy: remind.DefaultPolicy}
	var pol sql.NullString
	var at sql.NullTime
	err := c.q.QueryRowContext(ctx, `SELECT reminder_policy, program_name, help_contact, updated_at FROM org_messaging WHERE org_id = $1`, orgID).
		Scan(&pol, &m.program, &m.helpContact, &at)
	m.updatedAt = timePtr(at)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("read org messaging settings: %w", err)
	}
	if pol.Valid {
		p, err := decodePolicy(pol.String)
		if err != nil {
			return m, err
		}
		m.policy = p
	}
	c.messages[orgID] = m
	return m, nil
}

// policy returns the effective reminder policy: the plan's own when it has
// one, else the org's.
func (c *policyCache) policy(ctx context.Context, orgID string, planPolicy sql.NullString) (remind.Policy, error) {
	if planPolicy.Valid {
		return decodePolicy(planPolicy.String)
	}
	m, err := c.messaging(ctx, orgID)
	return m.policy, err
}

// windows returns a plan's matching windows from its overrides and the
// org's settings.
func (c *policyCache) windows(ctx context.Context, orgID string, lateMax, onTime sql.NullInt64) (adherence.Windows, error) {
	w, ok := c.orgWin[orgID]
	if !ok {
		w = adherence.DefaultWindows
		var on, late, dedupe int64
		err := c.q.QueryRowContext(ctx, `SELECT on_time_minutes, late_max_minutes, open_dedupe_minutes FROM org_settings WHERE org_id = $1`, orgID).
			Scan(&on, &late, &dedupe)
		switch {
		case err == nil:
			w = orgWindows(on, late, dedupe)
		case !errors.Is(err, sql.ErrNoRows):
			return w, fmt.Errorf("read org windows: %w", err)
		}
		c.orgWin[orgID] = w
	}
	if onTime.Valid {
		w.OnTime = time.Duration(onTime.Int64) * time.Minute
	}
	if lateMax.Valid {
		w.LateMax = time.Duration(lateMax.Int64) * time.Minute
	}
	w.LateMax = max(w.LateMax, w.OnTime)
	return w, nil
}

// errUnreadableSettings marks stored reminder settings of one plan, org or
// patient that cannot be decoded (a reminder policy that is not valid JSON
// or out of bounds, an unknown time zone, malformed quiet hours): a fault
// of those records, not of the database, so the jobs leave out what needs
// them and carry on with the rest.
var errUnreadableSettings = errors.New("stored reminder settings unreadable")

func decodePolicy(js string) (remind.Policy, error) {
	var pj remind.PolicyJSON
	if err := json.Unmarshal([]byte(js), &pj); err != nil {
		return remind.Policy{}, fmt.Errorf("%w: reminder policy is not valid JSON", errUnreadableSettings)
	}
	p, err := remind.FromJSON(pj)
	if err != nil {
		return remind.Policy{}, fmt.Errorf("%w: reminder policy: %w", errUnreadableSettings, err)
	}
	return p, nil
}

// DispatchResult says what DispatchReminders did.
type DispatchResult struct {
	Examined int
	Sent     int // notifications enqueued
	Held     int // moved to the end of quiet hours (or a snooze)
	Dropped  int // recorded as dropped (quiet hours outlasting the window, validity passed)
	Expired  int // of Dropped, those whose validity had passed: the dispatcher fell behind
	// Unreadable counts, of Dropped, those whose settings could not be
	// read (see ReasonSettingsUnreadable); UnreadableDoses are their dose
	// ids, for the log.
	Unreadable      int
	UnreadableDoses []int64
	Stopped         int // no more reminders (acknowledged, window closed, maximum reached)
	// More is set when the run stopped at its budget
	// (DispatchRemindersWithin) with reminders left: the next run goes on.
	More bool
}

// dispatchChunk is how many due reminders one dispatch transaction takes.
const dispatchChunk = 1000

// DispatchReminders handles every armed reminder whose time has come
// (remind_at <= now). It is safe to run on several workers at once: on
// PostgreSQL each chunk locks its doses with FOR UPDATE SKIP LOCKED;
// SQLite has a single writer. A send writes the notification (idempotency
// key reminder:<dose>:<n>) and its delivery job in the same transaction as
// it moves remind_at on, so a reminder is enqueued exactly once.
func (s *Store) DispatchReminders(ctx context.Context, now time.Time) (DispatchResult, error) {
	return s.DispatchRemindersWithin(ctx, now, 0)
}

// DispatchRemindersWithin is DispatchReminders that stops once budget
// (when positive) has passed, at the end of the chunk it is in, setting
// More when reminders are left (see MarkMissedWithin).
func (s *Store) DispatchRemindersWithin(ctx context.Context, now time.Time, budget time.Duration) (DispatchResult, error) {
	now = db.UTC(now)
	var res DispatchResult
	start := time.Now()
	for {
		var c DispatchResult
		err := s.db.InTx(ctx, func(tx *db.Tx) error {
			var err error
			c, err = s.dispatchChunk(ctx, tx, now)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("dispatch reminders: %w", err)
		}
		res.Examined += c.Examined
		res.Sent += c.Sent
		res.Held += c.Held
		res.Dropped += c.Dropped
		res.Expired += c.Expired
		res.Unreadable += c.Unreadable
		res.UnreadableDoses = append(res.UnreadableDoses, c.UnreadableDoses...)
		res.Stopped += c.Stopped
		if c.Examined < dispatchChunk {
			return res, nil
		}
		if budget > 0 && time.Since(start) >= budget {
			res.More = true
			return res, nil
		}
	}
}

func (s *Store) dispatchChunk(ctx context.Context, tx *db.Tx, now time.Time) (DispatchResult, error) {
	var res DispatchResult
	lock := ""
	if tx.Dialect == db.Postgres {
		lock = " FOR UPDATE OF d SKIP LOCKED"
	}
	rows, err := tx.QueryContext(ctx, `SELECT d.id, d.org_id, d.patient_id, d.due_at, d.remind_at, d.reminders_sent, d.reminders_before, d.status,
			p.status, p.reminder_policy, p.late_max_minutes, p.on_time_minutes,
			pa.active, pa.time_zone, pa.quiet_start, pa.quiet_end, pa.channel_order
		FROM dose_instances d
		JOIN plans p ON p.id = d.plan_id
		JOIN patients pa ON pa.id = d.patient_id
		WHERE d.remind_at IS NOT NULL AND d.remind_at <= $1
		ORDER BY d.remind_at LIMIT $2`+lock, now, dispatchChunk)
	if err != nil {
		return res, fmt.Errorf("select due reminders: %w", err)
	}
	type due struct {
		id                   int64
		orgID, patientID     string
		dueAt, remindAt      time.Time
		sent, before         int // reminders sent in all, and before the dose was last revived
		status, planStatus   string
		planPolicy           sql.NullString
		late, onTime         sql.NullInt64
		active               bool
		zone                 string
		quietStart, quietEnd sql.NullString
		channelOrder         string
	}
	var list []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.orgID, &d.patientID, &d.dueAt, &d.remindAt, &d.sent, &d.before, &d.status,
			&d.planStatus, &d.planPolicy, &d.late, &d.onTime,
			&d.active, &d.zone, &d.quietStart, &d.quietEnd, &d.channelOrder); err != nil {
			rows.Close()
			return res, fmt.Errorf("select due reminders: %w", err)
		}
		d.dueAt, d.remindAt = d.dueAt.UTC(), d.remindAt.UTC()
		list = append(list, d)
	}
	if err := rows.Close(); err != nil {
		return res, fmt.Errorf("select due reminders: %w", err)
	}
	res.Examined = len(list)
	if len(list) == 0 {
		return res, nil
	}
	pc := newPolicyCache(tx)
	zones := map[string]*time.Location{}
	ids := make([]int64, 0, len(list))
	next := make([]time.Time, 0, len(list))
	sent := make([]int, 0, len(list))
	var out []NotificationInput
	for _, d := range list {
		pol, w, loc, quiet, err := dispatchSettings(ctx, pc, zones, d.orgID, d.planPolicy, d.late, d.onTime, d.zone, d.quietStart, d.quietEnd)
		if errors.Is(err, errUnreadableSettings) {
			// This reminder cannot be decided: it is dropped, and its dose
			// gets no more reminders, rather than failing (and retrying
			// for ever) every other reminder of the batch.
			ids = append(ids, d.id)
			next = append(next, time.Time{})
			sent = append(sent, d.sent+1)
			out = append(out, NotificationInput{
				OrgID: d.orgID, IdempotencyKey: fmt.Sprintf("reminder:%d:%d", d.id, d.sent+1), Kind: KindReminder,
				Template: remind.KindReminder, PatientID: d.patientID, DoseInstanceID: d.id,
				Channels: channelOrder(d.channelOrder, nil), DueAt: d.remindAt,
				Status: NotificationDropped, Reason: ReasonSettingsUnreadable,
			})
			res.Dropped++
			res.Unreadable++
			res.UnreadableDoses = append(res.UnreadableDoses, d.id)
			continue
		}
		if err != nil {
			return res, err
		}
		closes := d.dueAt.Add(w.LateMax)
		// The policy counts the reminders of the dose's current life
		// (see upsertConflict); the keys count them all.
		dose := remind.Dose{
			DueAt: d.dueAt, WindowCloses: closes, RemindAt: d.remindAt, Sent: d.sent - d.before,
			Open: d.status == string(adherence.DoseScheduled) && d.planStatus == string(adherence.PlanActive) && d.active,
		}
		if dose.Open && pol.MaxReminders > 0 && dose.Sent >= pol.MaxReminders {
			// Only a snooze sets a reminder time once the maximum is
			// reached; it is honoured (see remind.Dose.Snoozed).
			if dose.Snoozed, err = snoozedAfterLastReminder(ctx, tx, d.orgID, d.id, d.sent); err != nil {
				return res, err
			}
		}
		dec := remind.Decide(pol, quiet, loc, dose, now)
		ids = append(ids, d.id)
		n := d.sent
		switch dec.Action {
		case remind.Send:
			// The validity period runs from the reminder's own time, so a
			// dispatcher that fell behind does not send stale reminders.
			valid := d.remindAt.Add(pol.Validity)
			if valid.After(closes) {
				valid = closes
			}
			n++
			in := NotificationInput{
				OrgID: d.orgID, IdempotencyKey: fmt.Sprintf("reminder:%d:%d", d.id, n), Kind: KindReminder,
				Template: remind.KindReminder, PatientID: d.patientID, DoseInstanceID: d.id,
				Channels: channelOrder(d.channelOrder, pol.Channels), DueAt: d.remindAt, ValidUntil: &valid,
			}
			if !now.Before(valid) {
				in.Status, in.Reason = NotificationDropped, ReasonValidityPassed
				res.Dropped++
				res.Expired++
			} else {
				res.Sent++
			}
			out = append(out, in)
		case remind.Drop:
			n++
			out = append(out, NotificationInput{
				OrgID: d.orgID, IdempotencyKey: fmt.Sprintf("reminder:%d:%d", d.id, n), Kind: KindReminder,
				Template: remind.KindReminder, PatientID: d.patientID, DoseInstanceID: d.id,
				Channels: channelOrder(d.channelOrder, pol.Channels), DueAt: d.remindAt,
				Status: NotificationDropped, Reason: dec.Reason,
			})
			res.Dropped++
		case remind.Hold:
			res.Held++
		default:
			res.Stopped++
		}
		next = append(next, dec.Next)
		sent = append(sent, n)
	}
	if _, err := s.enqueueNotifications(ctx, tx, out); err != nil {
		return res, err
	}
	if err := setRemindAt(ctx, tx, ids, next, sent); err != nil {
		return res, err
	}
	return res, nil
}

// dispatchSettings reads what deciding one reminder needs: its policy,
// matching windows, the patient's zone (cached in zones) and quiet hours.
// Settings that cannot be decoded are errUnreadableSettings.
func dispatchSettings(ctx context.Context, pc *policyCache, zones map[string]*time.Location, orgID string, planPolicy sql.NullString,
	late, onTime sql.NullInt64, zone string, quietStart, quietEnd sql.NullString) (remind.Policy, adherence.Windows, *time.Location, adherence.QuietHours, error) {
	pol, err := pc.policy(ctx, orgID, planPolicy)
	if err != nil {
		return pol, adherence.Windows{}, nil, adherence.QuietHours{}, err
	}
	w, err := pc.windows(ctx, orgID, late, onTime)
	if err != nil {
		return pol, w, nil, adherence.QuietHours{}, err
	}
	loc, ok := zones[zone]
	if !ok {
		if loc, err = loadZone(zone); err != nil {
			return pol, w, nil, adherence.QuietHours{}, fmt.Errorf("%w: patient time zone: %w", errUnreadableSettings, err)
		}
		zones[zone] = loc
	}
	quiet, err := quietOf(quietStart, quietEnd)
	if err != nil {
		return pol, w, loc, quiet, fmt.Errorf("%w: %w", errUnreadableSettings, err)
	}
	return pol, w, loc, quiet, nil
}

// snoozedAfterLastReminder reports whether the patient snoozed dose id
// (from the app or by an SMS reply) at or after the due time of its latest
// reminder, the sent-th: the reminder time it has now is then the one they
// asked for. The reminder is found by its key (notifications have no index
// on their dose: looking it up by dose read the whole table).
func snoozedAfterLastReminder(ctx context.Context, tx *db.Tx, orgID string, id int64, sent int) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM events e
		WHERE e.dose_instance_id = $1 AND e.kind = $2
		  AND e.occurred_at >= (SELECT n.due_at FROM notifications n WHERE n.org_id = $3 AND n.idempotency_key = $4)`,
		id, string(adherence.EventSnoozed), orgID, fmt.Sprintf("reminder:%d:%d", id, sent)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read snooze of dose: %w", err)
	}
	return n > 0, nil
}

// channelOrder is the patient's own channel order when set, else the
// policy's.
func channelOrder(patient string, policy []notify.Channel) []notify.Channel {
	if patient != "" {
		return channelsOf(patient)
	}
	return policy
}

// quietOf parses stored quiet hours.
func quietOf(start, end sql.NullString) (adherence.QuietHours, error) {
	if !start.Valid || !end.Valid {
		return adherence.QuietHours{}, nil
	}
	s, err := schedule.ParseClock(strings.TrimSpace(start.String))
	if err != nil {
		return adherence.QuietHours{}, fmt.Errorf("stored quiet hours: %w", err)
	}
	e, err := schedule.ParseClock(strings.TrimSpace(end.String))
	if err != nil {
		return adherence.QuietHours{}, fmt.Errorf("stored quiet hours: %w", err)
	}
	return adherence.QuietHours{Start: s, End: e, Set: true}, nil
}
