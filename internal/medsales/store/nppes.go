package store

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/medplatform/medplatform/internal/medsales"
	"github.com/medplatform/medplatform/internal/medsales/dataset"
	"github.com/medplatform/medplatform/internal/medsales/geo"
	"github.com/medplatform/medplatform/internal/platform/db"
	"github.com/medplatform/medplatform/internal/platform/errs"
)

// The NPPES tables (migration 00002_providers) and the columns the loaders
// write, in the order of their RowWriter.Write calls.

var providerColumns = []string{
	"npi", "entity_type", "replacement_npi", "ein", "org_name",
	"last_name", "first_name", "middle_name", "name_prefix", "name_suffix", "credential",
	"other_org_name", "other_org_name_type", "other_last_name", "other_first_name", "other_middle_name",
	"other_name_prefix", "other_name_suffix", "other_credential", "other_last_name_type",
	"mail_line1", "mail_line2", "mail_city", "mail_state", "mail_postal_code", "mail_country", "mail_phone", "mail_fax",
	"practice_line1", "practice_line2", "practice_city", "practice_state", "practice_postal_code", "practice_zip5",
	"practice_country", "practice_phone", "practice_fax",
	"enumeration_date", "last_update_date", "deactivation_reason", "deactivation_date", "reactivation_date", "certification_date",
	"sex", "ao_last_name", "ao_first_name", "ao_middle_name", "ao_title", "ao_phone", "ao_name_prefix", "ao_name_suffix", "ao_credential",
	"sole_proprietor", "org_subpart", "parent_org_lbn", "parent_org_tin", "primary_taxonomy",
	"address_key", "practice_lat", "practice_lon", "coord_source",
}

func providersTable() Table { return Table{Name: "providers", Columns: providerColumns} }

func providerTaxonomiesTable() Table {
	return Table{Name: "provider_taxonomies", Columns: []string{"npi", "slot", "code", "license", "license_state", "is_primary", "taxonomy_group"}}
}

func providerIdentifiersTable() Table {
	return Table{Name: "provider_identifiers", Columns: []string{"npi", "slot", "identifier", "type_code", "state", "issuer"}}
}

func practiceLocationsTable() Table {
	return Table{Name: "practice_locations", Columns: []string{
		"npi", "seq", "line1", "line2", "city", "state", "postal_code", "zip5", "country", "phone", "phone_ext", "fax",
		"address_key", "lat", "lon", "coord_source",
	}}
}

func otherNamesTable() Table {
	return Table{Name: "provider_other_names", Columns: []string{"npi", "seq", "name", "type_code"}}
}

func endpointsTable() Table {
	return Table{Name: "provider_endpoints", Columns: []string{
		"npi", "seq", "endpoint_type", "endpoint_type_desc", "endpoint", "affiliation", "endpoint_desc", "affiliation_lbn",
		"use_code", "use_desc", "other_use_desc", "content_type", "content_desc", "other_content_desc",
		"aff_line1", "aff_line2", "aff_city", "aff_state", "aff_country", "aff_postal_code",
	}}
}

// nppesOptions returns the Replace options of an NPPES load mode: a full
// file replaces the tables, a weekly increment replaces the rows of the
// NPIs it carries.
func nppesOptions(in LoadInput) (ReplaceOptions, error) {
	mode, err := in.mode()
	if err != nil {
		return ReplaceOptions{}, errs.Invalid("mode", "%v", err)
	}
	if mode == ModeIncrement {
		return ReplaceOptions{KeyColumn: "npi"}, nil
	}
	return ReplaceOptions{}, nil
}

