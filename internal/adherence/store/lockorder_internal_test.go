package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/platform/db"
)

// TestCandidateReadsLockInOneOrder: however a group's events are ordered,
// its candidate reads lock dose instances in (plan_id, id) order across
// all their statements — plans ascending from one statement to the next,
// each plan in one statement, each statement ordered by plan_id, id — so
// two groups cannot each hold an instance the other waits for. With more
// conditions than one statement takes (300), statements ordered by id
// alone interleaved: two groups sending the same plans in opposite orders
// could deadlock.
func TestCandidateReadsLockInOneOrder(t *testing.T) {
	const nPlans = 700
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	plans := map[string]*planInfo{}
	var ids []string
	for i := range nPlans {
		id := fmt.Sprintf("01900000-0000-7000-8000-%012d", (i*7919)%nPlans) // not in creation order
		ids = append(ids, id)
		plans[id] = &planInfo{orgID: "org", patientID: "patient", startAt: at.Add(-48 * time.Hour)}
	}
	// Every plan has an event matched by time (a range condition, which
	// carries the plan), every third one also an event naming its dose.
	group := func(order []string) []EventInput {
		var in []EventInput
		for k, plan := range order {
			in = append(in, EventInput{Event: adherence.Event{PlanID: plan, Kind: adherence.EventTaken, OccurredAt: at}})
			if k%3 == 0 {
				in = append(in, EventInput{Event: adherence.Event{PlanID: plan, RequestedDose: int64(k + 1), Kind: adherence.EventOpened, OccurredAt: at}})
			}
		}
		return in
	}
	reversed := slices.Clone(ids)
	slices.Reverse(reversed)
	for name, order := range map[string][]string{"forward": ids, "reverse": reversed} {
		in := group(order)
		idx := make([]int, len(in))
		for i := range idx {
			idx[i] = i
		}
		var out []*liveInstance
		conds := candidateConds(in, idx, func(plan string) adherence.Windows { return windowsOf(plans[plan], nil) })
		stmts := candidateReads(db.Postgres, conds, &out)
		if len(stmts) < 2 {
			t.Fatalf("%s: %d statements for %d plans; the test needs several", name, len(stmts), nPlans)
		}
		inStatement := map[string]int{}
		last := ""
		for s, st := range stmts {
			if !strings.Contains(st.SQL, "ORDER BY plan_id, id") {
				t.Fatalf("%s: statement %d does not order its rows by plan_id, id: %s", name, s, st.SQL[strings.LastIndex(st.SQL, "ORDER BY"):])
			}
			var stPlans []string
			for _, a := range st.Args {
				if p, ok := a.(string); ok {
					stPlans = append(stPlans, p)
				}
			}
			for _, p := range stPlans {
				if prev, ok := inStatement[p]; ok && prev != s {
					t.Fatalf("%s: plan %s in statements %d and %d", name, p, prev, s)
				}
				inStatement[p] = s
				if p < last && inStatement[last] != s {
					t.Fatalf("%s: statement %d locks plan %s after statement %d locked plan %s", name, s, p, inStatement[last], last)
				}
				if p > last {
					last = p
				}
			}
		}
		if len(inStatement) != nPlans {
			t.Fatalf("%s: %d plans in the statements, want %d", name, len(inStatement), nPlans)
		}
	}
}
