package audit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

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
		stop()
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
