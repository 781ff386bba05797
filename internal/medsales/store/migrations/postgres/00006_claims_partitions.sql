-- The yearly claims and payments tables become LIST-partitioned by their
-- year column, one partition per year named <table>_y<year>
-- (partd_drugs_y2024). A load of one year then swaps that year's partition
-- (the staging table, indexed, is attached in place of the previous one:
-- see bulk.go) instead of deleting the year's rows and copying the staged
-- ones with INSERT … SELECT, which took most of a Part D load and left the
-- replaced year behind as dead tuples for VACUUM.
--
-- Columns, NOT NULLs and indexes are those of 00003_claims; the indexes are
-- defined on the partitioned parents, so every partition gets them (the
-- unique open_payments_record includes the partition key program_year, as
-- a unique index of a partitioned table must). Readers query the parents
-- and read across partitions.
--
-- The rows of the plain tables are moved into one partition per year
-- present, in this migration's transaction: on a large database it takes
-- as long as copying the tables and building their indexes once. The
-- partitions' indexes are named <partition><suffix of the parent index>
-- (partd_drugs_y2024_npi), as the loader names them.
--
-- SQLite has no partitioning: its tables stay as they are.

-- +goose Up
ALTER TABLE partb_services RENAME TO partb_services_unpartitioned;
ALTER TABLE partd_drugs RENAME TO partd_drugs_unpartitioned;
ALTER TABLE open_payments RENAME TO open_payments_unpartitioned;

CREATE TABLE partb_services (
    npi                TEXT NOT NULL,
    hcpcs_code         TEXT NOT NULL,
    hcpcs_desc         TEXT,
    drug_ind           TEXT,          -- Y or N
    place_of_service   TEXT,          -- F facility, O office
    tot_benes          INTEGER,       -- NULL when suppressed
    tot_srvcs          NUMERIC NOT NULL,
    tot_bene_day_srvcs INTEGER,
    avg_sbmtd_chrg     NUMERIC,
    avg_mdcr_alowd_amt NUMERIC,
    avg_mdcr_pymt_amt  NUMERIC,
    avg_mdcr_stdzd_amt NUMERIC,
    data_year          INTEGER NOT NULL
) PARTITION BY LIST (data_year);

CREATE TABLE partd_drugs (
    npi                  TEXT NOT NULL,
    brnd_name            TEXT,
    gnrc_name            TEXT,
    tot_clms             INTEGER NOT NULL,
    tot_30day_fills      NUMERIC,
    tot_day_suply        INTEGER,
    tot_drug_cst         NUMERIC(14,2),
    tot_benes            INTEGER,       -- NULL when suppressed
    ge65_sprsn_flag      TEXT,          -- '*' under 11, '#' counter-suppressed
    ge65_tot_clms        INTEGER,
    ge65_tot_30day_fills NUMERIC,
    ge65_tot_drug_cst    NUMERIC(14,2),
    ge65_tot_day_suply   INTEGER,
    ge65_bene_sprsn_flag TEXT,
    ge65_tot_benes       INTEGER,
    data_year            INTEGER NOT NULL
) PARTITION BY LIST (data_year);

CREATE TABLE open_payments (
    record_id         TEXT NOT NULL,
    npi               TEXT,           -- NULL for teaching hospitals
    profile_id        TEXT,
    manufacturer_id   TEXT,
    manufacturer_name TEXT,
    amount            NUMERIC(14,2) NOT NULL,
    payment_date      DATE,
    n_payments        INTEGER,
    form              TEXT,
    nature            TEXT,
    products          TEXT,           -- JSON array of product names
    program_year      INTEGER NOT NULL,
    change_type       TEXT
) PARTITION BY LIST (program_year);

-- One partition per year present, then the rows (routed by the parent, one
-- scan of each old table). The old tables and their indexes go.
-- +goose StatementBegin
DO $$
DECLARE
    t record;
    y integer;
BEGIN
    FOR t IN SELECT * FROM (VALUES
        ('partb_services', 'data_year'),
        ('partd_drugs', 'data_year'),
        ('open_payments', 'program_year')) AS v(tbl, col)
    LOOP
        FOR y IN EXECUTE format('SELECT DISTINCT %I FROM %I ORDER BY 1', t.col, t.tbl || '_unpartitioned')
        LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES IN (%s)', t.tbl || '_y' || y, t.tbl, y);
        END LOOP;
        EXECUTE format('INSERT INTO %I SELECT * FROM %I', t.tbl, t.tbl || '_unpartitioned');
        EXECUTE format('DROP TABLE %I', t.tbl || '_unpartitioned');
    END LOOP;
END
$$;
-- +goose StatementEnd

