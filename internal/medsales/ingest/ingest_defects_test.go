package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/ingest"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/jobs"
	"github.com/medplatform/medplatform/internal/platform/migrate"
	"github.com/medplatform/medplatform/internal/platform/syncbuf"
)

const (
	npiFile     = "npidata_pfile_20050523-20260810_sample.csv"
	npiWeekly   = "npidata_pfile_20260803-20260809_weekly.csv"
	plFile      = "pl_pfile_20050523-20260810_sample.csv"
	partDFile   = "MUP_DPR_RY26_P04_V10_DY24_NPIBN_sample.csv"
	gazetteerTS = "GEOID\tALAND\tAWATER\tALAND_SQMI\tAWATER_SQMI\tINTPTLAT\tINTPTLONG\n"
)

// env is a Service on a fresh database of one engine, logging to log.
type env struct {
	svc *ingest.Service
	st  *store.Store
	d   *db.DB
	log *syncbuf.Buffer
	dir string
}

func each(t *testing.T, fn func(t *testing.T, e env)) {
	t.Helper()
	dbtest.Each(t, []migrate.Set{store.Migrations}, func(t *testing.T, d *db.DB) {
		log := &syncbuf.Buffer{}
		dir := t.TempDir()
		st := store.New(d)
		svc := &ingest.Service{
			Store: st, Logger: slog.New(slog.NewJSONHandler(log, nil)), Now: time.Now,
			RejectsDir: filepath.Join(dir, "rejects"),
		}
		fn(t, env{svc: svc, st: st, d: d, log: log, dir: dir})
	})
}

// sample copies a file of the dataset package's testdata into dir, cut
// to its first n lines when n > 0, and returns its path.
func sample(t *testing.T, dir, name string, n int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		b = []byte(strings.Join(strings.SplitAfter(string(b), "\n")[:n], ""))
	}
	return write(t, dir, name, b)
}

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func count(t *testing.T, d *db.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := d.SQL.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestRunRefusesEmptyFullFile: a monthly NPPES file holding only its
// header fails naming the file, is recorded as a failed load and leaves
// the registry as it was; an empty weekly increment loads.
func TestRunRefusesEmptyFullFile(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		full := sample(t, e.dir, npiFile, 0)
		if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NPPES, Source: full}, nil); err != nil {
			t.Fatal(err)
		}
		providers := count(t, e.d, "SELECT COUNT(*) FROM providers")

		empty := sample(t, t.TempDir(), npiFile, 1)
		_, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NPPES, Source: empty}, nil)
		want := npiFile + ": no data rows: refusing to replace the live data with an empty file"
		if err == nil || err.Error() != want {
			t.Fatalf("header-only load: %v, want %q", err, want)
		}
		if n := count(t, e.d, "SELECT COUNT(*) FROM providers"); n != providers {
			t.Errorf("providers = %d after the refused load, want %d", n, providers)
		}
		hist, err := e.st.Versions(ctx, medsales.NPPES, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 || hist[0].Status != store.StatusFailed || hist[0].Error != want || hist[1].Status != store.StatusSucceeded {
			t.Errorf("history = %+v", hist)
		}

		weekly := sample(t, e.dir, npiWeekly, 1)
		res, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NPPES, Source: weekly}, nil)
		if err != nil || res.Mode != store.ModeIncrement || res.Loaded != 0 {
			t.Errorf("empty weekly increment: %+v, %v", res, err)
		}
		if n := count(t, e.d, "SELECT COUNT(*) FROM providers"); n != providers {
			t.Errorf("providers = %d after an empty increment, want %d", n, providers)
		}
	})
}

