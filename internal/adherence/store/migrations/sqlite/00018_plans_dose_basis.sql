-- +goose Up
-- The time zone a plan's dose instances were generated in (store.regenerate
-- sets it; the horizon extends only active plans of active patients, in the
-- patient's zone, which is then the same). A plan paused, or its patient
-- deactivated, keeps the zone of its excluded doses while the patient's
-- changes: its resume first revives them in that zone, with the outcomes
-- recorded in advance during the pause, and then moves them to the new one
-- as a change of zone moves an active plan's (store.regenerateInZone).
-- Empty when unknown: plans paused before this column existed.
ALTER TABLE plans ADD COLUMN dose_zone TEXT NOT NULL DEFAULT '';
UPDATE plans SET dose_zone = (SELECT time_zone FROM patients
	WHERE patients.org_id = plans.org_id AND patients.id = plans.patient_id AND patients.active)
WHERE status = 'active' AND EXISTS (SELECT 1 FROM patients
	WHERE patients.org_id = plans.org_id AND patients.id = plans.patient_id AND patients.active);

-- +goose Down
ALTER TABLE plans DROP COLUMN dose_zone;
