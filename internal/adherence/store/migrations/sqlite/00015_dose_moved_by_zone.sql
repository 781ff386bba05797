-- +goose Up
-- A dose instance excluded because a change of the patient's zone moved
-- its occurrence to the new zone's dose of its wall time (store.excludeMoved)
-- is marked, so that a change back, while its window is still open, can
-- make it the dose again (a zone corrected a moment after it was set)
-- instead of keeping the other zone's dose hours later. An instance
-- excluded for any other reason (a pause, the plan stopped) is never
-- revived by a move. Reviving an instance clears the mark.
ALTER TABLE dose_instances ADD COLUMN moved_by_zone BOOLEAN NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE dose_instances DROP COLUMN moved_by_zone;