// TestRunRefusesNamesWithImpossibleDates: an NPPES file whose name's dates
// run backwards (a weekly file's swapped, which loaded as the full
// registry and replaced it with a week of changes) or whose release date
// is in the future (which then stayed the "current" version while later
// weeks loaded) is refused naming the file, and the registry stays as it
// was.
func TestRunRefusesNamesWithImpossibleDates(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NPPES, Source: sample(t, e.dir, npiFile, 0)}, nil); err != nil {
			t.Fatal(err)
		}
		providers := count(t, e.d, "SELECT COUNT(*) FROM providers")
		future := time.Now().UTC().AddDate(0, 0, 3).Format("20060102")
		for _, c := range []struct{ name, want string }{
			{"npidata_pfile_20260809-20260803.csv", "npidata_pfile_20260809-20260803.csv: its dates run backwards (20260809, then 20260803)"},
			{"npidata_pfile_20050523-" + future + ".csv", "is in the future"},
		} {
			b, err := os.ReadFile(sample(t, t.TempDir(), npiFile, 0))
			if err != nil {
				t.Fatal(err)
			}
			src := write(t, t.TempDir(), c.name, b)
			res, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NPPES, Source: src}, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("load of %s: %+v, %v; want an error containing %q", c.name, res, err, c.want)
			}
			if n := count(t, e.d, "SELECT COUNT(*) FROM providers"); n != providers {
				t.Errorf("providers = %d after the refused load of %s, want %d", n, c.name, providers)
			}
		}
		hist, err := e.st.Versions(ctx, medsales.NPPES, 10)
		if err != nil {
			t.Fatal(err)
		}
		// The name that runs backwards is refused before the load starts
		// (Request.Validate); the future date only once the clock is read.
		if len(hist) != 2 || hist[0].Status != store.StatusFailed || !strings.Contains(hist[0].Error, "is in the future") || hist[1].Status != store.StatusSucceeded {
			t.Errorf("history = %+v, want the future one failed after the first", hist)
		}
	})
}

// TestRefusedLoadRecordsItsYear: a load refused before it starts (its
// file missing, a release date in the future) records the data year its
// name carries, as a load that starts and fails does (data-model.md).
func TestRefusedLoadRecordsItsYear(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		future := time.Now().UTC().AddDate(1, 0, 0).Format("01022006")
		cases := []struct {
			src  string
			year int
		}{
			{filepath.Join(e.dir, "absent", "OP_DTL_GNRL_PGYR2024_P01302025.csv"), 2024},
			{write(t, e.dir, "OP_DTL_GNRL_PGYR2023_P"+future+".csv", []byte("Record_ID,Program_Year\n1,2023\n")), 2023},
		}
		for _, c := range cases {
			if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.OpenPayments, Source: c.src}, nil); err == nil {
				t.Fatalf("load of %s succeeded", c.src)
			}
			hist, err := e.st.Versions(ctx, medsales.OpenPayments, 1)
			if err != nil || len(hist) != 1 || hist[0].Status != store.StatusFailed || hist[0].DataYear == nil || *hist[0].DataYear != c.year {
				t.Errorf("history of the refused load of %s: %+v (%v), want it failed with data year %d", filepath.Base(c.src), hist, err, c.year)
			}
		}
	})
}

// TestRunPlacesSecondaryLocations: secondary practice locations loaded
// through the service get their ZIP centroid, like main addresses.
func TestRunPlacesSecondaryLocations(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		res, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NPPESLocations, Source: sample(t, e.dir, plFile, 0)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Loaded != 3 {
			t.Fatalf("loaded %d locations, want 3", res.Loaded)
		}
		// 32202 (Jacksonville) is in the embedded centroids; the French
		// address has no ZIP centroid.
		if n := count(t, e.d, `SELECT COUNT(*) FROM practice_locations
			WHERE zip5 = '32202' AND lat IS NOT NULL AND lon IS NOT NULL AND coord_source = 'zcta'`); n != 1 {
			t.Errorf("%d locations in 32202 placed at the ZIP centroid, want 1", n)
		}
		if n := count(t, e.d, `SELECT COUNT(*) FROM practice_locations WHERE country = 'FR' AND lat IS NULL`); n != 1 {
			t.Errorf("the foreign location got coordinates")
		}
	})
}