// LoadNPPES loads an npidata_pfile into providers, provider_taxonomies and
// provider_identifiers. A full file (monthly) replaces the three tables
// atomically; an increment (weekly) replaces, in one transaction, the rows
// of every NPI it carries and leaves the others alone.
//
// The header is checked before anything is written (a missing required
// column fails the load with a message naming the columns and the file).
// Malformed rows are rejected to in.Rejects; the load fails, leaving the
// live data unchanged, when they exceed in.MaxRejectRatio or the input is
// cut off. Practice coordinates come from the geocode cache when the
// address (its geo.AddressKey) was matched by the Census geocoder, else
// from in.Centroids by ZIP code.
func (s *Store) LoadNPPES(ctx context.Context, in LoadInput) (LoadResult, error) {
	opts, err := nppesOptions(in)
	if err != nil {
		return LoadResult{}, err
	}
	tally := NewTally(in)
	rd, err := dataset.NewNPPESReader(in.Reader, in.File, rejectTo(tally))
	if err != nil {
		return LoadResult{}, wrongFile(err)
	}
	pt, tt, it := providersTable(), providerTaxonomiesTable(), providerIdentifiersTable()
	rep, err := s.beginLoad(ctx, []Table{pt, tt, it}, opts)
	if err != nil {
		return LoadResult{}, err
	}
	defer rep.Abort()
	since := time.Now().Add(-geocodeCatchUpMargin)
	finalize := in.Finalize
	in.Finalize = func(tx *db.Tx, res LoadResult) error {
		if opts.KeyColumn != "" {
			if err := dropDeactivatedCompanions(ctx, tx, rep.StagingTable(pt.Name)); err != nil {
				return err
			}
		}
		if err := catchUpCentroids(ctx, tx, in, pt.Name); err != nil {
			return err
		}
		if finalize != nil {
			if err := finalize(tx, res); err != nil {
				return err
			}
		}
		// Last, so that it sees every geocode batch committed before it.
		return catchUpGeocodes(ctx, tx, pt.Name, "practice_lat", "practice_lon", since)
	}
	pw, tw, iw := rep.Builder(pt.Name), rep.Builder(tt.Name), rep.Builder(it.Name)
	coords := coordinator{centroids: in.Centroids}
	for rd.Next() {
		tally.Row()
		rec := rd.Record()
		key := addressKey(rec.Practice)
		if err := providerTooLong(rec, key, rd.ColumnName); err != nil {
			tally.Reject(rd.Line(), err.Error())
			continue
		}
		if err := writeProvider(pw, rec, key, &coords); err != nil {
			return LoadResult{}, fmt.Errorf("%s: line %d: %w", in.File, rd.Line(), err)
		}
		for _, t := range rec.Taxonomies {
			tw.Bytes(rec.NPI)
			tw.Int(int64(t.Slot))
			tw.Bytes(t.Code)
			tw.Bytes(t.License)
			tw.Bytes(t.LicenseState)
			tw.Bool(t.Primary)
			tw.Bytes(t.Group)
			if err := tw.End(); err != nil {
				return LoadResult{}, fmt.Errorf("%s: line %d: %w", in.File, rd.Line(), err)
			}
		}
		for _, x := range rec.Identifiers {
			iw.Bytes(rec.NPI)
			iw.Int(int64(x.Slot))
			iw.Bytes(x.Identifier)
			iw.Bytes(x.TypeCode)
			iw.Bytes(x.State)
			iw.Bytes(x.Issuer)
			if err := iw.End(); err != nil {
				return LoadResult{}, fmt.Errorf("%s: line %d: %w", in.File, rd.Line(), err)
			}
		}
		tally.Loaded++
	}
	return s.finishNPPES(ctx, in, rd, tally, rep, func(ctx context.Context) error {
		if opts.KeyColumn != "" {
			newest, err := s.newestRelease(ctx, medsales.NPPES)
			if err != nil {
				return err
			}
			// An increment loaded in order (no older than every release
			// loaded) is NPPES's latest word on its NPIs: all its records
			// apply. Judged by its records' own dates, a deactivation
			// effective before the provider's last update (published
			// late, back-dated) was left out as older, and the provider
			// stayed active (QA). Those dates only order the records of an
			// increment loaded after a newer release.
			if in.ReleaseDate.IsZero() || (!newest.IsZero() && in.ReleaseDate.Before(newest)) {
				n, err := s.dropOlderRecords(ctx, rep, pt.Name, []string{tt.Name, it.Name})
				if err != nil {
					return err
				}
				tally.Stale = n
			}
		}
		return s.applyGeocodes(ctx, rep.StagingTable(pt.Name), "practice_lat", "practice_lon")
	}, uniqueKey{pt.Name, "npi", "NPI", "NPI"})
}

