// Package store keeps the adherence product's records in SQL: organizations
// and API keys, care-team members and their links to patients, patients,
// medication plans and pharmacy fills, and the dose instances materialised
// from each plan's FHIR Timing.
//
// The same code runs on SQLite (embedded default) and PostgreSQL
// (production). Statements are written once with $n placeholders where the
// dialects agree; where they differ the variants sit side by side, chosen by
// db.DB.Dialect.
//
// Every query is scoped by organization: a record of another org is simply
// not found (errs.NotFound), never a distinct error. Every change to a
// PHI-bearing record appends an audit record in the same transaction, so a
// change and its audit record commit or roll back together. Reads are
// audited by the caller (the HTTP layer), not here.
//
// Dose instances are generated from a plan's Timing, in the patient's time
// zone with the patient's anchor times, for a rolling horizon (Store.Horizon,
// 14 days by default). Generation only inserts, revives (excluded →
// scheduled) or deletes instances whose status is scheduled or excluded:
// an instance with an outcome (taken, missed, …) is history and never
// touched. ExtendHorizon is the periodic job that rolls the window forward.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

//go:embed migrations
var migrationFiles embed.FS

// Migrations creates the adherence tables (goose SQL files embedded from
// migrations/sqlite and migrations/postgres, and on PostgreSQL the Go
// migrations 12 and 14: online_migrations.go). Apply it after audit.Migrations.
var Migrations = func() migrate.Set {
	s := migrate.Embedded(migrationFiles, "migrations", "")
	s.PostgresGo = postgresGoMigrations
	s.Repair = repairEditedMigrations
	return s
}()

// Defaults of the Store's tunables.
const (
	// DefaultHorizon is how far ahead dose instances are materialised.
	DefaultHorizon = 14 * 24 * time.Hour
	// DefaultChunkSize is how many plans ExtendHorizon handles per
	// transaction. Measured on PostgreSQL (bench/dosegen, 3 doses a day for
	// 14 days): 1,000 plans (42,000 rows a statement) ran fastest; 2,000
	// took half as long again, the per-row foreign-key checks of a
	// statement getting slower as the statement grows.
	DefaultChunkSize = 1000
	// DefaultWorkers is how many chunks ExtendHorizon processes at once on
	// PostgreSQL. SQLite has a single writer and always uses one.
	DefaultWorkers = 2
)

// Store is the adherence product's SQL store.
type Store struct {
	db    *db.DB
	audit *audit.Log
	now   func() time.Time

	// Horizon is how far ahead of now dose instances are materialised
	// (DefaultHorizon when zero or negative).
	Horizon time.Duration
	// ChunkSize is how many plans ExtendHorizon handles per transaction
	// (DefaultChunkSize when zero or negative). Each chunk commits on its
	// own, so memory stays bounded and an interrupted run keeps its
	// progress.
	ChunkSize int
	// Workers is how many chunks ExtendHorizon processes concurrently on
	// PostgreSQL (DefaultWorkers when zero or negative).
	Workers int
	// Jobs enqueues River jobs (notification delivery, escalation steps)
	// inside store transactions; nil writes the rows without jobs.
	Jobs JobInserter
	// Events records the events of SMS dose replies: the group-commit
	// ingester of POST /v1/events (ingest.Ingester), so that they are
	// committed and counted in the ingestion metrics as the API's are; nil
	// records them with RecordEvents.
	Events EventSubmitter
	// OnEscalationsResolved, when set, is told after each commit that
	// resolved escalations outside the escalation jobs (a plan paused,
	// stopped or made as needed, a patient deactivated, a policy
	// deactivated), counted by reason and last level fired, for the
	// escalation metrics; the jobs report theirs in ConsumeResult.
	OnEscalationsResolved func(map[Resolution]int)

	// windowsMu guards planWindows: the matching windows last read for
	// each plan, with which RecordEvents reads a small group's candidate
	// instances before it has read the plans (see speculativeConds).
	windowsMu   sync.Mutex
	planWindows map[string]adherence.Windows
}

// EventSubmitter records events and returns their outcomes once they are
// committed (ingest.Ingester.Submit); received is when they arrived.
type EventSubmitter interface {
	Submit(ctx context.Context, items []EventInput, received time.Time) ([]EventOutcome, error)
}

// New returns a Store on d that records changes in a and reads the time
// from now (time.Now when nil).
func New(d *db.DB, a *audit.Log, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: d, audit: a, now: now, Horizon: DefaultHorizon, ChunkSize: DefaultChunkSize, Workers: DefaultWorkers}
}

func (s *Store) horizon() time.Duration {
	if s.Horizon <= 0 {
		return DefaultHorizon
	}
	return s.Horizon
}

// clock returns the current instant as stored: UTC, microseconds.
func (s *Store) clock() time.Time { return db.UTC(s.now()) }

