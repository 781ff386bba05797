-- source_stamp: what identified the version of a load's source when it
-- was opened, without reading it (a local file's absolute path, size and
-- modification time; an S3 object's URL, ETag and size; an http(s) URL's
-- ETag or Last-Modified and size; a zip member's name). A conditional
-- load (medsales ingest --if-changed, ifChanged, INGEST_SCHEDULE) is
-- skipped when the load served now in its scope has the same stamp. ''
-- when the source had none, and for loads recorded before it existed:
-- '' never matches.

-- +goose Up
ALTER TABLE dataset_versions ADD COLUMN source_stamp TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE dataset_versions DROP COLUMN source_stamp;
