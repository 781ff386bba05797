-- +goose NO TRANSACTION

-- The adherence reports at scale (bench/reports: 250,000 patients, 3 doses
-- a day, 30 days, about 22 million instances in the cohort report's window).
--
-- dose_instances_patient_due gains the status and double-dose flag of each
-- instance (INCLUDE: carried in the index, not part of its key), so that a
-- report reads its counts from the index alone (an index-only scan) instead
-- of fetching every instance's row from the table, and the cohort report's
-- per-patient counts come out of it in patient order, grouped as they
-- stream. It keeps its name and key: every query that used it still does.
--
-- events_orphans lists the orphan events (those that matched no dose) by
-- patient and time: the cohort report counts them per patient over its
-- window, and found them by reading every event of the org, scored ones
-- included. It leads with the patient, as events_patient_time does, so
-- that a single patient's report seeks its few orphans in either.
--
-- The indexes are built CONCURRENTLY, outside a transaction (NO
-- TRANSACTION above): a plain DROP and CREATE INDEX would hold an
-- exclusive lock on dose_instances, stopping every read and write of the
-- API, reminders and missed-dose job for the whole build (84 s at 250,000
-- patients in bench/reports) while the previous release still serves.
-- Each step may be run again: a build that failed midway leaves an invalid
-- dose_instances_patient_due_new or events_orphans, which the next run
-- drops first; a run stopped after the old index was dropped builds the
-- new one again and renames it.
--
-- The planner chooses that index-only scan only if it knows how many
-- patients there are: from its default sample of 30,000 rows it estimated
-- 32,000 distinct patient_id among 33 million instances of 250,000
-- patients, so hashing the window's rows by patient looked as if it fitted
-- in memory, and it read the whole table instead, spilling the hash to
-- disk (bench/reports: 18.7 s for the cohort report against 6–7 s through
-- the index). A sample of 300,000 rows (statistics target 1000) estimated
-- 190,000, enough for the right plan; ANALYZE takes the new target at once
-- (it blocks no reads or writes).

-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS dose_instances_patient_due_new;
CREATE INDEX CONCURRENTLY dose_instances_patient_due_new ON dose_instances (org_id, patient_id, due_at) INCLUDE (status, double_dose);
DROP INDEX CONCURRENTLY IF EXISTS dose_instances_patient_due;
ALTER INDEX dose_instances_patient_due_new RENAME TO dose_instances_patient_due;
DROP INDEX CONCURRENTLY IF EXISTS events_orphans;
CREATE INDEX CONCURRENTLY events_orphans ON events (org_id, patient_id, occurred_at) WHERE result = 'orphan';
ALTER TABLE dose_instances ALTER COLUMN patient_id SET STATISTICS 1000;
ANALYZE dose_instances;

-- +goose Down
ALTER TABLE dose_instances ALTER COLUMN patient_id SET STATISTICS -1;
DROP INDEX CONCURRENTLY IF EXISTS events_orphans;
DROP INDEX CONCURRENTLY IF EXISTS dose_instances_patient_due_new;
CREATE INDEX CONCURRENTLY dose_instances_patient_due_new ON dose_instances (org_id, patient_id, due_at);
DROP INDEX CONCURRENTLY IF EXISTS dose_instances_patient_due;
ALTER INDEX dose_instances_patient_due_new RENAME TO dose_instances_patient_due;
