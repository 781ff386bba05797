package store

// The escalation engine.
//
// Escalations are opened from the outbox: ConsumeOutbox reads the
// dose.missed and dose.resolved records in id order, evaluates the org's
// active policies for the patient, and opens or resolves escalations in
// the same transaction as it marks the records processed. An escalation
// advances one level at a time through escalation_steps: each step has its
// due time (opened_at + the level's After) and a River job scheduled then;
// FireStep enqueues the level's notifications, marks the step fired and
// schedules the next one. RedriveStalledSteps re-enqueues jobs of steps
// still pending well after their due time (a lost or discarded job), and
// OldestOverdueStep says how late the oldest one is, for /health.
//
// Locks are always taken in the same order — patient, then policy, then
// escalation, then step — so concurrent consumers, step jobs,
// acknowledgements and policy changes never deadlock one another.
//
// Changes made by the jobs are audited with the actor
// EscalationSystemActor; acknowledgements with the acknowledging actor.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/notify"
)

// EscalationSystemActor is the audit actor of changes the escalation jobs
// make (opening, firing, resolving escalations).
var EscalationSystemActor = adherence.Actor{ID: "system:escalation", Role: "system"}

// Reasons recorded when an escalation closes.
const (
	ReasonAcknowledged    = "acknowledged"
	ReasonAcknowledgedSMS = "acknowledged_sms"
	ReasonDoseRecorded    = "dose_recorded"
	// ReasonDoseExcluded: the missed dose the escalation was about is no
	// longer a dose of its plan (its end moved before it, or its start
	// after it).
	ReasonDoseExcluded      = "dose_excluded"
	ReasonTriggerCleared    = "trigger_cleared"
	ReasonPolicyDeactivated = "policy_deactivated"
	// ReasonPatientDeactivated: the patient left the program; nobody
	// is paged about them any more.
	ReasonPatientDeactivated = "patient_deactivated"
	// ReasonPlanPaused and ReasonPlanStopped: the escalation was about a
	// dose of a plan that was put on hold or discontinued; nobody is paged
	// about that medication any more.
	ReasonPlanPaused  = "plan_paused"
	ReasonPlanStopped = "plan_stopped"
	// ReasonPlanAsNeeded: the plan of the dose became as needed, whose
	// doses are logged, not scheduled.
	ReasonPlanAsNeeded = "plan_as_needed"
)

// Resolution is why an escalation was resolved (one of the Reason
// constants) and the last level it had fired (0: none yet), as counted by
// the escalation metrics.
type Resolution struct {
	Reason string
	Level  int
}

// resolvedHook tells s.OnEscalationsResolved, when set, of the
// resolutions of a committed transaction.
func (s *Store) resolvedHook(list []Resolution) {
	if s.OnEscalationsResolved == nil || len(list) == 0 {
		return
	}
	by := map[Resolution]int{}
	for _, r := range list {
		by[r]++
	}
	s.OnEscalationsResolved(by)
}

// ClosedByPatient is Escalation.ClosedBy when the patient's own recording
// resolved it.
const ClosedByPatient = "patient"

// ---------------------------------------------------------------------
// Policies

const policyColumns = `id, org_id, name, trigger_kind, trigger_count, trigger_window_minutes, threshold, levels, active, created_at, updated_at`

// levelJSON is a level as stored in escalation_policies.levels.
type levelJSON struct {
	AfterMinutes int      `json:"afterMinutes"`
	Recipients   string   `json:"recipients"`
	Channels     []string `json:"channels"`
	URL          string   `json:"url,omitempty"`
	Urgent       bool     `json:"urgent,omitempty"`
}

func encodeLevels(levels []adherence.EscalationLevel) (string, error) {
	out := make([]levelJSON, len(levels))
	for i, l := range levels {
		chans := make([]string, len(l.Channels))
		for j, c := range l.Channels {
			chans[j] = string(c)
		}
		out[i] = levelJSON{AfterMinutes: int(l.After / time.Minute), Recipients: string(l.Recipients), Channels: chans, URL: l.URL, Urgent: l.Urgent}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func decodeLevels(s string) ([]adherence.EscalationLevel, error) {
	var in []levelJSON
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, err
	}
	out := make([]adherence.EscalationLevel, len(in))
	for i, l := range in {
		chans := make([]notify.Channel, len(l.Channels))
		for j, c := range l.Channels {
			chans[j] = notify.Channel(c)
		}
		out[i] = adherence.EscalationLevel{After: time.Duration(l.AfterMinutes) * time.Minute, Recipients: adherence.Recipients(l.Recipients),
			Channels: chans, URL: l.URL, Urgent: l.Urgent}
	}
	return out, nil
}

func scanPolicy(row scanner) (adherence.EscalationPolicy, error) {
	var p adherence.EscalationPolicy
	var kind, levels string
	var windowMin int
	err := row.Scan(&p.ID, &p.OrgID, &p.Name, &kind, &p.Trigger.Count, &windowMin, &p.Trigger.Threshold, &levels, &p.Active, &p.CreatedAt, &p.UpdatedAt)
	if err != nil {
		return p, err
	}
	p.Trigger.Kind, p.Trigger.Window = adherence.TriggerKind(kind), time.Duration(windowMin)*time.Minute
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	if p.Levels, err = decodeLevels(levels); err != nil {
		return p, fmt.Errorf("decode levels of policy %s: %w", p.ID, err)
	}
	return p, nil
}

// CreateEscalationPolicy validates p and adds it to p.OrgID, assigning its
// ID, CreatedAt and UpdatedAt; it is created active.
func (s *Store) CreateEscalationPolicy(ctx context.Context, a adherence.Actor, p *adherence.EscalationPolicy) error {
	p.Name = strings.TrimSpace(p.Name)
	if err := p.Validate(); err != nil {
		return err
	}
	if !isID(p.OrgID) {
		return errs.NotFound("organization")
	}
	levels, err := encodeLevels(p.Levels)
	if err != nil {
		return fmt.Errorf("create escalation policy: %w", err)
	}
	now := s.clock()
	p.ID, p.CreatedAt, p.UpdatedAt, p.Active = newID(), now, now, true
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO escalation_policies (`+policyColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			p.ID, p.OrgID, p.Name, string(p.Trigger.Kind), p.Trigger.Count, int(p.Trigger.Window/time.Minute), p.Trigger.Threshold,
			levels, p.Active, p.CreatedAt, p.UpdatedAt)
		switch {
		case isForeignKeyViolation(err):
			return errs.NotFound("organization")
		case err != nil:
			return fmt.Errorf("insert: %w", err)
		}
		return s.record(ctx, tx, a, p.OrgID, audit.ActionCreate, "EscalationPolicy", p.ID, "")
	})
	if err != nil {
		return fmt.Errorf("create escalation policy: %w", err)
	}
	return nil
}

// GetEscalationPolicy returns a policy of orgID.
func (s *Store) GetEscalationPolicy(ctx context.Context, orgID, id string) (adherence.EscalationPolicy, error) {
	if !isID(orgID) || !isID(id) {
		return adherence.EscalationPolicy{}, errs.NotFound("escalation policy")
	}
	p, err := scanPolicy(s.db.SQL.QueryRowContext(ctx, `SELECT `+policyColumns+` FROM escalation_policies WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return adherence.EscalationPolicy{}, notFound(err, "get escalation policy", "escalation policy")
	}
	return p, nil
}

// ListEscalationPolicies returns the policies of orgID, active and
// inactive, oldest first.
func (s *Store) ListEscalationPolicies(ctx context.Context, orgID string) ([]adherence.EscalationPolicy, error) {
	if !isID(orgID) {
		return nil, nil
	}
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT `+policyColumns+` FROM escalation_policies WHERE org_id = $1 ORDER BY id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list escalation policies: %w", err)
	}
	defer rows.Close()
	var out []adherence.EscalationPolicy
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, fmt.Errorf("list escalation policies: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list escalation policies: %w", err)
	}
	return out, nil
}

// UpdateEscalationPolicy replaces the name, trigger, levels and active flag
// of policy p.ID of p.OrgID, and sets p.CreatedAt and p.UpdatedAt.
//
// Open escalations keep their opening time; their next levels follow the
// new levels: a pending step moves to its opening time + its level's new
// After (now when that has passed), with a job at its new due time, and
// the steps inserted later are timed by the new levels too (a step whose
// level no longer exists is cancelled when due). One with no pending step
// left gets one for the next level the edit added (see
// scheduleAddedLevels).
// Deactivating a policy resolves its open escalations (reason
// policy_deactivated, closed by the actor) and cancels their pending steps.
func (s *Store) UpdateEscalationPolicy(ctx context.Context, a adherence.Actor, p *adherence.EscalationPolicy) error {
	p.Name = strings.TrimSpace(p.Name)
	if err := p.Validate(); err != nil {
		return err
	}
	if !isID(p.OrgID) || !isID(p.ID) {
		return errs.NotFound("escalation policy")
	}
	levels, err := encodeLevels(p.Levels)
	if err != nil {
		return fmt.Errorf("update escalation policy: %w", err)
	}
	var resolved []Resolution
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		resolved = nil
		old, err := lockPolicy(ctx, tx, p.OrgID, p.ID)
		if err != nil {
			return err
		}
		now := s.clock()
		p.CreatedAt, p.UpdatedAt = old.CreatedAt, now
		if _, err := tx.ExecContext(ctx, `UPDATE escalation_policies SET name = $1, trigger_kind = $2, trigger_count = $3,
				trigger_window_minutes = $4, threshold = $5, levels = $6, active = $7, updated_at = $8
			WHERE org_id = $9 AND id = $10`,
			p.Name, string(p.Trigger.Kind), p.Trigger.Count, int(p.Trigger.Window/time.Minute), p.Trigger.Threshold,
			levels, p.Active, now, p.OrgID, p.ID); err != nil {
			return fmt.Errorf("update: %w", err)
		}
		var recs []audit.Record
		if old.Active && !p.Active {
			if recs, resolved, err = s.closePolicyEscalations(ctx, tx, a, p.OrgID, p.ID, now); err != nil {
				return err
			}
		} else if err := s.reschedulePendingSteps(ctx, tx, p.OrgID, p.ID, p.Levels, now); err != nil {
			return err
		}
		recs = append(recs, auditRecord(a, p.OrgID, audit.ActionUpdate, "EscalationPolicy", p.ID, "", ""))
		return s.appendAudit(ctx, tx, recs)
	})
	if err != nil {
		return fmt.Errorf("update escalation policy: %w", err)
	}
	s.resolvedHook(resolved)
	return nil
}

