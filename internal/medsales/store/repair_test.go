package store_test

import (
	"context"
	"testing"

	"github.com/medplatform/medplatform/internal/medsales/store"
	"github.com/medplatform/medplatform/internal/platform/dbtest"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// TestUpgradeAddsTheOpenPaymentsRecordIndex: SQLite databases made before
// migration 00003 gained the unique index open_payments_record (releases
// of 2026-12-01) never got it, and an Open Payments file repeating a
// Record_ID loaded twice (QA). Migrating creates it, the payment held
// twice kept once.
func TestUpgradeAddsTheOpenPaymentsRecordIndex(t *testing.T) {
	d := dbtest.SQLite(t, store.Migrations)
	ctx := context.Background()
	for _, q := range []string{
		`DROP INDEX open_payments_record`,
		`INSERT INTO open_payments (record_id, npi, amount, program_year) VALUES ('1000000000', '1234567893', '10.00', 2024)`,
		`INSERT INTO open_payments (record_id, npi, amount, program_year) VALUES ('1000000000', '1234567893', '10.00', 2024)`,
		`INSERT INTO open_payments (record_id, npi, amount, program_year) VALUES ('1000000000', '1234567893', '12.00', 2023)`,
	} {
		if _, err := d.SQL.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := migrate.Up(ctx, d, store.Migrations); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM open_payments`).Scan(&n); err != nil || n != 2 {
		t.Errorf("payments after the upgrade: %d, %v; want 2 (one a program year)", n, err)
	}
	_, err := d.SQL.ExecContext(ctx, `INSERT INTO open_payments (record_id, npi, amount, program_year) VALUES ('1000000000', '1234567893', '10.00', 2024)`)
	if err == nil {
		t.Error("a payment repeating a Record_ID of its program year was stored after the upgrade")
	}
	// A current database is left alone.
	if err := store.Migrations.Repair(ctx, d); err != nil {
		t.Fatal(err)
	}
}
