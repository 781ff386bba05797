package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

const memberColumns = `id, org_id, kind, name, email, phone, COALESCE(time_zone, ''), active, created_at`

func scanMember(row scanner) (adherence.Member, error) {
	var m adherence.Member
	var kind string
	err := row.Scan(&m.ID, &m.OrgID, &kind, &m.Name, &m.Email, &m.Phone, &m.TimeZone, &m.Active, &m.CreatedAt)
	m.Kind = adherence.MemberKind(kind)
	m.CreatedAt = m.CreatedAt.UTC()
	return m, err
}

// CreateMember adds a clinician or caregiver to m.OrgID, assigning its ID
// and CreatedAt; it is created active.
func (s *Store) CreateMember(ctx context.Context, a adherence.Actor, m *adherence.Member) error {
	if m.Kind != adherence.MemberClinician && m.Kind != adherence.MemberCaregiver {
		return errs.Invalid("kind", "must be clinician or caregiver")
	}
	if m.TimeZone != "" {
		if _, err := loadZone(m.TimeZone); err != nil {
			return err
		}
	}
	if !isID(m.OrgID) {
		return errs.NotFound("organization")
	}
	m.ID, m.CreatedAt, m.Active = newID(), s.clock(), true
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO members (id, org_id, kind, name, email, phone, time_zone, active, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			m.ID, m.OrgID, string(m.Kind), m.Name, m.Email, m.Phone, nullString(m.TimeZone), m.Active, m.CreatedAt)
		switch {
		case isForeignKeyViolation(err):
			return errs.NotFound("organization")
		case err != nil:
			return fmt.Errorf("insert member: %w", err)
		}
		return s.record(ctx, tx, a, m.OrgID, audit.ActionCreate, "Member", m.ID, "")
	})
	if err != nil {
		return fmt.Errorf("create member: %w", err)
	}
	return nil
}

// GetMember returns a member of orgID.
func (s *Store) GetMember(ctx context.Context, orgID, id string) (adherence.Member, error) {
	if !isID(orgID) || !isID(id) {
		return adherence.Member{}, errs.NotFound("member")
	}
	m, err := scanMember(s.db.SQL.QueryRowContext(ctx,
		`SELECT `+memberColumns+` FROM members WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return adherence.Member{}, notFound(err, "get member", "member")
	}
	return m, nil
}

// ListMembers returns a page of the members of orgID in creation order
// (by id: ids are UUIDv7): those after the member afterID when it is
// given, at most n (100 when n is 0, PageMax+1 at most, so that a caller
// asking one more than its page can tell whether another follows).
func (s *Store) ListMembers(ctx context.Context, orgID, afterID string, n int) ([]adherence.Member, error) {
	if !isID(orgID) {
		return nil, nil
	}
	if afterID != "" && !isID(afterID) {
		return nil, errs.Invalid("after", "is not a member id")
	}
	q := `SELECT ` + memberColumns + ` FROM members WHERE org_id = $1`
	args := []any{orgID}
	if afterID != "" {
		q += ` AND id > $2`
		args = append(args, afterID)
	}
	args = append(args, limit(n, 100, PageMax+1))
	q += fmt.Sprintf(` ORDER BY id LIMIT $%d`, len(args))
	rows, err := s.db.SQL.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	defer rows.Close()
	var out []adherence.Member
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, fmt.Errorf("list members: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	return out, nil
}

// LinkMember attaches member l.MemberID to patient l.PatientID's circle of
// care, or updates the relationship of an existing link. Both must belong
// to orgID; l.Kind is taken from the member.
func (s *Store) LinkMember(ctx context.Context, a adherence.Actor, orgID string, l adherence.Link) error {
	if !isID(orgID) || !isID(l.PatientID) {
		return errs.NotFound("patient")
	}
	if !isID(l.MemberID) {
		return errs.NotFound("member")
	}
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := lockPatient(ctx, tx, orgID, l.PatientID); err != nil {
			return err
		}
		var kind string
		err := tx.QueryRowContext(ctx, `SELECT kind FROM members WHERE org_id = $1 AND id = $2`, orgID, l.MemberID).Scan(&kind)
		if err != nil {
			return notFound(err, "read member", "member")
		}
		action, err := linkAction(ctx, tx, orgID, l)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO patient_links (org_id, patient_id, member_id, kind, relationship, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (patient_id, member_id) DO UPDATE SET kind = excluded.kind, relationship = excluded.relationship`,
			orgID, l.PatientID, l.MemberID, kind, l.Relationship, s.clock())
		if err != nil {
			return fmt.Errorf("upsert link: %w", err)
		}
		return s.record(ctx, tx, a, orgID, action, "Link", l.MemberID, l.PatientID)
	})
	if err != nil {
		return fmt.Errorf("link member: %w", err)
	}
	return nil
}

// linkAction says whether linking creates (C) or updates (U) a link.
func linkAction(ctx context.Context, tx *db.Tx, orgID string, l adherence.Link) (string, error) {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM patient_links WHERE org_id = $1 AND patient_id = $2 AND member_id = $3`,
		orgID, l.PatientID, l.MemberID).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return audit.ActionCreate, nil
	case err != nil:
		return "", fmt.Errorf("read link: %w", err)
	}
	return audit.ActionUpdate, nil
}

// UnlinkMember removes a member from a patient's circle of care.
func (s *Store) UnlinkMember(ctx context.Context, a adherence.Actor, orgID, patientID, memberID string) error {
	if !isID(orgID) || !isID(patientID) || !isID(memberID) {
		return errs.NotFound("link")
	}
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM patient_links WHERE org_id = $1 AND patient_id = $2 AND member_id = $3`,
			orgID, patientID, memberID)
		if err != nil {
			return fmt.Errorf("delete link: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("delete link: %w", err)
		} else if n == 0 {
			return errs.NotFound("link")
		}
		return s.record(ctx, tx, a, orgID, audit.ActionDelete, "Link", memberID, patientID)
	})
	if err != nil {
		return fmt.Errorf("unlink member: %w", err)
	}
	return nil
}

// ListLinks returns the links of a patient of orgID, oldest first. An
// unknown patient is not found.
func (s *Store) ListLinks(ctx context.Context, orgID, patientID string) ([]adherence.Link, error) {
	if err := s.patientExists(ctx, orgID, patientID); err != nil {
		return nil, err
	}
	rows, err := s.db.SQL.QueryContext(ctx, `
		SELECT patient_id, member_id, kind, relationship, created_at FROM patient_links
		WHERE org_id = $1 AND patient_id = $2 ORDER BY created_at, member_id`, orgID, patientID)
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	defer rows.Close()
	var out []adherence.Link
	for rows.Next() {
		var l adherence.Link
		var kind string
		if err := rows.Scan(&l.PatientID, &l.MemberID, &kind, &l.Relationship, &l.CreatedAt); err != nil {
			return nil, fmt.Errorf("list links: %w", err)
		}
		l.Kind, l.CreatedAt = adherence.MemberKind(kind), l.CreatedAt.UTC()
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	return out, nil
}

// IsLinked reports whether a member of orgID is linked to a patient of
// orgID.
func (s *Store) IsLinked(ctx context.Context, orgID, patientID, memberID string) (bool, error) {
	if !isID(orgID) || !isID(patientID) || !isID(memberID) {
		return false, nil
	}
	var one int
	err := s.db.SQL.QueryRowContext(ctx, `SELECT 1 FROM patient_links WHERE org_id = $1 AND patient_id = $2 AND member_id = $3`,
		orgID, patientID, memberID).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("check link: %w", err)
	}
	return true, nil
}
