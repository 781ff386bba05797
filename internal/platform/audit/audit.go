// Package audit keeps the audit trail of access to protected health
// information (HIPAA 45 CFR 164.312(b), audit controls), shared by both
// products.
//
// The trail is one append-only table, audit_log, whose records form a hash
// chain: each record stores the hash of the record before it (PrevHash) and
// its own Hash over its content and PrevHash (see ComputeHash). Changing,
// removing, reordering or swapping records therefore breaks the chain, and
// Log.Verify reports the first record where it breaks.
//
// Records are numbered by Seq, assigned by the appender as the previous
// record's Seq plus one, so the chain order is explicit and a gap means a
// deleted record. A one-row table, audit_head, holds the Seq and Hash of the
// last record: an append reads it in O(1), and Verify compares the end of
// the chain with it to detect records removed from the tail.
//
// Appends are serialized so that two appenders never fork the chain. On
// PostgreSQL, Append locks the audit_head row (SELECT … FOR UPDATE) inside
// the caller's transaction; the lock is held until that transaction ends.
// On SQLite, db.Open gives a single connection whose transactions begin
// IMMEDIATE, which already serializes writers. In both cases the primary key
// on seq rejects a second record with the same number.
//
// Database triggers installed by the migrations refuse UPDATE, DELETE and
// TRUNCATE on audit_log, an insert that would replace a record (SQLite's
// REPLACE, which fires no DELETE trigger), and any change to audit_head
// other than advancing it by one record. They guard against mistakes; the hash chain is what
// detects someone who drops the guards first. Someone able to rewrite the
// whole chain from a point onwards, head included, is only caught by
// comparing Head with a copy kept elsewhere (an external checkpoint).
//
// A record never holds PHI: callers pass identifiers (actor, resource,
// patient ids) and codes only. Detail is a short free-text note for
// non-PHI context such as "export:csv" or "reason:emergency-access"; never
// put names, dates of birth, contact details or clinical content in it.
package audit

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

//go:embed migrations
var migrationFiles embed.FS

// Migrations creates the audit_log and audit_head tables. It keeps its own
// goose version table, so the audit schema is versioned independently of
// the product that embeds it. Its Repair brings databases made by an
// earlier text of 00001 up to date (repair.go).
var Migrations = func() migrate.Set {
	s := migrate.Embedded(migrationFiles, "migrations", "audit_goose_version")
	s.Repair = repairHeadGuard
	return s
}()

// Actions, as in the FHIR AuditEvent.action code system.
const (
	ActionCreate  = "C"
	ActionRead    = "R"
	ActionUpdate  = "U"
	ActionDelete  = "D"
	ActionExecute = "E"
)

// Outcomes, as in the FHIR AuditEvent.outcome code system.
const (
	OutcomeSuccess        = 0
	OutcomeMinorFailure   = 4
	OutcomeSeriousFailure = 8
	OutcomeMajorFailure   = 12
)

// GenesisHash is the PrevHash of the first record of the chain.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// MaxDetailLen is the longest Detail, in bytes, that Append accepts.
const MaxDetailLen = 256

// Record is one entry of the audit trail. Every field is an identifier or a
// code, never PHI.
type Record struct {
	// ID identifies the record; Append assigns one when it is empty.
	ID string
	// Seq is the record's position in the chain, assigned by Append.
	Seq int64
	// At is when the access happened, in UTC with microsecond precision.
	// Append uses the log's clock when it is zero.
	At time.Time

	OrgID        string
	ActorID      string
	ActorRole    string
	Action       string // one of the Action constants
	ResourceType string // FHIR-style resource name, such as "Patient"
	ResourceID   string
	PatientID    string // the patient whose data was touched; empty if none
	RequestID    string
	ClientAddr   string
	Detail       string // short non-PHI note, at most MaxDetailLen bytes
	Outcome      int    // one of the Outcome constants

	// PrevHash is the Hash of the previous record (GenesisHash for the
	// first); Hash is ComputeHash of this record. Append sets both.
	PrevHash string
	Hash     string
}

// Log appends to, lists and verifies the audit trail in one database.
type Log struct {
	db    *db.DB
	now   func() time.Time
	newID func() string
	group *groupCommit // nil unless StartGroupCommit was called
}

