package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/remind"
	"github.com/medplatform/medplatform/internal/adherence/schedule"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// PatientFilter selects patients for ListPatients.
type PatientFilter struct {
	// LinkedMemberID, when set, keeps only patients linked to this member.
	LinkedMemberID string
	// IncludeInactive also lists deactivated patients.
	IncludeInactive bool
	// Limit caps the page: 100 when zero, at most 1000.
	Limit int
	// AfterID pages by id: only patients with a greater id are listed. Pass
	// the id of the last patient of the previous page.
	AfterID string
}

const patientColumns = `id, org_id, given_name, family_name, birth_date, phone, email, time_zone, language,
	wake, breakfast, lunch, dinner, bed, quiet_start, quiet_end, sms_consent, share_medication,
	active, deactivated_at, created_at, updated_at, version`

func scanPatient(row scanner) (adherence.Patient, error) {
	var p adherence.Patient
	var anchors [5]string
	var quietStart, quietEnd sql.NullString
	var deactivated sql.NullTime
	err := row.Scan(&p.ID, &p.OrgID, &p.GivenName, &p.FamilyName, &p.BirthDate, &p.Phone, &p.Email,
		&p.TimeZone, &p.Language, &anchors[0], &anchors[1], &anchors[2], &anchors[3], &anchors[4],
		&quietStart, &quietEnd, &p.SMSConsent, &p.ShareMedicationWithCaregivers,
		&p.Active, &deactivated, &p.CreatedAt, &p.UpdatedAt, &p.Version)
	if err != nil {
		return p, err
	}
	p.DeactivatedAt = timePtr(deactivated)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	if p.Anchors, err = parseAnchors(anchors); err != nil {
		return p, err
	}
	if p.Quiet, err = quietOf(quietStart, quietEnd); err != nil {
		return p, err
	}
	return p, nil
}

// parseAnchors reads the stored wake, breakfast, lunch, dinner and bed.
func parseAnchors(s [5]string) (schedule.Anchors, error) {
	var a schedule.Anchors
	for i, dst := range []*schedule.Clock{&a.Wake, &a.Breakfast, &a.Lunch, &a.Dinner, &a.Bed} {
		c, err := schedule.ParseClock(s[i])
		if err != nil {
			return a, fmt.Errorf("stored anchor: %w", err)
		}
		*dst = c
	}
	return a, nil
}

// normalizePatient checks the patient's zone, anchors and quiet hours and fills in
// default anchors.
func normalizePatient(p *adherence.Patient) error {
	if _, err := loadZone(p.TimeZone); err != nil {
		return err
	}
	if p.Anchors == (schedule.Anchors{}) {
		p.Anchors = schedule.DefaultAnchors()
	}
	if err := p.Anchors.Validate(); err != nil {
		return errs.PrefixField(err, "anchors")
	}
	if p.Quiet.Set && (!p.Quiet.Start.Valid() || !p.Quiet.End.Valid()) {
		return errs.Invalid("quietHours", "must be times of day between 00:00 and 23:59")
	}
	if p.Language == "" {
		p.Language = "en"
	}
	return nil
}

// loadZone loads an IANA time zone; "Local" and "" are refused because they
// depend on the server.
func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, errs.Invalid("timeZone", "must be an IANA time zone such as America/New_York")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, errs.Invalid("timeZone", "unknown IANA time zone")
	}
	return loc, nil
}

// patientArgs are the values of the mutable patient columns, in the order
// given_name … share_medication.
// patientFields names the values of patientArgs, as the API does.
var patientFields = []string{"givenName", "familyName", "birthDate", "phone", "email", "timeZone", "language",
	"anchors.wake", "anchors.breakfast", "anchors.lunch", "anchors.dinner", "anchors.bed",
	"quietHours.start", "quietHours.end", "smsConsent", "shareMedicationWithCaregivers"}

func patientArgs(p *adherence.Patient) []any {
	var qs, qe any
	if p.Quiet.Set {
		qs, qe = p.Quiet.Start.String(), p.Quiet.End.String()
	}
	a := p.Anchors
	return []any{p.GivenName, p.FamilyName, p.BirthDate, p.Phone, p.Email, p.TimeZone, p.Language,
		a.Wake.String(), a.Breakfast.String(), a.Lunch.String(), a.Dinner.String(), a.Bed.String(),
		qs, qe, p.SMSConsent, p.ShareMedicationWithCaregivers}
}

