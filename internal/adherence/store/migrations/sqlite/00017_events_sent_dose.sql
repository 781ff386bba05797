-- +goose Up
-- The dose instance a client named, kept when regeneration carries the
-- event to the new dose of the same occurrence and rewrites requested_dose
-- (store.carryEvents); NULL while requested_dose is still the one named.
-- A retry of the event naming the deleted dose is then told from a retry
-- naming any other dose that does not exist: only the first replays
-- (store.replay); the other is the key reused for a different event, and
-- not a replay that would tell which dose ids exist.
ALTER TABLE events ADD COLUMN sent_dose BIGINT;

-- +goose Down
ALTER TABLE events DROP COLUMN sent_dose;
