package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/auth"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// Bootstrap creates an organization and its first API key (normally an
// admin key) in one transaction and returns the organization. key.OrgID is
// filled in; key.CreatedBy names the actor in the audit trail.
func (s *Store) Bootstrap(ctx context.Context, orgName string, key adherence.APIKey) (adherence.Org, error) {
	var o adherence.Org
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		var err error
		if o, err = s.insertOrg(ctx, tx, orgName); err != nil {
			return err
		}
		key.OrgID = o.ID
		if err := s.insertAPIKey(ctx, tx, &key); err != nil {
			return err
		}
		a := adherence.Actor{ID: key.CreatedBy, Role: key.Role, OrgID: o.ID}
		if a.ID == "" {
			a.ID = "bootstrap"
		}
		return s.record(ctx, tx, a, o.ID, audit.ActionCreate, "APIKey", key.ID, "")
	})
	if err != nil {
		return adherence.Org{}, fmt.Errorf("bootstrap organization: %w", err)
	}
	return o, nil
}

// CreateOrg creates an organization.
func (s *Store) CreateOrg(ctx context.Context, name string) (adherence.Org, error) {
	o, err := s.insertOrg(ctx, s.db.SQL, name)
	if err != nil {
		return adherence.Org{}, fmt.Errorf("create organization: %w", err)
	}
	return o, nil
}

func (s *Store) insertOrg(ctx context.Context, q db.Querier, name string) (adherence.Org, error) {
	name = strings.TrimSpace(name)
	if adherence.Blank(name) || utf8.RuneCountInString(name) > 200 {
		return adherence.Org{}, errs.Invalid("name", "must be 1 to 200 characters, one of them visible")
	}
	if adherence.HasControl(name) {
		return adherence.Org{}, errs.Invalid("name", adherence.ControlRule)
	}
	o := adherence.Org{ID: newID(), Name: name, CreatedAt: s.clock()}
	if _, err := q.ExecContext(ctx, `INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)`,
		o.ID, o.Name, o.CreatedAt); err != nil {
		return adherence.Org{}, fmt.Errorf("insert organization: %w", err)
	}
	return o, nil
}

// CreateAPIKey stores k (its hash, never a plaintext) for k.OrgID. A key id
// that exists already is a conflict; an unknown org is not found.
func (s *Store) CreateAPIKey(ctx context.Context, a adherence.Actor, k adherence.APIKey) error {
	if !isID(k.OrgID) {
		return errs.NotFound("organization")
	}
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		if err := s.insertAPIKey(ctx, tx, &k); err != nil {
			return err
		}
		return s.record(ctx, tx, a, k.OrgID, audit.ActionCreate, "APIKey", k.ID, "")
	})
	if err != nil {
		return fmt.Errorf("create API key: %w", err)
	}
	return nil
}