// DeleteEscalationPolicy deactivates a policy of orgID: it opens no more
// escalations, and its open ones are resolved (see UpdateEscalationPolicy).
// Policies are kept for the history of their escalations. Deleting an
// inactive policy changes nothing.
func (s *Store) DeleteEscalationPolicy(ctx context.Context, a adherence.Actor, orgID, id string) error {
	if !isID(orgID) || !isID(id) {
		return errs.NotFound("escalation policy")
	}
	var resolved []Resolution
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		resolved = nil
		old, err := lockPolicy(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		if !old.Active {
			return nil
		}
		now := s.clock()
		if _, err := tx.ExecContext(ctx, `UPDATE escalation_policies SET active = $1, updated_at = $2 WHERE org_id = $3 AND id = $4`,
			false, now, orgID, id); err != nil {
			return fmt.Errorf("deactivate: %w", err)
		}
		recs, res, err := s.closePolicyEscalations(ctx, tx, a, orgID, id, now)
		if err != nil {
			return err
		}
		resolved = res
		recs = append(recs, auditRecord(a, orgID, audit.ActionDelete, "EscalationPolicy", id, "", ""))
		return s.appendAudit(ctx, tx, recs)
	})
	if err != nil {
		return fmt.Errorf("delete escalation policy: %w", err)
	}
	s.resolvedHook(resolved)
	return nil
}

// reschedulePendingSteps moves the pending steps of the open escalations
// of policyID, whose levels are now levels, to opened_at + their level's
// After (now when that has passed) and enqueues a job at each new due
// time. Without it a step kept the due time and job of the levels it was
// scheduled under, so an edited policy paged at its old timing. A step's
// old job that runs before the new due time is snoozed until then (not
// due), one that runs after finds the step fired. A step whose level no
// longer exists is left to be cancelled when due. Escalations are locked
// before their steps, as by FireStep.
func (s *Store) reschedulePendingSteps(ctx context.Context, tx *db.Tx, orgID, policyID string, levels []adherence.EscalationLevel, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `SELECT id FROM escalations WHERE org_id = $1 AND policy_id = $2 AND status = 'open'`+forUpdate(tx.Dialect),
		orgID, policyID); err != nil {
		return fmt.Errorf("lock open escalations: %w", err)
	}
	lock := ""
	if tx.Dialect == db.Postgres {
		lock = " FOR UPDATE OF st"
	}
	rows, err := tx.QueryContext(ctx, `SELECT st.id, st.level, st.due_at, e.opened_at FROM escalation_steps st
		JOIN escalations e ON e.id = st.escalation_id
		WHERE e.org_id = $1 AND e.policy_id = $2 AND e.status = 'open' AND st.status = 'pending'
		ORDER BY st.id`+lock, orgID, policyID)
	if err != nil {
		return fmt.Errorf("read pending steps: %w", err)
	}
	var moved []stepJob
	for rows.Next() {
		var id int64
		var lvl int
		var due, opened time.Time
		if err := rows.Scan(&id, &lvl, &due, &opened); err != nil {
			rows.Close()
			return fmt.Errorf("read pending steps: %w", err)
		}
		if lvl < 1 || lvl > len(levels) {
			continue
		}
		next := opened.UTC().Add(levels[lvl-1].After)
		if next.Before(now) {
			next = now
		}
		if !next.Equal(due.UTC()) {
			moved = append(moved, stepJob{id: id, due: next})
		}
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("read pending steps: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read pending steps: %w", err)
	}
	for _, st := range moved {
		// redriven restarts: the stall sweeper counts lateness from the new
		// due time.
		if _, err := tx.ExecContext(ctx, `UPDATE escalation_steps SET due_at = $1, redriven = 0 WHERE id = $2`, db.UTC(st.due), st.id); err != nil {
			return fmt.Errorf("move pending step: %w", err)
		}
	}
	added, err := scheduleAddedLevels(ctx, tx, orgID, policyID, levels, now)
	if err != nil {
		return err
	}
	return s.insertStepJobs(ctx, tx, append(moved, added...), now)
}

// scheduleAddedLevels gives the open escalations of policyID that have no
// pending step (their last level fired, or the step of the next one was
// cancelled when an edit had removed it) and fewer levels fired than
// levels now has, a pending step for their next level at opened_at + its
// After (now when that has passed), and returns the steps to enqueue jobs
// for. Without it the levels an edit added after the last one fired were
// never scheduled, and the next miss exhausted the escalation. A step of
// that level cancelled before is made pending again (steps are unique per
// escalation and level). The caller has locked the escalations.
func scheduleAddedLevels(ctx context.Context, tx *db.Tx, orgID, policyID string, levels []adherence.EscalationLevel, now time.Time) ([]stepJob, error) {
	rows, err := tx.QueryContext(ctx, `SELECT e.id, e.level, e.opened_at FROM escalations e
		WHERE e.org_id = $1 AND e.policy_id = $2 AND e.status = 'open' AND e.level < $3
		  AND NOT EXISTS (SELECT 1 FROM escalation_steps st WHERE st.escalation_id = e.id AND st.status = 'pending')
		ORDER BY e.id`, orgID, policyID, len(levels))
	if err != nil {
		return nil, fmt.Errorf("read escalations without a pending step: %w", err)
	}
	type waiting struct {
		id     string
		level  int
		opened time.Time
	}
	var list []waiting
	for rows.Next() {
		var w waiting
		if err := rows.Scan(&w.id, &w.level, &w.opened); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read escalations without a pending step: %w", err)
		}
		list = append(list, w)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("read escalations without a pending step: %w", err)
	}
	var added []stepJob
	for _, w := range list {
		due := w.opened.UTC().Add(levels[w.level].After)
		if due.Before(now) {
			due = now
		}
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO escalation_steps (org_id, escalation_id, level, due_at, status)
			VALUES ($1, $2, $3, $4, 'pending')
			ON CONFLICT (escalation_id, level) DO UPDATE SET status = 'pending', due_at = excluded.due_at, redriven = 0
			WHERE escalation_steps.status = 'cancelled'
			RETURNING id`, orgID, w.id, w.level+1, db.UTC(due)).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue // that level's step fired already
		case err != nil:
			return nil, fmt.Errorf("schedule added level: %w", err)
		}
		added = append(added, stepJob{id: id, due: due})
	}
	return added, nil
}

func lockPolicy(ctx context.Context, tx *db.Tx, orgID, id string) (adherence.EscalationPolicy, error) {
	p, err := scanPolicy(tx.QueryRowContext(ctx, `SELECT `+policyColumns+` FROM escalation_policies
		WHERE org_id = $1 AND id = $2`+forUpdate(tx.Dialect), orgID, id))
	if err != nil {
		return p, notFound(err, "read escalation policy", "escalation policy")
	}
	return p, nil
}

// closePolicyEscalations resolves the open (and exhausted) escalations of
// a policy being deactivated and returns their audit records and
// resolutions.
func (s *Store) closePolicyEscalations(ctx context.Context, tx *db.Tx, a adherence.Actor, orgID, policyID string, now time.Time) ([]audit.Record, []Resolution, error) {
	return resolveEscalationsWhere(ctx, tx, a, orgID, `policy_id = $2 AND status IN ('open', 'exhausted')`, policyID, ReasonPolicyDeactivated, now)
}

// closePatientEscalations resolves the open (and exhausted) escalations of
// a patient being deactivated, so that no further level fires and no
// message still waiting (held for quiet hours, retried) goes out about
// someone who left the program; it returns their audit records and
// resolutions.
func (s *Store) closePatientEscalations(ctx context.Context, tx *db.Tx, a adherence.Actor, orgID, patientID string, now time.Time) ([]audit.Record, []Resolution, error) {
	return resolveEscalationsWhere(ctx, tx, a, orgID, `patient_id = $2 AND status IN ('open', 'exhausted')`, patientID, ReasonPatientDeactivated, now)
}

// resolveEscalationsWhere resolves the escalations of orgID matching cond
// (whose $2 is arg) with reason, and returns their audit records and
// resolutions.
func resolveEscalationsWhere(ctx context.Context, tx *db.Tx, a adherence.Actor, orgID, cond, arg, reason string, now time.Time) ([]audit.Record, []Resolution, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, patient_id, level FROM escalations
		WHERE org_id = $1 AND `+cond+` ORDER BY id`+forUpdate(tx.Dialect), orgID, arg)
	if err != nil {
		return nil, nil, fmt.Errorf("read open escalations: %w", err)
	}
	type open struct {
		id, patient string
		level       int
	}
	var list []open
	for rows.Next() {
		var o open
		if err := rows.Scan(&o.id, &o.patient, &o.level); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("read open escalations: %w", err)
		}
		list = append(list, o)
	}
	if err := rows.Close(); err != nil {
		return nil, nil, err
	}
	var recs []audit.Record
	var resolved []Resolution
	for _, o := range list {
		if err := closeEscalation(ctx, tx, o.id, adherence.EscalationResolved, a.ID, reason, now); err != nil {
			return nil, nil, err
		}
		recs = append(recs, auditRecord(a, orgID, audit.ActionUpdate, "Escalation", o.id, o.patient, "status=resolved reason="+reason))
		resolved = append(resolved, Resolution{Reason: reason, Level: o.level})
	}
	return recs, resolved, nil
}

// moveToTakenInMiss moves the unclosed missed_dose escalation id to the
// earliest dose, still missed, of the patient's active plans (a paused,
// stopped or as-needed plan's misses page no one) that the escalation took
// in (see takenInMisses). It returns that dose, or 0 when there was none.
// The caller audits the move (movedRecord).
func moveToTakenInMiss(ctx context.Context, tx *db.Tx, orgID, patientID, id, status string, opened time.Time, closed sql.NullTime) (int64, error) {
	query, args := takenInMisses(orgID, patientID, status, opened, closed)
	var next int64
	var due time.Time
	err := tx.QueryRowContext(ctx, query+` ORDER BY d.due_at, d.id LIMIT 1`, args...).Scan(&next, &due)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("find a missed dose the escalation took in: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE escalations SET dose_instance_id = $1 WHERE id = $2`, next, id); err != nil {
		return 0, fmt.Errorf("move escalation to another missed dose: %w", err)
	}
	return next, nil
}

// movedRecord is the audit record of the move of escalation id to dose,
// made by a, where its resolution with reason would otherwise have been
// recorded: the escalation's dose is what its messages and its API answer
// are about, a change of the patient's record as its resolution is.
func movedRecord(a adherence.Actor, orgID, id, patientID string, dose int64, reason string) audit.Record {
	return auditRecord(a, orgID, audit.ActionUpdate, "Escalation", id, patientID, fmt.Sprintf("dose=%d reason=%s", dose, reason))
}

