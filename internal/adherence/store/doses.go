package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// DoseFilter selects dose instances for ListDoses.
type DoseFilter struct {
	// PatientID and PlanID, when set, keep only that patient's or plan's
	// instances.
	PatientID, PlanID string
	// From (inclusive) and To (exclusive), when set, bound the due instant.
	From, To time.Time
	// Statuses, when set, keeps only instances in one of them.
	Statuses []adherence.DoseStatus
	// Limit caps the number of instances: 1000 when zero, at most
	// MaxDoseList, so that a caller returning at most 10,000 (the FHIR
	// export, which reads the doses of 48 h either side of its range to
	// find those taken in it) can ask for twice that and one more, and
	// tell a window that holds more from one that holds exactly that many.
	Limit int
}

// MaxDoseList is the largest DoseFilter.Limit.
const MaxDoseList = 20001

// ListDoses returns dose instances of orgID ordered by due instant.
func (s *Store) ListDoses(ctx context.Context, orgID string, f DoseFilter) ([]adherence.DoseInstance, error) {
	if !isID(orgID) || (f.PatientID != "" && !isID(f.PatientID)) || (f.PlanID != "" && !isID(f.PlanID)) {
		return nil, nil
	}
	var where strings.Builder
	args := []any{orgID}
	where.WriteString(`org_id = $1`)
	add := func(cond string, v any) {
		args = append(args, v)
		fmt.Fprintf(&where, ` AND %s $%d`, cond, len(args))
	}
	if f.PatientID != "" {
		add("patient_id =", f.PatientID)
	}
	if f.PlanID != "" {
		add("plan_id =", f.PlanID)
	}
	if !f.From.IsZero() {
		add("due_at >=", bound(f.From))
	}
	if !f.To.IsZero() {
		add("due_at <", bound(f.To))
	}
	if len(f.Statuses) > 0 {
		var in []string
		for _, st := range f.Statuses {
			args = append(args, string(st))
			in = append(in, fmt.Sprintf("$%d", len(args)))
		}
		where.WriteString(` AND status IN (` + strings.Join(in, ", ") + `)`)
	}
	args = append(args, limit(f.Limit, 1000, MaxDoseList))
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT `+doseColumns+`
		FROM dose_instances WHERE `+where.String()+fmt.Sprintf(` ORDER BY due_at, id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list doses: %w", err)
	}
	defer rows.Close()
	var out []adherence.DoseInstance
	for rows.Next() {
		d, err := scanDose(rows)
		if err != nil {
			return nil, fmt.Errorf("list doses: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list doses: %w", err)
	}
	return out, nil
}

// GetDose returns dose instance id of orgID; errs.CodeNotFound when orgID
// has no such instance.
func (s *Store) GetDose(ctx context.Context, orgID string, id int64) (adherence.DoseInstance, error) {
	if !isID(orgID) || id <= 0 {
		return adherence.DoseInstance{}, errs.NotFound("dose")
	}
	d, err := scanDose(s.db.SQL.QueryRowContext(ctx, `SELECT `+doseColumns+` FROM dose_instances WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return adherence.DoseInstance{}, notFound(err, "get dose", "dose")
	}
	return d, nil
}

const doseColumns = `id, plan_id, patient_id, seq, due_at, local_time, status, event_id, taken_at, skip_reason, resolved_at, double_dose`

func scanDose(row scanner) (adherence.DoseInstance, error) {
	var d adherence.DoseInstance
	var status string
	var event, reason sql.NullString
	var taken, resolved sql.NullTime
	if err := row.Scan(&d.ID, &d.PlanID, &d.PatientID, &d.Seq, &d.DueAt, &d.LocalTime, &status, &event, &taken, &reason, &resolved, &d.DoubleDose); err != nil {
		return d, err
	}
	d.DueAt, d.Status = d.DueAt.UTC(), adherence.DoseStatus(status)
	d.EventID, d.SkipReason = event.String, reason.String
	d.TakenAt, d.ResolvedAt = timePtr(taken), timePtr(resolved)
	return d, nil
}
