package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/medplatform/medplatform/internal/platform/blob"
)

// Restore records, in the blob store beside the checkpoints, that the
// database was restored to an earlier point of its chain (a backup, a
// point-in-time recovery) and that an operator checked it was the restore
// meant: the chain then ends before checkpoints taken earlier, or grows
// again with other records at their positions, which is what a deletion
// or a rewrite looks like too. The checkpoints taken before At of records
// after Seq belong to the chain the restore abandoned and are set aside;
// everything up to Seq must still hold, and Seq must still have Hash.
//
// A Restore is evidence, not an eraser: `adherence audit verify` names
// every restore and how many checkpoints it set aside, and the store
// keeps it, like the checkpoints, never replaced.
type Restore struct {
	Seq    int64     `json:"seq"`
	Hash   string    `json:"hash"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// RestorePrefix is where restores are kept in a blob store, one object
// per restore, named by its time so that names sort as they happened.
const RestorePrefix = "audit/restores/"

var restoreName = regexp.MustCompile(`^` + regexp.QuoteMeta(RestorePrefix) + `([0-9]{8}T[0-9]{6}\.[0-9]{9}Z)\.json$`)

const restoreStamp = "20060102T150405.000000000Z"

// maxRestoreReason bounds a restore's reason (one line).
const maxRestoreReason = 500

// supersededBy reports whether a restore set checkpoint cp aside: one
// acknowledged after cp was taken, to a head before cp's record.
func supersededBy(cp Checkpoint, restores []Restore) bool {
	for _, r := range restores {
		if cp.At.Before(r.At) && cp.Seq > r.Seq {
			return true
		}
	}
	return false
}

// ReadRestores returns the restores in store, in the order they were
// acknowledged; an object that is not one is an error naming it.
func ReadRestores(ctx context.Context, store blob.Store) ([]Restore, error) {
	keys, err := store.List(ctx, RestorePrefix)
	if err != nil {
		return nil, fmt.Errorf("read audit restores: %w", err)
	}
	var out []Restore
	for _, k := range keys {
		m := restoreName.FindStringSubmatch(k)
		if m == nil {
			return nil, fmt.Errorf("read audit restores: %s in %s is not a restore's name", k, store)
		}
		var r Restore
		if err := getJSON(ctx, store, k, &r); err != nil {
			return nil, fmt.Errorf("read audit restores: %w", err)
		}
		if r.Seq < 0 || !hashHex.MatchString(r.Hash) || r.At.UTC().Format(restoreStamp) != m[1] {
			return nil, fmt.Errorf("read audit restores: %s in %s does not hold the restore its name says", k, store)
		}
		out = append(out, r)
	}
	return out, nil
}

// ErrNothingToAcknowledge is AcknowledgeRestore's answer when the chain
// holds every checkpoint: no restore to an earlier point shows.
var ErrNothingToAcknowledge = errors.New("the chain holds every checkpoint: no restore to an earlier point shows, nothing to acknowledge")

// AcknowledgeRestore records in store, at now, that the database was
// restored to an earlier point of its chain (see Restore), with the
// operator's reason (one line). The restore's Seq is the last checkpoint
// the chain still holds before the first it does not (it ends before that
// checkpoint's record, or has another record there: restored, and grown
// again since): everything up to it stays vouched for, and the
// checkpoints after it taken until now are set aside. It refuses a chain
// that does not verify on its own once they are: an altered or deleted
// record is not explained by a restore.
func (l *Log) AcknowledgeRestore(ctx context.Context, store blob.Store, now time.Time, reason string) (Restore, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return Restore{}, errors.New("a reason is required: say which backup or point in time was restored, and why")
	case len(reason) > maxRestoreReason:
		return Restore{}, fmt.Errorf("the reason is over %d bytes", maxRestoreReason)
	case strings.ContainsFunc(reason, unicode.IsControl):
		return Restore{}, errors.New("the reason must be one line, without control characters")
	}
	cps, err := ReadCheckpoints(ctx, store)
	if err != nil {
		return Restore{}, err
	}
	restores, err := ReadRestores(ctx, store)
	if err != nil {
		return Restore{}, err
	}
	r := Restore{Seq: -1, Hash: GenesisHash, At: now.UTC(), Reason: reason}
	var last Checkpoint      // the last checkpoint held, in Seq order
	for _, cp := range cps { // by Seq
		if supersededBy(cp, restores) {
			continue
		}
		hash, err := l.hashAt(ctx, cp.Seq)
		if err != nil {
			return Restore{}, err
		}
		if hash != cp.Hash {
			r.Seq = last.Seq
			if last.Seq > 0 {
				r.Hash = last.Hash
			}
			break
		}
		last = cp
	}
	if r.Seq < 0 {
		return Restore{}, ErrNothingToAcknowledge
	}
	res, err := l.VerifyAgainst(ctx, cps, append(restores, r))
	if err != nil {
		return Restore{}, err
	}
	if !res.OK {
		return Restore{}, fmt.Errorf("a restore does not explain the chain: %s", res.Problem)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return Restore{}, fmt.Errorf("audit restore: %w", err)
	}
	if err := store.Put(ctx, RestorePrefix+r.At.Format(restoreStamp)+".json", data); err != nil {
		return Restore{}, fmt.Errorf("audit restore: %w", err)
	}
	return r, nil
}

// hashAt returns the hash of record seq, or "" when the chain has none.
func (l *Log) hashAt(ctx context.Context, seq int64) (string, error) {
	var hash string
	err := l.db.SQL.QueryRowContext(ctx, `SELECT hash FROM audit_log WHERE seq = $1`, seq).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read audit record %d: %w", seq, err)
	}
	return hash, nil
}

// restoresAsCheckpoints returns the restores' heads, which the chain must
// still hold as it holds a checkpoint's record.
func restoresAsCheckpoints(restores []Restore) []Checkpoint {
	out := make([]Checkpoint, 0, len(restores))
	for _, r := range restores {
		out = append(out, Checkpoint{Seq: r.Seq, Hash: r.Hash, At: r.At})
	}
	return out
}
