package audit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/platform/audit"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestGroupCommit runs many concurrent AppendNow and AppendAll calls through
// the group committer: every caller gets its own committed records back, and
// the chain verifies with no gaps.
func TestGroupCommit(t *testing.T) {
	dbtest.Each(t, []migrate.Set{audit.Migrations}, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := audit.New(d, nil, nil)
		stop := l.StartGroupCommit(16)
		var wg sync.WaitGroup
		errc := make(chan error, 100)
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				rec := audit.Record{OrgID: "o", ActorID: fmt.Sprint("a", i), Action: audit.ActionRead, ResourceType: "Patient", ResourceID: fmt.Sprint(i)}
				got, err := l.AppendNow(ctx, rec)
				if err != nil {
					errc <- err
					return
				}
				if got.Seq == 0 || got.ResourceID != rec.ResourceID || got.Hash == "" {
					errc <- fmt.Errorf("AppendNow returned %+v", got)
				}
				if err := l.AppendAll(ctx, []audit.Record{rec, rec}); err != nil {
					errc <- err
				}
			}(i)
		}
		wg.Wait()
		// A bad record fails only its own caller.
		if _, err := l.AppendNow(ctx, audit.Record{OrgID: "o"}); err == nil {
			t.Error("invalid record accepted")
		}
		stop(context.Background())
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		res, err := l.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK || res.Checked != 150 {
			t.Fatalf("Verify = %+v, want OK with 150 records", res)
		}
		if _, err := l.AppendNow(ctx, audit.Record{OrgID: "o", ActorID: "a", Action: audit.ActionRead, ResourceType: "Patient"}); err == nil {
			t.Error("append after stop succeeded, want an error")
		}
	})
}

// TestGroupCommitStopIsBoundedWhenTheDatabaseStalls stalls the connection
// to PostgreSQL with appends pending, then stops the group committer with
// a short deadline: stop returns soon after it, and every pending append
// fails (none reported audited). Each batch waited for its own 30 s
// commit timeout, one after the other, so a server asked to stop took
// minutes, past the 30 s ECS gives it before SIGKILL (QA).
func TestGroupCommitStopIsBoundedWhenTheDatabaseStalls(t *testing.T) {
	d, proxy := dbtest.StallablePostgres(t, db.Options{MaxConns: 4, CloseTimeout: 500 * time.Millisecond}, audit.Migrations)
	l := audit.New(d, nil, nil)
	stop := l.StartGroupCommit(1) // a batch per append: many batches
	ctx := context.Background()
	rec := func(i int) audit.Record {
		return audit.Record{OrgID: "o", ActorID: "a", Action: audit.ActionRead, ResourceType: "Patient", ResourceID: fmt.Sprint(i)}
	}
	if _, err := l.AppendNow(ctx, rec(0)); err != nil {
		t.Fatal(err)
	}
	proxy.Stall()
	const n = 6
	errc := make(chan error, n)
	for i := range n {
		go func() {
			_, err := l.AppendNow(ctx, rec(i+1))
			errc <- err
		}()
	}
	time.Sleep(300 * time.Millisecond) // one batch in flight, the others queued
	stopCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- stop(stopCtx) }()
	select {
	case err := <-stopped:
		if err == nil {
			t.Error("stop returned no error although it gave up on pending appends")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("stop did not return within 20 s of its 200 ms deadline with the database stalled")
	}
	for range n {
		select {
		case err := <-errc:
			if err == nil {
				t.Error("an append was reported committed while the database was stalled")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("an append was left waiting after stop returned")
		}
	}
}
