-- job_id: the River job that ran the load (POST /v1/ingestions, a
-- schedule), NULL for a load run from the command line and for loads
-- recorded before it existed. GET /v1/ingestions/{id} finds a job's loads
-- by it.

-- +goose Up
ALTER TABLE dataset_versions ADD COLUMN job_id BIGINT;
CREATE INDEX dataset_versions_job ON dataset_versions (job_id) WHERE job_id IS NOT NULL;

-- +goose Down
DROP INDEX dataset_versions_job;
ALTER TABLE dataset_versions DROP COLUMN job_id;
