package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"

	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
)

// The yearly tables are LIST-partitioned on PostgreSQL (migration
// 00006_claims_partitions) and a load of one year swaps its partition.

// partitions returns a partitioned table's partitions as "name bound",
// sorted by name.
func partitions(t *testing.T, d *db.DB, table string) []string {
	t.Helper()
	rows, err := d.SQL.Query(`
		SELECT c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid)
		FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
		WHERE h.inhparent = $1::regclass ORDER BY c.relname`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// relkind returns the pg_class kind of a table: "p" partitioned, "r" plain.
func relkind(t *testing.T, d *db.DB, table string) string {
	t.Helper()
	var k string
	if err := d.SQL.QueryRow(`SELECT relkind::text FROM pg_class WHERE oid = $1::regclass`, table).Scan(&k); err != nil {
		t.Fatal(err)
	}
	return k
}

// checkPartitionIndexes checks that every partition of table has exactly
// one index per index of the parent, attached to it (pg_inherits), and
// named <partition><suffix of the parent's index>: ATTACH adopted the
// indexes built on the staging table instead of building a second set.
func checkPartitionIndexes(t *testing.T, d *db.DB, table string) {
	t.Helper()
	parentIdx := indexNames(t, d, table)
	if len(parentIdx) == 0 {
		t.Fatalf("%s has no index", table)
	}
	for _, p := range partitions(t, d, table) {
		part, _, _ := strings.Cut(p, " ")
		var want []string
		for _, ix := range parentIdx {
			want = append(want, part+strings.TrimPrefix(ix, table))
		}
		if diff := cmp.Diff(want, indexNames(t, d, part)); diff != "" {
			t.Errorf("indexes of %s (-want +got):\n%s", part, diff)
		}
	}
	for _, ix := range parentIdx {
		n := bulkCount(t, d, `SELECT COUNT(*) FROM pg_inherits WHERE inhparent = $1::regclass`, ix)
		if want := len(partitions(t, d, table)); n != want {
			t.Errorf("index %s has %d attached partition indexes, want %d", ix, n, want)
		}
	}
	// No CHECK constraint of a staging table is left on a partition.
	n := bulkCount(t, d, `SELECT COUNT(*) FROM pg_constraint c JOIN pg_inherits h ON h.inhrelid = c.conrelid
		WHERE h.inhparent = $1::regclass AND c.contype = 'c'`, table)
	if n != 0 {
		t.Errorf("%s: %d CHECK constraints left on partitions", table, n)
	}
}

// yearly is one of the yearly datasets and a file of a year for it; the
// variant changes the rows.
type yearly struct {
	table string
	load  loader
	file  func(t testing.TB, year int, variant string) []byte
}

var yearlyDatasets = []yearly{
	{"partd_drugs", (*store.Store).LoadPartD, func(t testing.TB, year int, v string) []byte {
		return []byte(partDHeader + partDRow(npiA, "Zestril "+v, 500) + partDRow(npiB, "Norvasc "+v, 20))
	}},
	{"partb_services", (*store.Store).LoadPartB, func(t testing.TB, year int, v string) []byte {
		header, rest, _ := strings.Cut(string(sampleFile(t, partBSample)), "\n")
		row, _, _ := strings.Cut(rest, "\n")
		return []byte(header + "\n" + strings.Replace(row, ",120,250,250,", ",120,25"+v+",250,", 1) + "\n")
	}},
	{"open_payments", (*store.Store).LoadOpenPayments, func(t testing.TB, year int, v string) []byte {
		return []byte(opHeader +
			opRow("7000000"+v, year, npiA, "Pfizer Inc.", "10", fmt.Sprintf("01/02/%d", year), 1) +
			opRow("7100000"+v, year, npiB, "Merck", "20", fmt.Sprintf("01/03/%d", year), 2))
	}},
}

func TestPartitionSwap(t *testing.T) {
	d := dbtest.Postgres(t, claimsSets...)
	s := store.New(d)
	for _, ds := range yearlyDatasets {
		t.Run(ds.table, func(t *testing.T) {
			if k := relkind(t, d, ds.table); k != "p" {
				t.Fatalf("%s relkind = %q, want p (partitioned)", ds.table, k)
			}
			in := func(year int) store.LoadInput {
				return store.LoadInput{DataYear: year, MaxRejectRatio: 0.5}
			}
			col := "data_year"
			if ds.table == "open_payments" {
				col = "program_year"
			}
			mustLoad(t, s, ds.load, "first-2023.csv", ds.file(t, 2023, "1"), in(2023))
			mustLoad(t, s, ds.load, "first-2024.csv", ds.file(t, 2024, "2"), in(2024))
			before2024 := dump(t, s, ds.table+" WHERE "+col+" = 2024")
			first2023 := dump(t, s, ds.table+" WHERE "+col+" = 2023")
			mustLoad(t, s, ds.load, "second-2023.csv", ds.file(t, 2023, "3"), in(2023))

			if diff := cmp.Diff(before2024, dump(t, s, ds.table+" WHERE "+col+" = 2024")); diff != "" {
				t.Errorf("2024 changed by the 2023 reload (-before +after):\n%s", diff)
			}
			after2023 := dump(t, s, ds.table+" WHERE "+col+" = 2023")
			if len(after2023) == 0 || cmp.Equal(first2023, after2023) {
				t.Errorf("2023 not replaced: %q", after2023)
			}
			want := []string{ds.table + "_y2023 FOR VALUES IN (2023)", ds.table + "_y2024 FOR VALUES IN (2024)"}
			if diff := cmp.Diff(want, partitions(t, d, ds.table)); diff != "" {
				t.Errorf("partitions (-want +got):\n%s", diff)
			}
			checkPartitionIndexes(t, d, ds.table)
			if got := stagingTables(t, d); len(got) != 0 {
				t.Errorf("staging tables left: %v", got)
			}
		})
	}
	// Readers read across partitions.
	lines, err := s.TopDrugs(context.Background(), npiA, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0].DataYear != 2024 || lines[0].BrandName != "Zestril 2" {
		t.Errorf("TopDrugs = %+v, want the 2024 Zestril line", lines)
	}
	totals, err := s.PaymentTotals(context.Background(), npiA)
	if err != nil {
		t.Fatal(err)
	}
	if len(totals) != 2 || totals[0].Year != 2024 || totals[1].Year != 2023 {
		t.Errorf("PaymentTotals = %+v, want 2024 and 2023", totals)
	}
	// The unique index holds across the swap: a record of 2024 cannot be
	// inserted twice.
	if _, err := d.SQL.Exec(`INSERT INTO open_payments (record_id, amount, program_year) VALUES ('71000002', 1, 2024)`); !db.IsUniqueViolation(err) {
		t.Errorf("duplicate record_id in a swapped partition: err = %v", err)
	}
}

func TestPartitionSwapFails(t *testing.T) {
	d := dbtest.Postgres(t, claimsSets...)
	s := store.New(d)
	ctx := context.Background()
	good := []byte(partDHeader + partDRow(npiA, "Zestril", 500) + partDRow(npiB, "Norvasc", 20))
	mustLoad(t, s, (*store.Store).LoadPartD, "partd.csv", good, store.LoadInput{DataYear: 2023})
	mustLoad(t, s, (*store.Store).LoadPartD, "partd.csv", good, store.LoadInput{DataYear: 2024})
	before := dump(t, s, "partd_drugs")
	beforeParts := partitions(t, d, "partd_drugs")
	unchanged := func(t *testing.T, what string) {
		t.Helper()
		if diff := cmp.Diff(before, dump(t, s, "partd_drugs")); diff != "" {
			t.Errorf("%s: live rows changed (-before +after):\n%s", what, diff)
		}
		if diff := cmp.Diff(beforeParts, partitions(t, d, "partd_drugs")); diff != "" {
			t.Errorf("%s: partitions changed (-before +after):\n%s", what, diff)
		}
		if got := stagingTables(t, d); len(got) != 0 {
			t.Errorf("%s: staging tables left: %v", what, got)
		}
		checkPartitionIndexes(t, d, "partd_drugs")
	}

	// Too many rejects.
	bad := []byte(partDHeader + partDRow(npiA, "Zestril", 1) + strings.Replace(partDRow(npiB, "X", 2), ",2,", ",many,", 1))
	if r := run(t, s, (*store.Store).LoadPartD, "partd.csv", bad, store.LoadInput{DataYear: 2023}); r.err == nil {
		t.Fatal("a load over the reject threshold succeeded")
	}
	unchanged(t, "rejects")

	// Finalize fails after the partition was attached and renamed.
	boom := errors.New("boom")
	_, err := s.LoadPartD(ctx, store.LoadInput{File: "partd.csv", DataYear: 2023, Reader: strings.NewReader(string(good)),
		Finalize: func(tx *db.Tx, res store.LoadResult) error {
			// The staging table is the attached partition by now.
			var n int
			if err := tx.QueryRow(`SELECT COUNT(*) FROM pg_class WHERE relname LIKE 'partd_drugs\_\_stg\_%'`).Scan(&n); err != nil {
				return err
			}
			if n != 0 {
				t.Errorf("finalize runs before the staging table is renamed: %d left", n)
			}
			return boom
		}})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	unchanged(t, "finalize")

	// A staged row of another year breaks the staging table's CHECK: the
	// load fails instead of attaching a partition that would lie.
	part := store.Table{Name: "partd_drugs", Columns: []string{"npi", "tot_clms", "data_year"}}
	rep, err := s.BeginReplace(ctx, []store.Table{part}, store.ReplaceOptions{ScopeColumn: "data_year", ScopeValue: int64(2023)})
	if err != nil {
		t.Fatal(err)
	}
	_ = rep.Writer("partd_drugs").Write(npiA, 1, 2023)
	_ = rep.Writer("partd_drugs").Write(npiA, 1, 2024)
	if err := rep.Commit(ctx, nil); err == nil || !strings.Contains(err.Error(), "check constraint") {
		t.Errorf("commit of a row of another year: %v, want a check constraint violation", err)
	}
	rep.Abort()
	unchanged(t, "row of another year")

	// Cancelled after the rows were staged.
	cctx, cancel := context.WithCancel(ctx)
	rep, err = s.BeginReplace(cctx, []store.Table{part}, store.ReplaceOptions{ScopeColumn: "data_year", ScopeValue: int64(2023)})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Writer("partd_drugs").Write(npiA, 1, 2023); err != nil {
		t.Fatal(err)
	}
	if err := rep.Flush(cctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := rep.Commit(cctx, nil); err == nil {
		t.Error("a cancelled load committed")
	}
	rep.Abort()
	unchanged(t, "cancelled")

	// DropStaleStaging never drops a partition, even one named like a
	// staging table whose load is gone.
	if _, err := d.SQL.Exec(`CREATE TABLE partd_drugs__stg_0badf00d PARTITION OF partd_drugs FOR VALUES IN (1999)`); err != nil {
		t.Fatal(err)
	}
	if err := s.DropStaleStaging(ctx); err != nil {
		t.Fatal(err)
	}
	if n := bulkCount(t, d, `SELECT COUNT(*) FROM pg_class WHERE relname = 'partd_drugs__stg_0badf00d'`); n != 1 {
		t.Error("DropStaleStaging dropped a live partition")
	}
}

func TestPartitionedReplaceRefused(t *testing.T) {
	d := dbtest.Postgres(t, claimsSets...)
	s := store.New(d)
	ctx := context.Background()
	part := store.Table{Name: "partd_drugs", Columns: []string{"npi", "tot_clms", "data_year"}}
	tests := []struct {
		name string
		opts store.ReplaceOptions
		want string
	}{
		{"whole table", store.ReplaceOptions{}, "table partd_drugs is partitioned (LIST (data_year))"},
		{"other scope column", store.ReplaceOptions{ScopeColumn: "tot_clms", ScopeValue: int64(1)}, "partitioned by LIST (data_year), not LIST (tot_clms)"},
		{"text scope value", store.ReplaceOptions{ScopeColumn: "data_year", ScopeValue: "2024"}, "the scope value must be an integer, not string"},
		{"negative scope value", store.ReplaceOptions{ScopeColumn: "data_year", ScopeValue: -1}, "cannot name a partition"},
	}
	for _, tt := range tests {
		_, err := s.BeginReplace(ctx, []store.Table{part}, tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	if got := stagingTables(t, d); len(got) != 0 {
		t.Errorf("staging tables left: %v", got)
	}
	// A keyed load goes through the parent.
	mustLoad(t, s, (*store.Store).LoadPartD, "partd.csv", []byte(partDHeader+partDRow(npiA, "Zestril", 500)), store.LoadInput{DataYear: 2024})
	rep, err := s.BeginReplace(ctx, []store.Table{part}, store.ReplaceOptions{KeyColumn: "npi"})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Abort()
	if err := rep.Writer("partd_drugs").Write(npiA, 7, 2024); err != nil {
		t.Fatal(err)
	}
	if err := rep.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n := bulkCount(t, d, `SELECT COUNT(*) FROM partd_drugs_y2024 WHERE tot_clms = 7`); n != 1 {
		t.Errorf("keyed load: %d rows of 7 claims, want 1", n)
	}
}

// Migrating a database whose plain tables hold rows keeps every row, in a
// partition per year; the Down migration brings the plain tables back.
func TestClaimsPartitionMigration(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, dbtest.PostgresURL(t), db.Options{MaxConns: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, d.SQL, store.Migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO partd_drugs (npi, gnrc_name, tot_clms, tot_drug_cst, data_year) VALUES
			('1234567893', 'lisinopril', 12, 10.50, 2022), ('1234567893', 'amlodipine', 30, 3.25, 2023),
			('1000000004', 'lisinopril', 11, NULL, 2023)`,
		`INSERT INTO partb_services (npi, hcpcs_code, tot_srvcs, data_year) VALUES ('1234567893', '99213', 41.5, 2023)`,
		`INSERT INTO open_payments (record_id, npi, amount, program_year) VALUES
			('1', '1234567893', 100.00, 2023), ('2', NULL, 5.10, 2024), ('1', '1000000004', 7, 2024)`,
	} {
		if _, err := d.SQL.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s := store.New(d)
	tables := []string{"partd_drugs", "partb_services", "open_payments"}
	before := map[string][]string{}
	idxBefore := map[string][]string{}
	for _, tb := range tables {
		before[tb] = dump(t, s, tb)
		idxBefore[tb] = indexNames(t, d, tb)
	}

	if _, err := p.UpTo(ctx, 6); err != nil {
		t.Fatal(err)
	}
	wantParts := map[string][]string{
		"partd_drugs":    {"partd_drugs_y2022 FOR VALUES IN (2022)", "partd_drugs_y2023 FOR VALUES IN (2023)"},
		"partb_services": {"partb_services_y2023 FOR VALUES IN (2023)"},
		"open_payments":  {"open_payments_y2023 FOR VALUES IN (2023)", "open_payments_y2024 FOR VALUES IN (2024)"},
	}
	for _, tb := range tables {
		if k := relkind(t, d, tb); k != "p" {
			t.Errorf("%s relkind = %q after 00006, want p", tb, k)
		}
		if diff := cmp.Diff(before[tb], dump(t, s, tb)); diff != "" {
			t.Errorf("%s rows changed by 00006 (-before +after):\n%s", tb, diff)
		}
		if diff := cmp.Diff(wantParts[tb], partitions(t, d, tb)); diff != "" {
			t.Errorf("%s partitions (-want +got):\n%s", tb, diff)
		}
		if diff := cmp.Diff(idxBefore[tb], indexNames(t, d, tb)); diff != "" {
			t.Errorf("%s indexes (-before +after):\n%s", tb, diff)
		}
		checkPartitionIndexes(t, d, tb)
	}
	// A load swaps a migrated partition like any other.
	mustLoad(t, s, (*store.Store).LoadPartD, "partd.csv", []byte(partDHeader+partDRow(npiA, "Zestril", 500)), store.LoadInput{DataYear: 2023})
	if n := count(t, s, `SELECT COUNT(*) FROM partd_drugs_y2023`); n != 1 {
		t.Errorf("2023 after the load: %d rows, want 1", n)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM partd_drugs WHERE data_year = 2022`); n != 1 {
		t.Errorf("2022 after the 2023 load: %d rows, want 1", n)
	}
	checkPartitionIndexes(t, d, "partd_drugs")
	before["partd_drugs"] = dump(t, s, "partd_drugs")

	if _, err := p.DownTo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if k := relkind(t, d, tb); k != "r" {
			t.Errorf("%s relkind = %q after the Down migration, want r", tb, k)
		}
		if diff := cmp.Diff(before[tb], dump(t, s, tb)); diff != "" {
			t.Errorf("%s rows changed by the Down migration (-before +after):\n%s", tb, diff)
		}
		if diff := cmp.Diff(idxBefore[tb], indexNames(t, d, tb)); diff != "" {
			t.Errorf("%s indexes after the Down migration (-want +got):\n%s", tb, diff)
		}
	}
	if n := bulkCount(t, d, `SELECT COUNT(*) FROM pg_class WHERE relname LIKE '%\_y20__'`); n != 0 {
		t.Errorf("%d partitions left after the Down migration", n)
	}
	// Scoped loads work on the plain tables again, and 00006 applies again.
	mustLoad(t, s, (*store.Store).LoadPartD, "partd.csv", []byte(partDHeader+partDRow(npiB, "Norvasc", 20)), store.LoadInput{DataYear: 2022})
	if _, err := p.UpTo(ctx, 6); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM partd_drugs_y2022`); n != 1 {
		t.Errorf("2022 after migrating again: %d rows, want 1", n)
	}
}
