package audit_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/errs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

var sets = []migrate.Set{audit.Migrations}

// clock is a goroutine-safe fake clock that advances one second and a few
// nanoseconds on every call, in a non-UTC zone, so tests exercise the
// normalization to UTC microseconds.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	est := time.FixedZone("EST", -5*3600)
	return &clock{t: time.Date(2025, 3, 9, 1, 59, 58, 123456789, est)}
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second + 1001*time.Nanosecond)
	return c.t
}

// counterIDs returns a newID function making "rec-0001", "rec-0002", ….
func counterIDs() func() string {
	var mu sync.Mutex
	n := 0
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("rec-%04d", n)
	}
}

func sample(i int) audit.Record {
	return audit.Record{
		OrgID:        "org-a",
		ActorID:      fmt.Sprintf("user-%d", i%3),
		ActorRole:    "clinician",
		Action:       audit.ActionRead,
		ResourceType: "Patient",
		ResourceID:   fmt.Sprintf("pat-%d", i%2),
		PatientID:    fmt.Sprintf("pat-%d", i%2),
		Outcome:      audit.OutcomeSuccess,
		RequestID:    fmt.Sprintf("req-%d", i),
		ClientAddr:   "10.0.0.7",
	}
}

// appendN appends n sample records and returns them as Append returned them.
func appendN(t *testing.T, l *audit.Log, n int) []audit.Record {
	t.Helper()
	out := make([]audit.Record, 0, n)
	for i := range n {
		rec, err := l.AppendNow(context.Background(), sample(i))
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		out = append(out, rec)
	}
	return out
}

func verifyOK(t *testing.T, l *audit.Log, want int64) {
	t.Helper()
	res, err := l.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !res.OK || res.Checked != want {
		t.Fatalf("Verify = %+v, want OK with %d checked", res, want)
	}
}

// TestComputeHash pins the canonical encoding documented on ComputeHash:
// changing it would make every stored chain unverifiable.
func TestComputeHash(t *testing.T) {
	rec := audit.Record{
		ID:           "id-1",
		Seq:          1,
		At:           time.Date(2025, 1, 2, 3, 4, 5, 6007008, time.FixedZone("X", 3600)),
		OrgID:        "org",
		ActorID:      "actor",
		ActorRole:    "admin",
		Action:       audit.ActionUpdate,
		ResourceType: "Plan",
		ResourceID:   "plan-9",
		Outcome:      audit.OutcomeSeriousFailure,
		RequestID:    "req",
		ClientAddr:   "::1",
		Detail:       "a:b,c",
		PrevHash:     audit.GenesisHash,
	}
	enc := "20:medplatform.audit.v1," + "64:" + audit.GenesisHash + "," + "1:1," + "4:id-1," +
		"27:2025-01-02T02:04:05.006007Z," + "3:org," + "5:actor," + "5:admin," + "1:U," +
		"4:Plan," + "6:plan-9," + "0:," + "1:8," + "3:req," + "3:::1," + "5:a:b,c,"
	sum := sha256.Sum256([]byte(enc))
	if got, want := audit.ComputeHash(rec), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("ComputeHash = %s, want %s", got, want)
	}

	// Moving a separator between adjacent fields must change the hash.
	moved := rec
	moved.RequestID, moved.ClientAddr = "req:", ":1"
	if audit.ComputeHash(moved) == audit.ComputeHash(rec) {
		t.Fatal("records differing only in field boundaries hash the same")
	}
}

func TestAppendAndVerify(t *testing.T) {
	defer audit.SetBatchSize(5)() // the chain ends exactly on a batch boundary
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := audit.New(d, newClock().now, counterIDs())
		verifyOK(t, l, 0)

		recs := appendN(t, l, 5)
		prev := audit.GenesisHash
		for i, r := range recs {
			if r.Seq != int64(i+1) || r.PrevHash != prev || r.Hash != audit.ComputeHash(r) {
				t.Fatalf("record %d = seq %d prev %s hash %s: not chained", i, r.Seq, r.PrevHash, r.Hash)
			}
			if r.At.Location() != time.UTC || r.At.Nanosecond()%1000 != 0 {
				t.Fatalf("record %d At = %v, want UTC microseconds", i, r.At)
			}
			prev = r.Hash
		}
		verifyOK(t, l, 5)

		// What was returned is exactly what reads back, timestamps included.
		got, err := l.List(ctx, audit.Filter{OrgID: "org-a"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(recs, got); diff != "" {
			t.Fatalf("List differs from what Append returned (-appended +listed):\n%s", diff)
		}
		head, err := l.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if head != (audit.Head{Seq: 5, Hash: recs[4].Hash}) {
			t.Fatalf("Head = %+v, want seq 5 and the last hash", head)
		}
	})
}

