package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// TestServedWithStamp: the source stamp is recorded with each load, and
// ServedWithStamp finds the load served now in the scope of a new load
// (mode, data year) when it has the same stamp: not a load a newer one
// replaced, not a failed one, not one of another year or mode, and
// never for an empty stamp.
func TestServedWithStamp(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		st := store.New(d)
		at := time.Date(2026, 8, 12, 9, 0, 0, 0, time.UTC)
		load := func(ds medsales.Dataset, mode string, year int, stamp string, ok bool) int64 {
			t.Helper()
			at = at.Add(time.Hour)
			v := store.Version{Dataset: ds, Mode: mode, SourceFile: "f.csv", SourceStamp: stamp, StartedAt: at}
			if year != 0 {
				v.DataYear = &year
			}
			id, err := st.StartVersion(ctx, v)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				if err := st.FailVersion(ctx, id, "bad", 0, 0, at); err != nil {
					t.Fatal(err)
				}
				return id
			}
			if err := d.InTx(ctx, func(tx *db.Tx) error {
				return store.FinishVersionTx(ctx, tx, id, store.LoadResult{Loaded: 1, DataYear: year}, "sha", at)
			}); err != nil {
				t.Fatal(err)
			}
			return id
		}
		check := func(ds medsales.Dataset, mode string, year int, stamp string, want int64) {
			t.Helper()
			v, ok, err := st.ServedWithStamp(ctx, ds, mode, year, stamp)
			if err != nil {
				t.Fatal(err)
			}
			if (want != 0) != ok || v.ID != want {
				t.Errorf("ServedWithStamp(%s, %s, %d, %q) = load %d (%v), want load %d", ds, mode, year, stamp, v.ID, ok, want)
			}
		}

		// A whole-file dataset: the newest successful load is served.
		a := load(medsales.NUCC, "full", 0, "file:/d/nucc.csv size=1 mtime=1", true)
		check(medsales.NUCC, "full", 0, "file:/d/nucc.csv size=1 mtime=1", a)
		check(medsales.NUCC, "full", 0, "file:/d/nucc.csv size=1 mtime=2", 0)
		load(medsales.NUCC, "full", 0, "", true) // a pipe: no stamp
		check(medsales.NUCC, "full", 0, "", 0)
		check(medsales.NUCC, "full", 0, "file:/d/nucc.csv size=1 mtime=1", 0) // replaced since
		b := load(medsales.NUCC, "full", 0, "b", true)
		load(medsales.NUCC, "full", 0, "c", false) // failed: b is still served
		check(medsales.NUCC, "full", 0, "b", b)
		check(medsales.NUCC, "full", 0, "c", 0)
		hist, err := st.Versions(ctx, medsales.NUCC, 1)
		if err != nil || len(hist) != 1 || hist[0].SourceStamp != "c" {
			t.Errorf("history %+v (%v): want the stamp recorded", hist, err)
		}

		// By year: the newest successful load of each year is served.
		x := load(medsales.PartD, "full", 2023, "x", true)
		y := load(medsales.PartD, "full", 2024, "y", true)
		check(medsales.PartD, "full", 2023, "x", x)
		check(medsales.PartD, "full", 2024, "x", 0) // another year
		check(medsales.PartD, "full", 0, "x", x)    // year unknown before the load
		check(medsales.PartD, "full", 0, "y", y)
		z := load(medsales.PartD, "full", 2023, "z", true)
		check(medsales.PartD, "full", 2023, "x", 0)
		check(medsales.PartD, "full", 0, "x", 0)
		check(medsales.PartD, "full", 2023, "z", z)
		check(medsales.PartD, "full", 2024, "y", y) // 2023's reload leaves 2024 served

		// NPPES: the last whole file and the increments after it.
		f := load(medsales.NPPES, "full", 0, "f", true)
		w := load(medsales.NPPES, "increment", 0, "w", true)
		check(medsales.NPPES, "full", 0, "f", f)
		check(medsales.NPPES, "increment", 0, "w", w)
		check(medsales.NPPES, "increment", 0, "f", 0) // another mode
		load(medsales.NPPES, "full", 0, "f2", true)
		check(medsales.NPPES, "increment", 0, "w", 0)
		check(medsales.NPPES, "full", 0, "f", 0)

		// A dataset whose loads carry a year but replace the whole table.
		g := load(medsales.ZCTA, "full", 2023, "g", true)
		check(medsales.ZCTA, "full", 2023, "g", g)
		check(medsales.ZCTA, "full", 2024, "g", 0)
	})
}

// TestServedFromArchive: an archive read whole before its member is
// known matches the load served now whose stamp is the archive's followed
// by a member's name, in any mode unless one is given, and of the year
// when one is given.
func TestServedFromArchive(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		st := store.New(d)
		at := time.Date(2026, 8, 12, 9, 0, 0, 0, time.UTC)
		year := 2024
		id, err := st.StartVersion(ctx, store.Version{Dataset: medsales.PartD, Mode: "full", SourceFile: "a.zip/x.csv",
			SourceStamp: `https://h/a.zip etag="\"1\"" size=9 member="x.csv"`, DataYear: &year, StartedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.InTx(ctx, func(tx *db.Tx) error {
			return store.FinishVersionTx(ctx, tx, id, store.LoadResult{Loaded: 1, DataYear: 2024}, "sha", at)
		}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			mode  string
			year  int
			stamp string
			want  bool
		}{
			{"", 0, `https://h/a.zip etag="\"1\"" size=9`, true},
			{"full", 2024, `https://h/a.zip etag="\"1\"" size=9`, true},
			{"increment", 0, `https://h/a.zip etag="\"1\"" size=9`, false},
			{"", 2023, `https://h/a.zip etag="\"1\"" size=9`, false},
			{"", 0, `https://h/a.zip etag="\"2\"" size=9`, false},
			{"", 0, `https://h/a.zip etag="\"1\"" size=9 member="x.csv"`, false},
			{"", 0, "", false},
		} {
			v, ok, err := st.ServedFromArchive(ctx, medsales.PartD, c.mode, c.year, c.stamp)
			if err != nil {
				t.Fatal(err)
			}
			if ok != c.want || (ok && v.ID != id) {
				t.Errorf("ServedFromArchive(%q, %d, %q) = load %d (%v), want %v", c.mode, c.year, c.stamp, v.ID, ok, c.want)
			}
		}
	})
}
