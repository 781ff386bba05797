package ingest_test

import (
	"context"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
)

// TestIncrementDeactivationKeepsCompanionRecordCounts: a weekly NPPES
// increment that deactivates an NPI drops its secondary practice
// locations, other names and endpoints; the recordCount of those datasets
// (GET /v1/datasets current, /health dataFreshness) is what they serve
// after it, not what their own load served before.
func TestIncrementDeactivationKeepsCompanionRecordCounts(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		for _, r := range []ingest.Request{
			{Dataset: medsales.NPPES, Source: sample(t, e.dir, npiFile, 0)},
			{Dataset: medsales.NPPESLocations, Source: sample(t, e.dir, plFile, 0)},
			{Dataset: medsales.NPPESOtherNames, Source: sample(t, e.dir, "othername_pfile_20050523-20260810_sample.csv", 0)},
			{Dataset: medsales.NPPESEndpoints, Source: sample(t, e.dir, "endpoint_pfile_20050523-20260810_sample.csv", 0)},
		} {
			if _, err := e.svc.Run(ctx, r, nil); err != nil {
				t.Fatal(err)
			}
		}
		tables := map[medsales.Dataset]string{
			medsales.NPPESLocations:  "practice_locations",
			medsales.NPPESOtherNames: "provider_other_names",
			medsales.NPPESEndpoints:  "provider_endpoints",
		}
		before := map[medsales.Dataset]int{}
		for d, table := range tables {
			before[d] = count(t, e.d, "SELECT COUNT(*) FROM "+table)
		}
		// The weekly file deactivates an NPI that has a location, other
		// names and an endpoint.
		if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NPPES, Source: sample(t, e.dir, npiWeekly, 0)}, nil); err != nil {
			t.Fatal(err)
		}
		cur, err := e.st.LatestLoads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for d, table := range tables {
			served := count(t, e.d, "SELECT COUNT(*) FROM "+table)
			if served >= before[d] {
				t.Fatalf("set-up: %s has %d rows after the increment, %d before", table, served, before[d])
			}
			if got := cur[d].RecordCount; got != int64(served) {
				t.Errorf("%s recordCount = %d after the increment, want the %d rows served", d, got, served)
			}
		}
	})
}
