package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// Kinds of problem Verify reports, in VerifyResult.Kind.
const (
	// KindAltered: a record's content does not match its own hash.
	KindAltered = "altered"
	// KindDeleted: Seq jumps, so the records in between were deleted.
	KindDeleted = "deleted"
	// KindBrokenLink: a record's PrevHash is not the previous record's
	// hash, so a record before it was replaced, rewritten (hash included)
	// or moved.
	KindBrokenLink = "broken_link"
	// KindTruncated: the chain ends before the head says it does, so the
	// last records were deleted.
	KindTruncated = "truncated"
	// KindHeadMismatch: the last record's hash is not the one the head
	// recorded, so the last record was rewritten.
	KindHeadMismatch = "head_mismatch"
	// KindBeyondHead: records exist after the head, so they were inserted
	// without going through Append.
	KindBeyondHead = "beyond_head"
	// KindBeforeFirst: records exist with a Seq of 0 or less, before the
	// chain's first record, so they were inserted without going through
	// Append.
	KindBeforeFirst = "before_first"
	// KindCheckpointMismatch: a record is not the one a checkpoint kept
	// outside the database vouched for (VerifyAgainst), so the chain was
	// rewritten from there or before, head included.
	KindCheckpointMismatch = "checkpoint_mismatch"
)

// VerifyResult reports the outcome of Verify.
type VerifyResult struct {
	// OK is true when the whole chain verified.
	OK bool
	// Checked counts the records found intact before the first problem
	// (all of them when OK).
	Checked int64
	// FirstBadSeq and FirstBadID locate the first problem: the record that
	// fails, or for a deletion the first record after the gap. FirstBadID
	// is empty when the record does not exist (truncated tail).
	FirstBadSeq int64
	FirstBadID  string
	// Kind is one of the Kind constants; empty when OK.
	Kind string
	// Problem is a sentence describing the problem, starting with Kind. It
	// holds only sequence numbers and record ids, never PHI.
	Problem string
	// SetAside counts the checkpoints VerifyAgainst did not check, those
	// of a chain a restore abandoned (see Restore).
	SetAside int
	// Last is the latest checkpoint VerifyAgainst checked (the highest
	// Seq, then the latest At), set aside ones aside; zero when none.
	Last Checkpoint
}

// batchSize is how many records Verify reads per query. Reading in
// keyset batches keeps memory flat however long the chain is, and releases
// the connection between batches so that appends (on SQLite, which has a
// single connection) are not blocked for the whole walk.
var batchSize = 1000

// Verify walks the whole chain in Seq order and reports the first problem:
// an altered record, a gap in Seq, a PrevHash that does not link to the
// previous record, or a chain whose end does not match the head. An error
// means the check could not run, not that the chain is broken.
//
// Verify checks the chain up to the head as it was when Verify started;
// records appended meanwhile are left for the next run.
func (l *Log) Verify(ctx context.Context) (VerifyResult, error) {
	return l.verify(ctx, nil)
}

// verify walks the chain, checking the checkpoints (sorted by Seq) too.
func (l *Log) verify(ctx context.Context, checkpoints []Checkpoint) (VerifyResult, error) {
	// One statement, so the head and the highest seq come from one snapshot.
	var head Head
	var minSeq, maxSeq int64
	err := l.db.SQL.QueryRowContext(ctx, `
		SELECT h.seq, h.hash, COALESCE((SELECT min(seq) FROM audit_log), 1), COALESCE((SELECT max(seq) FROM audit_log), 0)
		FROM audit_head h WHERE h.id = 1`).Scan(&head.Seq, &head.Hash, &minSeq, &maxSeq)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("verify audit chain: read chain head: %w", err)
	}

	w := walker{prevHash: GenesisHash, checkpoints: map[int64][]Checkpoint{}}
	var last *Checkpoint
	for i, cp := range checkpoints {
		w.checkpoints[cp.Seq] = append(w.checkpoints[cp.Seq], cp)
		if last == nil || cp.Seq > last.Seq {
			last = &checkpoints[i]
		}
	}
	for {
		n, err := l.verifyBatch(ctx, &w, head.Seq)
		if err != nil {
			return VerifyResult{}, err
		}
		if w.bad != nil {
			return *w.bad, nil
		}
		if n < batchSize {
			break
		}
	}

	res := VerifyResult{Checked: w.checked}
	switch {
	case w.prevSeq < head.Seq:
		res.FirstBadSeq = w.prevSeq + 1
		res.Kind = KindTruncated
		res.Problem = fmt.Sprintf("truncated: records %d to %d are missing at the end of the chain (the head is at %d)",
			w.prevSeq+1, head.Seq, head.Seq)
	case w.prevHash != head.Hash:
		res.FirstBadSeq = w.prevSeq
		res.FirstBadID = w.prevID
		res.Kind = KindHeadMismatch
		res.Problem = fmt.Sprintf("head_mismatch: the hash of the last record %d is not the one the chain head recorded", w.prevSeq)
	case last != nil && last.Seq > w.prevSeq:
		res.FirstBadSeq = w.prevSeq + 1
		res.Kind = KindTruncated
		res.Problem = fmt.Sprintf("truncated: the checkpoint of %s vouched for record %d, and the chain ends at %d: records were deleted and the head rewritten",
			last.At.UTC().Format(time.RFC3339), last.Seq, w.prevSeq)
	case minSeq < 1:
		res.FirstBadSeq = minSeq
		res.Kind = KindBeforeFirst
		res.Problem = fmt.Sprintf("before_first: records from %d exist before the chain's first record 1", minSeq)
	case maxSeq > head.Seq:
		res.FirstBadSeq = head.Seq + 1
		res.Kind = KindBeyondHead
		res.Problem = fmt.Sprintf("beyond_head: records up to %d exist after the chain head at %d", maxSeq, head.Seq)
	default:
		res.OK = true
	}
	return res, nil
}

