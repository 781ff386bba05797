package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/report"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

const planColumns = `id, org_id, patient_id, rxnorm, rxnorm_display, dose, instructions, days_supply, as_needed,
	timing, status, start_at, end_at, generated_until, created_at, updated_at, version,
	ingredient, drug_class, on_time_minutes, late_max_minutes`

func scanPlan(row scanner) (adherence.Plan, error) {
	var p adherence.Plan
	var timing, status string
	var end, gen sql.NullTime
	var onTime, lateMax sql.NullInt64
	err := row.Scan(&p.ID, &p.OrgID, &p.PatientID, &p.Medication.RxNorm, &p.Medication.Display, &p.Dose,
		&p.Instructions, &p.DaysSupply, &p.AsNeeded, &timing, &status, &p.StartAt, &end, &gen,
		&p.CreatedAt, &p.UpdatedAt, &p.Version, &p.Ingredient, &p.DrugClass, &onTime, &lateMax)
	if err != nil {
		return p, err
	}
	if onTime.Valid {
		v := int(onTime.Int64)
		p.OnTimeMinutes = &v
	}
	if lateMax.Valid {
		v := int(lateMax.Int64)
		p.LateMaxMinutes = &v
	}
	p.Status = adherence.PlanStatus(status)
	p.StartAt, p.CreatedAt, p.UpdatedAt = p.StartAt.UTC(), p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	p.EndAt, p.GeneratedUntil = timePtr(end), timePtr(gen)
	if err := json.Unmarshal([]byte(timing), &p.Timing); err != nil {
		return p, fmt.Errorf("stored timing: %w", err)
	}
	return p, nil
}

// validatePlan checks what the store relies on: a valid Timing and a
// sensible window.
func validatePlan(p *adherence.Plan) error {
	if err := p.Timing.Validate(p.AsNeeded); err != nil {
		return errs.PrefixField(err, "timing")
	}
	if p.DaysSupply < 0 {
		return errs.Invalid("daysSupply", "must not be negative")
	}
	if p.EndAt != nil && !p.EndAt.After(p.StartAt) {
		return errs.Invalid("endAt", "must be after the plan's start (startAt, which is when the plan is created when not given)")
	}
	if p.OnTimeMinutes != nil && (*p.OnTimeMinutes < 0 || *p.OnTimeMinutes > 720) {
		return errs.Invalid("windows.onTimeMinutes", "must be between 0 and 720")
	}
	if p.LateMaxMinutes != nil && (*p.LateMaxMinutes < 1 || *p.LateMaxMinutes > 1440) {
		return errs.Invalid("windows.lateMaxMinutes", "must be between 1 and 1440")
	}
	if p.OnTimeMinutes != nil && p.LateMaxMinutes != nil && *p.LateMaxMinutes < *p.OnTimeMinutes {
		return errs.Invalid("windows.lateMaxMinutes", "must not be less than onTimeMinutes")
	}
	// A time of day given as hh:mm is kept as the FHIR time it stands
	// for, hh:mm:00: the plan's FHIR exports must carry valid times.
	if r := p.Timing.Repeat; r != nil {
		for i, t := range r.TimeOfDay {
			if len(t) == len("hh:mm") {
				r.TimeOfDay[i] = t + ":00"
			}
		}
	}
	return nil
}

// planArgs are the values of the editable plan columns, in the order
// rxnorm … end_at, ingredient, drug_class, on_time_minutes, late_max_minutes.
// planFields names the values of planArgs, as the API does.
var planFields = []string{"medication.rxnorm", "medication.display", "dose", "instructions", "daysSupply", "asNeeded",
	"timing", "startAt", "endAt", "ingredient", "drugClass", "windows.onTimeMinutes", "windows.lateMaxMinutes"}

func planArgs(p *adherence.Plan) ([]any, error) {
	timing, err := json.Marshal(p.Timing)
	if err != nil {
		return nil, errs.Invalid("timing", "cannot be encoded")
	}
	return []any{p.Medication.RxNorm, p.Medication.Display, p.Dose, p.Instructions, p.DaysSupply, p.AsNeeded,
		string(timing), db.UTC(p.StartAt), nullTime(p.EndAt), p.Ingredient, p.DrugClass,
		nullMinutes(p.OnTimeMinutes), nullMinutes(p.LateMaxMinutes)}, nil
}

// sameTiming reports whether a and b are the same timing as stored (their
// JSON).
func sameTiming(a, b schedule.Timing) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

func nullMinutes(v *int) any {
	if v == nil {
		return nil
	}
	return *v
}

// CreatePlan adds a medication plan for patient p.PatientID of p.OrgID and,
// when the plan is active, generates its doses for [now, now+Horizon) in
// the same transaction. The patient must exist and be active. ID,
// timestamps and Version 1 are assigned; an empty Status means active and a
// zero StartAt means now.
func (s *Store) CreatePlan(ctx context.Context, a adherence.Actor, p *adherence.Plan) error {
	if !isID(p.OrgID) || !isID(p.PatientID) {
		return errs.NotFound("patient")
	}
	now := s.clock()
	switch p.Status {
	case "":
		p.Status = adherence.PlanActive
	case adherence.PlanActive, adherence.PlanPaused:
	default:
		return errs.Invalid("status", "a new plan must be active or paused")
	}
	if p.StartAt.IsZero() {
		p.StartAt = now
	}
	// Instants as stored (UTC, microseconds), so the plan answered is the
	// plan read back.
	p.StartAt, p.EndAt = db.UTC(p.StartAt), utcPtr(p.EndAt)
	if err := validatePlan(p); err != nil {
		return err
	}
	p.ID, p.CreatedAt, p.UpdatedAt, p.Version, p.GeneratedUntil = newID(), now, now, 1, nil
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		pat, err := lockPatient(ctx, tx, p.OrgID, p.PatientID)
		if err != nil {
			return err
		}
		if !pat.Active {
			return errs.Conflict("patient is inactive")
		}
		if err := checkNotEnded(p, pat, now); err != nil {
			return err
		}
		if err := insertPlan(ctx, tx, p); err != nil {
			return err
		}
		if p.Status == adherence.PlanActive {
			if err := s.regenerateFor(ctx, tx, p, pat, now, now.Add(s.horizon()), false); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, a, p.OrgID, audit.ActionCreate, "MedicationRequest", p.ID, p.PatientID)
	})
	if err != nil {
		p.GeneratedUntil = nil
		return fmt.Errorf("create plan: %w", err)
	}
	return nil
}