func TestAppendValidates(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		l := audit.New(d, newClock().now, nil)
		tests := []struct {
			name  string
			edit  func(r *audit.Record)
			field string
		}{
			{"no org", func(r *audit.Record) { r.OrgID = "" }, "orgId"},
			{"no actor", func(r *audit.Record) { r.ActorID = "" }, "actorId"},
			{"no resource type", func(r *audit.Record) { r.ResourceType = "" }, "resourceType"},
			{"bad action", func(r *audit.Record) { r.Action = "X" }, "action"},
			{"bad outcome", func(r *audit.Record) { r.Outcome = 3 }, "outcome"},
			{"long detail", func(r *audit.Record) { r.Detail = strings.Repeat("x", audit.MaxDetailLen+1) }, "detail"},
			{"NUL byte", func(r *audit.Record) { r.ResourceID = "a\x00b" }, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rec := sample(0)
				tt.edit(&rec)
				_, err := l.AppendNow(context.Background(), rec)
				var e *errs.Error
				if !errors.As(err, &e) || e.Code != errs.CodeInvalid || e.Field != tt.field {
					t.Fatalf("AppendNow = %v, want invalid %q", err, tt.field)
				}
			})
		}
		verifyOK(t, l, 0)
	})
}

func TestConcurrentAppends(t *testing.T) {
	defer audit.SetBatchSize(7)()
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := audit.New(d, newClock().now, nil)
		const workers, each = 20, 10
		var wg sync.WaitGroup
		errc := make(chan error, workers*each)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					if _, err := l.AppendNow(ctx, sample(w*each+i)); err != nil {
						errc <- err
					}
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatalf("AppendNow: %v", err)
		}
		verifyOK(t, l, workers*each)

		got, err := l.List(ctx, audit.Filter{OrgID: "org-a", Limit: audit.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != workers*each {
			t.Fatalf("List returned %d records, want %d", len(got), workers*each)
		}
		for i, r := range got {
			if r.Seq != int64(i+1) {
				t.Fatalf("record %d has seq %d: the sequence has a gap", i, r.Seq)
			}
		}
	})
}

func TestAppendInTransaction(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := audit.New(d, newClock().now, nil)
		first := appendN(t, l, 1)[0]

		errRollback := errors.New("roll back")
		err := d.InTx(ctx, func(tx *db.Tx) error {
			rec, err := l.Append(ctx, tx, sample(1))
			if err != nil {
				return err
			}
			if rec.Seq != 2 {
				t.Errorf("Append in transaction: seq %d, want 2", rec.Seq)
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("InTx = %v, want the rollback error", err)
		}
		var n int
		if err := d.SQL.QueryRowContext(ctx, "SELECT count(*) FROM audit_log").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("audit_log has %d rows after the rollback, want 1", n)
		}
		verifyOK(t, l, 1)

		var next audit.Record
		err = d.InTx(ctx, func(tx *db.Tx) error {
			var err error
			next, err = l.Append(ctx, tx, sample(2))
			return err
		})
		if err != nil {
			t.Fatalf("InTx: %v", err)
		}
		if next.Seq != 2 || next.PrevHash != first.Hash {
			t.Fatalf("next append has seq %d prev %s, want seq 2 after %s", next.Seq, next.PrevHash, first.Hash)
		}
		verifyOK(t, l, 2)
	})
}

