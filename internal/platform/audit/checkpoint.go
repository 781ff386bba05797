package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/medplatform/medplatform/internal/platform/blob"
)

// Checkpoint is the chain head at a moment, kept outside the database
// (WriteCheckpoint): someone able to rewrite the whole chain from a point
// on, head included, leaves a chain that verifies on its own, but not
// against a checkpoint taken before (VerifyAgainst).
type Checkpoint struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	At   time.Time `json:"at"`
}

// CheckpointPrefix is where checkpoints are kept in a blob store, one
// object per head, named by its zero-padded Seq so that names sort as the
// chain does.
const CheckpointPrefix = "audit/checkpoints/"

func checkpointKey(seq int64) string { return fmt.Sprintf("%s%020d.json", CheckpointPrefix, seq) }

// divergentKey is where the checkpoint of record seq with hash goes when
// checkpointKey(seq) holds one of a chain that a restore set aside (see
// Restore): objects are never replaced (a bucket with Object Lock), so
// the new chain's checkpoint of that record is named by its hash too.
func divergentKey(seq int64, hash string) string {
	return fmt.Sprintf("%s%020d-%s.json", CheckpointPrefix, seq, hash[:16])
}

var checkpointName = regexp.MustCompile(`^` + regexp.QuoteMeta(CheckpointPrefix) + `([0-9]{20})(?:-([0-9a-f]{16}))?\.json$`)

var hashHex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// WriteCheckpoint stores the current head in store, at now. written is
// false when the chain is empty or the head is checkpointed already (no
// record since the last checkpoint): the store keeps the first checkpoint
// of a Seq, never replaced.
//
// It refuses, before writing, a chain that no longer holds what the
// checkpoints vouched for: one that ends before a checkpoint's record, or
// whose head record has another hash than its checkpoint, unless a
// restore acknowledged after that checkpoint set it aside (see
// AcknowledgeRestore). The workers' hourly checkpoint then fails, and its
// alert fires, within the hour of a chain truncated, rewritten or
// restored to an earlier point without a word.
func (l *Log) WriteCheckpoint(ctx context.Context, store blob.Store, now time.Time) (cp Checkpoint, written bool, err error) {
	h, err := l.Head(ctx)
	if err != nil {
		return Checkpoint{}, false, err
	}
	cp = Checkpoint{Seq: h.Seq, Hash: h.Hash, At: now.UTC()}
	restores, err := ReadRestores(ctx, store)
	if err != nil {
		return Checkpoint{}, false, err
	}
	ahead, err := checkpointsAfter(ctx, store, h.Seq)
	if err != nil {
		return Checkpoint{}, false, err
	}
	for _, c := range ahead {
		if !supersededBy(c, restores) {
			return Checkpoint{}, false, fmt.Errorf("audit checkpoint: the checkpoint of %s in %s vouched for record %d, and the chain ends at %d: "+
				"records were deleted, or the database was restored to an earlier point (then, once the restore is checked to be the one meant, "+
				"record it with 'adherence audit restored --reason TEXT')", c.At.UTC().Format(time.RFC3339), store, c.Seq, h.Seq)
		}
	}
	if h.Seq == 0 {
		return cp, false, nil
	}
	data, err := json.Marshal(cp)
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("audit checkpoint: %w", err)
	}
	key := checkpointKey(h.Seq)
	err = store.Put(ctx, key, data)
	if errors.Is(err, blob.ErrExists) {
		prev, rerr := readCheckpoint(ctx, store, key)
		switch {
		case rerr != nil:
			return Checkpoint{}, false, rerr
		case prev.Hash == cp.Hash:
			return cp, false, nil
		case !supersededBy(prev, restores):
			return Checkpoint{}, false, fmt.Errorf("audit checkpoint: the checkpoint of %s in %s vouched for another record %d than the chain holds: "+
				"the chain was rewritten from there or before, or restored to an earlier point and grown again (then, once the restore is checked "+
				"to be the one meant, record it with 'adherence audit restored --reason TEXT')", prev.At.UTC().Format(time.RFC3339), store, h.Seq)
		}
		key = divergentKey(h.Seq, h.Hash)
		err = store.Put(ctx, key, data)
		if errors.Is(err, blob.ErrExists) {
			return cp, false, nil
		}
	}
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("audit checkpoint of record %d: %w", h.Seq, err)
	}
	return cp, true, nil
}

