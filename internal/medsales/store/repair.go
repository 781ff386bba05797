package store

import (
	"context"
	"fmt"

	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// repairEditedMigrations is the Repair of Migrations. Migration 00003 was
// edited after releases had applied it (2026-12-01): it gained the unique
// index open_payments_record, and a SQLite database created before then
// never got it, nor does a load add it (a load's staging table copies the
// table as it is). An Open Payments file repeating a Record_ID loaded
// both rows and the profile counted the payment twice, where the current
// loader refuses the file (QA). PostgreSQL's migration 00006 rebuilt the
// table with the index. The index is created here; payments such a
// database already holds twice are kept once first, and their number
// logged.
func repairEditedMigrations(ctx context.Context, d *db.DB) error {
	if d.Dialect != db.SQLite {
		return nil
	}
	exists, _, err := migrate.Columns(ctx, d, "open_payments")
	if err != nil || !exists {
		return err
	}
	var has int
	if err := d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'open_payments_record'`).Scan(&has); err != nil {
		return fmt.Errorf("read the indexes of open_payments: %w", err)
	}
	if has > 0 {
		return nil
	}
	return d.InTx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM open_payments WHERE rowid NOT IN
			(SELECT min(rowid) FROM open_payments GROUP BY program_year, record_id)`)
		if err != nil {
			return fmt.Errorf("keep each Open Payments record once: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 && d.Logger != nil {
			d.Logger.WarnContext(ctx, "Open Payments records held twice were kept once: reload the program years concerned to be sure of their totals",
				"removed", n)
		}
		if _, err := tx.ExecContext(ctx, `CREATE UNIQUE INDEX open_payments_record ON open_payments (program_year, record_id)`); err != nil {
			return fmt.Errorf("create open_payments_record: %w", err)
		}
		return nil
	})
}