// dropDeactivatedCompanions deletes, in the swap transaction of an
// increment, the secondary practice locations, other names and endpoints
// of the NPIs the increment (its staged providers table) deactivates. Those
// files load in full only, monthly; the next ones will not list a
// deactivated NPI, and until then its profile showed the locations and
// endpoints of a provider that no longer bills. The rows deleted are taken
// off the rows_served of each companion dataset's current load, which
// recordCount reports as what the dataset serves.
//
// An NPI is deactivated as medsales.Provider.Deactivated says: a
// deactivation date not followed by a reactivation date, nor, for a record
// published in full (an entity type), by its last update: NPPES publishes a
// deactivated NPI with only its NPI and date, so a full record updated
// since is active again.
func dropDeactivatedCompanions(ctx context.Context, tx *db.Tx, staged string) error {
	deactivated := fmt.Sprintf(`SELECT npi FROM %s WHERE deactivation_date IS NOT NULL
		AND (reactivation_date IS NULL OR reactivation_date < deactivation_date)
		AND (entity_type IS NULL OR last_update_date IS NULL OR last_update_date <= deactivation_date)`, staged)
	for _, c := range []struct {
		table   string
		dataset medsales.Dataset
	}{
		{practiceLocationsTable().Name, medsales.NPPESLocations},
		{otherNamesTable().Name, medsales.NPPESOtherNames},
		{endpointsTable().Name, medsales.NPPESEndpoints},
	} {
		res, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE npi IN (%s)", c.table, deactivated))
		if err != nil {
			return fmt.Errorf("delete the %s of deactivated NPIs: %w", c.table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("delete the %s of deactivated NPIs: %w", c.table, err)
		}
		if n == 0 {
			continue
		}
		// A load recorded before migration 7 has no rows_served: a
		// whole-file load served its rows_loaded.
		if _, err := tx.ExecContext(ctx, `UPDATE dataset_versions SET rows_served = COALESCE(rows_served, rows_loaded) - $1
			WHERE id = (SELECT MAX(id) FROM dataset_versions WHERE dataset = $2 AND status = $3)`,
			n, string(c.dataset), StatusSucceeded); err != nil {
			return fmt.Errorf("count the %s of deactivated NPIs out of what %s serves: %w", c.table, c.dataset, err)
		}
	}
	return nil
}

// newestRelease is the latest release date of the successful loads of d
// (full or increment), zero when none gave one.
func (s *Store) newestRelease(ctx context.Context, d medsales.Dataset) (time.Time, error) {
	var r releaseDate
	if err := s.db.SQL.QueryRowContext(ctx, `SELECT MAX(release_date) FROM dataset_versions WHERE dataset = $1 AND status = $2`,
		string(d), StatusSucceeded).Scan(&r); err != nil {
		return time.Time{}, fmt.Errorf("read the newest release of %s: %w", d, err)
	}
	if !r.valid {
		return time.Time{}, nil
	}
	return r.t.UTC(), nil
}

// dropOlderRecords takes out of a staged increment the NPIs whose record
// in the live providers table is newer than the file's, with their rows
// in the companion tables, and returns how many it took out. A record's
// date is the latest of its Last Update, Deactivation and Reactivation
// Dates; a record without any of them is applied. So a weekly file loaded
// after a later monthly or weekly one (out of order, or a scheduled load
// re-run) does not bring back a provider's earlier name, address or
// status; what the file has that is not older still applies.
func (s *Store) dropOlderRecords(ctx context.Context, rep *Replace, providers string, companions []string) (int64, error) {
	asOf := func(t string) string {
		if s.db.Dialect == db.Postgres {
			return fmt.Sprintf("GREATEST(%[1]s.last_update_date, %[1]s.deactivation_date, %[1]s.reactivation_date)", t)
		}
		// SQLite's max() of several values is NULL when one is NULL; the
		// dates are text in one layout, so they compare as text.
		return fmt.Sprintf("NULLIF(max(COALESCE(%[1]s.last_update_date, ''), COALESCE(%[1]s.deactivation_date, ''), COALESCE(%[1]s.reactivation_date, '')), '')", t)
	}
	staged := rep.StagingTable(providers)
	older := fmt.Sprintf("SELECT x.npi FROM %s x JOIN %s p ON p.npi = x.npi WHERE %s > %s", staged, providers, asOf("p"), asOf("x"))
	var n int64
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		for _, c := range companions {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE npi IN (%s)", rep.StagingTable(c), older)); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE npi IN (%s)", staged, older))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("leave out records older than those loaded: %w", err)
	}
	return n, nil
}

