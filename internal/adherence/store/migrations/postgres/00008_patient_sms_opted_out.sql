-- +goose Up
-- sms_opted_out is set when an opt-out (STOP, or through the API) turned
-- the patient's sms_consent off, and cleared when an opt-in turns it back
-- on. An opt-in restores sms_consent only when it is set: a patient whose
-- consent is false because it was never given is not switched on by a
-- texted START. Patients opted out before this column existed start with
-- it false: whether they had consented is not known, and texting someone
-- who never consented is the worse mistake (staff can set smsConsent).
ALTER TABLE patients ADD COLUMN sms_opted_out BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE patients DROP COLUMN sms_opted_out;
