-- Load history: one row per attempt to load a dataset file. status is
-- running, succeeded or failed; a row left running by a killed process is
-- marked failed by the next load of the same dataset.

-- +goose Up
CREATE TABLE dataset_versions (
    id            BIGSERIAL PRIMARY KEY,
    dataset       TEXT NOT NULL,
    mode          TEXT NOT NULL DEFAULT 'full',
    source_file   TEXT NOT NULL,
    sha256        TEXT NOT NULL DEFAULT '',
    release_date  DATE,
    data_year     INTEGER,
    rows_loaded   BIGINT NOT NULL DEFAULT 0,
    rows_rejected BIGINT NOT NULL DEFAULT 0,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    status        TEXT NOT NULL,
    error         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX dataset_versions_dataset ON dataset_versions (dataset, started_at);

-- +goose Down
DROP TABLE dataset_versions;
