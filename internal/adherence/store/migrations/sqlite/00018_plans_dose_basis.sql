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
ALTER TABLE plans ADD COLUMN dose_basis TEXT NOT NULL DEFAULT '';
UPDATE plans SET dose_basis = (SELECT json_object('zone', patients.time_zone) FROM patients
	WHERE patients.org_id = plans.org_id AND patients.id = plans.patient_id);

-- +goose Down
ALTER TABLE plans DROP COLUMN dose_basis;
