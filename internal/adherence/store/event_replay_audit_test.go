package store_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/adherence"
	"github.com/medplatform/medplatform/internal/adherence/store"
)

// TestEventReplayIsAuditedAsRead: an event answered as a replay (a retry
// of a key recorded before, or another request's item of the same group
// with the same key) hands the original event, PHI, to the caller: it is
// audited as a read of it (R on AdherenceEvent, outcome 0), one record per
// request and patient naming the request's first replayed event of that
// patient, in the group's transaction, as a replayed fill is. A repeat
// within one request is covered by that request's own create record.
func TestEventReplayIsAuditedAsRead(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		a, b := f.patient("America/New_York"), f.patient("America/New_York")
		pa, pb := f.plan(a.ID, timeOfDay("08:00")), f.plan(b.ID, timeOfDay("08:00"))
		withRequest := func(in store.EventInput, req string) store.EventInput {
			in.Actor.RequestID = req
			return in
		}
		a1 := f.ev(a.ID, pa.ID, adherence.EventTaken, local(2026, 3, 2, 8, 0), "a-1")
		a2 := f.ev(a.ID, pa.ID, adherence.EventTaken, local(2026, 3, 3, 8, 0), "a-2")
		b1 := f.ev(b.ID, pb.ID, adherence.EventTaken, local(2026, 3, 2, 8, 0), "b-1")
		first := f.record(withRequest(a1, "orig"), withRequest(a2, "orig"), withRequest(b1, "orig"))
		for _, o := range first {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
		}

		// A retried batch: two replays for a, one for b, and a new event
		// for a (created, audited as such), then a group of replays only.
		a3 := f.ev(a.ID, pa.ID, adherence.EventTaken, local(2026, 3, 4, 8, 0), "a-3")
		retry := f.record(withRequest(a2, "retry"), withRequest(a1, "retry"), withRequest(b1, "retry"), withRequest(a3, "retry"))
		for i, o := range retry[:3] {
			if o.Err != nil || !o.Replayed {
				t.Fatalf("retry item %d: %+v, want a replay", i, o)
			}
		}
		if o := f.record(withRequest(b1, "alone"))[0]; o.Err != nil || !o.Replayed {
			t.Fatalf("replay alone: %+v", o)
		}
		// Two requests of one group with the same new key: the first
		// records it, the second is answered with it; a repeat inside
		// one request is not read from anyone else.
		a4 := f.ev(a.ID, pa.ID, adherence.EventTaken, local(2026, 3, 5, 8, 0), "a-4")
		a5 := f.ev(a.ID, pa.ID, adherence.EventTaken, local(2026, 3, 6, 8, 0), "a-5")
		group := f.record(withRequest(a4, "req-x"), withRequest(a4, "req-y"), withRequest(a5, "req-z"), withRequest(a5, "req-z"))
		if !group[1].Replayed || group[1].Event.ID != group[0].Event.ID || !group[3].Replayed {
			t.Fatalf("group repeats: %+v", group)
		}

		type rec struct{ Action, Resource, Detail string }
		got := map[string]rec{}
		rows, err := f.d.SQL.Query(`SELECT request_id, CAST(patient_id AS TEXT), action, resource_id, detail FROM audit_log
			WHERE resource_type = 'AdherenceEvent' AND outcome = 0`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var req, patient string
			var r rec
			if err := rows.Scan(&req, &patient, &r.Action, &r.Resource, &r.Detail); err != nil {
				t.Fatal(err)
			}
			k := fmt.Sprintf("%s/%s/%s", req, patient, r.Action)
			if _, dup := got[k]; dup {
				t.Errorf("two records for %s", k)
			}
			got[k] = r
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		want := map[string]rec{
			"orig/" + a.ID + "/C":  {"C", first[0].Event.ID, "events=2"},
			"orig/" + b.ID + "/C":  {"C", first[2].Event.ID, "events=1"},
			"retry/" + a.ID + "/R": {"R", first[1].Event.ID, "events=2"},
			"retry/" + b.ID + "/R": {"R", first[2].Event.ID, "events=1"},
			"retry/" + a.ID + "/C": {"C", retry[3].Event.ID, "events=1"},
			"alone/" + b.ID + "/R": {"R", first[2].Event.ID, "events=1"},
			"req-x/" + a.ID + "/C": {"C", group[0].Event.ID, "events=1"},
			"req-y/" + a.ID + "/R": {"R", group[0].Event.ID, "events=1"},
			"req-z/" + a.ID + "/C": {"C", group[2].Event.ID, "events=1"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("audit records (-want +got):\n%s", diff)
		}
		// The chain stays whole.
		if res, err := f.log.Verify(f.ctx); err != nil || !res.OK {
			t.Fatalf("audit chain: %+v, %v", res, err)
		}
	})
}