// moveToHoldingMiss moves the unclosed missed_count escalation id, whose
// trigger no longer holds around its own dose (recorded late, or of a plan
// put on hold), to the latest dose it took in (see takenInMisses) around
// which pol's trigger still holds on the misses of the patient's active
// plans. It returns that dose, or 0 when there was none (the caller audits
// the move, movedRecord). Resolved on its own
// dose alone, an escalation opened by a miss of a plan then paused (or
// recorded late) was resolved while the active plans' misses still reached
// the count, and the next miss opened a new one at level 1: the care
// team's escalation, its acknowledgement state and its level progress were
// lost.
func moveToHoldingMiss(ctx context.Context, tx *db.Tx, pol adherence.EscalationPolicy, orgID, patientID, id, status string, opened time.Time, closed sql.NullTime, now time.Time) (int64, error) {
	query, args := takenInMisses(orgID, patientID, status, opened, closed)
	rows, err := tx.QueryContext(ctx, query+` ORDER BY d.due_at DESC, d.id DESC`, args...)
	if err != nil {
		return 0, fmt.Errorf("read the missed doses the escalation took in: %w", err)
	}
	type miss struct {
		id  int64
		due time.Time
	}
	var misses []miss
	for rows.Next() {
		var m miss
		if err := rows.Scan(&m.id, &m.due); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read the missed doses the escalation took in: %w", err)
		}
		misses = append(misses, m)
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("read the missed doses the escalation took in: %w", err)
	}
	for _, m := range misses {
		dose := doseState{found: true, patientID: patientID, dueAt: m.due.UTC(), status: adherence.DoseMissed, planActive: true}
		holds, err := triggerHolds(ctx, tx, pol, orgID, patientID, dose, now)
		if err != nil {
			return 0, err
		}
		if !holds {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE escalations SET dose_instance_id = $1 WHERE id = $2`, m.id, id); err != nil {
			return 0, fmt.Errorf("move escalation to another missed dose: %w", err)
		}
		return m.id, nil
	}
	return 0, nil
}

// takenInMisses is the query (and its arguments) of the ids and due times
// of the doses, still missed, of the patient's active plans (a paused,
// stopped or as-needed plan's misses page no one) that an unclosed
// escalation took in: one escalation per policy and patient is open, and
// the misses consumed while it was open were added to it. An exhausted one
// took in those consumed before closed, when the miss that exhausted it
// went to its successor.
func takenInMisses(orgID, patientID, status string, opened time.Time, closed sql.NullTime) (string, []any) {
	query := `SELECT d.id, d.due_at FROM dose_instances d
		JOIN outbox o ON o.topic = $3 AND o.dedupe_key = CAST(d.id AS TEXT)
		WHERE d.org_id = $1 AND d.patient_id = $2 AND d.status = 'missed' AND o.processed_at >= $4
		  AND EXISTS (SELECT 1 FROM plans pl WHERE pl.org_id = d.org_id AND pl.id = d.plan_id AND pl.status = 'active' AND NOT pl.as_needed)`
	args := []any{orgID, patientID, TopicDoseMissed, db.UTC(opened)}
	if status == string(adherence.EscalationExhausted) && closed.Valid {
		query += ` AND o.processed_at < $5`
		args = append(args, db.UTC(closed.Time))
	}
	return query, args
}

// closePlanEscalations ends the unclosed missed_dose escalations about a
// dose of plan p, which is being paused, stopped or made as needed (reason
// says which): nobody is paged any more about that medication. One that
// took in a miss of another active plan goes on about it
// (moveToTakenInMiss), as when its own dose is recorded late; the others
// are resolved and their pending steps cancelled. The patient's unclosed
// missed_count and low_adherence escalations are then re-evaluated without
// p's doses (see closeClearedCountEscalations). It returns the audit
// records of the resolutions and moves (movedRecord), and the resolutions. The
// caller locks the patient, as the escalation consumer does, so a miss
// consumed concurrently either opened or joined its escalation before (and
// is seen here) or sees the plan's new status (and opens none).
func closePlanEscalations(ctx context.Context, tx *db.Tx, a adherence.Actor, p adherence.Plan, reason string, now time.Time) ([]audit.Record, []Resolution, error) {
	lock := ""
	if tx.Dialect == db.Postgres {
		lock = " FOR UPDATE OF e"
	}
	rows, err := tx.QueryContext(ctx, `SELECT e.id, e.status, e.opened_at, e.closed_at, e.level FROM escalations e
		JOIN escalation_policies pol ON pol.org_id = e.org_id AND pol.id = e.policy_id
		JOIN dose_instances d ON d.id = e.dose_instance_id
		WHERE e.org_id = $1 AND e.patient_id = $2 AND e.status IN ('open', 'exhausted')
		  AND pol.trigger_kind = 'missed_dose' AND d.plan_id = $3
		ORDER BY e.id`+lock, p.OrgID, p.PatientID, p.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("read escalations of the plan: %w", err)
	}
	type about struct {
		id, status string
		opened     time.Time
		closed     sql.NullTime
		level      int
	}
	var list []about
	for rows.Next() {
		var e about
		if err := rows.Scan(&e.id, &e.status, &e.opened, &e.closed, &e.level); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("read escalations of the plan: %w", err)
		}
		list = append(list, e)
	}
	if err := rows.Close(); err != nil {
		return nil, nil, fmt.Errorf("read escalations of the plan: %w", err)
	}
	var recs []audit.Record
	var resolved []Resolution
	for _, e := range list {
		moved, err := moveToTakenInMiss(ctx, tx, p.OrgID, p.PatientID, e.id, e.status, e.opened, e.closed)
		if err != nil {
			return nil, nil, err
		}
		if moved != 0 {
			recs = append(recs, movedRecord(a, p.OrgID, e.id, p.PatientID, moved, reason))
			continue
		}
		if err := closeEscalation(ctx, tx, e.id, adherence.EscalationResolved, a.ID, reason, now); err != nil {
			return nil, nil, err
		}
		recs = append(recs, auditRecord(a, p.OrgID, audit.ActionUpdate, "Escalation", e.id, p.PatientID, "status=resolved reason="+reason))
		resolved = append(resolved, Resolution{Reason: reason, Level: e.level})
	}
	moreRecs, moreResolved, err := closeClearedCountEscalations(ctx, tx, a, p, reason, now)
	if err != nil {
		return nil, nil, err
	}
	return append(recs, moreRecs...), append(resolved, moreResolved...), nil
}

// closeClearedCountEscalations re-evaluates the unclosed missed_count and
// low_adherence escalations of p's patient once p no longer counts (its
// status or as_needed already changed in tx: the triggers count only the
// doses of active scheduled plans), and resolves with reason those whose
// trigger no longer holds, as a dose.resolved record would: a missed_count
// escalation opened by a miss of p goes on about the latest active plans'
// miss it took in around which they still reach the count
// (moveToHoldingMiss). Left alone, an escalation driven by the misses of a
// plan put on hold went on paging until the patient's next recording
// re-evaluated it. It returns the audit records of the resolutions and
// moves (movedRecord), and the resolutions.
func closeClearedCountEscalations(ctx context.Context, tx *db.Tx, a adherence.Actor, p adherence.Plan, reason string, now time.Time) ([]audit.Record, []Resolution, error) {
	policies, err := loadOrgPolicies(ctx, tx, []any{p.OrgID})
	if err != nil {
		return nil, nil, err
	}
	list, err := unclosedEscalations(ctx, tx, p.OrgID, p.PatientID)
	if err != nil {
		return nil, nil, err
	}
	var recs []audit.Record
	var resolved []Resolution
	for _, u := range list {
		pol, ok := policies[u.policy]
		if !ok || (pol.Trigger.Kind != adherence.TriggerMissedCount && pol.Trigger.Kind != adherence.TriggerLowAdherence) {
			continue
		}
		dose, err := loadDose(ctx, tx, u.dose)
		if err != nil {
			return nil, nil, err
		}
		holds, err := triggerHolds(ctx, tx, pol, p.OrgID, p.PatientID, dose, now)
		if err != nil {
			return nil, nil, err
		}
		if !holds && pol.Trigger.Kind == adherence.TriggerMissedCount {
			// Opened by a miss of p, it goes on about an active plan's
			// miss it took in while their misses still reach the count.
			moved, err := moveToHoldingMiss(ctx, tx, pol, p.OrgID, p.PatientID, u.id, u.status, u.opened, u.closed, now)
			if err != nil {
				return nil, nil, err
			}
			if moved != 0 {
				recs = append(recs, movedRecord(a, p.OrgID, u.id, p.PatientID, moved, reason))
				holds = true
			}
		}
		if holds {
			continue
		}
		if err := closeEscalation(ctx, tx, u.id, adherence.EscalationResolved, a.ID, reason, now); err != nil {
			return nil, nil, err
		}
		recs = append(recs, auditRecord(a, p.OrgID, audit.ActionUpdate, "Escalation", u.id, p.PatientID, "status=resolved reason="+reason))
		resolved = append(resolved, Resolution{Reason: reason, Level: u.level})
	}
	return recs, resolved, nil
}

// unclosedEscalation is an escalation still open or exhausted (its levels
// spent, still unacknowledged), as re-evaluations read it.
type unclosedEscalation struct {
	id, policy, status string
	dose               int64
	level              int
	opened             time.Time
	closed             sql.NullTime
}

// unclosedEscalations reads, locking them for the transaction, the open
// and exhausted escalations of a patient, oldest first.
func unclosedEscalations(ctx context.Context, tx *db.Tx, orgID, patientID string) ([]unclosedEscalation, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, policy_id, COALESCE(dose_instance_id, 0), level, status, opened_at, closed_at FROM escalations
		WHERE org_id = $1 AND patient_id = $2 AND status IN ('open', 'exhausted') ORDER BY id`+forUpdate(tx.Dialect),
		orgID, patientID)
	if err != nil {
		return nil, fmt.Errorf("read escalations of the patient: %w", err)
	}
	var list []unclosedEscalation
	for rows.Next() {
		var u unclosedEscalation
		if err := rows.Scan(&u.id, &u.policy, &u.dose, &u.level, &u.status, &u.opened, &u.closed); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read escalations of the patient: %w", err)
		}
		list = append(list, u)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("read escalations of the patient: %w", err)
	}
	return list, nil
}