// TestSuccessLogsRejectsFile: a load that succeeds with rows rejected
// names its rejects file in its log lines, "ingest finished" and the
// worker's "ingest job done": for a load queued through the API they are
// the operator's only pointer to it, and its name is not always the one
// derived from the version (see TestRejectsFileNeverOverwritten).
func TestSuccessLogsRejectsFile(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		w := &ingest.Worker{Service: e.svc, Logger: e.svc.Logger}
		job := &river.Job[ingest.JobArgs]{
			JobRow: &rivertype.JobRow{ID: 1, Kind: ingest.JobArgs{}.Kind()},
			Args:   ingest.JobArgs{Request: ingest.Request{Dataset: medsales.PartD, Source: sample(t, e.dir, partDFile, 0), MaxRejectRatio: 0.5}},
		}
		if err := w.Work(context.Background(), job); err != nil {
			t.Fatalf("load with 20%% rejects under a 50%% threshold: %v", err)
		}
		entries, err := os.ReadDir(e.svc.RejectsDir)
		if err != nil || len(entries) != 1 {
			t.Fatalf("rejects dir: %v, %v; want one file", entries, err)
		}
		path := filepath.Join(e.svc.RejectsDir, entries[0].Name())
		for _, msg := range []string{"ingest finished", "ingest job done"} {
			var line string
			for _, l := range strings.Split(e.log.String(), "\n") {
				if strings.Contains(l, `"msg":"`+msg+`"`) {
					line = l
				}
			}
			if !strings.Contains(line, `"rejects_file":"`+path+`"`) {
				t.Errorf("%q log line does not name the rejects file %s: %s", msg, path, line)
			}
		}
	})
}

// TestRunFailureKeepsRejectsFile: a load failing on its rejects says where
// they were written, in its result and its log line.
func TestRunFailureKeepsRejectsFile(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		res, err := e.svc.Run(context.Background(), ingest.Request{Dataset: medsales.PartD, Source: sample(t, e.dir, partDFile, 0)}, nil)
		if err == nil || !strings.Contains(err.Error(), "rows rejected") {
			t.Fatalf("load with 20%% rejects: %v", err)
		}
		if res.RejectsFile == "" {
			t.Fatal("failed load: no rejects file in the result")
		}
		if b, err := os.ReadFile(res.RejectsFile); err != nil || !strings.HasPrefix(string(b), "line,reason\n") {
			t.Errorf("rejects file %s: %q, %v", res.RejectsFile, b, err)
		}
		var failed string
		for _, l := range strings.Split(e.log.String(), "\n") {
			if strings.Contains(l, `"msg":"ingest failed"`) {
				failed = l
			}
		}
		if !strings.Contains(failed, `"rejects_file":"`+res.RejectsFile+`"`) {
			t.Errorf("failure log line does not name the rejects file: %s", failed)
		}
		// The history keeps how many rows were rejected, as the rejects
		// file lists them.
		b, _ := os.ReadFile(res.RejectsFile)
		lines := int64(strings.Count(string(b), "\n") - 1)
		hist, err := e.st.Versions(context.Background(), medsales.PartD, 1)
		if err != nil || len(hist) != 1 || hist[0].RowsLoaded != 0 || hist[0].RowsRejected != lines || lines == 0 {
			t.Errorf("history %+v (%v): want rowsLoaded 0 and rowsRejected %d", hist, err, lines)
		}
	})
}