// checkNotEnded refuses a new plan that has already ended (see
// endedBy): it would be created active without a dose, and never have one.
// A plan is never created stopped, the only state of an ended plan, so a
// plan already over is refused naming the field that ends it.
func checkNotEnded(p *adherence.Plan, pat adherence.Patient, now time.Time) error {
	loc, err := loadZone(pat.TimeZone)
	if err != nil {
		return err
	}
	field, detail, err := endedBy(p, pat, loc, now)
	if err != nil || field == "" {
		return err
	}
	why := "a new plan must have a dose after now"
	if detail == "is in the past" {
		why = "a new plan must end after now"
	}
	return errs.Invalid(field, "%s: %s", detail, why)
}

// endedBy reports the field that has ended plan p by now, with what ended
// it, or "" while the plan may still have a dose ahead: its endAt, its
// timing's boundsPeriod.end (a date in the patient's zone), its last event,
// its repeat.count (see countUsedUp), or an end still ahead that comes
// before the next dose. An ended plan has no dose ahead and never will.
func endedBy(p *adherence.Plan, pat adherence.Patient, loc *time.Location, now time.Time) (field, detail string, err error) {
	if p.EndAt != nil && !p.EndAt.After(now) {
		return "endAt", "is in the past", nil
	}
	start, end, err := planBounds(p, loc)
	if err != nil {
		return "", "", err
	}
	if !end.IsZero() && !end.After(now) {
		return "timing.repeat.boundsPeriod.end", "is in the past", nil
	}
	// A plan of one-off events ends with its last one. An as-needed plan
	// has no dose anyway.
	if len(p.Timing.Event) > 0 && !p.AsNeeded {
		last, err := schedule.LastEvent(p.Timing, loc)
		if err != nil {
			return "", "", errs.PrefixField(err, "timing")
		}
		if !last.After(now) {
			return "timing.event", "every event is in the past", nil
		}
		// Events before the plan's start are no doses of it (QA: a plan
		// whose one event came before its startAt was created active,
		// without a dose).
		if last.Before(start) {
			return "timing.event", "every event is before the plan's start (startAt, timing.repeat.boundsPeriod.start)", nil
		}
	}
	used, err := countUsedUp(p, pat, loc, now)
	if err != nil {
		return "", "", err
	}
	if used {
		return "timing.repeat.count", countUsedUpDetail, nil
	}
	// An end still ahead may come before the next dose (a daily 08:00
	// plan ending at 07:00 tomorrow, a dose every two years ending a year
	// before the next): the plan has no dose ahead either. An end beyond
	// periodReach leaves a dose before it for any schedule.
	if end.IsZero() || p.AsNeeded || end.After(now.Add(periodReach)) {
		return "", "", nil
	}
	g := genPlanOf(*p, loc, pat.Anchors)
	for from := now; from.Before(end); from = from.Add(schedule.MaxWindow) {
		doses, err := g.expand(from, minTime(from.Add(schedule.MaxWindow), end))
		if err != nil {
			return "", "", errs.PrefixField(err, "timing")
		}
		if len(doses) > 0 {
			return "", "", nil
		}
	}
	field = "timing.repeat.boundsPeriod.end"
	if p.EndAt != nil && !p.EndAt.After(end) {
		field = "endAt"
	}
	return field, "comes before the next dose", nil
}

// checkCountAhead refuses a plan whose repeat.count is used up (see
// countUsedUp) with a 400 naming timing.repeat.count; why ends its
// message.
func checkCountAhead(p *adherence.Plan, pat adherence.Patient, loc *time.Location, now time.Time, why string) error {
	used, err := countUsedUp(p, pat, loc, now)
	if err != nil {
		return err
	}
	if used {
		return errs.Invalid("timing.repeat.count", "%s: %s", countUsedUpDetail, why)
	}
	return nil
}

// countUsedUpDetail says why a used-up count ends a plan.
const countUsedUpDetail = "every dose it counts is in the past or before the plan's start"

// countUsedUp reports whether plan p's repeat.count is used up: a plan of
// count doses ends with its count-th, counted from the schedule start
// (boundsPeriod.start, else startAt), and when that is past the plan has
// no dose ahead and never will. The schedule without the count tells: its
// doses from now on are numbered past the count. With no dose at all in
// the window, count is not what ends the plan.
func countUsedUp(p *adherence.Plan, pat adherence.Patient, loc *time.Location, now time.Time) (bool, error) {
	r := p.Timing.Repeat
	if r == nil || r.Count == nil || p.AsNeeded {
		return false, nil
	}
	rep := *r
	rep.Count, rep.CountMax = nil, nil
	uncounted := p.Timing
	uncounted.Repeat = &rep
	// Counted doses before the plan's start (a boundsPeriod.start before
	// startAt) are no doses of it either (QA: a count whose doses all came
	// before startAt was created active, without a dose).
	from := now
	if start, _, err := planBounds(p, loc); err != nil {
		return false, err
	} else if start.After(from) {
		from = start
	}
	// The first window that holds a dose tells: a period may be up to ten
	// years (QA: a dose every three years, its one counted dose past, was
	// created active without a dose, the next being beyond the one window
	// looked at).
	for start := from; start.Before(from.Add(periodReach)); start = start.Add(schedule.MaxWindow) {
		doses, err := schedule.Expand(uncounted, schedule.Params{Location: loc, Anchors: pat.Anchors,
			Start: p.StartAt, From: start, To: start.Add(schedule.MaxWindow)})
		if err != nil {
			return false, errs.PrefixField(err, "timing")
		}
		if len(doses) > 0 {
			return doses[0].Seq > *r.Count, nil
		}
	}
	return false, nil
}

// periodReach is further than the longest period a schedule may have (ten
// years, see schedule.Validate): a schedule with a dose at all has one
// within it of any instant.
const periodReach = 11 * 366 * 24 * time.Hour

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func insertPlan(ctx context.Context, tx *db.Tx, p *adherence.Plan) error {
	args, err := planArgs(p)
	if err != nil {
		return err
	}
	args = append([]any{p.ID, p.OrgID, p.PatientID}, args...)
	args = append(args, string(p.Status), p.CreatedAt, p.UpdatedAt, p.Version)
	_, err = tx.ExecContext(ctx, `INSERT INTO plans (id, org_id, patient_id, rxnorm, rxnorm_display, dose, instructions,
		days_supply, as_needed, timing, start_at, end_at, ingredient, drug_class, on_time_minutes, late_max_minutes,
		status, created_at, updated_at, version)
		VALUES `+placeholders(1, len(args)), args...)
	if err != nil {
		return fmt.Errorf("insert plan: %w", err)
	}
	return nil
}

