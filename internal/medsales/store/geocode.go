package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/medplatform/medplatform/internal/medsales/geo"
	"github.com/medplatform/medplatform/internal/platform/db"
)

// Geocoder turns addresses into coordinates; *geo.Census (the Census batch
// geocoder) is one. It returns at most one Result per address, matched by
// ID; an address without a Result is tried again by a later run.
type Geocoder interface {
	Geocode(ctx context.Context, addrs []geo.Address) ([]geo.Result, error)
}

// GeocodeOptions tune GeocodeProviders. The zero value geocodes every
// address not yet in the cache, 10,000 per batch.
type GeocodeOptions struct {
	// BatchSize is the number of addresses per Geocoder call (default and
	// maximum geo.MaxBatch).
	BatchSize int
	// Limit caps the addresses sent in this run (0: no cap). The Census
	// geocoder answers ~50 addresses a second, so a national first run
	// takes many hours; a cap lets it proceed in slices.
	Limit int
	// Progress, when set, is called after each batch with the number of
	// addresses geocoded so far in this run.
	Progress func(done int)
	// Now stamps geocoded_at (default time.Now).
	Now func() time.Time
}

// GeocodeResult says what GeocodeProviders did.
type GeocodeResult struct {
	// Addresses is the number of distinct addresses sent to the geocoder.
	Addresses int
	// Matched and Unmatched (No_Match or Tie) count its answers; every
	// answer is cached. Unanswered addresses are not cached.
	Matched, Unmatched, Unanswered int
	// Invalid counts address keys that are not geo.AddressKey keys: they
	// are cached as unmatched without being sent.
	Invalid int
	// Batches is the number of Geocoder calls.
	Batches int
	// ProvidersUpdated counts provider rows given the geocoder's
	// coordinates (coord_source 'census'), from this run's answers or from
	// answers cached by earlier runs (after a reload of the providers).
	ProvidersUpdated int64
	// LocationsUpdated counts the same for secondary practice locations
	// (practice_locations).
	LocationsUpdated int64
}

// geocodedTables are the tables whose practice addresses are geocoded,
// providers first (GeocodeResult.add counts by position):
// each row has an address_key (NULL when there is nothing to send), a
// country and the coordinate columns the answers go to.
var geocodedTables = []struct{ table, country, lat, lon string }{
	{"providers", "practice_country", "practice_lat", "practice_lon"},
	{"practice_locations", "country", "lat", "lon"},
}

// Match statuses stored in geocode_cache besides the geocoder's own.
const invalidKeyStatus = "Invalid_Key"

