package store_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/db"
)

// outboxKeys returns the topic and key of every outbox record, sorted.
func (f *fixture) outboxKeys() []string {
	f.t.Helper()
	rows, err := f.d.SQL.QueryContext(f.ctx, `SELECT topic, dedupe_key FROM outbox`)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var topic, key string
		if err := rows.Scan(&topic, &key); err != nil {
			f.t.Fatal(err)
		}
		keys = append(keys, topic+" "+key)
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	sort.Strings(keys)
	return keys
}

func (f *fixture) prune(before time.Time) store.PruneResult {
	f.t.Helper()
	res, err := f.s.PruneOutbox(f.ctx, before, 0)
	if err != nil {
		f.t.Fatalf("prune outbox: %v", err)
	}
	return res
}

// TestOutboxPrune: PruneOutbox deletes the records processed before its
// cutoff, and keeps the records not processed yet, those processed since
// the cutoff, and the misses an unclosed escalation took in — which it
// still moves to when its own dose is recorded late. Once that escalation
// is resolved, they go too.
func TestOutboxPrune(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		w := newEscWorld(t, f)
		w.standard()
		other := f.plan(w.pat.ID, timeOfDay("07:00"))
		// A second patient whose escalation is resolved by a late taking.
		done := f.patient("America/New_York")
		donePlan := f.plan(done.ID, timeOfDay("08:00"))
		w.missDay(1)
		if res := w.consume(); res.Opened != 2 {
			t.Fatalf("consume of day 1's misses = %+v, want 2 escalations opened", res)
		}
		w.takeLate(done.ID, donePlan.ID, 1)
		w.consume()
		doseOf := func(planID string, d int) string {
			ds := w.doses(planID, local(2026, 3, d, 0, 0), local(2026, 3, d+1, 0, 0))
			if len(ds) != 1 {
				t.Fatalf("day %d's doses of plan %s = %+v", d, planID, ds)
			}
			return fmt.Sprint(ds[0].ID)
		}
		mine1, other1, done1 := doseOf(w.plan.ID, 1), doseOf(other.ID, 1), doseOf(donePlan.ID, 1)
		// Day 2's misses are announced and not consumed yet.
		w.missDay(2)
		mine2, other2, done2 := doseOf(w.plan.ID, 2), doseOf(other.ID, 2), doseOf(donePlan.ID, 2)
		all := []string{"dose.missed " + done1, "dose.missed " + mine1, "dose.missed " + mine2, "dose.missed " + other1,
			"dose.missed " + other2, "dose.missed " + done2, "dose.resolved " + done1}
		sort.Strings(all)
		if got := f.outboxKeys(); fmt.Sprint(got) != fmt.Sprint(all) {
			t.Fatalf("outbox before pruning = %v, want %v", got, all)
		}

		// A cutoff before the records were processed deletes none.
		if res := f.prune(local(2026, 3, 1, 11, 0).UTC()); res.Deleted != 0 {
			t.Fatalf("pruning before anything was processed deleted %d", res.Deleted)
		}
		res := f.prune(local(2026, 4, 30, 0, 0).UTC())
		kept := []string{"dose.missed " + mine1, "dose.missed " + mine2, "dose.missed " + other1, "dose.missed " + other2, "dose.missed " + done2}
		sort.Strings(kept)
		if got := f.outboxKeys(); res.Deleted != 2 || res.More || fmt.Sprint(got) != fmt.Sprint(kept) {
			t.Fatalf("pruning deleted %d (more %v), left %v; want the resolved patient's 2 records deleted and %v kept",
				res.Deleted, res.More, got, kept)
		}

		// The open escalation still moves to the miss it took in.
		e := w.escalations(store.EscalationFilter{PatientID: w.pat.ID})[0]
		firstPlan := w.plan.ID
		if fmt.Sprint(e.DoseInstanceID) == other1 {
			firstPlan = other.ID
		}
		w.takeLate(w.pat.ID, firstPlan, 1)
		w.consume() // day 2's misses and the late taking
		if got := w.get(e.ID); got.Status != adherence.EscalationOpen || fmt.Sprint(got.DoseInstanceID) == fmt.Sprint(e.DoseInstanceID) {
			t.Fatalf("escalation after its dose was recorded late, with the outbox pruned = %+v, want open about another miss", got)
		}

		// Resolved (the patients deactivated), their misses go at the next
		// run.
		for _, id := range []string{w.pat.ID, done.ID} {
			if _, err := w.s.SetPatientActive(w.ctx, w.actor, w.org, id, false); err != nil {
				t.Fatal(err)
			}
		}
		if open := w.escalations(store.EscalationFilter{Status: adherence.EscalationOpen}); len(open) != 0 {
			t.Fatalf("escalations still open after the patients' deactivation: %+v", open)
		}
		before := f.outboxKeys()
		if res := f.prune(local(2026, 4, 30, 0, 0).UTC()); res.Deleted != len(before) || len(f.outboxKeys()) != 0 {
			t.Fatalf("pruning after the escalations were resolved deleted %d of %v, left %v", res.Deleted, before, f.outboxKeys())
		}
	})
}

// TestOutboxPruneChunks: a run goes through every chunk of old records,
// past one it keeps, and stops at the first record young enough to stay.
func TestOutboxPruneChunks(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		old, young := db.UTC(f.now), db.UTC(f.now.Add(48*time.Hour))
		tx, err := f.d.SQL.BeginTx(f.ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		insert := func(key string, created time.Time, processed any) {
			t.Helper()
			if _, err := tx.ExecContext(f.ctx, `INSERT INTO outbox (org_id, topic, dedupe_key, payload, created_at, processed_at)
				VALUES ($1, $2, $3, '{}', $4, $5)`, f.org, store.TopicDoseMissed, key, created, processed); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 2500 {
			if i == 1200 {
				insert("pending", old, nil)
			}
			insert(fmt.Sprint("old-", i), old, old)
		}
		insert("young", young, young)
		insert("after-young", old, old) // past the first young record: left for a later run
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		res := f.prune(f.now.Add(24 * time.Hour))
		if got := f.outboxKeys(); res.Deleted != 2500 || fmt.Sprint(got) != "[dose.missed after-young dose.missed pending dose.missed young]" {
			t.Fatalf("pruning deleted %d, left %v; want 2500 deleted, the pending record, the young one and the one after it kept", res.Deleted, got)
		}
	})
}
