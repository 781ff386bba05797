package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestSQLiteLoadEnforcesForeignKeys checks that rows staged by a SQLite
// load are checked against the foreign keys of the table they replace, as
// every write of the application's connections is (db.Open turns
// foreign_keys on): the staging table is a copy of the live one, REFERENCES
// included, and the swap runs without foreign-key enforcement, so a row
// that is not checked while it is staged is never checked.
func TestSQLiteLoadEnforcesForeignKeys(t *testing.T) {
	d := dbtest.SQLite(t, claimsSets...)
	for _, q := range []string{
		`CREATE TABLE fk_parent (id TEXT PRIMARY KEY)`,
		`INSERT INTO fk_parent VALUES ('p1')`,
		`CREATE TABLE fk_child (id TEXT PRIMARY KEY, parent TEXT NOT NULL REFERENCES fk_parent (id))`,
	} {
		if _, err := d.SQL.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	s := store.New(d)
	ctx := context.Background()
	child := store.Table{Name: "fk_child", Columns: []string{"id", "parent"}}
	load := func(rows ...[]any) error {
		rep, err := s.BeginReplace(ctx, []store.Table{child}, store.ReplaceOptions{})
		if err != nil {
			return err
		}
		defer rep.Abort()
		for _, r := range rows {
			if err := rep.Writer("fk_child").Write(r...); err != nil {
				return err
			}
		}
		return rep.Commit(ctx, nil)
	}
	if err := load([]any{"c1", "p1"}); err != nil {
		t.Fatal(err)
	}
	err := load([]any{"c2", "p1"}, []any{"c3", "missing"})
	if err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Errorf("load of a row whose parent is missing: %v, want a FOREIGN KEY failure", err)
	}
	if n := bulkCount(t, d, "SELECT COUNT(*) FROM fk_child"); n != 1 {
		t.Errorf("rows = %d, want the first load's 1", n)
	}
	if n := bulkCount(t, d, "SELECT COUNT(*) FROM pragma_foreign_key_check('fk_child')"); n != 0 {
		t.Errorf("%d rows of fk_child break its foreign key", n)
	}
}

// TestSQLiteLoadPathWithURISyntax loads into a database whose path holds
// URI syntax: db.Open gives the driver "file:" + the path, a URI SQLite
// decodes ("%41" is "A"), and the load's own connection must open that
// same file rather than fail to find the undecoded name (or open another).
func TestSQLiteLoadPathWithURISyntax(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "load%41.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := migrate.Up(ctx, d, claimsSets...); err != nil {
		t.Fatal(err)
	}
	bulkSchema(t, d)
	s := store.New(d)
	if err := loadItems(ctx, s, store.ReplaceOptions{}, [][]any{item("a", 1, "x"), item("b", 2, "y")}, nil); err != nil {
		t.Fatal(err)
	}
	if got := bulkIDs(t, d); got != "a,b" {
		t.Errorf("ids = %q, want a,b", got)
	}
}
