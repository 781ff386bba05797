package api_test

import (
	"sync"
	"testing"
	"time"
)

// TestFillRetryWithFillIdRecordedOnce: a fill POSTed again with its
// fillId (the answer lost to a timeout) answers the original, 200, and is
// not recorded twice, so the copy shifted after it does not inflate PDC;
// other content under the key is a 409 naming fillId; racing retries get
// one fill; without fillId nothing changes.
func TestFillRetryWithFillIdRecordedOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		path := "/v1/plans/" + w.plan + "/fills"
		fill := map[string]any{"fillDate": "2026-01-01", "daysSupply": 30, "quantity": 30, "fillId": "RX7701234-01"}
		first := e.mustDo("POST", path, w.admin, fill, 201)
		if first["fillId"] != "RX7701234-01" {
			t.Errorf("created fill = %v, want its fillId", first)
		}
		e.now = e.now.Add(time.Minute)
		r := e.do("POST", path, w.admin, fill)
		if r.status != 200 || r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry = %d (Idempotent-Replayed %q), want 200 and true: %s", r.status, r.header.Get("Idempotent-Replayed"), r.body)
		}
		if again := r.json(t); again["id"] != first["id"] || again["createdAt"] != first["createdAt"] || again["fillId"] != "RX7701234-01" {
			t.Errorf("retry answered %v, want the original %v", again, first)
		}
		r = e.do("POST", path, w.admin, map[string]any{"fillDate": "2026-01-01", "daysSupply": 90, "quantity": 30, "fillId": "RX7701234-01"})
		if r.status != 409 || r.json(t)["field"] != "fillId" || r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("same fillId, other content = %d %s, want 409 problem naming fillId", r.status, r.body)
		}
		for _, bad := range []string{"", "RX 1", "Rx-ñ"} {
			r := e.do("POST", path, w.admin, map[string]any{"fillDate": "2026-01-02", "daysSupply": 30, "fillId": bad})
			if r.status != 400 || r.json(t)["field"] != "fillId" {
				t.Errorf("fillId %q = %d %s, want 400 naming fillId", bad, r.status, r.body)
			}
		}
		fills := e.mustDo("GET", path, w.admin, nil, 200)["fills"].([]any)
		if len(fills) != 1 || fills[0].(map[string]any)["fillId"] != "RX7701234-01" {
			t.Errorf("fills = %v, want the one fill with its fillId", fills)
		}
		// A second copy would cover Jan 31 too.
		c := e.mustDo("GET", "/v1/patients/"+w.patient+"/pdc?from=2026-01-01&to=2026-01-31", w.admin, nil, 200)["classes"].([]any)
		if len(c) != 1 || c[0].(map[string]any)["coveredDays"] != 30.0 {
			t.Errorf("pdc classes = %v, want 30 covered days", c)
		}
		var creates, reads int
		err := e.db.SQL.QueryRow(`SELECT
			COUNT(CASE WHEN action = 'C' THEN 1 END), COUNT(CASE WHEN action = 'R' THEN 1 END)
			FROM audit_log WHERE resource_type = 'Fill' AND resource_id = $1`, first["id"]).Scan(&creates, &reads)
		if err != nil {
			t.Fatal(err)
		}
		if creates != 1 || reads != 1 {
			t.Errorf("audit of the fill: %d creates, %d reads; want 1 create and the retry as 1 read", creates, reads)
		}

		// Racing retries: one fill, every answer names it.
		race := map[string]any{"fillDate": "2026-02-01", "daysSupply": 30, "fillId": "claim-race"}
		const n = 8
		status := make([]int, n)
		ids := make([]any, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := e.do("POST", path, w.admin, race)
				status[i] = r.status
				if r.status < 300 {
					ids[i] = r.json(t)["id"]
				}
			}()
		}
		wg.Wait()
		created := 0
		for i := range n {
			if status[i] == 201 {
				created++
			} else if status[i] != 200 {
				t.Fatalf("racing retry %d = %d", i, status[i])
			}
			if ids[i] == nil || ids[i] != ids[0] {
				t.Fatalf("racing retry %d answered fill %v, retry 0 %v", i, ids[i], ids[0])
			}
		}
		if created != 1 {
			t.Errorf("%d racing retries answered 201, want 1", created)
		}

		// Without fillId each POST is a fill.
		a := e.mustDo("POST", path, w.admin, map[string]any{"fillDate": "2026-02-15", "daysSupply": 30}, 201)
		b := e.mustDo("POST", path, w.admin, map[string]any{"fillDate": "2026-02-15", "daysSupply": 30}, 201)
		if a["id"] == b["id"] || a["fillId"] != nil {
			t.Errorf("fills without fillId: %v and %v, want two fills without fillId", a, b)
		}
		if fills := e.mustDo("GET", path, w.admin, nil, 200)["fills"].([]any); len(fills) != 4 {
			t.Errorf("%d fills, want 4", len(fills))
		}
	})
}
