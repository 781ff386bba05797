package ingest_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
)

// TestLastSuccessOutlivesADatabaseOutage: the last-success gauge is read
// from the load history at each scrape. While the database cannot be read
// it reports the values of the last good read, with the error: its series
// vanished, and MedsalesDatasetNeverLoaded, which takes a dataset without
// one for never loaded, would fire for data that is still served.
func TestLastSuccessOutlivesADatabaseOutage(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		reg := prometheus.NewRegistry()
		m, err := ingest.NewMetrics(reg, e.st)
		if err != nil {
			t.Fatal(err)
		}
		e.svc.Metrics = m
		expect(t, e, ingest.Request{Dataset: medsales.NUCC, Source: sample(t, e.dir, "nucc_taxonomy_sample.csv", 5)}, true)

		before, err := reg.Gather()
		if err != nil {
			t.Fatalf("gather with the database up: %v", err)
		}
		want := lastSuccessOf(before)
		if _, ok := want[string(medsales.NUCC)]; !ok || len(want) != 1 {
			t.Fatalf("last success with the database up = %v, want nucc only", want)
		}

		if err := e.d.Close(); err != nil { // the outage
			t.Fatal(err)
		}
		during, err := reg.Gather()
		if err == nil {
			t.Error("gather with the database closed reported no error: the failed read must show")
		}
		got := lastSuccessOf(during)
		if len(got) != len(want) || got[string(medsales.NUCC)] != want[string(medsales.NUCC)] {
			t.Errorf("last success with the database closed = %v, want the last values read, %v", got, want)
		}
	})
}

// lastSuccessOf maps dataset to the value of
// medsales_ingest_last_success_timestamp_seconds in families.
func lastSuccessOf(families []*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "medsales_ingest_last_success_timestamp_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "dataset" {
					out[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}
