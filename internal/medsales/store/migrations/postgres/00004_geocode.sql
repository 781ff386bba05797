-- Geocoding: the Census gazetteer's ZIP centroids when a newer gazetteer
-- is loaded (`medsales ingest zcta FILE`; without rows the binary's
-- embedded table is used), and the cache of Census geocoder answers keyed
-- by geo.AddressKey, so that each distinct practice address is sent once.
-- An address the geocoder could not match is cached too (matched false,
-- no coordinates) and not sent again; a changed address has a new key.
-- A key that is not a geo.AddressKey (it cannot be parsed into street,
-- city, state and ZIP) is cached as Invalid_Key without being sent.

-- +goose Up
CREATE TABLE zcta_centroids (
    zip TEXT PRIMARY KEY,               -- five digits
    lat DOUBLE PRECISION NOT NULL,
    lon DOUBLE PRECISION NOT NULL
);

CREATE TABLE geocode_cache (
    address_key     TEXT PRIMARY KEY,
    lat             DOUBLE PRECISION,   -- NULL unless matched
    lon             DOUBLE PRECISION,
    matched         BOOLEAN NOT NULL,
    match_status    TEXT NOT NULL,      -- Match, No_Match, Tie, or Invalid_Key (not sent)
    exact           BOOLEAN NOT NULL DEFAULT FALSE,
    matched_address TEXT,
    geocoded_at     TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE geocode_cache;
DROP TABLE zcta_centroids;