// CreatePatient enrols a patient in p.OrgID. It assigns ID, timestamps and
// Version 1, and the patient starts active; zero anchors mean the defaults.
func (s *Store) CreatePatient(ctx context.Context, a adherence.Actor, p *adherence.Patient) error {
	if !isID(p.OrgID) {
		return errs.NotFound("organization")
	}
	if err := normalizePatient(p); err != nil {
		return err
	}
	now := s.clock()
	p.ID, p.CreatedAt, p.UpdatedAt, p.Version, p.Active, p.DeactivatedAt = newID(), now, now, 1, true, nil
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		args := append([]any{p.ID, p.OrgID}, patientArgs(p)...)
		args = append(args, p.Active, nil, p.CreatedAt, p.UpdatedAt, p.Version)
		_, err := tx.ExecContext(ctx, `INSERT INTO patients (`+patientColumns+`) VALUES `+placeholders(1, len(args)), args...)
		switch {
		case isForeignKeyViolation(err):
			return errs.NotFound("organization")
		case err != nil:
			return fmt.Errorf("insert patient: %w", err)
		}
		return s.record(ctx, tx, a, p.OrgID, audit.ActionCreate, "Patient", p.ID, p.ID)
	})
	if err != nil {
		return fmt.Errorf("create patient: %w", err)
	}
	return nil
}

