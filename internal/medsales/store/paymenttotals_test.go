package store_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
)

// PaymentTotals reads only the index open_payments_npi, never the table,
// on both engines and after loads that swapped the yearly data in, and
// groups in the index's order (SQLite sorted every payment in a temporary
// B-tree): a large recipient's payments lie scattered over the table, one
// page each (bench/profile: 20,000 payments took 142 ms at the median on
// PostgreSQL, 540 ms on SQLite). The totals are those of the rows.
func TestPaymentTotalsReadsOnlyTheIndex(t *testing.T) {
	claimsEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for _, year := range []int{2023, 2024} {
			var file strings.Builder
			file.WriteString(opHeader)
			for i := range 300 {
				mfr := []string{"Pfizer Inc.", "Merck", ""}[i%3]
				npi := []string{npiA, npiB}[i%2]
				fmt.Fprint(&file, opRow(fmt.Sprintf("%d%05d", year, i), year, npi, mfr, fmt.Sprintf("%d.%02d", i, i%100), fmt.Sprintf("01/02/%d", year), 1+i%3))
			}
			mustLoad(t, s, (*store.Store).LoadOpenPayments, fmt.Sprintf("OP_DTL_GNRL_PGYR%d_P01302026.csv", year), []byte(file.String()), store.LoadInput{})
		}

		plan := paymentTotalsPlan(t, s.DB(), npiA)
		if s.DB().Dialect == db.SQLite {
			if !strings.Contains(plan, "USING COVERING INDEX open_payments_npi") {
				t.Errorf("PaymentTotals reads the table: plan\n%s", plan)
			}
			if strings.Contains(plan, "TEMP B-TREE FOR GROUP BY") {
				t.Errorf("PaymentTotals sorts the payments to group them: plan\n%s", plan)
			}
		} else if !strings.Contains(plan, "Index Only Scan") || strings.Contains(plan, "Index Scan") || strings.Contains(plan, "Heap Scan") {
			t.Errorf("PaymentTotals reads the table: plan\n%s", plan)
		}

		got, err := s.PaymentTotals(ctx, npiA)
		if err != nil {
			t.Fatal(err)
		}
		// npiA has the even rows i: manufacturer i%3, amount i + (i%100)/100, i%3+1 payments.
		want := map[int]map[string]*[2]int64{} // year → manufacturer → cents, payments
		for _, year := range []int{2023, 2024} {
			want[year] = map[string]*[2]int64{}
			for i := 0; i < 300; i += 2 {
				mfr := []string{"Pfizer Inc.", "Merck", ""}[i%3]
				if want[year][mfr] == nil {
					want[year][mfr] = &[2]int64{}
				}
				want[year][mfr][0] += int64(i*100 + i%100)
				want[year][mfr][1] += int64(1 + i%3)
			}
		}
		var wantList []medsales.PaymentTotal
		for _, year := range []int{2024, 2023} {
			// Newest year first, then by amount: the three sums differ.
			var ts []medsales.PaymentTotal
			for mfr, v := range want[year] {
				ts = append(ts, medsales.PaymentTotal{Year: year, Manufacturer: mfr, Amount: fmt.Sprintf("%d.%02d", v[0]/100, v[0]%100), Count: v[1]})
			}
			slices.SortFunc(ts, func(a, b medsales.PaymentTotal) int {
				return cmp.Compare(want[year][b.Manufacturer][0], want[year][a.Manufacturer][0])
			})
			wantList = append(wantList, ts...)
		}
		if diff := gocmp.Diff(wantList, got); diff != "" {
			t.Errorf("PaymentTotals (-want +got):\n%s", diff)
		}
	})
}

// paymentTotalsPlan returns the plan of PaymentTotals' query for npi: on
// PostgreSQL with sequential and bitmap scans off, so that even a table of
// a few rows shows which index scan the query can use.
func paymentTotalsPlan(t *testing.T, d *db.DB, npi string) string {
	t.Helper()
	q := store.PaymentTotalsQuery(d.Dialect)
	ctx := context.Background()
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	explain := "EXPLAIN QUERY PLAN "
	if d.Dialect == db.Postgres {
		explain = "EXPLAIN (COSTS OFF) "
		for _, set := range []string{"SET enable_seqscan = off", "SET enable_bitmapscan = off"} {
			if _, err := conn.ExecContext(ctx, set); err != nil {
				t.Fatal(err)
			}
		}
		defer conn.ExecContext(ctx, "RESET ALL")
	}
	rows, err := conn.QueryContext(ctx, explain+q, npi)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, vals[len(vals)-1])
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A manufacturer name over 1,000 bytes, which open_payments_npi's entries
// hold for the totals, rejects its row with its line and the column on
// both engines, and the rest loads: PostgreSQL would fail the whole load
// building the index, SQLite would store it.
func TestLoadOpenPaymentsRejectsOverlongManufacturer(t *testing.T) {
	payments := opHeader +
		opRow("800000001", 2024, npiA, "Pfizer Inc.", "10", "01/02/2024", 1) +
		opRow("800000002", 2024, npiA, overlong(3000), "20", "01/02/2024", 1)
	claimsEach(t, func(t *testing.T, s *store.Store) {
		r := mustLoad(t, s, (*store.Store).LoadOpenPayments, "OP_DTL_GNRL_PGYR2024_P01302026.csv", []byte(payments), lenient)
		if r.res.Loaded != 1 || r.res.Rejected != 1 ||
			!strings.HasPrefix(r.rejects, "3,\"Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Name is 3000 bytes long") {
			t.Errorf("Open Payments: %+v, rejects %q", r.res, r.rejects)
		}
	})
}
