-- Migration 16 rewrites in UTC, on SQLite, the instants an earlier release
-- wrote in a local offset (see the SQLite file). PostgreSQL's timestamptz
-- holds instants, whatever offset they were written in: nothing to do.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
