package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// ReportFilter selects the instances a dose-level report counts: those of
// orgID due in [From, To), optionally of one patient or one plan.
type ReportFilter struct {
	PatientID, PlanID string
	From, To          time.Time
}

func (f ReportFilter) where(orgID string) (string, []any) {
	q := `org_id = $1 AND due_at >= $2 AND due_at < $3`
	args := []any{orgID, bound(f.From), bound(f.To)}
	if f.PatientID != "" {
		args = append(args, f.PatientID)
		q += fmt.Sprintf(` AND patient_id = $%d`, len(args))
	}
	if f.PlanID != "" {
		args = append(args, f.PlanID)
		q += fmt.Sprintf(` AND plan_id = $%d`, len(args))
	}
	return q, args
}

// bound returns t, a bound of a half-open window [from, to) compared with
// stored instants, as the database stores instants (UTC, microseconds),
// rounded up: a stored instant is at or after from, or before to, exactly
// when it is at or after, or before, bound(from) or bound(to). Truncating
// would count an instant due at 13:00:00 in the window
// [13:00:00.0000001, …) and leave it out of […, 13:00:00.0000001).
func bound(t time.Time) time.Time {
	c := db.UTC(t)
	if c.Before(t) {
		c = c.Add(time.Microsecond)
	}
	return c
}

// statusCounts are the aggregates of a dose count row, after its key: the
// instances, then those taken on time, taken late, skipped, missed and
// excluded, and the possible double doses.
const statusCounts = `COUNT(*),
		COALESCE(SUM(CASE WHEN status = 'taken_on_time' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = 'taken_late' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = 'skipped' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = 'missed' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = 'excluded' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN double_dose THEN 1 ELSE 0 END), 0)`

// doseCountRows queries the status counts of the instances f selects: one
// row keyed by the empty string for them all, or, with perPatient, one
// per patient of the org (for the whole org: f names no patient or plan)
// keyed by the patient's id (on PostgreSQL also a row of zeros for a
// patient with none in the window). One row per patient with a count per
// status, rather than one per patient and status: the counts come out of
// dose_instances_patient_due (migration 12: it carries status and
// double_dose), from the index alone, without sorting or hashing the
// instances of the window.
//
// Per patient, each patient's instances of the window are read by a range
// of dose_instances_patient_due of its own (org, patient, due_at in the
// window), the patients taken in order from patients (org_id, id). One
// scan of the org's part of that index, grouped by patient, would read
// every instance the org ever had, the window's due_at being no bound of
// an index that leads with the patient: a report whose time grew with the
// history kept (bench/reports, 25,000 patients, 30-day window: see
// docs/architecture.md).
func (s *Store) doseCountRows(ctx context.Context, orgID string, f ReportFilter, perPatient bool) (*sql.Rows, error) {
	if !perPatient {
		where, args := f.where(orgID)
		return s.db.SQL.QueryContext(ctx, `SELECT '', `+statusCounts+` FROM dose_instances WHERE `+where, args...)
	}
	if f.PatientID != "" || f.PlanID != "" {
		return nil, errors.New("counts per patient are of the whole org")
	}
	return s.db.SQL.QueryContext(ctx, cohortCountsSQL(s.db.Dialect), orgID, bound(f.From), bound(f.To))
}

// cohortCountsSQL is the query of the status counts per patient of the org
// $1 over [$2, $3).
func cohortCountsSQL(d db.Dialect) string {
	if d == db.Postgres {
		// A lateral subquery with an aggregate is not flattened into a
		// join: it runs once per patient, an index-only range scan.
		return `SELECT p.id, c.* FROM patients p
			CROSS JOIN LATERAL (SELECT ` + statusCounts + ` FROM dose_instances d
				WHERE d.org_id = p.org_id AND d.patient_id = p.id AND d.due_at >= $2 AND d.due_at < $3) c
			WHERE p.org_id = $1`
	}
	// SQLite takes the table left of CROSS JOIN as the outer loop: the
	// patients in (org_id, id) order, each one's instances a range of the
	// index, grouped as they come.
	return `SELECT p.id, ` + statusCounts + ` FROM patients p
		CROSS JOIN dose_instances d ON d.org_id = p.org_id AND d.patient_id = p.id AND d.due_at >= $2 AND d.due_at < $3
		WHERE p.org_id = $1 GROUP BY p.id`
}

