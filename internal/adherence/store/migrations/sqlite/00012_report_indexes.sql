-- +goose Up
-- The adherence reports at scale (bench/reports: 50,000 patients, 3 doses
-- a day, 30 days). As PostgreSQL's migration 12 (online_migrations.go), with the status and
-- double-dose flag as trailing key columns (SQLite has no INCLUDE): a
-- report reads its counts from the index alone instead of one table row
-- per instance, and the cohort report's per-patient counts come out of it
-- in patient order. events_orphans lists the orphan events by patient and
-- time, which the cohort report found by reading every event of the org.
-- It leads with the patient: led by the time, it covered a single
-- patient's orphan count too, and SQLite (whose file is never analyzed)
-- read every orphan of the org's window for it (50 ms against 0.5 ms).
DROP INDEX dose_instances_patient_due;
CREATE INDEX dose_instances_patient_due ON dose_instances (org_id, patient_id, due_at, status, double_dose);
CREATE INDEX events_orphans ON events (org_id, patient_id, occurred_at) WHERE result = 'orphan';

-- +goose Down
DROP INDEX events_orphans;
DROP INDEX dose_instances_patient_due;
CREATE INDEX dose_instances_patient_due ON dose_instances (org_id, patient_id, due_at);
