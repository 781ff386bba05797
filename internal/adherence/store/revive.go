package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/match"
	"github.com/medplatform/medplatform/internal/platform/db"
)

// planWindows reads the matching windows of plan planID as event matching
// reads them: the plan's own, else its org's, else the defaults.
func planWindows(ctx context.Context, tx *db.Tx, planID string) (adherence.Windows, error) {
	plans, windows := map[string]*planInfo{}, map[string]adherence.Windows{}
	if _, err := tx.ExecAll(ctx, planReads(tx.Dialect, []any{planID}, plans, windows)); err != nil {
		return adherence.Windows{}, fmt.Errorf("read windows of plan: %w", err)
	}
	pl := plans[planID]
	if pl == nil {
		return adherence.Windows{}, fmt.Errorf("read windows of plan: plan %s not found", planID)
	}
	return windowsOf(pl, windows), nil
}

// orphanReach is how long before a regeneration's start an orphan may
// have happened and still fall in the window of a dose due from then: the
// longest on-time window (12 hours), and a repeat of a taking beyond it.
const orphanReach = 13 * time.Hour

// scoreRevived scores the events that arrived for doses of p while those
// doses were excluded (the plan paused, the patient deactivated) and that
// regeneration has just revived as scheduled (the plan resumed, the
// patient reactivated).
//
// An event for an excluded dose is kept with the result "recorded" and
// changes nothing. Once the dose is scheduled again, a taking or a skip
// the patient reported inside its window must count: left alone, the
// dose would be marked missed when its window closes, and caregivers
// escalated to, for a dose the patient said they took. The events are
// decided as matching would have decided them had the dose been
// scheduled when they arrived, in the order they happened: against every
// instance of the plan whose window holds them, not only the one they
// were recorded against (while every dose was excluded, none counted as
// taken, so a second taking went to the nearest dose rather than to the
// next one not yet taken).
//
// The takings and skips of the plan kept as orphans since now − orphanReach
// are matched the same way, against the instances due from now (those
// regeneration made): a change that took the doses ahead away (an end, a
// later start, as needed) orphaned the events recorded for them, and one
// that undoes it brings the doses back. Left orphans, the dose a patient
// had taken was marked missed and escalated (QA).
//
// made, after a change of zone, holds the doses regeneration made before
// now and what decided the orphans (see orphanDecisions): each orphan
// decided is matched to its dose only (a dose made, or one due from now),
// the others as above.
func (s *Store) scoreRevived(ctx context.Context, tx *db.Tx, p *adherence.Plan, now time.Time, made *orphanDecisions) error {
	type pending struct {
		eventID   string
		kind      adherence.EventKind
		occurred  time.Time
		reason    string
		requested sql.NullInt64
		orphan    bool
	}
	// Orphans within the reach of the doses due from now, and of the
	// doses made before now (see decidedAt).
	since := now.Add(-orphanReach)
	if made != nil {
		for at := range made.picks {
			if t := time.UnixMicro(at).Add(-orphanReach); t.Before(since) {
				since = t
			}
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT e.id, e.kind, e.occurred_at, e.reason, e.requested_dose, 0 AS orphan
		FROM dose_instances d JOIN events e ON e.dose_instance_id = d.id
		WHERE d.org_id = $1 AND d.plan_id = $2 AND d.status = 'scheduled'
		  AND e.result = 'recorded' AND e.kind IN ('taken', 'opened', 'skipped')
		UNION ALL
		SELECT e.id, e.kind, e.occurred_at, e.reason, NULL, 1
		FROM events e
		WHERE e.org_id = $1 AND e.patient_id = $3 AND e.result = 'orphan' AND e.occurred_at >= $4
		  AND e.plan_id = $2 AND e.kind IN ('taken', 'opened', 'skipped')
		ORDER BY 3, 1`, p.OrgID, p.ID, p.PatientID, db.UTC(since))
	if err != nil {
		return fmt.Errorf("read events of revived doses: %w", err)
	}
	var found []pending
	for rows.Next() {
		var r pending
		var kind string
		var orphan int
		if err := rows.Scan(&r.eventID, &kind, &r.occurred, &r.reason, &r.requested, &orphan); err != nil {
			rows.Close()
			return fmt.Errorf("read events of revived doses: %w", err)
		}
		r.kind, r.occurred, r.orphan = adherence.EventKind(kind), r.occurred.UTC(), orphan == 1
		found = append(found, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read events of revived doses: %w", err)
	}
	if len(found) == 0 {
		return nil
	}

	w, err := planWindows(ctx, tx, p.ID)
	if err != nil {
		return err
	}

	// The candidates: the plan's instances that are not excluded, due
	// where any of the events could match them (a named skip up to a day
	// early), locked in id order as event matching locks them (the
	// missed-dose job must not mark one between this read and its update).
	from, _ := match.CandidateRange(found[0].occurred, w)
	_, to := match.CandidateRange(found[len(found)-1].occurred, w)
	if skipTo := found[len(found)-1].occurred.Add(24 * time.Hour); skipTo.After(to) {
		to = skipTo
	}
	rows, err = tx.QueryContext(ctx, `SELECT `+liveColumns+`
		FROM dose_instances WHERE org_id = $1 AND plan_id = $2 AND due_at >= $3 AND due_at <= $4 AND status <> 'excluded'
		ORDER BY id`+forUpdate(tx.Dialect), p.OrgID, p.ID, db.UTC(from), db.UTC(to))
	if err != nil {
		return fmt.Errorf("read doses of revived events: %w", err)
	}
	var cands []*liveInstance
	for rows.Next() {
		c, err := scanLive(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("read doses of revived events: %w", err)
		}
		cands = append(cands, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read doses of revived events: %w", err)
	}

	var outbox []outboxRecord
	var superseded []replacedTaking
	for _, r := range found {
		lo, hi := match.CandidateRange(r.occurred, w)
		var live []*liveInstance
		var view []match.Instance
		var chose int64
		decided := false
		if made != nil && r.orphan {
			chose, decided = made.chose[r.eventID]
		}
		for _, c := range cands {
			switch at := db.UTC(c.DueAt).UnixMicro(); {
			case decided && at != chose:
				continue // decided after a change of zone (see orphanDecisions)
			case r.orphan && c.DueAt.Before(now) && made.madeFor(at) == "":
				continue // an orphan is outside the windows of the doses that stayed
			}
			if c.ID == r.requested.Int64 || (!r.requested.Valid && !c.DueAt.Before(lo) && !c.DueAt.After(hi)) {
				live = append(live, c)
				view = append(view, c.Instance)
			}
		}
		d := match.Decide(match.Event{Kind: r.kind, OccurredAt: r.occurred, DoseID: r.requested.Int64}, view, w)
		if d.Instance < 0 && r.orphan {
			continue // still outside every window
		}
		if d.Instance < 0 {
			// Outside every window of the doses now scheduled (the zone
			// changed while the plan was paused, and the day's dose moved
			// away from it): an orphan, as it would have been had it
			// arrived now. Left recorded on the revived dose, it said it was
			// matched to a dose that was reminded and then missed (QA).
			if _, err := tx.ExecContext(ctx, `UPDATE events SET result = 'orphan', dose_status = '', double_dose = $1, dose_instance_id = NULL WHERE id = $2`,
				false, r.eventID); err != nil {
				return fmt.Errorf("orphan an event of a revived dose: %w", err)
			}
			continue
		}
		if d.Result == adherence.ResultRecorded && !d.DoubleDose && !r.orphan {
			continue // still recorded: it changes nothing
		}
		c := live[d.Instance]
		if d.Unscore >= 0 {
			superseded = append(superseded, unscore(live[d.Unscore], c))
		}
		var status string
		if d.DoubleDose {
			c.doubleDose, c.dirty = true, true
		}
		if d.Result == adherence.ResultScored {
			status = string(d.Status)
			// The event it takes the dose from (a skip, an earlier
			// taking) says so, as when events arrive: replayed in order, a
			// skip then a taking both said "scored" again (QA).
			ev := adherence.Event{ID: r.eventID, Kind: r.kind, OccurredAt: r.occurred}
			if rt, ok := supersede(c, &ev, w); ok {
				superseded = append(superseded, rt)
			}
			if c.Status == adherence.DoseMissed {
				e := adherence.Event{ID: r.eventID, OrgID: p.OrgID, PlanID: p.ID, PatientID: p.PatientID,
					OccurredAt: r.occurred, DoseStatus: d.Status}
				outbox = append(outbox, resolvedRecord(&e, c, now))
			}
			c.Status, c.TakenAt, c.eventID, c.dirty = d.Status, d.TakenAt, r.eventID, true
			c.resolvedAt = &now
			c.skipReason = ""
			if d.Status == adherence.DoseSkipped {
				c.skipReason = r.reason
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE events SET result = $1, dose_status = $2, double_dose = $3, dose_instance_id = $4 WHERE id = $5`,
			string(d.Result), status, d.DoubleDose, c.ID, r.eventID); err != nil {
			return fmt.Errorf("score event of a revived dose: %w", err)
		}
	}
	var dirty []*liveInstance
	for _, c := range cands {
		if c.dirty {
			dirty = append(dirty, c)
		}
	}
	stmts, want := updateInstancesStatements(tx.Dialect, dirty)
	ob, err := outboxStatements(outbox)
	if err != nil {
		return err
	}
	stmts = append(stmts, ob...)
	n, err := tx.ExecAll(ctx, append(stmts, supersedeStatements(tx.Dialect, superseded)...))
	if err != nil {
		return fmt.Errorf("score revived doses: %w", err)
	}
	for k, rows := range want {
		if n[k] != rows {
			return fmt.Errorf("score revived doses: %d of %d updated", n[k], rows)
		}
	}
	return nil
}
