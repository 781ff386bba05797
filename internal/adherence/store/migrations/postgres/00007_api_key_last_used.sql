-- +goose Up
-- When a key last authenticated a request (to the minute: the API records
-- it at most once a minute per key and process), so that an administrator
-- can find keys nobody uses any more and revoke them.
ALTER TABLE api_keys ADD COLUMN last_used_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN last_used_at;