// TestRunFailedLoadRecordsDataYear: a load that fails still records in
// the history the year its file name carries, as it does the year given
// with --data-year, so the history says which year failed to load.
func TestRunFailedLoadRecordsDataYear(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.PartD, Source: sample(t, e.dir, partDFile, 0)}, nil); err == nil {
			t.Fatal("load with 20% rejects succeeded")
		}
		missing := write(t, e.dir, "OP_DTL_GNRL_PGYR2023_P01232026.csv", []byte("Record_ID,Program_Year\n1,2023\n"))
		if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.OpenPayments, Source: missing}, nil); err == nil {
			t.Fatal("load of a file without the required columns succeeded")
		}
		for _, c := range []struct {
			d    medsales.Dataset
			year int
		}{{medsales.PartD, 2024}, {medsales.OpenPayments, 2023}} {
			hist, err := e.st.Versions(ctx, c.d, 1)
			if err != nil || len(hist) != 1 || hist[0].Status != store.StatusFailed {
				t.Fatalf("%s history %+v (%v): want one failed load", c.d, hist, err)
			}
			if y := hist[0].DataYear; y == nil || *y != c.year {
				t.Errorf("%s failed load: data year %v, want %d", c.d, y, c.year)
			}
		}
	})
}

// TestRunZCTADataYear: a gazetteer load records its year in the history.
func TestRunZCTADataYear(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		src := write(t, e.dir, "2024_Gaz_zcta_national.txt", []byte(gazetteerTS+"00601\t1\t0\t0\t0\t18.180555\t-66.749961\n"))
		res, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.ZCTA, Source: src}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.DataYear != 2024 {
			t.Errorf("result data year = %d, want 2024", res.DataYear)
		}
		latest, err := e.st.LatestLoads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if y := latest[medsales.ZCTA].DataYear; y == nil || *y != 2024 {
			t.Errorf("zcta data year = %v, want 2024", y)
		}
	})
}

// TestWorkerWaitsForRunningLoad: a queued load that finds another load of
// its dataset running is snoozed (River retries it later without using an
// attempt) instead of completing without loading, and runs once the other
// load is done.
func TestWorkerWaitsForRunningLoad(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		w := &ingest.Worker{Service: e.svc, Logger: e.svc.Logger}
		job := &river.Job[ingest.JobArgs]{JobRow: &rivertype.JobRow{ID: 1},
			Args: ingest.JobArgs{Request: ingest.Request{Dataset: medsales.NPPES, Source: sample(t, e.dir, npiFile, 0)}}}

		release := lockDataset(t, e.st, medsales.NPPES)
		err := w.Work(ctx, job)
		var snooze *rivertype.JobSnoozeError
		if !errors.As(err, &snooze) {
			t.Fatalf("Work with the dataset locked = %v, want a snooze", err)
		}
		if snooze.Duration < 10*time.Second || snooze.Duration > time.Minute {
			t.Errorf("snoozed for %s", snooze.Duration)
		}
		if n := count(t, e.d, "SELECT COUNT(*) FROM providers"); n != 0 {
			t.Errorf("the waiting job loaded %d providers", n)
		}
		release()

		if err := w.Work(ctx, job); err != nil {
			t.Fatalf("Work after the other load finished: %v", err)
		}
		hist, err := e.st.Versions(ctx, medsales.NPPES, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 1 || hist[0].Status != store.StatusSucceeded {
			t.Errorf("history = %+v, want the one successful load", hist)
		}
	})
}

