package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riverqueue/river"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/jobs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestQueueCollector checks that queued jobs show in the depth gauge and
// that the oldest-available age is read in the database's own format.
func TestQueueCollector(t *testing.T) {
	dbtest.Each(t, []migrate.Set{{SQLite: schema, Postgres: schema}}, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		workers := river.NewWorkers()
		river.AddWorker(workers, &pingWorker{done: make(chan int, 10)})
		c, err := jobs.New(d, jobs.Config{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, err := c.Insert(ctx, pingArgs{ID: i}, nil); err != nil {
				t.Fatal(err)
			}
		}
		// Make the jobs look an hour old.
		if _, err := d.SQL.ExecContext(ctx, `UPDATE river_job SET scheduled_at = $1`, db.UTC(time.Now().Add(-3600e9))); err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(jobs.QueueCollector(d, "test"))
		want := `
# HELP test_job_queue_depth Jobs in the River queue by state (available, scheduled, retryable, running).
# TYPE test_job_queue_depth gauge
test_job_queue_depth{state="available"} 3
test_job_queue_depth{state="retryable"} 0
test_job_queue_depth{state="running"} 0
test_job_queue_depth{state="scheduled"} 0
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "test_job_queue_depth"); err != nil {
			t.Fatal(err)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var age float64 = -1
		for _, mf := range mfs {
			if mf.GetName() == "test_job_queue_oldest_available_seconds" {
				age = mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		if age < 3500 || age > 3700 {
			t.Fatalf("oldest available age = %v s, want about 3600", age)
		}
	})
}