// regenerateFor regenerates plan p of patient pat over [from, to) and
// records the new generated_until in p.
//
// zoneMoved says that p's doses were generated in another zone than the
// patient's (see genPlan.zoneMoved), with its timing unchanged.
func (s *Store) regenerateFor(ctx context.Context, tx *db.Tx, p *adherence.Plan, pat adherence.Patient, from, to time.Time, zoneMoved bool) error {
	loc, err := loadZone(pat.TimeZone)
	if err != nil {
		return err
	}
	g := genPlanOf(*p, loc, pat.Anchors)
	g.sameTiming, g.zoneMoved = zoneMoved, zoneMoved
	made, err := s.regenerate(ctx, tx, g, from, to)
	if err != nil {
		return err
	}
	p.GeneratedUntil = &to
	return s.scoreRevived(ctx, tx, p, from, made)
}

// GetPlan returns a plan of orgID.
func (s *Store) GetPlan(ctx context.Context, orgID, id string) (adherence.Plan, error) {
	if !isID(orgID) || !isID(id) {
		return adherence.Plan{}, errs.NotFound("plan")
	}
	p, err := scanPlan(s.db.SQL.QueryRowContext(ctx, `SELECT `+planColumns+` FROM plans WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return adherence.Plan{}, notFound(err, "get plan", "plan")
	}
	return p, nil
}

// lockPlan reads a plan of orgID inside tx, locking its row until the
// transaction ends.
func lockPlan(ctx context.Context, tx *db.Tx, orgID, id string) (adherence.Plan, error) {
	p, err := scanPlan(tx.QueryRowContext(ctx,
		`SELECT `+planColumns+` FROM plans WHERE org_id = $1 AND id = $2`+forUpdate(tx.Dialect), orgID, id))
	if err != nil {
		return adherence.Plan{}, notFound(err, "read plan", "plan")
	}
	return p, nil
}

// lockPlanOfPatient locks the patient of plan id, then the plan, and reads
// both: changes that may close escalations lock the patient before
// what they change, as SetPatientActive and the escalation consumer do, so
// they wait for each other instead of deadlocking.
func lockPlanOfPatient(ctx context.Context, tx *db.Tx, orgID, id string) (adherence.Plan, adherence.Patient, error) {
	var patientID string
	err := tx.QueryRowContext(ctx, `SELECT patient_id FROM plans WHERE org_id = $1 AND id = $2`, orgID, id).Scan(&patientID)
	if err != nil {
		return adherence.Plan{}, adherence.Patient{}, notFound(err, "read plan", "plan")
	}
	pat, err := lockPatient(ctx, tx, orgID, patientID)
	if err != nil {
		return adherence.Plan{}, adherence.Patient{}, err
	}
	p, err := lockPlan(ctx, tx, orgID, id)
	return p, pat, err
}

// lockPatientPlans reads every plan of a patient inside tx, locking them.
func lockPatientPlans(ctx context.Context, tx *db.Tx, orgID, patientID string) ([]adherence.Plan, error) {
	return queryPlans(ctx, tx, `SELECT `+planColumns+` FROM plans WHERE org_id = $1 AND patient_id = $2 ORDER BY id`+
		forUpdate(tx.Dialect), orgID, patientID)
}

func queryPlans(ctx context.Context, q db.Querier, query string, args ...any) ([]adherence.Plan, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read plans: %w", err)
	}
	defer rows.Close()
	var out []adherence.Plan
	for rows.Next() {
		p, err := scanPlan(rows)
		if err != nil {
			return nil, fmt.Errorf("read plans: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read plans: %w", err)
	}
	return out, nil
}

// ListPlans returns the plans of a patient of orgID in creation order. An
// unknown patient is not found.
func (s *Store) ListPlans(ctx context.Context, orgID, patientID string) ([]adherence.Plan, error) {
	if err := s.patientExists(ctx, orgID, patientID); err != nil {
		return nil, err
	}
	plans, err := queryPlans(ctx, s.db.SQL, `SELECT `+planColumns+` FROM plans WHERE org_id = $1 AND patient_id = $2 ORDER BY id`,
		orgID, patientID)
	if err != nil {
		return nil, fmt.Errorf("list plans: %w", err)
	}
	return plans, nil
}

// UpdatePlan writes the editable fields of p (medication, dose,
// instructions, days supply, as-needed, timing, start and end) if the
// stored version is expectedVersion, bumps p.Version and, for an active
// plan of an active patient, regenerates the future doses in the same
// transaction; an update that changes none of them does neither, and is
// still audited. A zero StartAt keeps the stored one. Status changes go
// through SetPlanStatus; a stopped plan cannot be changed (errs.Conflict).
func (s *Store) UpdatePlan(ctx context.Context, a adherence.Actor, p *adherence.Plan, expectedVersion int) error {
	if !isID(p.OrgID) || !isID(p.ID) {
		return errs.NotFound("plan")
	}
	var resolved []Resolution
	// Retried on a PostgreSQL deadlock, as SetPlanStatus is: it takes the
	// same locks (patient, plan, doses, escalations, audit head).
	err := s.retryTx(ctx, func(tx *db.Tx) error {
		resolved = nil
		// A switch to as needed closes escalations: the patient is locked
		// first (lockPlanOfPatient).
		cur, pat, err := lockPlanOfPatient(ctx, tx, p.OrgID, p.ID)
		if err != nil {
			return err
		}
		switch {
		case cur.Version != expectedVersion:
			return staleVersion("plan", cur.Version, expectedVersion)
		case cur.Status == adherence.PlanStopped:
			return errs.Conflict("plan is stopped")
		}
		if p.StartAt.IsZero() {
			p.StartAt = cur.StartAt
		}
		p.StartAt, p.EndAt = db.UTC(p.StartAt), utcPtr(p.EndAt)
		if err := validatePlan(p); err != nil {
			return err
		}
		p.PatientID, p.Status, p.CreatedAt, p.GeneratedUntil = cur.PatientID, cur.Status, cur.CreatedAt, cur.GeneratedUntil
		args, err := planArgs(p)
		if err != nil {
			return err
		}
		curArgs, err := planArgs(&cur)
		if err != nil {
			return err
		}
		// A change of the timing, or of the start its count is numbered
		// from, that leaves every counted dose in the past would leave
		// the plan with no dose ahead, as a new plan with such a count
		// would be. A change that leaves both alone (a corrected drug
		// name) is taken by a plan that has ended so.
		now := s.clock()
		if !sameTiming(p.Timing, cur.Timing) || !p.StartAt.Equal(cur.StartAt) {
			loc, err := loadZone(pat.TimeZone)
			if err != nil {
				return err
			}
			if err := checkCountAhead(p, pat, loc, now, "a changed timing must leave a dose after now (stop the plan to end it)"); err != nil {
				return err
			}
		}
		if sameArgs(args, curArgs) {
			// Nothing changes: the version stays, so that a client
			// holding it is not told of a change by a 409, and the doses
			// are not regenerated. The attempt is still audited (its
			// answer discloses the plan).
			p.UpdatedAt, p.Version = cur.UpdatedAt, cur.Version
			return s.appendAudit(ctx, tx, []audit.Record{auditRecord(a, p.OrgID, audit.ActionUpdate, "MedicationRequest", p.ID, p.PatientID, "fields=none")})
		}
		detail := changedDetail(planFields, curArgs, args)
		p.UpdatedAt, p.Version = now, cur.Version+1
		args = append(args, p.UpdatedAt, p.Version, p.OrgID, p.ID)
		_, err = tx.ExecContext(ctx, `UPDATE plans SET rxnorm = $1, rxnorm_display = $2, dose = $3, instructions = $4,
			days_supply = $5, as_needed = $6, timing = $7, start_at = $8, end_at = $9, ingredient = $10,
			drug_class = $11, on_time_minutes = $12, late_max_minutes = $13, updated_at = $14, version = $15
			WHERE org_id = $16 AND id = $17`, args...)
		if err != nil {
			return fmt.Errorf("update plan: %w", err)
		}
		if p.AsNeeded {
			// Events of a PRN plan are logged only, never matched: a dose
			// still open (due, its window not closed; or future, while
			// regeneration does not run) could never be scored, and the
			// missed-dose job would mark it missed and escalate it. A PRN
			// dose is excluded.
			_, err = tx.ExecContext(ctx, `UPDATE dose_instances SET status = 'excluded'
				WHERE org_id = $1 AND plan_id = $2 AND status = 'scheduled'`, p.OrgID, p.ID)
			if err != nil {
				return fmt.Errorf("update plan: exclude doses: %w", err)
			}
		}
		if p.AsNeeded && !cur.AsNeeded {
			// A PRN plan has no schedule: its doses not yet due go, those
			// decided in advance too (a taking early in the on-time
			// window, a skip ahead), their events orphans, as a stop does;
			// regeneration keeps a dose with an outcome, and the taking
			// was counted once due (QA).
			if err := deleteAhead(ctx, tx, p, now, ""); err != nil {
				return fmt.Errorf("update plan: %w", err)
			}
			// Its misses cannot be answered any more (a late taking is
			// logged, not matched): nobody is paged about them.
			recs, res, err := closePlanEscalations(ctx, tx, a, *p, ReasonPlanAsNeeded, now)
			if err != nil {
				return err
			}
			resolved = res
			if err := s.appendAudit(ctx, tx, recs); err != nil {
				return err
			}
		}
		// The doses start and end where startAt and endAt say, narrowed by
		// the timing's boundsPeriod, whose dates are the patient's.
		loc, err := patientZone(ctx, tx, p.OrgID, p.PatientID)
		if err != nil {
			return err
		}
		oldStart, oldEnd, err := planBounds(&cur, loc)
		if err != nil {
			return err
		}
		newStart, newEnd, err := planBounds(p, loc)
		if err != nil {
			return err
		}
		if newStart.After(oldStart) {
			// A plan has no dose before its start, and events before it
			// are refused: a dose already due (regeneration only deletes
			// future ones) could only be missed, and escalated. It is
			// excluded, as a dose before enrolment is, whether startAt or
			// boundsPeriod.start moved.
			_, err = tx.ExecContext(ctx, `UPDATE dose_instances SET status = 'excluded'
				WHERE org_id = $1 AND plan_id = $2 AND status = 'scheduled' AND due_at < $3`, p.OrgID, p.ID, db.UTC(newStart))
			if err != nil {
				return fmt.Errorf("update plan: exclude doses before the start: %w", err)
			}
			if err := excludeMisses(ctx, tx, p, "due_at < $3", newStart, now); err != nil {
				return fmt.Errorf("update plan: exclude doses before the start: %w", err)
			}
			if err := deleteAheadOutside(ctx, tx, p, "due_at < $4", newStart, now); err != nil {
				return fmt.Errorf("update plan: delete doses before the start: %w", err)
			}
		}
		if !newEnd.IsZero() && (oldEnd.IsZero() || newEnd.Before(oldEnd)) {
			// Likewise a plan has no dose from its end on: a dose already
			// due after an end moved into the past (regeneration only
			// deletes future ones) could only be missed, and escalated.
			_, err = tx.ExecContext(ctx, `UPDATE dose_instances SET status = 'excluded'
				WHERE org_id = $1 AND plan_id = $2 AND status = 'scheduled' AND due_at >= $3`, p.OrgID, p.ID, db.UTC(newEnd))
			if err != nil {
				return fmt.Errorf("update plan: exclude doses after the end: %w", err)
			}
			if err := excludeMisses(ctx, tx, p, "due_at >= $3", newEnd, now); err != nil {
				return fmt.Errorf("update plan: exclude doses after the end: %w", err)
			}
			if err := deleteAheadOutside(ctx, tx, p, "due_at >= $4", newEnd, now); err != nil {
				return fmt.Errorf("update plan: delete doses after the end: %w", err)
			}
		}
		if err := s.regenerateIfActive(ctx, tx, p, now, false); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, []audit.Record{auditRecord(a, p.OrgID, audit.ActionUpdate, "MedicationRequest", p.ID, p.PatientID, detail)})
	})
	if err != nil {
		return fmt.Errorf("update plan: %w", err)
	}
	s.resolvedHook(resolved)
	return nil
}

// excludeMisses marks excluded the missed doses of plan p that a change of
// its start or end left outside it (due, as dueCond says, before the new
// start or from the new end on, with $3 the bound), and announces each one
// as dose.resolved, so that an escalation about it ends (reason
// dose_excluded). A plan has no dose there: the patient missed none (QA:
// a clinician recording that the patient stopped this morning left the
// doses missed since counted against the patient).
func excludeMisses(ctx context.Context, tx *db.Tx, p *adherence.Plan, dueCond string, bound, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `UPDATE dose_instances SET status = 'excluded'
		WHERE org_id = $1 AND plan_id = $2 AND status = 'missed' AND `+dueCond+`
		RETURNING id, due_at`, p.OrgID, p.ID, db.UTC(bound))
	if err != nil {
		return fmt.Errorf("exclude missed doses: %w", err)
	}
	var recs []outboxRecord
	for rows.Next() {
		var id int64
		var due time.Time
		if err := rows.Scan(&id, &due); err != nil {
			rows.Close()
			return fmt.Errorf("exclude missed doses: %w", err)
		}
		recs = append(recs, outboxRecord{orgID: p.OrgID, topic: TopicDoseResolved, key: fmt.Sprint(id), patientID: p.PatientID, at: now,
			payload: DosePayload{DoseInstanceID: id, PlanID: p.ID, PatientID: p.PatientID, DueAt: db.UTC(due), Status: string(adherence.DoseExcluded)}})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("exclude missed doses: %w", err)
	}
	return insertOutbox(ctx, tx, recs)
}

// deleteAheadOutside deletes the doses of plan p not yet due that a change
// of its start or end left outside it (as dueCond says, with $4 the
// bound), decided in advance or not, as a stop does: they are no doses of
// the plan. Regeneration deletes only the scheduled ones and keeps those
// with an outcome, each standing for its occurrence; outside the plan
// there is no occurrence to stand for (QA: a dose taken early and an end
// moved before it kept the dose, taken, and the reports counted it).
func deleteAheadOutside(ctx context.Context, tx *db.Tx, p *adherence.Plan, dueCond string, bound, now time.Time) error {
	return deleteAhead(ctx, tx, p, now, " AND "+dueCond, db.UTC(bound))
}

// deleteAhead deletes the doses of plan p due from now on, with an outcome
// in advance or not, that cond (more conditions, from $4, on args) also
// selects, and makes their events orphans: an event whose instance is
// gone is outside every window of the plan.
func deleteAhead(ctx context.Context, tx *db.Tx, p *adherence.Plan, now time.Time, cond string, args ...any) error {
	doomed := `FROM dose_instances WHERE org_id = $1 AND plan_id = $2 AND due_at >= $3` + cond
	args = append([]any{p.OrgID, p.ID, db.UTC(now)}, args...)
	if _, err := tx.ExecContext(ctx, orphanEventsOf(`(SELECT id `+doomed+`)`), args...); err != nil {
		return fmt.Errorf("orphan events of deleted doses: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE `+doomed, args...); err != nil {
		return fmt.Errorf("delete doses: %w", err)
	}
	return nil
}

// patientZone reads the time zone of a patient of orgID inside tx.
func patientZone(ctx context.Context, tx *db.Tx, orgID, patientID string) (*time.Location, error) {
	var zone string
	err := tx.QueryRowContext(ctx, `SELECT time_zone FROM patients WHERE org_id = $1 AND id = $2`, orgID, patientID).Scan(&zone)
	if err != nil {
		return nil, notFound(err, "read patient", "patient")
	}
	return loadZone(zone)
}

// planBounds returns the instant plan p's doses start at and the one they
// end before (zero when open) in the patient's zone loc: startAt and endAt
// narrowed by the timing's boundsPeriod, as expansion reads them.
func planBounds(p *adherence.Plan, loc *time.Location) (start, end time.Time, err error) {
	bs, be, err := schedule.Bounds(p.Timing, loc)
	if err != nil {
		return time.Time{}, time.Time{}, errs.PrefixField(err, "timing")
	}
	start = p.StartAt
	if bs.After(start) {
		start = bs
	}
	if p.EndAt != nil {
		end = *p.EndAt
	}
	if !be.IsZero() && (end.IsZero() || be.Before(end)) {
		end = be
	}
	return start, end, nil
}

// regenerateIfActive regenerates the future doses of p, whose row tx has
// locked, when p and its patient are active. The patient is read without a
// lock: paths that lock a patient lock its plans after it, so locking it
// here, after the plan, could deadlock. A concurrent change of the patient
// waits for the plan's lock and regenerates after this transaction.
//
// resumed marks the resume of a paused plan: the patient's zone or
// anchors, or the plan's timing, may have changed during the pause
// (UpdatePatient and UpdatePlan regenerate active plans only). The doses
// excluded are then revived as they were made and the changes applied as
// for an active plan (see reviveAsGenerated). For a plan without a dose
// basis, a change of zone regenerates as a reactivation does (see
// SetPatientActive): regenerated as if the zone had stayed, the old zone's
// excluded doses stood for their days, and New York's 09:00 came back two
// hours after Tokyo's 21:00 (QA).
func (s *Store) regenerateIfActive(ctx context.Context, tx *db.Tx, p *adherence.Plan, now time.Time, resumed bool) error {
	if p.Status != adherence.PlanActive {
		return nil
	}
	pat, err := scanPatient(tx.QueryRowContext(ctx,
		`SELECT `+patientColumns+` FROM patients WHERE org_id = $1 AND id = $2`, p.OrgID, p.PatientID))
	if err != nil {
		return notFound(err, "read patient", "patient")
	}
	if !pat.Active {
		return nil
	}
	to := s.regenEnd(*p, now)
	moved := false
	if resumed {
		b, err := s.reviveAsGenerated(ctx, tx, p, pat, now, to)
		if err != nil {
			return err
		}
		if b.revived {
			// As UpdatePatient moves an active plan's doses.
			if b.zoneMoved || b.anchorsMoved {
				if err := s.regenerateMoved(ctx, tx, p, pat, now, to, b.zoneMoved, b.zoneMoved); err != nil {
					return err
				}
			}
			return s.resumeReminders(ctx, tx, "plan_id", p.OrgID, p.ID, now)
		}
		if moved, err = zoneChanged(ctx, tx, pat, p.ID, now); err != nil {
			return err
		}
	}
	if err := s.regenerateFor(ctx, tx, p, pat, now, to, moved); err != nil {
		return err
	}
	if resumed {
		return s.resumeReminders(ctx, tx, "plan_id", p.OrgID, p.ID, now)
	}
	return nil
}

// basisChange says how a plan's basis (see doseBasis) differs from its
// patient's and its own settings, once reviveAsGenerated revived its
// doses as they were.
type basisChange struct {
	revived                 bool
	zoneMoved, anchorsMoved bool
}

// reviveAsGenerated regenerates plan p's doses over [from, to) from what
// they were generated from (plans.dose_basis) when patient pat's zone or
// anchors, or p's timing, changed while they were excluded (a pause, a
// deactivation: UpdatePatient and UpdatePlan regenerate active plans
// only). The excluded doses come back with the outcomes recorded for them
// in advance, as on a resume without a change; a change of timing is then
// applied as UpdatePlan applies it to an active plan, and the caller
// applies a change of zone or anchors as UpdatePatient does
// (regenerateMoved), each keeping every outcome for its occurrence. Made
// at once from the new settings, the excluded doses were no outcomes to
// keep, and their events were matched by wall time alone: a taking ten
// minutes early of New York's 08:00 was three hours early for Los
// Angeles's 08:00 and orphaned, a skip in advance of tomorrow's dose was
// lost after a move to London, a breakfast dose taken early and then
// moved to 09:00 was orphaned and reminded again (QA).
func (s *Store) reviveAsGenerated(ctx context.Context, tx *db.Tx, p *adherence.Plan, pat adherence.Patient, from, to time.Time) (basisChange, error) {
	var raw string
	err := tx.QueryRowContext(ctx, `SELECT dose_basis FROM plans WHERE org_id = $1 AND id = $2`, p.OrgID, p.ID).Scan(&raw)
	if err != nil {
		return basisChange{}, fmt.Errorf("read dose basis: %w", err)
	}
	if raw == "" {
		return basisChange{}, nil
	}
	var b doseBasis
	if err := json.Unmarshal([]byte(raw), &b); err != nil {
		return basisChange{}, fmt.Errorf("read dose basis: %w", err)
	}
	old, oldPat := *p, pat
	if b.Zone != "" {
		oldPat.TimeZone = b.Zone
	}
	if b.Anchors != nil {
		oldPat.Anchors = *b.Anchors
	}
	if b.Timing != nil {
		old.Timing = *b.Timing
	}
	ch := basisChange{zoneMoved: oldPat.TimeZone != pat.TimeZone, anchorsMoved: oldPat.Anchors != pat.Anchors}
	timingMoved := !sameTiming(old.Timing, p.Timing)
	if !ch.zoneMoved && !ch.anchorsMoved && !timingMoved {
		return basisChange{}, nil
	}
	ch.revived = true
	if err := reviveDecidedInAdvance(ctx, tx, p, from); err != nil {
		return basisChange{}, err
	}
	if err := s.regenerateFor(ctx, tx, &old, oldPat, from, to, false); err != nil {
		return basisChange{}, err
	}
	if timingMoved {
		// As UpdatePlan changes an active plan's timing: in the zone and
		// anchors the doses were made in.
		if err := s.regenerateFor(ctx, tx, p, oldPat, from, to, false); err != nil {
			return basisChange{}, err
		}
	}
	if ch.zoneMoved {
		if err := orphanPastExcluded(ctx, tx, p, from); err != nil {
			return basisChange{}, err
		}
	}
	p.GeneratedUntil = &to
	return ch, nil
}

// fillMissingBasis records, for the active plans of orgID whose column
// (id or patient_id) is value and that have no dose_basis — made by a
// release before it, which an API task of the release before still does
// during a blue/green deploy — the patient's zone as the zone their doses
// were generated in, before a pause or a deactivation excludes them: an
// active plan's doses follow its patient's zone, and their anchors and
// timing, not recorded, are taken as unchanged (as migration 18 does).
// Left empty, a resume after a change of zone regenerated the excluded
// doses from the new zone at once, and the outcomes recorded for them in
// advance were lost (see reviveAsGenerated).
//
// status is the plans' status: "active" for a deactivation (a paused
// plan's zone may have changed since its pause), "paused" for the plan a
// pause has just set.
func fillMissingBasis(ctx context.Context, tx *db.Tx, orgID, column, value string, status adherence.PlanStatus) error {
	_, err := tx.ExecContext(ctx, `UPDATE plans SET dose_basis = COALESCE((SELECT `+zoneBasisSQL(tx.Dialect, "pa.time_zone")+` FROM patients pa
			WHERE pa.org_id = plans.org_id AND pa.id = plans.patient_id), '')
		WHERE org_id = $1 AND `+column+` = $2 AND status = $3 AND dose_basis = ''`, orgID, value, string(status))
	if err != nil {
		return fmt.Errorf("record the zone of the plans' doses: %w", err)
	}
	return nil
}

// reviveDecidedInAdvance schedules again, for the scoring of revived doses
// (see scoreRevived) to score them, plan p's excluded doses due in the day
// and a half before from that were decided before they were due (a taking
// early, a skip in advance: an event recorded against them that happened
// before their due time): as on an active plan, such a dose stands for its
// day when the change then applied moves the day's dose after from. Left
// excluded, a dose taken ten minutes early and paused, its patient moved
// west and the plan resumed before Los Angeles's 08:00, got Los Angeles's
// 08:00 reminded the same day (QA). A change of zone moves a wall time by
// at most 26 hours.
func reviveDecidedInAdvance(ctx context.Context, tx *db.Tx, p *adherence.Plan, from time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE dose_instances SET status = 'scheduled', reminders_before = reminders_sent, remind_at = NULL
		WHERE org_id = $1 AND plan_id = $2 AND status = 'excluded' AND NOT moved_by_zone AND due_at < $3 AND due_at >= $4
		  AND EXISTS (SELECT 1 FROM events e WHERE e.dose_instance_id = dose_instances.id AND e.result = 'recorded'
			AND e.kind IN ('taken', 'opened', 'skipped') AND e.occurred_at < dose_instances.due_at)`,
		p.OrgID, p.ID, db.UTC(from), db.UTC(from.Add(-36*time.Hour)))
	if err != nil {
		return fmt.Errorf("revive doses decided in advance: %w", err)
	}
	return nil
}

// orphanPastExcluded makes orphans of the takings and skips that happened
// since from − orphanReach and were recorded, while plan p was paused (or
// its patient inactive), against its excluded doses due before from. After
// a move west the day's dose is still ahead in the new zone (Los Angeles's
// 08:00, three hours after New York's), and the caller's regeneration
// matches them to it (see scoreRevived), as they would have matched had
// the plan been active. Left recorded on the old zone's past dose, a
// taking counted for nothing, and the new dose was reminded, missed and
// escalated (QA).
func orphanPastExcluded(ctx context.Context, tx *db.Tx, p *adherence.Plan, from time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE events SET result = 'orphan', dose_status = '', double_dose = $1, dose_instance_id = NULL
		WHERE org_id = $2 AND plan_id = $3 AND result = 'recorded' AND kind IN ('taken', 'opened', 'skipped') AND occurred_at >= $4
		  AND dose_instance_id IN (SELECT id FROM dose_instances
			WHERE org_id = $2 AND plan_id = $3 AND status = 'excluded' AND due_at < $5)`,
		false, p.OrgID, p.ID, db.UTC(from.Add(-orphanReach)), db.UTC(from))
	if err != nil {
		return fmt.Errorf("orphan events of past excluded doses: %w", err)
	}
	return nil
}

