-- Claims and payments datasets: the NUCC taxonomy, CMS Medicare Part B
-- (provider × service) and Part D (provider × drug) and CMS Open Payments
-- general payments. Each loads on its own, so there are no foreign keys to
-- the providers table: a Part D line may name an NPI the loaded NPPES file
-- does not have yet.
--
-- Empty source fields are NULL. Counts the publisher suppresses (below 11)
-- are NULL. Money that the publisher gives in cents (Part D drug cost, Open
-- Payments amount) is NUMERIC(14,2); the loader rounds it to cents, so
-- SQLite (which keeps the same decimal text) returns the same strings.
-- Part B averages and fractional counts keep the published precision in
-- unconstrained NUMERIC.
--
-- The Part B, Part D and Open Payments tables hold several data (program)
-- years; a load replaces one year and leaves the others alone.

-- +goose Up
CREATE TABLE nucc_taxonomy (
    code           TEXT PRIMARY KEY,
    grouping       TEXT,
    classification TEXT,
    specialization TEXT,
    definition     TEXT,
    notes          TEXT,
    display_name   TEXT,
    section        TEXT
);

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
);
CREATE INDEX partb_services_npi ON partb_services (npi, data_year);

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
);
CREATE INDEX partd_drugs_npi ON partd_drugs (npi, data_year);
CREATE INDEX partd_drugs_gnrc_name ON partd_drugs (gnrc_name);

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
);
-- CMS gives every payment a Record_ID unique within its program year; a
-- file that repeats one fails to load (it would count the payment twice).
CREATE UNIQUE INDEX open_payments_record ON open_payments (program_year, record_id);
CREATE INDEX open_payments_npi ON open_payments (npi, program_year);

-- +goose Down
DROP TABLE open_payments;
DROP TABLE partd_drugs;
DROP TABLE partb_services;
DROP TABLE nucc_taxonomy;
