-- +goose Up
-- The transaction that wrote each outbox record. Ids are taken at INSERT
-- but records become visible at COMMIT, so a transaction that took id 10
-- can commit after one that took id 11, and a reader paging by id that
-- already saw 11 would never see 10. ListOutbox lists a record only once
-- its transaction is older than every transaction still in progress
-- (created_xid < pg_snapshot_xmin(pg_current_snapshot())): nothing below
-- it can appear any more. The records already written get this
-- migration's transaction, finished before any reader runs.
ALTER TABLE outbox ADD COLUMN created_xid xid8 NOT NULL DEFAULT pg_current_xact_id();

-- +goose Down
ALTER TABLE outbox DROP COLUMN created_xid;