// New returns a Log on d. now is the clock that stamps records; newID makes
// record ids. Nil means time.Now and random UUIDs respectively.
func New(d *db.DB, now func() time.Time, newID func() string) *Log {
	if now == nil {
		now = time.Now
	}
	if newID == nil {
		newID = uuid.NewString
	}
	return &Log{db: d, now: now, newID: newID}
}

// Append adds rec to the end of the chain inside the caller's transaction,
// so the record commits or rolls back together with the change it records,
// and returns the record as stored (ID, Seq, At, PrevHash and Hash set).
//
// On PostgreSQL, Append locks the chain head until tx ends, which
// serializes every transaction that appends: call it as the last statement
// of the transaction, after the change it records, to keep that lock short
// and to avoid lock-order deadlocks with the rows the transaction changes.
// A REPEATABLE READ or SERIALIZABLE transaction may fail with a
// serialization error when another append committed first; retry it.
func (l *Log) Append(ctx context.Context, tx *db.Tx, rec Record) (Record, error) {
	out, err := l.appendBatch(ctx, tx, []Record{rec})
	if err != nil {
		return Record{}, err
	}
	return out[0], nil
}

// AppendBatch appends recs, in order, inside the caller's transaction, with
// the same rules as Append; the cost is a few statements however many
// records there are.
func (l *Log) AppendBatch(ctx context.Context, tx *db.Tx, recs []Record) ([]Record, error) {
	return l.appendBatch(ctx, tx, recs)
}

// insertChunk bounds the rows of one multi-row INSERT: 16 parameters a row
// stays far below both engines' parameter limits.
const insertChunk = 500

// appendBatch appends recs, in order, with one read of the chain head,
// multi-row INSERTs and one head update, however many records there are:
// the cost of a batch is two round trips, not three per record.
func (l *Log) appendBatch(ctx context.Context, tx *db.Tx, recs []Record) ([]Record, error) {
	if tx == nil {
		return nil, errors.New("append audit record: no transaction")
	}
	if len(recs) == 0 {
		return nil, nil
	}
	// Refused before the chain head is locked (AppendStatements checks
	// again, for its other callers).
	for _, rec := range recs {
		if err := validate(rec); err != nil {
			return nil, err
		}
	}
	read, head := ReadHead(tx.Dialect)
	if _, err := tx.ExecAll(ctx, []db.Statement{read}); err != nil {
		return nil, fmt.Errorf("append audit record: read chain head: %w", err)
	}
	out, stmts, err := l.AppendStatements(tx.Dialect, *head, recs)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecAll(ctx, stmts); err != nil {
		return nil, fmt.Errorf("append audit records %d-%d: %w", out[0].Seq, out[len(out)-1].Seq, err)
	}
	return out, nil
}

// ReadHead returns the query that reads the chain head into *Head, for a
// caller that sends it with other statements (db.Tx.ExecAll) to save a
// round trip; AppendStatements then appends after that head. The same
// rules as Append's hold: on PostgreSQL the query locks the head until the
// transaction ends, so send it after the statements that lock the rows
// the transaction changes, and call nothing else that appends before the
// transaction ends.
func ReadHead(d db.Dialect) (db.Statement, *Head) {
	q := `SELECT seq, hash FROM audit_head WHERE id = 1`
	if d == db.Postgres {
		q += ` FOR UPDATE`
	}
	// (SQLite: the IMMEDIATE transaction already holds the write lock.)
	h := &Head{}
	return db.Statement{SQL: q, Scan: func(rows db.Rows) error {
		if !rows.Next() {
			return errors.New("audit_head has no row")
		}
		return rows.Scan(&h.Seq, &h.Hash)
	}}, h
}

