package ingest

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/store"
)

// Metrics are the ingestion metrics. Labels are dataset names and
// outcomes only.
type Metrics struct {
	Rows        *prometheus.CounterVec
	Duration    *prometheus.HistogramVec
	LastSuccess *prometheus.GaugeVec
	Loads       *prometheus.CounterVec
}

// NewMetrics registers the ingestion metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medsales_ingest_rows_total",
			Help: "Rows of dataset files loaded or rejected, by dataset and outcome (loaded, rejected).",
		}, []string{"dataset", "outcome"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "medsales_ingest_duration_seconds",
			Help:    "Duration of successful dataset loads, from opening the source to the swap commit.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200},
		}, []string{"dataset"}),
		LastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "medsales_ingest_last_success_timestamp_seconds",
			Help: "Unix time of the last successful load of each dataset (alert on its age).",
		}, []string{"dataset"}),
		Loads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medsales_ingest_loads_total",
			Help: "Dataset loads by dataset and outcome (succeeded, failed).",
		}, []string{"dataset", "outcome"}),
	}
	for _, c := range []prometheus.Collector{m.Rows, m.Duration, m.LastSuccess, m.Loads} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register ingest metrics: %w", err)
		}
	}
	for _, d := range medsales.Datasets {
		m.Rows.WithLabelValues(string(d), "loaded")
		m.Rows.WithLabelValues(string(d), "rejected")
		m.Loads.WithLabelValues(string(d), "succeeded")
		m.Loads.WithLabelValues(string(d), "failed")
	}
	return m, nil
}

// SetLastSuccess seeds the last-success gauges from the load history, so a
// restarted process reports the real age of every dataset.
func (m *Metrics) SetLastSuccess(latest map[medsales.Dataset]store.Freshness) {
	if m == nil {
		return
	}
	for d, f := range latest {
		m.LastSuccess.WithLabelValues(string(d)).Set(float64(f.LastIngested.Unix()))
	}
}

func (m *Metrics) failed(d medsales.Dataset) {
	if m == nil {
		return
	}
	m.Loads.WithLabelValues(string(d), "failed").Inc()
}

func (m *Metrics) succeeded(d medsales.Dataset, r store.LoadResult, took time.Duration, now time.Time) {
	if m == nil {
		return
	}
	m.Loads.WithLabelValues(string(d), "succeeded").Inc()
	m.Rows.WithLabelValues(string(d), "loaded").Add(float64(r.Loaded))
	m.Rows.WithLabelValues(string(d), "rejected").Add(float64(r.Rejected))
	m.Duration.WithLabelValues(string(d)).Observe(took.Seconds())
	m.LastSuccess.WithLabelValues(string(d)).Set(float64(now.Unix()))
}