// closeEscalation moves an escalation to a closed status and cancels its
// pending steps. When it is resolved or acknowledged (not exhausted, whose
// messages still go), its messages not sent yet — held for the recipient's
// quiet hours, or waiting for a retry — are cancelled too: left to their
// delivery job, which sends escalation messages only while their
// escalation is open, a held one showed as queued for hours after the
// acknowledgement (QA). A message a delivery job has already claimed is
// cancelled by that job when it records it: before its hand-over to a
// provider (closedClaims), or with a hold or retry (cancelUnwantedWaits).
func closeEscalation(ctx context.Context, tx *db.Tx, id string, status adherence.EscalationStatus, by, reason string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE escalations SET status = $1, closed_at = $2, closed_by = $3, reason = $4 WHERE id = $5`,
		string(status), now, by, reason, id); err != nil {
		return fmt.Errorf("close escalation: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE escalation_steps SET status = 'cancelled' WHERE escalation_id = $1 AND status = 'pending'`, id); err != nil {
		return fmt.Errorf("cancel escalation steps: %w", err)
	}
	if status == adherence.EscalationExhausted {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE notifications SET status = 'cancelled', reason = 'escalation_closed', updated_at = $1
		WHERE escalation_id = $2 AND status IN ('queued', 'retrying')`, now, id); err != nil {
		return fmt.Errorf("cancel the escalation's messages not sent: %w", err)
	}
	return nil
}

// auditRecord builds the audit record of a change made by a.
func auditRecord(a adherence.Actor, orgID, action, resourceType, resourceID, patientID, detail string) audit.Record {
	return audit.Record{
		OrgID: orgID, ActorID: a.ID, ActorRole: a.Role, Action: action, ResourceType: resourceType,
		ResourceID: resourceID, PatientID: patientID, Detail: detail, Outcome: audit.OutcomeSuccess,
		RequestID: a.RequestID, ClientAddr: a.ClientAddr,
	}
}

// appendAudit appends recs; it must be the last statement of tx.
func (s *Store) appendAudit(ctx context.Context, tx *db.Tx, recs []audit.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if _, err := s.audit.AppendBatch(ctx, tx, recs); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// ---------------------------------------------------------------------
// Consuming the outbox

// ConsumeResult says what ConsumeOutbox did.
type ConsumeResult struct {
	Examined int // outbox records consumed (marked processed)
	Opened   int // escalations opened
	Resolved int // escalations resolved
	// Exhausted counts the open escalations whose every level had fired
	// that a new miss moved to exhausted (and replaced with a new one).
	Exhausted int
	// ExhaustedBy counts the exhausted escalations by the last level they
	// had fired, as counted by the escalation metrics.
	ExhaustedBy map[int]int
	// ResolvedBy counts the resolved escalations by reason and the last
	// level they had fired (0: none yet).
	ResolvedBy map[Resolution]int
	// More is set when the run stopped at its budget
	// (ConsumeOutboxWithin) or at its record limit, before the end of the
	// records.
	More bool
}

// Add adds o's counts to r, and its More.
func (r *ConsumeResult) Add(o ConsumeResult) {
	r.Examined += o.Examined
	r.Opened += o.Opened
	r.Resolved += o.Resolved
	r.Exhausted += o.Exhausted
	r.More = o.More
	for level, n := range o.ExhaustedBy {
		if r.ExhaustedBy == nil {
			r.ExhaustedBy = map[int]int{}
		}
		r.ExhaustedBy[level] += n
	}
	for k, n := range o.ResolvedBy {
		if r.ResolvedBy == nil {
			r.ResolvedBy = map[Resolution]int{}
		}
		r.ResolvedBy[k] += n
	}
}

// DefaultConsumeLimit is how many outbox records one ConsumeOutbox call
// consumes at most when given no positive limit.
const DefaultConsumeLimit = 5000

// consumeChunk is how many outbox records one transaction consumes.
const consumeChunk = 100

// ConsumeOutbox consumes up to maxRecords unprocessed dose.missed and
// dose.resolved outbox records (DefaultConsumeLimit when not positive) in
// id order, consumeChunk records per transaction. Each transaction opens
// and resolves escalations, inserts first steps and their River jobs, and
// marks its records processed: all or nothing.
//
// dose.missed: for each active policy of the org, the trigger is evaluated
// for the patient (the dose must still be missed: a late recording may
// have come first); when it holds and the policy has no open escalation
// for the patient, one opens at level 0 with its first step due at now +
// Levels[0].After. An open one with levels still to fire takes the miss
// in; one whose every level has fired becomes exhausted and a new one
// opens for this miss (see exhaustFired).
//
// dose.resolved: every open or exhausted escalation of the patient is
// re-evaluated — missed_dose: its dose is still missed; missed_count: the
// count around its dose still reaches Count; low_adherence: adherence is
// still below the threshold — and resolved (closed by "patient") when its
// trigger no longer holds: reason dose_recorded when the recorded dose is
// the one that opened it, trigger_cleared otherwise. A missed_count
// escalation whose other misses still reach Count stays open, about the
// latest miss it took in around which they do (moveToHoldingMiss), and so does
// a missed_dose escalation while a dose due after its own is still
// missed (that miss was added to it): it goes on about the earliest such
// dose.
//
// It is safe to run concurrently: on PostgreSQL each chunk locks its
// records with FOR UPDATE SKIP LOCKED, so a record is consumed once, and
// locks its patients (in id order) before evaluating, so two chunks never
// decide about the same patient at once; the partial unique index on open
// escalations backs this up. SQLite has a single writer.
func (s *Store) ConsumeOutbox(ctx context.Context, now time.Time, maxRecords int) (ConsumeResult, error) {
	return s.ConsumeOutboxWithin(ctx, now, maxRecords, 0)
}

// ConsumeOutboxWithin is ConsumeOutbox that stops once budget (when
// positive) has passed, at the end of the chunk it is in, setting More
// (see MarkMissedWithin).
func (s *Store) ConsumeOutboxWithin(ctx context.Context, now time.Time, maxRecords int, budget time.Duration) (ConsumeResult, error) {
	now = db.UTC(now)
	if maxRecords <= 0 {
		maxRecords = DefaultConsumeLimit
	}
	var res ConsumeResult
	start := time.Now()
	for res.Examined < maxRecords {
		n := min(consumeChunk, maxRecords-res.Examined)
		var c ConsumeResult
		err := s.retryTx(ctx, func(tx *db.Tx) error {
			c = ConsumeResult{}
			return s.consumeChunk(ctx, tx, now, n, &c)
		})
		if err != nil {
			return res, fmt.Errorf("consume outbox: %w", err)
		}
		res.Add(c)
		if c.Examined < n {
			break
		}
		// A full chunk at the record limit: records may be left (the
		// caller may go on; QA: the periodic run said "more": false
		// with 90,000 waiting).
		res.More = res.Examined >= maxRecords
		if budget > 0 && time.Since(start) >= budget && res.Examined < maxRecords {
			res.More = true
			break
		}
	}
	return res, nil
}

// retryTx runs fn in a transaction, again (up to three times in all) when
// PostgreSQL reports a deadlock or serialization failure.
func (s *Store) retryTx(ctx context.Context, fn func(tx *db.Tx) error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.db.InTx(ctx, fn); err == nil || !isRetryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// outboxItem is one outbox record being consumed.
type outboxItem struct {
	id           int64
	orgID, topic string
	p            DosePayload
	ok           bool // the payload decoded
}

// stepJob is an escalation step whose River job is to be enqueued.
type stepJob struct {
	id  int64
	due time.Time
}

func (s *Store) consumeChunk(ctx context.Context, tx *db.Tx, now time.Time, n int, c *ConsumeResult) error {
	lock := ""
	if tx.Dialect == db.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, org_id, topic, payload, created_at FROM outbox
		WHERE processed_at IS NULL AND topic IN ($1, $2) ORDER BY id LIMIT $3`+lock, TopicDoseMissed, TopicDoseResolved, n)
	if err != nil {
		return fmt.Errorf("read outbox: %w", err)
	}
	var items []outboxItem
	for rows.Next() {
		var it outboxItem
		var payload string
		var created time.Time
		if err := rows.Scan(&it.id, &it.orgID, &it.topic, &payload, &created); err != nil {
			rows.Close()
			return fmt.Errorf("read outbox: %w", err)
		}
		// now was read before this transaction waited for its locks (on
		// SQLite, for the one writer): a record committed meanwhile may be
		// younger. Nothing is processed, opened or resolved before the
		// record that caused it was created.
		if created = db.UTC(created); created.After(now) {
			now = created
		}
		// A payload that does not decode cannot be acted on; it is
		// consumed so that it does not block the ones behind it.
		it.ok = json.Unmarshal([]byte(payload), &it.p) == nil && isID(it.p.PatientID) && it.p.DoseInstanceID > 0
		items = append(items, it)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read outbox: %w", err)
	}
	if len(items) == 0 {
		return nil
	}
	c.Examined = len(items)

	// Lock the patients concerned, in id order, and load the policies of
	// their orgs.
	var patients, orgs []any
	seenPatient, seenOrg := map[string]bool{}, map[string]bool{}
	for _, it := range items {
		if it.ok && !seenPatient[it.p.PatientID] {
			seenPatient[it.p.PatientID] = true
			patients = append(patients, it.p.PatientID)
		}
		if !seenOrg[it.orgID] {
			seenOrg[it.orgID] = true
			orgs = append(orgs, it.orgID)
		}
	}
	if tx.Dialect == db.Postgres && len(patients) > 0 {
		sort.Slice(patients, func(i, j int) bool { return patients[i].(string) < patients[j].(string) })
		if _, err := tx.ExecContext(ctx, `SELECT id FROM patients WHERE id IN `+placeholders(1, len(patients))+` ORDER BY id FOR UPDATE`, patients...); err != nil {
			return fmt.Errorf("lock patients: %w", err)
		}
	}
	// Nothing is processed before an escalation of the patient opened or
	// was exhausted either: a consumer that read its clock before another one opened or exhausted
	// an escalation (and then waited for the patient) recorded the misses
	// it consumed as processed before that. The misses an escalation took
	// in are those processed while it was open (takenInMisses), so a miss
	// the replacement of an exhausted escalation took in counted as the
	// exhausted one's: the replacement was resolved with the miss still
	// unanswered, and the exhausted one moved to it.
	if later, err := latestEscalationChange(ctx, tx, patients, now); err != nil {
		return err
	} else if later.After(now) {
		now = later
	}
	policies, err := loadOrgPolicies(ctx, tx, orgs)
	if err != nil {
		return err
	}

	var jobs []stepJob
	var recs []audit.Record
	ids := make([]any, 0, len(items)+1)
	ids = append(ids, now)
	for _, it := range items {
		ids = append(ids, it.id)
		if !it.ok {
			continue
		}
		switch it.topic {
		case TopicDoseMissed:
			opened, err := s.openEscalations(ctx, tx, it, policies, now)
			if err != nil {
				return err
			}
			for _, o := range opened {
				c.Opened++
				jobs = append(jobs, o.job)
				if o.superseded != "" {
					c.Exhausted++
					if c.ExhaustedBy == nil {
						c.ExhaustedBy = map[int]int{}
					}
					c.ExhaustedBy[o.supersededLevel]++
					recs = append(recs, auditRecord(EscalationSystemActor, it.orgID, audit.ActionUpdate, "Escalation", o.superseded, it.p.PatientID,
						"status=exhausted reason=new_miss"))
				}
				recs = append(recs, auditRecord(EscalationSystemActor, it.orgID, audit.ActionCreate, "Escalation", o.id, it.p.PatientID,
					"policy="+o.policy))
			}
		case TopicDoseResolved:
			resolved, err := resolveEscalations(ctx, tx, it, policies, now)
			if err != nil {
				return err
			}
			for _, r := range resolved {
				if r.movedTo != 0 {
					recs = append(recs, movedRecord(EscalationSystemActor, it.orgID, r.id, it.p.PatientID, r.movedTo, r.reason))
					continue
				}
				c.Resolved++
				if c.ResolvedBy == nil {
					c.ResolvedBy = map[Resolution]int{}
				}
				c.ResolvedBy[Resolution{Reason: r.reason, Level: r.level}]++
				recs = append(recs, auditRecord(EscalationSystemActor, it.orgID, audit.ActionUpdate, "Escalation", r.id, it.p.PatientID,
					"status=resolved reason="+r.reason))
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE outbox SET processed_at = $1 WHERE id IN `+placeholders(2, len(ids)-1), ids...); err != nil {
		return fmt.Errorf("mark outbox processed: %w", err)
	}
	if err := s.insertStepJobs(ctx, tx, jobs, now); err != nil {
		return err
	}
	return s.appendAudit(ctx, tx, recs)
}

// latestEscalationChange returns the latest instant after now at which an
// escalation of patients opened or closed, or now when there is none.
func latestEscalationChange(ctx context.Context, tx *db.Tx, patients []any, now time.Time) (time.Time, error) {
	if len(patients) == 0 {
		return now, nil
	}
	args := append([]any{now}, patients...)
	rows, err := tx.QueryContext(ctx, `SELECT opened_at, closed_at FROM escalations
		WHERE patient_id IN `+placeholders(2, len(patients))+` AND (opened_at > $1 OR closed_at > $1)`, args...)
	if err != nil {
		return now, fmt.Errorf("read escalation times: %w", err)
	}
	defer rows.Close()
	latest := now
	for rows.Next() {
		var opened time.Time
		var closed sql.NullTime
		if err := rows.Scan(&opened, &closed); err != nil {
			return now, fmt.Errorf("read escalation times: %w", err)
		}
		for _, t := range []time.Time{opened, closed.Time} {
			if t = db.UTC(t); t.After(latest) {
				latest = t
			}
		}
	}
	return latest, rows.Err()
}

// loadOrgPolicies returns every policy (active or not) of orgs by id.
func loadOrgPolicies(ctx context.Context, tx *db.Tx, orgs []any) (map[string]adherence.EscalationPolicy, error) {
	out := map[string]adherence.EscalationPolicy{}
	if len(orgs) == 0 {
		return out, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+policyColumns+` FROM escalation_policies WHERE org_id IN `+placeholders(1, len(orgs))+` ORDER BY id`, orgs...)
	if err != nil {
		return nil, fmt.Errorf("load escalation policies: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, fmt.Errorf("load escalation policies: %w", err)
		}
		out[p.ID] = p
	}
	return out, rows.Err()
}

// activePolicies returns the active policies of orgID in id order.
func activePolicies(all map[string]adherence.EscalationPolicy, orgID string) []adherence.EscalationPolicy {
	var out []adherence.EscalationPolicy
	for _, p := range all {
		if p.OrgID == orgID && p.Active {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

type openedEscalation struct {
	id, policy string
	job        stepJob
	// superseded is the exhausted escalation this one replaced, or "";
	// supersededLevel the last level it had fired.
	superseded      string
	supersededLevel int
}

// openEscalations evaluates the active policies of the record's org for a
// missed dose and opens the escalations whose trigger holds.
func (s *Store) openEscalations(ctx context.Context, tx *db.Tx, it outboxItem, policies map[string]adherence.EscalationPolicy, now time.Time) ([]openedEscalation, error) {
	active := activePolicies(policies, it.orgID)
	if len(active) == 0 {
		return nil, nil
	}
	dose, err := loadDose(ctx, tx, it.p.DoseInstanceID)
	if err != nil {
		return nil, err
	}
	if !dose.found || dose.status != adherence.DoseMissed || dose.patientID != it.p.PatientID {
		return nil, nil // recorded late before we got here: nothing to escalate
	}
	// A patient who left the program pages no one: a miss announced
	// before the deactivation was consumed, or a dose whose window was
	// still open when they left, opens nothing (on PostgreSQL the patient
	// is locked by consumeChunk, as by SetPatientActive).
	var enrolled bool
	if err := tx.QueryRowContext(ctx, `SELECT active FROM patients WHERE org_id = $1 AND id = $2`, it.orgID, it.p.PatientID).Scan(&enrolled); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, fmt.Errorf("read patient: %w", err)
	}
	if !enrolled {
		return nil, nil
	}
	var out []openedEscalation
	for _, pol := range active {
		holds, err := triggerHolds(ctx, tx, pol, it.orgID, it.p.PatientID, dose, now)
		if err != nil {
			return nil, err
		}
		if !holds {
			continue
		}
		id := newID()
		opened, err := insertEscalation(ctx, tx, id, it, pol.ID, now)
		if err != nil {
			return nil, err
		}
		superseded, supersededLevel := "", 0
		if !opened {
			// One is open already: the miss is added to it while it still
			// has levels to fire. One whose every level has fired (and
			// which nobody acknowledged) would page no one about this new
			// miss: it becomes exhausted, and a new escalation starts
			// over for this miss, as one does after an acknowledgement.
			if superseded, supersededLevel, err = exhaustFired(ctx, tx, pol.ID, it.p.PatientID, now); err != nil || superseded == "" {
				if err != nil {
					return nil, err
				}
				continue
			}
			if opened, err = insertEscalation(ctx, tx, id, it, pol.ID, now); err != nil {
				return nil, err
			} else if !opened {
				return nil, fmt.Errorf("open escalation: still one open after exhausting %s", superseded)
			}
		}
		due := now.Add(pol.Levels[0].After)
		stepID, err := insertStep(ctx, tx, it.orgID, id, 1, due)
		if err != nil {
			return nil, err
		}
		out = append(out, openedEscalation{id: id, policy: pol.ID, job: stepJob{id: stepID, due: due}, superseded: superseded, supersededLevel: supersededLevel})
	}
	return out, nil
}

// insertEscalation opens escalation id of policyID for the record's
// patient and missed dose, unless one is open already (opened false).
func insertEscalation(ctx context.Context, tx *db.Tx, id string, it outboxItem, policyID string, now time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO escalations (id, org_id, patient_id, policy_id, dose_instance_id, status, level, opened_at)
		VALUES ($1, $2, $3, $4, $5, 'open', 0, $6)
		ON CONFLICT (policy_id, patient_id) WHERE status = 'open' DO NOTHING`,
		id, it.orgID, it.p.PatientID, policyID, it.p.DoseInstanceID, now)
	if err != nil {
		return false, fmt.Errorf("open escalation: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("open escalation: %w", err)
	}
	return n > 0, nil
}

// exhaustFired moves the open escalation of policyID for patientID to
// exhausted when none of its steps is pending any more (every level has
// fired, or the policy lost its remaining levels), and returns its id and
// the last level it fired; "" when it still has levels to fire. An
// exhausted escalation can still be acknowledged and is still resolved by
// the patient's recordings.
func exhaustFired(ctx context.Context, tx *db.Tx, policyID, patientID string, now time.Time) (string, int, error) {
	var id string
	var level int
	err := tx.QueryRowContext(ctx, `SELECT id, level FROM escalations e
		WHERE policy_id = $1 AND patient_id = $2 AND status = 'open'
		  AND NOT EXISTS (SELECT 1 FROM escalation_steps s WHERE s.escalation_id = e.id AND s.status = 'pending')`+forUpdate(tx.Dialect),
		policyID, patientID).Scan(&id, &level)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", 0, nil
	case err != nil:
		return "", 0, fmt.Errorf("read fired escalation: %w", err)
	}
	if err := closeEscalation(ctx, tx, id, adherence.EscalationExhausted, "system", "new_miss", now); err != nil {
		return "", 0, err
	}
	return id, level, nil
}

func insertStep(ctx context.Context, tx *db.Tx, orgID, escalationID string, level int, due time.Time) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO escalation_steps (org_id, escalation_id, level, due_at, status)
		VALUES ($1, $2, $3, $4, 'pending') RETURNING id`, orgID, escalationID, level, db.UTC(due)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("insert escalation step: %w", err)
	}
	return id, nil
}

// insertStepJobs enqueues the River jobs of steps inside tx (none without
// a JobInserter). A step already due at now is enqueued available at once:
// River promotes scheduled jobs only every few seconds.
func (s *Store) insertStepJobs(ctx context.Context, tx *db.Tx, steps []stepJob, now time.Time) error {
	if s.Jobs == nil || len(steps) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, 0, len(steps))
	for _, st := range steps {
		var opts *river.InsertOpts
		if st.due.After(now) {
			opts = &river.InsertOpts{ScheduledAt: st.due}
		}
		params = append(params, river.InsertManyParams{Args: adherence.EscalationStepArgs{StepID: st.id}, InsertOpts: opts})
	}
	if err := s.Jobs.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("enqueue escalation steps: %w", err)
	}
	return nil
}

// doseState is what trigger evaluation needs of a dose.
type doseState struct {
	found     bool
	patientID string
	dueAt     time.Time
	status    adherence.DoseStatus
	// planActive: the dose's plan is active (not paused or stopped) and
	// scheduled (not as needed).
	planActive bool
}

func loadDose(ctx context.Context, tx *db.Tx, id int64) (doseState, error) {
	var d doseState
	if id <= 0 {
		return d, nil
	}
	var status, planStatus string
	var asNeeded bool
	err := tx.QueryRowContext(ctx, `SELECT d.patient_id, d.due_at, d.status, p.status, p.as_needed FROM dose_instances d
		JOIN plans p ON p.org_id = d.org_id AND p.id = d.plan_id WHERE d.id = $1`, id).Scan(&d.patientID, &d.dueAt, &status, &planStatus, &asNeeded)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return d, nil
	case err != nil:
		return d, fmt.Errorf("read dose instance: %w", err)
	}
	d.found, d.dueAt, d.status = true, d.dueAt.UTC(), adherence.DoseStatus(status)
	d.planActive = planStatus == string(adherence.PlanActive) && !asNeeded
	return d, nil
}

// triggerHolds evaluates pol's trigger for a patient, anchored on dose
// (the missed dose that opens, or opened, the escalation).
func triggerHolds(ctx context.Context, tx *db.Tx, pol adherence.EscalationPolicy, orgID, patientID string, dose doseState, now time.Time) (bool, error) {
	switch pol.Trigger.Kind {
	case adherence.TriggerMissedDose:
		// A miss of a paused or stopped plan pages no one (see
		// closePlanEscalations).
		return dose.found && dose.status == adherence.DoseMissed && dose.planActive, nil
	case adherence.TriggerMissedCount:
		// Only the misses of active scheduled plans count, the one that
		// opens it included: a paused, stopped or as-needed plan's
		// misses page no one, as for missed_dose.
		if !dose.found || !dose.planActive {
			return false, nil
		}
		var n int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM dose_instances d
			WHERE d.org_id = $1 AND d.patient_id = $2 AND d.status = 'missed' AND d.due_at > $3 AND d.due_at <= $4`+activePlanDose,
			orgID, patientID, db.UTC(dose.dueAt.Add(-pol.Trigger.Window)), db.UTC(dose.dueAt)).Scan(&n)
		if err != nil {
			return false, fmt.Errorf("count missed doses: %w", err)
		}
		return n >= pol.Trigger.Count, nil
	case adherence.TriggerLowAdherence:
		c, err := patientCounts(ctx, tx, orgID, patientID, now.Add(-adherence.LowAdherencePeriod), now)
		if err != nil {
			return false, err
		}
		a := c.TakingAdherence()
		return c.Denominator() >= adherence.LowAdherenceMinDoses && a != nil && *a < pol.Trigger.Threshold, nil
	}
	return false, nil
}