// TestQueuedLoadRunsAfterRunningOne queues a load through River while
// another load of the dataset holds its lock: River keeps the job
// (snoozed, not discarded), and it loads once the lock is released.
func TestQueuedLoadRunsAfterRunningOne(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		workers := river.NewWorkers()
		river.AddWorker(workers, &ingest.Worker{Service: e.svc, Logger: e.svc.Logger, BusySnooze: 500 * time.Millisecond})
		c, err := jobs.New(e.d, jobs.Config{Workers: workers, RunWorkers: true, MaxWorkers: 1,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.Stop(stop); err != nil {
				t.Error(err)
			}
		})

		release := lockDataset(t, e.st, medsales.NPPES)
		if _, err := c.Insert(ctx, ingest.JobArgs{Request: ingest.Request{Dataset: medsales.NPPES, Source: sample(t, e.dir, npiFile, 0)}}, nil); err != nil {
			t.Fatal(err)
		}
		// Wait until the job has found the lock taken at least twice: it
		// is retried, not finished.
		waitFor(t, 30*time.Second, func() bool {
			return strings.Count(e.log.String(), "ingest job waiting") >= 2
		})
		var state string
		if err := e.d.SQL.QueryRow("SELECT state FROM river_job").Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state == "completed" || state == "discarded" || state == "cancelled" {
			t.Fatalf("job state %q while the dataset is locked", state)
		}
		if n := count(t, e.d, "SELECT COUNT(*) FROM dataset_versions"); n != 0 {
			t.Errorf("%d history rows while waiting, want 0", n)
		}
		release()

		waitFor(t, 30*time.Second, func() bool {
			return count(t, e.d, "SELECT COUNT(*) FROM river_job WHERE state = 'completed'") == 1
		})
		hist, err := e.st.Versions(ctx, medsales.NPPES, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 1 || hist[0].Status != store.StatusSucceeded || hist[0].RowsLoaded == 0 {
			t.Errorf("history = %+v, want the queued load, succeeded", hist)
		}
	})
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockDataset takes the load lock of d as a running load would, and
// returns its release, which also runs when the test ends (a held lock
// keeps a PostgreSQL connection out of the pool, and closing the pool
// would wait for it).
func lockDataset(t *testing.T, st *store.Store, d medsales.Dataset) func() {
	t.Helper()
	unlock, err := st.LockDataset(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release := func() { once.Do(unlock) }
	t.Cleanup(release)
	return release
}

// TestQueuedLoadsRunInQueueOrder: two loads of one dataset run in the
// order they were queued. When River starts the later one first (both
// picked at once, or the earlier one waiting for the lock), it yields: a
// full file queued before the week's increment must not run after it and
// undo the week. An earlier job whose worker died (running, started long
// ago) does not hold the later ones.
func TestQueuedLoadsRunInQueueOrder(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		workers := river.NewWorkers()
		w := &ingest.Worker{Service: e.svc, DB: e.d, Logger: e.svc.Logger}
		river.AddWorker(workers, w)
		c, err := jobs.New(e.d, jobs.Config{Workers: workers, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		queue := func(n int) *river.Job[ingest.JobArgs] {
			t.Helper()
			args := ingest.JobArgs{Request: ingest.Request{Dataset: medsales.NPPES, Source: sample(t, t.TempDir(), npiFile, n)}}
			opts, err := ingest.QueuedOpts(nil, fmt.Sprintf("req-%d", n))
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Insert(ctx, args, opts)
			if err != nil {
				t.Fatal(err)
			}
			return &river.Job[ingest.JobArgs]{JobRow: res.Job, Args: args}
		}
		first, second := queue(0), queue(3) // the whole sample, then its first two providers

		var snooze *rivertype.JobSnoozeError
		if err := w.Work(ctx, second); !errors.As(err, &snooze) {
			t.Fatalf("the later load started first: %v, want a snooze", err)
		}
		if n := count(t, e.d, "SELECT COUNT(*) FROM dataset_versions"); n != 0 {
			t.Fatalf("%d loads ran, want none", n)
		}
		// Its line names the job and the request that queued it (QA: it
		// had no request_id).
		if want := fmt.Sprintf(`"msg":"ingest job waiting: a load of its dataset queued earlier runs first","job":%d,"request_id":"req-3"`, second.ID); !strings.Contains(e.log.String(), want) {
			t.Errorf("log:\n%s\nwant %s", e.log.String(), want)
		}
		if err := w.Work(ctx, first); err != nil {
			t.Fatalf("the earlier load: %v", err)
		}
		// River marks the job done when Work returns; here the test does.
		if _, err := e.d.SQL.ExecContext(ctx, `UPDATE river_job SET state = 'completed', finalized_at = created_at WHERE id = $1`, first.ID); err != nil {
			t.Fatal(err)
		}
		if err := w.Work(ctx, second); err != nil {
			t.Fatalf("the later load after the earlier one: %v", err)
		}

		// A running earlier job holds the later ones for a minute at most.
		ago := func(d string) string {
			if e.d.Dialect == db.SQLite {
				return "datetime('now', '-" + d + "')"
			}
			return "now() - interval '" + d + "'"
		}
		for _, c := range []struct {
			started string
			want    bool
		}{{"5 seconds", true}, {"2 hours", false}} {
			if _, err := e.d.SQL.ExecContext(ctx, `UPDATE river_job SET state = 'running', finalized_at = NULL, attempted_at = `+ago(c.started)+` WHERE id = $1`, first.ID); err != nil {
				t.Fatal(err)
			}
			got, err := jobs.EarlierJob(ctx, e.d, second.Kind, second.ID, "dataset", "nppes", time.Minute)
			if err != nil || got != c.want {
				t.Errorf("earlier job running since %s ago: %v, %v; want %v", c.started, got, err, c.want)
			}
		}
		if got, err := jobs.EarlierJob(ctx, e.d, second.Kind, second.ID, "dataset", "nucc", time.Minute); err != nil || got {
			t.Errorf("another dataset's job: %v, %v; want false", got, err)
		}
	})
}

// TestRunRecordCountIsRowsServed: freshness counts what a dataset serves,
// not what its newest load read: after a weekly NPPES increment, every
// provider; after a second Part D year, both years.
func TestRunRecordCountIsRowsServed(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NPPES, Source: sample(t, e.dir, npiFile, 0)}, nil); err != nil {
			t.Fatal(err)
		}
		inc, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.NPPES, Source: sample(t, e.dir, npiWeekly, 0)}, nil)
		if err != nil || inc.Mode != store.ModeIncrement {
			t.Fatalf("weekly increment: %+v, %v", inc, err)
		}
		providers := int64(count(t, e.d, "SELECT COUNT(*) FROM providers"))
		if inc.Loaded >= providers {
			t.Fatalf("set-up: the increment loaded %d rows of %d providers", inc.Loaded, providers)
		}
		// Two years of Part D: the sample's 2024 and the same file as 2023.
		// (The sample holds one malformed row among five.)
		if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.PartD, Source: sample(t, e.dir, partDFile, 0), MaxRejectRatio: 0.5}, nil); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", partDFile))
		if err != nil {
			t.Fatal(err)
		}
		y23 := write(t, e.dir, strings.Replace(partDFile, "DY24", "DY23", 1), b)
		oneYear, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.PartD, Source: y23, MaxRejectRatio: 0.5}, nil)
		if err != nil {
			t.Fatal(err)
		}
		drugs := int64(count(t, e.d, "SELECT COUNT(*) FROM partd_drugs"))
		if drugs != 2*oneYear.Loaded {
			t.Fatalf("set-up: %d Part D rows for two years of %d", drugs, oneYear.Loaded)
		}

		cur, err := e.st.LatestLoads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := cur[medsales.NPPES].RecordCount; got != providers {
			t.Errorf("nppes recordCount = %d after an increment of %d rows, want the %d providers served", got, inc.Loaded, providers)
		}
		if got := cur[medsales.PartD].RecordCount; got != drugs {
			t.Errorf("partd recordCount = %d, want the %d rows of both years", got, drugs)
		}
		// 2024 loaded again without its first row: what Part D serves is what
		// the latest load of each year loaded.
		lines := strings.SplitAfter(strings.TrimRight(string(b), "\n"), "\n")
		shorter := write(t, t.TempDir(), partDFile, []byte(lines[0]+strings.Join(lines[2:], "")))
		if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.PartD, Source: shorter, MaxRejectRatio: 0.5}, nil); err != nil {
			t.Fatal(err)
		}
		drugs = int64(count(t, e.d, "SELECT COUNT(*) FROM partd_drugs"))
		if cur, err = e.st.LatestLoads(ctx); err != nil {
			t.Fatal(err)
		}
		if got := cur[medsales.PartD].RecordCount; got != drugs || drugs >= 2*oneYear.Loaded {
			t.Errorf("partd recordCount = %d after 2024 was loaded again, want the %d rows served (fewer than %d)", got, drugs, 2*oneYear.Loaded)
		}
		hist, err := e.st.Versions(ctx, medsales.NPPES, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 || hist[0].RowsServed == nil || *hist[0].RowsServed != providers || hist[0].RowsLoaded != inc.Loaded ||
			hist[1].RowsServed == nil || *hist[1].RowsServed != hist[1].RowsLoaded {
			t.Errorf("history = %+v", hist)
		}
	})
}

