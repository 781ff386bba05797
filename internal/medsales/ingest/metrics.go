package ingest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/store"
)

// Metrics are the ingestion metrics. Labels are dataset names and
// outcomes only.
type Metrics struct {
	Rows     *prometheus.CounterVec
	Duration *prometheus.HistogramVec
	Loads    *prometheus.CounterVec
	// Skipped counts conditional loads skipped because their source had
	// not changed (Request.IfChanged).
	Skipped *prometheus.CounterVec
}

// NewMetrics registers the ingestion metrics on reg, and
// medsales_ingest_last_success_timestamp_seconds, which is read from the
// load history at every scrape: loads run by other processes (the worker
// service, `medsales ingest`) count too, and a restart loses nothing.
func NewMetrics(reg prometheus.Registerer, st *store.Store) (*Metrics, error) {
	m := &Metrics{
		Rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medsales_ingest_rows_total",
			Help: "Rows of dataset files by dataset and outcome: loaded, rejected, stale (an NPPES increment's record older than the one loaded, left out), or skipped (every field empty).",
		}, []string{"dataset", "outcome"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "medsales_ingest_duration_seconds",
			Help:    "Duration of successful dataset loads, from opening the source to the swap commit.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200},
		}, []string{"dataset"}),
		Loads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medsales_ingest_loads_total",
			Help: "Dataset loads by dataset and outcome (succeeded, failed, or interrupted: stopped by a shutdown or a cancelled job, not a fault of the data).",
		}, []string{"dataset", "outcome"}),
		Skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medsales_ingest_skipped_total",
			Help: "Conditional dataset loads (--if-changed, ifChanged, INGEST_SCHEDULE) skipped because the source had not changed since the load served now.",
		}, []string{"dataset"}),
	}
	for _, c := range []prometheus.Collector{m.Rows, m.Duration, m.Loads, m.Skipped, &lastSuccess{st: st}} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register ingest metrics: %w", err)
		}
	}
	for _, d := range medsales.Datasets {
		m.Rows.WithLabelValues(string(d), "loaded")
		m.Rows.WithLabelValues(string(d), "rejected")
		m.Loads.WithLabelValues(string(d), "succeeded")
		m.Loads.WithLabelValues(string(d), "failed")
		m.Loads.WithLabelValues(string(d), "interrupted")
		m.Skipped.WithLabelValues(string(d))
	}
	return m, nil
}

// lastSuccess collects the time of each dataset's last successful load.
// It keeps the values of its last successful read: while the database
// cannot be read (an outage, a failover) it reports those, so the series
// do not vanish and the freshness alerts, which see a dataset without a
// series as never loaded, stay quiet about data that is unchanged. The
// failed read is still reported, and logged by the metrics handler.
type lastSuccess struct {
	st   *store.Store
	mu   sync.Mutex
	last map[medsales.Dataset]time.Time
}

var lastSuccessDesc = prometheus.NewDesc("medsales_ingest_last_success_timestamp_seconds",
	"Unix time of the last successful load of each dataset (alert on its age).", []string{"dataset"}, nil)

func (*lastSuccess) Describe(ch chan<- *prometheus.Desc) { ch <- lastSuccessDesc }

func (c *lastSuccess) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	latest, err := c.st.LatestLoads(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(lastSuccessDesc, fmt.Errorf("read the last loads (reporting the last values read): %w", err))
	} else {
		c.last = make(map[medsales.Dataset]time.Time, len(latest))
		for d, f := range latest {
			c.last[d] = f.LastIngested
		}
	}
	for d, at := range c.last {
		ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, float64(at.Unix()), string(d))
	}
}

// failed counts a load that did not succeed: as interrupted when it was
// stopped (a deploy's SIGTERM, a cancelled job), which the failed-load
// alert must not take for a broken file, else as failed.
func (m *Metrics) failed(d medsales.Dataset, stopped bool) {
	if m == nil {
		return
	}
	outcome := "failed"
	if stopped {
		outcome = "interrupted"
	}
	m.Loads.WithLabelValues(string(d), outcome).Inc()
}

// skip counts a conditional load skipped because its source had not
// changed.
func (m *Metrics) skip(d medsales.Dataset) {
	if m == nil {
		return
	}
	m.Skipped.WithLabelValues(string(d)).Inc()
}

func (m *Metrics) succeeded(d medsales.Dataset, r store.LoadResult, took time.Duration) {
	if m == nil {
		return
	}
	m.Loads.WithLabelValues(string(d), "succeeded").Inc()
	m.Rows.WithLabelValues(string(d), "loaded").Add(float64(r.Loaded))
	m.Rows.WithLabelValues(string(d), "rejected").Add(float64(r.Rejected))
	if r.Stale > 0 {
		m.Rows.WithLabelValues(string(d), "stale").Add(float64(r.Stale))
	}
	if r.Skipped > 0 {
		m.Rows.WithLabelValues(string(d), "skipped").Add(float64(r.Skipped))
	}
	m.Duration.WithLabelValues(string(d)).Observe(took.Seconds())
}