// walker carries the state of a chain walk from one batch to the next.
type walker struct {
	checked  int64
	prevSeq  int64
	prevID   string
	prevHash string
	bad      *VerifyResult
	// checkpoints by Seq: the hash each of those records must have.
	checkpoints map[int64][]Checkpoint
}

// verifyBatch checks up to batchSize records after w.prevSeq and at most
// maxSeq, stopping at the first problem (left in w.bad). It returns how
// many records it read.
func (l *Log) verifyBatch(ctx context.Context, w *walker, maxSeq int64) (int, error) {
	// On SQLite a time is text, compared as text by every time-range
	// read: its text is checked too (see walker.check).
	cols := columns + ", ''"
	if l.db.Dialect == db.SQLite {
		cols = columns + ", CAST(at AS TEXT)"
	}
	rows, err := l.db.SQL.QueryContext(ctx,
		`SELECT `+cols+` FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`,
		w.prevSeq, maxSeq, batchSize)
	if err != nil {
		return 0, fmt.Errorf("verify audit chain after record %d: %w", w.prevSeq, err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
		var atText string
		r, err := scanRecord(rows, &atText)
		if err != nil {
			return n, fmt.Errorf("verify audit chain after record %d: %w", w.prevSeq, err)
		}
		if w.bad = w.check(r, atText); w.bad != nil {
			return n, nil
		}
		w.checked++
		w.prevSeq, w.prevID, w.prevHash = r.Seq, r.ID, r.Hash
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("verify audit chain after record %d: %w", w.prevSeq, err)
	}
	return n, nil
}

// sqliteTime is how the SQLite driver writes a time, in UTC (db.UTC):
// the only text of an audit time Append stores there.
const sqliteTime = "2006-01-02 15:04:05.999999999-07:00"

// check returns the problem with r as the successor of the last good
// record, or nil. atText is r's time as SQLite stores it ("" on
// PostgreSQL): the same instant written another way ("…01:00:25-10:00"
// for "…11:00:25+00:00") hashes the same but sorts elsewhere as text, so
// that a time-range read of the trail would miss the record.
func (w *walker) check(r Record, atText string) *VerifyResult {
	bad := func(kind, format string, args ...any) *VerifyResult {
		return &VerifyResult{
			Checked:     w.checked,
			FirstBadSeq: r.Seq,
			FirstBadID:  r.ID,
			Kind:        kind,
			Problem:     kind + ": " + fmt.Sprintf(format, args...),
		}
	}
	if want := w.prevSeq + 1; r.Seq != want {
		return bad(KindDeleted, "records %d to %d are missing before record %d (id %s)",
			want, r.Seq-1, r.Seq, r.ID)
	}
	if ComputeHash(r) != r.Hash {
		return bad(KindAltered, "record %d (id %s) does not match its hash: its content was changed",
			r.Seq, r.ID)
	}
	if atText != "" && atText != r.At.UTC().Format(sqliteTime) {
		return bad(KindAltered, "record %d (id %s) has its time written in another form than the one the trail stores: it was changed outside the application, and reads of the trail by time would miss it",
			r.Seq, r.ID)
	}
	if r.PrevHash != w.prevHash {
		return bad(KindBrokenLink, "record %d (id %s) does not link to record %d: a record before it was replaced, rewritten or moved",
			r.Seq, r.ID, w.prevSeq)
	}
	for _, cp := range w.checkpoints[r.Seq] {
		if cp.Hash != r.Hash {
			return bad(KindCheckpointMismatch, "record %d (id %s) is not the record the checkpoint of %s vouched for: the chain was rewritten from there or before",
				r.Seq, r.ID, cp.At.UTC().Format(time.RFC3339))
		}
	}
	return nil
}