// TestRunRejectsFileUnwritable: a load that fails because its rejects file
// cannot be written records in the history every row it rejected, not
// only the first (the one whose write failed): the file is read to the
// end, and the rows rejected after the failure are counted too.
func TestRunRejectsFileUnwritable(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		b, err := os.ReadFile(sample(t, e.dir, partDFile, 0))
		if err != nil {
			t.Fatal(err)
		}
		// Three more rows with a malformed NPI.
		bad := "123,Smith,John,Springfield,IL,17,Internal Medicine,S,Lipitor,Atorvastatin Calcium,120,150.5,4500,1234.5,25,,100,1\n"
		src := write(t, e.dir, partDFile, append(b, strings.Repeat(bad, 3)...))
		// The rejects directory cannot be created under a regular file.
		notDir := write(t, e.dir, "not-a-dir", nil)
		e.svc.RejectsDir = filepath.Join(notDir, "rejects")
		req := ingest.Request{Dataset: medsales.PartD, Source: src, MaxRejectRatio: 1}
		if _, err := e.svc.Run(ctx, req, nil); err == nil || !strings.Contains(err.Error(), "write rejects") {
			t.Fatalf("load with an unwritable rejects directory: %v", err)
		}
		e.svc.RejectsDir = filepath.Join(e.dir, "rejects")
		res, err := e.svc.Run(ctx, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Rejected < 2 {
			t.Fatalf("setup: the sample rejects %d rows, want several", res.Rejected)
		}
		hist, err := e.st.Versions(ctx, medsales.PartD, 2)
		if err != nil || len(hist) != 2 {
			t.Fatalf("history %+v, %v", hist, err)
		}
		if failed := hist[1]; failed.Status != store.StatusFailed || failed.RowsRejected != res.Rejected {
			t.Errorf("failed load: status %s, rowsRejected %d; want failed with the %d rows the file has rejected", failed.Status, failed.RowsRejected, res.Rejected)
		}
	})
}

