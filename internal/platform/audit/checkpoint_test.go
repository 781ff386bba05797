package audit_test

import (
	"context"
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
				if res, err := l.VerifyAgainst(ctx, cps); err != nil || !res.OK || res.Checked != 8 {
					t.Fatalf("VerifyAgainst before tampering = %+v, %v", res, err)
				}

				rewriteFrom(t, d, recs, tt.from, tt.keep)
				if res, err := l.Verify(ctx); err != nil || !res.OK {
					t.Fatalf("the rewritten chain must verify on its own (that is the attack): %+v, %v", res, err)
				}
				res, err := l.VerifyAgainst(ctx, cps)
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