// rejectTo returns the reject callback of a reader: the row counts as read
// and rejected.
func rejectTo(t *Tally) func(line int, reason string) {
	return func(line int, reason string) {
		t.Row()
		t.Reject(line, reason)
	}
}

// finishNPPES ends an NPPES load: it fails on a read error or too many
// rejects (the caller's deferred Abort then drops the staging tables and
// nothing changed), runs staged (on the flushed staging tables) and swaps
// the rows in with in.Finalize in the same transaction. A key of keys that
// the file repeats fails the load with an error naming the file and the
// key (see duplicateError).
func (s *Store) finishNPPES(ctx context.Context, in LoadInput, rd rowReader, tally *Tally, rep *Replace, staged func(context.Context) error, keys ...uniqueKey) (LoadResult, error) {
	if err := rd.Err(); err != nil {
		return LoadResult{}, err
	}
	tally.Skipped = rd.Skipped()
	if err := tally.Done(); err != nil {
		return tally.Result(0), &errs.Error{Code: errs.CodeInvalid, Message: err.Error()}
	}
	if err := rep.Flush(ctx); err != nil {
		return LoadResult{}, fmt.Errorf("%s: %w", in.File, err)
	}
	if staged != nil {
		if err := staged(ctx); err != nil {
			return LoadResult{}, fmt.Errorf("%s: %w", in.File, err)
		}
	}
	res := tally.Result(0)
	err := rep.Commit(ctx, func(tx *db.Tx) error {
		if in.Finalize == nil {
			return nil
		}
		return in.Finalize(tx, res)
	})
	if err != nil {
		if derr := duplicateError(ctx, in, rep, keys, err); derr != nil {
			return LoadResult{}, derr
		}
		return LoadResult{}, fmt.Errorf("%s: %w", in.File, err)
	}
	return res, nil
}