// regenerateMoved regenerates plan p's doses over [from, to) after a
// change of patient pat's zone (zoneMoved) or anchors, its timing
// unchanged, as UpdatePatient does for an active plan; correctable lets a
// change in the plan's first minutes correct its zone (see correctsZone).
func (s *Store) regenerateMoved(ctx context.Context, tx *db.Tx, p *adherence.Plan, pat adherence.Patient, from, to time.Time, zoneMoved, correctable bool) error {
	loc, err := loadZone(pat.TimeZone)
	if err != nil {
		return err
	}
	g := genPlanOf(*p, loc, pat.Anchors)
	g.sameTiming, g.zoneMoved, g.notCorrection = true, zoneMoved, !correctable
	made, err := s.regenerate(ctx, tx, g, from, to)
	if err != nil {
		return err
	}
	p.GeneratedUntil = &to
	return s.scoreRevived(ctx, tx, p, from, made)
}

// regenEnd is the end of a regeneration window: the horizon, or the plan's
// generated_until when that is later, so that no instance materialised
// earlier is left behind.
func (s *Store) regenEnd(p adherence.Plan, now time.Time) time.Time {
	to := now.Add(s.horizon())
	if p.GeneratedUntil != nil && p.GeneratedUntil.After(to) {
		to = *p.GeneratedUntil
	}
	return to
}