// TestAppendStatements appends through ReadHead and AppendStatements sent
// in the callers' own batches, concurrently with plain appends: the batched
// read must lock the head like Append does, or the chain forks (duplicate
// seq, or a record whose PrevHash is not its predecessor's hash).
func TestAppendStatements(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := audit.New(d, newClock().now, nil)
		const workers, each = 8, 10
		var wg sync.WaitGroup
		errc := make(chan error, workers*each)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					n := w*each + i
					err := d.InTx(ctx, func(tx *db.Tx) error {
						if w%2 == 0 {
							_, err := l.Append(ctx, tx, sample(n))
							return err
						}
						read, head := audit.ReadHead(tx.Dialect)
						if _, err := tx.ExecAll(ctx, []db.Statement{{SQL: "SELECT 1"}, read}); err != nil {
							return err
						}
						recs, stmts, err := l.AppendStatements(tx.Dialect, *head, []audit.Record{sample(n), sample(n + 1000)})
						if err != nil {
							return err
						}
						if recs[0].Seq != head.Seq+1 || recs[1].PrevHash != recs[0].Hash {
							return fmt.Errorf("records %+v do not follow head %+v", recs, *head)
						}
						_, err = tx.ExecAll(ctx, stmts)
						return err
					})
					if err != nil {
						errc <- err
					}
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatalf("append: %v", err)
		}
		// Half the workers appended one record per transaction, the
		// other half two.
		verifyOK(t, l, workers/2*each+workers/2*each*2)

		if _, _, err := l.AppendStatements(d.Dialect, audit.Head{}, []audit.Record{{OrgID: "org-a"}}); err == nil {
			t.Error("AppendStatements accepted a record without actor and resource")
		}
	})
}

// TestGuards checks that the database itself refuses changes to the trail.
func TestGuards(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := audit.New(d, newClock().now, nil)
		appendN(t, l, 3)
		stmts := []string{
			"UPDATE audit_log SET actor_id = 'mallory' WHERE seq = 2",
			"DELETE FROM audit_log WHERE seq = 3",
			"UPDATE audit_head SET seq = 2 WHERE id = 1",
			"UPDATE audit_head SET seq = 7 WHERE id = 1",
			"UPDATE audit_head SET hash = 'x' WHERE id = 1",
			"DELETE FROM audit_head",
			// An upsert changes the row it conflicts with.
			`INSERT INTO audit_log SELECT * FROM audit_log WHERE seq = 2
				ON CONFLICT (seq) DO UPDATE SET actor_id = 'mallory'`,
			`INSERT INTO audit_head (id, seq, hash) SELECT 1, seq, hash FROM audit_log WHERE seq = 2
				ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`,
		}
		if d.Dialect == db.SQLite {
			// REPLACE deletes the row it conflicts with without firing
			// DELETE triggers.
			stmts = append(stmts,
				`INSERT OR REPLACE INTO audit_log SELECT seq, id, at, org_id, 'mallory', actor_role, action,
					resource_type, resource_id, patient_id, outcome, request_id, client_addr, detail, prev_hash, hash
					FROM audit_log WHERE seq = 2`,
				`REPLACE INTO audit_log SELECT 7, id, at, org_id, actor_id, actor_role, action,
					resource_type, resource_id, patient_id, outcome, request_id, client_addr, detail, prev_hash, hash
					FROM audit_log WHERE seq = 3`,
				"REPLACE INTO audit_head (id, seq, hash) SELECT 1, seq, hash FROM audit_log WHERE seq = 2",
			)
		}
		for _, stmt := range stmts {
			if _, err := d.SQL.ExecContext(ctx, stmt); err == nil {
				t.Errorf("%s: succeeded, want it refused", stmt)
			}
		}
		verifyOK(t, l, 3)
	})
}

