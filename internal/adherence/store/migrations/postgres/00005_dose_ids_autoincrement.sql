-- +goose Up
-- SQLite's migration 5 rebuilds dose_instances with AUTOINCREMENT so that
-- the id of a deleted dose is never given to another one. PostgreSQL's
-- identity never reuses a value: nothing to do; this file keeps the two
-- engines' schema versions in step.
SELECT 1;

-- +goose Down
SELECT 1;