// applyGeocodes replaces ZIP-centroid coordinates of the staged rows with
// the Census geocoder's, from the geocode cache, where the address key was
// matched. It does nothing when the cache is empty.
func (s *Store) applyGeocodes(ctx context.Context, staging, latCol, lonCol string) error {
	var matched int
	err := s.db.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM geocode_cache WHERE matched LIMIT 1) AS g`).Scan(&matched)
	if err != nil {
		return fmt.Errorf("read geocode cache: %w", err)
	}
	if matched == 0 {
		return nil
	}
	q := fmt.Sprintf(`UPDATE %[1]s SET %[2]s = g.lat, %[3]s = g.lon, coord_source = 'census'
		FROM geocode_cache g
		WHERE g.address_key = %[1]s.address_key AND g.matched AND g.lat IS NOT NULL AND g.lon IS NOT NULL`, staging, latCol, lonCol)
	if _, err := s.db.SQL.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("apply geocode cache: %w", err)
	}
	return nil
}

// geocodeCatchUpMargin is how long before a load's start catchUpGeocodes
// looks for answers: a geocode batch is stamped (geocoded_at) before it
// commits, by the clock of the host running 'medsales geocode'.
const geocodeCatchUpMargin = 10 * time.Minute

// catchUpGeocodes runs in the swap transaction of a load that gave its
// staged rows the cached Census coordinates (applyGeocodes) before building
// its indexes and swapping. A 'medsales geocode' batch that committed in
// between updated the rows of the table being replaced, not the staged
// ones, so the swap brought back their ZIP centroids until the next
// geocode run. The matches cached since the load started are applied here
// to the rows swapped in (table is the live name).
func catchUpGeocodes(ctx context.Context, tx *db.Tx, table, latCol, lonCol string, since time.Time) error {
	q := fmt.Sprintf(`UPDATE %[1]s SET %[2]s = g.lat, %[3]s = g.lon, coord_source = 'census'
		FROM geocode_cache g
		WHERE g.address_key = %[1]s.address_key AND g.matched AND g.lat IS NOT NULL AND g.lon IS NOT NULL
		  AND g.geocoded_at >= $1
		  AND (%[1]s.coord_source IS NULL OR %[1]s.coord_source <> 'census'
		       OR %[1]s.%[2]s IS NULL OR %[1]s.%[2]s <> g.lat OR %[1]s.%[3]s IS NULL OR %[1]s.%[3]s <> g.lon)`, table, latCol, lonCol)
	if _, err := tx.ExecContext(ctx, q, db.UTC(since)); err != nil {
		return fmt.Errorf("apply the geocodes cached during the load to %s: %w", table, err)
	}
	return nil
}

// coordinator finds the coordinates of practice addresses by ZIP code,
// remembering the last ZIP (consecutive rows often share it).
type coordinator struct {
	centroids Centroids
	lastZIP   [5]byte
	lastOK    bool
	lat, lon  float64
	hasLast   bool
}

// locate writes the centroid of zip5 as (lat, lon, "zcta"), or three
// NULLs.
func (c *coordinator) locate(b RowBuilder, zip5 []byte) {
	if c.centroids != nil && len(zip5) == 5 {
		if !c.hasLast || string(zip5) != string(c.lastZIP[:]) {
			copy(c.lastZIP[:], zip5)
			c.hasLast = true
			c.lat, c.lon, c.lastOK = c.centroids.Lookup(string(zip5))
		}
		if c.lastOK {
			b.Float(c.lat)
			b.Float(c.lon)
			b.String(medsales.CoordZCTA)
			return
		}
	}
	b.Null()
	b.Null()
	b.Null()
}

// addressKey returns the geo.AddressKey of an address, or "" when it has
// no street or is outside the U.S. (a country code other than US): the key
// is what the Census geocoder, which knows only U.S. addresses, is sent.
func addressKey(a dataset.NPPESAddress) string {
	foreign := len(a.Country) > 0 && !bytes.EqualFold(a.Country, []byte("US"))
	if !foreign && (len(a.Line1) > 0 || len(a.Line2) > 0) {
		return geo.AddressKey(string(a.Line1), string(a.Line2), string(a.City), string(a.State), string(a.PostalCode))
	}
	return ""
}

// writeKey writes an address key, NULL when it is "".
func writeKey(b RowBuilder, key string) {
	if key == "" {
		b.Null()
		return
	}
	b.String(key)
}

// providerTooLong returns why rec cannot be indexed (see checkIndexed): a
// value of an indexed column of providers or provider_taxonomies, or the
// practice address key, that is too long; nil when none is. header names
// a column as the file writes it (see checkIndexed).
func providerTooLong(rec *dataset.NPPESRecord, key string, header func(name string) string) error {
	for _, v := range [...]struct {
		column string
		n      int
	}{
		{"Provider Last Name (Legal Name)", len(rec.LastName)},
		{"Provider First Name", len(rec.FirstName)},
		{"Provider Organization Name (Legal Business Name)", len(rec.OrgName)},
		{"Provider Business Practice Location Address City Name", len(rec.Practice.City)},
		{"Provider Business Practice Location Address State Name", len(rec.Practice.State)},
		{"practice address", len(key)},
	} {
		if err := checkIndexed(v.column, v.n, header); err != nil {
			return err
		}
	}
	for _, t := range rec.Taxonomies {
		if err := checkIndexed(fmt.Sprintf("Healthcare Provider Taxonomy Code_%d", t.Slot), len(t.Code), header); err != nil {
			return err
		}
	}
	return nil
}

// writeProvider writes the providers row of rec, whose practice address
// key is key, in the order of providerColumns.
func writeProvider(b RowBuilder, rec *dataset.NPPESRecord, key string, coords *coordinator) error {
	b.Bytes(rec.NPI)
	if rec.EntityType != 0 {
		b.Int(int64(rec.EntityType))
	} else {
		b.Null()
	}
	for _, v := range [...][]byte{rec.ReplacementNPI, rec.EIN, rec.OrgName,
		rec.LastName, rec.FirstName, rec.MiddleName, rec.NamePrefix, rec.NameSuffix, rec.Credential,
		rec.OtherOrgName, rec.OtherOrgNameType, rec.OtherLastName, rec.OtherFirstName, rec.OtherMiddleName,
		rec.OtherNamePrefix, rec.OtherNameSuffix, rec.OtherCredential, rec.OtherLastNameType} {
		b.Bytes(v)
	}
	m, p := &rec.Mail, &rec.Practice
	for _, v := range [...][]byte{m.Line1, m.Line2, m.City, m.State, m.PostalCode, m.Country, m.Phone, m.Fax,
		p.Line1, p.Line2, p.City, p.State, p.PostalCode, rec.PracticeZIP5, p.Country, p.Phone, p.Fax} {
		b.Bytes(v)
	}
	b.Time(rec.EnumerationDate)
	b.Time(rec.LastUpdateDate)
	b.Bytes(rec.DeactivationReason)
	b.Time(rec.DeactivationDate)
	b.Time(rec.ReactivationDate)
	b.Time(rec.CertificationDate)
	for _, v := range [...][]byte{rec.Sex, rec.AOLastName, rec.AOFirstName, rec.AOMiddleName, rec.AOTitle, rec.AOPhone,
		rec.AONamePrefix, rec.AONameSuffix, rec.AOCredential,
		rec.SoleProprietor, rec.OrgSubpart, rec.ParentOrgLBN, rec.ParentOrgTIN, rec.PrimaryTaxonomy} {
		b.Bytes(v)
	}
	writeKey(b, key)
	coords.locate(b, rec.PracticeZIP5)
	return b.End()
}

// LoadNPPESLocations loads a pl_pfile (secondary practice locations) into
// practice_locations: a full file replaces the table, an increment the
// locations of the NPIs it carries. seq is the row's line in the file.
// Coordinates are found as for LoadNPPES.
func (s *Store) LoadNPPESLocations(ctx context.Context, in LoadInput) (LoadResult, error) {
	opts, err := nppesOptions(in)
	if err != nil {
		return LoadResult{}, err
	}
	tally := NewTally(in)
	rd, err := dataset.NewLocationReader(in.Reader, in.File, rejectTo(tally))
	if err != nil {
		return LoadResult{}, wrongFile(err)
	}
	t := practiceLocationsTable()
	rep, err := s.beginLoad(ctx, []Table{t}, opts)
	if err != nil {
		return LoadResult{}, err
	}
	defer rep.Abort()
	since := time.Now().Add(-geocodeCatchUpMargin)
	finalize := in.Finalize
	in.Finalize = func(tx *db.Tx, res LoadResult) error {
		if err := catchUpCentroids(ctx, tx, in, t.Name); err != nil {
			return err
		}
		if finalize != nil {
			if err := finalize(tx, res); err != nil {
				return err
			}
		}
		// Last, so that it sees every geocode batch committed before it.
		return catchUpGeocodes(ctx, tx, t.Name, "lat", "lon", since)
	}
	w := rep.Builder(t.Name)
	coords := coordinator{centroids: in.Centroids}
	for rd.Next() {
		tally.Row()
		rec := rd.Record()
		a := &rec.Address
		key := addressKey(*a)
		if err := locationTooLong(a, key, rd.ColumnName); err != nil {
			tally.Reject(rd.Line(), err.Error())
			continue
		}
		w.Bytes(rec.NPI)
		w.Int(int64(rd.Line()))
		for _, v := range [...][]byte{a.Line1, a.Line2, a.City, a.State, a.PostalCode, rec.ZIP5, a.Country, a.Phone, rec.PhoneExtension, a.Fax} {
			w.Bytes(v)
		}
		writeKey(w, key)
		coords.locate(w, rec.ZIP5)
		if err := w.End(); err != nil {
			return LoadResult{}, fmt.Errorf("%s: line %d: %w", in.File, rd.Line(), err)
		}
		tally.Loaded++
	}
	return s.finishNPPES(ctx, in, rd, tally, rep, func(ctx context.Context) error {
		return s.applyGeocodes(ctx, rep.StagingTable(t.Name), "lat", "lon")
	})
}

// locationTooLong is providerTooLong for a secondary practice location
// (the pl_pfile has two spellings of its address columns).
func locationTooLong(a *dataset.NPPESAddress, key string, header func(name string) string) error {
	if err := checkIndexed("Provider Secondary Practice Location Address - City Name", len(a.City), header); err != nil {
		return err
	}
	if err := checkIndexed("Provider Secondary Practice Location Address - State Name", len(a.State), header); err != nil {
		return err
	}
	return checkIndexed("practice address", len(key), header)
}

// LoadNPPESOtherNames loads an othername_pfile into provider_other_names
// (full: replace the table; increment: the names of the NPIs it carries).
func (s *Store) LoadNPPESOtherNames(ctx context.Context, in LoadInput) (LoadResult, error) {
	opts, err := nppesOptions(in)
	if err != nil {
		return LoadResult{}, err
	}
	tally := NewTally(in)
	rd, err := dataset.NewOtherNameReader(in.Reader, in.File, rejectTo(tally))
	if err != nil {
		return LoadResult{}, wrongFile(err)
	}
	t := otherNamesTable()
	rep, err := s.beginLoad(ctx, []Table{t}, opts)
	if err != nil {
		return LoadResult{}, err
	}
	defer rep.Abort()
	w := rep.Writer(t.Name)
	for rd.Next() {
		tally.Row()
		rec := rd.Record()
		if err := w.Write(rec.NPI, int64(rd.Line()), rec.Name, rec.TypeCode); err != nil {
			return LoadResult{}, fmt.Errorf("%s: line %d: %w", in.File, rd.Line(), err)
		}
		tally.Loaded++
	}
	return s.finishNPPES(ctx, in, rd, tally, rep, nil)
}

// LoadNPPESEndpoints loads an endpoint_pfile into provider_endpoints
// (full: replace the table; increment: the endpoints of the NPIs it
// carries).
func (s *Store) LoadNPPESEndpoints(ctx context.Context, in LoadInput) (LoadResult, error) {
	opts, err := nppesOptions(in)
	if err != nil {
		return LoadResult{}, err
	}
	tally := NewTally(in)
	rd, err := dataset.NewEndpointReader(in.Reader, in.File, rejectTo(tally))
	if err != nil {
		return LoadResult{}, wrongFile(err)
	}
	t := endpointsTable()
	rep, err := s.beginLoad(ctx, []Table{t}, opts)
	if err != nil {
		return LoadResult{}, err
	}
	defer rep.Abort()
	w := rep.Builder(t.Name)
	for rd.Next() {
		tally.Row()
		rec := rd.Record()
		w.Bytes(rec.Fields[0])
		w.Int(int64(rd.Line()))
		for i := 1; i < dataset.EndpointFields; i++ {
			w.Bytes(rec.Fields[i])
		}
		if err := w.End(); err != nil {
			return LoadResult{}, fmt.Errorf("%s: line %d: %w", in.File, rd.Line(), err)
		}
		tally.Loaded++
	}
	return s.finishNPPES(ctx, in, rd, tally, rep, nil)
}
