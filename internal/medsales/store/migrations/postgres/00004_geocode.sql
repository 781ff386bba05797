-- Geocoding: the Census gazetteer's ZIP centroids when a newer gazetteer
-- is loaded (`medsales ingest zcta FILE`; without rows the binary's
-- embedded table is used), and the cache of Census geocoder answers keyed
-- by geo.AddressKey, so that each distinct practice address is sent once.
-- An address the geocoder could not match is cached too (matched false,
-- no coordinates) and not sent again; a changed address has a new key.

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
    match_status    TEXT NOT NULL,      -- Match, No_Match or Tie
    exact           BOOLEAN NOT NULL DEFAULT FALSE,
    matched_address TEXT,
    geocoded_at     TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE geocode_cache;
DROP TABLE zcta_centroids;
