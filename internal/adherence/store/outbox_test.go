package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence/store"
	"github.com/medplatform/medplatform/internal/platform/db"
)

// TestOutboxListingWaitsForEarlierTransactions checks that paging the
// outbox by id never passes a record by: on PostgreSQL a transaction that
// took a lower id can commit after one that took a higher id, so a record
// is listed only once every transaction older than its own has finished.
// SQLite has a single writer: its records appear in id order anyway.
func TestOutboxListingWaitsForEarlierTransactions(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		insert := fmt.Sprintf(`INSERT INTO outbox (org_id, topic, dedupe_key, payload, created_at)
			VALUES ('%s', '%s', $1, '{}', $2)`, f.org, store.TopicDoseMissed)
		keys := func(recs []store.OutboxRecord) []string {
			var ks []string
			for _, r := range recs {
				ks = append(ks, r.DedupeKey)
			}
			return ks
		}
		list := func() []store.OutboxRecord {
			t.Helper()
			recs, err := f.s.ListOutbox(f.ctx, f.org, store.OutboxFilter{})
			if err != nil {
				t.Fatalf("list outbox: %v", err)
			}
			return recs
		}

		if f.d.Dialect != db.Postgres {
			f.exec(insert, "1", db.UTC(f.now))
			f.exec(insert, "2", db.UTC(f.now))
			if got := keys(f.outbox(store.OutboxFilter{}, 2)); len(got) != 2 || got[0] != "1" || got[1] != "2" {
				t.Fatalf("outbox keys = %v, want [1 2]", got)
			}
			return
		}

		slow, err := f.d.SQL.BeginTx(f.ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer slow.Rollback()
		if _, err := slow.ExecContext(f.ctx, insert, "1", db.UTC(f.now)); err != nil {
			t.Fatalf("insert in the open transaction: %v", err)
		}
		f.exec(insert, "2", db.UTC(f.now))
		if got := list(); len(got) != 0 {
			t.Fatalf("with an earlier transaction still open, outbox keys = %v, want none: "+
				"a reader paging after %d would never see the record it is about to commit", keys(got), got[len(got)-1].ID)
		}
		if err := slow.Commit(); err != nil {
			t.Fatal(err)
		}
		recs := f.outbox(store.OutboxFilter{}, 2)
		if got := keys(recs); len(got) != 2 || got[0] != "1" || got[1] != "2" {
			t.Fatalf("outbox keys = %v, want [1 2]", got)
		}
		if recs[0].ID >= recs[1].ID {
			t.Errorf("ids %d, %d: the open transaction's record should have the lower id", recs[0].ID, recs[1].ID)
		}
	})
}

// outbox lists the fixture org's outbox records selected by filter until
// at least n appear (or 30 s have passed): on PostgreSQL a record is listed once every older
// transaction has finished, a transaction of another test package on the
// same server included.
func (f *fixture) outbox(filter store.OutboxFilter, n int) []store.OutboxRecord {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs, err := f.s.ListOutbox(f.ctx, f.org, filter)
		if err != nil {
			f.t.Fatalf("list outbox: %v", err)
		}
		if len(recs) >= n || time.Now().After(deadline) {
			return recs
		}
		time.Sleep(10 * time.Millisecond)
	}
}