// GeocodeProviders geocodes the practice addresses of the providers: their
// primary practice address (providers) and their secondary practice
// locations (practice_locations). It finds the distinct address_keys of
// both tables that are not in geocode_cache, sends them to g in batches,
// caches every answer (no-match and tie too, so they are not sent again)
// and commits each batch with the coordinates of its matched addresses on
// every row with that key (coord_source 'census'). Finally it applies
// every cached match to rows that do not have it yet: rows reloaded from
// a newer NPPES file get their cached coordinates back without a request.
// A re-run geocodes only addresses that are new or changed (a changed
// address has another key). Addresses that did not match keep their ZIP
// centroid.
//
// On an error (geocoder failure, cancellation) the batches committed so
// far stay; the result counts them.
func (s *Store) GeocodeProviders(ctx context.Context, g Geocoder, opts GeocodeOptions) (GeocodeResult, error) {
	var res GeocodeResult
	batch := opts.BatchSize
	if batch <= 0 || batch > geo.MaxBatch {
		batch = geo.MaxBatch
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	last := ""
	for opts.Limit <= 0 || res.Addresses < opts.Limit {
		n := batch
		if opts.Limit > 0 {
			n = min(n, opts.Limit-res.Addresses)
		}
		keys, err := s.uncachedKeys(ctx, last, n)
		if err != nil {
			return res, err
		}
		if len(keys) == 0 {
			break
		}
		last = keys[len(keys)-1]
		if err := s.geocodeBatch(ctx, g, keys, now, &res); err != nil {
			return res, err
		}
		if opts.Progress != nil {
			opts.Progress(res.Addresses)
		}
	}
	for i, t := range geocodedTables {
		updated, err := s.applyCachedGeocodes(ctx, t.table, t.lat, t.lon)
		if err != nil {
			return res, err
		}
		res.add(i, updated)
	}
	return res, nil
}

// add counts updated rows of geocodedTables[table]: providers, then
// practice_locations.
func (r *GeocodeResult) add(table int, updated int64) {
	if table == 0 {
		r.ProvidersUpdated += updated
	} else {
		r.LocationsUpdated += updated
	}
}

// uncachedKeys returns up to n distinct address keys after after, in
// order, of providers and practice locations, that are not in the cache.
// Each table gives its first n in key order (through its address_key
// index); the first n of their union are exactly the n smallest of all.
// Practice addresses outside the U.S. are never sent to the (U.S.-only)
// Census geocoder: the loaders give them no key, and rows with another
// country are skipped here too.
func (s *Store) uncachedKeys(ctx context.Context, after string, n int) ([]string, error) {
	var keys []string
	for _, t := range geocodedTables {
		some, err := s.uncachedKeysOf(ctx, t.table, t.country, after, n)
		if err != nil {
			return nil, err
		}
		keys = append(keys, some...)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	return keys[:min(n, len(keys))], nil
}

func (s *Store) uncachedKeysOf(ctx context.Context, table, country, after string, n int) ([]string, error) {
	rows, err := s.db.SQL.QueryContext(ctx, fmt.Sprintf(`SELECT DISTINCT p.address_key FROM %[1]s p
		WHERE p.address_key > $1
		  AND (p.%[2]s IS NULL OR UPPER(p.%[2]s) = 'US')
		  AND NOT EXISTS (SELECT 1 FROM geocode_cache c WHERE c.address_key = p.address_key)
		ORDER BY p.address_key LIMIT $2`, table, country), after, n)
	if err != nil {
		return nil, fmt.Errorf("geocode: find addresses of %s: %w", table, err)
	}
	defer rows.Close()
	keys := make([]string, 0, n)
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("geocode: find addresses of %s: %w", table, err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("geocode: find addresses of %s: %w", table, err)
	}
	return keys, nil
}

// geocodeBatch sends keys to g and, in one transaction, caches the
// answers and applies the matches to providers.
func (s *Store) geocodeBatch(ctx context.Context, g Geocoder, keys []string, now func() time.Time, res *GeocodeResult) error {
	addrs := make([]geo.Address, 0, len(keys))
	var invalid []string
	for i, k := range keys {
		a, ok := geo.ParseAddressKey(k)
		if !ok {
			invalid = append(invalid, k)
			continue
		}
		a.ID = strconv.Itoa(i)
		addrs = append(addrs, a)
	}
	var answers []geo.Result
	if len(addrs) > 0 {
		res.Batches++
		var err error
		answers, err = g.Geocode(ctx, addrs)
		if err != nil {
			return fmt.Errorf("geocode: %w", err)
		}
	}
	at := db.UTC(now())
	updated := make([]int64, len(geocodedTables))
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		put, err := tx.PrepareContext(ctx, `INSERT INTO geocode_cache
			(address_key, lat, lon, matched, match_status, exact, matched_address, geocoded_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (address_key) DO UPDATE SET lat = excluded.lat, lon = excluded.lon,
				matched = excluded.matched, match_status = excluded.match_status, exact = excluded.exact,
				matched_address = excluded.matched_address, geocoded_at = excluded.geocoded_at`)
		if err != nil {
			return err
		}
		defer put.Close()
		apply := make([]*sql.Stmt, len(geocodedTables))
		for i, t := range geocodedTables {
			st, err := tx.PrepareContext(ctx, fmt.Sprintf(`UPDATE %s SET %s = $1, %s = $2, coord_source = 'census'
				WHERE address_key = $3`, t.table, t.lat, t.lon))
			if err != nil {
				return err
			}
			defer st.Close()
			apply[i] = st
		}
		for _, k := range invalid {
			if _, err := put.ExecContext(ctx, k, nil, nil, false, invalidKeyStatus, false, nil, at); err != nil {
				return err
			}
		}
		for _, a := range answers {
			i, err := strconv.Atoi(a.ID)
			if err != nil || i < 0 || i >= len(keys) {
				continue // not an ID we sent
			}
			key := keys[i]
			matched := a.Status == geo.Match
			var lat, lon, addr any
			if matched {
				lat, lon, addr = a.Lat, a.Lon, a.MatchedAddress
			}
			if _, err := put.ExecContext(ctx, key, lat, lon, matched, string(a.Status), a.Exact, addr, at); err != nil {
				return err
			}
			if !matched {
				continue
			}
			for i, st := range apply {
				r, err := st.ExecContext(ctx, a.Lat, a.Lon, key)
				if err != nil {
					return err
				}
				n, err := r.RowsAffected()
				if err != nil {
					return err
				}
				updated[i] += n
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("geocode: store answers: %w", err)
	}
	res.Addresses += len(addrs)
	res.Invalid += len(invalid)
	answered := 0
	for _, a := range answers {
		if i, err := strconv.Atoi(a.ID); err == nil && i >= 0 && i < len(keys) {
			answered++
			if a.Status == geo.Match {
				res.Matched++
			} else {
				res.Unmatched++
			}
		}
	}
	res.Unanswered += len(addrs) - answered
	for i, n := range updated {
		res.add(i, n)
	}
	return nil
}

// applyCachedGeocodes gives every row of table whose address_key has a
// cached match the cached coordinates, where it does not have them yet.
func (s *Store) applyCachedGeocodes(ctx context.Context, table, lat, lon string) (int64, error) {
	matched := "c.matched"
	if s.db.Dialect == db.SQLite {
		matched = "c.matched = 1"
	}
	r, err := s.db.SQL.ExecContext(ctx, fmt.Sprintf(`UPDATE %[1]s
		SET %[2]s = c.lat, %[3]s = c.lon, coord_source = 'census'
		FROM geocode_cache c
		WHERE c.address_key = %[1]s.address_key AND `+matched+`
		  AND (%[1]s.coord_source IS NULL OR %[1]s.coord_source <> 'census'
		       OR %[1]s.%[2]s IS NULL OR %[1]s.%[2]s <> c.lat
		       OR %[1]s.%[3]s IS NULL OR %[1]s.%[3]s <> c.lon)`, table, lat, lon))
	if err != nil {
		return 0, fmt.Errorf("geocode: apply cached coordinates to %s: %w", table, err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("geocode: apply cached coordinates to %s: %w", table, err)
	}
	return n, nil
}
