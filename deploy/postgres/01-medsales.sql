-- The medsales database beside adherence's (POSTGRES_DB) in the stack of
-- deploy/compose.yaml, created at the first start of the data volume.
-- medsales enables PostGIS in it when it migrates (store.EnablePostGIS:
-- CREATE EXTENSION, which the stack's superuser may run).
CREATE DATABASE medsales;
