package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// TestVersionHistory follows loads through the history: a success becomes
// the current version, a failure does not, and a load left running by a
// killed process is marked interrupted by the next one.
func TestVersionHistory(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		st := store.New(d)
		t0 := time.Date(2026, 8, 12, 9, 0, 0, 0, time.UTC)
		release := medsales.DateOf(time.Date(2026, 8, 10, 0, 0, 0, 0, time.UTC))
		year := 2024

		ok1, err := st.StartVersion(ctx, store.Version{Dataset: medsales.PartD, Mode: "full", SourceFile: "a.csv", ReleaseDate: &release, DataYear: &year, StartedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.InTx(ctx, func(tx *db.Tx) error {
			return store.FinishVersionTx(ctx, tx, ok1, store.LoadResult{Loaded: 10, Rejected: 1, DataYear: 2024}, "abc", t0.Add(time.Minute))
		}); err != nil {
			t.Fatal(err)
		}
		failed, err := st.StartVersion(ctx, store.Version{Dataset: medsales.PartD, Mode: "full", SourceFile: "b.csv", StartedAt: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.FailVersion(ctx, failed, "b.csv: too many rejects", 7, 0, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		killed, err := st.StartVersion(ctx, store.Version{Dataset: medsales.PartD, Mode: "full", SourceFile: "c.csv", StartedAt: t0.Add(3 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		// The next load of the dataset finds the killed one still running.
		if _, err := st.StartVersion(ctx, store.Version{Dataset: medsales.PartD, Mode: "full", SourceFile: "d.csv", StartedAt: t0.Add(4 * time.Hour)}); err != nil {
			t.Fatal(err)
		}

		latest, err := st.LatestLoads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cur, ok := latest[medsales.PartD]
		// RecordCount is what Part D serves, all years: what the latest
		// load of each year loaded (ingest's TestRunRecordCountIsRowsServed
		// loads real files).
		if !ok || cur.SourceFile != "a.csv" || cur.RecordCount != 10 || cur.DataYear == nil || *cur.DataYear != 2024 ||
			!cur.LastIngested.Equal(t0.Add(time.Minute)) || cur.ReleaseDate == nil || *cur.ReleaseDate != release {
			t.Fatalf("current part D = %+v", cur)
		}
		if len(latest) != 1 {
			t.Fatalf("current versions of %d datasets, want 1: %v", len(latest), latest)
		}
		// A release date is a calendar date in JSON, and is stored like
		// every other DATE column (see TestDatesStoredAndServedAlike).
		if b, err := json.Marshal(cur); err != nil || !strings.Contains(string(b), `"releaseDate":"2026-08-10"`) {
			t.Errorf("freshness JSON = %s, %v; want releaseDate \"2026-08-10\"", b, err)
		}
		if got := rawDate(t, d, "SELECT release_date FROM dataset_versions WHERE id = $1", ok1); got != storedDate(d, "2026-08-10") {
			t.Errorf("stored release_date = %q, want %q", got, storedDate(d, "2026-08-10"))
		}
		hist, err := st.Versions(ctx, medsales.PartD, 10)
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]store.Version{}
		for _, v := range hist {
			got[v.ID] = v
		}
		if v := got[ok1]; v.Status != store.StatusSucceeded || v.SHA256 != "abc" || v.RowsRejected != 1 || v.Error != "" {
			t.Errorf("succeeded load = %+v", v)
		}
		if v := got[failed]; v.Status != store.StatusFailed || v.Error != "b.csv: too many rejects" || v.RowsLoaded != 0 || v.RowsRejected != 7 || v.FinishedAt == nil {
			t.Errorf("failed load = %+v", v)
		}
		if v := got[killed]; v.Status != store.StatusFailed || v.Error == "" {
			t.Errorf("killed load = %+v, want failed as interrupted", v)
		}
		if len(hist) != 4 || hist[0].SourceFile != "d.csv" {
			t.Errorf("history newest first: %+v", hist)
		}
		other, err := st.Versions(ctx, medsales.NUCC, 10)
		if err != nil || len(other) != 0 {
			t.Errorf("nucc history = %v, %v; want empty", other, err)
		}
	})
}

// TestFreshnessDataYears: for a dataset loaded year by year, freshness
// lists every year served, newest first, beside the newest load's year; a
// back-filled older year must not make the dataset look years stale. A
// failed load's year is not served; a dataset replaced whole (ZCTA) has
// no list.
func TestFreshnessDataYears(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		st := store.New(d)
		t0 := time.Date(2026, 8, 12, 9, 0, 0, 0, time.UTC)
		load := func(ds medsales.Dataset, year int, ok bool) {
			t.Helper()
			id, err := st.StartVersion(ctx, store.Version{Dataset: ds, Mode: "full", SourceFile: fmt.Sprintf("%s-%d.csv", ds, year), DataYear: &year, StartedAt: t0})
			if err != nil {
				t.Fatal(err)
			}
			t0 = t0.Add(time.Hour)
			if !ok {
				if err := st.FailVersion(ctx, id, "failed", 0, 0, t0); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err := d.InTx(ctx, func(tx *db.Tx) error {
				return store.FinishVersionTx(ctx, tx, id, store.LoadResult{Loaded: 5, DataYear: year}, "abc", t0)
			}); err != nil {
				t.Fatal(err)
			}
		}
		load(medsales.PartB, 2024, true)
		load(medsales.PartB, 2025, true)
		load(medsales.PartB, 2024, true) // a reload
		load(medsales.PartB, 2021, false)
		load(medsales.PartB, 2022, true) // a back-fill, the newest load
		load(medsales.ZCTA, 2023, true)
		load(medsales.ZCTA, 2024, true)
		latest, err := st.LatestLoads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b := latest[medsales.PartB]
		if b.DataYear == nil || *b.DataYear != 2022 || fmt.Sprint(b.DataYears) != "[2025 2024 2022]" {
			t.Errorf("partb freshness: dataYear %v, dataYears %v; want 2022 and [2025 2024 2022]", b.DataYear, b.DataYears)
		}
		if z := latest[medsales.ZCTA]; z.DataYears != nil || z.DataYear == nil || *z.DataYear != 2024 {
			t.Errorf("zcta freshness: dataYear %v, dataYears %v; want 2024 and none", z.DataYear, z.DataYears)
		}
	})
}

// TestLockDataset lets one load of a dataset run at a time; other datasets
// are not held up, and the lock is free again once released.
func TestLockDataset(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		st := store.New(d)
		release, err := st.LockDataset(ctx, medsales.NPPES)
		if err != nil {
			t.Fatal(err)
		}
		// A second process would open its own handle: on SQLite flock
		// conflicts between open file descriptions even in one process,
		// and on PostgreSQL each lock takes its own session.
		if _, err := st.LockDataset(ctx, medsales.NPPES); errs.CodeOf(err) != errs.CodeConflict {
			t.Fatalf("second lock of nppes = %v, want a conflict", err)
		}
		other, err := st.LockDataset(ctx, medsales.PartD)
		if err != nil {
			t.Fatalf("lock of another dataset: %v", err)
		}
		other()
		release()
		again, err := st.LockDataset(ctx, medsales.NPPES)
		if err != nil {
			t.Fatalf("lock after release: %v", err)
		}
		again()
	})
}

// storedDate is how a DATE column holds day (YYYY-MM-DD) as text: the
// SQLite driver's time format for the midnight-UTC time every writer
// passes, PostgreSQL's DATE output.
func storedDate(d *db.DB, day string) string {
	if d.Dialect == db.SQLite {
		return day + " 00:00:00+00:00"
	}
	return day
}

// rawDate returns a DATE column's value as the text the engine holds.
func rawDate(t *testing.T, d *db.DB, query string, args ...any) string {
	t.Helper()
	q := "WITH r(x) AS (" + query + ") SELECT CAST(x AS TEXT) FROM r"
	var s string
	if err := d.SQL.QueryRow(q, args...).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFailVersionLongReasonUTF8: a reason longer than the history keeps is
// cut at a character boundary. Cut in the middle of a character (a
// rejected value of accented letters quoted in the reason), PostgreSQL
// refused the update, so the failed load stayed "running"; SQLite stored
// bytes that are not UTF-8.
func TestFailVersionLongReasonUTF8(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		st := store.New(d)
		t0 := time.Date(2026, 8, 12, 9, 0, 0, 0, time.UTC)
		// 999 ASCII bytes, then two-byte characters: byte 1000 is the
		// first half of an "é".
		reason := "x.csv: " + strings.Repeat("a", 992) + strings.Repeat("é", 50)
		id, err := st.StartVersion(ctx, store.Version{Dataset: medsales.NUCC, Mode: "full", SourceFile: "x.csv", StartedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.FailVersion(ctx, id, reason, 1, 0, t0.Add(time.Minute)); err != nil {
			t.Fatalf("FailVersion: %v", err)
		}
		hist, err := st.Versions(ctx, medsales.NUCC, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 1 || hist[0].Status != store.StatusFailed {
			t.Fatalf("history = %+v, want one failed load", hist)
		}
		if e := hist[0].Error; !utf8.ValidString(e) || len(e) > 1000 || !strings.HasPrefix(reason, e) || len(e) < 999 {
			t.Errorf("recorded reason of %d bytes (valid UTF-8 %v), want the first 999 bytes of the reason", len(e), utf8.ValidString(e))
		}
	})
}

// TestStartVersionNonUTF8FileName: a file whose name is not UTF-8 (Latin-1
// "é") loads on both engines and is recorded with U+FFFD for the invalid
// byte. PostgreSQL refused to record its start, so the load failed there
// while SQLite loaded it.
func TestStartVersionNonUTF8FileName(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		st := store.New(d)
		t0 := time.Date(2026, 8, 12, 9, 0, 0, 0, time.UTC)
		if _, err := st.StartVersion(ctx, store.Version{Dataset: medsales.NUCC, Mode: "full", SourceFile: "nucc_taxonomy_251\xe9.csv", StartedAt: t0}); err != nil {
			t.Fatalf("StartVersion: %v", err)
		}
		hist, err := st.Versions(ctx, medsales.NUCC, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 1 || hist[0].SourceFile != "nucc_taxonomy_251\uFFFD.csv" {
			t.Fatalf("history = %+v, want source file %q", hist, "nucc_taxonomy_251\uFFFD.csv")
		}
	})
}

// TestFreshnessOutOfOrderIncrement: a weekly NPPES increment of an older
// release loaded after a newer one (out of order, or a scheduled load run
// again) does not become the current version: what is served is still the
// newer release (the older records are left out), so current keeps its
// source file, release date and finish time, with the count of what is
// served now. A full file replaces the data whatever its release, and a
// newer increment after it is current again. The older increment used to
// show as current, its release as the one served.
func TestFreshnessOutOfOrderIncrement(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		st := store.New(d)
		t0 := time.Date(2026, 8, 20, 9, 0, 0, 0, time.UTC)
		day := func(s string) *medsales.Date {
			v, err := time.Parse(time.DateOnly, s)
			if err != nil {
				t.Fatal(err)
			}
			return medsales.DatePtr(v)
		}
		load := func(mode, file, release string, loaded int64) time.Time {
			t.Helper()
			id, err := st.StartVersion(ctx, store.Version{Dataset: medsales.NPPES, Mode: mode, SourceFile: file, ReleaseDate: day(release), StartedAt: t0})
			if err != nil {
				t.Fatal(err)
			}
			t0 = t0.Add(time.Hour)
			if err := d.InTx(ctx, func(tx *db.Tx) error {
				return store.FinishVersionTx(ctx, tx, id, store.LoadResult{Loaded: loaded}, "abc", t0)
			}); err != nil {
				t.Fatal(err)
			}
			return t0
		}
		check := func(when, file, release string, finished time.Time) {
			t.Helper()
			latest, err := st.LatestLoads(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cur := latest[medsales.NPPES]
			if cur.SourceFile != file || cur.ReleaseDate == nil || cur.ReleaseDate.String() != release || !cur.LastIngested.Equal(finished) {
				t.Errorf("%s: current %s of %v finished %s; want %s of %s finished %s",
					when, cur.SourceFile, cur.ReleaseDate, cur.LastIngested, file, release, finished)
			}
		}
		load(store.ModeFull, "npidata_pfile_20050523-20260810.csv", "2026-08-10", 7)
		newer := load(store.ModeIncrement, "npidata_pfile_20260811-20260817.csv", "2026-08-17", 2)
		check("after the newer weekly", "npidata_pfile_20260811-20260817.csv", "2026-08-17", newer)
		load(store.ModeIncrement, "npidata_pfile_20260804-20260810.csv", "2026-08-10", 1)
		check("after an older weekly", "npidata_pfile_20260811-20260817.csv", "2026-08-17", newer)
		again := load(store.ModeIncrement, "npidata_pfile_20260811-20260817.csv", "2026-08-17", 0)
		check("after the newer weekly run again", "npidata_pfile_20260811-20260817.csv", "2026-08-17", again)
		full := load(store.ModeFull, "npidata_pfile_20050523-20260710.csv", "2026-07-10", 5)
		check("after an older full file", "npidata_pfile_20050523-20260710.csv", "2026-07-10", full)
		week := load(store.ModeIncrement, "npidata_pfile_20260714-20260720.csv", "2026-07-20", 0)
		check("after a weekly newer than the full file", "npidata_pfile_20260714-20260720.csv", "2026-07-20", week)
	})
}

// TestVersionRowsSkipped: the rows of empty fields a load skipped are
// recorded with its version, succeeded or failed, and listed in the
// history (rowsSkipped) beside the rows loaded and rejected.
func TestVersionRowsSkipped(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		st := store.New(d)
		t0 := time.Date(2026, 8, 12, 9, 0, 0, 0, time.UTC)
		ok, err := st.StartVersion(ctx, store.Version{Dataset: medsales.NUCC, Mode: "full", SourceFile: "a.csv", StartedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.InTx(ctx, func(tx *db.Tx) error {
			return store.FinishVersionTx(ctx, tx, ok, store.LoadResult{Loaded: 10, Rejected: 1, Skipped: 3}, "abc", t0.Add(time.Minute))
		}); err != nil {
			t.Fatal(err)
		}
		failed, err := st.StartVersion(ctx, store.Version{Dataset: medsales.NUCC, Mode: "full", SourceFile: "b.csv", StartedAt: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.FailVersion(ctx, failed, "b.csv: too many rejects", 7, 2, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		hist, err := st.Versions(ctx, medsales.NUCC, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 || hist[0].RowsSkipped != 2 || hist[0].RowsRejected != 7 || hist[1].RowsSkipped != 3 || hist[1].RowsLoaded != 10 {
			t.Fatalf("history = %+v, want the failed load with 2 rows skipped, the succeeded one with 3", hist)
		}
		b, err := json.Marshal(hist[1])
		if err != nil || !strings.Contains(string(b), `"rowsLoaded":10,"rowsRejected":1,"rowsSkipped":3`) {
			t.Errorf("history entry JSON = %s, %v; want rowsSkipped beside rowsLoaded and rowsRejected", b, err)
		}
	})
}

// TestFinishVersionOfAStoppedLoad: a load whose lock was lost (its
// PostgreSQL session ended) while another load of the dataset started
// and marked it stopped cannot make its data live: FinishVersionTx fails
// with a conflict, its transaction — holding the swap — rolls back, and
// the other load's row and data stand. Both went live (QA).
func TestFinishVersionOfAStoppedLoad(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		st := store.New(d)
		t0 := time.Date(2026, 8, 12, 9, 0, 0, 0, time.UTC)
		first, err := st.StartVersion(ctx, store.Version{Dataset: medsales.PartD, Mode: "full", SourceFile: "a.csv", StartedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		// The second load takes the dataset: the first is marked stopped.
		second, err := st.StartVersion(ctx, store.Version{Dataset: medsales.PartD, Mode: "full", SourceFile: "b.csv", StartedAt: t0.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.InTx(ctx, func(tx *db.Tx) error {
			return store.FinishVersionTx(ctx, tx, second, store.LoadResult{Loaded: 20, DataYear: 2024}, "bbb", t0.Add(2*time.Minute))
		}); err != nil {
			t.Fatal(err)
		}
		err = d.InTx(ctx, func(tx *db.Tx) error {
			return store.FinishVersionTx(ctx, tx, first, store.LoadResult{Loaded: 10, DataYear: 2024}, "aaa", t0.Add(3*time.Minute))
		})
		if errs.CodeOf(err) != errs.CodeConflict || !errors.Is(err, store.ErrLoadRunning) {
			t.Fatalf("finishing the stopped load = %v, want a conflict", err)
		}
		var status string
		if err := d.SQL.QueryRowContext(ctx, `SELECT status FROM dataset_versions WHERE id = $1`, first).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status != store.StatusFailed {
			t.Errorf("the stopped load's row = %s, want failed", status)
		}
		// The stopped load then fails on its own: its row keeps the true
		// reason, not the step's error, and FailVersion says so, with that
		// reason, for the operator to read instead of the step's error.
		err = st.FailVersion(ctx, first, "read indexes of partd_drugs: could not open relation", 0, 0, t0.Add(4*time.Minute))
		var stopped *store.StoppedError
		if !errors.As(err, &stopped) || stopped.ID != first || stopped.Reason != store.InterruptedReason || !errors.Is(err, store.ErrLoadRunning) {
			t.Fatalf("failing the stopped load = %v, want a StoppedError with the recorded reason", err)
		}
		if msg := err.Error(); strings.Contains(msg, "could not open relation") || !strings.Contains(msg, "another load of the dataset") {
			t.Errorf("stopped load's error = %q, want the other load's word, not the step's", msg)
		}
		var reason string
		if err := d.SQL.QueryRowContext(ctx, `SELECT error FROM dataset_versions WHERE id = $1`, first).Scan(&reason); err != nil {
			t.Fatal(err)
		}
		if reason != store.InterruptedReason {
			t.Errorf("the stopped load's reason = %q, want %q", reason, store.InterruptedReason)
		}
		latest, err := st.LatestLoads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cur := latest[medsales.PartD]; cur.SourceFile != "b.csv" || cur.RecordCount != 20 {
			t.Errorf("current Part D load = %s with %d rows, want b.csv with 20", cur.SourceFile, cur.RecordCount)
		}
	})
}

// TestLockDatasetThroughASymlink: the SQLite database reached through a
// symlink is the same database and takes the same lock; two loads ran at
// once, each with a lock file of its own name (QA).
func TestLockDatasetThroughASymlink(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	real := filepath.Join(dir, "medsales.db")
	d, err := db.Open(ctx, "sqlite:"+real, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	viaLink, err := db.Open(ctx, "sqlite:"+link, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer viaLink.Close()
	release, err := store.New(d).LockDataset(ctx, medsales.NPPES)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := store.New(viaLink).LockDataset(ctx, medsales.NPPES); errs.CodeOf(err) != errs.CodeConflict {
		t.Fatalf("the lock through the symlink = %v, want a conflict", err)
	}
}

// TestFailVersionOfAFinishedLoad: recording the failure of a load whose row
// already says succeeded changes nothing and is an error that names the
// status, not a StoppedError: that says another load stopped it, and as
// ErrLoadRunning it had the job run the load again.
func TestFailVersionOfAFinishedLoad(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		st := store.New(d)
		t0 := time.Date(2026, 8, 12, 9, 0, 0, 0, time.UTC)
		id, err := st.StartVersion(ctx, store.Version{Dataset: medsales.NUCC, Mode: "full", SourceFile: "x.csv", StartedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.InTx(ctx, func(tx *db.Tx) error {
			return store.FinishVersionTx(ctx, tx, id, store.LoadResult{Loaded: 3}, "abc", t0.Add(time.Minute))
		}); err != nil {
			t.Fatal(err)
		}
		err = st.FailVersion(ctx, id, "metrics: boom", 0, 0, t0.Add(2*time.Minute))
		var stopped *store.StoppedError
		if err == nil || errors.As(err, &stopped) || errors.Is(err, store.ErrLoadRunning) || !strings.Contains(err.Error(), "already recorded succeeded") {
			t.Errorf("FailVersion of a succeeded load = %v, want an error naming its status, not a stopped load", err)
		}
		hist, err := st.Versions(ctx, medsales.NUCC, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 1 || hist[0].Status != store.StatusSucceeded || hist[0].RowsLoaded != 3 {
			t.Errorf("history = %+v, want the load still succeeded with 3 rows", hist)
		}
	})
}