// activePlanDose is the condition, on a dose_instances d, that its plan is
// active and scheduled (not paused, stopped or as needed): only such
// plans' doses count toward the missed_count and low_adherence triggers.
// The misses a plan had before it was paused stayed missed, and were
// counted with the active plans' own, opening escalations about
// medication the care team had put on hold.
const activePlanDose = `
	AND EXISTS (SELECT 1 FROM plans pl WHERE pl.org_id = d.org_id AND pl.id = d.plan_id AND pl.status = 'active' AND NOT pl.as_needed)`

// patientCounts counts a patient's instances due in [from, to) by status,
// as DoseCounts does, inside tx (without orphans and double doses, which
// adherence ratios do not use), of active scheduled plans only (see
// activePlanDose).
func patientCounts(ctx context.Context, tx *db.Tx, orgID, patientID string, from, to time.Time) (adherence.DoseCounts, error) {
	var c adherence.DoseCounts
	rows, err := tx.QueryContext(ctx, `SELECT d.status, COUNT(*) FROM dose_instances d
		WHERE d.org_id = $1 AND d.patient_id = $2 AND d.due_at >= $3 AND d.due_at < $4`+activePlanDose+`
		GROUP BY d.status`,
		orgID, patientID, db.UTC(from), db.UTC(to))
	if err != nil {
		return c, fmt.Errorf("dose counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return c, fmt.Errorf("dose counts: %w", err)
		}
		addStatus(&c, status, n)
	}
	return c, rows.Err()
}