// DoseCounts counts the instances selected by f by status, with the orphan
// events (by occurrence time) and possible double doses of the period.
func (s *Store) DoseCounts(ctx context.Context, orgID string, f ReportFilter) (adherence.DoseCounts, error) {
	all, err := s.doseCountsBy(ctx, orgID, f, false)
	if err != nil {
		return adherence.DoseCounts{}, err
	}
	return all[""], nil
}

// CohortCounts is DoseCounts per patient of orgID over [from, to).
func (s *Store) CohortCounts(ctx context.Context, orgID string, from, to time.Time) (map[string]adherence.DoseCounts, error) {
	return s.doseCountsBy(ctx, orgID, ReportFilter{From: from, To: to}, true)
}

func (s *Store) doseCountsBy(ctx context.Context, orgID string, f ReportFilter, perPatient bool) (map[string]adherence.DoseCounts, error) {
	out := map[string]adherence.DoseCounts{}
	if !isID(orgID) || (f.PatientID != "" && !isID(f.PatientID)) || (f.PlanID != "" && !isID(f.PlanID)) {
		return out, nil
	}
	if f.PlanID != "" && f.PatientID == "" {
		// A plan's doses and events are its patient's (the foreign keys
		// say so): naming the patient lets both queries use the indexes
		// that lead with it. The events have no index by plan, and their
		// orphans of one plan were found by reading every event of the org.
		err := s.db.SQL.QueryRowContext(ctx, `SELECT patient_id FROM plans WHERE org_id = $1 AND id = $2`, orgID, f.PlanID).Scan(&f.PatientID)
		if errors.Is(err, sql.ErrNoRows) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("dose counts: %w", err)
		}
	}
	rows, err := s.doseCountRows(ctx, orgID, f, perPatient)
	if err != nil {
		return nil, fmt.Errorf("dose counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var c adherence.DoseCounts
		if err := rows.Scan(&k, &c.Scheduled, &c.OnTime, &c.Late, &c.Skipped, &c.Missed, &c.Excluded, &c.DoubleDoses); err != nil {
			return nil, fmt.Errorf("dose counts: %w", err)
		}
		if c.Scheduled == 0 {
			continue // no instance: the row of an aggregate without GROUP BY, or of a patient on PostgreSQL
		}
		// Every other status (scheduled, and any a newer version writes)
		// is still open, as addStatus counts it.
		c.Pending = c.Scheduled - c.OnTime - c.Late - c.Skipped - c.Missed - c.Excluded
		out[k] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dose counts: %w", err)
	}

	// Orphans are events, counted by when they happened.
	key, group := `''`, ``
	if perPatient {
		key, group = `patient_id`, ` GROUP BY patient_id`
	}
	ewhere := `org_id = $1 AND occurred_at >= $2 AND occurred_at < $3 AND result = 'orphan'`
	eargs := []any{orgID, bound(f.From), bound(f.To)}
	if f.PatientID != "" {
		eargs = append(eargs, f.PatientID)
		ewhere += fmt.Sprintf(` AND patient_id = $%d`, len(eargs))
	}
	if f.PlanID != "" {
		eargs = append(eargs, f.PlanID)
		ewhere += fmt.Sprintf(` AND plan_id = $%d`, len(eargs))
	}
	erows, err := s.db.SQL.QueryContext(ctx, `SELECT `+key+`, COUNT(*) FROM events WHERE `+ewhere+group, eargs...)
	if err != nil {
		return nil, fmt.Errorf("orphan counts: %w", err)
	}
	defer erows.Close()
	for erows.Next() {
		var k string
		var n int
		if err := erows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("orphan counts: %w", err)
		}
		c := out[k]
		c.Orphans += n
		out[k] = c
	}
	return out, erows.Err()
}

