package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// The consent ledger is append-only: every opt-out and opt-in is a row,
// and the newest row of a channel and address is that address's state.
// Addresses are kept only as AddressKey (hex SHA-256), so the ledger can
// be searched by number without holding numbers.
//
// An opt-out the address itself made is a fact about the address, not
// about one org's record of a person: a number that texted STOP, or that
// the SMS provider reports unsubscribed (21610), is opted out for every org
// (the carrier blocks it for all of them anyway). An opt-out recorded by
// staff through the API is that org's: it counts for the org that recorded
// it only. Counted for every org, it let any org's staff, by enrolling a
// throwaway patient with a number, stop the reminders of another org's
// patient of that number, and learn from smsOptedOut whether another org had
// opted it out (QA, security). So the state of an address for an org is
// that of the address's own newest row (sms_keyword, provider) when that is
// an opt-out, which only the address lifts (a START), and otherwise the
// newest of its own rows and of those the org recorded (ledgerRows.of): an
// org's API opt-out then opt-in after a STOP re-subscribed a number that
// never texted START (QA, HIGH). The delivery job refuses every message to
// an opted-out number except the one opt-out confirmation.
//
// Patients also carry sms_consent, the consent collected at enrolment;
// a patient whose flag is false is never texted. The ledger keeps the flag
// in step with these rules:
//
//   - An opt-out (STOP by text, or through the API) turns the flag off for
//     the patients it is recorded for, and marks them sms_opted_out when
//     it was on.
//   - An opt-in (START, or through the API) turns it back on only when the
//     patient is sms_opted_out and this patient's previous ledger row on
//     this number is an opt-out — that is, when it was the ledger that
//     turned it off. A patient enrolled without SMS consent is never
//     switched on by texting START, not even after a STOP: the previous
//     row alone cannot tell a withdrawn consent from one never given.
//   - Staff changing sms_consent or the phone through the API clears
//     sms_opted_out: what they recorded decides from then on.
//   - Through the API, an opt-in cannot undo an opt-out the number texted
//     (STOP): the carrier keeps blocking the number until the handset sends
//     START, so only a START re-subscribes it (errs.Conflict).

// Consent actions.
const (
	ConsentOptOut = "opt_out"
	ConsentOptIn  = "opt_in"
)

// Consent sources.
const (
	ConsentSourceSMSKeyword = "sms_keyword" // the person texted STOP / START
	ConsentSourceAPI        = "api"         // recorded by staff through the API
	// ConsentSourceProvider: the SMS provider refused a message because
	// the number unsubscribed at its end (Twilio 21610), a STOP this
	// platform never received. Kept for the number alone.
	ConsentSourceProvider = "provider"
)

// ConsentInput is one consent change to record.
type ConsentInput struct {
	OrgID     string // "" only for a number matching no record
	PatientID string
	MemberID  string
	Channel   string // "sms" or "email"
	// Address is the E.164 number (sms) or the email address. It is kept
	// only as its AddressKey.
	Address string
	Action  string // ConsentOptOut or ConsentOptIn
	Source  string // ConsentSourceSMSKeyword or ConsentSourceAPI
	// Keyword is the normalised keyword texted (STOP, START); "" for the API.
	Keyword           string
	ProviderMessageID string
	Actor             adherence.Actor
}

// ConsentEntry is one ledger row as the API shows it: no address.
type ConsentEntry struct {
	ID                int64
	OrgID             string
	PatientID         string
	MemberID          string
	Channel           string
	Action            string
	Source            string
	Keyword           string
	ProviderMessageID string
	Actor             string
	RecordedAt        time.Time
}

// consentAddress normalises an address of channel for its key: email
// addresses compare without case.
func consentAddress(channel, address string) string {
	address = strings.TrimSpace(address)
	if channel == "email" {
		return strings.ToLower(address)
	}
	return address
}

func validConsent(in ConsentInput) error {
	switch {
	case in.Channel != "sms" && in.Channel != "email":
		return errs.Invalid("channel", "must be sms or email")
	case in.Action != ConsentOptOut && in.Action != ConsentOptIn:
		return errs.Invalid("action", "must be opt_out or opt_in")
	case in.Source != ConsentSourceSMSKeyword && in.Source != ConsentSourceAPI:
		return errs.Invalid("source", "must be sms_keyword or api")
	case strings.TrimSpace(in.Address) == "":
		return errs.Invalid("address", "is required")
	case (in.PatientID != "" || in.MemberID != "" || in.Source == ConsentSourceAPI) && !isID(in.OrgID):
		return errs.NotFound("organization")
	case in.PatientID != "" && !isID(in.PatientID):
		return errs.NotFound("patient")
	case in.MemberID != "" && !isID(in.MemberID):
		return errs.NotFound("member")
	case in.Source == ConsentSourceAPI && in.Actor.ID == "":
		return errs.Invalid("actor", "is required")
	case len(in.Keyword) > 32 || len(in.ProviderMessageID) > maxProviderMessageID:
		return errs.Invalid("", "keyword or provider message id too long")
	}
	return nil
}

