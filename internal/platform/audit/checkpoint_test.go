package audit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/blob"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// rewriteFrom rewrites the chain from record seq on as someone with full
// database rights could: each record changed, its hash recomputed and
// linked to the previous one, the head moved to the new last hash, the
// records after keep (the chain then verifies on its own). keep is the
// number of records left, from 1.
func rewriteFrom(t *testing.T, d *db.DB, recs []audit.Record, seq int64, keep int) {
	t.Helper()
	exec(t, d, "DELETE FROM audit_log WHERE seq > $1", keep)
	prev := recs[seq-2].Hash
	for i := seq - 1; i < int64(keep); i++ {
		r := recs[i]
		r.ActorID = "mallory"
		r.PrevHash = prev
		r.Hash = audit.ComputeHash(r)
		overwrite(t, d, r.Seq, r)
		prev = r.Hash
	}
	if d.Dialect == db.Postgres {
		exec(t, d, "ALTER TABLE audit_head DISABLE TRIGGER USER")
	} else {
		exec(t, d, "DROP TRIGGER IF EXISTS audit_head_advance_only")
	}
	exec(t, d, "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", keep, prev)
}

// TestCheckpointsCatchARewrittenChain: a chain rewritten from a record on,
// head included, verifies on its own; against the checkpoints written
// before, it does not.
func TestCheckpointsCatchARewrittenChain(t *testing.T) {
	tests := []struct {
		name    string
		from    int64 // first record rewritten
		keep    int   // records left
		kind    string
		badSeq  int64
		checked int64
	}{
		{name: "rewritten before the first checkpoint", from: 3, keep: 8, kind: audit.KindCheckpointMismatch, badSeq: 5, checked: 4},
		{name: "rewritten between the checkpoints", from: 6, keep: 8, kind: audit.KindCheckpointMismatch, badSeq: 8, checked: 7},
		{name: "truncated below the last checkpoint", from: 6, keep: 6, kind: audit.KindTruncated, badSeq: 7, checked: 6},
	}
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		dropGuards(t, d)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				resetChain(t, d)
				store, err := blob.OpenDir(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				l := audit.New(d, newClock().now, counterIDs())
				at := time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)
				if _, written, err := l.WriteCheckpoint(ctx, store, at); err != nil || written {
					t.Fatalf("checkpoint of an empty chain: written=%v, %v", written, err)
				}
				recs := appendN(t, l, 5)
				cp, written, err := l.WriteCheckpoint(ctx, store, at)
				if err != nil || !written || cp.Seq != 5 || cp.Hash != recs[4].Hash {
					t.Fatalf("first checkpoint = %+v written=%v, %v", cp, written, err)
				}
				if _, written, err := l.WriteCheckpoint(ctx, store, at.Add(time.Hour)); err != nil || written {
					t.Fatalf("checkpoint with no new record: written=%v, %v", written, err)
				}
				recs = append(recs, appendN(t, l, 3)...)
				for i := range recs {
					recs[i].Seq = int64(i + 1)
				}
				if _, written, err := l.WriteCheckpoint(ctx, store, at.Add(2*time.Hour)); err != nil || !written {
					t.Fatalf("second checkpoint: written=%v, %v", written, err)
				}
				cps, err := audit.ReadCheckpoints(ctx, store)
				if err != nil || len(cps) != 2 || cps[0].Seq != 5 || cps[1].Seq != 8 || !cps[0].At.Equal(at) {
					t.Fatalf("checkpoints = %+v, %v", cps, err)
				}
				if res, err := l.VerifyAgainst(ctx, cps, nil); err != nil || !res.OK || res.Checked != 8 {
					t.Fatalf("VerifyAgainst before tampering = %+v, %v", res, err)
				}

				rewriteFrom(t, d, recs, tt.from, tt.keep)
				if res, err := l.Verify(ctx); err != nil || !res.OK {
					t.Fatalf("the rewritten chain must verify on its own (that is the attack): %+v, %v", res, err)
				}
				res, err := l.VerifyAgainst(ctx, cps, nil)
				if err != nil {
					t.Fatal(err)
				}
				if res.OK || res.Kind != tt.kind || res.FirstBadSeq != tt.badSeq || res.Checked != tt.checked {
					t.Fatalf("VerifyAgainst = %+v, want %s at seq %d after %d checked", res, tt.kind, tt.badSeq, tt.checked)
				}
				if !strings.HasPrefix(res.Problem, tt.kind+": ") || !strings.Contains(res.Problem, "checkpoint of 2026-12-04T") {
					t.Fatalf("Problem %q does not name the kind and the checkpoint", res.Problem)
				}
			})
		}
	})
}