// resolvedEscalation is an escalation a dose.resolved record resolved,
// or, when movedTo is set, moved to that dose instead (for reason).
type resolvedEscalation struct {
	id, reason string
	level      int
	movedTo    int64
}

// resolveEscalations re-evaluates the unclosed escalations of the patient
// of a dose.resolved record and resolves those whose trigger no longer
// holds, or moves them to another miss they took in (movedTo).
func resolveEscalations(ctx context.Context, tx *db.Tx, it outboxItem, policies map[string]adherence.EscalationPolicy, now time.Time) ([]resolvedEscalation, error) {
	list, err := unclosedEscalations(ctx, tx, it.orgID, it.p.PatientID)
	if err != nil {
		return nil, err
	}
	var out []resolvedEscalation
	for _, u := range list {
		pol, ok := policies[u.policy]
		if !ok {
			continue
		}
		dose, err := loadDose(ctx, tx, u.dose)
		if err != nil {
			return nil, err
		}
		holds, err := triggerHolds(ctx, tx, pol, it.orgID, it.p.PatientID, dose, now)
		if err != nil {
			return nil, err
		}
		if holds {
			continue
		}
		reason := ReasonTriggerCleared
		switch {
		case u.dose == it.p.DoseInstanceID && it.p.Status == string(adherence.DoseExcluded):
			reason = ReasonDoseExcluded
		case u.dose == it.p.DoseInstanceID:
			reason = ReasonDoseRecorded
		}
		if pol.Trigger.Kind == adherence.TriggerMissedDose && dose.found {
			// While a miss it took in is still missed, the escalation goes
			// on about it rather than leave it unescalated.
			moved, err := moveToTakenInMiss(ctx, tx, it.orgID, it.p.PatientID, u.id, u.status, u.opened, u.closed)
			if err != nil {
				return nil, err
			}
			if moved != 0 {
				out = append(out, resolvedEscalation{id: u.id, reason: reason, level: u.level, movedTo: moved})
				continue
			}
		}
		if pol.Trigger.Kind == adherence.TriggerMissedCount {
			// Likewise while the misses it took in still reach the count,
			// as when a plan is paused (closeClearedCountEscalations).
			moved, err := moveToHoldingMiss(ctx, tx, pol, it.orgID, it.p.PatientID, u.id, u.status, u.opened, u.closed, now)
			if err != nil {
				return nil, err
			}
			if moved != 0 {
				out = append(out, resolvedEscalation{id: u.id, reason: reason, level: u.level, movedTo: moved})
				continue
			}
		}
		if err := closeEscalation(ctx, tx, u.id, adherence.EscalationResolved, ClosedByPatient, reason, now); err != nil {
			return nil, err
		}
		out = append(out, resolvedEscalation{id: u.id, reason: reason, level: u.level})
	}
	return out, nil
}

// ---------------------------------------------------------------------
// Firing steps

// Why FireStep did not fire a step.
const (
	SkipNotFound     = "not_found"     // no such step
	SkipNotPending   = "not_pending"   // fired or cancelled already
	SkipNotOpen      = "not_open"      // the escalation was acknowledged or resolved
	SkipNotDue       = "not_due"       // too early: come back at DueAt
	SkipLevelRemoved = "level_removed" // the policy no longer has this level
	// SkipTriggerCleared: an escalation whose trigger no longer holds
	// when its next level is due (its dose recorded late, before the
	// consumer read the record; the patient's adherence over the last 14
	// days back at or above the threshold) is resolved instead of paging
	// anyone (Resolved gives the reason: dose_recorded, dose_excluded or
	// trigger_cleared).
	SkipTriggerCleared = "trigger_cleared"
)

// FireResult says what FireStep did.
type FireResult struct {
	// Fired is set when the step fired now; otherwise Skipped says why.
	Fired   bool
	Skipped string

	EscalationID string
	Level        int
	DueAt        time.Time
	// Recipients is how many recipients the level had; NoRecipients is
	// set when it had none (no active caregiver, or no clinician, linked
	// to the patient): the step still fires and the escalation moves on.
	Recipients   int
	NoRecipients bool
	// Notifications are the ids of the notifications enqueued.
	Notifications []int64
	// NextStepID and NextDueAt describe the next level's step, when there
	// is one; Exhausted is set when this was the last level (the
	// escalation stays open).
	NextStepID int64
	NextDueAt  time.Time
	Exhausted  bool
	// Resolved is set when the step resolved its escalation instead of
	// firing (SkipTriggerCleared).
	Resolved *Resolution
}

// FireStep fires escalation step stepID if it is still pending, its
// escalation is open and it is due at now. In one transaction it enqueues
// one notification per recipient of the level (idempotency key
// esc:<step>:<member id or "webhook">), marks the step fired, records the
// level on the escalation and inserts the next level's step with its River
// job (due at opened_at + After of that level, or now when that has
// passed).
//
// After the last level the escalation stays open (FireResult.Exhausted
// says nothing more will fire): its last messages are delivered while it
// is open or exhausted, and it stays in the care team's list of open escalations
// until someone acknowledges it, the patient's recording resolves it, or
// the patient misses another dose: that moves it to exhausted and opens a
// new escalation, whose levels page the care team again. While levels
// remain, repeated misses add to the open escalation instead of paging
// everyone again.
//
// Caregivers get the escalation_caregiver template (the delivery job names
// the drug only when the patient shares medication with caregivers);
// clinicians and webhooks the escalation_clinician template. Quiet hours
// are applied at delivery, unless the level is urgent.
//
// Firing is idempotent: a step that is not pending is left alone, so a
// re-driven job and the original one fire it once.
func (s *Store) FireStep(ctx context.Context, stepID int64, now time.Time) (FireResult, error) {
	now = db.UTC(now)
	var res FireResult
	err := s.retryTx(ctx, func(tx *db.Tx) error {
		res = FireResult{}
		return s.fireStep(ctx, tx, stepID, now, &res)
	})
	if err != nil {
		return FireResult{}, fmt.Errorf("fire escalation step: %w", err)
	}
	if res.Resolved != nil {
		s.resolvedHook([]Resolution{*res.Resolved})
	}
	return res, nil
}

// escalationColumns are the columns of scanEscalation.
const escalationColumns = `id, org_id, patient_id, policy_id, COALESCE(dose_instance_id, 0), status, level, opened_at, closed_at, closed_by, reason`

func scanEscalation(row scanner) (adherence.Escalation, error) {
	var e adherence.Escalation
	var status string
	var closed sql.NullTime
	err := row.Scan(&e.ID, &e.OrgID, &e.PatientID, &e.PolicyID, &e.DoseInstanceID, &status, &e.Level, &e.OpenedAt, &closed, &e.ClosedBy, &e.Reason)
	e.Status, e.OpenedAt, e.ClosedAt = adherence.EscalationStatus(status), e.OpenedAt.UTC(), timePtr(closed)
	return e, err
}

