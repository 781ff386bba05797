-- The Census geocoder places secondary practice locations too (see
-- store.GeocodeProviders): their address keys are looked up and updated
-- like the providers' own.

-- +goose Up
CREATE INDEX practice_locations_address_key ON practice_locations (address_key);

-- +goose Down
DROP INDEX practice_locations_address_key;