// RecordConsent appends one consent change to the ledger and applies the
// sms_consent rule above to its patient, in one transaction with its audit
// record (which holds no address). A patient or member that is not of
// in.OrgID is errs.NotFound.
func (s *Store) RecordConsent(ctx context.Context, in ConsentInput) error {
	if err := validConsent(in); err != nil {
		return err
	}
	key := AddressKey(consentAddress(in.Channel, in.Address))
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		// The address first, as an inbound text's transaction takes it
		// before it changes the patient.
		if err := lockAddress(ctx, tx, key); err != nil {
			return err
		}
		if in.PatientID != "" {
			if _, err := lockPatient(ctx, tx, in.OrgID, in.PatientID); err != nil {
				return err
			}
		}
		if in.MemberID != "" {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM members WHERE org_id = $1 AND id = $2`, in.OrgID, in.MemberID).Scan(&one)
			if err != nil {
				return notFound(err, "read member", "member")
			}
		}
		if in.Source == ConsentSourceAPI && in.Action == ConsentOptIn && in.Channel == "sms" {
			own, err := lastOwnConsent(ctx, tx, in.Channel, key)
			if err != nil {
				return err
			}
			if own.Action == ConsentOptOut {
				return errs.Conflict("the number opted out by texting STOP; only a START texted from it re-subscribes it")
			}
		}
		rec, err := s.appendConsent(ctx, tx, in, key)
		if err != nil {
			return err
		}
		if rec.OrgID == "" {
			return nil
		}
		if _, err := s.audit.AppendBatch(ctx, tx, []audit.Record{rec}); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record consent: %w", err)
	}
	return nil
}

// appendConsent inserts one ledger row keyed key, applies the sms_consent
// rule to in.PatientID, and returns the audit record of the change for the
// caller to append last (OrgID "" when there is none to write).
func (s *Store) appendConsent(ctx context.Context, tx *db.Tx, in ConsentInput, key string) (audit.Record, error) {
	now := s.clock()
	flag := ""
	if in.PatientID != "" && in.Channel == "sms" {
		var err error
		if flag, err = applyConsentFlag(ctx, tx, in, key, now); err != nil {
			return audit.Record{}, err
		}
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO consent_ledger (org_id, patient_id, member_id, channel, address_key,
			action, source, keyword, provider_message_id, actor, recorded_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
		nullString(in.OrgID), nullString(in.PatientID), nullString(in.MemberID), in.Channel, key,
		in.Action, in.Source, in.Keyword, in.ProviderMessageID, in.Actor.ID, now).Scan(&id)
	if err != nil {
		return audit.Record{}, fmt.Errorf("insert consent: %w", err)
	}
	if in.OrgID == "" {
		return audit.Record{}, nil
	}
	detail := in.Channel + " " + in.Action + " " + in.Source
	if flag != "" {
		detail += " sms_consent=" + flag
	}
	return audit.Record{
		OrgID: in.OrgID, ActorID: in.Actor.ID, ActorRole: in.Actor.Role, Action: audit.ActionCreate,
		ResourceType: "Consent", ResourceID: fmt.Sprint(id), PatientID: in.PatientID,
		Outcome: audit.OutcomeSuccess, RequestID: in.Actor.RequestID, ClientAddr: in.Actor.ClientAddr,
		Detail: detail,
	}, nil
}

// applyConsentFlag applies the sms_consent rule (see the top of this file)
// to the patient of in before its ledger row is written, and returns the
// new flag ("true", "false") when it changed it, "" otherwise.
func applyConsentFlag(ctx context.Context, tx *db.Tx, in ConsentInput, key string, now time.Time) (string, error) {
	switch in.Action {
	case ConsentOptOut:
		r, err := tx.ExecContext(ctx, `UPDATE patients SET sms_consent = $4, sms_opted_out = $5, updated_at = $1, version = version + 1
			WHERE org_id = $2 AND id = $3 AND sms_consent`, now, in.OrgID, in.PatientID, false, true)
		if err != nil {
			return "", fmt.Errorf("withdraw sms consent: %w", err)
		}
		if n, _ := r.RowsAffected(); n > 0 {
			return "false", nil
		}
	case ConsentOptIn:
		var prev string
		err := tx.QueryRowContext(ctx, `SELECT action FROM consent_ledger
			WHERE org_id = $1 AND patient_id = $2 AND channel = 'sms' AND address_key = $3
			ORDER BY id DESC LIMIT 1`, in.OrgID, in.PatientID, key).Scan(&prev)
		if errors.Is(err, sql.ErrNoRows) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("read consent ledger: %w", err)
		}
		if prev != ConsentOptOut {
			return "", nil
		}
		r, err := tx.ExecContext(ctx, `UPDATE patients SET sms_consent = $4, sms_opted_out = $5, updated_at = $1, version = version + 1
			WHERE org_id = $2 AND id = $3 AND NOT sms_consent AND sms_opted_out`, now, in.OrgID, in.PatientID, true, false)
		if err != nil {
			return "", fmt.Errorf("restore sms consent: %w", err)
		}
		if n, _ := r.RowsAffected(); n > 0 {
			return "true", nil
		}
	}
	return "", nil
}

// addressLockNS is the namespace of the PostgreSQL advisory locks taken
// by lockAddress ("cons").
const addressLockNS = 0x636f6e73

// lockAddress serialises, until tx ends, the transactions that read the
// consent ledger of address key key and then act on it: a STOP is
// confirmed only when the number was not opted out already, and an
// automatic answer goes at most once an hour per number. Without it, on
// PostgreSQL, texts from one number handled at once (a patient sending
// STOP three times in a row) each saw the ledger without the others' rows
// and each was confirmed. SQLite has a single writer and needs nothing.
func lockAddress(ctx context.Context, tx *db.Tx, key string) error {
	if tx.Dialect != db.Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(addressLockNS), key); err != nil {
		return fmt.Errorf("lock address: %w", err)
	}
	return nil
}

// lastOwnConsent returns the newest ledger row of an address key that the
// address made itself (a keyword it texted, its provider's report),
// whatever org it was recorded for (zero when there is none).
func lastOwnConsent(ctx context.Context, q db.Querier, channel, key string) (ConsentEntry, error) {
	var e ConsentEntry
	err := q.QueryRowContext(ctx, `SELECT id, action, source FROM consent_ledger
		WHERE channel = $1 AND address_key = $2 AND source <> $3
		ORDER BY id DESC LIMIT 1`, channel, key, ConsentSourceAPI).Scan(&e.ID, &e.Action, &e.Source)
	if errors.Is(err, sql.ErrNoRows) {
		return ConsentEntry{}, nil
	}
	if err != nil {
		return ConsentEntry{}, fmt.Errorf("read consent ledger: %w", err)
	}
	return e, nil
}

// counts reports whether a ledger row of source recorded for rowOrg
// counts for orgID: one the address made itself, or one orgID recorded.
func counts(source, rowOrg, orgID string) bool {
	return source != ConsentSourceAPI || (rowOrg != "" && rowOrg == orgID)
}

// OptedOut reports whether address is opted out of channel for orgID:
// the rule the delivery job applies (ledgerRows.of).
func (s *Store) OptedOut(ctx context.Context, orgID, channel, address string) (bool, error) {
	key := AddressKey(consentAddress(channel, address))
	ledger, err := consentStates(ctx, s.db.SQL, s.db.Dialect, channel, map[string]bool{key: true})
	if err != nil {
		return false, err
	}
	return ledger.of(orgID, key) == ConsentOptOut, nil
}

// ListConsent returns the ledger rows recorded for a patient of orgID,
// newest first, with an id below before when it is above 0 (the next
// page), at most n (100 by default, PageMax+1 at most). The rows hold no
// address. The caller audits the read.
func (s *Store) ListConsent(ctx context.Context, orgID, patientID string, before int64, n int) ([]ConsentEntry, error) {
	if err := s.patientExists(ctx, orgID, patientID); err != nil {
		return nil, err
	}
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT id, member_id, channel, action, source, keyword, provider_message_id, actor, recorded_at
		FROM consent_ledger WHERE org_id = $1 AND patient_id = $2 AND id < $3 ORDER BY id DESC LIMIT $4`,
		orgID, patientID, before, limit(n, 100, PageMax+1))
	if err != nil {
		return nil, fmt.Errorf("list consent: %w", err)
	}
	defer rows.Close()
	var out []ConsentEntry
	for rows.Next() {
		e := ConsentEntry{OrgID: orgID, PatientID: patientID}
		var member sql.NullString
		if err := rows.Scan(&e.ID, &member, &e.Channel, &e.Action, &e.Source,
			&e.Keyword, &e.ProviderMessageID, &e.Actor, &e.RecordedAt); err != nil {
			return nil, fmt.Errorf("list consent: %w", err)
		}
		e.MemberID, e.RecordedAt = member.String, e.RecordedAt.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list consent: %w", err)
	}
	return out, nil
}
