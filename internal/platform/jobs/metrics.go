package jobs

import (
	"context"
	"database/sql"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// QueueCollector exports the River queue's depth by job state and the age
// of the oldest job waiting to run, read from the river_job table on each
// scrape: <namespace>_job_queue_depth{state} and
// <namespace>_job_queue_oldest_available_seconds. A query failure exports
// nothing for that scrape (the scrape itself still succeeds).
func QueueCollector(d *db.DB, namespace string) prometheus.Collector {
	return &queueCollector{
		d: d,
		depth: prometheus.NewDesc(namespace+"_job_queue_depth",
			"Jobs in the River queue by state (available, scheduled, retryable, running).", []string{"state"}, nil),
		oldest: prometheus.NewDesc(namespace+"_job_queue_oldest_available_seconds",
			"Age of the oldest job that is available to run but not yet started (0 when none).", nil, nil),
	}
}

type queueCollector struct {
	d             *db.DB
	depth, oldest *prometheus.Desc
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.oldest
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts := map[string]float64{"available": 0, "scheduled": 0, "retryable": 0, "running": 0}
	rows, err := c.d.SQL.QueryContext(ctx, `SELECT state, COUNT(*) FROM river_job
		WHERE state IN ('available', 'scheduled', 'retryable', 'running') GROUP BY state`)
	if err != nil {
		return
	}
	for rows.Next() {
		var state string
		var n float64
		if rows.Scan(&state, &n) == nil {
			counts[state] = n
		}
	}
	rows.Close()
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, n, state)
	}
	// The age is computed by the database, in its own clock and format.
	q := `SELECT COALESCE(EXTRACT(EPOCH FROM now() - MIN(scheduled_at)), 0) FROM river_job WHERE state = 'available'`
	if c.d.Dialect == db.SQLite {
		q = `SELECT COALESCE((julianday('now') - julianday(MIN(scheduled_at))) * 86400.0, 0) FROM river_job WHERE state = 'available'`
	}
	var age sql.NullFloat64
	if err := c.d.SQL.QueryRowContext(ctx, q).Scan(&age); err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, max(age.Float64, 0))
}