// TestReadCheckpointsRefusesForeignObjects: the store holds checkpoints
// only; anything else there is reported, not skipped.
func TestReadCheckpointsRefusesForeignObjects(t *testing.T) {
	ctx := context.Background()
	for name, obj := range map[string]struct{ key, data string }{
		"not a checkpoint name": {audit.CheckpointPrefix + "notes.txt", "x"},
		"seq not its name":      {audit.CheckpointPrefix + "00000000000000000007.json", `{"seq":8,"hash":"` + strings.Repeat("a", 64) + `","at":"2026-12-04T06:00:00Z"}`},
		"not JSON":              {audit.CheckpointPrefix + "00000000000000000007.json", `seq=7`},
		"unknown field":         {audit.CheckpointPrefix + "00000000000000000007.json", `{"seq":7,"hash":"` + strings.Repeat("a", 64) + `","at":"2026-12-04T06:00:00Z","x":1}`},
		"bad hash":              {audit.CheckpointPrefix + "00000000000000000007.json", `{"seq":7,"hash":"abc","at":"2026-12-04T06:00:00Z"}`},
	} {
		t.Run(name, func(t *testing.T) {
			store, err := blob.OpenDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Put(ctx, obj.key, []byte(obj.data)); err != nil {
				t.Fatal(err)
			}
			if cps, err := audit.ReadCheckpoints(ctx, store); err == nil || !strings.Contains(err.Error(), obj.key) {
				t.Fatalf("ReadCheckpoints = %+v, %v; want an error naming %s", cps, err, obj.key)
			}
		})
	}
}

// restoreTo puts the chain back as a restore of a backup taken at record
// keep would: the records after it gone, the head at it.
func restoreTo(t *testing.T, d *db.DB, recs []audit.Record, keep int) {
	t.Helper()
	exec(t, d, "DELETE FROM audit_log WHERE seq > $1", keep)
	if d.Dialect == db.Postgres {
		exec(t, d, "ALTER TABLE audit_head DISABLE TRIGGER USER")
	} else {
		exec(t, d, "DROP TRIGGER IF EXISTS audit_head_advance_only")
	}
	exec(t, d, "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", keep, recs[keep-1].Hash)
}

