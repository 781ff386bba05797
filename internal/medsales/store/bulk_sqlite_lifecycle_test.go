package store_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// openFDs lists the files of the database the process holds open.
func openFDs(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	var out []string
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && strings.HasPrefix(target, dir) {
			out = append(out, target)
		}
	}
	return out
}

// TestSQLiteBulkConnClosed checks that a load's own SQLite connection
// (sqlitebulk) is closed whatever way the load ends: committed, aborted
// with rows in flight, failed on a row the database refuses, cancelled.
// SQLite's unix VFS keeps the descriptor of a closed connection for reuse
// while others of the process hold locks on the file, so the count is
// taken after a warm-up of every kind of load, and may grow by one
// connection's files (the reader pool opens another at times) but not by
// two per load, as when the connection is leaked (database, WAL).
func TestSQLiteBulkConnClosed(t *testing.T) {
	d := dbtest.SQLite(t, claimsSets...)
	bulkSchema(t, d)
	s := store.New(d)
	ctx := context.Background()
	dir := d.File[:strings.LastIndexByte(d.File, '/')]
	items := make([][]any, 25_000)
	for i := range items {
		items[i] = item(fmt.Sprintf("n%05d", i), 1, "x")
	}
	bad := append(items[:20_000:20_000], []any{"bad", nil, nil, nil, nil, nil, nil, nil, nil})
	kinds := []struct {
		name string
		run  func() error // nil when the load ended as it should
	}{
		{"committed", func() error { return loadItems(ctx, s, store.ReplaceOptions{}, items, nil) }},
		{"aborted", func() error {
			rep, err := s.BeginReplace(ctx, []store.Table{bulkItems}, store.ReplaceOptions{})
			if err != nil {
				return err
			}
			for _, it := range items {
				if err := rep.Writer("bulk_items").Write(it...); err != nil {
					return err
				}
			}
			rep.Abort()
			return nil
		}},
		{"failed", func() error {
			if err := loadItems(ctx, s, store.ReplaceOptions{}, bad, nil); err == nil {
				return fmt.Errorf("a load with a NULL year committed")
			}
			return nil
		}},
		{"cancelled", func() error {
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			rep, err := s.BeginReplace(cctx, []store.Table{bulkItems}, store.ReplaceOptions{})
			if err != nil {
				return err
			}
			defer rep.Abort()
			for i, it := range items {
				if i == 15_000 {
					cancel()
				}
				if err := rep.Writer("bulk_items").Write(it...); err != nil {
					break
				}
			}
			if err := rep.Commit(cctx, nil); err == nil {
				return fmt.Errorf("a cancelled load committed")
			}
			return nil
		}},
	}
	for _, k := range kinds {
		if err := k.run(); err != nil {
			t.Fatalf("%s: %v", k.name, err)
		}
	}
	before := openFDs(t, dir)
	for _, k := range kinds {
		for i := 0; i < 5; i++ {
			if err := k.run(); err != nil {
				t.Fatalf("%s: %v", k.name, err)
			}
		}
		if got := openFDs(t, dir); len(got) > len(before)+2 {
			t.Errorf("after five %s loads: %d database files open, were %d: %v", k.name, len(got), len(before), got)
		}
	}
	if n := bulkCount(t, d, "SELECT COUNT(*) FROM bulk_items"); n != len(items) {
		t.Errorf("rows = %d, want the committed load's %d", n, len(items))
	}
	if got := stagingTables(t, d); len(got) != 0 {
		t.Errorf("staging tables left: %v", got)
	}
}

// TestSQLiteConcurrentLoadsAndWrites runs two loads of different tables
// at once, each fed by its own goroutine (as the workers run two jobs),
// while another goroutine writes and reads through the application's
// connections: everything succeeds (no SQLITE_BUSY) and both loads
// store their rows.
func TestSQLiteConcurrentLoadsAndWrites(t *testing.T) {
	d := dbtest.SQLite(t, claimsSets...)
	bulkSchema(t, d)
	if _, err := d.SQL.Exec(`CREATE TABLE qb_side (id INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	s := store.New(d)
	ctx := context.Background()
	const n = 60_000
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Add(2)
	go func() {
		defer wg.Done()
		items := make([][]any, n)
		for i := range items {
			items[i] = item(fmt.Sprintf("n%05d", i), int64(i), fmt.Sprintf("name %d", i))
		}
		errc <- loadItems(ctx, s, store.ReplaceOptions{}, items, nil)
	}()
	go func() {
		defer wg.Done()
		errc <- func() error {
			rep, err := s.BeginReplace(ctx, []store.Table{bulkTags}, store.ReplaceOptions{})
			if err != nil {
				return err
			}
			defer rep.Abort()
			w := rep.Writer("bulk_tags")
			for i := 0; i < n; i++ {
				if err := w.Write(fmt.Sprintf("n%05d", i/2), fmt.Sprintf("t%d", i%2)); err != nil {
					return err
				}
			}
			return rep.Commit(ctx, nil)
		}()
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	writes := 0
	func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err := d.SQL.ExecContext(wctx, `INSERT INTO qb_side (v) VALUES ($1)`, fmt.Sprint(writes))
			cancel()
			if err != nil {
				errc <- fmt.Errorf("application write during the loads: %w", err)
				<-done
				return
			}
			var c int
			if err := d.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM qb_side`).Scan(&c); err != nil {
				errc <- fmt.Errorf("application read during the loads: %w", err)
				<-done
				return
			}
			writes++
			time.Sleep(time.Millisecond)
		}
	}()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Error(err)
		}
	}
	if writes == 0 {
		t.Error("no application write ran during the loads")
	}
	if got := bulkCount(t, d, "SELECT COUNT(*) FROM bulk_items"); got != n {
		t.Errorf("bulk_items rows = %d, want %d", got, n)
	}
	if got := bulkCount(t, d, "SELECT COUNT(*) FROM bulk_tags"); got != n {
		t.Errorf("bulk_tags rows = %d, want %d", got, n)
	}
	if got := bulkCount(t, d, "SELECT COUNT(*) FROM bulk_items WHERE name = 'name ' || year"); got != n {
		t.Errorf("bulk_items rows with their own name = %d, want %d", got, n)
	}
	if got := sqliteSettings(t, d); got != "synchronous=2 cache_size=-16384 wal_autocheckpoint=16384" {
		t.Errorf("writer settings after the loads: %s", got)
	}
	var fk int
	if err := d.SQL.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
	}
}
