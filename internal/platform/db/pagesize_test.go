package db_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// TestSQLitePageSize: a file Open creates gets the page size asked for,
// in WAL mode, with the writer's own checkpoint still at 64 MiB of WAL; a
// file that exists keeps its page size whatever is asked; a page size
// SQLite cannot take is refused before anything is created.
func TestSQLitePageSize(t *testing.T) {
	ctx := context.Background()
	settings := func(t *testing.T, d *db.DB) (pageSize, autoCheckpoint int, journal string) {
		t.Helper()
		for q, dst := range map[string]any{"PRAGMA page_size": &pageSize, "PRAGMA wal_autocheckpoint": &autoCheckpoint, "PRAGMA journal_mode": &journal} {
			if err := d.SQL.QueryRowContext(ctx, q).Scan(dst); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		return pageSize, autoCheckpoint, journal
	}
	open := func(t *testing.T, path string, pageSize int) *db.DB {
		t.Helper()
		d, err := db.Open(ctx, "sqlite:"+dbtest.URIPath(path), db.Options{SQLitePageSize: pageSize})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// A directory name that must be escaped in the URL: the file set up
	// first is the one the writer then opens.
	dir := filepath.Join(t.TempDir(), "a#1 100%")

	big := filepath.Join(dir, "big.db")
	d := open(t, big, 16384)
	if _, err := d.SQL.ExecContext(ctx, "CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	if ps, ac, j := settings(t, d); ps != 16384 || ac != 4096 || j != "wal" {
		t.Errorf("new file asked for 16384: page_size %d, wal_autocheckpoint %d, journal_mode %s; want 16384, 4096 (64 MiB), wal", ps, ac, j)
	}
	d.Close()
	d = open(t, big, 0)
	if ps, ac, _ := settings(t, d); ps != 16384 || ac != 4096 {
		t.Errorf("reopened with no page size: page_size %d, wal_autocheckpoint %d; want 16384, 4096", ps, ac)
	}
	d.Close()

	small := filepath.Join(dir, "small.db")
	d = open(t, small, 0)
	if _, err := d.SQL.ExecContext(ctx, "CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d = open(t, small, 16384)
	if ps, ac, j := settings(t, d); ps != 4096 || ac != 16384 || j != "wal" {
		t.Errorf("existing 4096-byte file asked for 16384: page_size %d, wal_autocheckpoint %d, journal_mode %s; want 4096, 16384 (64 MiB), wal", ps, ac, j)
	}
	d.Close()

	odd := filepath.Join(t.TempDir(), "odd.db")
	if _, err := db.Open(ctx, "sqlite:"+odd, db.Options{SQLitePageSize: 3000}); err == nil || !strings.Contains(err.Error(), "page size 3000") {
		t.Errorf("page size 3000: %v, want it refused", err)
	}
	if _, err := os.Stat(odd); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("page size 3000: the file was created (%v)", err)
	}
}

// TestSQLitePageSizeOpenedTogether: processes started together on a new
// file (medsales migrate, serve and worker of one deployment) each see it
// empty and set it up; every one must open it, with the page size asked
// for. Without a busy timeout on the set-up connection all but one
// failed with "database is locked" (QA).
func TestSQLitePageSizeOpenedTogether(t *testing.T) {
	ctx := context.Background()
	for round := range 5 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("together-%d.db", round))
		const n = 6
		var wg sync.WaitGroup
		errc := make(chan error, n)
		start := make(chan struct{})
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				d, err := db.Open(ctx, "sqlite:"+dbtest.URIPath(path), db.Options{SQLitePageSize: 16384})
				if err != nil {
					errc <- err
					return
				}
				defer d.Close()
				var ps int
				if err := d.SQL.QueryRowContext(ctx, "PRAGMA page_size").Scan(&ps); err != nil {
					errc <- err
					return
				}
				if ps != 16384 {
					errc <- fmt.Errorf("page_size %d, want 16384", ps)
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Errorf("round %d: open of a new file by %d at once: %v", round, n, err)
		}
	}
}