-- Built after the rows are in: each partition's index is built in one pass.
CREATE INDEX partb_services_npi ON partb_services (npi, data_year);
CREATE INDEX partd_drugs_npi ON partd_drugs (npi, data_year);
CREATE INDEX partd_drugs_gnrc_name ON partd_drugs (gnrc_name);
-- CMS gives every payment a Record_ID unique within its program year; a
-- file that repeats one fails to load (it would count the payment twice).
CREATE UNIQUE INDEX open_payments_record ON open_payments (program_year, record_id);
CREATE INDEX open_payments_npi ON open_payments (npi, program_year);

-- The partitions' indexes get the loader's names instead of the generated
-- ones (partd_drugs_y2024_npi_data_year_idx → partd_drugs_y2024_npi).
-- +goose StatementBegin
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT pi.relname AS idx, pt.relname AS part, ci.relname AS parent_idx, ct.relname AS parent
        FROM pg_inherits h
        JOIN pg_class pi ON pi.oid = h.inhrelid
        JOIN pg_index px ON px.indexrelid = pi.oid
        JOIN pg_class pt ON pt.oid = px.indrelid
        JOIN pg_class ci ON ci.oid = h.inhparent
        JOIN pg_index cx ON cx.indexrelid = ci.oid
        JOIN pg_class ct ON ct.oid = cx.indrelid
        WHERE ct.relnamespace = current_schema()::regnamespace
          AND ct.relname IN ('partb_services', 'partd_drugs', 'open_payments')
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', r.idx, r.part || substr(r.parent_idx, length(r.parent) + 1));
    END LOOP;
END
$$;
-- +goose StatementEnd

-- Autovacuum analyzes the partitions but never a partitioned parent.
ANALYZE partb_services;
ANALYZE partd_drugs;
ANALYZE open_payments;

-- +goose Down
ALTER TABLE partb_services RENAME TO partb_services_partitioned;
ALTER TABLE partd_drugs RENAME TO partd_drugs_partitioned;
ALTER TABLE open_payments RENAME TO open_payments_partitioned;

CREATE TABLE partb_services (
    npi                TEXT NOT NULL,
    hcpcs_code         TEXT NOT NULL,
    hcpcs_desc         TEXT,
    drug_ind           TEXT,
    place_of_service   TEXT,
    tot_benes          INTEGER,
    tot_srvcs          NUMERIC NOT NULL,
    tot_bene_day_srvcs INTEGER,
    avg_sbmtd_chrg     NUMERIC,
    avg_mdcr_alowd_amt NUMERIC,
    avg_mdcr_pymt_amt  NUMERIC,
    avg_mdcr_stdzd_amt NUMERIC,
    data_year          INTEGER NOT NULL
);
INSERT INTO partb_services SELECT * FROM partb_services_partitioned;
DROP TABLE partb_services_partitioned;
CREATE INDEX partb_services_npi ON partb_services (npi, data_year);

CREATE TABLE partd_drugs (
    npi                  TEXT NOT NULL,
    brnd_name            TEXT,
    gnrc_name            TEXT,
    tot_clms             INTEGER NOT NULL,
    tot_30day_fills      NUMERIC,
    tot_day_suply        INTEGER,
    tot_drug_cst         NUMERIC(14,2),
    tot_benes            INTEGER,
    ge65_sprsn_flag      TEXT,
    ge65_tot_clms        INTEGER,
    ge65_tot_30day_fills NUMERIC,
    ge65_tot_drug_cst    NUMERIC(14,2),
    ge65_tot_day_suply   INTEGER,
    ge65_bene_sprsn_flag TEXT,
    ge65_tot_benes       INTEGER,
    data_year            INTEGER NOT NULL
);
INSERT INTO partd_drugs SELECT * FROM partd_drugs_partitioned;
DROP TABLE partd_drugs_partitioned;
CREATE INDEX partd_drugs_npi ON partd_drugs (npi, data_year);
CREATE INDEX partd_drugs_gnrc_name ON partd_drugs (gnrc_name);

CREATE TABLE open_payments (
    record_id         TEXT NOT NULL,
    npi               TEXT,
    profile_id        TEXT,
    manufacturer_id   TEXT,
    manufacturer_name TEXT,
    amount            NUMERIC(14,2) NOT NULL,
    payment_date      DATE,
    n_payments        INTEGER,
    form              TEXT,
    nature            TEXT,
    products          TEXT,
    program_year      INTEGER NOT NULL,
    change_type       TEXT
);
INSERT INTO open_payments SELECT * FROM open_payments_partitioned;
DROP TABLE open_payments_partitioned;
CREATE UNIQUE INDEX open_payments_record ON open_payments (program_year, record_id);
CREATE INDEX open_payments_npi ON open_payments (npi, program_year);
