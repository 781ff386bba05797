package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/platform/db"
)

// Outbox topics.
const (
	// TopicDoseMissed announces that a dose instance was marked missed.
	TopicDoseMissed = "dose.missed"
	// TopicDoseResolved announces that a missed dose was reported taken
	// after all (a late sync), so escalations about it can stop.
	TopicDoseResolved = "dose.resolved"
)

// OutboxRecord is one announcement in the transactional outbox.
type OutboxRecord struct {
	ID          int64
	OrgID       string
	Topic       string
	DedupeKey   string
	PatientID   string
	Payload     json.RawMessage
	CreatedAt   time.Time
	ProcessedAt *time.Time
}

// DosePayload is the payload of the dose.* topics: ids and times only.
type DosePayload struct {
	DoseInstanceID int64      `json:"doseInstanceId"`
	PlanID         string     `json:"planId"`
	PatientID      string     `json:"patientId"`
	DueAt          time.Time  `json:"dueAt"`
	Status         string     `json:"status"`
	EventID        string     `json:"eventId,omitempty"`
	TakenAt        *time.Time `json:"takenAt,omitempty"`
}

type outboxRecord struct {
	orgID, topic, key, patientID string
	payload                      any
	at                           time.Time
}

func resolvedRecord(e *adherence.Event, c *liveInstance, now time.Time) outboxRecord {
	p := DosePayload{DoseInstanceID: c.ID, PlanID: e.PlanID, PatientID: e.PatientID, DueAt: c.DueAt,
		Status: string(e.DoseStatus), EventID: e.ID}
	if e.DoseStatus != adherence.DoseSkipped {
		p.TakenAt = &e.OccurredAt
	}
	return outboxRecord{orgID: e.OrgID, topic: TopicDoseResolved, key: fmt.Sprint(c.ID), patientID: e.PatientID, at: now, payload: p}
}

// insertOutbox writes recs. A record's key is its dose's id, and a dose
// can be announced again: missed, recorded late (dose.resolved), then
// opened again when an earlier taking took its recording over (see
// unscore) and missed again. Kept once per dose, the second miss was
// announced to no one and nobody was paged about it (QA). So the record
// already holding the key gives it up first, taking <key>:<its id>
// instead (its history stays), and the new one takes it: the record
// keyed by a dose's id is always its latest, which is what
// takenInMisses reads. Each announcement follows a change of the dose's
// status in the same transaction, which the row's lock makes once.
func insertOutbox(ctx context.Context, tx *db.Tx, recs []outboxRecord) error {
	stmts, err := outboxStatements(recs)
	if err != nil {
		return err
	}
	if _, err := tx.ExecAll(ctx, stmts); err != nil {
		return fmt.Errorf("outbox: insert: %w", err)
	}
	return nil
}

// outboxStatements returns the INSERTs of insertOutbox, for a caller that
// sends them with its other writes (db.Tx.ExecAll).
func outboxStatements(recs []outboxRecord) ([]db.Statement, error) {
	stmts := make([]db.Statement, 0, 2*len(recs))
	for _, r := range recs {
		// One statement of one text per record, so that SQLite's
		// statement cache holds it (a list of keys of every length was
		// prepared anew each time).
		stmts = append(stmts, db.Statement{SQL: `UPDATE outbox SET dedupe_key = dedupe_key || ':' || CAST(id AS TEXT)
			WHERE topic = $1 AND dedupe_key = $2`, Args: []any{r.topic, r.key}})
	}
	for _, r := range recs {
		payload, err := json.Marshal(r.payload)
		if err != nil {
			return nil, fmt.Errorf("outbox: encode payload: %w", err)
		}
		stmts = append(stmts, db.Statement{SQL: `INSERT INTO outbox (org_id, topic, dedupe_key, patient_id, payload, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (topic, dedupe_key) DO NOTHING`,
			Args: []any{r.orgID, r.topic, r.key, r.patientID, string(payload), db.UTC(r.at)}})
	}
	return stmts, nil
}

// OutboxFilter selects outbox records for ListOutbox.
type OutboxFilter struct {
	Topic string
	// After returns records with a larger id (keyset pagination): no
	// record with a smaller id appears after one was listed.
	After int64
	// PendingOnly keeps records no consumer has processed.
	PendingOnly bool
	// Limit: 100 when zero, at most 1000.
	Limit int
}

