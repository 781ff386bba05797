-- +goose Up
-- What a plan's dose instances were generated from (store.doseBasis, JSON:
-- the patient's zone and anchors, the plan's timing); store.regenerate
-- sets it, and the horizon extends only active plans of active patients,
-- whose basis is then the current one. A plan paused, or its patient
-- deactivated, keeps the basis of its excluded doses while the zone, the
-- anchors or the timing change: its resume first revives them as they
-- were, with the outcomes recorded in advance, and then applies each
-- change as it applies to an active plan (store.reviveAsGenerated). Plans
-- of before this column get the patient's zone alone (no change since is
-- assumed); empty is unknown.
--
-- No transaction: the ALTER takes the table's ACCESS EXCLUSIVE lock, and
-- held through the backfill (10 s at 250,000 plans) it stalled every query
-- of plans of the release still serving during a blue/green deploy (QA).
-- Alone it holds the lock an instant; the UPDATE then takes row locks
-- (FOR NO KEY UPDATE), which event ingestion's FOR KEY SHARE of its plans
-- does not wait for. Each statement can be run again: a migration
-- interrupted between them is run whole again.
-- +goose NO TRANSACTION
ALTER TABLE plans ADD COLUMN IF NOT EXISTS dose_basis TEXT NOT NULL DEFAULT '';
UPDATE plans SET dose_basis = json_build_object('zone', patients.time_zone)::text FROM patients
	WHERE patients.org_id = plans.org_id AND patients.id = plans.patient_id AND plans.dose_basis = '';

-- +goose Down
ALTER TABLE plans DROP COLUMN dose_basis;
