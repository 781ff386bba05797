package store_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// TestFillIdempotency: a fill retried with its fillId is not recorded
// twice; the retry gets the original (audited as a read of it), other
// content under the key is a conflict naming fillId, the key is per plan,
// and fills without one are recorded as before.
func TestFillIdempotency(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00:00"))
		other := f.plan(p.ID, timeOfDay("20:00:00"))

		first := adherence.Fill{PlanID: pl.ID, FillDate: "2026-02-01", DaysSupply: 30, Quantity: 30.5, FillID: "RX7701234-02"}
		replayed, err := f.s.AddFill(f.ctx, f.actor, f.org, &first)
		if err != nil || replayed || first.ID == "" {
			t.Fatalf("first: %+v, replayed %v, %v", first, replayed, err)
		}
		f.now = f.now.Add(day) // the retry comes later
		retry := adherence.Fill{PlanID: pl.ID, FillDate: "2026-02-01", DaysSupply: 30, Quantity: 30.5, FillID: "RX7701234-02"}
		replayed, err = f.s.AddFill(f.ctx, f.actor, f.org, &retry)
		if err != nil || !replayed {
			t.Fatalf("retry: replayed %v, %v", replayed, err)
		}
		if retry != first {
			t.Errorf("retry answered %+v, want the original %+v", retry, first)
		}
		for _, changed := range []adherence.Fill{
			{PlanID: pl.ID, FillDate: "2026-02-02", DaysSupply: 30, Quantity: 30.5, FillID: "RX7701234-02"},
			{PlanID: pl.ID, FillDate: "2026-02-01", DaysSupply: 90, Quantity: 30.5, FillID: "RX7701234-02"},
			{PlanID: pl.ID, FillDate: "2026-02-01", DaysSupply: 30, Quantity: 30, FillID: "RX7701234-02"},
		} {
			_, err := f.s.AddFill(f.ctx, f.actor, f.org, &changed)
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != errs.CodeConflict || e.Field != "fillId" {
				t.Errorf("same key, other content %+v: %v, want a conflict naming fillId", changed, err)
			}
		}
		if n := f.count(`SELECT COUNT(*) FROM plan_fills WHERE plan_id = $1`, pl.ID); n != 1 {
			t.Errorf("%d fills recorded, want 1", n)
		}

		// The key is the plan's: another plan may use it.
		onOther := adherence.Fill{PlanID: other.ID, FillDate: "2026-02-01", DaysSupply: 30, Quantity: 30.5, FillID: "RX7701234-02"}
		if replayed, err := f.s.AddFill(f.ctx, f.actor, f.org, &onOther); err != nil || replayed || onOther.ID == first.ID {
			t.Errorf("same key on another plan: %+v, replayed %v, %v", onOther, replayed, err)
		}
		// Without a key nothing is compared: two identical fills are two.
		for range 2 {
			fl := adherence.Fill{PlanID: other.ID, FillDate: "2026-02-15", DaysSupply: 30}
			if replayed, err := f.s.AddFill(f.ctx, f.actor, f.org, &fl); err != nil || replayed {
				t.Fatalf("fill without key: replayed %v, %v", replayed, err)
			}
		}
		for _, bad := range []string{"RX 1", strings.Repeat("x", 129), "RX\t1", "Rx-ñ"} {
			_, err := f.s.AddFill(f.ctx, f.actor, f.org, &adherence.Fill{PlanID: pl.ID, FillDate: "2026-02-03", DaysSupply: 30, FillID: bad})
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != errs.CodeInvalid || e.Field != "fillId" {
				t.Errorf("fillId %q: %v, want invalid fillId", bad, err)
			}
		}
		if _, err := f.s.AddFill(f.ctx, f.actor, f.org, &adherence.Fill{PlanID: pl.ID, FillDate: "2026-02-03", DaysSupply: 30, FillID: strings.Repeat("x", 128)}); err != nil {
			t.Errorf("fillId of 128 characters: %v", err)
		}

		fills, err := f.s.ListFills(f.ctx, f.org, pl.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(fills) != 2 || fills[0] != first || fills[1].FillID != strings.Repeat("x", 128) {
			t.Errorf("fills = %+v, want the original %+v and the 128-character key", fills, first)
		}
		if fills, err := f.s.ListFills(f.ctx, f.org, other.ID); err != nil || len(fills) != 3 || fills[0].FillID != "RX7701234-02" || fills[1].FillID != "" {
			t.Errorf("other plan's fills = %+v, %v", fills, err)
		}

		// One create of the original, and the retry a read of it.
		var got []string
		for _, r := range f.auditRecords() {
			if r.ResourceType == "Fill" && r.ResourceID == first.ID {
				got = append(got, r.Action)
			}
		}
		if strings.Join(got, ",") != "C,R" {
			t.Errorf("audit of the fill = %v, want C (the fill) then R (the retry)", got)
		}
	})
}

// TestFillIdempotencyUnderConcurrency: racing retries of a fill record
// one row and all get the original.
func TestFillIdempotencyUnderConcurrency(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		p := f.patient("America/New_York")
		pl := f.plan(p.ID, timeOfDay("08:00:00"))
		const n = 20
		ids := make([]string, n)
		replays := make([]bool, n)
		errors := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fl := adherence.Fill{PlanID: pl.ID, FillDate: "2026-02-01", DaysSupply: 30, Quantity: 30, FillID: "claim-racing"}
				replays[i], errors[i] = f.s.AddFill(f.ctx, f.actor, f.org, &fl)
				ids[i] = fl.ID
			}()
		}
		wg.Wait()
		created := 0
		for i := range n {
			if errors[i] != nil {
				t.Fatalf("caller %d: %v", i, errors[i])
			}
			if ids[i] == "" || ids[i] != ids[0] {
				t.Fatalf("caller %d got id %q, caller 0 got %q", i, ids[i], ids[0])
			}
			if !replays[i] {
				created++
			}
		}
		if created != 1 {
			t.Errorf("%d callers created the fill, want 1", created)
		}
		if c := f.count(`SELECT COUNT(*) FROM plan_fills WHERE fill_id = 'claim-racing'`); c != 1 {
			t.Fatalf("%d rows, want 1", c)
		}
	})
}
