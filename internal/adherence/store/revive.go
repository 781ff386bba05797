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
// scheduled when they arrived, in the order they happened.
func (s *Store) scoreRevived(ctx context.Context, tx *db.Tx, p *adherence.Plan, now time.Time) error {
	type pending struct {
		doseID    int64
		due       time.Time
		eventID   string
		kind      adherence.EventKind
		occurred  time.Time
		reason    string
		requested sql.NullInt64
	}
	rows, err := tx.QueryContext(ctx, `SELECT d.id, d.due_at, e.id, e.kind, e.occurred_at, e.reason, e.requested_dose
		FROM dose_instances d JOIN events e ON e.dose_instance_id = d.id
		WHERE d.org_id = $1 AND d.plan_id = $2 AND d.status = 'scheduled'
		  AND e.result = 'recorded' AND e.kind IN ('taken', 'opened', 'skipped')
		ORDER BY d.id, e.occurred_at, e.id`, p.OrgID, p.ID)
	if err != nil {
		return fmt.Errorf("read events of revived doses: %w", err)
	}
	var found []pending
	for rows.Next() {
		var r pending
		var kind string
		if err := rows.Scan(&r.doseID, &r.due, &r.eventID, &kind, &r.occurred, &r.reason, &r.requested); err != nil {
			rows.Close()
			return fmt.Errorf("read events of revived doses: %w", err)
		}
		r.kind = adherence.EventKind(kind)
		found = append(found, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read events of revived doses: %w", err)
	}
	if len(found) == 0 {
		return nil
	}

	// The plan's windows, read as event matching reads them.
	plans, windows := map[string]*planInfo{}, map[string]adherence.Windows{}
	if _, err := tx.ExecAll(ctx, planReads(tx.Dialect, []any{p.ID}, plans, windows)); err != nil {
		return fmt.Errorf("read windows of plan: %w", err)
	}
	if plans[p.ID] == nil {
		return fmt.Errorf("read windows of plan: plan %s not found", p.ID)
	}
	w := windowsOf(plans[p.ID], windows)

	var dirty []*liveInstance
	var cur *liveInstance
	for _, r := range found {
		if cur == nil || cur.ID != r.doseID {
			cur = &liveInstance{Instance: match.Instance{ID: r.doseID, DueAt: r.due, Status: adherence.DoseScheduled}, planID: p.ID}
		}
		d := match.Decide(match.Event{Kind: r.kind, OccurredAt: r.occurred, DoseID: r.requested.Int64}, []match.Instance{cur.Instance}, w)
		// A double dose needs an earlier taking, which made cur dirty.
		cur.doubleDose = cur.doubleDose || d.DoubleDose
		var status string
		switch d.Result {
		case adherence.ResultScored:
			if !cur.dirty {
				dirty = append(dirty, cur)
			}
			cur.Status, cur.TakenAt, cur.eventID, cur.dirty = d.Status, d.TakenAt, r.eventID, true
			cur.resolvedAt = &now
			cur.skipReason = ""
			if d.Status == adherence.DoseSkipped {
				cur.skipReason = r.reason
			}
			status = string(d.Status)
		case adherence.ResultDuplicate:
		default:
			if !d.DoubleDose {
				continue // still recorded: it changes nothing
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE events SET result = $1, dose_status = $2, double_dose = $3 WHERE id = $4`,
			string(d.Result), status, d.DoubleDose, r.eventID); err != nil {
			return fmt.Errorf("score event of a revived dose: %w", err)
		}
	}
	stmts, want := updateInstancesStatements(tx.Dialect, dirty)
	n, err := tx.ExecAll(ctx, stmts)
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