// checkpointsAfter returns the checkpoints in store of records after seq,
// read by their names first: usually none.
func checkpointsAfter(ctx context.Context, store blob.Store, seq int64) ([]Checkpoint, error) {
	keys, err := store.List(ctx, CheckpointPrefix)
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoints: %w", err)
	}
	var out []Checkpoint
	for _, k := range keys {
		m := checkpointName.FindStringSubmatch(k)
		if m == nil {
			return nil, fmt.Errorf("read audit checkpoints: %s in %s is not a checkpoint's name", k, store)
		}
		if n, _ := strconv.ParseInt(m[1], 10, 64); n <= seq {
			continue
		}
		cp, err := readCheckpoint(ctx, store, k)
		if err != nil {
			return nil, err
		}
		out = append(out, cp)
	}
	return out, nil
}

// ReadCheckpoints returns the checkpoints in store, by Seq. An object that
// is not a checkpoint, or whose content does not match its name, is an
// error naming it: a checkpoint store is not edited by hand.
func ReadCheckpoints(ctx context.Context, store blob.Store) ([]Checkpoint, error) {
	keys, err := store.List(ctx, CheckpointPrefix)
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoints: %w", err)
	}
	var out []Checkpoint
	for _, k := range keys {
		cp, err := readCheckpoint(ctx, store, k)
		if err != nil {
			return nil, err
		}
		out = append(out, cp)
	}
	return out, nil
}

// readCheckpoint reads the checkpoint under key, checking it against its
// name.
func readCheckpoint(ctx context.Context, store blob.Store, key string) (Checkpoint, error) {
	m := checkpointName.FindStringSubmatch(key)
	if m == nil {
		return Checkpoint{}, fmt.Errorf("read audit checkpoints: %s in %s is not a checkpoint's name", key, store)
	}
	seq, _ := strconv.ParseInt(m[1], 10, 64)
	var cp Checkpoint
	if err := getJSON(ctx, store, key, &cp); err != nil {
		return Checkpoint{}, fmt.Errorf("read audit checkpoints: %w", err)
	}
	if cp.Seq != seq || !hashHex.MatchString(cp.Hash) || cp.At.IsZero() || (m[2] != "" && cp.Hash[:16] != m[2]) {
		return Checkpoint{}, fmt.Errorf("read audit checkpoints: %s in %s does not hold the checkpoint of record %d", key, store, seq)
	}
	return cp, nil
}

// VerifyAgainst verifies the chain as Verify does and, besides, that
// every checkpoint still holds: the record at a checkpoint's Seq must have
// the checkpoint's hash (KindCheckpointMismatch otherwise: the chain was
// rewritten from there or before, whatever it says of itself), and the
// chain must reach the last checkpoint (KindTruncated otherwise).
//
// A checkpoint that a restore set aside (taken before the restore was
// acknowledged, of a record after the restored head: see Restore) is not
// checked, and is counted in VerifyResult.SetAside; the restore's own head
// is checked as a checkpoint is.
func (l *Log) VerifyAgainst(ctx context.Context, checkpoints []Checkpoint, restores []Restore) (VerifyResult, error) {
	var held []Checkpoint
	aside := 0
	for _, cp := range checkpoints {
		if supersededBy(cp, restores) {
			aside++
			continue
		}
		held = append(held, cp)
	}
	res, err := l.verify(ctx, append(held, restoresAsCheckpoints(restores)...))
	res.SetAside = aside
	for _, cp := range held {
		if cp.Seq > res.Last.Seq || (cp.Seq == res.Last.Seq && cp.At.After(res.Last.At)) {
			res.Last = cp
		}
	}
	return res, err
}

// getJSON reads the object under key into v, refusing fields v does not
// have: the store is written by this package only, never by hand.
func getJSON(ctx context.Context, store blob.Store, key string, v any) error {
	b, err := store.Get(ctx, key)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s in %s: %w", key, store, err)
	}
	return nil
}
