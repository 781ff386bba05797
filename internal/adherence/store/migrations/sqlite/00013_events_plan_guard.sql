-- +goose Up
-- PostgreSQL's migration 13 replaces the events' plan foreign key, whose
-- per-row lock cost a third of its batch throughput, by a set-wise check of
-- each INSERT and triggers that keep plans from being deleted or re-keyed.
-- SQLite keeps its deferred foreign key (an index probe per row, no row
-- lock), which already refuses all of that at COMMIT: nothing to do; this
-- file keeps the two engines' schema versions in step.
SELECT 1;

-- +goose Down
SELECT 1;