// dropGuards removes the append-only triggers, as an attacker with DDL
// rights would before tampering.
func dropGuards(t *testing.T, d *db.DB) {
	t.Helper()
	stmts := []string{"DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"}
	if d.Dialect == db.Postgres {
		stmts = []string{"ALTER TABLE audit_log DISABLE TRIGGER USER"}
	}
	for _, s := range stmts {
		if _, err := d.SQL.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func exec(t *testing.T, d *db.DB, query string, args ...any) {
	t.Helper()
	if _, err := d.SQL.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// overwrite replaces every column of the row at seq with r's fields.
func overwrite(t *testing.T, d *db.DB, seq int64, r audit.Record) {
	t.Helper()
	exec(t, d, `UPDATE audit_log SET id = $1, at = $2, org_id = $3, actor_id = $4,
		actor_role = $5, action = $6, resource_type = $7, resource_id = $8, patient_id = $9,
		outcome = $10, request_id = $11, client_addr = $12, detail = $13, prev_hash = $14,
		hash = $15 WHERE seq = $16`,
		r.ID, r.At, r.OrgID, r.ActorID, r.ActorRole, r.Action, r.ResourceType, r.ResourceID,
		r.PatientID, r.Outcome, r.RequestID, r.ClientAddr, r.Detail, r.PrevHash, r.Hash, seq)
}

func TestVerifyDetectsTampering(t *testing.T) {
	defer audit.SetBatchSize(2)() // walk the five records in three batches
	tests := []struct {
		name    string
		tamper  func(t *testing.T, d *db.DB, recs []audit.Record)
		kind    string
		badSeq  int64
		badRec  int // index in the appended records of FirstBadID; -1 for none
		checked int64
	}{
		{
			name: "altered fields",
			tamper: func(t *testing.T, d *db.DB, recs []audit.Record) {
				exec(t, d, "UPDATE audit_log SET actor_id = 'mallory', resource_id = 'pat-x' WHERE seq = 3")
			},
			kind: audit.KindAltered, badSeq: 3, badRec: 2, checked: 2,
		},
		{
			name: "altered timestamp",
			tamper: func(t *testing.T, d *db.DB, recs []audit.Record) {
				exec(t, d, "UPDATE audit_log SET at = $1 WHERE seq = 2", recs[1].At.Add(-time.Hour))
			},
			kind: audit.KindAltered, badSeq: 2, badRec: 1, checked: 1,
		},
		{
			name: "middle record deleted",
			tamper: func(t *testing.T, d *db.DB, recs []audit.Record) {
				exec(t, d, "DELETE FROM audit_log WHERE seq = 3")
			},
			kind: audit.KindDeleted, badSeq: 4, badRec: 3, checked: 2,
		},
		{
			name: "first record deleted",
			tamper: func(t *testing.T, d *db.DB, recs []audit.Record) {
				exec(t, d, "DELETE FROM audit_log WHERE seq = 1")
			},
			kind: audit.KindDeleted, badSeq: 2, badRec: 1, checked: 0,
		},
		{
			name: "two records swapped",
			tamper: func(t *testing.T, d *db.DB, recs []audit.Record) {
				a, b := recs[1], recs[3]
				b.ID, a.ID = a.ID+"-tmp", b.ID+"-tmp" // ids are unique: swap through temporaries
				overwrite(t, d, 2, b)
				overwrite(t, d, 4, a)
				exec(t, d, "UPDATE audit_log SET id = $1 WHERE seq = 2", recs[3].ID)
				exec(t, d, "UPDATE audit_log SET id = $1 WHERE seq = 4", recs[1].ID)
			},
			kind: audit.KindAltered, badSeq: 2, badRec: 3, checked: 1, // the row at seq 2 now holds record 4
		},
		{
			name: "last record deleted",
			tamper: func(t *testing.T, d *db.DB, recs []audit.Record) {
				exec(t, d, "DELETE FROM audit_log WHERE seq = 5")
			},
			kind: audit.KindTruncated, badSeq: 5, badRec: -1, checked: 4,
		},
		{
			name: "field changed and own hash recomputed",
			tamper: func(t *testing.T, d *db.DB, recs []audit.Record) {
				r := recs[2]
				r.ActorID = "mallory"
				r.Hash = audit.ComputeHash(r)
				overwrite(t, d, 3, r)
			},
			kind: audit.KindBrokenLink, badSeq: 4, badRec: 3, checked: 3,
		},
		{
			name: "last record changed and its hash recomputed",
			tamper: func(t *testing.T, d *db.DB, recs []audit.Record) {
				r := recs[4]
				r.Outcome = audit.OutcomeMajorFailure
				r.Hash = audit.ComputeHash(r)
				overwrite(t, d, 5, r)
			},
			kind: audit.KindHeadMismatch, badSeq: 5, badRec: 4, checked: 5,
		},
		{
			name: "record inserted after the head",
			tamper: func(t *testing.T, d *db.DB, recs []audit.Record) {
				r := recs[4]
				r.ID, r.Seq, r.PrevHash = "forged", 6, recs[4].Hash
				r.Hash = audit.ComputeHash(r)
				exec(t, d, `INSERT INTO audit_log (seq, id, at, org_id, actor_id, actor_role, action,
					resource_type, resource_id, patient_id, outcome, prev_hash, hash)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
					r.Seq, r.ID, r.At, r.OrgID, r.ActorID, r.ActorRole, r.Action, r.ResourceType,
					r.ResourceID, r.PatientID, r.Outcome, r.PrevHash, r.Hash)
			},
			kind: audit.KindBeyondHead, badSeq: 6, badRec: -1, checked: 5,
		},
	}
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		dropGuards(t, d)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				resetChain(t, d)
				l := audit.New(d, newClock().now, counterIDs())
				recs := appendN(t, l, 5)
				verifyOK(t, l, 5)

				tt.tamper(t, d, recs)
				res, err := l.Verify(ctx)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				wantID := ""
				if tt.badRec >= 0 {
					wantID = recs[tt.badRec].ID
				}
				if res.OK || res.Kind != tt.kind || res.FirstBadSeq != tt.badSeq ||
					res.FirstBadID != wantID || res.Checked != tt.checked {
					t.Fatalf("Verify = %+v, want %s at seq %d (id %q) after %d checked",
						res, tt.kind, tt.badSeq, wantID, tt.checked)
				}
				if !strings.HasPrefix(res.Problem, tt.kind+": ") {
					t.Fatalf("Problem %q does not start with the kind", res.Problem)
				}
			})
		}
	})
}

// resetChain empties the trail so that table-driven cases can share one
// database; the guards must already be dropped.
func resetChain(t *testing.T, d *db.DB) {
	t.Helper()
	exec(t, d, "DELETE FROM audit_log")
	if d.Dialect == db.Postgres {
		exec(t, d, "ALTER TABLE audit_head DISABLE TRIGGER USER")
	} else {
		exec(t, d, "DROP TRIGGER IF EXISTS audit_head_advance_only")
	}
	exec(t, d, "UPDATE audit_head SET seq = 0, hash = $1 WHERE id = 1", audit.GenesisHash)
}

func TestList(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		l := audit.New(d, nil, counterIDs())

		// 12 records alternating between two orgs, one minute apart; within
		// each org the patients and actors rotate.
		var all []audit.Record
		for i := range 12 {
			rec := audit.Record{
				At:           base.Add(time.Duration(i) * time.Minute),
				OrgID:        []string{"org-a", "org-b"}[i%2],
				ActorID:      []string{"alice", "bob", "carol"}[i%3],
				ActorRole:    "clinician",
				Action:       audit.ActionRead,
				ResourceType: "Patient",
				PatientID:    []string{"p1", "p2", "", "p1"}[i%4],
				Outcome:      audit.OutcomeSuccess,
			}
			got, err := l.AppendNow(ctx, rec)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, got)
		}
		seqs := func(recs []audit.Record) []int64 {
			out := []int64{}
			for _, r := range recs {
				out = append(out, r.Seq)
			}
			return out
		}

		tests := []struct {
			name string
			f    audit.Filter
			want []int64
		}{
			{"org a", audit.Filter{OrgID: "org-a"}, []int64{1, 3, 5, 7, 9, 11}},
			{"org b", audit.Filter{OrgID: "org-b"}, []int64{2, 4, 6, 8, 10, 12}},
			{"unknown org", audit.Filter{OrgID: "org-c"}, []int64{}},
			{"patient", audit.Filter{OrgID: "org-a", PatientID: "p1"}, []int64{1, 5, 9}},
			{"patient of another org", audit.Filter{OrgID: "org-b", PatientID: "p1"}, []int64{4, 8, 12}},
			{"actor", audit.Filter{OrgID: "org-a", ActorID: "alice"}, []int64{1, 7}},
			{"patient and actor", audit.Filter{OrgID: "org-a", PatientID: "p1", ActorID: "bob"}, []int64{5}},
			{"from inclusive", audit.Filter{OrgID: "org-a", From: ptr(base.Add(6 * time.Minute))}, []int64{7, 9, 11}},
			{"to exclusive", audit.Filter{OrgID: "org-a", To: ptr(base.Add(4 * time.Minute))}, []int64{1, 3}},
			{"range in another zone", audit.Filter{OrgID: "org-a",
				From: ptr(base.Add(2 * time.Minute).In(time.FixedZone("X", 7*3600))),
				To:   ptr(base.Add(8*time.Minute + time.Microsecond))}, []int64{3, 5, 7, 9}},
			{"limit", audit.Filter{OrgID: "org-a", Limit: 2}, []int64{1, 3}},
			{"after", audit.Filter{OrgID: "org-a", AfterSeq: 5, Limit: 2}, []int64{7, 9}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := l.List(ctx, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, seqs(got)); diff != "" {
					t.Fatalf("List seqs (-want +got):\n%s", diff)
				}
				for _, r := range got {
					if r.OrgID != tt.f.OrgID {
						t.Fatalf("List for %s returned record %d of %s", tt.f.OrgID, r.Seq, r.OrgID)
					}
					if diff := cmp.Diff(all[r.Seq-1], r); diff != "" {
						t.Fatalf("record %d differs from what was appended:\n%s", r.Seq, diff)
					}
				}
			})
		}

		t.Run("pages", func(t *testing.T) {
			var got []audit.Record
			f := audit.Filter{OrgID: "org-b", Limit: 4}
			for {
				page, err := l.List(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, page...)
				if len(page) < f.Limit {
					break
				}
				f.AfterSeq = page[len(page)-1].Seq
			}
			if diff := cmp.Diff([]int64{2, 4, 6, 8, 10, 12}, seqs(got)); diff != "" {
				t.Fatalf("paged seqs (-want +got):\n%s", diff)
			}
		})

		t.Run("invalid", func(t *testing.T) {
			for _, f := range []audit.Filter{
				{},
				{OrgID: "org-a", Limit: -1},
				{OrgID: "org-a", From: ptr(base), To: ptr(base.Add(-time.Second))},
			} {
				if _, err := l.List(ctx, f); !errs.Is(err, errs.CodeInvalid) {
					t.Errorf("List(%+v) = %v, want invalid", f, err)
				}
			}
		})
	})
}

// TestListBoundsExact: From is inclusive and To exclusive to the
// nanosecond, though records keep microseconds: a bound between two
// microseconds neither lets in a record before From nor leaves out one
// before To. Both were truncated to the microsecond, so From = At + 500 ns
// listed the record at At and To = At + 500 ns left it out. A bound at
// 0001-01-01T00:00:00Z, Go's zero time, is a bound too: To there lists
// nothing (it was taken for no bound and listed everything).
func TestListBoundsExact(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := audit.New(d, nil, counterIDs())
		base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		// Records at whole seconds and at microsecond fractions, whose
		// stored text forms (SQLite) differ in length.
		ats := []time.Time{base, base.Add(123456 * time.Microsecond), base.Add(time.Second), base.Add(time.Second + time.Microsecond)}
		for _, at := range ats {
			if _, err := l.AppendNow(ctx, audit.Record{At: at, OrgID: "org-a", ActorID: "alice", Action: audit.ActionRead,
				ResourceType: "Patient", Outcome: audit.OutcomeSuccess}); err != nil {
				t.Fatal(err)
			}
		}
		half := 500 * time.Nanosecond
		for _, tt := range []struct {
			name     string
			from, to *time.Time
			want     []int64
		}{
			{"from at a record", ptr(ats[1]), nil, []int64{2, 3, 4}},
			{"from just after a record", ptr(ats[1].Add(half)), nil, []int64{3, 4}},
			{"from just after a whole second", ptr(ats[2].Add(half)), nil, []int64{4}},
			{"from just before a record", ptr(ats[1].Add(-half)), nil, []int64{2, 3, 4}},
			{"to at a record", nil, ptr(ats[1]), []int64{1}},
			{"to just after a record", nil, ptr(ats[1].Add(half)), []int64{1, 2}},
			{"to just after a whole second", nil, ptr(ats[2].Add(half)), []int64{1, 2, 3}},
			{"to just before a record", nil, ptr(ats[3].Add(-half)), []int64{1, 2, 3}},
			{"one nanosecond window on a record", ptr(ats[3]), ptr(ats[3].Add(time.Nanosecond)), []int64{4}},
			{"window inside a microsecond", ptr(ats[1].Add(half)), ptr(ats[1].Add(2 * half)), []int64{}},
			{"to at the zero time", nil, &time.Time{}, []int64{}},
			{"from at the zero time", &time.Time{}, nil, []int64{1, 2, 3, 4}},
			// Rounded up, a bound in the last microsecond of the year 9999
			// was in the year 10000, which SQLite's text compared as before
			// every record: to listed nothing, from everything.
			{"to in the last microsecond of 9999", nil, ptr(time.Date(9999, 12, 31, 23, 59, 59, 999999500, time.UTC)), []int64{1, 2, 3, 4}},
			{"from in the last microsecond of 9999", ptr(time.Date(9999, 12, 31, 23, 59, 59, 999999500, time.UTC)), nil, []int64{}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := l.List(ctx, audit.Filter{OrgID: "org-a", From: tt.from, To: tt.to})
				if err != nil {
					t.Fatal(err)
				}
				seqs := []int64{}
				for _, r := range got {
					seqs = append(seqs, r.Seq)
				}
				if diff := cmp.Diff(tt.want, seqs); diff != "" {
					t.Fatalf("List seqs (-want +got):\n%s", diff)
				}
			})
		}
	})
}

func ptr(t time.Time) *time.Time { return &t }

// BenchmarkAppend measures standalone appends (one transaction each).
func BenchmarkAppend(b *testing.B) {
	for _, engine := range []struct {
		name string
		open func(testing.TB, ...migrate.Set) *db.DB
	}{{"sqlite", dbtest.SQLite}, {"postgres", dbtest.Postgres}} {
		b.Run(engine.name, func(b *testing.B) {
			d := engine.open(b, sets...)
			l := audit.New(d, nil, nil)
			ctx := context.Background()
			rec := sample(1)
			n := 0
			for b.Loop() {
				if _, err := l.AppendNow(ctx, rec); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}

// TestRecordsOutsideTheChain: a row inserted around Append with a Seq of
// 0 or less (its CHECK dropped), or after the head, is no record of the
// chain: Verify reports it, and List, which an auditor reads, never gives
// it (a forged row with seq -7 verified and was listed first, blaming its
// actor for an access).
func TestRecordsOutsideTheChain(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		dropGuards(t, d)
		ctx := context.Background()
		resetChain(t, d)
		l := audit.New(d, newClock().now, counterIDs())
		recs := appendN(t, l, 3)
		forge := func(seq int64, id string) {
			r := recs[0]
			r.ID, r.Seq, r.ActorID = id, seq, "framed-actor"
			r.Hash = audit.ComputeHash(r)
			exec(t, d, `INSERT INTO audit_log (seq, id, at, org_id, actor_id, actor_role, action,
				resource_type, resource_id, patient_id, outcome, prev_hash, hash)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
				r.Seq, r.ID, r.At, r.OrgID, r.ActorID, r.ActorRole, r.Action, r.ResourceType,
				r.ResourceID, r.PatientID, r.Outcome, r.PrevHash, r.Hash)
		}
		if d.Dialect == db.Postgres {
			exec(t, d, "ALTER TABLE audit_log DROP CONSTRAINT IF EXISTS audit_log_seq_check")
		} else {
			exec(t, d, "PRAGMA ignore_check_constraints = ON")
			defer exec(t, d, "PRAGMA ignore_check_constraints = OFF")
		}
		forge(-7, "forged-before")
		res, err := l.Verify(ctx)
		if err != nil || res.OK || res.Kind != audit.KindBeforeFirst || res.FirstBadSeq != -7 {
			t.Fatalf("Verify with a record at seq -7 = %+v, %v; want before_first at -7", res, err)
		}
		forge(4, "forged-after")
		list, err := l.List(ctx, audit.Filter{OrgID: "org-a"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 3 || list[0].Seq != 1 || list[2].Seq != 3 {
			t.Fatalf("List = %d records from seq %d; want the chain's 3 records only", len(list), list[0].Seq)
		}
	})
}

// TestVerifyCatchesATimeWrittenAnotherWay: on SQLite a time is text, and
// reads of the trail by time compare it as text. The same instant written
// in another zone hashes the same (the hash takes the UTC instant) but
// sorts elsewhere, so a date-range review missed the record while verify
// said the chain was intact. PostgreSQL stores the instant itself.
func TestVerifyCatchesATimeWrittenAnotherWay(t *testing.T) {
	dbtest.Each(t, sets, func(t *testing.T, d *db.DB) {
		dropGuards(t, d)
		ctx := context.Background()
		resetChain(t, d)
		l := audit.New(d, newClock().now, counterIDs())
		recs := appendN(t, l, 3)
		verifyOK(t, l, 3)
		other := recs[1].At.In(time.FixedZone("HST", -10*3600)).Format("2006-01-02 15:04:05.999999-07:00")
		exec(t, d, "UPDATE audit_log SET at = $1 WHERE seq = 2", other)
		res, err := l.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Dialect == db.Postgres {
			if !res.OK {
				t.Fatalf("PostgreSQL keeps the instant, whatever its zone when written: Verify = %+v", res)
			}
			return
		}
		if res.OK || res.Kind != audit.KindAltered || res.FirstBadSeq != 2 || res.Checked != 1 {
			t.Fatalf("Verify = %+v, want the record at seq 2 altered", res)
		}
	})
}
