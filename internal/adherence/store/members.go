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
	"github.com/medplatform/medplatform/internal/platform/phi"
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

// MemberChange is an edit of a member's contact details: a nil field is
// left as it is; an empty Email, Phone or TimeZone clears it (Name cannot
// be cleared). The caller validates the values.
type MemberChange struct {
	Name, Email, Phone, TimeZone *string
}

// UpdateMember applies ch to member id of orgID and audits it with the
// names of the fields it changed (never their values; "fields=none" when
// it changed nothing). It writes only the fields ch sets, on the row
// locked first, so two edits of different fields both hold. A caregiver's
// new number takes effect at their next message, a held one included;
// their messages held for their quiet hours are decided again at once
// when their zone changes (QA: a zone corrected in the afternoon left a
// page held until the old zone's morning, or later).
func (s *Store) UpdateMember(ctx context.Context, a adherence.Actor, orgID, id string, ch MemberChange) (adherence.Member, error) {
	if !isID(orgID) || !isID(id) {
		return adherence.Member{}, errs.NotFound("member")
	}
	if ch.TimeZone != nil && *ch.TimeZone != "" {
		if _, err := loadZone(*ch.TimeZone); err != nil {
			return adherence.Member{}, err
		}
	}
	var m adherence.Member
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		lock := ""
		if tx.Dialect == db.Postgres {
			lock = " FOR UPDATE"
		}
		cur, err := scanMember(tx.QueryRowContext(ctx, `SELECT `+memberColumns+` FROM members WHERE org_id = $1 AND id = $2`+lock, orgID, id))
		if err != nil {
			return notFound(err, "read member", "member")
		}
		m = cur
		if ch.Name != nil {
			m.Name = phi.New(*ch.Name)
		}
		if ch.Email != nil {
			m.Email = phi.New(*ch.Email)
		}
		if ch.Phone != nil {
			m.Phone = phi.New(*ch.Phone)
		}
		if ch.TimeZone != nil {
			m.TimeZone = *ch.TimeZone
		}
		memberArgs := func(m adherence.Member) []any { return []any{m.Name, m.Email, m.Phone, m.TimeZone} }
		detail := changedDetail([]string{"name", "email", "phone", "timeZone"}, memberArgs(cur), memberArgs(m))
		if detail != "fields=none" {
			if _, err := tx.ExecContext(ctx, `UPDATE members SET name = $1, email = $2, phone = $3, time_zone = $4 WHERE org_id = $5 AND id = $6`,
				m.Name, m.Email, m.Phone, nullString(m.TimeZone), orgID, id); err != nil {
				return fmt.Errorf("update member: %w", err)
			}
		}
		if m.TimeZone != cur.TimeZone {
			if err := s.redecideHeld(ctx, tx, orgID, "member_id", id); err != nil {
				return err
			}
		}
		return s.appendAudit(ctx, tx, []audit.Record{auditRecord(a, orgID, audit.ActionUpdate, "Member", id, "", detail)})
	})
	if err != nil {
		return adherence.Member{}, fmt.Errorf("update member: %w", err)
	}
	return m, nil
}

// ReasonMemberDeactivated is the reason of the messages to a member
// cancelled by their deactivation.
const ReasonMemberDeactivated = "member_deactivated"

// SetMemberActive deactivates or reactivates member id of orgID. An
// inactive member is told of no escalation (the steps pick active members
// only), their messages still waiting (held for their quiet hours, or to
// be retried) are cancelled, and their API keys and OIDC tokens are
// refused until they are reactivated: a caregiver who left the patient's
// circle of care, or a clinician who left the program, was unlinked from
// each patient one by one and kept their access (QA). Setting the state a
// member already has changes nothing and is not audited again.
func (s *Store) SetMemberActive(ctx context.Context, a adherence.Actor, orgID, id string, active bool) (adherence.Member, error) {
	if !isID(orgID) || !isID(id) {
		return adherence.Member{}, errs.NotFound("member")
	}
	var m adherence.Member
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		var err error
		m, err = scanMember(tx.QueryRowContext(ctx, `UPDATE members SET active = $3 WHERE org_id = $1 AND id = $2 AND active <> $3
			RETURNING `+memberColumns, orgID, id, active))
		if errors.Is(err, sql.ErrNoRows) {
			// Unknown, or already in that state.
			m, err = scanMember(tx.QueryRowContext(ctx, `SELECT `+memberColumns+` FROM members WHERE org_id = $1 AND id = $2`, orgID, id))
			if err != nil {
				return notFound(err, "read member", "member")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("set member active: %w", err)
		}
		if !active {
			if _, err := tx.ExecContext(ctx, `UPDATE notifications SET status = 'cancelled', reason = $1, updated_at = $2
				WHERE org_id = $3 AND member_id = $4 AND status IN ('queued', 'retrying')`, ReasonMemberDeactivated, s.clock(), orgID, id); err != nil {
				return fmt.Errorf("cancel the member's waiting messages: %w", err)
			}
		}
		return s.appendAudit(ctx, tx, []audit.Record{auditRecord(a, orgID, audit.ActionUpdate, "Member", id, "", fmt.Sprintf("active=%t", active))})
	})
	if err != nil {
		return adherence.Member{}, fmt.Errorf("set member active: %w", err)
	}
	return m, nil
}

// MemberAPIKeyIDs returns the ids of the API keys of member id of orgID,
// revoked or not: the API makes every process forget them when the member
// is deactivated or reactivated, so that the change holds at once.
func (s *Store) MemberAPIKeyIDs(ctx context.Context, orgID, id string) ([]string, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT id FROM api_keys WHERE org_id = $1 AND role IN ('caregiver', 'clinician') AND subject = $2 ORDER BY id`, orgID, id)
	if err != nil {
		return nil, fmt.Errorf("list member API keys: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("list member API keys: %w", err)
		}
		ids = append(ids, k)
	}
	return ids, rows.Err()
}

// memberDeactivated is the refusal of a deactivated member's API key or
// OIDC token.
const memberDeactivated = "the member is deactivated: an admin can reactivate them"

// memberActive reports whether member id of orgID is active; an unknown
// member (or a malformed id) is errs.NotFound.
func (s *Store) memberActive(ctx context.Context, orgID, id string) (bool, error) {
	if !isID(orgID) || !isID(id) {
		return false, errs.NotFound("member")
	}
	var active bool
	err := s.db.SQL.QueryRowContext(ctx, `SELECT active FROM members WHERE org_id = $1 AND id = $2`, orgID, id).Scan(&active)
	if err != nil {
		return false, notFound(err, "read member", "member")
	}
	return active, nil
}
