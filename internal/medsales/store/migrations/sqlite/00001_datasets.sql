-- Load history: one row per attempt to load a dataset file. status is
-- running, succeeded or failed; a row left running by a killed process is
-- marked failed by the next load of the same dataset.

-- +goose Up
CREATE TABLE dataset_versions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset       TEXT NOT NULL,
    mode          TEXT NOT NULL DEFAULT 'full',
    source_file   TEXT NOT NULL,
    sha256        TEXT NOT NULL DEFAULT '',
    release_date  DATE,
    data_year     INTEGER,
    rows_loaded   INTEGER NOT NULL DEFAULT 0,
    rows_rejected INTEGER NOT NULL DEFAULT 0,
    started_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP,
    status        TEXT NOT NULL,
    error         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX dataset_versions_dataset ON dataset_versions (dataset, started_at);

-- +goose Down
DROP TABLE dataset_versions;
