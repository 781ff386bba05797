package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// bulkSchema creates the tables the bulk-load tests replace: a table with
// every value type, a primary key, a unique constraint, a plain index and
// a trigger, and a child table keyed by the same id.
func bulkSchema(t *testing.T, d *db.DB) {
	t.Helper()
	stmts := map[db.Dialect][]string{
		db.Postgres: {
			`CREATE TABLE bulk_items (
				id TEXT PRIMARY KEY, year INTEGER NOT NULL, name TEXT, amount NUMERIC(12,2),
				day DATE, at TIMESTAMPTZ, score DOUBLE PRECISION, flag BOOLEAN, code TEXT,
				CONSTRAINT bulk_items_code_key UNIQUE (code))`,
			`CREATE INDEX bulk_items_name ON bulk_items (name)`,
			`CREATE TABLE bulk_tags (id TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (id, tag))`,
			`CREATE TABLE bulk_audit (id TEXT)`,
			`CREATE FUNCTION bulk_audit_fn() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN INSERT INTO bulk_audit VALUES (NEW.id); RETURN NEW; END $$`,
			`CREATE TRIGGER bulk_items_audit AFTER INSERT ON bulk_items FOR EACH ROW EXECUTE FUNCTION bulk_audit_fn()`,
		},
		db.SQLite: {
			`CREATE TABLE bulk_items (
				id TEXT PRIMARY KEY, year INTEGER NOT NULL, name TEXT, amount NUMERIC,
				day DATE, at TIMESTAMP, score REAL, flag INTEGER, code TEXT,
				CONSTRAINT bulk_items_code_key UNIQUE (code))`,
			`CREATE INDEX bulk_items_name ON bulk_items (name)`,
			`CREATE TABLE bulk_tags (id TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (id, tag))`,
			`CREATE TABLE bulk_audit (id TEXT)`,
			`CREATE TRIGGER bulk_items_audit AFTER INSERT ON bulk_items BEGIN INSERT INTO bulk_audit VALUES (NEW.id); END`,
		},
	}
	for _, q := range stmts[d.Dialect] {
		if _, err := d.SQL.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

var (
	bulkItems = store.Table{Name: "bulk_items", Columns: []string{"id", "year", "name", "amount", "day", "at", "score", "flag", "code"}}
	bulkTags  = store.Table{Name: "bulk_tags", Columns: []string{"id", "tag"}}
)

type bulkItem struct {
	ID     string
	Year   int64
	Name   sql.NullString
	Amount sql.NullString
	Day    sql.NullTime
	At     sql.NullTime
	Score  sql.NullFloat64
	Flag   sql.NullBool
}

func bulkRows(t *testing.T, d *db.DB, where string, args ...any) []bulkItem {
	t.Helper()
	rows, err := d.SQL.Query(`SELECT id, year, name, CAST(amount AS TEXT), day, at, score, flag FROM bulk_items `+where+` ORDER BY id`, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []bulkItem
	for rows.Next() {
		var it bulkItem
		if err := rows.Scan(&it.ID, &it.Year, &it.Name, &it.Amount, &it.Day, &it.At, &it.Score, &it.Flag); err != nil {
			t.Fatal(err)
		}
		if it.Day.Valid {
			it.Day.Time = it.Day.Time.UTC()
		}
		if it.At.Valid {
			it.At.Time = it.At.Time.UTC()
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func bulkCount(t *testing.T, d *db.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := d.SQL.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// bulkIDs returns the ids in bulk_items.
func bulkIDs(t *testing.T, d *db.DB) string {
	t.Helper()
	var ids []string
	for _, it := range bulkRows(t, d, "") {
		ids = append(ids, it.ID)
	}
	return strings.Join(ids, ",")
}

// stagingTables lists the staging tables in the database.
func stagingTables(t *testing.T, d *db.DB) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%stg%' ORDER BY name`
	if d.Dialect == db.Postgres {
		q = `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE '%stg%' ORDER BY tablename`
	}
	rows, err := d.SQL.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// indexNames lists the indexes of a table that have a definition.
func indexNames(t *testing.T, d *db.DB, table string) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 ORDER BY name`
	if d.Dialect == db.Postgres {
		q = `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1 ORDER BY indexname`
	}
	rows, err := d.SQL.Query(q, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func loadItems(ctx context.Context, s *store.Store, opts store.ReplaceOptions, items [][]any, finalize func(*db.Tx) error) error {
	rep, err := s.BeginReplace(ctx, []store.Table{bulkItems}, opts)
	if err != nil {
		return err
	}
	defer rep.Abort()
	w := rep.Writer("bulk_items")
	for _, it := range items {
		if err := w.Write(it...); err != nil {
			return err
		}
	}
	return rep.Commit(ctx, finalize)
}

func item(id string, year int64, name string) []any {
	return []any{id, year, name, nil, nil, nil, nil, nil, nil}
}

func TestReplaceRoundTrip(t *testing.T) {
	day := time.Date(2005, 5, 23, 0, 0, 0, 0, time.UTC)
	at := time.Date(2024, 3, 1, 12, 30, 15, 123456000, time.UTC)
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		bulkSchema(t, d)
		s := store.New(d)
		weird := "tab\there\nnew line \\ back\\slash \"quoted\" 'single' é 漢字 \r"
		err := loadItems(ctx, s, store.ReplaceOptions{}, [][]any{
			{"a", int64(2024), weird, "1234.50", day, at, 3.25, true, []byte("C1")},
			{"b", 2023, []byte("bytes"), nil, nil, nil, float64(-0.5), false, nil},
			{"c", int32(2022), []byte(nil), "0", nil, nil, nil, nil, ""},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []bulkItem{
			{ID: "a", Year: 2024, Name: sql.NullString{String: weird, Valid: true}, Amount: sql.NullString{String: "1234.50", Valid: true},
				Day: sql.NullTime{Time: day, Valid: true}, At: sql.NullTime{Time: at, Valid: true},
				Score: sql.NullFloat64{Float64: 3.25, Valid: true}, Flag: sql.NullBool{Bool: true, Valid: true}},
			{ID: "b", Year: 2023, Name: sql.NullString{String: "bytes", Valid: true},
				Score: sql.NullFloat64{Float64: -0.5, Valid: true}, Flag: sql.NullBool{Valid: true}},
			{ID: "c", Year: 2022, Amount: sql.NullString{String: "0", Valid: true}},
		}
		if d.Dialect == db.Postgres {
			want[2].Amount.String = "0.00" // NUMERIC(12,2)
		} else {
			want[0].Amount.String = "1234.5" // NUMERIC affinity makes it a REAL
		}
		if diff := cmp.Diff(want, bulkRows(t, d, "")); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
		if n := bulkCount(t, d, "SELECT COUNT(*) FROM bulk_items WHERE code = ''"); n != 1 {
			t.Errorf("empty string stored as NULL: %d rows with code ''", n)
		}
		// The live names of indexes and constraints are back, and they work.
		wantIdx := []string{"bulk_items_code_key", "bulk_items_name", "bulk_items_pkey"}
		if d.Dialect == db.SQLite {
			wantIdx = []string{"bulk_items_name", "sqlite_autoindex_bulk_items_1", "sqlite_autoindex_bulk_items_2"}
		}
		if diff := cmp.Diff(wantIdx, indexNames(t, d, "bulk_items")); diff != "" {
			t.Errorf("indexes (-want +got):\n%s", diff)
		}
		if _, err := d.SQL.Exec(`INSERT INTO bulk_items (id, year) VALUES ('a', 1)`); !db.IsUniqueViolation(err) {
			t.Errorf("duplicate primary key after the swap: err = %v", err)
		}
		if _, err := d.SQL.Exec(`INSERT INTO bulk_items (id, year, code) VALUES ('z', 1, 'C1')`); !db.IsUniqueViolation(err) {
			t.Errorf("duplicate unique code after the swap: err = %v", err)
		}
		// The trigger was carried over (and did not fire for bulk rows).
		if n := bulkCount(t, d, "SELECT COUNT(*) FROM bulk_audit"); n != 0 {
			t.Errorf("trigger fired %d times during the bulk load", n)
		}
		if _, err := d.SQL.Exec(`INSERT INTO bulk_items (id, year) VALUES ('t', 1)`); err != nil {
			t.Fatal(err)
		}
		if n := bulkCount(t, d, "SELECT COUNT(*) FROM bulk_audit WHERE id = 't'"); n != 1 {
			t.Errorf("trigger lost in the swap")
		}
		if got := stagingTables(t, d); len(got) != 0 {
			t.Errorf("staging tables left: %v", got)
		}
	})
}

func TestReplaceAtomic(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		bulkSchema(t, d)
		s := store.New(d)
		if err := loadItems(ctx, s, store.ReplaceOptions{}, [][]any{item("a", 1, "x"), item("b", 1, "y")}, nil); err != nil {
			t.Fatal(err)
		}

		// While a load is staged, readers see the previous version.
		rep, err := s.BeginReplace(ctx, []store.Table{bulkItems}, store.ReplaceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 25_000 { // several batches and SQLite transactions
			if err := rep.Writer("bulk_items").Write(item(fmt.Sprintf("n%05d", i), 2, "z")...); err != nil {
				t.Fatal(err)
			}
		}
		if err := rep.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := bulkIDs(t, d); got != "a,b" {
			t.Errorf("during the load readers see %q, want the previous version a,b", got)
		}
		if n := bulkCount(t, d, "SELECT COUNT(*) FROM "+rep.StagingTable("bulk_items")); n != 25_000 || rep.Rows("bulk_items") != 25_000 {
			t.Errorf("staged %d rows, counted %d, want 25000", n, rep.Rows("bulk_items"))
		}
		// A finalize error rolls the swap back.
		boom := errors.New("boom")
		if err := rep.Commit(ctx, func(tx *db.Tx) error {
			if _, err := tx.Exec(`INSERT INTO dataset_versions (dataset, source_file, started_at, status) VALUES ('x', 'f', $1, 'succeeded')`, time.Now().UTC()); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatalf("Commit = %v, want boom", err)
		}
		rep.Abort()
		rep.Abort() // twice is fine
		if got := bulkIDs(t, d); got != "a,b" {
			t.Errorf("after a failed commit: %q, want a,b", got)
		}
		if n := bulkCount(t, d, "SELECT COUNT(*) FROM dataset_versions"); n != 0 {
			t.Errorf("finalize's write survived the rollback")
		}
		if got := stagingTables(t, d); len(got) != 0 {
			t.Errorf("staging tables left after Abort: %v", got)
		}

		// A row the database refuses (NULL in a NOT NULL column) fails the
		// load, and the previous version stays.
		err = loadItems(ctx, s, store.ReplaceOptions{}, [][]any{item("c", 1, "x"), {"d", nil, nil, nil, nil, nil, nil, nil, nil}}, nil)
		if err == nil {
			t.Fatal("load with a NULL year succeeded")
		}
		if got := bulkIDs(t, d); got != "a,b" {
			t.Errorf("after a failed load: %q, want a,b", got)
		}
		// A value of an unsupported type is refused by Write.
		err = loadItems(ctx, s, store.ReplaceOptions{}, [][]any{{"e", 1, struct{}{}, nil, nil, nil, nil, nil, nil}}, nil)
		if err == nil || !strings.Contains(err.Error(), "unsupported value type struct {}") {
			t.Errorf("Write of a struct: %v", err)
		}
		if err := loadItems(ctx, s, store.ReplaceOptions{}, [][]any{{"e", 1}}, nil); err == nil || !strings.Contains(err.Error(), "2 values for 9 columns") {
			t.Errorf("Write with too few values: %v", err)
		}

		// A successful second load replaces the first, with finalize in the
		// same transaction.
		err = loadItems(ctx, s, store.ReplaceOptions{}, [][]any{item("c", 1, "x")}, func(tx *db.Tx) error {
			_, err := tx.Exec(`INSERT INTO dataset_versions (dataset, source_file, started_at, status) VALUES ('x', 'f', $1, 'succeeded')`, time.Now().UTC())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := bulkIDs(t, d); got != "c" {
			t.Errorf("after the second load: %q, want c", got)
		}
		if n := bulkCount(t, d, "SELECT COUNT(*) FROM dataset_versions"); n != 1 {
			t.Errorf("dataset_versions rows = %d, want 1", n)
		}
		if got := stagingTables(t, d); len(got) != 0 {
			t.Errorf("staging tables left: %v", got)
		}
	})
}

func TestReplaceScopedAndKeyed(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		bulkSchema(t, d)
		s := store.New(d)
		if err := loadItems(ctx, s, store.ReplaceOptions{}, [][]any{item("a", 2023, "x"), item("b", 2024, "y"), item("c", 2024, "z")}, nil); err != nil {
			t.Fatal(err)
		}
		// Scoped: only year 2024 is replaced.
		if err := loadItems(ctx, s, store.ReplaceOptions{ScopeColumn: "year", ScopeValue: int64(2024)},
			[][]any{item("d", 2024, "new")}, nil); err != nil {
			t.Fatal(err)
		}
		if got := bulkIDs(t, d); got != "a,d" {
			t.Errorf("after replacing 2024: %q, want a,d", got)
		}

		// Keyed: the staged ids of the first table replace those ids in
		// every table; other ids stay.
		load := func(items [][]any, tags [][]any) error {
			rep, err := s.BeginReplace(ctx, []store.Table{bulkItems, bulkTags}, store.ReplaceOptions{KeyColumn: "id"})
			if err != nil {
				return err
			}
			defer rep.Abort()
			for _, it := range items {
				if err := rep.Writer("bulk_items").Write(it...); err != nil {
					return err
				}
			}
			for _, tg := range tags {
				if err := rep.Writer("bulk_tags").Write(tg...); err != nil {
					return err
				}
			}
			return rep.Commit(ctx, nil)
		}
		if err := load([][]any{item("a", 2023, "x")}, [][]any{{"a", "t1"}, {"a", "t2"}}); err != nil {
			t.Fatal(err)
		}
		if err := load([][]any{item("a", 2025, "changed"), item("e", 2025, "added")}, [][]any{{"e", "t3"}}); err != nil {
			t.Fatal(err)
		}
		got := bulkRows(t, d, "")
		var summary []string
		for _, it := range got {
			summary = append(summary, fmt.Sprintf("%s/%d/%s", it.ID, it.Year, it.Name.String))
		}
		if diff := cmp.Diff([]string{"a/2025/changed", "d/2024/new", "e/2025/added"}, summary); diff != "" {
			t.Errorf("after the keyed loads (-want +got):\n%s", diff)
		}
		if n := bulkCount(t, d, "SELECT COUNT(*) FROM bulk_tags WHERE id = 'a'"); n != 0 {
			t.Errorf("tags of a were not replaced: %d left", n)
		}
		if n := bulkCount(t, d, "SELECT COUNT(*) FROM bulk_tags WHERE id = 'e'"); n != 1 {
			t.Errorf("tags of e: %d, want 1", n)
		}
		if got := stagingTables(t, d); len(got) != 0 {
			t.Errorf("staging tables left: %v", got)
		}
	})
}

func TestBeginReplaceRefuses(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		bulkSchema(t, d)
		s := store.New(d)
		tests := []struct {
			name   string
			tables []store.Table
			opts   store.ReplaceOptions
			want   string
		}{
			{"no table", nil, store.ReplaceOptions{}, "no tables"},
			{"unknown table", []store.Table{{Name: "nope", Columns: []string{"a"}}}, store.ReplaceOptions{}, "table nope does not exist"},
			{"unknown column", []store.Table{{Name: "bulk_items", Columns: []string{"id", "colour"}}}, store.ReplaceOptions{}, "table bulk_items has no column colour"},
			{"unknown scope column", []store.Table{bulkItems}, store.ReplaceOptions{ScopeColumn: "era", ScopeValue: 1}, "table bulk_items has no column era"},
			{"bad identifier", []store.Table{{Name: "bulk_items; DROP TABLE x", Columns: []string{"id"}}}, store.ReplaceOptions{}, "bad table name"},
		}
		for _, tt := range tests {
			_, err := s.BeginReplace(ctx, tt.tables, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
			}
		}
		if got := stagingTables(t, d); len(got) != 0 {
			t.Errorf("staging tables left: %v", got)
		}
	})
}

func TestDropStaleStaging(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		bulkSchema(t, d)
		s := store.New(d)
		// A killed load left a staging table (and, on SQLite, a heartbeat
		// that stopped long ago).
		if _, err := d.SQL.Exec(`CREATE TABLE bulk_items__stg_0badf00d (id TEXT)`); err != nil {
			t.Fatal(err)
		}
		if d.Dialect == db.SQLite {
			if _, err := d.SQL.Exec(`INSERT INTO bulk_loads (token, heartbeat_at) VALUES ('0badf00d', $1)`, time.Now().Add(-time.Hour).Unix()); err != nil {
				t.Fatal(err)
			}
		}
		// A load in progress keeps its staging table.
		rep, err := s.BeginReplace(ctx, []store.Table{bulkItems}, store.ReplaceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer rep.Abort()
		if err := rep.Writer("bulk_items").Write(item("a", 1, "x")...); err != nil {
			t.Fatal(err)
		}
		if err := s.DropStaleStaging(ctx); err != nil {
			t.Fatal(err)
		}
		// The stale table is gone; the running load's table (visible on
		// SQLite; on PostgreSQL it is created in the COPY's transaction and
		// invisible until the rows are in) is kept.
		for _, n := range stagingTables(t, d) {
			if n != rep.StagingTable("bulk_items") {
				t.Errorf("staging table %s left by DropStaleStaging", n)
			}
		}
		if d.Dialect == db.SQLite && len(stagingTables(t, d)) != 1 {
			t.Errorf("the running load's staging table was dropped")
		}
		// Once flushed, the running load's table is visible on both engines
		// and still kept.
		if err := rep.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.DropStaleStaging(ctx); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{rep.StagingTable("bulk_items")}, stagingTables(t, d)); diff != "" {
			t.Errorf("staging tables after DropStaleStaging (-want +got):\n%s", diff)
		}
		if err := rep.Commit(ctx, nil); err != nil {
			t.Fatalf("the running load was disturbed: %v", err)
		}
		if got := bulkIDs(t, d); got != "a" {
			t.Errorf("ids = %q, want a", got)
		}
	})
}

func TestReplaceCancelled(t *testing.T) {
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		bulkSchema(t, d)
		s := store.New(d)
		if err := loadItems(context.Background(), s, store.ReplaceOptions{}, [][]any{item("a", 1, "x")}, nil); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		rep, err := s.BeginReplace(ctx, []store.Table{bulkItems}, store.ReplaceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer rep.Abort()
		cancel()
		var werr error
		for i := 0; i < 100_000 && werr == nil; i++ {
			werr = rep.Writer("bulk_items").Write(item(fmt.Sprint(i), 1, "y")...)
		}
		if werr == nil {
			werr = rep.Commit(ctx, nil)
		}
		if werr == nil {
			t.Fatal("a cancelled load committed")
		}
		rep.Abort()
		if got := bulkIDs(t, d); got != "a" {
			t.Errorf("after a cancelled load: %q, want a", got)
		}
		if got := stagingTables(t, d); len(got) != 0 {
			t.Errorf("staging tables left: %v", got)
		}
	})
}

func TestReplaceBuilder(t *testing.T) {
	day := time.Date(2005, 5, 23, 0, 0, 0, 0, time.UTC)
	at := time.Date(2024, 3, 1, 12, 30, 15, 120000000, time.FixedZone("EST", -5*3600))
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		rep := itemsReplace(t, d)
		b := rep.Builder("bulk_items")
		name := []byte("tab\there \\ é")
		b.String("a")
		b.Int(2024)
		b.Bytes(name)
		b.String("12.50")
		b.Time(day)
		b.Time(at)
		b.Float(1.5)
		b.Bool(true)
		b.Bytes([]byte("C1"))
		name[0] = 'X' // the builder copied the bytes
		if err := b.End(); err != nil {
			t.Fatal(err)
		}
		// A row with too few values is refused and dropped.
		b.String("short")
		b.Int(1)
		if err := b.End(); err == nil || !strings.Contains(err.Error(), "2 values for 9 columns") {
			t.Errorf("End of a short row: %v", err)
		}
		// NULLs: nil bytes, the zero time, Null.
		b.String("b")
		b.Int(2023)
		b.Bytes(nil)
		b.Null()
		b.Time(time.Time{})
		b.Null()
		b.Null()
		b.Bool(false)
		b.Null()
		if err := b.End(); err != nil {
			t.Fatal(err)
		}
		// Writer and Builder write to the same table.
		if err := rep.Writer("bulk_items").Write(item("c", 2022, "w")...); err != nil {
			t.Fatal(err)
		}
		b.String("d")
		if err := rep.Writer("bulk_items").Write(item("e", 1, "x")...); err == nil {
			t.Error("Write in the middle of a built row succeeded")
		}
		b.Int(1)
		for range 7 {
			b.Null()
		}
		if err := b.End(); err != nil {
			t.Fatal(err)
		}
		if got := rep.Builder("nope").End(); got == nil {
			t.Error("Builder of an unknown table")
		}
		if err := rep.Commit(ctx, nil); err != nil {
			t.Fatal(err)
		}
		want := []bulkItem{
			{ID: "a", Year: 2024, Name: sql.NullString{String: "tab\there \\ é", Valid: true}, Amount: sql.NullString{String: "12.50", Valid: true},
				Day: sql.NullTime{Time: day, Valid: true}, At: sql.NullTime{Time: at.UTC(), Valid: true},
				Score: sql.NullFloat64{Float64: 1.5, Valid: true}, Flag: sql.NullBool{Bool: true, Valid: true}},
			{ID: "b", Year: 2023, Flag: sql.NullBool{Valid: true}},
			{ID: "c", Year: 2022, Name: sql.NullString{String: "w", Valid: true}},
			{ID: "d", Year: 1},
		}
		if d.Dialect == db.SQLite {
			want[0].Amount.String = "12.5" // NUMERIC affinity
		}
		if diff := cmp.Diff(want, bulkRows(t, d, "")); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
	})
}

// sqliteSettings reads the writer connection's settings that a load
// changes and must give back.
func sqliteSettings(t *testing.T, d *db.DB) string {
	t.Helper()
	var sync, cache, ckpt int
	for q, dst := range map[string]*int{"PRAGMA synchronous": &sync, "PRAGMA cache_size": &cache, "PRAGMA wal_autocheckpoint": &ckpt} {
		if err := d.SQL.QueryRow(q).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Sprintf("synchronous=%d cache_size=%d wal_autocheckpoint=%d", sync, cache, ckpt)
}

// TestReplaceRestoresSQLiteSettings checks that a load on SQLite gives the
// shared connection back as it found it: full durability, the default
// page cache (db.Open's 64 MiB) and automatic WAL checkpoints, after a commit and after an
// abort.
func TestReplaceRestoresSQLiteSettings(t *testing.T) {
	d := dbtest.SQLite(t, claimsSets...)
	bulkSchema(t, d)
	s := store.New(d)
	ctx := context.Background()
	before := sqliteSettings(t, d)
	if before != "synchronous=2 cache_size=-16384 wal_autocheckpoint=16384" { // db.Open's settings
		t.Fatalf("unexpected defaults: %s", before)
	}
	items := make([][]any, 30_000) // several transactions and a checkpoint
	for i := range items {
		items[i] = item(fmt.Sprintf("n%05d", i), 1, "x")
	}
	if err := loadItems(ctx, s, store.ReplaceOptions{}, items, nil); err != nil {
		t.Fatal(err)
	}
	if got := sqliteSettings(t, d); got != before {
		t.Errorf("after a load: %s, want %s", got, before)
	}
	rep, err := s.BeginReplace(ctx, []store.Table{bulkItems}, store.ReplaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if err := rep.Writer("bulk_items").Write(it...); err != nil {
			t.Fatal(err)
		}
	}
	rep.Abort()
	if got := sqliteSettings(t, d); got != before {
		t.Errorf("after an aborted load: %s, want %s", got, before)
	}
	// A row the database refuses fails the sink's transaction mid-load.
	bad := append(items[:20_000:20_000], []any{"bad", nil, nil, nil, nil, nil, nil, nil, nil})
	if err := loadItems(ctx, s, store.ReplaceOptions{}, bad, nil); err == nil || !strings.Contains(err.Error(), "NOT NULL") {
		t.Errorf("load with a NULL year: %v, want a NOT NULL failure", err)
	}
	if got := sqliteSettings(t, d); got != before {
		t.Errorf("after a failed load: %s, want %s", got, before)
	}
	if n := bulkCount(t, d, "SELECT COUNT(*) FROM bulk_items"); n != 30_000 {
		t.Errorf("rows = %d", n)
	}
}

// TestOverlappingLoadsRestoreSQLiteSettings checks that two loads running
// at once in one process (the workers run two jobs at a time) give the
// SQLite connection back with db.Open's settings whichever ends last:
// the second used to save the first's load settings as the ones to
// restore, and left the connection with a 2 MB page cache and a WAL
// checkpoint every 1000 pages. (The settings are SQLite's: on PostgreSQL
// each load has its own connections.)
func TestOverlappingLoadsRestoreSQLiteSettings(t *testing.T) {
	d := dbtest.SQLite(t, claimsSets...)
	bulkSchema(t, d)
	s := store.New(d)
	ctx := context.Background()
	before := sqliteSettings(t, d)
	for _, order := range []string{"first begun ends first", "first begun ends last"} {
		a, err := s.BeginReplace(ctx, []store.Table{bulkItems}, store.ReplaceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.BeginReplace(ctx, []store.Table{bulkItems}, store.ReplaceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		first, last := a, b
		if order == "first begun ends last" {
			first, last = b, a
		}
		// One load after the other: a load's sink holds the single
		// connection between its batches, so this goroutine cannot feed
		// both at once.
		for _, rep := range []*store.Replace{first, last} {
			for i := 0; i < 300; i++ {
				if err := rep.Writer("bulk_items").Write(item(fmt.Sprintf("n%03d", i), 1, "x")...); err != nil {
					t.Fatal(err)
				}
			}
			if err := rep.Commit(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}
		if got := sqliteSettings(t, d); got != before {
			t.Errorf("%s: after both loads: %s, want %s", order, got, before)
		}
		if n := bulkCount(t, d, "SELECT COUNT(*) FROM bulk_items"); n != 300 {
			t.Errorf("%s: rows = %d, want the last load's 300", order, n)
		}
	}
}

// sqliteItemsLoad begins a load of bulk_items into a new SQLite database;
// the load is aborted at the test's end unless committed.
func sqliteItemsLoad(t *testing.T) (*db.DB, *store.Replace) {
	t.Helper()
	d := dbtest.SQLite(t, claimsSets...)
	return d, itemsReplace(t, d)
}

// itemsReplace creates bulk_items in d and begins a load of it, aborted
// when the test ends (a no-op once committed).
func itemsReplace(t *testing.T, d *db.DB) *store.Replace {
	t.Helper()
	bulkSchema(t, d)
	rep, err := store.New(d).BeginReplace(context.Background(), []store.Table{bulkItems}, store.ReplaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rep.Abort)
	return rep
}

// TestSQLiteLoadStallReleasesWriter checks that a SQLite load whose source
// stalls (a remote file arriving slowly) commits what it has and gives the
// application's one writer connection back, instead of holding it until
// a whole transaction's rows arrive: an API write made meanwhile goes
// through. (It waited for the source before; the 5 s bound only keeps a
// broken build from hanging the test.)
func TestSQLiteLoadStallReleasesWriter(t *testing.T) {
	d, rep := sqliteItemsLoad(t)
	ctx := context.Background()
	w := rep.Writer("bulk_items")
	for i := range 500 { // a few full statements' worth, far from a transaction's
		if err := w.Write(item(fmt.Sprintf("a%05d", i), 1, "x")...); err != nil {
			t.Fatal(err)
		}
	}
	// The source stalls here.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := d.SQL.ExecContext(wctx, "CREATE TABLE stall_probe (x INTEGER)"); err != nil {
		t.Fatalf("an application write while the load's source stalls: %v", err)
	}
	for i := 500; i < 1000; i++ {
		if err := w.Write(item(fmt.Sprintf("a%05d", i), 1, "x")...); err != nil {
			t.Fatal(err)
		}
	}
	if err := rep.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n := bulkCount(t, d, "SELECT COUNT(*) FROM bulk_items"); n != 1000 {
		t.Errorf("rows = %d, want 1000", n)
	}
}

// Thousands of rows go through many batches, which the SQLite sink hands
// back to the writer for reuse once inserted: every row arrives intact,
// none carries another's text. The parser's buffer is reused between rows
// too, as the loaders' is.
func TestReplaceManyBatches(t *testing.T) {
	const n = 5000
	base := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	dbtest.Each(t, claimsSets, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		rep := itemsReplace(t, d)
		b, w := rep.Builder("bulk_items"), rep.Writer("bulk_items")
		var buf []byte
		for i := range n {
			id := fmt.Sprintf("id%05d", i)
			buf = fmt.Appendf(buf[:0], "name %d %s", i, strings.Repeat("x", i%50))
			var err error
			if i%7 == 0 { // the Writer's path, with its own values
				err = w.Write(id, int64(i), string(buf), nil, base.AddDate(0, 0, i), nil, float64(i)/4, i%2 == 0, []byte(id))
			} else {
				b.String(id)
				b.Int(int64(i))
				b.Bytes(buf)
				b.Null()
				b.Time(base.AddDate(0, 0, i))
				b.Null()
				b.Float(float64(i) / 4)
				b.Bool(i%2 == 0)
				b.Bytes([]byte(id))
				err = b.End()
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := rep.Commit(ctx, nil); err != nil {
			t.Fatal(err)
		}
		got := bulkRows(t, d, "")
		if len(got) != n {
			t.Fatalf("%d rows, want %d", len(got), n)
		}
		for i, it := range got {
			want := bulkItem{
				ID: fmt.Sprintf("id%05d", i), Year: int64(i),
				Name:  sql.NullString{String: fmt.Sprintf("name %d %s", i, strings.Repeat("x", i%50)), Valid: true},
				Day:   sql.NullTime{Time: base.AddDate(0, 0, i), Valid: true},
				Score: sql.NullFloat64{Float64: float64(i) / 4, Valid: true},
				Flag:  sql.NullBool{Bool: i%2 == 0, Valid: true},
			}
			if diff := cmp.Diff(want, it); diff != "" {
				t.Fatalf("row %d (-want +got):\n%s", i, diff)
			}
		}
		if m := bulkCount(t, d, "SELECT COUNT(*) FROM bulk_items WHERE code = id"); m != n {
			t.Errorf("%d rows with their own code, want %d", m, n)
		}
	})
}

// A SQLite load commits every few thousand rows while its source keeps
// flowing, so that the API's writes wait at most one such transaction and
// the checkpointer can copy the load's pages as it goes. The rows
// committed are seen from another connection before the load ends.
func TestSQLiteLoadCommitsAsItGoes(t *testing.T) {
	d, rep := sqliteItemsLoad(t)
	ctx := context.Background()
	count := "SELECT COUNT(*) FROM " + rep.StagingTable("bulk_items")
	seen := make(chan struct{})
	go func() {
		defer close(seen)
		for {
			var n int
			if err := d.Read.QueryRow(count).Scan(&n); err == nil && n > 0 {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	w := rep.Writer("bulk_items")
	const most = 2_000_000 // a load far longer than its first transactions
	wrote := 0
writing:
	for ; wrote < most; wrote++ {
		if wrote%1000 == 0 {
			select {
			case <-seen:
				break writing
			default:
			}
		}
		if err := w.Write(item(fmt.Sprintf("a%07d", wrote), 1, "x")...); err != nil {
			t.Fatal(err)
		}
	}
	if wrote == most {
		t.Fatalf("no committed row seen from another connection while %d rows were written", most)
	}
	if err := rep.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n := bulkCount(t, d, "SELECT COUNT(*) FROM bulk_items"); n != wrote {
		t.Errorf("rows = %d, want %d", n, wrote)
	}
}

// TestSQLiteSwapMapsABoundedPartOfTheFile: the swap reads the staging
// tables through mmap while it builds their indexes, and every mapped page
// it reads stays in the process's resident set. With the whole file mapped
// (4 GiB), the peak RSS of `medsales ingest nppes` grew with the database:
// 1.43 GB for 3M providers. The swap maps at most 256 MiB (355 MB peak for
// the same load), and the shared writer connection maps nothing afterwards.
func TestSQLiteSwapMapsABoundedPartOfTheFile(t *testing.T) {
	d, rep := sqliteItemsLoad(t)
	ctx := context.Background()
	w := rep.Writer("bulk_items")
	for i := range 100 {
		if err := w.Write(item(fmt.Sprintf("a%05d", i), 1, "x")...); err != nil {
			t.Fatal(err)
		}
	}
	var during int64
	err := rep.Commit(ctx, func(tx *db.Tx) error {
		return tx.QueryRowContext(ctx, "PRAGMA mmap_size").Scan(&during)
	})
	if err != nil {
		t.Fatal(err)
	}
	if during <= 0 || during > 256<<20 {
		t.Errorf("the swap ran with mmap_size %d, want at most 256 MiB and more than 0", during)
	}
	var after int64
	if err := d.SQL.QueryRowContext(ctx, "PRAGMA mmap_size").Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != 0 {
		t.Errorf("the writer connection keeps mmap_size %d after the swap, want 0", after)
	}
}

// TestAbortIsBoundedWhenTheDatabaseStalls stalls the connection to
// PostgreSQL in the middle of a load and aborts it, as an operator's
// Ctrl-C does: Abort gives up on the database after its budget (10 s)
// instead of waiting a minute for the staging tables' DROP and 30 s more
// to end the claim (QA: two minutes from Ctrl-C to the exit).
func TestAbortIsBoundedWhenTheDatabaseStalls(t *testing.T) {
	d, proxy := dbtest.StallablePostgres(t, db.Options{MaxConns: 10, CloseTimeout: 500 * time.Millisecond}, claimsSets...)
	bulkSchema(t, d)
	s := store.New(d)
	ctx := context.Background()
	rep, err := s.BeginReplace(ctx, []store.Table{bulkItems}, store.ReplaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := rep.Writer("bulk_items")
	for i := range 100 {
		if err := w.Write(item(fmt.Sprint("id-", i), 2024, "x")...); err != nil {
			t.Fatal(err)
		}
	}
	proxy.Stall()
	aborted := make(chan struct{})
	go func() {
		rep.Abort()
		close(aborted)
	}()
	select {
	case <-aborted:
	case <-time.After(30 * time.Second):
		t.Fatal("Abort did not return within 30 s with the database stalled")
	}
}