// ListOutbox returns outbox records of orgID in id order. On PostgreSQL
// the newest records appear once every transaction older than theirs has
// finished, so paging with After never skips a record committed late.
func (s *Store) ListOutbox(ctx context.Context, orgID string, f OutboxFilter) ([]OutboxRecord, error) {
	if !isID(orgID) {
		return nil, nil
	}
	args := []any{orgID, f.After}
	where := `org_id = $1 AND id > $2`
	if f.Topic != "" {
		args = append(args, f.Topic)
		where += fmt.Sprintf(` AND topic = $%d`, len(args))
	}
	if f.PendingOnly {
		where += ` AND processed_at IS NULL`
	}
	if s.db.Dialect == db.Postgres {
		// Ids are taken at INSERT, records appear at COMMIT: a transaction
		// holding a lower id may still commit. List only records whose
		// transaction is older than every one still in progress, so a
		// reader paging with After never passes a record by. SQLite's
		// single writer commits in id order.
		where += ` AND created_xid < pg_snapshot_xmin(pg_current_snapshot())`
	}
	args = append(args, limit(f.Limit, 100, 1000))
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT id, org_id, topic, dedupe_key, COALESCE(CAST(patient_id AS TEXT), ''), payload, created_at, processed_at
		FROM outbox WHERE `+where+fmt.Sprintf(` ORDER BY id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxRecord
	for rows.Next() {
		var r OutboxRecord
		var payload string
		var processed sql.NullTime
		if err := rows.Scan(&r.ID, &r.OrgID, &r.Topic, &r.DedupeKey, &r.PatientID, &payload, &r.CreatedAt, &processed); err != nil {
			return nil, fmt.Errorf("list outbox: %w", err)
		}
		r.Payload, r.CreatedAt, r.ProcessedAt = json.RawMessage(payload), r.CreatedAt.UTC(), timePtr(processed)
		out = append(out, r)
	}
	return out, rows.Err()
}

// MissedResult reports a MarkMissed run.
type MissedResult struct {
	// Examined counts the open instances looked at: those whose window
	// has closed, or closes within a minute.
	Examined int
	Marked   int // instances marked missed
	// More is set when the run stopped at its budget (MarkMissedWithin)
	// with instances left to examine: the next run goes on.
	More bool
}

// missedChunk is how many open instances MarkMissed examines per
// transaction.
const missedChunk = 1000

// MarkMissed marks missed every scheduled instance whose window closed
// (due + lateMax < now) with no outcome, and writes one dose.missed
// outbox record per instance in the same transaction.
//
// It is safe to run concurrently: on PostgreSQL each chunk locks its rows
// with FOR UPDATE SKIP LOCKED and the UPDATE re-checks status = 'scheduled',
// so an instance is marked — and announced — exactly once; SQLite has a
// single writer. The open-instance index (dose_instances_open) keeps the
// scan to instances past their due time that have no outcome yet.
func (s *Store) MarkMissed(ctx context.Context, now time.Time) (MissedResult, error) {
	return s.MarkMissedWithin(ctx, now, 0)
}