// SetPlanStatus moves a plan of orgID to status and returns it:
//
//   - active → paused: future scheduled doses become excluded;
//   - paused → active: future doses are regenerated (excluded ones come
//     back as scheduled);
//   - active or paused → stopped: future scheduled and excluded doses are
//     deleted. Stopped is final: any transition out of it is errs.Conflict.
//
// Pausing or stopping also ends the missed_dose escalations about the
// plan's doses (reasons plan_paused, plan_stopped; see
// closePlanEscalations). Setting the current status changes nothing and
// is still audited (the caller reads the plan).
// Doses with an outcome are never touched. Resuming a plan that has ended
// (see endedBy: its endAt or boundsPeriod.end passed, its last event or
// the last dose its repeat.count counts is past) is errs.Conflict naming
// that field: it would be active without a dose ahead.
func (s *Store) SetPlanStatus(ctx context.Context, a adherence.Actor, orgID, id string, status adherence.PlanStatus) (adherence.Plan, error) {
	switch status {
	case adherence.PlanActive, adherence.PlanPaused, adherence.PlanStopped:
	default:
		return adherence.Plan{}, errs.Invalid("status", "must be active, paused or stopped")
	}
	if !isID(orgID) || !isID(id) {
		return adherence.Plan{}, errs.NotFound("plan")
	}
	var p adherence.Plan
	var resolved []Resolution
	// Retried on a PostgreSQL deadlock, as SetPatientActive is.
	err := s.retryTx(ctx, func(tx *db.Tx) error {
		resolved = nil
		var pat adherence.Patient
		var err error
		if p, pat, err = lockPlanOfPatient(ctx, tx, orgID, id); err != nil {
			return err
		}
		switch {
		case p.Status == status:
			// Nothing changes, but the caller is answered the plan:
			// audited as the change attempted, as a PATCH changing
			// nothing is.
			return s.appendAudit(ctx, tx, []audit.Record{auditRecord(a, orgID, audit.ActionUpdate, "MedicationRequest", id, p.PatientID, "status="+string(status))})
		case p.Status == adherence.PlanStopped:
			return errs.Conflict("plan is stopped")
		}
		now := s.clock()
		if status == adherence.PlanActive {
			// A plan that ended while it was paused (its end passed, its
			// events or its count ran out) would be active without a
			// dose ahead, and never have one: as a new plan or a changed
			// timing so is refused, so is the resume.
			loc, err := loadZone(pat.TimeZone)
			if err != nil {
				return err
			}
			field, detail, err := endedBy(&p, pat, loc, now)
			if err != nil {
				return err
			}
			if field != "" {
				fix := "PATCH a later end first"
				switch field {
				case "timing.repeat.count":
					fix = "PATCH a larger count first"
				case "timing.event":
					fix = "PATCH a timing with a dose ahead first"
				}
				e := errs.Conflict("%s: a resumed plan would have no dose ahead (stop the plan to end it, or %s)", detail, fix)
				e.Field = field
				return e
			}
		}
		p.Status, p.UpdatedAt, p.Version = status, now, p.Version+1
		_, err = tx.ExecContext(ctx, `UPDATE plans SET status = $1, updated_at = $2, version = $3 WHERE org_id = $4 AND id = $5`,
			string(p.Status), p.UpdatedAt, p.Version, orgID, id)
		if err != nil {
			return fmt.Errorf("update plan: %w", err)
		}
		if err := s.applyStatus(ctx, tx, &p, now); err != nil {
			return err
		}
		var recs []audit.Record
		switch p.Status {
		case adherence.PlanPaused:
			recs, resolved, err = closePlanEscalations(ctx, tx, a, p, ReasonPlanPaused, now)
		case adherence.PlanStopped:
			recs, resolved, err = closePlanEscalations(ctx, tx, a, p, ReasonPlanStopped, now)
		}
		if err != nil {
			return err
		}
		recs = append(recs, auditRecord(a, orgID, audit.ActionUpdate, "MedicationRequest", id, p.PatientID, "status="+string(status)))
		return s.appendAudit(ctx, tx, recs)
	})
	if err != nil {
		return adherence.Plan{}, fmt.Errorf("set plan status: %w", err)
	}
	s.resolvedHook(resolved)
	return p, nil
}