// newID returns a new time-ordered (version 7) UUID.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

// isID reports whether id is a UUID in canonical lowercase form, the only
// form the store assigns. Anything else cannot name a record, so lookups
// answer not found without asking the database (PostgreSQL would reject it
// as a malformed uuid).
func isID(id string) bool {
	if len(id) != 36 {
		return false
	}
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id
}

// forUpdate is the row-locking suffix of a SELECT inside a transaction. On
// SQLite the IMMEDIATE transaction already holds the database write lock.
func forUpdate(d db.Dialect) string {
	if d == db.Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// record appends the audit record of a change made by a inside tx. It must be the
// last statement of the transaction (see audit.Log.Append).
func (s *Store) record(ctx context.Context, tx *db.Tx, a adherence.Actor, orgID, action, resourceType, resourceID, patientID string) error {
	_, err := s.audit.Append(ctx, tx, audit.Record{
		OrgID:        orgID,
		ActorID:      a.ID,
		ActorRole:    a.Role,
		Action:       action,
		ResourceType: resourceType,
		ResourceID:   resourceID,
		PatientID:    patientID,
		Outcome:      audit.OutcomeSuccess,
		RequestID:    a.RequestID,
		ClientAddr:   a.ClientAddr,
	})
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// nullTime converts an optional instant into a query argument.
// sameArgs reports whether two lists of statement arguments (from
// patientArgs or planArgs) store the same values: an update that would
// write what is stored changes nothing. Instants are compared with Equal;
// the other arguments are comparable values (strings, numbers, booleans,
// phi.String, nil).
func sameArgs(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		ta, okA := a[i].(time.Time)
		tb, okB := b[i].(time.Time)
		if okA && okB {
			if !ta.Equal(tb) {
				return false
			}
			continue
		}
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// changedDetail is the audit detail of an update: the names (never the
// values) of the fields whose values differ between cur and next (see
// sameArgs), names[i] naming value i, as "fields=a,b", or "fields=none".
// Without it the trail could not tell a consent withdrawal from a change
// of address, nor a pause from a resume (QA).
func changedDetail(names []string, cur, next []any) string {
	var changed []string
	for i := range cur {
		if i < len(next) && i < len(names) && !sameArgs(cur[i:i+1], next[i:i+1]) {
			changed = append(changed, names[i])
		}
	}
	if len(changed) == 0 {
		return "fields=none"
	}
	return "fields=" + strings.Join(changed, ",")
}

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return db.UTC(*t)
}

// optString, optInt and utcPtr are nullString, nullInt and nullTime for
// the typed arrays of unnest statements: nil is NULL.
func optString(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}

func optInt(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := db.UTC(*t)
	return &u
}

// timePtr converts a scanned nullable instant into an optional UTC time.
func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

// notFound maps sql.ErrNoRows to errs.NotFound(what) and wraps other
// errors with the operation.
func notFound(err error, op, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return errs.NotFound(what)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isForeignKeyViolation reports whether err is a foreign-key violation on
// either engine.
func isForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLSTATE 23503") || strings.Contains(msg, "FOREIGN KEY constraint failed")
}

// placeholders returns "($first, …, $first+n-1)".
func placeholders(first, n int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", first+i)
	}
	b.WriteByte(')')
	return b.String()
}

// limit clamps a requested page size to [1, max], def when unset.
// PageMax is the most records a list of the API answers in a page. The
// store reads up to PageMax+1 when asked: the API asks for one record
// more than its page to know whether another page follows.
const PageMax = 500

func limit(n, def, max int) int {
	switch {
	case n <= 0:
		return def
	case n > max:
		return max
	}
	return n
}

// AnalyzeStaleTables gives planner statistics to the tables that have grown
// to 1,000 rows without any, or whose statistics are out of date where
// autovacuum is off (see db.AnalyzeStale), and returns their names.
// PostgreSQL only.
func (s *Store) AnalyzeStaleTables(ctx context.Context) ([]string, error) {
	return s.db.AnalyzeStale(ctx, 1000, time.Minute)
}

// Dialect tells which engine the store writes to.
func (s *Store) Dialect() db.Dialect { return s.db.Dialect }

// ErrStaleVersion is the cause of the conflict UpdatePatient and
// UpdatePlan return when the stored version is not the one expected. A
// caller that chose no version (a PATCH without one) reads the record
// again and applies its change to it: the conflict is then about a
// version it never sent.
var ErrStaleVersion = errors.New("stale version")

func staleVersion(what string, stored, expected int) error {
	return &errs.Error{Code: errs.CodeConflict, Err: ErrStaleVersion, Field: "version",
		Message: fmt.Sprintf("%s was changed by someone else (version %d, expected %d)", what, stored, expected)}
}