func (s *Store) fireStep(ctx context.Context, tx *db.Tx, stepID int64, now time.Time, res *FireResult) error {
	var escID string
	err := tx.QueryRowContext(ctx, `SELECT escalation_id FROM escalation_steps WHERE id = $1`, stepID).Scan(&escID)
	if errors.Is(err, sql.ErrNoRows) {
		res.Skipped = SkipNotFound
		return nil
	} else if err != nil {
		return fmt.Errorf("read step: %w", err)
	}
	// Escalation first, then the step: the lock order of every writer.
	esc, err := scanEscalation(tx.QueryRowContext(ctx, `SELECT `+escalationColumns+` FROM escalations WHERE id = $1`+forUpdate(tx.Dialect), escID))
	if err != nil {
		return fmt.Errorf("lock escalation: %w", err)
	}
	var st adherence.EscalationStep
	var status string
	if err := tx.QueryRowContext(ctx, `SELECT level, due_at, status FROM escalation_steps WHERE id = $1`+forUpdate(tx.Dialect), stepID).
		Scan(&st.Level, &st.DueAt, &status); err != nil {
		return fmt.Errorf("lock step: %w", err)
	}
	st.DueAt, st.Status = st.DueAt.UTC(), adherence.StepStatus(status)
	res.EscalationID, res.Level, res.DueAt = esc.ID, st.Level, st.DueAt
	switch {
	case st.Status != adherence.StepPending:
		res.Skipped = SkipNotPending
		return nil
	case esc.Status != adherence.EscalationOpen:
		// Closing cancels pending steps; this one slipped through (an
		// older version, a manual change): cancel it so it is not
		// re-driven forever.
		res.Skipped = SkipNotOpen
		if _, err := tx.ExecContext(ctx, `UPDATE escalation_steps SET status = 'cancelled' WHERE id = $1`, stepID); err != nil {
			return fmt.Errorf("cancel step: %w", err)
		}
		return nil
	case now.Before(st.DueAt):
		res.Skipped = SkipNotDue
		return nil
	}
	pol, err := scanPolicy(tx.QueryRowContext(ctx, `SELECT `+policyColumns+` FROM escalation_policies WHERE id = $1`, esc.PolicyID))
	if err != nil {
		return fmt.Errorf("read policy: %w", err)
	}
	if st.Level > len(pol.Levels) {
		// The policy was edited down to fewer levels: as after its last
		// level, the escalation stays open with nothing more to fire.
		res.Skipped = SkipLevelRemoved
		if _, err := tx.ExecContext(ctx, `UPDATE escalation_steps SET status = 'cancelled' WHERE id = $1`, stepID); err != nil {
			return fmt.Errorf("cancel step: %w", err)
		}
		return nil
	}
	level := pol.Levels[st.Level-1]
	// The trigger is checked again when each level is due. A recorded
	// miss re-evaluates an escalation through its dose.resolved record,
	// but the consumer may not have read it yet: after a worker outage
	// the overdue steps ran first and paged caregivers, then clinicians,
	// about a dose recorded taken hours before (QA). And adherence that
	// recovers through the doses taken since gives no record at all (a
	// low_adherence escalation went on paging, QA).
	var dose doseState
	if pol.Trigger.Kind != adherence.TriggerLowAdherence {
		if dose, err = loadDose(ctx, tx, esc.DoseInstanceID); err != nil {
			return err
		}
	}
	holds, err := triggerHolds(ctx, tx, pol, esc.OrgID, esc.PatientID, dose, now)
	if err != nil {
		return err
	}
	var moved []audit.Record
	if !holds {
		reason := clearedReason(dose)
		// As the consumer would on the dose.resolved record: while a
		// miss it took in still holds the trigger, the escalation goes
		// on about it, and this level fires about that miss.
		var to int64
		switch pol.Trigger.Kind {
		case adherence.TriggerMissedDose:
			if dose.found {
				to, err = moveToTakenInMiss(ctx, tx, esc.OrgID, esc.PatientID, esc.ID, string(esc.Status), esc.OpenedAt, sql.NullTime{})
			}
		case adherence.TriggerMissedCount:
			to, err = moveToHoldingMiss(ctx, tx, pol, esc.OrgID, esc.PatientID, esc.ID, string(esc.Status), esc.OpenedAt, sql.NullTime{}, now)
		}
		if err != nil {
			return err
		}
		if to == 0 {
			if err := closeEscalation(ctx, tx, esc.ID, adherence.EscalationResolved, ClosedByPatient, reason, now); err != nil {
				return err
			}
			res.Skipped, res.Resolved = SkipTriggerCleared, &Resolution{Reason: reason, Level: esc.Level}
			return s.appendAudit(ctx, tx, []audit.Record{auditRecord(EscalationSystemActor, esc.OrgID, audit.ActionUpdate, "Escalation", esc.ID, esc.PatientID,
				"status=resolved reason="+reason)})
		}
		esc.DoseInstanceID = to
		moved = append(moved, movedRecord(EscalationSystemActor, esc.OrgID, esc.ID, esc.PatientID, to, reason))
	}

	in, err := levelNotifications(ctx, tx, esc, stepID, st, level)
	if err != nil {
		return err
	}
	res.Recipients, res.NoRecipients = len(in), len(in) == 0
	if res.Notifications, err = s.enqueueNotifications(ctx, tx, in); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE escalation_steps SET status = 'fired', fired_at = $1 WHERE id = $2`, now, stepID); err != nil {
		return fmt.Errorf("mark step fired: %w", err)
	}
	res.Fired, res.Exhausted = true, st.Level >= len(pol.Levels)
	if _, err := tx.ExecContext(ctx, `UPDATE escalations SET level = $1 WHERE id = $2`, st.Level, esc.ID); err != nil {
		return fmt.Errorf("record level: %w", err)
	}
	if !res.Exhausted {
		due := esc.OpenedAt.Add(pol.Levels[st.Level].After)
		if due.Before(now) {
			due = now
		}
		var next int64
		err := tx.QueryRowContext(ctx, `INSERT INTO escalation_steps (org_id, escalation_id, level, due_at, status)
			VALUES ($1, $2, $3, $4, 'pending') ON CONFLICT (escalation_id, level) DO NOTHING RETURNING id`,
			esc.OrgID, esc.ID, st.Level+1, db.UTC(due)).Scan(&next)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// The next step exists already.
		case err != nil:
			return fmt.Errorf("insert next step: %w", err)
		default:
			res.NextStepID, res.NextDueAt = next, db.UTC(due)
			if err := s.insertStepJobs(ctx, tx, []stepJob{{id: next, due: due}}, now); err != nil {
				return err
			}
		}
	}
	// Sending the notifications discloses the patient's missed doses to
	// the recipients: recorded with the level and how many got it.
	detail := fmt.Sprintf("level=%d recipients=%d", st.Level, len(in))
	return s.appendAudit(ctx, tx, append(moved, auditRecord(EscalationSystemActor, esc.OrgID, audit.ActionUpdate, "Escalation", esc.ID, esc.PatientID, detail)))
}

// clearedReason is why an escalation whose trigger no longer holds when a
// level is due is resolved: its dose was recorded (taken or skipped, late)
// or excluded, or, for the other triggers, the trigger cleared.
func clearedReason(dose doseState) string {
	switch {
	case !dose.found:
		return ReasonTriggerCleared
	case dose.status == adherence.DoseExcluded:
		return ReasonDoseExcluded
	case dose.status != adherence.DoseMissed && dose.status != adherence.DoseScheduled:
		return ReasonDoseRecorded
	}
	return ReasonTriggerCleared
}

// levelNotifications builds one notification per recipient of a level.
func levelNotifications(ctx context.Context, tx *db.Tx, esc adherence.Escalation, stepID int64, st adherence.EscalationStep, level adherence.EscalationLevel) ([]NotificationInput, error) {
	base := NotificationInput{
		OrgID: esc.OrgID, Kind: KindEscalation, Template: remind.KindEscalationClinician,
		PatientID: esc.PatientID, DoseInstanceID: esc.DoseInstanceID, EscalationID: esc.ID, Level: st.Level,
		Channels: level.Channels, Urgent: level.Urgent, DueAt: st.DueAt,
	}
	key := "esc:" + strconv.FormatInt(stepID, 10) + ":"
	if level.Recipients == adherence.RecipientsWebhook {
		n := base
		n.IdempotencyKey, n.Address = key+"webhook", level.URL
		return []NotificationInput{n}, nil
	}
	kind := adherence.MemberClinician
	if level.Recipients == adherence.RecipientsCaregivers {
		kind = adherence.MemberCaregiver
		base.Template = remind.KindEscalationCaregiver
	}
	rows, err := tx.QueryContext(ctx, `SELECT m.id FROM patient_links l
		JOIN members m ON m.org_id = l.org_id AND m.id = l.member_id
		WHERE l.org_id = $1 AND l.patient_id = $2 AND m.kind = $3 AND m.active ORDER BY m.id`,
		esc.OrgID, esc.PatientID, string(kind))
	if err != nil {
		return nil, fmt.Errorf("read recipients: %w", err)
	}
	defer rows.Close()
	var out []NotificationInput
	for rows.Next() {
		var member string
		if err := rows.Scan(&member); err != nil {
			return nil, fmt.Errorf("read recipients: %w", err)
		}
		n := base
		n.IdempotencyKey, n.MemberID = key+member, member
		out = append(out, n)
	}
	return out, rows.Err()
}

// ---------------------------------------------------------------------
// Acknowledging

// AcknowledgeEscalation records that by (a member or API key id) took
// escalation id of orgID in hand: an open or exhausted escalation becomes
// acknowledged, its pending steps are cancelled and its notifications not
// sent yet are dropped. Acknowledging an acknowledged escalation changes
// nothing and returns it; a resolved one is a conflict. The escalation is
// returned with its steps and notifications.
func (s *Store) AcknowledgeEscalation(ctx context.Context, a adherence.Actor, orgID, id, by string, now time.Time) (adherence.Escalation, error) {
	if !isID(orgID) || !isID(id) {
		return adherence.Escalation{}, errs.NotFound("escalation")
	}
	now = db.UTC(now)
	var out adherence.Escalation
	err := s.retryTx(ctx, func(tx *db.Tx) error {
		var err error
		out, err = s.acknowledge(ctx, tx, a, orgID, id, by, ReasonAcknowledged, now)
		return err
	})
	if err != nil {
		return adherence.Escalation{}, fmt.Errorf("acknowledge escalation: %w", err)
	}
	return out, nil
}

func (s *Store) acknowledge(ctx context.Context, tx *db.Tx, a adherence.Actor, orgID, id, by, reason string, now time.Time) (adherence.Escalation, error) {
	e, err := scanEscalation(tx.QueryRowContext(ctx, `SELECT `+escalationColumns+` FROM escalations
		WHERE org_id = $1 AND id = $2`+forUpdate(tx.Dialect), orgID, id))
	if err != nil {
		return e, notFound(err, "read escalation", "escalation")
	}
	var rec audit.Record
	switch e.Status {
	case adherence.EscalationResolved:
		return e, errs.Conflict("the escalation is resolved already")
	case adherence.EscalationAcknowledged:
		// Nothing changes. Still an attempted change, audited as one (as a
		// PATCH changing nothing is), saying it changed nothing: audited as
		// a read, it hid who acknowledged it again, and when.
		rec = auditRecord(a, orgID, audit.ActionUpdate, "Escalation", e.ID, e.PatientID, "status=acknowledged unchanged")
	default:
		if err := closeEscalation(ctx, tx, e.ID, adherence.EscalationAcknowledged, by, reason, now); err != nil {
			return e, err
		}
		rec = auditRecord(a, orgID, audit.ActionUpdate, "Escalation", e.ID, e.PatientID, "status=acknowledged reason="+reason)
	}
	e, err = loadEscalation(ctx, tx, orgID, id)
	if err != nil {
		return e, err
	}
	return e, s.appendAudit(ctx, tx, []audit.Record{rec})
}

// AcknowledgeBySMS acknowledges, for the member records memberIDs (the
// records of the number that texted OK: one person may be a member once
// per patient, or in several orgs), the one open or exhausted escalation
// about which one of them was texted last (the inbound "OK" reply): an SMS
// that went to a provider (sending, sent, delivered or
// unknown — it may have arrived), not one held for quiet hours, waiting
// for a retry or undeliverable. It is acknowledged by the member record
// that notification went to. No such escalation is not found.
func (s *Store) AcknowledgeBySMS(ctx context.Context, memberIDs []string, now time.Time) (adherence.Escalation, error) {
	e, _, err := s.acknowledgeBySMS(ctx, memberIDs, "", now)
	return e, err
}

// acknowledgeBySMS is AcknowledgeBySMS, also returning the member record
// that acknowledged; requestID is the inbound webhook's, for the audit.
func (s *Store) acknowledgeBySMS(ctx context.Context, memberIDs []string, requestID string, now time.Time) (adherence.Escalation, string, error) {
	var ids []any
	for _, id := range memberIDs {
		if isID(id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return adherence.Escalation{}, "", errs.NotFound("escalation")
	}
	now = db.UTC(now)
	var out adherence.Escalation
	var memberID string
	err := s.retryTx(ctx, func(tx *db.Tx) error {
		// From the members' patients (indexed), the escalations of theirs
		// that notified one of these records: the one whose message went
		// last is the one the OK answers, whichever opened last (a
		// caregiver of two patients is told about one, then again about
		// the other), and only that one — acknowledging one per record
		// closed escalations the sender had not answered. Only texts
		// count: an OK answers a message to the number, and an e-mail or
		// push sent after that text is about something else. A message
		// still in flight, or whose outcome is unknown, has no channel
		// recorded yet: it counts when SMS is among those it may use.
		var id, orgID, kind string
		err := tx.QueryRowContext(ctx, `SELECT e.id, m.org_id, m.id, m.kind FROM members m
			JOIN patient_links l ON l.org_id = m.org_id AND l.member_id = m.id
			JOIN escalations e ON e.org_id = l.org_id AND e.patient_id = l.patient_id
			JOIN notifications n ON n.escalation_id = e.id AND n.member_id = m.id
				AND (n.channel = 'sms' OR (n.channel = '' AND ',' || n.channels || ',' LIKE '%,sms,%'))
				AND n.status IN ('sending', 'sent', 'delivered', 'unknown')
			WHERE m.id IN `+placeholders(1, len(ids))+` AND e.status IN ('open', 'exhausted')
			GROUP BY e.id, m.org_id, m.id, m.kind
			ORDER BY MAX(COALESCE(n.accepted_at, n.created_at)) DESC, MAX(n.id) DESC LIMIT 1`, ids...).Scan(&id, &orgID, &memberID, &kind)
		if err != nil {
			return notFound(err, "find escalation", "escalation")
		}
		a := adherence.Actor{ID: memberID, Role: kind, OrgID: orgID, RequestID: requestID}
		out, err = s.acknowledge(ctx, tx, a, orgID, id, memberID, ReasonAcknowledgedSMS, now)
		return err
	})
	if err != nil {
		return adherence.Escalation{}, "", fmt.Errorf("acknowledge escalation by sms: %w", err)
	}
	return out, memberID, nil
}

// ---------------------------------------------------------------------
// Reading

// EscalationFilter selects escalations for ListEscalations.
type EscalationFilter struct {
	PatientID string
	Status    adherence.EscalationStatus
	// LinkedMemberID keeps the escalations of patients linked to that
	// member (what a caregiver may see).
	LinkedMemberID string
	// Before is the id of the last escalation of the previous page: the
	// page holds older ones.
	Before string
	// Limit: 100 when zero, at most PageMax+1.
	Limit int
}

// ListEscalations returns escalations of orgID, most recently opened first
// (by id: ids are time-ordered), without their steps. Reads are audited by
// the caller.
func (s *Store) ListEscalations(ctx context.Context, orgID string, f EscalationFilter) ([]adherence.Escalation, error) {
	switch f.Status {
	case "", adherence.EscalationOpen, adherence.EscalationAcknowledged, adherence.EscalationResolved, adherence.EscalationExhausted:
	default:
		return nil, errs.Invalid("status", "must be open, acknowledged, resolved or exhausted")
	}
	if f.Before != "" && !isID(f.Before) {
		return nil, errs.Invalid("before", "is not an escalation id")
	}
	if !isID(orgID) || (f.PatientID != "" && !isID(f.PatientID)) || (f.LinkedMemberID != "" && !isID(f.LinkedMemberID)) {
		return nil, nil
	}
	args := []any{orgID}
	var where strings.Builder
	where.WriteString(`org_id = $1`)
	add := func(cond string, v any) {
		args = append(args, v)
		fmt.Fprintf(&where, cond, len(args))
	}
	if f.PatientID != "" {
		add(` AND patient_id = $%d`, f.PatientID)
	}
	if f.Status != "" {
		add(` AND status = $%d`, string(f.Status))
	}
	if f.LinkedMemberID != "" {
		add(` AND patient_id IN (SELECT patient_id FROM patient_links WHERE org_id = $1 AND member_id = $%d)`, f.LinkedMemberID)
	}
	if f.Before != "" {
		add(` AND id < $%d`, f.Before)
	}
	args = append(args, limit(f.Limit, 100, PageMax+1))
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT `+escalationColumns+` FROM escalations WHERE `+where.String()+
		fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list escalations: %w", err)
	}
	defer rows.Close()
	var out []adherence.Escalation
	for rows.Next() {
		e, err := scanEscalation(rows)
		if err != nil {
			return nil, fmt.Errorf("list escalations: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list escalations: %w", err)
	}
	return out, nil
}