func (s *Store) insertAPIKey(ctx context.Context, tx *db.Tx, k *adherence.APIKey) error {
	switch {
	case k.ID == "":
		return errs.Invalid("id", "is required")
	case k.Role == "":
		return errs.Invalid("role", "is required")
	case len(k.Hash) == 0:
		return errs.Invalid("hash", "is required")
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.clock()
	}
	k.CreatedAt = db.UTC(k.CreatedAt)
	_, err := tx.ExecContext(ctx, `
		INSERT INTO api_keys (id, org_id, role, subject, name, hash, created_at, created_by, expires_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		k.ID, k.OrgID, k.Role, k.Subject, k.Name, k.Hash, k.CreatedAt, k.CreatedBy,
		nullTime(k.ExpiresAt), nullTime(k.RevokedAt))
	switch {
	case db.IsUniqueViolation(err):
		return errs.Conflict("an API key with this id exists")
	case isForeignKeyViolation(err):
		return errs.NotFound("organization")
	case err != nil:
		return fmt.Errorf("insert API key: %w", err)
	}
	return nil
}

// ListAPIKeys returns a page of the keys of an organization, oldest first,
// without their hashes: those after the key afterID when it is given (a
// key of the organization, else a 400 naming after), at most n (100 when n
// is 0, PageMax+1 at most).
func (s *Store) ListAPIKeys(ctx context.Context, orgID, afterID string, n int) ([]adherence.APIKey, error) {
	if !isID(orgID) {
		return nil, nil
	}
	q := `SELECT id, org_id, role, subject, name, created_at, created_by, expires_at, revoked_at, last_used_at
		FROM api_keys WHERE org_id = $1`
	args := []any{orgID}
	if afterID != "" {
		// Key ids are random: the order is their creation time, the id
		// breaking ties, and the cursor is the key that ended a page.
		// The time is compared in SQL, as stored: read into Go and sent
		// back, it need not be the same text on SQLite.
		var one int
		err := s.db.SQL.QueryRowContext(ctx, `SELECT 1 FROM api_keys WHERE org_id = $1 AND id = $2`, orgID, afterID).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil, errs.Invalid("after", "is not an API key of the organization")
		case err != nil:
			return nil, fmt.Errorf("list API keys: %w", err)
		}
		q += ` AND (created_at, id) > (SELECT created_at, id FROM api_keys WHERE org_id = $1 AND id = $2)`
		args = append(args, afterID)
	}
	args = append(args, limit(n, 100, PageMax+1))
	q += fmt.Sprintf(` ORDER BY created_at, id LIMIT $%d`, len(args))
	rows, err := s.db.SQL.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	defer rows.Close()
	var out []adherence.APIKey
	for rows.Next() {
		var k adherence.APIKey
		var exp, rev, used sql.NullTime
		if err := rows.Scan(&k.ID, &k.OrgID, &k.Role, &k.Subject, &k.Name, &k.CreatedAt, &k.CreatedBy, &exp, &rev, &used); err != nil {
			return nil, fmt.Errorf("list API keys: %w", err)
		}
		k.CreatedAt = k.CreatedAt.UTC()
		k.ExpiresAt, k.RevokedAt, k.LastUsedAt = timePtr(exp), timePtr(rev), timePtr(used)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	return out, nil
}

// RevokeAPIKey marks a key of orgID revoked from now on. Revoking a revoked
// key changes nothing; a key of another org is not found. Revoking the
// org's last active (unrevoked, unexpired) admin key is a conflict: nothing
// could issue keys for the org afterwards.
func (s *Store) RevokeAPIKey(ctx context.Context, a adherence.Actor, orgID, id string) error {
	// An id of another form names no key (PostgreSQL refused one holding
	// a NUL byte or bytes that are not UTF-8 with an error: a 500, QA).
	if !isID(orgID) || !auth.IsAPIKeyID(id) {
		return errs.NotFound("API key")
	}
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		// Revocations of one org's keys take turns on the org row, so two
		// concurrent revocations of its last two admin keys cannot both
		// count the other key as still active. NO KEY UPDATE, unlike
		// UPDATE, does not wait for the transactions inserting rows that
		// reference the org (their foreign-key checks take KEY SHARE).
		// SQLite has one writer already.
		lock := ""
		if tx.Dialect == db.Postgres {
			lock = " FOR NO KEY UPDATE"
		}
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM orgs WHERE id = $1`+lock, orgID).Scan(&one)
		if err != nil {
			return notFound(err, "lock organization", "API key")
		}
		var (
			role    string
			exp     sql.NullTime
			revoked sql.NullTime
		)
		err = tx.QueryRowContext(ctx, `SELECT role, expires_at, revoked_at FROM api_keys WHERE org_id = $1 AND id = $2`+forUpdate(tx.Dialect),
			orgID, id).Scan(&role, &exp, &revoked)
		if err != nil {
			return notFound(err, "read API key", "API key")
		}
		if revoked.Valid {
			return nil
		}
		now := s.clock()
		if role == string(auth.RoleAdmin) && (!exp.Valid || exp.Time.After(now)) {
			var others int
			err := tx.QueryRowContext(ctx, `
				SELECT COUNT(*) FROM api_keys
				WHERE org_id = $1 AND id <> $2 AND role = $3 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $4)`,
				orgID, id, string(auth.RoleAdmin), db.UTC(now)).Scan(&others)
			if err != nil {
				return fmt.Errorf("count admin keys: %w", err)
			}
			if others == 0 {
				return errs.Conflict("this is the organization's last active admin key: issue another admin key before revoking it")
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE org_id = $2 AND id = $3`,
			now, orgID, id); err != nil {
			return fmt.Errorf("update API key: %w", err)
		}
		return s.record(ctx, tx, a, orgID, audit.ActionUpdate, "APIKey", id, "")
	})
	if err != nil {
		return fmt.Errorf("revoke API key: %w", err)
	}
	return nil
}

// RecordAPIKeyUse notes that a key authenticated a request at at (it
// implements auth.KeyUseRecorder). It never moves last use backwards.
func (s *Store) RecordAPIKeyUse(ctx context.Context, keyID string, at time.Time) error {
	at = db.UTC(at)
	_, err := s.db.SQL.ExecContext(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)`, at, keyID)
	if err != nil {
		return fmt.Errorf("record API key use: %w", err)
	}
	return nil
}

// LookupAPIKey returns the stored key with the given id, whatever its org,
// for authentication (it implements auth.KeyLookup). An unknown id is
// errs.NotFound.
func (s *Store) LookupAPIKey(ctx context.Context, keyID string) (auth.StoredKey, error) {
	var k auth.StoredKey
	var role string
	var exp, rev sql.NullTime
	err := s.db.SQL.QueryRowContext(ctx, `
		SELECT id, org_id, role, subject, hash, expires_at, revoked_at FROM api_keys WHERE id = $1`, keyID).
		Scan(&k.ID, &k.OrgID, &role, &k.Subject, &k.Hash, &exp, &rev)
	if err != nil {
		return auth.StoredKey{}, notFound(err, "look up API key", "API key")
	}
	k.Role = auth.Role(role)
	k.ExpiresAt, k.RevokedAt = timePtr(exp), timePtr(rev)
	if k.Role == auth.RolePatient && k.RevokedAt == nil {
		// A deactivated patient's key is refused until the patient is
		// reactivated (QA: it kept reading the record and recording
		// events after the patient had left the program).
		active, err := s.patientActive(ctx, k.OrgID, k.Subject)
		if err != nil && !errs.Is(err, errs.CodeNotFound) {
			return auth.StoredKey{}, err
		}
		if err == nil && !active {
			k.Disabled = patientDeactivated
		}
	}
	if (k.Role == auth.RoleCaregiver || k.Role == auth.RoleClinician) && k.Subject != "" && k.RevokedAt == nil {
		active, err := s.memberActive(ctx, k.OrgID, k.Subject)
		if err != nil && !errs.Is(err, errs.CodeNotFound) {
			return auth.StoredKey{}, err
		}
		if err == nil && !active {
			k.Disabled = memberDeactivated
		}
	}
	return k, nil
}

// patientDeactivated is the refusal of a deactivated patient's API key or
// OIDC token.
const patientDeactivated = "the patient is deactivated: their care team can reactivate them"

// patientActive reports whether the patient id of orgID is active; an
// unknown patient (or a malformed id) is errs.NotFound.
func (s *Store) patientActive(ctx context.Context, orgID, id string) (bool, error) {
	if !isID(orgID) || !isID(id) {
		return false, errs.NotFound("patient")
	}
	var active bool
	err := s.db.SQL.QueryRowContext(ctx, `SELECT active FROM patients WHERE org_id = $1 AND id = $2`, orgID, id).Scan(&active)
	if err != nil {
		return false, notFound(err, "read patient", "patient")
	}
	return active, nil
}

// PatientAPIKeyIDs returns the ids of the API keys of patient id of orgID,
// revoked or not: the API makes every process forget them when the patient
// is deactivated or reactivated, so that the change holds at once.
func (s *Store) PatientAPIKeyIDs(ctx context.Context, orgID, id string) ([]string, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT id FROM api_keys WHERE org_id = $1 AND role = 'patient' AND subject = $2 ORDER BY id`, orgID, id)
	if err != nil {
		return nil, fmt.Errorf("list patient API keys: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var keyID string
		if err := rows.Scan(&keyID); err != nil {
			return nil, fmt.Errorf("list patient API keys: %w", err)
		}
		ids = append(ids, keyID)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list patient API keys: %w", err)
	}
	return ids, nil
}

// CheckOIDCPrincipal checks what an OIDC token asserts against the records
// (auth.Authenticator.CheckOIDCSubject), as the API checks an API key's
// subject when the key is made: a patient's subject is a patient of the
// token's organization; a caregiver's or clinician's subject, when given
// (a clinician's may be left out), a member of it of that kind; and for
// the other roles the organization exists. A token that fails is refused
// with errs.Unauthorized (QA: a caregiver's token naming a clinician
// member saw the patients linked to the clinician, and one of an unknown
// organization was let in).
func (s *Store) CheckOIDCPrincipal(ctx context.Context, p auth.Principal) error {
	switch p.Role {
	case auth.RolePatient:
		active, err := s.patientActive(ctx, p.OrgID, p.Subject)
		if errs.Is(err, errs.CodeNotFound) {
			return errs.Unauthorized("token's subject names no patient of its organization")
		}
		if err != nil {
			return err
		}
		if !active {
			return errs.Forbidden("%s", patientDeactivated)
		}
		return nil
	case auth.RoleCaregiver, auth.RoleClinician:
		if p.Subject != "" {
			m, err := s.GetMember(ctx, p.OrgID, p.Subject)
			if errs.Is(err, errs.CodeNotFound) {
				return errs.Unauthorized("token's subject names no member of its organization")
			}
			if err != nil {
				return err
			}
			if string(m.Kind) != string(p.Role) {
				return errs.Unauthorized("token's subject names a %s, not a %s", m.Kind, p.Role)
			}
			if !m.Active {
				return errs.Forbidden("%s", memberDeactivated)
			}
			return nil
		}
	}
	var one int
	err := sql.ErrNoRows
	if isID(p.OrgID) {
		err = s.db.SQL.QueryRowContext(ctx, `SELECT 1 FROM orgs WHERE id = $1`, p.OrgID).Scan(&one)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return errs.Unauthorized("token's organization claim names no organization")
	case err != nil:
		return fmt.Errorf("read organization: %w", err)
	}
	return nil
}