// applyStatus brings the future doses of p in line with its new status.
func (s *Store) applyStatus(ctx context.Context, tx *db.Tx, p *adherence.Plan, now time.Time) error {
	var err error
	switch p.Status {
	case adherence.PlanActive:
		return s.regenerateIfActive(ctx, tx, p, now, true)
	case adherence.PlanPaused:
		if err = fillMissingBasis(ctx, tx, p.OrgID, "id", p.ID, adherence.PlanPaused); err == nil {
			err = excludeAhead(ctx, tx, "plan_id", p.OrgID, p.ID, now)
		}
	case adherence.PlanStopped:
		// Every dose not yet due goes, with an outcome in advance or
		// not (a skip a day ahead, a taking inside the on-time window
		// before the due time): it never falls due.
		err = deleteAhead(ctx, tx, p, now, "")
	}
	if err != nil {
		return fmt.Errorf("update doses: %w", err)
	}
	return nil
}

// excludeAhead marks excluded the doses due from now on of the plan or the
// patient (column plan_id or patient_id = id) of orgID: those still
// scheduled, and those decided in advance (skipped up to a day ahead,
// taken inside the on-time window before the due time). A dose excluded
// is not due, so an outcome in advance stands for nothing: its takings and
// skips become "recorded", as those that arrive for an excluded dose are,
// and score it again should a resume or a reactivation bring it back
// before it is due (scoreRevived). Left as they were, a plan paused (or a
// patient deactivated) after a skip in advance counted the skip in its
// reports for a dose that would never fall due.
func excludeAhead(ctx context.Context, tx *db.Tx, column, orgID, id string, now time.Time) error {
	decided := `SELECT id FROM dose_instances
		WHERE org_id = $1 AND ` + column + ` = $2 AND due_at >= $3 AND status NOT IN ('scheduled', 'excluded')`
	_, err := tx.ExecContext(ctx, `UPDATE events SET result = 'recorded', dose_status = '', double_dose = $4
		WHERE dose_instance_id IN (`+decided+`) AND kind IN ('taken', 'opened', 'skipped')`, orgID, id, now, false)
	if err != nil {
		return fmt.Errorf("record the events of doses excluded: %w", err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE dose_instances SET status = 'excluded', taken_at = NULL, event_id = NULL,
			skip_reason = NULL, resolved_at = NULL, double_dose = $4
		WHERE org_id = $1 AND `+column+` = $2 AND due_at >= $3 AND status <> 'excluded'`, orgID, id, now, false)
	if err != nil {
		return fmt.Errorf("exclude doses: %w", err)
	}
	return nil
}

// fillKey is a fill's optional idempotency key: printable ASCII, no
// spaces, as an event's clientEventId.
var fillKey = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)

// AddFill records a pharmacy fill of a plan of orgID, assigning ID and
// CreatedAt. A fill whose FillID the plan already holds is not recorded
// again: when its content (date, days supply, quantity) is the same, f
// becomes the original fill and replayed is true (audited as a read of
// it, not a second create); otherwise it is a conflict naming fillId.
// Concurrent retries record one row and all get the original.
func (s *Store) AddFill(ctx context.Context, a adherence.Actor, orgID string, f *adherence.Fill) (replayed bool, err error) {
	if _, err := report.ParseDate(f.FillDate); err != nil { // as PDC reads it back
		return false, errs.Invalid("fillDate", "must be a date YYYY-MM-DD")
	}
	if f.DaysSupply < 1 {
		return false, errs.Invalid("daysSupply", "must be at least 1")
	}
	if f.Quantity < 0 {
		return false, errs.Invalid("quantity", "must not be negative")
	}
	if f.FillID != "" && !fillKey.MatchString(f.FillID) {
		return false, errs.Invalid("fillId", "must be 1 to 128 printable ASCII characters without spaces")
	}
	if !isID(orgID) || !isID(f.PlanID) {
		return false, errs.NotFound("plan")
	}
	in := *f
	in.ID, in.CreatedAt = newID(), s.clock()
	var fillID any // NULL without a key: never compared
	if in.FillID != "" {
		fillID = in.FillID
	}
	var out adherence.Fill
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		out, replayed = in, false
		var patientID string
		err := tx.QueryRowContext(ctx, `SELECT patient_id FROM plans WHERE org_id = $1 AND id = $2`, orgID, in.PlanID).Scan(&patientID)
		if err != nil {
			return notFound(err, "read plan", "plan")
		}
		// A fill of the same key committed first, even by a concurrent
		// retry (PostgreSQL waits for its transaction), inserts nothing.
		res, err := tx.ExecContext(ctx, `INSERT INTO plan_fills (id, org_id, patient_id, plan_id, fill_date, days_supply, quantity, fill_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (plan_id, fill_id) WHERE fill_id IS NOT NULL DO NOTHING`,
			in.ID, orgID, patientID, in.PlanID, in.FillDate, in.DaysSupply, in.Quantity, fillID, in.CreatedAt)
		if err != nil {
			return fmt.Errorf("insert fill: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("insert fill: %w", err)
		}
		if n == 1 {
			return s.record(ctx, tx, a, orgID, audit.ActionCreate, "Fill", in.ID, patientID)
		}
		var date dateText
		err = tx.QueryRowContext(ctx, `SELECT id, fill_date, days_supply, quantity, created_at
			FROM plan_fills WHERE org_id = $1 AND plan_id = $2 AND fill_id = $3`, orgID, in.PlanID, in.FillID).
			Scan(&out.ID, &date, &out.DaysSupply, &out.Quantity, &out.CreatedAt)
		if err != nil {
			// Not the key: it is the pharmacy's claim or Rx number, and
			// this error is logged.
			return fmt.Errorf("read fill: %w", err)
		}
		out.FillDate, out.CreatedAt = string(date), out.CreatedAt.UTC()
		if out.FillDate != in.FillDate || out.DaysSupply != in.DaysSupply || out.Quantity != in.Quantity {
			e := errs.Conflict("was already used on this plan for a different fill (%s)", out.ID)
			e.Field = "fillId"
			return e
		}
		replayed = true
		return s.record(ctx, tx, a, orgID, audit.ActionRead, "Fill", out.ID, patientID)
	})
	if err != nil {
		return false, fmt.Errorf("add fill: %w", err)
	}
	*f = out
	return replayed, nil
}

// ListFills returns the fills of a plan of orgID by fill date. An unknown
// plan is not found.
func (s *Store) ListFills(ctx context.Context, orgID, planID string) ([]adherence.Fill, error) {
	if _, err := s.GetPlan(ctx, orgID, planID); err != nil {
		return nil, err
	}
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT id, plan_id, fill_date, days_supply, quantity, fill_id, created_at
		FROM plan_fills WHERE org_id = $1 AND plan_id = $2 ORDER BY fill_date, id`, orgID, planID)
	if err != nil {
		return nil, fmt.Errorf("list fills: %w", err)
	}
	defer rows.Close()
	var out []adherence.Fill
	for rows.Next() {
		var f adherence.Fill
		var date dateText
		var fillID sql.NullString
		if err := rows.Scan(&f.ID, &f.PlanID, &date, &f.DaysSupply, &f.Quantity, &fillID, &f.CreatedAt); err != nil {
			return nil, fmt.Errorf("list fills: %w", err)
		}
		f.FillDate, f.FillID, f.CreatedAt = string(date), fillID.String, f.CreatedAt.UTC()
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list fills: %w", err)
	}
	return out, nil
}

// dateText scans a calendar date as YYYY-MM-DD: PostgreSQL returns a DATE
// as a time.Time, SQLite as the stored text.
type dateText string

// Scan implements sql.Scanner.
func (d *dateText) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*d = dateText(v.Format(time.DateOnly))
	case string:
		*d = dateText(v)
	case []byte:
		*d = dateText(v)
	default:
		return fmt.Errorf("scan date: unexpected %T", src)
	}
	return nil
}