// GetEscalation returns an escalation of orgID with its steps and the ids
// of the notifications sent for it. Reads are audited by the caller.
func (s *Store) GetEscalation(ctx context.Context, orgID, id string) (adherence.Escalation, error) {
	if !isID(orgID) || !isID(id) {
		return adherence.Escalation{}, errs.NotFound("escalation")
	}
	e, err := loadEscalation(ctx, s.db.SQL, orgID, id)
	if err != nil {
		return adherence.Escalation{}, fmt.Errorf("get escalation: %w", err)
	}
	return e, nil
}

func loadEscalation(ctx context.Context, q db.Querier, orgID, id string) (adherence.Escalation, error) {
	e, err := scanEscalation(q.QueryRowContext(ctx, `SELECT `+escalationColumns+` FROM escalations WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return e, notFound(err, "read escalation", "escalation")
	}
	rows, err := q.QueryContext(ctx, `SELECT id, level, due_at, status, fired_at, redriven FROM escalation_steps
		WHERE escalation_id = $1 ORDER BY level`, id)
	if err != nil {
		return e, fmt.Errorf("read steps: %w", err)
	}
	for rows.Next() {
		var st adherence.EscalationStep
		var status string
		var fired sql.NullTime
		if err := rows.Scan(&st.ID, &st.Level, &st.DueAt, &status, &fired, &st.Redriven); err != nil {
			rows.Close()
			return e, fmt.Errorf("read steps: %w", err)
		}
		st.DueAt, st.Status, st.FiredAt = st.DueAt.UTC(), adherence.StepStatus(status), timePtr(fired)
		e.Steps = append(e.Steps, st)
	}
	if err := rows.Close(); err != nil {
		return e, err
	}
	nrows, err := q.QueryContext(ctx, `SELECT id FROM notifications WHERE escalation_id = $1 ORDER BY id`, id)
	if err != nil {
		return e, fmt.Errorf("read notifications: %w", err)
	}
	defer nrows.Close()
	for nrows.Next() {
		var n int64
		if err := nrows.Scan(&n); err != nil {
			return e, fmt.Errorf("read notifications: %w", err)
		}
		e.NotificationIDs = append(e.NotificationIDs, n)
	}
	return e, nrows.Err()
}

// ---------------------------------------------------------------------
// Stalls

// redriveChunk is how many stalled steps one transaction re-drives.
const redriveChunk = 500

// RedriveStalledSteps re-enqueues the River job (available at once) of every
// pending step still pending olderThan after its due time — its job was
// lost, discarded or is stuck behind a backlog — and counts the re-drive
// on the step. A step re-driven k times is re-driven again only once it is
// (k+1)·olderThan late, so a sweeper running every 30 s does not pile up
// jobs for a step whose worker is down. It returns how many steps it
// re-drove. Firing stays exactly-once: FireStep leaves non-pending steps
// alone.
func (s *Store) RedriveStalledSteps(ctx context.Context, now time.Time, olderThan time.Duration) (int, error) {
	now = db.UTC(now)
	cutoff := now.Add(-olderThan)
	total := 0
	afterDue, afterID := time.Time{}, int64(0)
	for {
		done := false
		var n int
		var nextDue time.Time
		var nextID int64
		err := s.retryTx(ctx, func(tx *db.Tx) error {
			lock := ""
			if tx.Dialect == db.Postgres {
				lock = " FOR UPDATE SKIP LOCKED"
			}
			rows, err := tx.QueryContext(ctx, `SELECT id, due_at, redriven FROM escalation_steps
				WHERE status = 'pending' AND due_at < $1 AND (due_at > $2 OR (due_at = $2 AND id > $3))
				ORDER BY due_at, id LIMIT $4`+lock, cutoff, afterDue, afterID, redriveChunk)
			if err != nil {
				return err
			}
			var ids []any
			var jobs []stepJob
			count, lastDue, lastID := 0, afterDue, afterID
			for rows.Next() {
				var id int64
				var due time.Time
				var redriven int
				if err := rows.Scan(&id, &due, &redriven); err != nil {
					rows.Close()
					return err
				}
				count++
				lastDue, lastID = due.UTC(), id
				if due.Add(time.Duration(redriven+1) * olderThan).Before(now) {
					ids = append(ids, id)
					jobs = append(jobs, stepJob{id: id, due: now})
				}
			}
			if err := rows.Close(); err != nil {
				return err
			}
			done = count < redriveChunk
			nextDue, nextID = lastDue, lastID
			n = len(ids)
			if n == 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, `UPDATE escalation_steps SET redriven = redriven + 1 WHERE id IN `+placeholders(1, len(ids)), ids...); err != nil {
				return err
			}
			return s.insertStepJobs(ctx, tx, jobs, now)
		})
		if err != nil {
			return total, fmt.Errorf("redrive stalled escalation steps: %w", err)
		}
		total += n
		if done {
			return total, nil
		}
		afterDue, afterID = nextDue, nextID
	}
}

// OldestOverdueStep returns how long the oldest pending step is past its
// due time at now; 0 when no pending step is overdue.
func (s *Store) OldestOverdueStep(ctx context.Context, now time.Time) (time.Duration, error) {
	var due time.Time
	err := s.db.SQL.QueryRowContext(ctx, `SELECT due_at FROM escalation_steps WHERE status = 'pending' ORDER BY due_at LIMIT 1`).Scan(&due)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("oldest overdue escalation step: %w", err)
	}
	if late := now.Sub(due); late > 0 {
		return late, nil
	}
	return 0, nil
}