// TestStoppedLoadCountsAsInterrupted: a load stopped by a shutdown (its
// context cancelled) counts in medsales_ingest_loads_total as interrupted,
// not failed: the MedsalesLoadFailed alert, on failed, raised a ticket at
// every deploy that stopped a load. A broken file still counts as failed.
func TestStoppedLoadCountsAsInterrupted(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		reg := prometheus.NewRegistry()
		m, err := ingest.NewMetrics(reg, e.st)
		if err != nil {
			t.Fatal(err)
		}
		e.svc.Metrics = m
		src := sample(t, e.dir, partDFile, 0)
		// A SIGTERM as the load starts: its clock is read first thing
		// after the dataset lock is taken.
		ctx, cancel := context.WithCancel(context.Background())
		e.svc.Now = func() time.Time { cancel(); return time.Now() }
		if _, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.PartD, Source: src}, nil); err == nil {
			t.Fatal("a load on a cancelled context succeeded")
		}
		e.svc.Now = time.Now
		bad := filepath.Join(e.dir, "bad.csv")
		if err := os.WriteFile(bad, []byte("not,a,part d,file\n1,2,3,4\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Run(context.Background(), ingest.Request{Dataset: medsales.PartD, Source: bad, DataYear: 2024}, nil); err == nil {
			t.Fatal("a load of a wrong file succeeded")
		}
		for outcome, want := range map[string]float64{"interrupted": 1, "failed": 1, "succeeded": 0} {
			if got := testutil.ToFloat64(m.Loads.WithLabelValues(string(medsales.PartD), outcome)); got != want {
				t.Errorf("loads{outcome=%q} = %v, want %v", outcome, got, want)
			}
		}
	})
}

