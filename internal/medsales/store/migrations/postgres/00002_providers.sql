-- NPPES providers and their companion files. Each file loads on its own
-- (full files replace the live tables through staging tables, see
-- store/bulk.go), so there are no foreign keys between these tables: a
-- secondary practice location may name an NPI the loaded npidata file does
-- not have yet. Empty source fields are NULL.
--
-- practice_lat/practice_lon are the practice address's coordinates and
-- coord_source says where they came from: 'zcta' (the ZIP centroid,
-- filled while loading) or 'census' (the Census geocoder, through the
-- geocode cache keyed by address_key).
-- A practice address outside the U.S. (country code not US) has no
-- coordinates and no address_key: the ZIP centroids and the Census
-- geocoder cover U.S. addresses only, so it is never sent. On PostgreSQL with
-- PostGIS, store.EnablePostGIS adds a generated geography column and a GiST index.
--
-- Indexed text columns use the "C" collation: byte order sorts the NPPES
-- values (upper-case ASCII names, digits) as well as a linguistic
-- collation, builds the indexes of a national load several times faster,
-- and lets prefix searches (LIKE 'SMI%') use the indexes.

-- +goose Up
CREATE TABLE providers (
    npi                  TEXT COLLATE "C" PRIMARY KEY,
    entity_type          SMALLINT,          -- 1 individual, 2 organization; NULL when deactivated
    replacement_npi      TEXT,
    ein                  TEXT,              -- NULL when <UNAVAIL>
    org_name             TEXT COLLATE "C",
    last_name            TEXT COLLATE "C",
    first_name           TEXT COLLATE "C",
    middle_name          TEXT,
    name_prefix          TEXT,
    name_suffix          TEXT,
    credential           TEXT,
    other_org_name       TEXT,
    other_org_name_type  TEXT,
    other_last_name      TEXT,
    other_first_name     TEXT,
    other_middle_name    TEXT,
    other_name_prefix    TEXT,
    other_name_suffix    TEXT,
    other_credential     TEXT,
    other_last_name_type TEXT,
    mail_line1           TEXT,
    mail_line2           TEXT,
    mail_city            TEXT,
    mail_state           TEXT,
    mail_postal_code     TEXT,
    mail_country         TEXT,
    mail_phone           TEXT,
    mail_fax             TEXT,
    practice_line1       TEXT,
    practice_line2       TEXT,
    practice_city        TEXT COLLATE "C",
    practice_state       TEXT COLLATE "C",
    practice_postal_code TEXT,
    practice_zip5        TEXT COLLATE "C",
    practice_country     TEXT,
    practice_phone       TEXT,
    practice_fax         TEXT,
    enumeration_date     DATE,
    last_update_date     DATE,
    deactivation_reason  TEXT,
    deactivation_date    DATE,
    reactivation_date    DATE,
    certification_date   DATE,
    sex                  TEXT,              -- M, F, X or NULL (Provider Sex Code, formerly Provider Gender Code)
    ao_last_name         TEXT,              -- authorized official (organizations)
    ao_first_name        TEXT,
    ao_middle_name       TEXT,
    ao_title             TEXT,
    ao_phone             TEXT,
    ao_name_prefix       TEXT,
    ao_name_suffix       TEXT,
    ao_credential        TEXT,
    sole_proprietor      TEXT,              -- X, Y or N
    org_subpart          TEXT,              -- X, Y or N
    parent_org_lbn       TEXT,
    parent_org_tin       TEXT,
    primary_taxonomy     TEXT COLLATE "C",
    address_key          TEXT COLLATE "C",              -- geo.AddressKey of a U.S. practice address (NULL abroad)
    practice_lat         DOUBLE PRECISION,
    practice_lon         DOUBLE PRECISION,
    coord_source         TEXT CHECK (coord_source IN ('zcta', 'census'))
);
CREATE INDEX providers_last_name ON providers (last_name, first_name);
CREATE INDEX providers_org_name ON providers (org_name);
CREATE INDEX providers_state_city ON providers (practice_state, practice_city);
CREATE INDEX providers_zip5 ON providers (practice_zip5);
CREATE INDEX providers_primary_taxonomy ON providers (primary_taxonomy);
CREATE INDEX providers_address_key ON providers (address_key);

-- All 15 taxonomy slots of npidata; a slot without a code is not stored.
CREATE TABLE provider_taxonomies (
    npi            TEXT COLLATE "C" NOT NULL,
    slot           SMALLINT NOT NULL,       -- 1..15
    code           TEXT COLLATE "C" NOT NULL,
    license        TEXT,
    license_state  TEXT,
    is_primary     BOOLEAN NOT NULL,        -- the slot whose primary switch is Y
    taxonomy_group TEXT,
    PRIMARY KEY (npi, slot)
);
CREATE INDEX provider_taxonomies_code ON provider_taxonomies (code);

-- The 50 "Other Provider Identifier" slots of npidata.
CREATE TABLE provider_identifiers (
    npi        TEXT COLLATE "C" NOT NULL,
    slot       SMALLINT NOT NULL,           -- 1..50
    identifier TEXT NOT NULL,
    type_code  TEXT,
    state      TEXT COLLATE "C",
    issuer     TEXT,
    PRIMARY KEY (npi, slot)
);

-- pl_pfile: secondary practice locations. seq is the line in the file.
CREATE TABLE practice_locations (
    npi          TEXT COLLATE "C" NOT NULL,
    seq          BIGINT NOT NULL,
    line1        TEXT,
    line2        TEXT,
    city         TEXT COLLATE "C",
    state        TEXT COLLATE "C",
    postal_code  TEXT,
    zip5         TEXT COLLATE "C",
    country      TEXT,
    phone        TEXT,
    phone_ext    TEXT,
    fax          TEXT,
    address_key  TEXT COLLATE "C",
    lat          DOUBLE PRECISION,
    lon          DOUBLE PRECISION,
    coord_source TEXT CHECK (coord_source IN ('zcta', 'census')),
    PRIMARY KEY (npi, seq)
);
CREATE INDEX practice_locations_zip5 ON practice_locations (zip5);
CREATE INDEX practice_locations_state_city ON practice_locations (state, city);

-- othername_pfile: other names of organizations. seq is the line in the file.
CREATE TABLE provider_other_names (
    npi       TEXT COLLATE "C" NOT NULL,
    seq       BIGINT NOT NULL,
    name      TEXT NOT NULL,
    type_code TEXT,
    PRIMARY KEY (npi, seq)
);

-- endpoint_pfile: electronic endpoints (Direct addresses, FHIR URLs …).
CREATE TABLE provider_endpoints (
    npi                TEXT COLLATE "C" NOT NULL,
    seq                BIGINT NOT NULL,
    endpoint_type      TEXT,
    endpoint_type_desc TEXT,
    endpoint           TEXT,
    affiliation        TEXT,
    endpoint_desc      TEXT,
    affiliation_lbn    TEXT,
    use_code           TEXT,
    use_desc           TEXT,
    other_use_desc     TEXT,
    content_type       TEXT,
    content_desc       TEXT,
    other_content_desc TEXT,
    aff_line1          TEXT,
    aff_line2          TEXT,
    aff_city           TEXT,
    aff_state          TEXT,
    aff_country        TEXT,
    aff_postal_code    TEXT,
    PRIMARY KEY (npi, seq)
);

-- +goose Down
DROP TABLE provider_endpoints;
DROP TABLE provider_other_names;
DROP TABLE practice_locations;
DROP TABLE provider_identifiers;
DROP TABLE provider_taxonomies;
DROP TABLE providers;
