-- +goose Up
-- SQLite's migration 4 rebuilds events so that its plan foreign key is
-- checked at COMMIT, which spares SQLite a statement journal on every
-- multi-row INSERT. PostgreSQL keeps no statement journal: nothing to do;
-- this file keeps the two engines' schema versions in step.
SELECT 1;

-- +goose Down
SELECT 1;
