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

var checkpointName = regexp.MustCompile(`^` + regexp.QuoteMeta(CheckpointPrefix) + `([0-9]{20})\.json$`)

var hashHex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// WriteCheckpoint stores the current head in store, at now. written is
// false when the chain is empty or the head is checkpointed already (no
// record since the last checkpoint): the store keeps the first checkpoint
// of a Seq, never replaced.
func (l *Log) WriteCheckpoint(ctx context.Context, store blob.Store, now time.Time) (cp Checkpoint, written bool, err error) {
	h, err := l.Head(ctx)
	if err != nil {
		return Checkpoint{}, false, err
	}
	cp = Checkpoint{Seq: h.Seq, Hash: h.Hash, At: now.UTC()}
	if h.Seq == 0 {
		return cp, false, nil
	}
	data, err := json.Marshal(cp)
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("audit checkpoint: %w", err)
	}
	if err := store.Put(ctx, checkpointKey(h.Seq), data); err != nil {
		if errors.Is(err, blob.ErrExists) {
			return cp, false, nil
		}
		return Checkpoint{}, false, fmt.Errorf("audit checkpoint of record %d: %w", h.Seq, err)
	}
	return cp, true, nil
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
		m := checkpointName.FindStringSubmatch(k)
		if m == nil {
			return nil, fmt.Errorf("read audit checkpoints: %s in %s is not a checkpoint's name", k, store)
		}
		seq, _ := strconv.ParseInt(m[1], 10, 64)
		b, err := store.Get(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("read audit checkpoints: %w", err)
		}
		var cp Checkpoint
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cp); err != nil {
			return nil, fmt.Errorf("read audit checkpoints: %s in %s: %w", k, store, err)
		}
		if cp.Seq != seq || !hashHex.MatchString(cp.Hash) || cp.At.IsZero() {
			return nil, fmt.Errorf("read audit checkpoints: %s in %s does not hold the checkpoint of record %d", k, store, seq)
		}
		out = append(out, cp)
	}
	return out, nil
}

// VerifyAgainst verifies the chain as Verify does and, besides, that
// every checkpoint still holds: the record at a checkpoint's Seq must have
// the checkpoint's hash (KindCheckpointMismatch otherwise: the chain was
// rewritten from there or before, whatever it says of itself), and the
// chain must reach the last checkpoint (KindTruncated otherwise).
func (l *Log) VerifyAgainst(ctx context.Context, checkpoints []Checkpoint) (VerifyResult, error) {
	return l.verify(ctx, checkpoints)
}