// AppendStatements returns recs as they will be stored after head (ID,
// Seq, At, PrevHash and Hash set) and the statements that store them and
// advance the head, for the caller's transaction, in which head was read
// with ReadHead. The INSERTs and the head update are meant to go in one
// round trip (db.Tx.ExecAll): on PostgreSQL the head row stays locked
// until commit, so every round trip delays every other appender.
func (l *Log) AppendStatements(d db.Dialect, head Head, recs []Record) ([]Record, []db.Statement, error) {
	if len(recs) == 0 {
		return nil, nil, nil
	}
	out := make([]Record, len(recs))
	for i, rec := range recs {
		if err := validate(rec); err != nil {
			return nil, nil, err
		}
		if rec.ID == "" {
			rec.ID = l.newID()
		}
		if rec.At.IsZero() {
			rec.At = l.now()
		}
		rec.At = db.UTC(rec.At)
		out[i] = rec
	}
	headHash := head.Hash
	for i := range out {
		out[i].Seq = head.Seq + 1 + int64(i)
		out[i].PrevHash = headHash
		out[i].Hash = ComputeHash(out[i])
		headHash = out[i].Hash
	}

	var stmts []db.Statement
	if d == db.Postgres {
		stmts = append(stmts, insertPostgres(out))
	} else {
		// Multi-row INSERT OR FAIL: a failing row fails the whole
		// transaction anyway, and without ABORT's statement rollback
		// SQLite keeps no statement journal (a copy of every page the
		// statement changes) for them.
		for start := 0; start < len(out); start += insertChunk {
			chunk := out[start:min(start+insertChunk, len(out))]
			var q strings.Builder
			q.WriteString(`INSERT OR FAIL INTO audit_log (seq, id, at, org_id, actor_id, actor_role, action,
				resource_type, resource_id, patient_id, outcome, request_id,
				client_addr, detail, prev_hash, hash) VALUES `)
			args := make([]any, 0, 16*len(chunk))
			for i, rec := range chunk {
				if i > 0 {
					q.WriteString(", ")
				}
				q.WriteString(db.Placeholders(d, len(args)+1, 16))
				args = append(args, rec.Seq, rec.ID, rec.At, rec.OrgID, rec.ActorID, rec.ActorRole, rec.Action,
					rec.ResourceType, rec.ResourceID, nullable(rec.PatientID), rec.Outcome, rec.RequestID,
					rec.ClientAddr, rec.Detail, rec.PrevHash, rec.Hash)
			}
			stmts = append(stmts, db.Statement{SQL: q.String(), Args: args})
		}
	}
	last := out[len(out)-1]
	stmts = append(stmts, db.Statement{SQL: `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, Args: []any{last.Seq, last.Hash}})
	return out, stmts, nil
}

// insertPostgres inserts recs with one statement of fixed text, the
// columns as parallel arrays expanded by unnest: prepared once per
// connection, where a multi-row VALUES list of each new length was parsed,
// planned and prepared (one more round trip, with the head locked) anew.
func insertPostgres(recs []Record) db.Statement {
	n := len(recs)
	seqs, outcomes := make([]int64, n), make([]int16, n)
	ats := make([]time.Time, n)
	patients := make([]*string, n)
	cols := make([][]string, 12)
	for k := range cols {
		cols[k] = make([]string, n)
	}
	for i, r := range recs {
		seqs[i], ats[i], outcomes[i] = r.Seq, r.At, int16(r.Outcome)
		if r.PatientID != "" {
			patients[i] = &recs[i].PatientID
		}
		for k, v := range []string{r.ID, r.OrgID, r.ActorID, r.ActorRole, r.Action, r.ResourceType, r.ResourceID,
			r.RequestID, r.ClientAddr, r.Detail, r.PrevHash, r.Hash} {
			cols[k][i] = v
		}
	}
	return db.Statement{SQL: `INSERT INTO audit_log (seq, id, at, org_id, actor_id, actor_role, action,
			resource_type, resource_id, patient_id, outcome, request_id, client_addr, detail, prev_hash, hash)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::text[], $9::text[], $10::text[], $11::smallint[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[])`,
		Args: []any{seqs, cols[0], ats, cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], patients, outcomes,
			cols[7], cols[8], cols[9], cols[10], cols[11]}}
}

// AppendNow appends rec in a transaction of its own. Use it for accesses
// that change nothing else, such as reads of PHI.
func (l *Log) AppendNow(ctx context.Context, rec Record) (Record, error) {
	if l.group != nil {
		out, err := l.group.append(ctx, []Record{rec})
		if err != nil {
			return Record{}, err
		}
		return out[0], nil
	}
	var out Record
	err := l.db.InTx(ctx, func(tx *db.Tx) error {
		var err error
		out, err = l.Append(ctx, tx, rec)
		return err
	})
	if err != nil {
		return Record{}, err
	}
	return out, nil
}

// AppendAll appends several records in one transaction (one commit, one
// fsync), for requests that read many patients at once.
func (l *Log) AppendAll(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	if l.group != nil {
		_, err := l.group.append(ctx, recs)
		return err
	}
	return l.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := l.appendBatch(ctx, tx, recs)
		return err
	})
}

func validate(rec Record) error {
	switch {
	case rec.OrgID == "":
		return errs.Invalid("orgId", "is required")
	case rec.ActorID == "":
		return errs.Invalid("actorId", "is required")
	case rec.ResourceType == "":
		return errs.Invalid("resourceType", "is required")
	case len(rec.Detail) > MaxDetailLen:
		return errs.Invalid("detail", "is longer than %d bytes", MaxDetailLen)
	}
	switch rec.Action {
	case ActionCreate, ActionRead, ActionUpdate, ActionDelete, ActionExecute:
	default:
		return errs.Invalid("action", "must be one of C, R, U, D, E")
	}
	switch rec.Outcome {
	case OutcomeSuccess, OutcomeMinorFailure, OutcomeSeriousFailure, OutcomeMajorFailure:
	default:
		return errs.Invalid("outcome", "must be one of 0, 4, 8, 12")
	}
	for _, s := range []string{rec.ID, rec.OrgID, rec.ActorID, rec.ActorRole, rec.ResourceType,
		rec.ResourceID, rec.PatientID, rec.RequestID, rec.ClientAddr, rec.Detail} {
		// PostgreSQL text cannot hold NUL, and invalid UTF-8 would not read
		// back byte for byte: either would make the hash unverifiable.
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return errs.Invalid("", "audit record fields must be valid UTF-8 without NUL bytes")
		}
	}
	return nil
}

// Head is the end of the chain: the Seq and Hash of the last record, or 0
// and GenesisHash when the trail is empty.
type Head struct {
	Seq  int64
	Hash string
}

// Head returns the current end of the chain. Storing it outside the
// database (an external checkpoint) lets a later check prove that the chain
// up to that point was not rewritten.
func (l *Log) Head(ctx context.Context) (Head, error) {
	var h Head
	err := l.db.SQL.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&h.Seq, &h.Hash)
	if err != nil {
		return Head{}, fmt.Errorf("read audit chain head: %w", err)
	}
	return h, nil
}

// Filter selects records for List.
type Filter struct {
	// OrgID is required: a list never crosses organizations.
	OrgID string
	// PatientID and ActorID, when set, keep only records about that
	// patient or by that actor.
	PatientID string
	ActorID   string
	// From (inclusive) and To (exclusive), when not nil, bound At
	// exactly, to the nanosecond. Pointers: 0001-01-01T00:00:00Z, Go's
	// zero time, is a bound like any other (To at it lists nothing).
	From, To *time.Time
	// Limit caps the number of records: 100 when zero, at most 1000.
	Limit int
	// AfterSeq returns only records with a greater Seq. To page, pass the
	// Seq of the last record of the previous page.
	AfterSeq int64
}

// DefaultLimit and MaxLimit bound Filter.Limit.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// TrailResource is the resource type of the records of reads of the trail
// itself (FHIR's name for an audit record).
const TrailResource = "AuditEvent"

// List returns the records of one organization matching f, oldest first (in
// Seq order), so that AfterSeq pages forward through the trail.
func (l *Log) List(ctx context.Context, f Filter) ([]Record, error) {
	if err := f.normalize(); err != nil {
		return nil, err
	}
	return l.list(ctx, f, "")
}

// Page is List, also saying whether more records match after the page.
// Records of reader's own reads of the trail (R on TrailResource) do not
// count as more: each page a reader asks for is audited, and a walk one
// record a page would otherwise never end, each page finding the read of
// the one before. They are listed like any other record when a page
// reaches them.
func (l *Log) Page(ctx context.Context, f Filter, reader string) ([]Record, bool, error) {
	if err := f.normalize(); err != nil {
		return nil, false, err
	}
	limit := f.Limit
	f.Limit++
	recs, err := l.list(ctx, f, "")
	if err != nil || len(recs) <= limit {
		return recs, false, err
	}
	recs, extra := recs[:limit], recs[limit]
	if !isTrailReadBy(extra, reader) {
		return recs, true, nil
	}
	f.AfterSeq, f.Limit = recs[len(recs)-1].Seq, 1
	rest, err := l.list(ctx, f, reader)
	return recs, len(rest) > 0, err
}

func isTrailReadBy(r Record, reader string) bool {
	return r.ResourceType == TrailResource && r.Action == ActionRead && r.ActorID == reader
}

// normalize checks f and applies the default and maximum limits.
func (f *Filter) normalize() error {
	if f.OrgID == "" {
		return errs.Invalid("orgId", "is required")
	}
	switch {
	case f.Limit < 0:
		return errs.Invalid("limit", "must not be negative")
	case f.Limit == 0:
		f.Limit = DefaultLimit
	case f.Limit > MaxLimit:
		f.Limit = MaxLimit
	}
	if f.From != nil && f.To != nil && f.To.Before(*f.From) {
		return errs.Invalid("to", "is before from")
	}
	return nil
}

// list runs the query of f as given (normalized), leaving out the records
// of exceptReadsBy's reads of the trail when it is not empty.
func (l *Log) list(ctx context.Context, f Filter, exceptReadsBy string) ([]Record, error) {

	var where strings.Builder
	args := []any{f.OrgID}
	where.WriteString("org_id = $1")
	add := func(cond string, v any) {
		args = append(args, v)
		fmt.Fprintf(&where, " AND %s $%d", cond, len(args))
	}
	if f.PatientID != "" {
		add("patient_id =", f.PatientID)
	}
	if f.ActorID != "" {
		add("actor_id =", f.ActorID)
	}
	// Records keep microseconds (db.UTC); a bound between two is moved up
	// to the next one, which keeps the same records: at >= From is at >=
	// ceil(From), at < To is at < ceil(To). Truncating instead, as
	// storing does, let in a record just before From and left out one just
	// before To.
	// A bound in the last microsecond of the year 9999 rounds up into the
	// year 10000, past every instant stored (SQLite's text would compare
	// it as before them all): no record is at or after it.
	if f.From != nil {
		from := ceilMicrosecond(*f.From)
		if from.Year() > 9999 {
			return nil, nil
		}
		add("at >=", from)
	}
	if f.To != nil {
		if to := ceilMicrosecond(*f.To); to.Year() <= 9999 {
			add("at <", to)
		}
	}
	// Only records of the chain, 1 to the head: a row outside it was
	// inserted around Append (which Verify reports), and is no record of
	// anyone's access to be listed as one.
	add("seq >", max(f.AfterSeq, 0))
	if exceptReadsBy != "" {
		args = append(args, exceptReadsBy, TrailResource, ActionRead)
		fmt.Fprintf(&where, " AND NOT (actor_id = $%d AND resource_type = $%d AND action = $%d)", len(args)-2, len(args)-1, len(args))
	}
	where.WriteString(" AND seq <= (SELECT seq FROM audit_head WHERE id = 1)")
	args = append(args, f.Limit)
	query := fmt.Sprintf("SELECT %s FROM audit_log WHERE %s ORDER BY seq LIMIT $%d",
		columns, where.String(), len(args))

	rows, err := l.db.SQL.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit records: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("list audit records: %w", err)
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit records: %w", err)
	}
	return out, nil
}

// ceilMicrosecond is t in UTC rounded up to a whole microsecond, the
// precision of stored instants.
func ceilMicrosecond(t time.Time) time.Time {
	u := db.UTC(t)
	if u.Before(t) {
		u = u.Add(time.Microsecond)
	}
	return u
}

// columns lists audit_log's columns in the order scanRecord reads them.
const columns = `seq, id, at, org_id, actor_id, actor_role, action, resource_type,
	resource_id, patient_id, outcome, request_id, client_addr, detail, prev_hash, hash`

// scanRecord reads a row of columns, and of the extra columns after them
// into extra.
func scanRecord(rows *sql.Rows, extra ...any) (Record, error) {
	var r Record
	var patientID sql.NullString
	dest := []any{&r.Seq, &r.ID, &r.At, &r.OrgID, &r.ActorID, &r.ActorRole, &r.Action,
		&r.ResourceType, &r.ResourceID, &patientID, &r.Outcome, &r.RequestID, &r.ClientAddr,
		&r.Detail, &r.PrevHash, &r.Hash}
	err := rows.Scan(append(dest, extra...)...)
	if err != nil {
		return Record{}, fmt.Errorf("scan audit record: %w", err)
	}
	r.At = db.UTC(r.At)
	r.PatientID = patientID.String
	return r, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
