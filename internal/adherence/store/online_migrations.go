package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"

	"github.com/medplatform/medplatform/internal/platform/migrate"
)

// postgresGoMigrations are the versions of the PostgreSQL migrations that
// build indexes online; goose runs them in version order with the SQL files
// of migrations/postgres. SQLite has one writer and runs the same changes
// as SQL files in one transaction.
//
// A plain CREATE INDEX holds a SHARE lock on its table for the whole build,
// a DROP INDEX an ACCESS EXCLUSIVE one: during a blue/green deploy every
// write (and for the DROP every read) of the version still serving waited
// for them, for as long as the build took or a transaction of that version
// stayed open. So they build each index CONCURRENTLY under a new name,
// waiting as long as it takes for older transactions without holding up
// anyone, and swap it in with a short transaction (migrate.ReplaceIndex).
// A run that stopped midway is completed by the next one.
func postgresGoMigrations() []*goose.Migration {
	return []*goose.Migration{
		goose.NewGoMigration(12, &goose.GoFunc{RunDB: reportIndexesUp}, &goose.GoFunc{RunDB: reportIndexesDown}),
		goose.NewGoMigration(14,
			&goose.GoFunc{RunDB: func(ctx context.Context, d *sql.DB) error {
				return migrate.ReplaceIndex(ctx, d, "notifications_in_flight", notificationsInFlightClaimed)
			}},
			&goose.GoFunc{RunDB: func(ctx context.Context, d *sql.DB) error {
				return migrate.ReplaceIndex(ctx, d, "notifications_in_flight", notificationsInFlightSending)
			}}),
	}
}

// Migration 12: the adherence reports at scale (bench/reports: 250,000
// patients, 3 doses a day, 30 days, about 22 million instances in the
// cohort report's window; the SQLite file 00012_report_indexes.sql says the
// same).
//
// dose_instances_patient_due gains the status and double-dose flag of each
// instance (INCLUDE: carried in the index, not part of its key), so that a
// report reads its counts from the index alone (an index-only scan), and the
// cohort report's per-patient counts come out of it in patient order. It
// keeps its name and key: every query that used it still does. Its rebuild
// took 84 s at 250,000 patients.
//
// events_orphans lists the orphan events (those that matched no dose) by
// patient and time: the cohort report counts them per patient over its
// window, and found them by reading every event of the org.
//
// The planner chooses that index-only scan only if it knows how many
// patients there are: from its default sample of 30,000 rows it estimated
// 32,000 distinct patient_id among 33 million instances of 250,000
// patients, so hashing the window's rows by patient looked as if it fitted
// in memory, and it read the whole table instead (18.7 s for the cohort
// report against 6–7 s through the index). A sample of 300,000 rows
// (statistics target 1000) estimated 190,000, enough for the right plan;
// ANALYZE takes the new target at once (it blocks no reads or writes).
const (
	patientDueWithOutcome = "ON dose_instances (org_id, patient_id, due_at) INCLUDE (status, double_dose)"
	patientDue            = "ON dose_instances (org_id, patient_id, due_at)"
	orphanEvents          = "ON events (org_id, patient_id, occurred_at) WHERE result = 'orphan'"
)

func reportIndexesUp(ctx context.Context, d *sql.DB) error {
	if err := migrate.ReplaceIndex(ctx, d, "dose_instances_patient_due", patientDueWithOutcome); err != nil {
		return err
	}
	if err := migrate.ReplaceIndex(ctx, d, "events_orphans", orphanEvents); err != nil {
		return err
	}
	conn, err := d.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := migrate.Briefly(ctx, conn, "ALTER TABLE dose_instances ALTER COLUMN patient_id SET STATISTICS 1000"); err != nil {
		return fmt.Errorf("statistics of dose_instances.patient_id: %w", err)
	}
	return migrate.Unbounded(ctx, conn, "ANALYZE dose_instances")
}

func reportIndexesDown(ctx context.Context, d *sql.DB) error {
	conn, err := d.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := migrate.Briefly(ctx, conn, "ALTER TABLE dose_instances ALTER COLUMN patient_id SET STATISTICS -1"); err != nil {
		return fmt.Errorf("statistics of dose_instances.patient_id: %w", err)
	}
	if err := migrate.Unbounded(ctx, conn, "DROP INDEX CONCURRENTLY IF EXISTS events_orphans"); err != nil {
		return err
	}
	return migrate.ReplaceIndex(ctx, d, "dose_instances_patient_due", patientDue)
}

// Migration 14: a delivery job claims its notifications as 'claimed' and
// moves each to 'sending' only when it hands it to a provider, so that a
// job killed mid-batch leaves in 'sending' only the messages a provider
// may have taken. The reconciliation sweep looks for both states left
// behind (RequeueClaimed, MarkUnknownSending): the in-flight index covers
// 'claimed' too.
const (
	notificationsInFlightClaimed = "ON notifications (status, updated_at) WHERE status IN ('claimed', 'sending', 'sent')"
	notificationsInFlightSending = "ON notifications (status, updated_at) WHERE status IN ('sending', 'sent')"
)
