-- rows_served: how many rows the dataset serves once a load has succeeded
-- (its main table: providers for nppes, every year for partb, partd and
-- openpayments). A weekly NPPES increment loads a few thousand rows but
-- leaves millions served; /health's recordCount reports this column. NULL
-- for loads recorded before it existed, and for failed loads.

-- +goose Up
ALTER TABLE dataset_versions ADD COLUMN rows_served BIGINT;

-- +goose Down
ALTER TABLE dataset_versions DROP COLUMN rows_served;