// MarkMissedWithin is MarkMissed that stops once budget (when positive)
// has passed, at the end of the chunk it is in, setting More when
// instances are left: a periodic job's run then ends well within its
// Timeout, which can be short, and the next run goes on. See
// worker.PeriodicTimeout.
func (s *Store) MarkMissedWithin(ctx context.Context, now time.Time, budget time.Duration) (MissedResult, error) {
	now = db.UTC(now)
	var res MissedResult
	afterDue, afterID := time.Time{}, int64(0)
	start := time.Now()
	for {
		var c missedChunkResult
		err := s.db.InTx(ctx, func(tx *db.Tx) error {
			var err error
			c, err = markMissedChunk(ctx, tx, now, afterDue, afterID)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("mark missed doses: %w", err)
		}
		res.Examined += c.examined
		res.Marked += c.marked
		afterDue, afterID = c.lastDue, c.lastID
		if c.done {
			return res, nil
		}
		if budget > 0 && time.Since(start) >= budget {
			res.More = true
			return res, nil
		}
	}
}

type openInstance struct {
	id                     int64
	orgID, patientID, plan string
	dueAt                  time.Time
	lateMax                time.Duration
}

// missedChunkResult is what one chunk of MarkMissed did.
type missedChunkResult struct {
	examined, marked int
	done             bool
	lastDue          time.Time
	lastID           int64
}

// missedCandidate is the SQL condition that the window of dose d (its
// minutes in the expression window) has closed by $2, or closes within a
// minute of it: a superset of the doses to mark, which markMissedChunk
// narrows exactly in Go (the minute covers SQLite's julianday rounding).
// Without it every open dose past its due time was read — and locked, on
// PostgreSQL — at every run: at a 08:00 spike of 100,000 doses still in
// their windows, runs that marked nothing took 15 to 31 s and wrote a WAL
// record per row (QA).
func missedCandidate(dialect db.Dialect, window string) string {
	if dialect == db.Postgres {
		return `d.due_at + (` + window + ` - 1) * interval '1 minute' < $2`
	}
	return `julianday(d.due_at) + (` + window + ` - 1) / 1440.0 < julianday($2)`
}

func markMissedChunk(ctx context.Context, tx *db.Tx, now, afterDue time.Time, afterID int64) (missedChunkResult, error) {
	var r missedChunkResult
	lock, greatest := "", "MAX"
	if tx.Dialect == db.Postgres {
		lock, greatest = " FOR UPDATE OF d SKIP LOCKED", "GREATEST"
	}
	// The late window never closes before the on-time window, whichever
	// of plan and org set which bound (as in windowsOf).
	window := greatest + `(COALESCE(p.late_max_minutes, o.late_max_minutes, $1), COALESCE(p.on_time_minutes, o.on_time_minutes, $6))`
	rows, err := tx.QueryContext(ctx, `SELECT d.id, d.org_id, d.patient_id, d.plan_id, d.due_at,
			COALESCE(p.late_max_minutes, o.late_max_minutes, $1), COALESCE(p.on_time_minutes, o.on_time_minutes, $6)
		FROM dose_instances d
		JOIN plans p ON p.id = d.plan_id
		LEFT JOIN org_settings o ON o.org_id = d.org_id
		WHERE d.status = 'scheduled' AND d.due_at < $2 AND (d.due_at > $3 OR (d.due_at = $3 AND d.id > $4))
			AND `+missedCandidate(tx.Dialect, window)+`
		ORDER BY d.due_at, d.id LIMIT $5`+lock,
		int(adherence.DefaultWindows.LateMax/time.Minute), now, afterDue, afterID, missedChunk, int(adherence.DefaultWindows.OnTime/time.Minute))
	if err != nil {
		return r, err
	}
	var open []openInstance
	for rows.Next() {
		var o openInstance
		var lateMin, onTimeMin int
		if err := rows.Scan(&o.id, &o.orgID, &o.patientID, &o.plan, &o.dueAt, &lateMin, &onTimeMin); err != nil {
			rows.Close()
			return r, err
		}
		// As in windowsOf: the late window never closes before the on-time
		// window, whichever of plan and org set which bound.
		lateMin = max(lateMin, onTimeMin)
		o.dueAt, o.lateMax = o.dueAt.UTC(), time.Duration(lateMin)*time.Minute
		open = append(open, o)
	}
	if err := rows.Close(); err != nil {
		return r, err
	}
	if err := rows.Err(); err != nil {
		return r, err
	}
	if len(open) == 0 {
		r.done = true
		return r, nil
	}
	last := open[len(open)-1]
	r.examined, r.done, r.lastDue, r.lastID = len(open), len(open) < missedChunk, last.dueAt, last.id

	byID := map[int64]openInstance{}
	var ids []any
	for _, o := range open {
		// The window includes its close: a taking at due + lateMax is
		// taken late (adherence.Windows.Contains), so the dose is missed
		// only once that instant has passed.
		if now.After(o.dueAt.Add(o.lateMax)) {
			byID[o.id] = o
			ids = append(ids, o.id)
		}
	}
	if len(ids) == 0 {
		return r, nil
	}
	args := append([]any{now}, ids...)
	marked, err := tx.QueryContext(ctx, `UPDATE dose_instances SET status = 'missed', resolved_at = $1
		WHERE status = 'scheduled' AND id IN `+placeholders(2, len(ids))+` RETURNING id`, args...)
	if err != nil {
		return r, err
	}
	var recs []outboxRecord
	for marked.Next() {
		var id int64
		if err := marked.Scan(&id); err != nil {
			marked.Close()
			return r, err
		}
		o := byID[id]
		recs = append(recs, outboxRecord{
			orgID: o.orgID, topic: TopicDoseMissed, key: fmt.Sprint(id), patientID: o.patientID, at: now,
			payload: DosePayload{DoseInstanceID: id, PlanID: o.plan, PatientID: o.patientID, DueAt: o.dueAt, Status: string(adherence.DoseMissed)},
		})
	}
	if err := marked.Close(); err != nil {
		return r, err
	}
	if err := insertOutbox(ctx, tx, recs); err != nil {
		return r, err
	}
	r.marked = len(recs)
	return r, nil
}

// PruneResult reports a PruneOutbox run.
type PruneResult struct {
	Deleted int
	// More is set when the run stopped at its budget with records left
	// to look at: the next run goes on.
	More bool
}

// pruneChunk is how many outbox records PruneOutbox looks at per
// transaction.
const pruneChunk = 1000

// PruneOutbox deletes the outbox records processed before before, so
// that the table holds the last retention period's announcements and not
// every miss since the first (at 250,000 patients, tens of millions of
// records a year). It keeps a patient's dose.missed records that an
// unclosed escalation of theirs may have taken in: those processed since
// it opened, which takenInMisses reads to move it to another miss when its
// own dose is recorded late or its plan is put on hold.
//
// Records are looked at in id order, a chunk per transaction, up to the
// first created at or after before: ids follow creation, and a record is
// processed after it is created, so none past it qualifies and a run never
// reads the retention period's records. It stops once budget (when
// positive) has passed, setting More.
func (s *Store) PruneOutbox(ctx context.Context, before time.Time, budget time.Duration) (PruneResult, error) {
	before = db.UTC(before)
	var res PruneResult
	start := time.Now()
	after := int64(0)
	for {
		var done bool
		err := s.db.InTx(ctx, func(tx *db.Tx) error {
			var (
				ids []any
				err error
			)
			ids, after, done, err = pruneCandidates(ctx, tx, before, after)
			if err != nil || len(ids) == 0 {
				return err
			}
			r, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE id IN `+placeholders(1, len(ids)), ids...)
			if err != nil {
				return err
			}
			n, err := r.RowsAffected()
			res.Deleted += int(n)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("prune outbox: %w", err)
		}
		if done {
			return res, nil
		}
		if budget > 0 && time.Since(start) >= budget {
			res.More = true
			return res, nil
		}
	}
}

// pruneCandidates reads the next chunk of outbox records after id after
// and returns the ids to delete, the last id read, and whether the run is
// done: the chunk ended the table or reached a record created at or after
// before.
func pruneCandidates(ctx context.Context, tx *db.Tx, before time.Time, after int64) (ids []any, last int64, done bool, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT o.id,
			CASE WHEN o.created_at >= $1 THEN 1 ELSE 0 END,
			CASE WHEN o.processed_at < $1 AND NOT (o.topic = $2 AND EXISTS (
				SELECT 1 FROM escalations e
				WHERE e.org_id = o.org_id AND e.patient_id = o.patient_id
				  AND e.status IN ('open', 'exhausted') AND e.opened_at <= o.processed_at)) THEN 1 ELSE 0 END
		FROM outbox o WHERE o.id > $3 ORDER BY o.id LIMIT $4`, before, TopicDoseMissed, after, pruneChunk)
	if err != nil {
		return nil, after, false, err
	}
	defer rows.Close()
	n := 0
	last = after
	for rows.Next() {
		var id int64
		var young, prunable int
		if err := rows.Scan(&id, &young, &prunable); err != nil {
			return nil, after, false, err
		}
		n++
		if young == 1 {
			return ids, id, true, rows.Err()
		}
		last = id
		if prunable == 1 {
			ids = append(ids, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, after, false, err
	}
	return ids, last, n < pruneChunk, nil
}