// TestRestoreSetsAsideTheAbandonedCheckpoints: a database restored to an
// earlier point ends before checkpoints taken since, then grows again with
// other records at their positions, which looks like a deletion. Until the
// restore is acknowledged, verify and the workers' checkpoint say so; once
// it is, the checkpoints of the abandoned chain are set aside (counted),
// the new chain is checkpointed (under a name of its own where the old
// chain's checkpoint holds the name) and verified, and every checkpoint up
// to the restore point must still hold.
func TestRestoreSetsAsideTheAbandonedCheckpoints(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		dropGuards(t, d)
		ctx := context.Background()
		resetChain(t, d)
		store, err := blob.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		l := audit.New(d, newClock().now, counterIDs())
		at := time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)
		recs := appendN(t, l, 5)
		if _, written, err := l.WriteCheckpoint(ctx, store, at); err != nil || !written {
			t.Fatalf("checkpoint of record 5: written=%v, %v", written, err)
		}
		recs = append(recs, appendN(t, l, 3)...)
		if _, written, err := l.WriteCheckpoint(ctx, store, at.Add(time.Hour)); err != nil || !written {
			t.Fatalf("checkpoint of record 8: written=%v, %v", written, err)
		}

		restoreTo(t, d, recs, 6) // a backup taken at record 6
		cps, err := audit.ReadCheckpoints(ctx, store)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := l.VerifyAgainst(ctx, cps, nil); err != nil || res.OK || res.Kind != audit.KindTruncated {
			t.Fatalf("VerifyAgainst after the restore = %+v, %v; want truncated", res, err)
		}
		if _, _, err := l.WriteCheckpoint(ctx, store, at.Add(2*time.Hour)); err == nil || !strings.Contains(err.Error(), "audit restored --reason") {
			t.Fatalf("WriteCheckpoint of a chain behind a checkpoint: %v; want an error saying how to acknowledge a restore", err)
		}
		if _, err := l.AcknowledgeRestore(ctx, store, at.Add(2*time.Hour), " "); err == nil {
			t.Fatal("a restore acknowledged without a reason")
		}
		r, err := l.AcknowledgeRestore(ctx, store, at.Add(2*time.Hour), "backup of 06:30 restored after a bad migration")
		if err != nil || r.Seq != 5 || r.Hash != recs[4].Hash {
			t.Fatalf("AcknowledgeRestore = %+v, %v; want the restore kept at the checkpoint of record 5", r, err)
		}
		restores, err := audit.ReadRestores(ctx, store)
		if err != nil || len(restores) != 1 || restores[0].Reason != r.Reason || !restores[0].At.Equal(r.At) {
			t.Fatalf("ReadRestores = %+v, %v", restores, err)
		}
		if res, err := l.VerifyAgainst(ctx, cps, restores); err != nil || !res.OK || res.SetAside != 1 || res.Checked != 6 || res.Last.Seq != 5 {
			t.Fatalf("VerifyAgainst with the restore = %+v, %v; want intact, 6 checked, 1 checkpoint set aside, the last checked of record 5", res, err)
		}
		if _, err := l.AcknowledgeRestore(ctx, store, at.Add(3*time.Hour), "again"); !errors.Is(err, audit.ErrNothingToAcknowledge) {
			t.Fatalf("a second acknowledgment: %v, want ErrNothingToAcknowledge", err)
		}

		// The chain grows again: its record 8 is not the old one, whose
		// checkpoint keeps its name; the new one is written beside it.
		newer := appendN(t, l, 2)
		cp, written, err := l.WriteCheckpoint(ctx, store, at.Add(4*time.Hour))
		if err != nil || !written || cp.Seq != 8 || cp.Hash == recs[7].Hash {
			t.Fatalf("checkpoint of the new record 8 = %+v written=%v, %v", cp, written, err)
		}
		if _, written, err := l.WriteCheckpoint(ctx, store, at.Add(5*time.Hour)); err != nil || written {
			t.Fatalf("checkpoint again with no new record: written=%v, %v", written, err)
		}
		if cps, err = audit.ReadCheckpoints(ctx, store); err != nil || len(cps) != 3 {
			t.Fatalf("checkpoints = %+v, %v; want 3", cps, err)
		}
		if res, err := l.VerifyAgainst(ctx, cps, restores); err != nil || !res.OK || res.SetAside != 1 || res.Checked != 8 || res.Last != cp {
			t.Fatalf("VerifyAgainst of the grown chain = %+v, %v; want the last checked the new record 8's, %+v", res, err, cp)
		}

		// A rewrite of a record the restore kept is still caught, restore
		// or not: the restore vouches for the chain up to its record.
		all := append(recs[:6:6], newer...)
		for i := range all {
			all[i].Seq = int64(i + 1)
		}
		rewriteFrom(t, d, all, 4, 8)
		if res, err := l.VerifyAgainst(ctx, cps, restores); err != nil || res.OK || res.Kind != audit.KindCheckpointMismatch || res.FirstBadSeq != 5 {
			t.Fatalf("VerifyAgainst of a chain rewritten from record 4 = %+v, %v; want a checkpoint mismatch at 5", res, err)
		}
	})
}
