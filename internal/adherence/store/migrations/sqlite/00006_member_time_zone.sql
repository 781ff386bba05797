-- +goose Up
-- Quiet hours hold non-urgent messages in the recipient's local time. A
-- caregiver may live in another zone than the patient: time_zone is the
-- member's own IANA zone; NULL means the patient's zone is used.
ALTER TABLE members ADD COLUMN time_zone TEXT;

-- +goose Down
ALTER TABLE members DROP COLUMN time_zone;
