-- +goose Up
-- PostgreSQL's migration 10 records the transaction that wrote each outbox
-- record, so that a page by id never passes a record committed late.
-- SQLite has a single writer, whose records become visible in id order:
-- nothing to do; this file keeps the two engines' schema versions in step.
SELECT 1;

-- +goose Down
SELECT 1;