// TestRejectsFileNeverOverwritten: version ids start again at 1 in every
// database, so a rejects file of the next version's name may already be
// there (another database sharing REJECTS_DIR, one restored from a
// backup). The load writes beside it; it does not truncate it.
func TestRejectsFileNeverOverwritten(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		first, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.PartD, Source: sample(t, e.dir, partDFile, 0)}, nil)
		if err == nil || first.RejectsFile == "" {
			t.Fatalf("load with 20%% rejects: %v, rejects file %q", err, first.RejectsFile)
		}
		earlier := filepath.Join(e.svc.RejectsDir, fmt.Sprintf("%s-%d.rejects.csv", medsales.PartD, first.VersionID+1))
		if err := os.WriteFile(earlier, []byte("line,reason\n7,an earlier database's reject\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		second, err := e.svc.Run(ctx, ingest.Request{Dataset: medsales.PartD, Source: sample(t, e.dir, partDFile, 0)}, nil)
		if err == nil || second.VersionID != first.VersionID+1 {
			t.Fatalf("second load: %v, version %d (want %d)", err, second.VersionID, first.VersionID+1)
		}
		if b, err := os.ReadFile(earlier); err != nil || string(b) != "line,reason\n7,an earlier database's reject\n" {
			t.Errorf("the existing rejects file %s was changed: %q, %v", earlier, b, err)
		}
		want := strings.TrimSuffix(earlier, ".rejects.csv") + "-2.rejects.csv"
		if second.RejectsFile != want {
			t.Fatalf("second load's rejects file %q, want %q", second.RejectsFile, want)
		}
		b, err := os.ReadFile(second.RejectsFile)
		if err != nil || !strings.HasPrefix(string(b), "line,reason\n") || strings.Count(string(b), "\n") < 2 {
			t.Errorf("second load's rejects file: %q, %v", b, err)
		}
	})
}

// TestRunRefusesAFutureDataYear: a Part D file whose name carries a data
// year after the current one (a typo: _DY42_ for _DY24_), or one given, is
// refused naming the year, and nothing of Part D is loaded; the year was
// loaded, and listed on profiles as the provider's latest (QA).
func TestRunRefusesAFutureDataYear(t *testing.T) {
	each(t, func(t *testing.T, e env) {
		ctx := context.Background()
		b, err := os.ReadFile(sample(t, t.TempDir(), partDFile, 0))
		if err != nil {
			t.Fatal(err)
		}
		next := time.Now().UTC().Year() + 1
		src := write(t, t.TempDir(), fmt.Sprintf("MUP_DPR_RY26_P04_V10_DY%02d_NPIBN.csv", next%100), b)
		_, err = e.svc.Run(ctx, ingest.Request{Dataset: medsales.PartD, Source: src}, nil)
		if want := fmt.Sprintf("its data year, %d, is after the current year", next); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("load of a file of data year %d: %v, want an error containing %q", next, err, want)
		}
		plain := write(t, t.TempDir(), "partd.csv", b)
		_, err = e.svc.Run(ctx, ingest.Request{Dataset: medsales.PartD, Source: plain, DataYear: next}, nil)
		if want := fmt.Sprintf("%d is after the current year", next); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("load with data year %d given: %v, want an error containing %q", next, err, want)
		}
		if n := count(t, e.d, "SELECT COUNT(*) FROM partd_drugs"); n != 0 {
			t.Errorf("%d Part D rows loaded by the refused loads, want none", n)
		}
	})
}
