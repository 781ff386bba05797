-- Geocoding: the Census gazetteer's ZIP centroids when a newer gazetteer
-- is loaded (`medsales ingest zcta FILE`; without rows the binary's
-- embedded table is used), and the cache of Census geocoder answers keyed
-- by geo.AddressKey, so that each distinct practice address is sent once.
-- An address the geocoder could not match is cached too (matched 0, no
-- coordinates) and not sent again; a changed address has a new key.
-- A key that is not a geo.AddressKey (it cannot be parsed into street,
-- city, state and ZIP) is cached as Invalid_Key without being sent.

-- +goose Up
CREATE TABLE zcta_centroids (
    zip TEXT PRIMARY KEY,               -- five digits
    lat REAL NOT NULL,
    lon REAL NOT NULL
);

CREATE TABLE geocode_cache (
    address_key     TEXT PRIMARY KEY,
    lat             REAL,               -- NULL unless matched
    lon             REAL,
    matched         INTEGER NOT NULL,   -- 1 or 0
    match_status    TEXT NOT NULL,      -- Match, No_Match, Tie, or Invalid_Key (not sent)
    exact           INTEGER NOT NULL DEFAULT 0,
    matched_address TEXT,
    geocoded_at     TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE geocode_cache;
DROP TABLE zcta_centroids;