// ListEvents returns the events of a patient of orgID that occurred in
// [from, to), oldest first, at most limit (1000 when zero, at most 10000).
//
// after, when not "", is the id of an event of the patient listed before
// (the last of a page): the events listed are those after it in that
// order, so that events sharing one instant (a device syncing thousands
// at once) can be paged through. An after that is not one of the
// patient's events is a 400 naming it.
func (s *Store) ListEvents(ctx context.Context, orgID, patientID string, from, to time.Time, after string, n int) ([]adherence.Event, error) {
	if !isID(orgID) || !isID(patientID) {
		return nil, nil
	}
	q := `SELECT ` + eventColumns + ` FROM events
		WHERE org_id = $1 AND patient_id = $2 AND occurred_at >= $3 AND occurred_at < $4`
	args := []any{orgID, patientID, bound(from), bound(to), limit(n, 1000, 10000)}
	if after != "" {
		notOne := errs.Invalid("after", "is not the id of an event of this patient (the last event of the page before)")
		if !isID(after) {
			return nil, notOne
		}
		var at time.Time
		err := s.db.SQL.QueryRowContext(ctx, `SELECT occurred_at FROM events WHERE org_id = $1 AND patient_id = $2 AND id = $3`,
			orgID, patientID, after).Scan(&at)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, notOne
		}
		if err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		// (occurred_at, id) > (at, after), spelt out: one form for both
		// engines, and each arm a range of events_patient_time.
		q += ` AND (occurred_at > $6 OR (occurred_at = $6 AND id > $7))`
		args = append(args, bound(at), after)
	}
	rows, err := s.db.SQL.QueryContext(ctx, q+` ORDER BY occurred_at, id LIMIT $5`, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []adherence.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Windows returns orgID's matching windows (DefaultWindows until set).
func (s *Store) Windows(ctx context.Context, orgID string) (adherence.Windows, error) {
	if !isID(orgID) {
		return adherence.Windows{}, errs.NotFound("org")
	}
	ws, err := loadWindows(ctx, s.db.SQL, map[string]*planInfo{"": {orgID: orgID}})
	if err != nil {
		return adherence.Windows{}, err
	}
	if w, ok := ws[orgID]; ok {
		return w, nil
	}
	return adherence.DefaultWindows, nil
}

// SetWindows sets orgID's matching windows (whole minutes). They apply to
// events recorded and doses judged from now on; recorded outcomes stay.
func (s *Store) SetWindows(ctx context.Context, a adherence.Actor, orgID string, w adherence.Windows) error {
	on, late, dedupe := int(w.OnTime/time.Minute), int(w.LateMax/time.Minute), int(w.OpenDedupe/time.Minute)
	switch {
	case on < 0 || on > 720:
		return errs.Invalid("onTimeMinutes", "must be between 0 and 720")
	case late < 1 || late > 1440:
		return errs.Invalid("lateMaxMinutes", "must be between 1 and 1440")
	case late < on:
		return errs.Invalid("lateMaxMinutes", "must not be less than onTimeMinutes")
	case dedupe < 0 || dedupe > 720:
		return errs.Invalid("openDedupeMinutes", "must be between 0 and 720")
	}
	if !isID(orgID) {
		return errs.NotFound("org")
	}
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO org_settings (org_id, on_time_minutes, late_max_minutes, open_dedupe_minutes, updated_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (org_id) DO UPDATE SET on_time_minutes = excluded.on_time_minutes,
				late_max_minutes = excluded.late_max_minutes, open_dedupe_minutes = excluded.open_dedupe_minutes,
				updated_at = excluded.updated_at`, orgID, on, late, dedupe, s.clock())
		if isForeignKeyViolation(err) {
			return errs.NotFound("org")
		}
		if err != nil {
			return err
		}
		return s.record(ctx, tx, a, orgID, audit.ActionUpdate, "OrgSettings", orgID, "")
	})
	if errs.Is(err, errs.CodeNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("set windows: %w", err)
	}
	return nil
}

// addStatus counts n instances of a dose status into c: every instance is
// scheduled, and each lands in its outcome's count (pending while open).
func addStatus(c *adherence.DoseCounts, status string, n int) {
	c.Scheduled += n
	switch adherence.DoseStatus(status) {
	case adherence.DoseTakenOnTime:
		c.OnTime += n
	case adherence.DoseTakenLate:
		c.Late += n
	case adherence.DoseSkipped:
		c.Skipped += n
	case adherence.DoseMissed:
		c.Missed += n
	case adherence.DoseExcluded:
		c.Excluded += n
	default:
		c.Pending += n
	}
}
