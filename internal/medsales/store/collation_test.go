package store_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// icuPostgres returns a migrated PostgreSQL database whose default
// collation is ICU en-US, the kind of linguistic collation a managed
// server is often created with, or skips when the server has no ICU.
func icuPostgres(t *testing.T) *db.DB {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TEST_DATABASE_URL not set: skipping PostgreSQL")
	}
	ctx := context.Background()
	admin, err := db.Open(ctx, base, db.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("t_icu_%d", os.Getpid())
	if _, err := admin.SQL.ExecContext(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"); err != nil {
		t.Skipf("no ICU collation on this server: %v", err)
	}
	t.Cleanup(func() {
		c, err := db.Open(context.Background(), base, db.Options{MaxConns: 1})
		if err != nil {
			t.Logf("drop %s: %v", name, err)
			return
		}
		defer c.Close()
		if _, err := c.SQL.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	d, err := db.Open(ctx, u.String(), db.Options{MaxConns: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := migrate.Up(ctx, d, claimsSets...); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestTieOrderIgnoresCollation: the names that break ties in the "top"
// lists (Part D generic and brand names, Open Payments manufacturers)
// order by their bytes, as on SQLite, whatever the PostgreSQL database's
// default collation: on an ICU en-US database "a lower"-case generic name
// or "iRhythm Technologies" would otherwise sort among the A's and I's
// and the lists, cut at 10, would differ between the engines.
func TestTieOrderIgnoresCollation(t *testing.T) {
	check := func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		row := func(brand, generic string) string {
			return fmt.Sprintf("%s,Last,First,City,IL,17,Internal Medicine,S,%s,%s,100,100,3000,1000.25,,*,,,,,*,\n", npiA, brand, generic)
		}
		file := partDHeader + row("Zocor", "simvastatin") + row("Lipitor", "Atorvastatin") + row("Zetia", "Ezetimibe") + row("Ab", "Ezetimibe") + row("ab", "Ezetimibe")
		mustLoad(t, s, (*store.Store).LoadPartD, "MUP_DPR_RY26_P04_V10_DY24_NPIBN.csv", []byte(file), store.LoadInput{})
		got, err := s.TopDrugs(ctx, npiA, 10)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, l := range got {
			names = append(names, l.BrandName+"/"+l.GenericName)
		}
		if want := []string{"Lipitor/Atorvastatin", "Ab/Ezetimibe", "Zetia/Ezetimibe", "ab/Ezetimibe", "Zocor/simvastatin"}; !slices.Equal(names, want) {
			t.Errorf("TopDrugs = %q, want %q", names, want)
		}
		op := opHeader + opRow("800000001", 2024, npiA, "iRhythm Technologies Inc", "100", "05/01/2024", 1) +
			opRow("800000002", 2024, npiA, "Zimmer Biomet", "100", "05/02/2024", 1) +
			opRow("800000003", 2024, npiA, "Abbott", "100", "05/03/2024", 1)
		mustLoad(t, s, (*store.Store).LoadOpenPayments, "OP_DTL_GNRL_PGYR2024_P01232026.csv", []byte(op), store.LoadInput{})
		totals, err := s.PaymentTotals(ctx, npiA)
		if err != nil {
			t.Fatal(err)
		}
		var mfrs []string
		for _, p := range totals {
			mfrs = append(mfrs, p.Manufacturer)
		}
		if want := []string{"Abbott", "Zimmer Biomet", "iRhythm Technologies Inc"}; !slices.Equal(mfrs, want) {
			t.Errorf("PaymentTotals manufacturers = %q, want %q", mfrs, want)
		}
	}
	t.Run("sqlite", func(t *testing.T) { check(t, store.New(dbtest.SQLite(t, claimsSets...))) })
	t.Run("postgres-icu", func(t *testing.T) { check(t, store.New(icuPostgres(t))) })
}
