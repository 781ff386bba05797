-- rows_skipped: the rows of a load's file whose every field is empty (the
-- ",,,," rows a spreadsheet leaves when it re-saves a file) and its blank
-- lines, which the load passed over: neither loaded nor rejected, and not
-- counted against the reject threshold. 0 for loads recorded before it
-- existed.

-- +goose Up
ALTER TABLE dataset_versions ADD COLUMN rows_skipped BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE dataset_versions DROP COLUMN rows_skipped;