// GetPatient returns a patient of orgID, active or not.
func (s *Store) GetPatient(ctx context.Context, orgID, id string) (adherence.Patient, error) {
	if !isID(orgID) || !isID(id) {
		return adherence.Patient{}, errs.NotFound("patient")
	}
	p, err := scanPatient(s.db.SQL.QueryRowContext(ctx,
		`SELECT `+patientColumns+` FROM patients WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return adherence.Patient{}, notFound(err, "get patient", "patient")
	}
	return p, nil
}

// patientExists returns errs.NotFound unless orgID has the patient.
func (s *Store) patientExists(ctx context.Context, orgID, id string) error {
	_, err := s.patientActive(ctx, orgID, id)
	return err
}

// lockPatient reads a patient of orgID inside tx, locking its row until
// the transaction ends.
func lockPatient(ctx context.Context, tx *db.Tx, orgID, id string) (adherence.Patient, error) {
	p, err := scanPatient(tx.QueryRowContext(ctx,
		`SELECT `+patientColumns+` FROM patients WHERE org_id = $1 AND id = $2`+forUpdate(tx.Dialect), orgID, id))
	if err != nil {
		return adherence.Patient{}, notFound(err, "read patient", "patient")
	}
	return p, nil
}

// ListPatients returns a page of patients of orgID ordered by id.
func (s *Store) ListPatients(ctx context.Context, orgID string, f PatientFilter) ([]adherence.Patient, error) {
	if !isID(orgID) || (f.LinkedMemberID != "" && !isID(f.LinkedMemberID)) {
		return nil, nil
	}
	if f.AfterID != "" && !isID(f.AfterID) {
		return nil, errs.Invalid("after", "is not a patient id")
	}
	var where strings.Builder
	args := []any{orgID}
	where.WriteString(`org_id = $1`)
	if f.AfterID != "" {
		args = append(args, f.AfterID)
		fmt.Fprintf(&where, ` AND id > $%d`, len(args))
	}
	if !f.IncludeInactive {
		where.WriteString(` AND active`)
	}
	if f.LinkedMemberID != "" {
		args = append(args, f.LinkedMemberID)
		fmt.Fprintf(&where, ` AND EXISTS (SELECT 1 FROM patient_links l
			WHERE l.org_id = patients.org_id AND l.patient_id = patients.id AND l.member_id = $%d)`, len(args))
	}
	args = append(args, limit(f.Limit, 100, 1000))
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT `+patientColumns+` FROM patients WHERE `+where.String()+
		fmt.Sprintf(` ORDER BY id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list patients: %w", err)
	}
	defer rows.Close()
	var out []adherence.Patient
	for rows.Next() {
		p, err := scanPatient(rows)
		if err != nil {
			return nil, fmt.Errorf("list patients: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list patients: %w", err)
	}
	return out, nil
}

// UpdatePatient writes the editable fields of p (demographics, contact,
// zone, language, anchors, quiet hours, consent and sharing flags) if the
// stored version is expectedVersion, and bumps p.Version when one of them
// changes (an update that changes nothing keeps the version and is still
// audited); a stale version
// is errs.Conflict. Active state changes go through SetPatientActive. When
// the zone or the anchors change, the future doses of the patient's active
// plans are regenerated in the same transaction.
func (s *Store) UpdatePatient(ctx context.Context, a adherence.Actor, p *adherence.Patient, expectedVersion int) error {
	if !isID(p.OrgID) || !isID(p.ID) {
		return errs.NotFound("patient")
	}
	if err := normalizePatient(p); err != nil {
		return err
	}
	// Retried on a PostgreSQL deadlock, as SetPatientActive and UpdatePlan
	// are: a change of zone or anchors locks the patient, its plans, their
	// doses and the audit head, as they do (QA).
	err := s.retryTx(ctx, func(tx *db.Tx) error {
		cur, err := lockPatient(ctx, tx, p.OrgID, p.ID)
		if err != nil {
			return err
		}
		if cur.Version != expectedVersion {
			return staleVersion("patient", cur.Version, expectedVersion)
		}
		p.Active, p.DeactivatedAt, p.CreatedAt = cur.Active, cur.DeactivatedAt, cur.CreatedAt
		if sameArgs(patientArgs(p), patientArgs(&cur)) {
			// Nothing changes: the version stays, so that a client
			// holding it is not told of a change by a 409. The attempt
			// is still audited (its answer discloses the record).
			p.UpdatedAt, p.Version = cur.UpdatedAt, cur.Version
			return s.appendAudit(ctx, tx, []audit.Record{auditRecord(a, p.OrgID, audit.ActionUpdate, "Patient", p.ID, p.ID, "fields=none")})
		}
		detail := changedDetail(patientFields, patientArgs(&cur), patientArgs(p))
		now := s.clock()
		p.UpdatedAt, p.Version = now, cur.Version+1
		args := append(patientArgs(p), p.UpdatedAt, p.Version, p.OrgID, p.ID)
		_, err = tx.ExecContext(ctx, `UPDATE patients SET given_name = $1, family_name = $2, birth_date = $3,
			phone = $4, email = $5, time_zone = $6, language = $7, wake = $8, breakfast = $9, lunch = $10,
			dinner = $11, bed = $12, quiet_start = $13, quiet_end = $14, sms_consent = $15,
			share_medication = $16, updated_at = $17, version = $18,
			sms_opted_out = (sms_opted_out AND sms_consent = $15 AND phone = $4)
			WHERE org_id = $19 AND id = $20`, args...)
		if err != nil {
			return fmt.Errorf("update patient: %w", err)
		}
		if p.Active && (cur.TimeZone != p.TimeZone || cur.Anchors != p.Anchors) {
			if err := s.regeneratePatient(ctx, tx, *p, now, cur.TimeZone != p.TimeZone, cur.TimeZone != p.TimeZone, false); err != nil {
				return err
			}
		}
		if cur.TimeZone != p.TimeZone || cur.Quiet != p.Quiet {
			if err := releaseQuietHolds(ctx, tx, cur, now); err != nil {
				return err
			}
			if err := s.redecideHeldDeliveries(ctx, tx, p.OrgID, p.ID); err != nil {
				return err
			}
		}
		return s.appendAudit(ctx, tx, []audit.Record{auditRecord(a, p.OrgID, audit.ActionUpdate, "Patient", p.ID, p.ID, detail)})
	})
	if err != nil {
		return fmt.Errorf("update patient: %w", err)
	}
	return nil
}

// releaseQuietHolds makes the first reminders of patient cur held until
// the end of its quiet hours (in the zone and quiet hours before a change)
// due now, so that the next dispatch decides them again under the
// patient's new zone or quiet hours: a reminder held until 07:00 in Lord
// Howe went 55 minutes late after the patient moved to Chatham, where
// quiet hours had ended (QA). Still quiet there, the dispatch holds it
// again until the new end.
//
// Nothing records that a dispatch held a reminder, so a held one is told
// by what only a hold leaves: remind_at at the quiet end, no reminder sent
// yet, the dose already due (a dose due at the quiet end is armed for
// then, not held) and not snoozed (a snooze may end at the quiet end).
// Pulling any remind_at at the quiet end forward sent such reminders, and
// repeats, early (QA re-test). A held repeat keeps the old end.
func releaseQuietHolds(ctx context.Context, tx *db.Tx, cur adherence.Patient, now time.Time) error {
	loc, err := loadZone(cur.TimeZone)
	if err != nil {
		return nil // a zone this build cannot read held nothing
	}
	in, end := remind.InQuiet(cur.Quiet, loc, now)
	if !in {
		return nil
	}
	_, err = tx.ExecContext(ctx, `UPDATE dose_instances SET remind_at = $1
		WHERE org_id = $2 AND patient_id = $3 AND status = 'scheduled' AND remind_at = $4
		  AND reminders_sent = 0 AND due_at <= $1
		  AND NOT EXISTS (SELECT 1 FROM events e WHERE e.dose_instance_id = dose_instances.id AND e.kind = 'snoozed')`,
		db.UTC(now), cur.OrgID, cur.ID, db.UTC(end))
	if err != nil {
		return fmt.Errorf("release reminders held for quiet hours: %w", err)
	}
	return nil
}

// redecideHeldDeliveries enqueues at once a delivery job for the
// notifications of patient patientID that a delivery job held for quiet
// hours (queued, reason quiet_hours): a reminder retried after every
// provider failed, held for the patient's quiet hours, and the messages
// to caregivers without a zone of their own, held for their night in the
// patient's zone. Their job was scheduled for the end of the quiet hours
// before the change; the job now decides again under the new zone or
// quiet hours: it sends what is no longer held and holds the rest until
// the new end. A held message to a caregiver with a zone of their own is
// held again until the same end.
func (s *Store) redecideHeldDeliveries(ctx context.Context, tx *db.Tx, orgID, patientID string) error {
	return s.redecideHeld(ctx, tx, orgID, "patient_id", patientID)
}

// redecideHeld enqueues at once a delivery job for the notifications held
// for quiet hours whose column (patient_id or member_id) is id.
func (s *Store) redecideHeld(ctx context.Context, tx *db.Tx, orgID, column, id string) error {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM notifications
		WHERE org_id = $1 AND `+column+` = $2 AND status = 'queued' AND reason = 'quiet_hours'`, orgID, id)
	if err != nil {
		return fmt.Errorf("read deliveries held for quiet hours: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("read deliveries held for quiet hours: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return fmt.Errorf("read deliveries held for quiet hours: %w", err)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("read deliveries held for quiet hours: %w", err)
	}
	return s.enqueueDelivery(ctx, tx, ids, time.Time{})
}

// SetPatientActive deactivates or reactivates a patient of orgID and
// returns it. Deactivation deletes nothing: it records deactivated_at,
// marks the patient's future scheduled doses excluded and resolves the
// patient's open escalations (reason patient_deactivated). Reactivation
// regenerates the future doses of the active plans. Setting the current
// state changes nothing and is still audited (the caller reads the
// patient).
func (s *Store) SetPatientActive(ctx context.Context, a adherence.Actor, orgID, id string, active bool) (adherence.Patient, error) {
	if !isID(orgID) || !isID(id) {
		return adherence.Patient{}, errs.NotFound("patient")
	}
	var p adherence.Patient
	var resolved []Resolution
	// Retried on a PostgreSQL deadlock: it locks the patient, the plans,
	// the doses, the escalations and the audit head, and other writers
	// take some of them too.
	err := s.retryTx(ctx, func(tx *db.Tx) error {
		resolved = nil
		var err error
		if p, err = lockPatient(ctx, tx, orgID, id); err != nil {
			return err
		}
		action := audit.ActionUpdate
		if !active {
			action = audit.ActionDelete
		}
		if p.Active == active {
			// Nothing changes, but the caller is answered the patient's
			// record: audited as the change attempted, as a PATCH
			// changing nothing is.
			return s.record(ctx, tx, a, orgID, action, "Patient", id, id)
		}
		now := s.clock()
		p.Active, p.UpdatedAt, p.Version, p.DeactivatedAt = active, now, p.Version+1, nil
		if !active {
			p.DeactivatedAt = &now
		}
		_, err = tx.ExecContext(ctx, `UPDATE patients SET active = $1, deactivated_at = $2, updated_at = $3, version = $4
			WHERE org_id = $5 AND id = $6`, p.Active, nullTime(p.DeactivatedAt), p.UpdatedAt, p.Version, orgID, id)
		if err != nil {
			return fmt.Errorf("update patient: %w", err)
		}
		var recs []audit.Record
		if active {
			// The zone may have changed while the patient was inactive
			// (UpdatePatient regenerates only active patients).
			var moved bool
			if moved, err = zoneChanged(ctx, tx, p, "", now); err == nil {
				err = s.regeneratePatient(ctx, tx, p, now, true, moved, true)
			}
			if err == nil {
				err = s.resumeReminders(ctx, tx, "patient_id", orgID, id, now)
			}
		} else {
			err = fillMissingBasis(ctx, tx, orgID, "patient_id", id, adherence.PlanActive)
			if err == nil {
				err = excludePatientDoses(ctx, tx, orgID, id, now)
			}
			if err == nil {
				recs, resolved, err = s.closePatientEscalations(ctx, tx, a, orgID, id, now)
			}
		}
		if err != nil {
			return err
		}
		if err := s.appendAudit(ctx, tx, recs); err != nil {
			return err
		}
		return s.record(ctx, tx, a, orgID, action, "Patient", id, id)
	})
	if err != nil {
		return adherence.Patient{}, fmt.Errorf("set patient active: %w", err)
	}
	s.resolvedHook(resolved)
	return p, nil
}

// zoneChanged reports whether the doses of patient p due from a day and a
// half before now on were generated in a zone other than p's: one's wall
// time is not its instant's there. A reactivation may correct a plan's
// zone (see correctsZone) only then: a patient deactivated and reactivated
// within minutes of a plan's creation, in the same zone, had the plan's
// zone "corrected", and the day lost the dose a timing change had kept
// for it (QA). A wall time a daylight-saving gap skipped reads as a
// change, as every reactivation did before.
//
// planID, when not empty, limits the doses read to that plan's.
func zoneChanged(ctx context.Context, tx *db.Tx, p adherence.Patient, planID string, now time.Time) (bool, error) {
	loc, err := loadZone(p.TimeZone)
	if err != nil {
		return false, err
	}
	q := `SELECT due_at, local_time FROM dose_instances
		WHERE org_id = $1 AND patient_id = $2 AND due_at >= $3`
	args := []any{p.OrgID, p.ID, db.UTC(now.Add(-36 * time.Hour))}
	if planID != "" {
		q += ` AND plan_id = $4`
		args = append(args, planID)
	}
	rows, err := tx.QueryContext(ctx, q+` ORDER BY due_at LIMIT 200`, args...)
	if err != nil {
		return false, fmt.Errorf("read doses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var due time.Time
		var local string
		if err := rows.Scan(&due, &local); err != nil {
			return false, fmt.Errorf("read doses: %w", err)
		}
		if due.In(loc).Format("2006-01-02T15:04") != local {
			return true, nil
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("read doses: %w", err)
	}
	return false, nil
}

// excludePatientDoses marks the patient's doses due from now on excluded
// (excludeAhead). The plans are locked first so that a concurrent ExtendHorizon
// chunk holding them finishes before the doses are read.
func excludePatientDoses(ctx context.Context, tx *db.Tx, orgID, patientID string, now time.Time) error {
	if _, err := lockPatientPlans(ctx, tx, orgID, patientID); err != nil {
		return err
	}
	return excludeAhead(ctx, tx, "patient_id", orgID, patientID, now)
}

// regeneratePatient regenerates the future doses of every active plan of
// an active patient p, from now to the end of the horizon (or further, up
// to each plan's generated_until). zoneMoved says that p's zone may differ
// from the one the doses were generated in (see genPlan.zoneMoved);
// correctable, that it does, so that a change in a plan's first minutes
// corrects the plan's zone (see correctsZone). reactivated marks the
// patient's reactivation: doses excluded under another zone, other anchors
// or another timing are first revived as they were (see
// reviveAsGenerated).
func (s *Store) regeneratePatient(ctx context.Context, tx *db.Tx, p adherence.Patient, now time.Time, zoneMoved, correctable, reactivated bool) error {
	plans, err := lockPatientPlans(ctx, tx, p.OrgID, p.ID)
	if err != nil {
		return err
	}
	for _, pl := range plans {
		if pl.Status != adherence.PlanActive {
			continue
		}
		to := s.regenEnd(pl, now)
		moved, correct := zoneMoved, correctable
		if reactivated {
			b, err := s.reviveAsGenerated(ctx, tx, &pl, p, now, to)
			if err != nil {
				return err
			}
			if b.revived && !b.zoneMoved && !b.anchorsMoved {
				continue // a timing change, applied
			}
			if b.revived {
				// As UpdatePatient moves an active plan's doses.
				moved, correct = b.zoneMoved, b.zoneMoved
			}
		}
		if err := s.regenerateMoved(ctx, tx, &pl, p, now, to, moved, correct); err != nil {
			return err
		}
	}
	return nil
}
